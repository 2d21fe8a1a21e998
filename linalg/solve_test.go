package linalg_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"

	"altmin/linalg"
)

// normalEquations returns the packed B^T B and B^T y of a dense B.
func normalEquations(b *mat.Dense, y []float64) (g, r []float64) {
	gn, rn := naiveStats(b, y)
	_, m := b.Dims()
	g = make([]float64, linalg.PackedLen(m))
	linalg.PackUpper(g, gn.RawMatrix().Data, m)
	return g, append([]float64(nil), rn.RawVector().Data...)
}

func allFinite(v []float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

func TestSolveNormalWellConditioned(t *testing.T) {
	const seed = 21
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for _, c := range []struct{ n, m int }{{1, 1}, {30, 4}, {200, 24}} {
		b := mat.NewDense(c.n, c.m, randNormal(rng, c.n*c.m))
		want := randNormal(rng, c.m)
		y := make([]float64, c.n)
		mat.NewVecDense(c.n, y).MulVec(b, mat.NewVecDense(c.m, want))
		g, r := normalEquations(b, y)
		u := make([]float64, c.m)
		center := randNormal(rng, c.m) // must not matter without a ridge
		res, err := linalg.SolveNormal(u, g, r, c.m, center)
		if err != nil {
			t.Fatalf("n=%d m=%d: %v", c.n, c.m, err)
		}
		if res.Ridge != 0 || res.Attempts != 1 || !(res.Cond >= 1) || res.Cond > linalg.MaxCond {
			t.Errorf("n=%d m=%d: result %+v, want no ridge, one attempt, 1 <= cond <= MaxCond", c.n, c.m, res)
		}
		if e := relDiff(u, want); e > 1e-12 {
			t.Errorf("n=%d m=%d: solution off by %.3g relative", c.n, c.m, e)
		}
	}
}

// TestSolveNormalDeadNeuron builds the statistics of a problem where one
// neuron is inactive on every sample, so G has a zero block: the solve
// must report a ridge, stay finite, keep the dead neuron at center and solve
// the live neurons' least-squares problem.
func TestSolveNormalDeadNeuron(t *testing.T) {
	const seed = 22
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	n, d, k, dead := 400, 5, 3, 1
	m := d * k
	signs := []float64{1, -1, 1}
	x := randNormal(rng, n*d)
	wtrue := randNormal(rng, m)
	pat := linalg.NewPatterns(n, k)
	y := make([]float64, n)
	for i := 0; i < n; i++ {
		for q := 0; q < k; q++ {
			if q == dead || rng.IntN(2) == 0 {
				continue
			}
			pat.Bits[i*pat.Words+q/64] |= 1 << uint(q)
			y[i] += signs[q] * dot(wtrue[q*d:(q+1)*d], x[i*d:(i+1)*d])
		}
	}
	g := make([]float64, linalg.PackedLen(m))
	r := make([]float64, m)
	var ws linalg.StatsWorkspace
	linalg.Stats(&ws, g, r, x, y, d, pat, signs)
	center := randNormal(rng, m)
	u := make([]float64, m)
	res, err := linalg.SolveNormal(u, g, r, m, center)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("result %+v", res)
	if !(res.Ridge > 0) || res.Attempts < 2 || res.Cond > linalg.MaxCond {
		t.Errorf("result %+v, want a positive ridge after more than one attempt", res)
	}
	if !allFinite(u) {
		t.Fatalf("non-finite solution %v", u)
	}
	if e := relDiff(u[dead*d:(dead+1)*d], center[dead*d:(dead+1)*d]); e > 1e-12 {
		t.Errorf("dead neuron moved from center by %.3g relative: %v vs %v", e, u[dead*d:(dead+1)*d], center[dead*d:(dead+1)*d])
	}
	for q := 0; q < k; q++ {
		if q == dead {
			continue
		}
		if e := relDiff(u[q*d:(q+1)*d], wtrue[q*d:(q+1)*d]); e > 1e-8 {
			t.Errorf("live neuron %d off the least-squares solution by %.3g relative", q, e)
		}
	}
}

// TestSolveNormalUnderdetermined has fewer rows than unknowns: the solve
// must regularize and return a finite solution that (nearly) fits the data.
func TestSolveNormalUnderdetermined(t *testing.T) {
	const seed = 23
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for _, c := range []struct{ n, m int }{{1, 3}, {5, 12}, {20, 60}} {
		b := mat.NewDense(c.n, c.m, randNormal(rng, c.n*c.m))
		y := randNormal(rng, c.n)
		g, r := normalEquations(b, y)
		u := make([]float64, c.m)
		center := make([]float64, c.m)
		res, err := linalg.SolveNormal(u, g, r, c.m, center)
		if err != nil {
			t.Fatalf("n=%d m=%d: %v", c.n, c.m, err)
		}
		if !(res.Ridge > 0) {
			t.Errorf("n=%d m=%d: no ridge reported for a rank-deficient G: %+v", c.n, c.m, res)
		}
		if !allFinite(u) {
			t.Fatalf("n=%d m=%d: non-finite solution", c.n, c.m)
		}
		resid := make([]float64, c.n)
		mat.NewVecDense(c.n, resid).MulVec(b, mat.NewVecDense(c.m, u))
		if e := relDiff(resid, y); e > 1e-6 {
			t.Errorf("n=%d m=%d: ||B u - y|| / ||y|| = %.3g, want the data fitted (ridge %g)", c.n, c.m, e, res.Ridge)
		}
		// With center 0 the proximal problem's solution is close to the
		// minimum-norm least-squares solution B^T (B B^T)^-1 y, not garbage.
		var bbt mat.Dense
		bbt.Mul(b, b.T())
		var z, mn mat.VecDense
		if err := z.SolveVec(&bbt, mat.NewVecDense(c.n, y)); err != nil {
			t.Fatalf("n=%d m=%d: reference solve: %v", c.n, c.m, err)
		}
		mn.MulVec(b.T(), &z)
		t.Logf("n=%d m=%d: %+v, distance to minimum-norm solution %.3g", c.n, c.m, res, relDiff(u, mn.RawVector().Data))
		if e := relDiff(u, mn.RawVector().Data); e > 1e-4 {
			t.Errorf("n=%d m=%d: solution differs from the minimum-norm one by %.3g relative", c.n, c.m, e)
		}
	}
}

func TestSolveNormalDegenerate(t *testing.T) {
	// No data at all: G = 0, r = 0. The proximal ridge keeps the weights.
	m := 4
	center := []float64{1, -2, 3, 0.5}
	u := make([]float64, m)
	res, err := linalg.SolveNormal(u, make([]float64, linalg.PackedLen(m)), make([]float64, m), m, center)
	if err != nil {
		t.Fatal(err)
	}
	if !(res.Ridge > 0) || relDiff(u, center) > 1e-12 {
		t.Errorf("zero G: result %+v, u = %v, want a ridge and u = center %v", res, u, center)
	}

	// A non-finite Gram matrix is an error, not a panic or garbage.
	g := make([]float64, linalg.PackedLen(m))
	g[linalg.PackedIndex(m, 2, 2)] = math.Inf(1)
	if _, err := linalg.SolveNormal(u, g, make([]float64, m), m, center); !errors.Is(err, linalg.ErrSolve) {
		t.Errorf("Inf in G: err = %v, want ErrSolve", err)
	}
	g[linalg.PackedIndex(m, 2, 2)] = math.NaN()
	if _, err := linalg.SolveNormal(u, g, make([]float64, m), m, center); !errors.Is(err, linalg.ErrSolve) {
		t.Errorf("NaN in G: err = %v, want ErrSolve", err)
	}

	defer func() {
		if recover() == nil {
			t.Error("SolveNormal with a short r did not panic")
		}
	}()
	linalg.SolveNormal(u, make([]float64, linalg.PackedLen(m)), make([]float64, m-1), m, center)
}
