package coordinator_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"altmin/coordinator"
	"altmin/linalg"
	"altmin/model"
	"altmin/shard"
)

// The core is tested alone: partials are scripted by the test and offered
// in a chosen order, with no goroutines.

func sumSpec(d, k int) model.Spec {
	s, _ := model.MakeSigns("alternate", k)
	return model.Spec{Kind: model.Sum, D: d, K: k, Signs: s}
}

// fake returns statistics whose solve is easy to predict: G = rows * I,
// r = rows * target, so the solution is target.
func fake(iter, part, m, rows int, flips int64, target []float64) *shard.Stats {
	g := make([]float64, linalg.PackedLen(m))
	r := make([]float64, m)
	for i := 0; i < m; i++ {
		g[linalg.PackedIndex(m, i, i)] = float64(rows)
		r[i] = float64(rows) * target[i]
	}
	return &shard.Stats{Iter: iter, Partition: part, Rows: rows, M: m, Gram: g, R: r, YY: 1, SSE: 0.5 * float64(rows), Flips: flips}
}

// clone returns a copy of s that shares no memory with it.
func clone(s *shard.Stats) *shard.Stats {
	c := *s
	c.Gram, c.R = slices.Clone(s.Gram), slices.Clone(s.R)
	return &c
}

func newCore(t *testing.T, cfg coordinator.Config, u0 []float64) *coordinator.Core {
	t.Helper()
	c, err := coordinator.NewCore(cfg, u0)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func offer(t *testing.T, c *coordinator.Core, s *shard.Stats) {
	t.Helper()
	if err := c.Offer(s); err != nil {
		t.Fatalf("Offer(partition %d, iteration %d): %v", s.Partition, s.Iter, err)
	}
}

func advance(t *testing.T, c *coordinator.Core) coordinator.Report {
	t.Helper()
	r, err := c.Advance()
	if err != nil {
		t.Fatalf("Advance at iteration %d: %v", c.Iter(), err)
	}
	return r
}

func sameReport(a, b coordinator.Report) bool {
	f := func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) }
	return a.Iter == b.Iter && a.Rows == b.Rows && f(a.Loss, b.Loss) && a.Flips == b.Flips &&
		a.Solved == b.Solved && f(a.Ridge, b.Ridge) && f(a.Cond, b.Cond) && f(a.Change, b.Change) &&
		a.Stop == b.Stop && sameBits(a.U, b.U) && sameBits(a.Next, b.Next)
}

// TestCoreArrivalOrder offers real partials (computed by a shard engine) to
// two cores, one in partition order and one in a different seeded order
// every iteration: every report must be bit-identical.
func TestCoreArrivalOrder(t *testing.T) {
	const seed = 51
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	pr := planted(t, "model=sum,d=6,k=3,n=500,seed=6,signs=alternate", 5)
	u0 := pr.perturbed(2, 0.4)
	cfg := coordinator.Config{Spec: pr.spec, Partitions: pr.P, MaxIters: 10, Tol: 0}
	inOrder, shuffled := newCore(t, cfg, u0), newCore(t, cfg, u0)
	for it := 0; ; it++ {
		req := inOrder.Request()
		if !slices.Equal(req.U, shuffled.Request().U) {
			t.Fatalf("iteration %d: requests differ", it)
		}
		stats := make([]*shard.Stats, pr.P)
		for p := range stats {
			var err error
			if stats[p], err = pr.eng.Compute(req, p); err != nil {
				t.Fatal(err)
			}
		}
		order := rng.Perm(pr.P)
		for p := range stats {
			offer(t, inOrder, stats[p])
			offer(t, shuffled, clone(stats[order[p]])) // a core owns what it accepts
		}
		a, b := advance(t, inOrder), advance(t, shuffled)
		for p, s := range stats {
			if s.Gram != nil {
				t.Fatalf("iteration %d: Advance kept partition %d's Gram buffer from reuse", it, p)
			}
		}
		if !sameReport(a, b) {
			t.Fatalf("iteration %d (order %v): reports differ:\n%+v\n%+v", it, order, a, b)
		}
		if a.Stop != coordinator.Running {
			t.Logf("stopped at iteration %d: %s", it, a.Stop)
			break
		}
	}
}

