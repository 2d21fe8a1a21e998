package linalg

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// These tests check the grouped statistics pass, every block size of its
// plan, and its kernels against a naive dense computation: B formed in full,
// then B^T B and B^T y by plain triple loops.

// sfDense returns the full m x m B^T B and B^T y of the dense design matrix.
func sfDense(x, y []float64, d int, pat *Patterns, signs []float64) (g, r []float64) {
	k, n := len(signs), pat.Rows
	m := d * k
	b := make([]float64, n*m)
	for i := 0; i < n; i++ {
		for q := 0; q < k; q++ {
			if pat.Active(i, q) {
				for j := 0; j < d; j++ {
					b[i*m+q*d+j] = signs[q] * x[i*d+j]
				}
			}
		}
	}
	g = make([]float64, m*m)
	r = make([]float64, m)
	for i := 0; i < n; i++ {
		bi := b[i*m : (i+1)*m]
		for a, va := range bi {
			if va == 0 {
				continue
			}
			r[a] += va * y[i]
			for c, vc := range bi {
				g[a*m+c] += va * vc
			}
		}
	}
	return g, r
}

// sfRel returns ||a - b|| / ||b|| (0 when both are 0).
func sfRel(a, b []float64) float64 {
	var num, den float64
	for i := range a {
		num += (a[i] - b[i]) * (a[i] - b[i])
		den += b[i] * b[i]
	}
	if den == 0 {
		if num == 0 {
			return 0
		}
		return math.Inf(1)
	}
	return math.Sqrt(num / den)
}

// sfCase is one random statistics input.
type sfCase struct {
	n, d, k int
	kind    string // "random": each bit on with probability 1/2, "sparse", "dense", "dead"
}

func (c sfCase) String() string { return fmt.Sprintf("n=%d,d=%d,k=%d,%s", c.n, c.d, c.k, c.kind) }

// sfInput draws x, y, signs and patterns for c. Rows 0, 7, 14, ... have no
// active neuron; neuron 1 is dead everywhere (when k > 2); kind "dead" kills
// every neuron.
func sfInput(rng *rand.Rand, c sfCase) (x, y, signs []float64, pat *Patterns) {
	x = make([]float64, c.n*c.d)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	y = make([]float64, c.n)
	for i := range y {
		y[i] = rng.NormFloat64()
	}
	signs = make([]float64, c.k)
	for q := range signs {
		signs[q] = float64(1 - 2*rng.IntN(2))
	}
	pat = NewPatterns(c.n, c.k)
	prob := map[string]float64{"random": 0.5, "sparse": 0.15, "dense": 0.9, "dead": 0}[c.kind]
	for i := 0; i < c.n; i++ {
		for q := 0; q < c.k; q++ {
			if i%7 != 0 && !(q == 1 && c.k > 2) && rng.Float64() < prob {
				pat.Bits[i*pat.Words+q/64] |= 1 << (uint(q) % 64)
			}
		}
	}
	return x, y, signs, pat
}

// sfCheck compares packed g and r with the dense reference.
func sfCheck(t *testing.T, name string, g, r, x, y []float64, d int, pat *Patterns, signs []float64) {
	t.Helper()
	m := d * len(signs)
	gd, rd := sfDense(x, y, d, pat, signs)
	full := make([]float64, m*m)
	Unpack(full, g, m)
	if e := sfRel(full, gd); e > 1e-12 {
		t.Fatalf("%s: B^T B differs from dense by %.3g relative", name, e)
	}
	if e := sfRel(r, rd); e > 1e-12 {
		t.Fatalf("%s: B^T y differs from dense by %.3g relative", name, e)
	}
}

