package coordinator_test

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"altmin/coordinator"
	"altmin/linalg"
	"altmin/model"
	"altmin/msg"
	"altmin/round"
)

// The core of the 1-hidden-layer models (Shallow) is tested alone:
// partials are scripted by the test and offered in a chosen order, with no
// goroutines.

func sumSpec(d, k int) model.Spec {
	s, _ := model.MakeSigns("alternate", k)
	return model.Spec{Kind: model.Sum, D: d, K: k, Signs: s}
}

// fake returns statistics whose solve is easy to predict: G = rows * I,
// r = rows * target, so the solution is target.
func fake(iter, part, m, rows int, flips int64, target []float64) *msg.Stats {
	g := make([]float64, linalg.PackedLen(m))
	r := make([]float64, m)
	for i := 0; i < m; i++ {
		g[linalg.PackedIndex(m, i, i)] = float64(rows)
		r[i] = float64(rows) * target[i]
	}
	return &msg.Stats{Iter: iter, Partition: part, Rows: rows, M: m, Gram: g, R: r, YY: 1, SSE: 0.5 * float64(rows), Flips: flips}
}

// clone returns a copy of s that shares no memory with it.
func clone(s *msg.Stats) *msg.Stats {
	c := *s
	c.Gram, c.R = slices.Clone(s.Gram), slices.Clone(s.R)
	return &c
}

func newCore(t *testing.T, cfg coordinator.ShallowConfig, u0 []float64) *coordinator.Shallow {
	t.Helper()
	c, err := coordinator.NewShallow(cfg, u0)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func offer(t *testing.T, c coordinator.Core, p msg.Partial) {
	t.Helper()
	if err := c.Offer(p); err != nil {
		t.Fatalf("Offer(%v, round %d): %v", p.Span(), p.Round(), err)
	}
}

func advance(t *testing.T, c coordinator.Core) coordinator.Report {
	t.Helper()
	r, err := c.Advance()
	if err != nil {
		t.Fatalf("Advance at round %d: %v", c.Request().Round(), err)
	}
	return r
}

// weights returns the effective weights of a 1-hidden-layer model's
// network (Report.Net, Report.Next), or nil for none.
func weights(n *model.Net) []float64 {
	if n == nil {
		return nil
	}
	if len(n.W) != 1 {
		panic("weights of a network of several layers")
	}
	return n.W[0]
}

// sameNet reports whether two networks (either may be nil) have the same
// widths, signs and weight bits.
func sameNet(a, b *model.Net) bool {
	if a == nil || b == nil {
		return a == b
	}
	if !slices.Equal(a.Dims, b.Dims) || !slices.Equal(a.V, b.V) || len(a.W) != len(b.W) {
		return false
	}
	for l := range a.W {
		if !sameBits(a.W[l], b.W[l]) {
			return false
		}
	}
	return true
}

// sameReport reports whether two reports are the same, bit for bit.
func sameReport(a, b coordinator.Report) bool {
	f := func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) }
	return a.Iter == b.Iter && a.Step == b.Step && a.Rows == b.Rows && f(a.Loss, b.Loss) && f(a.RelRes, b.RelRes) && a.Flips == b.Flips &&
		a.Solved == b.Solved && slices.Equal(a.Layers, b.Layers) && f(a.Ridge, b.Ridge) && f(a.Cond, b.Cond) && f(a.Change, b.Change) &&
		f(a.StepSize, b.StepSize) && a.Stop == b.Stop && slices.Equal(a.Skipped, b.Skipped) && sameNet(a.Net, b.Net) && sameNet(a.Next, b.Next)
}