func TestCoreRejectsBadPartials(t *testing.T) {
	d, k, P := 2, 2, 4
	m := d * k
	spec := sumSpec(d, k)
	cfg := coordinator.Config{Spec: spec, Partitions: P, MaxIters: 5}
	u0 := []float64{1, 0, 0, 1}
	target := []float64{2, 1, -1, 3}
	c := newCore(t, cfg, u0)

	// Nothing yet: not ready, every partition missing and listed.
	if _, err := c.Advance(); !errors.Is(err, coordinator.ErrNotReady) {
		t.Fatalf("Advance with nothing: err = %v, want ErrNotReady", err)
	}
	offer(t, c, fake(0, 0, m, 10, -1, target))
	offer(t, c, fake(0, 2, m, 10, -1, target))
	if got := c.Missing(); !slices.Equal(got, []int{1, 3}) {
		t.Errorf("Missing = %v, want [1 3]", got)
	}
	_, err := c.Advance()
	if !errors.Is(err, coordinator.ErrNotReady) || !strings.Contains(err.Error(), "[1 3]") {
		t.Errorf("Advance with 1 and 3 missing: err = %v, want ErrNotReady naming [1 3]", err)
	}
	if c.Ready() {
		t.Error("Ready with partitions missing")
	}

	// Rejected partials, none of which may be kept.
	nanGram := fake(0, 1, m, 10, -1, target)
	nanGram.Gram[2] = math.NaN()
	infR := fake(0, 1, m, 10, -1, target)
	infR.R[0] = math.Inf(-1)
	nanSSE := fake(0, 1, m, 10, -1, target)
	nanSSE.SSE = math.NaN()
	infYY := fake(0, 1, m, 10, -1, target)
	infYY.YY = math.Inf(1)
	shortGram := fake(0, 1, m, 10, -1, target)
	shortGram.Gram = shortGram.Gram[1:]
	wrongM := fake(0, 1, m+2, 10, -1, append(target, 0, 0))
	negRows := fake(0, 1, m, -3, -1, target)
	rejects := []struct {
		name string
		s    *shard.Stats
		want error
	}{
		{"duplicate", fake(0, 0, m, 10, -1, target), coordinator.ErrDuplicate},
		{"duplicate, different values", fake(0, 2, m, 99, -1, u0), coordinator.ErrDuplicate},
		{"future iteration", fake(1, 1, m, 10, 5, target), coordinator.ErrStale},
		{"partition -1", fake(0, -1, m, 10, -1, target), coordinator.ErrUnknown},
		{"partition P", fake(0, P, m, 10, -1, target), coordinator.ErrUnknown},
		{"nil", nil, coordinator.ErrInvalid},
		{"NaN Gram", nanGram, coordinator.ErrInvalid},
		{"Inf rhs", infR, coordinator.ErrInvalid},
		{"NaN SSE", nanSSE, coordinator.ErrInvalid},
		{"Inf YY", infYY, coordinator.ErrInvalid},
		{"short Gram", shortGram, coordinator.ErrInvalid},
		{"wrong m", wrongM, coordinator.ErrInvalid},
		{"negative rows", negRows, coordinator.ErrInvalid},
	}
	for _, r := range rejects {
		if err := c.Offer(r.s); !errors.Is(err, r.want) {
			t.Errorf("%s: err = %v, want %v", r.name, err, r.want)
		}
	}
	if got := c.Missing(); !slices.Equal(got, []int{1, 3}) {
		t.Errorf("after rejections Missing = %v, want [1 3]", got)
	}
	offer(t, c, fake(0, 3, m, 10, -1, target))
	offer(t, c, fake(0, 1, m, 10, -1, target))
	got := advance(t, c)

	// The same without any rejected partial: bit-identical, so nothing
	// rejected was reduced (a double-counted duplicate would change Rows).
	clean := newCore(t, cfg, u0)
	for p := 0; p < P; p++ {
		offer(t, clean, fake(0, p, m, 10, -1, target))
	}
	want := advance(t, clean)
	if !sameReport(got, want) {
		t.Fatalf("report after rejections differs from a clean one:\n%+v\n%+v", got, want)
	}
	if got.Rows != 4*10 || got.Flips != -1 || got.Loss != 0.25 || !got.Solved || relDiff(got.Next, target) > 1e-15 {
		t.Errorf("report %+v: want 40 rows, flips -1, loss 0.25, Next = %v", got, target)
	}

	// Iteration 1: a partial of iteration 0 is now stale; one of iteration 1
	// without a flip count is invalid.
	if err := c.Offer(fake(0, 0, m, 10, -1, target)); !errors.Is(err, coordinator.ErrStale) {
		t.Errorf("old iteration: err = %v, want ErrStale", err)
	}
	if err := c.Offer(fake(1, 0, m, 10, -1, target)); !errors.Is(err, coordinator.ErrInvalid) {
		t.Errorf("no flip count after iteration 0: err = %v, want ErrInvalid", err)
	}
	if got := c.Missing(); len(got) != P {
		t.Errorf("iteration 1 Missing = %v, want all %d", got, P)
	}
}

