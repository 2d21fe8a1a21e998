package coordinator_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"altmin/coordinator"
	"altmin/data"
	"altmin/model"
	"altmin/msg"
	"altmin/round"
	"altmin/shard"
)

// The core of deep networks (Deep), run in process by Driver with a shard
// engine as the fetcher, and alone with partials offered in chosen orders.

// deepEngine returns an engine holding the P partitions of src (no bias
// feature).
func deepEngine(t *testing.T, src data.Source, P int) *shard.Engine {
	t.Helper()
	parts := make([]*shard.Partition, P)
	for id := range parts {
		p, err := shard.Load(src, P, id, false)
		if err != nil {
			t.Fatal(err)
		}
		parts[id] = p
	}
	eng, err := shard.NewEngine(parts...)
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func newDeep(t *testing.T, cfg coordinator.DeepConfig, init *model.Net) *coordinator.Deep {
	t.Helper()
	c, err := coordinator.NewDeep(cfg, init)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newDeepOf returns a deep core over pr's partitions (inputs of pr's
// width) from a random start.
func newDeepOf(t *testing.T, pr *problem) *coordinator.Deep {
	t.Helper()
	return newDeep(t, coordinator.DeepConfig{Schedule: coordinator.Joint, Partitions: pr.P, MaxIters: 4}, data.RandomNet(model.NewNet(pr.spec.D, 3, 2), 1))
}

// runDeep trains a deep core through Driver with fetcher f, at most par
// fetches at once, and returns the last report and every report.
func runDeep(t *testing.T, cfg coordinator.DeepConfig, init *model.Net, f msg.Fetcher, par int) (coordinator.Report, []coordinator.Report) {
	t.Helper()
	clock := time.Unix(0, 0)
	var reps []coordinator.Report
	d := &coordinator.Driver{Core: newDeep(t, cfg, init), Fetcher: f, Parallel: par, Log: zaptest.NewLogger(t),
		Now: func() time.Time { clock = clock.Add(time.Millisecond); return clock },
		OnReport: func(r coordinator.Report, _ coordinator.Timing) error {
			reps = append(reps, r)
			return nil
		}}
	last, err := d.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !sameReport(last, reps[len(reps)-1]) {
		t.Fatal("Run's report is not the last one handed to OnReport")
	}
	return last, reps
}

// stepOffered computes every partition's partial of c's current round with
// eng, offers them in the given order (nil: partition order) and advances.
func stepOffered(t *testing.T, c coordinator.Core, eng *shard.Engine, order []int) coordinator.Report {
	t.Helper()
	req := c.Request()
	P := len(c.Missing())
	parts := make([]msg.Partial, P)
	for p := range parts {
		v, err := eng.Fetch(context.Background(), req, msg.Leaf(p))
		if err != nil {
			t.Fatal(err)
		}
		parts[p] = v
	}
	if order == nil {
		order = make([]int, P)
		for i := range order {
			order[i] = i
		}
	}
	for _, p := range order {
		offer(t, c, parts[p])
	}
	return advance(t, c)
}

// trainOffered trains a deep core to its stop with stepOffered, offering
// each step's partials in order(step) (nil: partition order).
func trainOffered(t *testing.T, cfg coordinator.DeepConfig, init *model.Net, eng *shard.Engine, order func(step int) []int) (coordinator.Report, []coordinator.Report) {
	t.Helper()
	c := newDeep(t, cfg, init)
	var reps []coordinator.Report
	for {
		var o []int
		if order != nil {
			o = order(c.Request().Round())
		}
		r := stepOffered(t, c, eng, o)
		reps = append(reps, r)
		if r.Stop != coordinator.Running {
			return r, reps
		}
	}
}

// netChange returns ||a - b|| / ||b|| over all layers' weights.
func netChange(a, b *model.Net) float64 {
	var dn, bn float64
	for l, w := range a.W {
		for i, v := range w {
			t := v - b.W[l][i]
			dn += t * t
			bn += b.W[l][i] * b.W[l][i]
		}
	}
	return math.Sqrt(dn / bn)
}

// testErr returns the relative prediction error of n on held-out rows.
func testErr(t *testing.T, n *model.Net, tch *data.DeepTeacher, rows int) float64 {
	t.Helper()
	p, err := shard.Load(tch.HeldOut(rows), 1, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	return model.PredErr(n, p.X, p.Y)
}

// TestDeepConvergesFromPerturbation: deep AM from W* + 0.05 noise recovers
// the teacher to 1e-10 (held-out predictions and canonical weights) on
// small planted problems, with both the joint (Gauss-Newton) and the
// sequential (per-layer) schedule, and for three hidden layers.
func TestDeepConvergesFromPerturbation(t *testing.T) {
	cases := []struct {
		name  string
		dims  []int
		n     int
		sched coordinator.Schedule
		iters int // iteration budget
	}{
		{"joint 2 layers", []int{8, 4, 2}, 3000, coordinator.Joint, 20},
		{"sequential 2 layers", []int{8, 4, 2}, 3000, coordinator.Sequential, 150},
		{"joint 3 layers", []int{8, 5, 3, 2}, 4000, coordinator.Joint, 40},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tch, err := data.NewDeepTeacher(c.n, c.dims, 3, "alternate")
			if err != nil {
				t.Fatal(err)
			}
			cfg := coordinator.DefaultDeepConfig()
			cfg.Schedule, cfg.Partitions, cfg.MaxIters = c.sched, 4, c.iters
			last, reps := runDeep(t, cfg, data.PerturbNet(tch.Net(), 0.05, 99), deepEngine(t, tch, 4), 0)
			te, we := testErr(t, last.Net, tch, 1000), model.WeightErr(last.Net, tch.Net())
			t.Logf("%s: stop %s after %d iterations (%d steps), train residual %.2e, test error %.2e, weight error %.2e",
				c.name, last.Stop, last.Iter, len(reps), last.RelRes, te, we)
			if last.Stop == coordinator.IterLimit || te > 1e-10 || we > 1e-10 {
				t.Errorf("%s: stop %s, test error %.3g, weight error %.3g; want <= 1e-10", c.name, last.Stop, te, we)
			}
			// The sequential schedule solves one layer per step, in
			// order, and reports the change of an iteration on its
			// last step.
			for _, r := range reps[:len(reps)-1] {
				want := []int{r.Step%(len(c.dims)-1) + 1}
				if c.sched == coordinator.Joint {
					want = []int{1, 2, 3}[:len(c.dims)-1]
				}
				if !r.Solved || !slices.Equal(r.Layers, want) {
					t.Fatalf("step %d: solved %v, layers %v; want %v", r.Step, r.Solved, r.Layers, want)
				}
			}
		})
	}
}

// TestDeepPartitionOrder: the weights do not depend on the number of
// partitions beyond rounding (P = 1 against P = 5 within 1e-12), and for a
// fixed P are bit-identical across runs, offer orders (partials offered in
// a seeded random order every step) and the Driver's parallelism.
func TestDeepPartitionOrder(t *testing.T) {
	const seed = 1
	t.Logf("seed %d", seed)
	tch, err := data.NewDeepTeacher(2500, []int{8, 4, 2}, 5, "alternate")
	if err != nil {
		t.Fatal(err)
	}
	init := data.PerturbNet(tch.Net(), 0.3, 17)
	one, five := deepEngine(t, tch, 1), deepEngine(t, tch, 5)
	five.SetPartitionCount(5) // for the runs in spans
	for _, sched := range []coordinator.Schedule{coordinator.Joint, coordinator.Sequential} {
		cfg := coordinator.DefaultDeepConfig()
		cfg.Schedule, cfg.MaxIters, cfg.FitTol, cfg.Tol = sched, 3, 0, 0
		cfg.Partitions = 1
		p1, _ := trainOffered(t, cfg, init, one, nil)
		cfg.Partitions = 5
		p5, want := trainOffered(t, cfg, init, five, nil)
		if e := netChange(p5.Net, p1.Net); e > 1e-12 {
			t.Errorf("%s: P = 5 and P = 1 differ by %.3g after 3 iterations, want <= 1e-12", sched, e)
		} else {
			t.Logf("%s: P = 5 against P = 1: relative difference %.2e", sched, e)
		}
		rng := rand.New(rand.NewPCG(seed, 1))
		_, shuffled := trainOffered(t, cfg, init, five, func(int) []int { return rng.Perm(5) })
		runs := map[string][]coordinator.Report{"shuffled offers": shuffled}
		for _, par := range []int{1, 3, 0} {
			_, runs[fmt.Sprintf("driver, parallel %d", par)] = runDeep(t, cfg, init, five, par)
		}
		// Spans of partitions the engine adds up (a random mix every step).
		for _, par := range []int{1, 0} {
			_, runs[fmt.Sprintf("driver, spans, parallel %d", par)] = runDeep(t, cfg, init, newSpanPlanner(five, uint64(par)), par)
		}
		for name, got := range runs {
			if len(got) != len(want) {
				t.Fatalf("%s, %s: %d steps, want %d", sched, name, len(got), len(want))
			}
			for i := range want {
				if !sameReport(got[i], want[i]) {
					t.Fatalf("%s, %s: step %d differs from the in-order run:\n%+v\n%+v", sched, name, i, got[i], want[i])
				}
			}
		}
	}
}

// TestDeepStreamingEngine: a streaming engine holding one partition at a
// time gives the same bits as one holding them all.
func TestDeepStreamingEngine(t *testing.T) {
	tch, err := data.NewDeepTeacher(2000, []int{8, 4, 2}, 6, "alternate")
	if err != nil {
		t.Fatal(err)
	}
	init := data.PerturbNet(tch.Net(), 0.2, 3)
	cfg := coordinator.DefaultDeepConfig()
	cfg.Schedule, cfg.Partitions, cfg.MaxIters = coordinator.Joint, 5, 20
	want, _ := runDeep(t, cfg, init, deepEngine(t, tch, 5), 0)
	eng, err := shard.NewStreamingEngine(shard.StreamConfig{Source: tch, Partitions: 5, IDs: []int{0, 1, 2, 3, 4}, Storage: shard.Float64, Resident: 1})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := runDeep(t, cfg, init, eng, 2)
	if !sameReport(got, want) {
		t.Errorf("streaming engine: %d iterations (%s), want %d (%s); weights differ by %.3g", got.Iter, got.Stop, want.Iter, want.Stop, netChange(got.Net, want.Net))
	}
}

// TestDeepSimultaneousDoesNotConverge documents the block-Jacobi
// schedule's failure: both layers correct the same residual at once and
// overshoot, so the training residual does not fall below its start even
// from a 5% perturbation.
func TestDeepSimultaneousDoesNotConverge(t *testing.T) {
	tch, err := data.NewDeepTeacher(3000, []int{8, 4, 2}, 3, "alternate")
	if err != nil {
		t.Fatal(err)
	}
	cfg := coordinator.DefaultDeepConfig()
	cfg.Schedule, cfg.Partitions, cfg.MaxIters = coordinator.Simultaneous, 2, 20
	last, reps := runDeep(t, cfg, data.PerturbNet(tch.Net(), 0.05, 99), deepEngine(t, tch, 2), 0)
	t.Logf("simultaneous: residual %.2e at the start, %.2e after %d iterations", reps[0].RelRes, last.RelRes, last.Iter)
	if last.Stop != coordinator.IterLimit || last.RelRes < 1e-3 {
		t.Errorf("simultaneous schedule converged (stop %s, residual %.3g); update the documentation", last.Stop, last.RelRes)
	}
}

// TestDeepCoreRejects: stale, duplicate, unknown and malformed partials are
// refused and not reduced; Advance refuses while partitions are missing;
// partitions cannot be skipped.
func TestDeepCoreRejects(t *testing.T) {
	tch, err := data.NewDeepTeacher(100, []int{4, 3, 2}, 1, "alternate")
	if err != nil {
		t.Fatal(err)
	}
	eng := deepEngine(t, tch, 2)
	cfg := coordinator.DefaultDeepConfig()
	cfg.Partitions = 2
	core := newDeep(t, cfg, tch.Net())
	req := core.Request()
	fetchDeep := func(p int) *msg.DeepStats {
		v, err := eng.Fetch(context.Background(), req, msg.Leaf(p))
		if err != nil {
			t.Fatal(err)
		}
		return v.(*msg.DeepStats)
	}
	p0 := fetchDeep(0)
	if _, err := core.Advance(); !errors.Is(err, coordinator.ErrNotReady) {
		t.Fatalf("Advance with nothing offered: %v, want ErrNotReady", err)
	}
	if err := core.Skip(1); !errors.Is(err, coordinator.ErrSkip) {
		t.Errorf("Skip: %v, want ErrSkip", err)
	}
	offer(t, core, p0)
	if err := core.Offer(p0); !errors.Is(err, round.ErrDuplicate) {
		t.Errorf("duplicate: %v", err)
	}
	stale := *p0
	stale.Step = 7
	if err := core.Offer(&stale); !errors.Is(err, round.ErrStale) {
		t.Errorf("stale: %v", err)
	}
	unknown := *p0
	unknown.Partition = 2
	if err := core.Offer(&unknown); !errors.Is(err, round.ErrUnknown) {
		t.Errorf("unknown: %v", err)
	}
	p1 := fetchDeep(1)
	bad := *p1
	bad.Systems = nil
	if err := core.Offer(&bad); !errors.Is(err, msg.ErrInvalid) {
		t.Errorf("no systems: %v", err)
	}
	flips := *p1
	flips.Flips = 3 // step 0 has no previous weights
	if err := core.Offer(&flips); !errors.Is(err, msg.ErrInvalid) {
		t.Errorf("flip count at step 0: %v", err)
	}
	if err := core.Offer(&msg.Stats{Partition: 1, M: 1, Gram: []float64{1}, R: []float64{0}, Flips: -1}); !errors.Is(err, msg.ErrInvalid) {
		t.Errorf("statistics of a 1-hidden-layer model: %v", err)
	}
	if err := core.Offer(nil); !errors.Is(err, msg.ErrInvalid) {
		t.Errorf("nil: %v", err)
	}
	if got := core.Missing(); len(got) != 1 || got[0] != 1 {
		t.Errorf("missing %v, want [1]", got)
	}
	offer(t, core, p1)
	rep := advance(t, core)
	if rep.Stop != coordinator.Fit || rep.RelRes > 1e-15 || rep.Solved || rep.Layers != nil || rep.Rows != 100 {
		t.Errorf("the teacher itself: stop %q, residual %v, solved %v on %d rows; want fit, <= 1e-15, no solve, 100 rows", rep.Stop, rep.RelRes, rep.Solved, rep.Rows)
	}
	if _, err := core.Advance(); !errors.Is(err, coordinator.ErrDone) {
		t.Errorf("Advance after the stop: %v", err)
	}
	if err := core.Offer(p1); !errors.Is(err, coordinator.ErrDone) {
		t.Errorf("Offer after the stop: %v", err)
	}
	if core.Stopped() != coordinator.Fit {
		t.Errorf("Stopped() = %q, want fit", core.Stopped())
	}
}

// TestDeepConfigValidate covers the configuration's rules.
func TestDeepConfigValidate(t *testing.T) {
	if err := coordinator.DefaultDeepConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	init := data.RandomNet(model.NewNet(4, 3, 2), 1)
	for _, f := range []func(*coordinator.DeepConfig){
		func(c *coordinator.DeepConfig) { c.Schedule = "nope" },
		func(c *coordinator.DeepConfig) { c.Partitions = 0 },
		func(c *coordinator.DeepConfig) { c.MaxIters = -1 },
		func(c *coordinator.DeepConfig) { c.Tol = -1 },
		func(c *coordinator.DeepConfig) { c.FitTol = math.NaN() },
		func(c *coordinator.DeepConfig) { c.FitTol = math.Inf(1) },
	} {
		c := coordinator.DefaultDeepConfig()
		f(&c)
		if c.Validate() == nil {
			t.Errorf("invalid config %+v accepted", c)
		}
		if _, err := coordinator.NewDeep(c, init); err == nil {
			t.Errorf("NewDeep with config %+v accepted", c)
		}
	}
	nan := init.Clone()
	nan.W[1][0] = math.NaN()
	for name, n := range map[string]*model.Net{
		"non-finite weights": nan,
		"no hidden layer":    {Dims: []int{4}},
		"too many layers":    {Dims: slices.Repeat([]int{1}, msg.MaxLayers+2)},
		"too many weights":   {Dims: []int{msg.MaxM, 2}},
	} {
		if _, err := coordinator.NewDeep(coordinator.DefaultDeepConfig(), n); err == nil {
			t.Errorf("NewDeep from a network with %s accepted", name)
		}
	}
}

// TestDeepDriverErrors: a failed fetch stops training with an error naming
// the round (step) and partition; an answer for another partition is
// refused.
func TestDeepDriverErrors(t *testing.T) {
	tch, err := data.NewDeepTeacher(300, []int{5, 3, 2}, 2, "alternate")
	if err != nil {
		t.Fatal(err)
	}
	eng := deepEngine(t, tch, 3)
	cfg := coordinator.DefaultDeepConfig()
	cfg.Schedule, cfg.Partitions, cfg.MaxIters = coordinator.Joint, 3, 5
	boom := errors.New("boom")
	run := func(f msg.Fetcher) error {
		d := &coordinator.Driver{Core: newDeep(t, cfg, data.PerturbNet(tch.Net(), 0.2, 1)), Fetcher: f, Parallel: 2, Log: zaptest.NewLogger(t)}
		_, err := d.Run(context.Background())
		return err
	}
	err = run(fetchFunc(func(ctx context.Context, req msg.Request, p int) (msg.Partial, error) {
		if req.Round() == 1 && p == 2 {
			return nil, boom
		}
		return eng.Fetch(ctx, req, msg.Leaf(p))
	}))
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "round 1: partition 2") {
		t.Errorf("failed fetch: %v", err)
	}
	err = run(fetchFunc(func(ctx context.Context, req msg.Request, p int) (msg.Partial, error) {
		return eng.Fetch(ctx, req, msg.Leaf((p+1)%3))
	}))
	if !errors.Is(err, msg.ErrInvalid) || !strings.Contains(err.Error(), "answer was for partition") {
		t.Errorf("answer for another partition: %v", err)
	}
	if _, err := eng.Fetch(context.Background(), &msg.DeepRequest{Net: tch.Net()}, msg.Leaf(9)); !errors.Is(err, msg.ErrNoPartition) {
		t.Errorf("partition not held: %v", err)
	}
}

