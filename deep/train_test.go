package deep

import (
	"altmin/data"
	"altmin/model"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"go.uber.org/zap/zaptest"
)

// train runs the core in process over parts from init and returns the last
// report and every report.
func train(t *testing.T, cfg Config, init *model.Net, tch *data.DeepTeacher, order func(int) []int) (Report, []Report) {
	t.Helper()
	parts, err := LoadPartitions(tch, cfg.Partitions)
	if err != nil {
		t.Fatal(err)
	}
	core, err := NewCore(cfg, init)
	if err != nil {
		t.Fatal(err)
	}
	var reps []Report
	tr := &Trainer{Core: core, Parts: parts, Log: zaptest.NewLogger(t), Order: order,
		OnReport: func(r Report) error { reps = append(reps, r); return nil }}
	last, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return last, reps
}

// testErr returns the relative prediction error of n on held-out rows.
func testErr(t *testing.T, n *model.Net, tch *data.DeepTeacher, rows int) float64 {
	t.Helper()
	ps, err := LoadPartitions(tch.HeldOut(rows), 1)
	if err != nil {
		t.Fatal(err)
	}
	return model.PredErr(n, ps[0].X, ps[0].Y)
}

// TestConvergesFromPerturbation: deep AM from W* + 0.05 noise recovers the
// teacher to 1e-10 (held-out predictions and canonical weights) on small
// planted problems, with both the joint (Gauss-Newton) and the sequential
// (per-layer) schedule, and for three hidden layers.
func TestConvergesFromPerturbation(t *testing.T) {
	cases := []struct {
		name  string
		dims  []int
		n     int
		sched Schedule
		iters int // iteration budget
	}{
		{"joint 2 layers", []int{8, 4, 2}, 3000, Joint, 20},
		{"sequential 2 layers", []int{8, 4, 2}, 3000, Sequential, 150},
		{"joint 3 layers", []int{8, 5, 3, 2}, 4000, Joint, 40},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tch, err := data.NewDeepTeacher(c.n, c.dims, 3, "alternate")
			if err != nil {
				t.Fatal(err)
			}
			cfg := DefaultConfig()
			cfg.Schedule, cfg.Partitions, cfg.MaxIters = c.sched, 4, c.iters
			last, reps := train(t, cfg, data.PerturbNet(tch.Net(), 0.05, 99), tch, nil)
			te, we := testErr(t, last.Net, tch, 1000), model.WeightErr(last.Net, tch.Net())
			t.Logf("%s: stop %s after %d iterations (%d steps), train residual %.2e, test error %.2e, weight error %.2e",
				c.name, last.Stop, last.Iter, len(reps), last.RelRes, te, we)
			if last.Stop == IterLimit || te > 1e-10 || we > 1e-10 {
				t.Errorf("%s: stop %s, test error %.3g, weight error %.3g; want <= 1e-10", c.name, last.Stop, te, we)
			}
		})
	}
}

// TestPartitionOrder: the weights do not depend on the number of
// partitions beyond rounding (P = 1 against P = 5 within 1e-12), and for a
// fixed P are bit-identical across runs and offer orders.
func TestPartitionOrder(t *testing.T) {
	tch, err := data.NewDeepTeacher(2500, []int{8, 4, 2}, 5, "alternate")
	if err != nil {
		t.Fatal(err)
	}
	init := data.PerturbNet(tch.Net(), 0.3, 17)
	for _, sched := range []Schedule{Joint, Sequential} {
		cfg := DefaultConfig()
		cfg.Schedule, cfg.MaxIters, cfg.FitTol, cfg.Tol = sched, 3, 0, 0
		cfg.Partitions = 1
		one, _ := train(t, cfg, init, tch, nil)
		cfg.Partitions = 5
		five, _ := train(t, cfg, init, tch, nil)
		rng := rand.New(rand.NewPCG(1, 1))
		shuffled := func(int) []int { return rng.Perm(5) }
		again, _ := train(t, cfg, init, tch, shuffled)
		if e := relChange(five.Net, one.Net); e > 1e-12 {
			t.Errorf("%s: P = 5 and P = 1 differ by %.3g after 3 iterations, want <= 1e-12", sched, e)
		} else {
			t.Logf("%s: P = 5 against P = 1: relative difference %.2e", sched, e)
		}
		for l := range five.Net.W {
			for i, v := range five.Net.W[l] {
				if again.Net.W[l][i] != v {
					t.Fatalf("%s: P = 5 runs differ at layer %d weight %d: %v, %v", sched, l+1, i, v, again.Net.W[l][i])
				}
			}
		}
	}
}

