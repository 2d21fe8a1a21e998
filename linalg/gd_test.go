package linalg

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// gaussGram returns the packed B^T B of a rows x m Gaussian B.
func gaussGram(rng *rand.Rand, rows, m int) []float64 {
	b := mat.NewDense(rows, m, nil)
	for i := 0; i < rows; i++ {
		for j := 0; j < m; j++ {
			b.Set(i, j, rng.NormFloat64())
		}
	}
	return packedAtA(b)
}

// skipGram returns the packed Gram matrix of the skip model y =
// relu(X (W + I)) 1 at weights W with ||W||_F = wnorm, on rows Gaussian
// inputs: row i of B is (p_i) (x) x_i with p_iq = 1{x_i . (w_q + e_q) > 0}.
func skipGram(rng *rand.Rand, rows, d int, wnorm float64) []float64 {
	w := make([]float64, d*d)
	var s float64
	for i := range w {
		w[i] = rng.NormFloat64()
		s += w[i] * w[i]
	}
	for i := range w {
		w[i] *= wnorm / math.Sqrt(s)
	}
	for q := 0; q < d; q++ {
		w[q*d+q]++
	}
	b := mat.NewDense(rows, d*d, nil)
	x := make([]float64, d)
	for i := 0; i < rows; i++ {
		for j := range x {
			x[j] = rng.NormFloat64()
		}
		for q := 0; q < d; q++ {
			var z float64
			for j, v := range x {
				z += v * w[q*d+j]
			}
			if z > 0 {
				for j, v := range x {
					b.Set(i, q*d+j, v)
				}
			}
		}
	}
	return packedAtA(b)
}

func packedAtA(b *mat.Dense) []float64 {
	_, m := b.Dims()
	var g mat.Dense
	g.Mul(b.T(), b)
	p := make([]float64, PackedLen(m))
	PackUpper(p, g.RawMatrix().Data, m)
	return p
}

func exactStep(t *testing.T, g []float64, m, n int) (eta, lo, hi float64) {
	t.Helper()
	l, h, err := exactExtremes(g, m)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi = math.Max(l/float64(n), 0), h/float64(n)
	return 2 / (lo + hi), lo, hi
}

// The Lanczos estimate of the step rule agrees with the exact eigenvalues
// to a relative 1e-3 (it aims at StepRuleTol = 1e-4) on seeded random Gram
// matrices: Gaussian B^T B from singular (rows < m) to well conditioned,
// and the skip model's Gram matrices at d = 5, 10 and 20 (m = 400, the
// phase experiment's size). The Ritz values lie inside the spectrum.
func TestEstimateStepMatchesExact(t *testing.T) {
	type gcase struct {
		name    string
		m, rows int
		skip    bool
		d       int
	}
	var cases []gcase
	for _, m := range []int{3, 17, 60, 150} {
		for _, ratio := range []float64{0.5, 1, 1.3, 2, 4.25, 20} {
			cases = append(cases, gcase{name: "gauss", m: m, rows: max(1, int(ratio*float64(m)))})
		}
	}
	for _, d := range []int{5, 10} {
		for _, ratio := range []float64{0.5, 1.5, 4.25, 20} {
			cases = append(cases, gcase{name: "skip", skip: true, d: d, m: d * d, rows: int(ratio * float64(d*d))})
		}
	}
	cases = append(cases, gcase{name: "skip", skip: true, d: 20, m: 400, rows: 700},
		gcase{name: "skip", skip: true, d: 20, m: 400, rows: 1700})
	var worst float64
	count := 0
	for ci, c := range cases {
		for seed := uint64(1); seed <= 3; seed++ {
			if c.m == 400 && seed > 1 {
				continue
			}
			rng := rand.New(rand.NewPCG(seed, uint64(ci)))
			var g []float64
			if c.skip {
				g = skipGram(rng, c.rows, c.d, 2)
			} else {
				g = gaussGram(rng, c.rows, c.m)
			}
			count++
			est, err := EstimateStep(g, c.m, c.rows)
			if err != nil {
				t.Fatalf("%s m=%d rows=%d seed %d: %v", c.name, c.m, c.rows, seed, err)
			}
			eta, lo, hi := exactStep(t, g, c.m, c.rows)
			rel := math.Abs(est.Eta-eta) / eta
			worst = math.Max(worst, rel)
			tiny := 1e-12 * hi
			switch {
			case rel > 1e-3:
				t.Errorf("%s m=%d rows=%d seed %d: step %v, exact %v (relative error %.2e; %d steps, bound %.2e)",
					c.name, c.m, c.rows, seed, est.Eta, eta, rel, est.Steps, est.Bound)
			case est.Hi > hi+tiny || est.Lo < lo-tiny:
				t.Errorf("%s m=%d rows=%d seed %d: estimates [%v, %v] outside the spectrum [%v, %v]",
					c.name, c.m, c.rows, seed, est.Lo, est.Hi, lo, hi)
			case c.m >= 60 && est.Exact:
				t.Errorf("%s m=%d rows=%d seed %d: fell back to the eigendecomposition", c.name, c.m, c.rows, seed)
			case c.m == 400 && est.Steps > c.m/3:
				// The point of the estimate: far fewer products than m
				// at the phase experiment's size.
				t.Errorf("%s m=%d rows=%d seed %d: %d Lanczos steps, want at most m/3", c.name, c.m, c.rows, seed, est.Steps)
			}
			if c.m == 400 {
				t.Logf("skip model d=20 n=%d: %d Lanczos steps, step %v, exact %v, relative error %.2e, bound %.2e",
					c.rows, est.Steps, est.Eta, eta, rel, est.Bound)
			}
		}
	}
	t.Logf("worst relative error of the step over %d matrices: %.2e", count, worst)
}