func TestCoreStopReasons(t *testing.T) {
	d, k, P := 2, 1, 2
	m := d * k
	spec := model.Spec{Kind: model.ReLU, D: d, K: k, Signs: []float64{1}}
	u0 := []float64{1, 1}
	// step offers every partition's partial for the core's iteration with
	// the given flip count and solution, and advances.
	step := func(c *coordinator.Core, flips int64, target []float64) coordinator.Report {
		t.Helper()
		for p := 0; p < P; p++ {
			f := flips
			if c.Iter() == 0 {
				f = -1
			}
			offer(t, c, fake(c.Iter(), p, m, 3, f, target))
		}
		return advance(t, c)
	}
	checkDone := func(c *coordinator.Core, reason coordinator.Reason) {
		t.Helper()
		if c.Stopped() != reason {
			t.Errorf("Stopped = %q, want %q", c.Stopped(), reason)
		}
		if _, err := c.Advance(); !errors.Is(err, coordinator.ErrDone) {
			t.Errorf("Advance after stop: err = %v, want ErrDone", err)
		}
		if err := c.Offer(fake(c.Iter(), 0, m, 3, 1, u0)); !errors.Is(err, coordinator.ErrDone) {
			t.Errorf("Offer after stop: err = %v, want ErrDone", err)
		}
	}

	t.Run("fixed-point", func(t *testing.T) {
		c := newCore(t, coordinator.Config{Spec: spec, Partitions: P, MaxIters: 10}, u0)
		r := step(c, 0, []float64{2, 1})
		if r.Stop != coordinator.Running || !r.Solved {
			t.Fatalf("iteration 0 stopped: %+v", r)
		}
		r = step(c, 4, []float64{3, 1})
		if r.Stop != coordinator.Running || r.Flips != 8 {
			t.Fatalf("iteration 1: %+v, want running with 8 flips", r)
		}
		r = step(c, 0, []float64{4, 1})
		if r.Stop != coordinator.FixedPoint || r.Solved || r.Next != nil || r.Iter != 2 || relDiff(r.U, []float64{3, 1}) > 1e-14 {
			t.Fatalf("iteration 2: %+v, want fixed point at U = [3 1] without a solve", r)
		}
		checkDone(c, coordinator.FixedPoint)
	})
	t.Run("tolerance", func(t *testing.T) {
		c := newCore(t, coordinator.Config{Spec: spec, Partitions: P, MaxIters: 10, Tol: 1e-3}, u0)
		r := step(c, 1, []float64{2, 1}) // change 1/sqrt(2)
		if r.Stop != coordinator.Running {
			t.Fatalf("iteration 0: %+v", r)
		}
		r = step(c, 1, []float64{2, 1 + 1e-6}) // change < Tol: stop at the next iteration
		if r.Stop != coordinator.Running || !(r.Change < 1e-3) || r.Next == nil {
			t.Fatalf("iteration 1: %+v, want a solve with a small change", r)
		}
		r = step(c, 1, []float64{5, 5})
		if r.Stop != coordinator.Tolerance || r.Solved || r.Iter != 2 || relDiff(r.U, []float64{2, 1 + 1e-6}) > 1e-14 {
			t.Fatalf("iteration 2: %+v, want tolerance stop at the small step's weights", r)
		}
		checkDone(c, coordinator.Tolerance)
	})
	t.Run("iteration-limit", func(t *testing.T) {
		c := newCore(t, coordinator.Config{Spec: spec, Partitions: P, MaxIters: 2}, u0)
		step(c, 1, []float64{2, 1})
		step(c, 1, []float64{3, 1})
		r := step(c, 1, []float64{4, 1})
		if r.Stop != coordinator.IterLimit || r.Iter != 2 || r.Solved || relDiff(r.U, []float64{3, 1}) > 1e-14 {
			t.Fatalf("iteration 2: %+v, want iteration limit after 2 solves", r)
		}
		checkDone(c, coordinator.IterLimit)
	})
	t.Run("zero iterations", func(t *testing.T) {
		c := newCore(t, coordinator.Config{Spec: spec, Partitions: P, MaxIters: 0}, u0)
		r := step(c, 1, []float64{2, 1})
		if r.Stop != coordinator.IterLimit || r.Iter != 0 || r.Solved || r.Loss != 0.25 || !slices.Equal(r.U, u0) {
			t.Fatalf("%+v: want the start evaluated and no solve", r)
		}
		checkDone(c, coordinator.IterLimit)
	})
	t.Run("no samples", func(t *testing.T) {
		c := newCore(t, coordinator.Config{Spec: spec, Partitions: P, MaxIters: 3}, u0)
		for p := 0; p < P; p++ {
			offer(t, c, fake(0, p, m, 0, -1, u0))
		}
		if _, err := c.Advance(); !errors.Is(err, coordinator.ErrNoSamples) {
			t.Errorf("no rows: err = %v, want ErrNoSamples", err)
		}
	})
}