// TestStatsAllBlockSizes runs every block size of the plan (b = k is the
// full-pattern grouping, b = 1 the per-pair masked Gram matrices) against
// the dense computation, reusing one workspace throughout.
func TestStatsAllBlockSizes(t *testing.T) {
	const seed = 101
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	var ws StatsWorkspace
	cases := []sfCase{
		{1, 1, 1, "random"}, {40, 3, 1, "random"}, {33, 5, 2, "random"}, {200, 4, 3, "dense"},
		{150, 7, 5, "sparse"}, {300, 8, 10, "random"}, {120, 13, 6, "random"}, {90, 2, 13, "random"},
		{60, 9, 4, "dead"}, {80, 1, 64, "sparse"}, {70, 2, 65, "random"}, {50, 3, 100, "random"},
		{64, 17, 3, "random"},
	}
	for _, c := range cases {
		x, y, signs, pat := sfInput(rng, c)
		m := c.d * c.k
		for b := 1; b <= min(c.k, maxBlockBits); b++ {
			if c.k > 20 && b%3 != 0 && b != 1 && b != maxBlockBits {
				continue // keep the test short
			}
			g, r := make([]float64, PackedLen(m)), make([]float64, m)
			for i := range g { // every value must be overwritten
				g[i] = math.NaN()
			}
			for i := range r {
				r[i] = math.NaN()
			}
			ws.stats(g, r, x, y, c.d, pat, signs, b)
			sfCheck(t, fmt.Sprintf("%v,b=%d", c, b), g, r, x, y, c.d, pat, signs)
		}
	}
}

// TestStatsPlanned checks Stats itself (the block size of the cost model) on
// more shapes, including empty partitions, and that it overwrites its
// outputs and gives the same bits with a reused and a fresh workspace.
func TestStatsPlanned(t *testing.T) {
	const seed = 102
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	var ws StatsWorkspace
	cases := []sfCase{
		{0, 3, 2, "random"}, {0, 5, 70, "random"}, {1, 4, 1, "dead"}, {500, 6, 1, "random"},
		{700, 10, 2, "random"}, {400, 5, 8, "random"}, {1000, 3, 12, "random"}, {300, 2, 16, "random"},
		{250, 4, 20, "sparse"}, {200, 3, 64, "random"}, {150, 2, 65, "dense"}, {120, 2, 100, "random"},
		{300, 12, 9, "dead"}, {257, 11, 7, "random"},
	}
	for _, c := range cases {
		x, y, signs, pat := sfInput(rng, c)
		m := c.d * c.k
		g, r := make([]float64, PackedLen(m)), make([]float64, m)
		for i := range g {
			g[i] = math.NaN()
		}
		for i := range r {
			r[i] = math.NaN()
		}
		Stats(&ws, g, r, x, y, c.d, pat, signs)
		sfCheck(t, c.String(), g, r, x, y, c.d, pat, signs)
		var fresh StatsWorkspace
		g2, r2 := make([]float64, len(g)), make([]float64, len(r))
		Stats(&fresh, g2, r2, x, y, c.d, pat, signs)
		if !slices.Equal(g, g2) || !slices.Equal(r, r2) {
			t.Fatalf("%v: fresh workspace gives different bits", c)
		}
	}
}

// TestPlanBlock pins down a few choices of the cost model.
func TestPlanBlock(t *testing.T) {
	for _, c := range []struct{ n, k, d, want int }{
		{100000, 10, 100, 10}, // full patterns: ~100 rows per pattern
		{100000, 5, 50, 5},
		{20000, 1, 50, 1},
		{20000, 8, 50, 8},
	} {
		if got := planBlock(c.n, c.k, c.d); got != c.want {
			t.Errorf("planBlock(n=%d, k=%d, d=%d) = %d, want %d", c.n, c.k, c.d, got, c.want)
		}
	}
	for _, c := range []struct{ n, k, d int }{{20000, 64, 50}, {100, 100, 3}, {1, 70, 1}} {
		b := planBlock(c.n, c.k, c.d)
		if b < 1 || b > maxBlockBits {
			t.Errorf("planBlock(n=%d, k=%d, d=%d) = %d out of range", c.n, c.k, c.d, b)
		}
	}
}