// TestCoreArrivalOrder offers real partials (computed by a shard engine) to
// two cores, one in partition order and one in a different seeded order
// every iteration: every report must be bit-identical. The cores give the
// Gram buffers of the partials they reduce back: one to its pool, the other
// (no pool) drops them.
func TestCoreArrivalOrder(t *testing.T) {
	const seed = 51
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	pr := planted(t, "model=sum,d=6,k=3,n=500,seed=6,signs=alternate", 5)
	u0 := pr.perturbed(2, 0.4)
	cfg := coordinator.ShallowConfig{Spec: pr.spec, Partitions: pr.P, MaxIters: 10, Tol: 0}
	pool := msg.NewPool()
	inOrder := newCore(t, coordinator.ShallowConfig{Spec: pr.spec, Partitions: pr.P, MaxIters: 10, Pool: pool}, u0)
	shuffled := newCore(t, cfg, u0)
	for it := 0; ; it++ {
		req := inOrder.Request().(*msg.StatsRequest)
		if !slices.Equal(req.U, shuffled.Request().(*msg.StatsRequest).U) || req.Iter != it {
			t.Fatalf("iteration %d: requests differ", it)
		}
		stats := make([]*msg.Stats, pr.P)
		for p := range stats {
			stats[p] = fetchStats(t, pr.eng, req, p)
		}
		order := rng.Perm(pr.P)
		copies := make([]*msg.Stats, pr.P) // a core owns what it accepts: it adds into it
		for p := range copies {
			copies[p] = clone(stats[order[p]])
		}
		idle, _ := pool.Idle() // the buffers of partials added into others go back as they are
		for p := range stats {
			offer(t, inOrder, stats[p])
			offer(t, shuffled, copies[p])
		}
		a, b := advance(t, inOrder), advance(t, shuffled)
		for p, s := range stats {
			if s.Gram != nil {
				t.Fatalf("iteration %d: Advance kept partition %d's Gram buffer from reuse", it, p)
			}
		}
		if n, _ := pool.Idle(); n != min(idle+pr.P, msg.DefaultPoolBuffers) {
			t.Fatalf("iteration %d: %d buffers in the pool after Advance, %d before; want the %d reduced back", it, n, idle, pr.P)
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
	cfg := coordinator.ShallowConfig{Spec: spec, Partitions: P, MaxIters: 5}
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
		s    msg.Partial
		want error
	}{
		{"duplicate", fake(0, 0, m, 10, -1, target), round.ErrDuplicate},
		{"duplicate, different values", fake(0, 2, m, 99, -1, u0), round.ErrDuplicate},
		{"future iteration", fake(1, 1, m, 10, 5, target), round.ErrStale},
		{"partition -1", fake(0, -1, m, 10, -1, target), round.ErrUnknown},
		{"partition P", fake(0, P, m, 10, -1, target), round.ErrUnknown},
		{"nil", nil, msg.ErrInvalid},
		{"NaN Gram", nanGram, msg.ErrInvalid},
		{"Inf rhs", infR, msg.ErrInvalid},
		{"NaN SSE", nanSSE, msg.ErrInvalid},
		{"Inf YY", infYY, msg.ErrInvalid},
		{"short Gram", shortGram, msg.ErrInvalid},
		{"wrong m", wrongM, msg.ErrInvalid},
		{"negative rows", negRows, msg.ErrInvalid},
		{"flip count at iteration 0", fake(0, 1, m, 10, 0, target), msg.ErrInvalid},
		{"another kind", &msg.Moments12{Partition: 1, Order: 1, D: 2, SumYX: make([]float64, 2), SumX: make([]float64, 2)}, msg.ErrInvalid},
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
	if got.Rows != 4*10 || got.Flips != -1 || got.Loss != 0.25 || got.RelRes != math.Sqrt(20.0/4) || !got.Solved || relDiff(weights(got.Next), target) > 1e-15 {
		t.Errorf("report %+v: want 40 rows, flips -1, loss 0.25, relative residual sqrt(5), Next = %v", got, target)
	}
	if !sameBits(weights(got.Net), u0) || !slices.Equal(got.Net.Dims, []int{d, k}) || !slices.Equal(got.Net.V, spec.Signs) || got.Step != 0 {
		t.Errorf("report's network %+v at step %d, want U = %v with widths [%d %d] and the model's signs", got.Net, got.Step, u0, d, k)
	}

	// Iteration 1: a partial of iteration 0 is now stale; one of iteration 1
	// without a flip count is invalid.
	if err := c.Offer(fake(0, 0, m, 10, -1, target)); !errors.Is(err, round.ErrStale) {
		t.Errorf("old iteration: err = %v, want ErrStale", err)
	}
	if err := c.Offer(fake(1, 0, m, 10, -1, target)); !errors.Is(err, msg.ErrInvalid) {
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
	step := func(c *coordinator.Shallow, flips int64, target []float64) coordinator.Report {
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
	checkDone := func(c *coordinator.Shallow, reason coordinator.Reason) {
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
		if err := c.Skip(0); !errors.Is(err, coordinator.ErrDone) {
			t.Errorf("Skip after stop: err = %v, want ErrDone", err)
		}
	}

	t.Run("fixed-point", func(t *testing.T) {
		c := newCore(t, coordinator.ShallowConfig{Spec: spec, Partitions: P, MaxIters: 10}, u0)
		r := step(c, 0, []float64{2, 1})
		if r.Stop != coordinator.Running || !r.Solved {
			t.Fatalf("iteration 0 stopped: %+v", r)
		}
		r = step(c, 4, []float64{3, 1})
		if r.Stop != coordinator.Running || r.Flips != 8 {
			t.Fatalf("iteration 1: %+v, want running with 8 flips", r)
		}
		r = step(c, 0, []float64{4, 1})
		if r.Stop != coordinator.FixedPoint || r.Solved || r.Next != nil || r.Iter != 2 || relDiff(weights(r.Net), []float64{3, 1}) > 1e-14 {
			t.Fatalf("iteration 2: %+v, want fixed point at U = [3 1] without a solve", r)
		}
		checkDone(c, coordinator.FixedPoint)
	})
	t.Run("tolerance", func(t *testing.T) {
		c := newCore(t, coordinator.ShallowConfig{Spec: spec, Partitions: P, MaxIters: 10, Tol: 1e-3}, u0)
		r := step(c, 1, []float64{2, 1}) // change 1/sqrt(2)
		if r.Stop != coordinator.Running {
			t.Fatalf("iteration 0: %+v", r)
		}
		r = step(c, 1, []float64{2, 1 + 1e-6}) // change < Tol: stop at the next iteration
		if r.Stop != coordinator.Running || !(r.Change < 1e-3) || r.Next == nil {
			t.Fatalf("iteration 1: %+v, want a solve with a small change", r)
		}
		r = step(c, 1, []float64{5, 5})
		if r.Stop != coordinator.Tolerance || r.Solved || r.Iter != 2 || relDiff(weights(r.Net), []float64{2, 1 + 1e-6}) > 1e-14 {
			t.Fatalf("iteration 2: %+v, want tolerance stop at the small step's weights", r)
		}
		checkDone(c, coordinator.Tolerance)
	})
	t.Run("iteration-limit", func(t *testing.T) {
		c := newCore(t, coordinator.ShallowConfig{Spec: spec, Partitions: P, MaxIters: 2}, u0)
		step(c, 1, []float64{2, 1})
		step(c, 1, []float64{3, 1})
		r := step(c, 1, []float64{4, 1})
		if r.Stop != coordinator.IterLimit || r.Iter != 2 || r.Solved || relDiff(weights(r.Net), []float64{3, 1}) > 1e-14 {
			t.Fatalf("iteration 2: %+v, want iteration limit after 2 solves", r)
		}
		checkDone(c, coordinator.IterLimit)
	})
	t.Run("zero iterations", func(t *testing.T) {
		c := newCore(t, coordinator.ShallowConfig{Spec: spec, Partitions: P, MaxIters: 0}, u0)
		r := step(c, 1, []float64{2, 1})
		if r.Stop != coordinator.IterLimit || r.Iter != 0 || r.Solved || r.Loss != 0.25 || !slices.Equal(weights(r.Net), u0) {
			t.Fatalf("%+v: want the start evaluated and no solve", r)
		}
		checkDone(c, coordinator.IterLimit)
	})
	t.Run("no samples", func(t *testing.T) {
		c := newCore(t, coordinator.ShallowConfig{Spec: spec, Partitions: P, MaxIters: 3}, u0)
		for p := 0; p < P; p++ {
			offer(t, c, fake(0, p, m, 0, -1, u0))
		}
		if _, err := c.Advance(); !errors.Is(err, coordinator.ErrNoSamples) {
			t.Errorf("no rows: err = %v, want ErrNoSamples", err)
		}
	})
}

// jsonCopy returns st after a round trip through JSON, as a checkpoint
// keeps it.
func jsonCopy(t *testing.T, st coordinator.State) coordinator.State {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var out coordinator.State
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// sameState reports whether two states are the same, bit for bit (JSON
// writes the shortest form that reads back as the same bits).
func sameState(t *testing.T, a, b coordinator.State) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(ja) == string(jb)
}

// TestShallowStateRestore: a core restored from another's State, through
// JSON, behaves as that core, including a pending stop; partials received
// before are dropped, their buffers back to the pool. States that do not
// fit the model are refused and leave the core as it was.
func TestShallowStateRestore(t *testing.T) {
	pr := planted(t, "model=sum,d=4,k=2,n=200,seed=8", 3)
	m := pr.spec.M()
	run := func(c *coordinator.Shallow) coordinator.Report {
		t.Helper()
		req := c.Request()
		for p := 0; p < pr.P; p++ {
			offer(t, c, fetchStats(t, pr.eng, req, p))
		}
		return advance(t, c)
	}
	for _, tol := range []float64{0, 10} { // Tol 10: a tolerance stop is pending after the first solve
		cfg := coordinator.ShallowConfig{Spec: pr.spec, Partitions: pr.P, MaxIters: 10, Tol: tol}
		a := newCore(t, cfg, pr.perturbed(4, 0.5))
		run(a)
		pool := msg.NewPool()
		cfgB := cfg
		cfgB.Pool = pool
		b := newCore(t, cfgB, make([]float64, m))
		offer(t, b, &msg.Stats{Iter: 0, Partition: 1, M: m, Gram: pool.Get(linalg.PackedLen(m)), R: make([]float64, m), Flips: -1})
		if err := b.Restore(jsonCopy(t, a.State())); err != nil {
			t.Fatal(err)
		}
		if len(b.Missing()) != pr.P {
			t.Errorf("Restore kept a partial received before: missing %v", b.Missing())
		}
		if n, _ := pool.Idle(); n != 1 {
			t.Errorf("Restore dropped a partial without giving its buffer back: %d idle buffers", n)
		}
		if !sameState(t, a.State(), b.State()) || b.Iter() != a.Iter() {
			t.Fatalf("tol %g: restored state %+v, want %+v", tol, b.State(), a.State())
		}
		ra, rb := run(a), run(b)
		if !sameReport(ra, rb) {
			t.Fatalf("tol %g: restored core differs:\n%+v\n%+v", tol, ra, rb)
		}
		if tol == 10 && rb.Stop != coordinator.Tolerance {
			t.Errorf("pending tolerance stop lost in State/Restore: %+v", rb)
		}
	}

	cfg := coordinator.ShallowConfig{Spec: pr.spec, Partitions: pr.P, MaxIters: 10}
	src := newCore(t, cfg, pr.perturbed(5, 0.5))
	run(src)
	good := src.State() // at iteration 1, with previous weights
	net := func(w []float64) *model.Net {
		return &model.Net{Dims: []int{pr.spec.D, pr.spec.K}, W: [][]float64{w}, V: slices.Clone(pr.spec.Signs)}
	}
	c := newCore(t, cfg, make([]float64, m))
	before := c.State()
	for name, edit := range map[string]func(s *coordinator.State){
		"no previous weights at iteration 1": func(s *coordinator.State) { s.Prev = nil },
		"no weights":                         func(s *coordinator.State) { s.Net = nil },
		"short weights":                      func(s *coordinator.State) { s.Net = net(make([]float64, m-1)) },
		"long previous weights":              func(s *coordinator.State) { s.Prev = net(make([]float64, m+1)) },
		"previous weights at iteration 0":    func(s *coordinator.State) { s.Iter, s.Step = 0, 0 },
		"negative iteration":                 func(s *coordinator.State) { s.Iter, s.Step = -1, -1 },
		"step before the iteration":          func(s *coordinator.State) { s.Step = 0 },
		"damping state without damping":      func(s *coordinator.State) { s.Descent = &coordinator.DescentState{} },
		"a refresh without damping":          func(s *coordinator.State) { s.Refresh = true },
		"a layer to solve":                   func(s *coordinator.State) { s.Layer = 1 },
		"start weights":                      func(s *coordinator.State) { s.Start = net(make([]float64, m)) },
		"other widths":                       func(s *coordinator.State) { s.Net = model.NewNet(pr.spec.D, pr.spec.K+1) },
		"two hidden layers":                  func(s *coordinator.State) { s.Net = model.NewNet(pr.spec.D, pr.spec.K, 2) },
		"other signs":                        func(s *coordinator.State) { s.Net.V[0] = -s.Net.V[0] },
		"non-finite weights":                 func(s *coordinator.State) { s.Net.W[0][1] = math.NaN() },
		"non-finite previous weights":        func(s *coordinator.State) { s.Prev.W[0][0] = math.Inf(1) },
		"unknown stop reason":                func(s *coordinator.State) { s.Stopped = "bored" },
		"deep networks' stop reason":         func(s *coordinator.State) { s.Pending = coordinator.Fit },
	} {
		st := jsonCopy(t, good)
		edit(&st)
		if err := c.Restore(st); err == nil {
			t.Errorf("%s: restored", name)
		}
		if !sameState(t, c.State(), before) {
			t.Fatalf("%s: a refused Restore changed the core", name)
		}
	}
	if err := c.Restore(jsonCopy(t, good)); err != nil || !sameState(t, c.State(), good) {
		t.Errorf("the unedited state: %v", err)
	}
}

func TestShallowConfigValidate(t *testing.T) {
	spec := sumSpec(3, 2)
	def := coordinator.DefaultShallowConfig()
	def.Spec = spec
	if err := def.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for _, ok := range []coordinator.ShallowConfig{
		{Spec: spec, Partitions: 1, Method: coordinator.AM},
		{Spec: spec, Partitions: 1, Method: coordinator.GD, Step: 0.5},
	} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%+v refused: %v", ok, err)
		}
	}
	bad := []coordinator.ShallowConfig{
		{Spec: spec, Partitions: 0, MaxIters: 1},
		{Spec: spec, Partitions: 1, MaxIters: -1},
		{Spec: spec, Partitions: 1, Tol: -1},
		{Spec: spec, Partitions: 1, Tol: math.NaN()},
		{Spec: spec, Partitions: 1, Tol: math.Inf(1)},
		{Spec: model.Spec{Kind: model.Sum, D: 3, K: 0}, Partitions: 1},
		{Spec: spec, Partitions: 1, Method: "sgd"},
		{Spec: spec, Partitions: 1, Method: coordinator.GD, Step: -1},
		{Spec: spec, Partitions: 1, Method: coordinator.GD, Step: math.NaN()},
		{Spec: spec, Partitions: 1, Method: coordinator.GD, Step: math.Inf(1)},
	}
	for _, c := range bad {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v accepted", c)
		}
		if _, err := coordinator.NewShallow(c, make([]float64, max(c.Spec.M(), 0))); err == nil {
			t.Errorf("NewShallow(%+v) accepted", c)
		}
	}
	if _, err := coordinator.NewShallow(def, make([]float64, 5)); err == nil {
		t.Error("NewShallow with 5 weights for m = 6 accepted")
	}
}