// TestCoreStateRestore: a core restored from another's State behaves as
// that core, including a pending stop.
func TestCoreStateRestore(t *testing.T) {
	pr := planted(t, "model=sum,d=4,k=2,n=200,seed=8", 3)
	run := func(c *coordinator.Core) coordinator.Report {
		t.Helper()
		req := c.Request()
		for p := 0; p < pr.P; p++ {
			s, err := pr.eng.Compute(req, p)
			if err != nil {
				t.Fatal(err)
			}
			offer(t, c, s)
		}
		return advance(t, c)
	}
	for _, tol := range []float64{0, 10} { // Tol 10: a tolerance stop is pending after the first solve
		cfg := coordinator.Config{Spec: pr.spec, Partitions: pr.P, MaxIters: 10, Tol: tol}
		a := newCore(t, cfg, pr.perturbed(4, 0.5))
		run(a)
		b := newCore(t, cfg, make([]float64, pr.spec.M()))
		offer(t, b, &shard.Stats{Iter: 0, Partition: 1, M: pr.spec.M(), Gram: make([]float64, linalg.PackedLen(pr.spec.M())), R: make([]float64, pr.spec.M())})
		if err := b.Restore(a.State()); err != nil {
			t.Fatal(err)
		}
		if len(b.Missing()) != pr.P {
			t.Errorf("Restore kept a partial received before: missing %v", b.Missing())
		}
		ra, rb := run(a), run(b)
		if !sameReport(ra, rb) {
			t.Fatalf("tol %g: restored core differs:\n%+v\n%+v", tol, ra, rb)
		}
		if tol == 10 && rb.Stop != coordinator.Tolerance {
			t.Errorf("pending tolerance stop lost in State/Restore: %+v", rb)
		}
	}
	cfg := coordinator.Config{Spec: pr.spec, Partitions: pr.P, MaxIters: 10}
	c := newCore(t, cfg, make([]float64, pr.spec.M()))
	m := pr.spec.M()
	for _, st := range []coordinator.State{
		{Iter: 3, U: make([]float64, m)},                             // no previous weights
		{Iter: 0, U: make([]float64, m-1)},                           // short weights
		{Iter: 0, U: make([]float64, m), Prev: make([]float64, m)},   // previous at iteration 0
		{Iter: -1, U: make([]float64, m)},                            // negative iteration
		{Iter: 2, U: make([]float64, m), Prev: make([]float64, m+1)}, // long previous
	} {
		if err := c.Restore(st); err == nil {
			t.Errorf("Restore(iter %d, %d weights, %d previous) accepted", st.Iter, len(st.U), len(st.Prev))
		}
	}
}

func TestConfigValidate(t *testing.T) {
	spec := sumSpec(3, 2)
	def := coordinator.DefaultConfig()
	def.Spec = spec
	if err := def.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	bad := []coordinator.Config{
		{Spec: spec, Partitions: 0, MaxIters: 1},
		{Spec: spec, Partitions: 1, MaxIters: -1},
		{Spec: spec, Partitions: 1, Tol: -1},
		{Spec: spec, Partitions: 1, Tol: math.NaN()},
		{Spec: spec, Partitions: 1, Tol: math.Inf(1)},
		{Spec: model.Spec{Kind: model.Sum, D: 3, K: 0}, Partitions: 1},
	}
	for _, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
		if _, err := coordinator.NewCore(c, make([]float64, max(c.Spec.M(), 0))); err == nil {
			t.Errorf("NewCore(%+v) accepted", c)
		}
	}
	if _, err := coordinator.NewCore(def, make([]float64, 5)); err == nil {
		t.Error("NewCore with 5 weights for m = 6 accepted")
	}
}