// When the estimate does not meet its tolerance, or the Krylov space is
// invariant too early, the step is the exact one.
func TestEstimateStepFallback(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const m, rows = 50, 80
	g := gaussGram(rng, rows, m)
	eta, _, _ := exactStep(t, g, m, rows)
	est, err := estimateStep(g, m, rows, StepRuleTol, 3) // 3 steps cannot meet 1e-4
	if err != nil {
		t.Fatal(err)
	}
	if !est.Exact || est.Eta != eta || est.Steps != 0 {
		t.Fatalf("3-step budget: %+v, want the exact step %v", est, eta)
	}

	// c I and a matrix with two distinct eigenvalues: the Krylov space of
	// any start is invariant after 1 and 2 steps.
	id := make([]float64, PackedLen(m))
	two := make([]float64, PackedLen(m))
	for i := 0; i < m; i++ {
		id[PackedIndex(m, i, i)] = 3
		two[PackedIndex(m, i, i)] = 1 + float64(i%2)
	}
	for _, c := range []struct {
		name   string
		g      []float64
		lo, hi float64
	}{{"3 I", id, 3, 3}, {"diag(1, 2, 1, 2, ...)", two, 1, 2}} {
		est, err := EstimateStep(c.g, m, 10)
		if err != nil {
			t.Fatal(err)
		}
		if want := 2 / ((c.lo + c.hi) / 10); !est.Exact || math.Abs(est.Eta-want) > 1e-14*want {
			t.Errorf("%s: %+v, want the exact step %v", c.name, est, want)
		}
	}

	// A full Lanczos run (m steps) is exact too.
	small := gaussGram(rng, 5, 4)
	eta, _, _ = exactStep(t, small, 4, 5)
	if est, err := estimateStep(small, 4, 5, 0, 100); err != nil || math.Abs(est.Eta-eta) > 1e-12*eta || est.Steps != 4 {
		t.Errorf("m steps of Lanczos: %+v (%v), want step %v after 4 steps", est, err, eta)
	}
}

func TestEstimateStepErrors(t *testing.T) {
	const m = 6
	if _, err := StepRule(make([]float64, PackedLen(m)), m, 10); !errors.Is(err, ErrSolve) {
		t.Errorf("zero Gram: %v, want ErrSolve", err)
	}
	g := gaussGram(rand.New(rand.NewPCG(1, 1)), 10, m)
	g[3] = math.NaN()
	if _, err := StepRule(g, m, 10); !errors.Is(err, ErrSolve) {
		t.Errorf("NaN in the Gram matrix: %v, want ErrSolve", err)
	}
}

// StepRule is a pure function of its input: the same bits on every call.
func TestStepRuleDeterministic(t *testing.T) {
	g := skipGram(rand.New(rand.NewPCG(3, 3)), 300, 8, 2)
	a, err := StepRule(g, 64, 300)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if b, _ := StepRule(append([]float64(nil), g...), 64, 300); b != a {
			t.Fatalf("step %v, then %v", a, b)
		}
	}
}

// GradientStep against a dense computation of u + (eta/n) (r - G u).
func TestGradientStepMatchesDense(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, m := range []int{1, 2, 7, 33} {
		g := gaussGram(rng, m+3, m)
		full := make([]float64, m*m)
		Unpack(full, g, m)
		r, u := make([]float64, m), make([]float64, m)
		for i := range r {
			r[i], u[i] = rng.NormFloat64(), rng.NormFloat64()
		}
		next := make([]float64, m)
		GradientStep(next, g, r, u, m, 11, 0.7)
		for i := 0; i < m; i++ {
			var gu float64
			for j := 0; j < m; j++ {
				gu += full[i*m+j] * u[j]
			}
			want := u[i] + 0.7/11*(r[i]-gu)
			if math.Abs(next[i]-want) > 1e-12*(1+math.Abs(want)) {
				t.Fatalf("m=%d: next[%d] = %v, want %v", m, i, next[i], want)
			}
		}
	}
}

func BenchmarkStepRule(b *testing.B) {
	g := skipGram(rand.New(rand.NewPCG(1, 1)), 1700, 20, 2)
	b.Run("lanczos", func(b *testing.B) {
		for b.Loop() {
			if _, err := StepRule(g, 400, 1700); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("exact", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := exactExtremes(g, 400); err != nil {
				b.Fatal(err)
			}
		}
	})
}