// TestDeepStateRestore: a core restored from a JSON round trip of another
// core's State, at any step (mid-iteration for the sequential schedule),
// ends with the same bits as the uninterrupted run; states that do not fit
// are refused and leave the core as it was.
func TestDeepStateRestore(t *testing.T) {
	tch, err := data.NewDeepTeacher(1200, []int{6, 4, 2}, 4, "alternate")
	if err != nil {
		t.Fatal(err)
	}
	eng := deepEngine(t, tch, 3)
	init := data.PerturbNet(tch.Net(), 0.2, 5)
	for _, sched := range []coordinator.Schedule{coordinator.Joint, coordinator.Sequential} {
		cfg := coordinator.DefaultDeepConfig()
		cfg.Schedule, cfg.Partitions, cfg.MaxIters = sched, 3, 6
		want, _ := runDeep(t, cfg, init, eng, 2)
		for _, at := range []int{1, 3} {
			core := newDeep(t, cfg, init)
			for s := 0; s < at; s++ {
				stepOffered(t, core, eng, nil)
			}
			st := jsonCopy(t, core.State())
			fresh := newDeep(t, cfg, data.PerturbNet(tch.Net(), 0.5, 77)) // another start: the state replaces it
			stepOffered(t, fresh, eng, nil)                               // and another step
			offer(t, fresh, fetchPartial(t, eng, fresh.Request(), 0))     // a partial received, dropped by Restore
			if err := fresh.Restore(st); err != nil {
				t.Fatal(err)
			}
			if !sameState(t, fresh.State(), core.State()) || len(fresh.Missing()) != 3 {
				t.Fatalf("%s restored at step %d: state %+v, missing %v", sched, at, fresh.State(), fresh.Missing())
			}
			d := &coordinator.Driver{Core: fresh, Fetcher: eng, Log: zaptest.NewLogger(t)}
			got, err := d.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if !sameReport(got, want) {
				t.Errorf("%s restored at step %d: step %d (%s), want %d (%s); weights differ by %.3g", sched, at, got.Step, got.Stop, want.Step, want.Stop, netChange(got.Net, want.Net))
			}
		}
	}
	cfg := coordinator.DefaultDeepConfig()
	cfg.Partitions = 3
	src := newDeep(t, cfg, init)
	stepOffered(t, src, eng, nil)
	good := src.State() // step 1, layer 2 of the sequential schedule
	core := newDeep(t, cfg, init)
	before := core.State()
	other := model.NewNet(6, 4, 3)
	for name, f := range map[string]func(s *coordinator.State){
		"other shape":    func(s *coordinator.State) { s.Net = other },
		"other signs":    func(s *coordinator.State) { s.Net.V[0] = -s.Net.V[0] },
		"no weights":     func(s *coordinator.State) { s.Net = nil },
		"no start":       func(s *coordinator.State) { s.Start = nil },
		"prev at 0":      func(s *coordinator.State) { s.Step, s.Layer = 0, 1 },
		"no prev at 1":   func(s *coordinator.State) { s.Prev = nil },
		"prev shape":     func(s *coordinator.State) { s.Prev = other },
		"layer 3":        func(s *coordinator.State) { s.Layer = 3 },
		"layer 0":        func(s *coordinator.State) { s.Layer = 0 },
		"reason":         func(s *coordinator.State) { s.Stopped = "bored" },
		"fixed point":    func(s *coordinator.State) { s.Pending = coordinator.FixedPoint },
		"non-finite":     func(s *coordinator.State) { s.Net.W[1][0] = math.Inf(1) },
		"start NaN":      func(s *coordinator.State) { s.Start.W[0][0] = math.NaN() },
		"step < iter":    func(s *coordinator.State) { s.Iter = 2 },
		"negative iter":  func(s *coordinator.State) { s.Iter = -1 },
		"one-layer form": func(s *coordinator.State) { s.Layer, s.Start = 0, nil },
	} {
		s := jsonCopy(t, good)
		f(&s)
		if err := core.Restore(s); err == nil {
			t.Errorf("%s: restored", name)
		}
		if !sameState(t, core.State(), before) {
			t.Fatalf("%s: a refused Restore changed the core", name)
		}
	}
	if err := core.Restore(jsonCopy(t, good)); err != nil || !sameState(t, core.State(), good) {
		t.Errorf("the unedited state: %v", err)
	}
}

