package linalg_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"

	"altmin/linalg"
)

// These tests check the statistics kernels through the exported API only,
// against a naive dense computation written here: form the design matrix B
// in full, then B^T B and B^T y with gonum/mat.

// tieGap is the smallest |u_q . x_i| allowed in random test data (except for
// rows that are exactly zero), so that the activation pattern does not depend
// on the order in which a kernel sums the dot product.
const tieGap = 1e-6

// dot is the plain dot product of the naive reference.
func dot(a, b []float64) float64 {
	var s float64
	for j := range a {
		s += a[j] * b[j]
	}
	return s
}

// naiveActive reports whether neuron q (weights u, k x d) is active on x_i.
func naiveActive(u, xi []float64, d, q int) bool {
	return dot(u[q*d:(q+1)*d], xi) > 0
}

// naiveB forms the whole n x d*k design matrix: B[i, q*d+j] = v_q x_ij when
// neuron q is active on row i, else 0.
func naiveB(x []float64, n, d int, active func(i, q int) bool, signs []float64) *mat.Dense {
	k := len(signs)
	b := mat.NewDense(n, d*k, nil)
	for i := 0; i < n; i++ {
		for q := 0; q < k; q++ {
			if !active(i, q) {
				continue
			}
			for j := 0; j < d; j++ {
				b.Set(i, q*d+j, signs[q]*x[i*d+j])
			}
		}
	}
	return b
}

// naiveStats returns B^T B (full, m x m) and B^T y.
func naiveStats(b *mat.Dense, y []float64) (*mat.Dense, *mat.VecDense) {
	_, m := b.Dims()
	var g mat.Dense
	g.Mul(b.T(), b)
	r := mat.NewVecDense(m, nil)
	r.MulVec(b.T(), mat.NewVecDense(len(y), y))
	return &g, r
}

