package coordinator_test

import (
	"context"
	"math"
	"testing"

	"go.uber.org/zap/zaptest"
	"gonum.org/v1/gonum/mat"

	"altmin/coordinator"
)

// naiveGD computes, the dumb way, the gradient-descent quantities at the
// effective weights u: the whole B, G = B^T B, r = B^T y, the papers' step
// 2 / (s_min^2 + s_max^2) from a full eigendecomposition of G / n, and the
// step u + (eta/n) (r - G u) for a given eta.
func naiveGD(t *testing.T, pr *problem, u []float64) (eta float64, next func(eta float64) []float64) {
	t.Helper()
	d, k := pr.spec.D, pr.spec.K
	m := d * k
	b := mat.NewDense(pr.n, m, nil)
	for i := 0; i < pr.n; i++ {
		xi := pr.x[i*d : (i+1)*d]
		for q := 0; q < k; q++ {
			var z float64
			for j := 0; j < d; j++ {
				z += u[q*d+j] * xi[j]
			}
			if z > 0 {
				for j := 0; j < d; j++ {
					b.Set(i, q*d+j, pr.spec.Signs[q]*xi[j])
				}
			}
		}
	}
	var g mat.SymDense
	g.SymOuterK(1, b.T())
	r := mat.NewVecDense(m, nil)
	r.MulVec(b.T(), mat.NewVecDense(pr.n, pr.y))
	var es mat.EigenSym
	if !es.Factorize(&g, false) {
		t.Fatal("eigendecomposition failed")
	}
	vals := es.Values(nil)
	n := float64(pr.n)
	eta = 2 / (math.Max(vals[0]/n, 0) + vals[m-1]/n)
	return eta, func(eta float64) []float64 {
		var gu mat.VecDense
		gu.MulVec(&g, mat.NewVecDense(m, u))
		out := make([]float64, m)
		for i := range out {
			out[i] = u[i] + eta/n*(r.AtVec(i)-gu.AtVec(i))
		}
		return out
	}
}

func trainGD(t *testing.T, pr *problem, u0 []float64, iters int, step float64) []coordinator.Report {
	t.Helper()
	core, err := coordinator.NewShallow(coordinator.ShallowConfig{Method: coordinator.GD, Spec: pr.spec, Partitions: pr.P,
		MaxIters: iters, Step: step}, u0)
	if err != nil {
		t.Fatal(err)
	}
	var reps []coordinator.Report
	d := &coordinator.Driver{Core: core, Fetcher: pr.eng, Parallel: 2,
		Log: zaptest.NewLogger(t), OnReport: func(r coordinator.Report, _ coordinator.Timing) error {
			reps = append(reps, r)
			return nil
		}}
	if _, err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return reps
}

// Gradient descent through the core, against the dense reference at every
// iterate: the step of the papers' rule (Lanczos estimate) is within 1e-3
// relative of the exact eigenvalues' (measured: below 1e-6), the update is
// u + (eta/n) (r - G u) with the step used, and the loss falls. A fixed
// --step is used as given.
func TestGDMatchesNaive(t *testing.T) {
	pr := planted(t, "model=resnet,d=8,n=600,seed=9", 4) // 64 unknowns
	u0 := pr.spec.Effective(make([]float64, 64))         // identity start
	reps := trainGD(t, pr, u0, 25, 0)
	if len(reps) != 26 {
		t.Fatalf("%d reports, want 26", len(reps))
	}
	var worst float64
	for _, r := range reps[:len(reps)-1] {
		eta, next := naiveGD(t, pr, weights(r.Net))
		rel := math.Abs(r.StepSize-eta) / eta
		worst = math.Max(worst, rel)
		if rel > 1e-3 {
			t.Errorf("iteration %d: step %v, exact %v", r.Iter, r.StepSize, eta)
		}
		if e := relDiff(weights(r.Next), next(r.StepSize)); e > 1e-12 {
			t.Errorf("iteration %d: update differs from the dense one by %.3g relative", r.Iter, e)
		}
	}
	t.Logf("worst relative error of the step over %d iterations: %.2e", len(reps)-1, worst)
	if first, last := reps[0].Loss, reps[len(reps)-1].Loss; !(last < first/10) {
		t.Errorf("loss %v -> %v after 25 GD iterations", first, last)
	}

	fixed := trainGD(t, pr, u0, 3, 0.25)
	for _, r := range fixed[:len(fixed)-1] {
		_, next := naiveGD(t, pr, weights(r.Net))
		if r.StepSize != 0.25 || relDiff(weights(r.Next), next(0.25)) > 1e-12 {
			t.Errorf("fixed step: iteration %d used step %v", r.Iter, r.StepSize)
		}
	}
}
