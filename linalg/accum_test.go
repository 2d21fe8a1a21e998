package linalg

import (
	"math"
	"math/rand/v2"
	"testing"
)

// naiveNormal forms the dense design matrix of rows
// b_i = [c_i0 (x) h_i0, c_i1 (x) h_i1, ...] and returns B^T B (full, m x m)
// and B^T t with plain loops.
func naiveNormal(cs, hs [][][]float64, t []float64) (g [][]float64, r []float64) {
	n := len(t)
	var rows [][]float64
	for i := 0; i < n; i++ {
		var b []float64
		for blk := range cs[i] {
			for _, c := range cs[i][blk] {
				for _, h := range hs[i][blk] {
					b = append(b, c*h)
				}
			}
		}
		rows = append(rows, b)
	}
	m := len(rows[0])
	g = make([][]float64, m)
	r = make([]float64, m)
	for a := 0; a < m; a++ {
		g[a] = make([]float64, m)
		for b := 0; b < m; b++ {
			for i := 0; i < n; i++ {
				g[a][b] += rows[i][a] * rows[i][b]
			}
		}
		for i := 0; i < n; i++ {
			r[a] += t[i] * rows[i][a]
		}
	}
	return g, r
}

// sparseNormal draws a value that is exactly zero with probability pz,
// else N(0, 1).
func sparseNormal(rng *rand.Rand, pz float64) float64 {
	if rng.Float64() < pz {
		return 0
	}
	return rng.NormFloat64()
}

// TestAccumMatchesNaive compares the real-coefficient kernel with the naive
// dense B^T B, B^T t on seeded random inputs: one and several blocks, with
// zero coefficients (inactive units) and zero inputs (ReLU outputs).
func TestAccumMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(20, 26))
	cases := [][]int{ // (k, d) pairs
		{1, 1}, {3, 5}, {4, 10}, {8, 3},
		{4, 10, 2, 4}, {3, 7, 5, 3, 2, 5},
	}
	for ci, shapes := range cases {
		for _, pz := range []float64{0, 0.5, 0.9} {
			n := 40 + rng.IntN(40)
			nb := len(shapes) / 2
			cs := make([][][]float64, n)
			hs := make([][][]float64, n)
			ts := make([]float64, n)
			acc := NewAccum(shapes...)
			for i := 0; i < n; i++ {
				cs[i], hs[i] = make([][]float64, nb), make([][]float64, nb)
				for blk := 0; blk < nb; blk++ {
					k, d := shapes[2*blk], shapes[2*blk+1]
					c, h := make([]float64, k), make([]float64, d)
					for q := range c {
						c[q] = sparseNormal(rng, pz)
					}
					for j := range h {
						h[j] = sparseNormal(rng, pz/2)
					}
					cs[i][blk], hs[i][blk] = c, h
				}
				ts[i] = rng.NormFloat64()
				acc.AddRow(cs[i], hs[i], ts[i])
			}
			g, r := naiveNormal(cs, hs, ts)
			m := len(r)
			if acc.M != m {
				t.Fatalf("case %d: M = %d, want %d", ci, acc.M, m)
			}
			scale := 1.0
			for a := 0; a < m; a++ {
				scale = math.Max(scale, math.Abs(g[a][a]))
			}
			for a := 0; a < m; a++ {
				for b := a; b < m; b++ {
					got := acc.G[PackedIndex(m, a, b)]
					if math.Abs(got-g[a][b]) > 1e-12*scale {
						t.Fatalf("case %d pz %v: G[%d][%d] = %v, naive %v", ci, pz, a, b, got, g[a][b])
					}
				}
				if math.Abs(acc.R[a]-r[a]) > 1e-12*scale {
					t.Fatalf("case %d pz %v: R[%d] = %v, naive %v", ci, pz, a, acc.R[a], r[a])
				}
			}
		}
	}
}

// TestAccumAdd checks the one-block shorthand against AddRow and Reset.
func TestAccumAdd(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	a, b := NewAccum(3, 4), NewAccum(3, 4)
	for i := 0; i < 20; i++ {
		c := []float64{rng.NormFloat64(), 0, rng.NormFloat64()}
		h := []float64{rng.NormFloat64(), rng.NormFloat64(), 0, rng.NormFloat64()}
		y := rng.NormFloat64()
		a.Add(c, h, y)
		b.AddRow([][]float64{c}, [][]float64{h}, y)
	}
	for i := range a.G {
		if a.G[i] != b.G[i] {
			t.Fatalf("G[%d]: Add %v, AddRow %v", i, a.G[i], b.G[i])
		}
	}
	a.Reset()
	for _, v := range append(a.G, a.R...) {
		if v != 0 {
			t.Fatal("Reset left a non-zero value")
		}
	}
}