// relDiff returns ||a - b||_2 / ||b||_2 over flat slices (0 when both are 0).
func relDiff(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var num, den float64
	for i := range a {
		t := a[i] - b[i]
		num += t * t
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

func randSigns(rng *rand.Rand, k int) []float64 {
	s := make([]float64, k)
	for q := range s {
		s[q] = 1
		if rng.IntN(2) == 1 {
			s[q] = -1
		}
	}
	return s
}

func randNormal(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

// testData draws n rows for the weights in ws (each k x d): Gaussian rows
// kept only when every |u_q . x_i| > tieGap for every u in ws; rows
// 0, 7, 14, ... are made dead (no neuron of ws[0] active) by rejection or,
// failing that, set to zero; row 3 is always zero.
func testData(rng *rand.Rand, n, d, k int, ws ...[]float64) []float64 {
	x := make([]float64, n*d)
	ok := func(xi []float64, dead bool) bool {
		for wi, u := range ws {
			for q := 0; q < k; q++ {
				z := dot(u[q*d:(q+1)*d], xi)
				if math.Abs(z) <= tieGap || (dead && wi == 0 && z > 0) {
					return false
				}
			}
		}
		return true
	}
	for i := 0; i < n; i++ {
		xi := x[i*d : (i+1)*d]
		if i == 3 {
			continue
		}
		dead := i%7 == 0
		found := false
		for try := 0; try < 20000 && !found; try++ {
			for j := range xi {
				xi[j] = rng.NormFloat64()
			}
			found = ok(xi, dead)
		}
		if !found {
			clear(xi)
		}
	}
	return x
}

func TestPackedRoundTrip(t *testing.T) {
	for _, m := range []int{1, 2, 5, 17} {
		if got, want := linalg.PackedLen(m), m*(m+1)/2; got != want {
			t.Fatalf("PackedLen(%d) = %d, want %d", m, got, want)
		}
		a := make([]float64, m*m)
		for i := 0; i < m; i++ {
			for j := i; j < m; j++ {
				a[i*m+j] = float64(1000*i + j)
				a[j*m+i] = a[i*m+j]
			}
		}
		p := make([]float64, linalg.PackedLen(m))
		linalg.PackUpper(p, a, m)
		seen := make([]bool, len(p))
		for i := 0; i < m; i++ {
			for j := 0; j < m; j++ {
				idx := linalg.PackedIndex(m, i, j)
				if idx < 0 || idx >= len(p) || p[idx] != a[i*m+j] {
					t.Fatalf("m=%d: PackedIndex(%d, %d) = %d holds wrong value", m, i, j, idx)
				}
				if i <= j {
					if seen[idx] {
						t.Fatalf("m=%d: PackedIndex(%d, %d) = %d used twice", m, i, j, idx)
					}
					seen[idx] = true
				}
			}
		}
		back := make([]float64, m*m)
		linalg.Unpack(back, p, m)
		for i := range a {
			if back[i] != a[i] {
				t.Fatalf("m=%d: Unpack(PackUpper(a)) differs at %d", m, i)
			}
		}
	}
}

func TestComputePatternsMatchesNaive(t *testing.T) {
	const seed = 11
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for _, c := range []struct{ n, d, k int }{{1, 1, 1}, {50, 3, 1}, {200, 4, 5}, {90, 2, 64}, {70, 3, 67}} {
		signs := randSigns(rng, c.k)
		u := randNormal(rng, c.k*c.d)
		x := testData(rng, c.n, c.d, c.k, u)
		pat := linalg.NewPatterns(c.n, c.k)
		for i := range pat.Bits {
			pat.Bits[i] = rng.Uint64() // must be overwritten
		}
		pred := make([]float64, c.n)
		linalg.ComputePatterns(pat, pred, x, c.d, u, signs)
		want := make([]float64, c.n)
		for i := 0; i < c.n; i++ {
			xi := x[i*c.d : (i+1)*c.d]
			for q := 0; q < c.k; q++ {
				act := naiveActive(u, xi, c.d, q)
				if pat.Active(i, q) != act {
					t.Fatalf("%+v: row %d neuron %d: Active = %v, want %v", c, i, q, pat.Active(i, q), act)
				}
				if act {
					want[i] += signs[q] * dot(u[q*c.d:(q+1)*c.d], xi)
				}
			}
		}
		if e := relDiff(pred, want); e > 1e-12 {
			t.Fatalf("%+v: outputs differ from naive by %.3g relative", c, e)
		}
		// Bits beyond K in the last word stay clear, so Flips can compare
		// whole words.
		for i := 0; i < c.n; i++ {
			for q := c.k; q < 64*pat.Words; q++ {
				if pat.Bits[i*pat.Words+q/64]>>(uint(q)%64)&1 != 0 {
					t.Fatalf("%+v: row %d: padding bit %d set", c, i, q)
				}
			}
		}
		// pred may be nil.
		pat2 := linalg.NewPatterns(c.n, c.k)
		linalg.ComputePatterns(pat2, nil, x, c.d, u, signs)
		if f := pat2.Flips(pat); f != 0 {
			t.Fatalf("%+v: patterns without pred differ in %d bits", c, f)
		}
	}
}

func TestFlipsMatchesNaive(t *testing.T) {
	const seed = 12
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for _, c := range []struct{ n, d, k int }{{80, 3, 1}, {300, 5, 4}, {100, 2, 70}} {
		signs := randSigns(rng, c.k)
		u := randNormal(rng, c.k*c.d)
		prev := make([]float64, len(u))
		for i := range prev {
			prev[i] = u[i] + rng.NormFloat64()
		}
		x := testData(rng, c.n, c.d, c.k, u, prev)
		pu, pp := linalg.NewPatterns(c.n, c.k), linalg.NewPatterns(c.n, c.k)
		linalg.ComputePatterns(pu, nil, x, c.d, u, signs)
		linalg.ComputePatterns(pp, nil, x, c.d, prev, signs)
		var want int64
		for i := 0; i < c.n; i++ {
			xi := x[i*c.d : (i+1)*c.d]
			for q := 0; q < c.k; q++ {
				if naiveActive(u, xi, c.d, q) != naiveActive(prev, xi, c.d, q) {
					want++
				}
			}
		}
		if want == 0 {
			t.Fatalf("%+v: test data has no flips", c)
		}
		if got := pu.Flips(pp); got != want {
			t.Errorf("%+v: Flips = %d, want %d", c, got, want)
		}
		if got := pp.Flips(pu); got != want {
			t.Errorf("%+v: Flips reversed = %d, want %d", c, got, want)
		}
		if got := pu.Flips(pu); got != 0 {
			t.Errorf("%+v: Flips with itself = %d", c, got)
		}
	}
}

// TestStatsMatchesNaive compares Stats with the dense B^T B and B^T y for
// patterns computed from weights (with dead and zero rows) and for arbitrary
// patterns, on several shapes, reusing one workspace across all of them.
func TestStatsMatchesNaive(t *testing.T) {
	const seed = 13
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	var ws linalg.StatsWorkspace
	cases := []struct{ n, d, k int }{
		{1, 1, 1}, {5, 3, 1}, {129, 4, 1}, {300, 6, 3}, {257, 5, 4}, {128, 2, 7}, {0, 3, 2}, {200, 2, 65}, {40, 1, 9},
	}
	for _, c := range cases {
		for _, arbitrary := range []bool{false, true} {
			name := fmt.Sprintf("n=%d,d=%d,k=%d,arbitrary=%v", c.n, c.d, c.k, arbitrary)
			n, d, k, m := c.n, c.d, c.k, c.d*c.k
			signs := randSigns(rng, k)
			u := randNormal(rng, m)
			x := testData(rng, n, d, k, u)
			y := randNormal(rng, n)
			pat := linalg.NewPatterns(n, k)
			var active func(i, q int) bool
			if arbitrary {
				for i := 0; i < n; i++ {
					for q := 0; q < k; q++ {
						if rng.IntN(3) == 0 && i%5 != 0 { // rows 0, 5, 10, ... dead
							pat.Bits[i*pat.Words+q/64] |= 1 << (uint(q) % 64)
						}
					}
				}
				active = func(i, q int) bool { return pat.Bits[i*pat.Words+q/64]>>(uint(q)%64)&1 == 1 }
			} else {
				linalg.ComputePatterns(pat, nil, x, d, u, signs)
				active = func(i, q int) bool { return naiveActive(u, x[i*d:(i+1)*d], d, q) }
			}
			dead := 0
			for i := 0; i < n; i++ {
				any := false
				for q := 0; q < k; q++ {
					any = any || active(i, q)
				}
				if !any {
					dead++
				}
			}
			if n >= 7 && dead == 0 {
				t.Fatalf("%s: no row without an active neuron", name)
			}
			g := make([]float64, linalg.PackedLen(m))
			r := make([]float64, m)
			for i := range g {
				g[i] = math.NaN() // must be overwritten
			}
			for i := range r {
				r[i] = math.NaN()
			}
			linalg.Stats(&ws, g, r, x, y, d, pat, signs)
			full := make([]float64, m*m)
			linalg.Unpack(full, g, m)
			if n == 0 {
				for i, v := range append(full, r...) {
					if v != 0 {
						t.Fatalf("%s: statistic %d = %v with no rows", name, i, v)
					}
				}
				continue
			}
			gn, rn := naiveStats(naiveB(x, n, d, active, signs), y)
			if e := relDiff(full, gn.RawMatrix().Data); e > 1e-12 {
				t.Errorf("%s: B^T B differs from naive by %.3g relative", name, e)
			}
			if e := relDiff(r, rn.RawVector().Data); e > 1e-12 {
				t.Errorf("%s: B^T y differs from naive by %.3g relative", name, e)
			}
			// Same inputs, same bits, whatever the workspace held before.
			g2 := make([]float64, len(g))
			r2 := make([]float64, len(r))
			var fresh linalg.StatsWorkspace
			linalg.Stats(&fresh, g2, r2, x, y, d, pat, signs)
			for i := range g {
				if math.Float64bits(g[i]) != math.Float64bits(g2[i]) {
					t.Fatalf("%s: G not bit-identical with a fresh workspace at %d", name, i)
				}
			}
			for i := range r {
				if math.Float64bits(r[i]) != math.Float64bits(r2[i]) {
					t.Fatalf("%s: r not bit-identical with a fresh workspace at %d", name, i)
				}
			}
		}
	}
}

// TestStatsMultiplyBack checks the statistics by another route: for any
// vector u, u^T G u = ||B u||^2 and r . u = y . (B u), where B u is computed
// row by row from the definition of the model (sum of active neurons).
func TestStatsMultiplyBack(t *testing.T) {
	const seed = 14
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	n, d, k := 500, 7, 4
	m := d * k
	signs := []float64{1, -1, 1, -1}
	w := randNormal(rng, m)
	x := testData(rng, n, d, k, w)
	y := randNormal(rng, n)
	pat := linalg.NewPatterns(n, k)
	linalg.ComputePatterns(pat, nil, x, d, w, signs)
	g := make([]float64, linalg.PackedLen(m))
	r := make([]float64, m)
	var ws linalg.StatsWorkspace
	linalg.Stats(&ws, g, r, x, y, d, pat, signs)
	full := make([]float64, m*m)
	linalg.Unpack(full, g, m)
	for trial := 0; trial < 5; trial++ {
		u := randNormal(rng, m)
		var bu2, ybu float64
		for i := 0; i < n; i++ {
			xi := x[i*d : (i+1)*d]
			var bi float64
			for q := 0; q < k; q++ {
				if naiveActive(w, xi, d, q) {
					bi += signs[q] * dot(u[q*d:(q+1)*d], xi)
				}
			}
			bu2 += bi * bi
			ybu += y[i] * bi
		}
		var ugu, ru float64
		for a := 0; a < m; a++ {
			ru += r[a] * u[a]
			for b := 0; b < m; b++ {
				ugu += u[a] * full[a*m+b] * u[b]
			}
		}
		if math.Abs(ugu-bu2) > 1e-11*bu2 {
			t.Errorf("u^T G u = %v, ||B u||^2 = %v", ugu, bu2)
		}
		if math.Abs(ru-ybu) > 1e-11*math.Sqrt(bu2*dot(y, y)) {
			t.Errorf("r . u = %v, y . B u = %v", ru, ybu)
		}
	}
}

func TestKernelsPanicOnBadDimensions(t *testing.T) {
	panics := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	var ws linalg.StatsWorkspace
	pat := linalg.NewPatterns(2, 2)
	panics("Stats short x", func() {
		linalg.Stats(&ws, make([]float64, linalg.PackedLen(6)), make([]float64, 6), make([]float64, 5), make([]float64, 2), 3, pat, []float64{1, 1})
	})
	panics("Stats wrong k", func() {
		linalg.Stats(&ws, make([]float64, linalg.PackedLen(9)), make([]float64, 9), make([]float64, 6), make([]float64, 2), 3, pat, []float64{1, 1, 1})
	})
	panics("ComputePatterns short u", func() {
		linalg.ComputePatterns(pat, nil, make([]float64, 6), 3, make([]float64, 5), []float64{1, 1})
	})
	panics("Flips size mismatch", func() { pat.Flips(linalg.NewPatterns(3, 2)) })
	panics("Unpack", func() { linalg.Unpack(make([]float64, 4), make([]float64, 2), 2) })
}
