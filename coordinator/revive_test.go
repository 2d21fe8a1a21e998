package coordinator_test

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"go.uber.org/zap/zaptest"

	"altmin/coordinator"
	"altmin/data"
	"altmin/model"
	"altmin/msg"
	"altmin/shard"
)

// reviveProblem returns Friedman #1 rows with a bias feature in P
// partitions, the rows themselves, and a start of k units whose unit 0 is
// inactive on every row (weights 0, bias -1).
func reviveProblem(t *testing.T, n, k, P int) (model.Spec, *shard.Engine, []float64, []float64) {
	t.Helper()
	src, err := data.ParsePlanted("model=friedman1,d=5,n=" + itoa(n) + ",seed=4")
	if err != nil {
		t.Fatal(err)
	}
	d := src.Info().D + 1
	parts := make([]*shard.Partition, P)
	for p := range parts {
		if parts[p], err = shard.Load(src, P, p, true); err != nil {
			t.Fatal(err)
		}
	}
	eng, err := shard.NewEngine(parts...)
	if err != nil {
		t.Fatal(err)
	}
	x, y := make([]float64, n*(d-1)), make([]float64, n)
	if err := src.Read(0, n, x, y); err != nil {
		t.Fatal(err)
	}
	signs, err := model.MakeSigns("alternate", k)
	if err != nil {
		t.Fatal(err)
	}
	spec := model.Spec{Kind: model.Sum, D: d, K: k, Signs: signs, Bias: true}
	rng := rand.New(rand.NewPCG(9, 9))
	u0 := make([]float64, k*d)
	for i := range u0 {
		u0[i] = rng.NormFloat64() / math.Sqrt(float64(d))
	}
	clear(u0[:d])
	u0[d-1] = -1
	return spec, eng, x, u0
}

func itoa(n int) string { return strconv.Itoa(n) }

// activeRows counts the rows of x (d-1 features, the bias appended) on
// which unit q of the weights u is active.
func activeRows(x, u []float64, d, q int) int {
	var c int
	for i := 0; i < len(x)/(d-1); i++ {
		z := u[q*d+d-1]
		for j := 0; j < d-1; j++ {
			z += u[q*d+j] * x[i*(d-1)+j]
		}
		if z > 0 {
			c++
		}
	}
	return c
}

// TestReviveDeadUnit: a unit inactive on every training row stays dead
// without Revive (no row of the statistics moves it) and is placed on rows
// with it; the objective of the accepted iterates never rises either way,
// and a run resumed from the state of any round ends with the same bits.
func TestReviveDeadUnit(t *testing.T) {
	const n, k, P, iters = 2000, 4, 3, 12
	spec, eng, x, u0 := reviveProblem(t, n, k, P)
	run := func(revive bool, from *coordinator.State, states *[]coordinator.State) []coordinator.Report {
		cfg := coordinator.ShallowConfig{Spec: spec, Partitions: P, MaxIters: iters, Damping: coordinator.DefaultDamping(),
			Ridge: &coordinator.Ridge{Alpha: 1e-4}, Revive: revive, Seed: 5}
		core, err := coordinator.NewShallow(cfg, u0)
		if err != nil {
			t.Fatal(err)
		}
		if from != nil {
			if err := core.Restore(*from); err != nil {
				t.Fatal(err)
			}
		}
		var reps []coordinator.Report
		d := &coordinator.Driver{Core: core, Fetcher: eng, Parallel: 2, Log: zaptest.NewLogger(t),
			OnReport: func(r coordinator.Report, _ coordinator.Timing) error {
				reps = append(reps, r)
				if states != nil {
					*states = append(*states, core.State())
				}
				if r.Revived > 0 && !revive {
					t.Errorf("iteration %d: %d units revived without Revive", r.Iter, r.Revived)
				}
				if req, ok := core.Request().(*msg.StatsRequest); ok && r.Stop == coordinator.Running && !core.State().Refresh && (len(req.Revive) > 0) != (revive && core.State().Revival != nil) {
					t.Errorf("iteration %d (accepted %v): the next request (round %d) revives units %v, the state %+v", r.Iter, r.Accepted, req.Iter, req.Revive, core.State().Revival)
				}
				return nil
			}}
		if _, err := d.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return reps
	}
	last := func(reps []coordinator.Report) []float64 {
		b := reps[len(reps)-1].Best.Net
		return b.W[0]
	}
	monotone := func(name string, reps []coordinator.Report) {
		obj := math.Inf(1)
		for _, r := range reps {
			if !r.Accepted {
				continue
			}
			if r.Objective > obj {
				t.Errorf("%s: iteration %d: objective %v above the last accepted %v", name, r.Iter, r.Objective, obj)
			}
			obj = r.Objective
		}
	}

	plain := run(false, nil, nil)
	monotone("without Revive", plain)
	if a := activeRows(x, last(plain), spec.D, 0); a != 0 {
		t.Fatalf("without Revive, the dead unit is active on %d rows: the test's start is not dead", a)
	}
	var states []coordinator.State
	revived := run(true, nil, &states)
	monotone("with Revive", revived)
	if revived[0].Revived != 1 {
		t.Errorf("the start's report revives %d units, want 1", revived[0].Revived)
	}
	if a := activeRows(x, last(revived), spec.D, 0); a == 0 || a == n {
		t.Errorf("with Revive, the dead unit is active on %d of %d rows", a, n)
	}
	if !(revived[len(revived)-1].Best.Loss < plain[len(plain)-1].Best.Loss) {
		t.Errorf("the revived unit did not lower the best loss: %v, without %v", revived[len(revived)-1].Best.Loss, plain[len(plain)-1].Best.Loss)
	}
	want := revived[len(revived)-1].Net.W[0]
	for i := range states[:len(states)-1] {
		got := run(true, &states[i], nil)
		if g := got[len(got)-1].Net.W[0]; !slices.Equal(g, want) {
			t.Fatalf("resumed after round %d (revival %+v): other final weights", i, states[i].Revival)
		}
	}
}