// TestComputePatternsFast compares ComputePatterns with the naive dot
// products on shapes that exercise every neuron block width and row tail.
func TestComputePatternsFast(t *testing.T) {
	const seed = 103
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for _, c := range []struct{ n, d, k int }{
		{1, 1, 1}, {3, 2, 2}, {5, 3, 4}, {9, 5, 5}, {13, 7, 8}, {17, 4, 12}, {22, 6, 13},
		{31, 3, 24}, {40, 9, 64}, {41, 2, 65}, {30, 5, 100}, {0, 3, 3},
	} {
		x := make([]float64, c.n*c.d)
		for i := range x {
			x[i] = rng.NormFloat64()
		}
		for i := 0; i < c.n; i += 6 {
			clear(x[i*c.d : (i+1)*c.d]) // zero rows: no neuron active
		}
		u := make([]float64, c.k*c.d)
		for i := range u {
			u[i] = rng.NormFloat64()
		}
		signs := make([]float64, c.k)
		for q := range signs {
			signs[q] = float64(1 - 2*rng.IntN(2))
		}
		pat := NewPatterns(c.n, c.k)
		pred := make([]float64, c.n)
		ComputePatterns(pat, pred, x, c.d, u, signs)
		for i := 0; i < c.n; i++ {
			var want float64
			for q := 0; q < c.k; q++ {
				var s float64
				for j := 0; j < c.d; j++ {
					s = math.FMA(x[i*c.d+j], u[q*c.d+j], s)
				}
				if pat.Active(i, q) != (s > 0) {
					t.Fatalf("%+v: row %d neuron %d: active %v, z = %v", c, i, q, pat.Active(i, q), s)
				}
				if s > 0 {
					want += signs[q] * s
				}
			}
			if pred[i] != want {
				t.Fatalf("%+v: row %d: pred %v, want %v", c, i, pred[i], want)
			}
		}
	}
}

// TestKernelsMatchPortable checks the dispatched kernels (assembly when the
// CPU allows) against the portable ones bit for bit.
func TestKernelsMatchPortable(t *testing.T) {
	const seed = 104
	t.Logf("seed %d (assembly kernels: %v)", seed, useAVX)
	rng := rand.New(rand.NewPCG(seed, 0))
	norm := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = rng.NormFloat64() * math.Exp2(float64(rng.IntN(20)-10))
		}
		return v
	}
	for _, ldx := range []int{4, 8, 12, 16, 20, 24, 28, 32, 36, 52, 104} {
		for _, m := range []int{0, 1, 2, 3, 5, 31} {
			x := norm(m * ldx)
			c1 := norm(stripLen(ldx))
			c2 := slices.Clone(c1)
			gram(x, m, ldx, c1)
			gramGo(x, m, ldx, c2)
			if !slices.Equal(c1, c2) {
				t.Fatalf("gram ldx=%d m=%d differs from gramGo", ldx, m)
			}
		}
	}
	for _, d := range []int{1, 2, 5, 17} {
		for _, nq := range []int{4, 8, 12} {
			ldu, ldz := nq+4, nq+8
			x := norm(4 * d)
			ut := norm(d * ldu)
			z1, z2 := norm(4*ldz), norm(4*ldz)
			copy(z2, z1)
			zBlock(x, d, d, ut, ldu, nq, z1, ldz)
			patGo(x, d, d, ut, ldu, nq, z2, ldz)
			if !slices.Equal(z1, z2) {
				t.Fatalf("zBlock d=%d nq=%d differs from patGo", d, nq)
			}
		}
	}
	for _, d := range []int{1, 3, 4, 5, 8, 50, 101} {
		rows := 40
		x := norm(rows * d)
		idx := make([]int32, 30)
		for i := range idx {
			idx[i] = int32(rng.IntN(rows))
		}
		ldx := padTo4(d) + 4
		for _, n := range []int{0, 1, 7, 30} {
			d1, d2 := norm(30*ldx), norm(30*ldx)
			copy(d2, d1)
			gather(d1, ldx, x, d, idx, n)
			gatherGo(d2, ldx, x, d, idx[:n])
			if !slices.Equal(d1, d2) {
				t.Fatalf("gather d=%d n=%d differs from gatherGo", d, n)
			}
		}
	}
	for _, n := range []int{0, 1, 3, 4, 5, 15, 16, 17, 35, 100} {
		a := rng.NormFloat64()
		x, y1 := norm(n), norm(n)
		y2 := slices.Clone(y1)
		axpy(a, x, y1)
		axpyGo(a, x, y2)
		if !slices.Equal(y1, y2) {
			t.Fatalf("axpy n=%d differs from axpyGo", n)
		}
	}
}

// TestStripLayout checks the strip offsets against a direct count.
func TestStripLayout(t *testing.T) {
	for ldx := 0; ldx <= 40; ldx += 4 {
		off := 0
		for s := 0; s < ldx/4; s++ {
			if stripOff(ldx, s) != off {
				t.Fatalf("stripOff(%d, %d) = %d, want %d", ldx, s, stripOff(ldx, s), off)
			}
			off += 4 * (ldx - 4*s)
		}
		if stripLen(ldx) != off {
			t.Fatalf("stripLen(%d) = %d, want %d", ldx, stripLen(ldx), off)
		}
	}
}