// fetchPartial returns eng's partial of partition p for req.
func fetchPartial(t *testing.T, eng *shard.Engine, req msg.Request, p int) msg.Partial {
	t.Helper()
	v, err := eng.Fetch(context.Background(), req, msg.Leaf(p))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestStateFamilies: the states of both cores round-trip through JSON and
// restore a core of their family; a core refuses the state of the other
// family, even for a deep network of the 1-hidden-layer model's shape.
func TestStateFamilies(t *testing.T) {
	pr := planted(t, "model=sum,d=4,k=2,n=200,seed=19,signs=alternate", 2)
	spec := pr.spec
	u0 := pr.perturbed(9, 0.3)
	shallow := newCore(t, coordinator.ShallowConfig{Spec: spec, Partitions: pr.P, MaxIters: 5}, u0)
	init := &model.Net{Dims: []int{spec.D, spec.K}, W: [][]float64{slices.Clone(u0)}, V: slices.Clone(spec.Signs)}
	deep := newDeep(t, coordinator.DeepConfig{Partitions: pr.P, MaxIters: 5}, init)
	for _, c := range []coordinator.Core{shallow, deep} {
		for range 2 {
			stepOffered(t, c, pr.eng, nil)
		}
	}
	sst, dst := jsonCopy(t, shallow.State()), jsonCopy(t, deep.State())
	if !sameState(t, sst, shallow.State()) || !sameState(t, dst, deep.State()) {
		t.Fatal("a state changed in a JSON round trip")
	}
	if !slices.Equal(sst.Net.Dims, dst.Net.Dims) || !slices.Equal(sst.Net.V, dst.Net.V) {
		t.Fatalf("the networks have widths %v and %v, signs %v and %v: the test wants one shape", sst.Net.Dims, dst.Net.Dims, sst.Net.V, dst.Net.V)
	}
	shallow2 := newCore(t, coordinator.ShallowConfig{Spec: spec, Partitions: pr.P, MaxIters: 5}, make([]float64, spec.M()))
	deep2 := newDeep(t, coordinator.DeepConfig{Partitions: pr.P, MaxIters: 5}, data.RandomNet(init, 3))
	sBefore, dBefore := shallow2.State(), deep2.State()
	if err := shallow2.Restore(dst); err == nil {
		t.Error("a 1-hidden-layer core restored a deep network's state")
	}
	if err := deep2.Restore(sst); err == nil {
		t.Error("a deep network's core restored a 1-hidden-layer model's state")
	}
	if !sameState(t, shallow2.State(), sBefore) || !sameState(t, deep2.State(), dBefore) {
		t.Fatal("a refused Restore changed the core")
	}
	if err := shallow2.Restore(sst); err != nil {
		t.Fatal(err)
	}
	if err := deep2.Restore(dst); err != nil {
		t.Fatal(err)
	}
	for name, pair := range map[string][2]coordinator.Core{"shallow": {shallow, shallow2}, "deep": {deep, deep2}} {
		for step := 0; ; step++ {
			a, b := stepOffered(t, pair[0], pr.eng, nil), stepOffered(t, pair[1], pr.eng, nil)
			if !sameReport(a, b) {
				t.Fatalf("%s: step %d after Restore differs:\n%+v\n%+v", name, step, a, b)
			}
			if a.Stop != coordinator.Running {
				break
			}
		}
	}
}
