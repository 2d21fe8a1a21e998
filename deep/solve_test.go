package deep

import (
	"math"
	"testing"

	"altmin/data"
	"altmin/linalg"
	"altmin/model"
)

// loadAll returns every row of src in one partition.
func loadAll(t *testing.T, tch *data.DeepTeacher) (x, y []float64) {
	t.Helper()
	ps, err := LoadPartitions(tch, 1)
	if err != nil {
		t.Fatal(err)
	}
	return ps[0].X, ps[0].Y
}

// TestLayerSolveRecoversTruth: with W2 fixed at the truth and the true
// patterns, the least squares of layer 1 alone (y_i = c_i^T W1 x_i with
// c_i = D1_i W2*^T D2_i v real-valued) recovers W1* exactly; so does the
// layer-2 solve (y_i = sum_r v_r p2_ir w2_r . h_i) recover W2*. A 3-layer
// teacher checks a middle layer too.
func TestLayerSolveRecoversTruth(t *testing.T) {
	for _, dims := range [][]int{{10, 4, 2}, {12, 6, 3}, {8, 5, 4, 2}} {
		tch, err := data.NewDeepTeacher(2000, dims, 7, "alternate")
		if err != nil {
			t.Fatal(err)
		}
		truth := tch.Net()
		x, y := loadAll(t, tch)
		d := truth.In()
		for l := 1; l <= truth.Layers(); l++ {
			acc := linalg.NewAccum(truth.Dims[l], truth.Dims[l-1])
			var fw model.Pass
			fw.Init(truth)
			for i := range y {
				fw.Run(truth, x[i*d:(i+1)*d])
				fw.Backward(truth)
				acc.Add(fw.C[l], fw.H[l-1], y[i])
			}
			m := acc.M
			w := make([]float64, m)
			sol, err := linalg.SolveNormal(w, acc.G, acc.R, m, make([]float64, m))
			if err != nil {
				t.Fatal(err)
			}
			e := norm(sub(w, truth.W[l-1])) / norm(truth.W[l-1])
			t.Logf("dims %v layer %d: m = %d, cond %.2g, ridge %g, relative error %.2e", dims, l, m, sol.Cond, sol.Ridge, e)
			if sol.Ridge != 0 || e > 1e-10 {
				t.Errorf("dims %v layer %d: relative error %.3g (ridge %g), want <= 1e-10", dims, l, e, sol.Ridge)
			}
		}
	}
}

// TestLastLayerIsOneHiddenLayer: the last layer's statistics are exactly
// the 1-hidden-layer problem on inputs h_i with signs v, as computed by
// linalg.Stats.
func TestLastLayerIsOneHiddenLayer(t *testing.T) {
	tch, err := data.NewDeepTeacher(500, []int{6, 5, 3}, 11, "alternate")
	if err != nil {
		t.Fatal(err)
	}
	start := data.PerturbNet(tch.Net(), 0.2, 5)
	x, y := loadAll(t, tch)
	n, d, k1, k2 := len(y), start.In(), start.Dims[1], start.Dims[2]
	h := make([]float64, n*k1)
	w2 := start.W[1]
	acc := linalg.NewAccum(k2, k1)
	var fw model.Pass
	fw.Init(start)
	for i := range y {
		fw.Run(start, x[i*d:(i+1)*d])
		fw.Backward(start)
		copy(h[i*k1:], fw.H[1])
		acc.Add(fw.C[2], fw.H[1], y[i])
	}
	pat := linalg.NewPatterns(n, k2)
	linalg.ComputePatterns(pat, nil, h, k1, w2, start.V, make([]float64, k2))
	m := k1 * k2
	g, r := make([]float64, linalg.PackedLen(m)), make([]float64, m)
	var ws linalg.StatsWorkspace
	linalg.Stats(&ws, g, r, h, y, k1, pat, start.V)
	for i := range g {
		if math.Abs(g[i]-acc.G[i]) > 1e-12*math.Max(1, math.Abs(g[i])) {
			t.Fatalf("G[%d]: deep %v, linalg.Stats %v", i, acc.G[i], g[i])
		}
	}
	for i := range r {
		if math.Abs(r[i]-acc.R[i]) > 1e-12*math.Max(1, math.Abs(r[i])) {
			t.Fatalf("R[%d]: deep %v, linalg.Stats %v", i, acc.R[i], r[i])
		}
	}
}

func sub(a, b []float64) []float64 {
	c := make([]float64, len(a))
	for i := range a {
		c[i] = a[i] - b[i]
	}
	return c
}