// TestSimultaneousDoesNotConverge documents the block-Jacobi schedule's
// failure: both layers correct the same residual at once and overshoot, so
// the training residual does not fall below its start even from a 5%
// perturbation.
func TestSimultaneousDoesNotConverge(t *testing.T) {
	tch, err := data.NewDeepTeacher(3000, []int{8, 4, 2}, 3, "alternate")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Schedule, cfg.Partitions, cfg.MaxIters = Simultaneous, 2, 20
	last, reps := train(t, cfg, data.PerturbNet(tch.Net(), 0.05, 99), tch, nil)
	t.Logf("simultaneous: residual %.2e at the start, %.2e after %d iterations", reps[0].RelRes, last.RelRes, last.Iter)
	if last.Stop != IterLimit || last.RelRes < 1e-3 {
		t.Errorf("simultaneous schedule converged (stop %s, residual %.3g); update the documentation", last.Stop, last.RelRes)
	}
}

// TestCoreRejects: stale, duplicate, unknown and malformed partials are
// rejected and not reduced; Advance refuses while partitions are missing.
func TestCoreRejects(t *testing.T) {
	tch, err := data.NewDeepTeacher(100, []int{4, 3, 2}, 1, "alternate")
	if err != nil {
		t.Fatal(err)
	}
	parts, err := LoadPartitions(tch, 2)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Partitions = 2
	core, err := NewCore(cfg, tch.Net())
	if err != nil {
		t.Fatal(err)
	}
	req := core.Request()
	var ws Workspace
	p0, err := PartitionStats(&ws, parts[0], req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.Advance(); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Advance with nothing offered: %v, want ErrNotReady", err)
	}
	if err := core.Offer(p0); err != nil {
		t.Fatal(err)
	}
	if err := core.Offer(p0); !errors.Is(err, ErrDuplicate) {
		t.Errorf("duplicate: %v", err)
	}
	stale := *p0
	stale.Step = 7
	if err := core.Offer(&stale); !errors.Is(err, ErrStale) {
		t.Errorf("stale: %v", err)
	}
	unknown := *p0
	unknown.Partition = 2
	if err := core.Offer(&unknown); !errors.Is(err, ErrUnknown) {
		t.Errorf("unknown: %v", err)
	}
	p1, err := PartitionStats(&ws, parts[1], req)
	if err != nil {
		t.Fatal(err)
	}
	bad := *p1
	bad.Systems = nil
	if err := core.Offer(&bad); !errors.Is(err, ErrInvalid) {
		t.Errorf("no systems: %v", err)
	}
	if got := core.Missing(); len(got) != 1 || got[0] != 1 {
		t.Errorf("missing %v, want [1]", got)
	}
	if err := core.Offer(p1); err != nil {
		t.Fatal(err)
	}
	rep, err := core.Advance()
	if err != nil {
		t.Fatal(err)
	}
	if rep.Stop != Fit || rep.RelRes > 1e-15 {
		t.Errorf("the teacher itself: stop %q, residual %v; want fit, <= 1e-15", rep.Stop, rep.RelRes)
	}
	if _, err := core.Advance(); !errors.Is(err, ErrDone) {
		t.Errorf("Advance after the stop: %v", err)
	}
}

// TestConfigValidate covers the configuration's rules.
func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []func(*Config){
		func(c *Config) { c.Schedule = "nope" },
		func(c *Config) { c.Partitions = 0 },
		func(c *Config) { c.MaxIters = -1 },
		func(c *Config) { c.Tol = -1 },
		func(c *Config) { c.FitTol = math.NaN() },
	} {
		c := DefaultConfig()
		f(&c)
		if c.Validate() == nil {
			t.Errorf("invalid config %+v accepted", c)
		}
	}
}
