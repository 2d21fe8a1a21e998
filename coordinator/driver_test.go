package coordinator_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"altmin/coordinator"
	"altmin/msg"
	"altmin/round"
)

// The driver is tested with fetchers written here that wrap the in-process
// one and inject faults, wrong answers or a chosen completion order. No
// test depends on timing: ordering is forced with channels.

// fetchFunc adapts a function to msg.Fetcher.
type fetchFunc func(ctx context.Context, req msg.Request, p int) (msg.Partial, error)

func (f fetchFunc) Fetch(ctx context.Context, req msg.Request, s msg.Span) (msg.Partial, error) {
	if s.N != 1 {
		return nil, fmt.Errorf("%s asked of a fetcher without a plan", s)
	}
	return f(ctx, req, s.Lo)
}

var errInjected = errors.New("injected fault")

// plannedFetch is a fetcher that plans the partitions it is asked for
// (round.Planner): one at a time, in its order.
type plannedFetch struct {
	fetchFunc
	order []int
	asked bool
}

func (s *plannedFetch) Plan(missing []int, parts int) []msg.Span {
	s.asked = true
	var out []msg.Span
	for _, p := range s.order {
		out = append(out, msg.Leaf(p))
	}
	return out
}

// reference trains pr in a plain loop on the core alone, offering the
// partials in partition order: the single-process answer.
func reference(t *testing.T, pr *problem, u0 []float64, iters int) []coordinator.Report {
	t.Helper()
	c := newCore(t, coordinator.ShallowConfig{Spec: pr.spec, Partitions: pr.P, MaxIters: iters}, u0)
	var reps []coordinator.Report
	for {
		req := c.Request()
		for p := 0; p < pr.P; p++ {
			offer(t, c, fetchStats(t, pr.eng, req, p))
		}
		r := advance(t, c)
		reps = append(reps, r)
		if r.Stop != coordinator.Running {
			return reps
		}
	}
}

func newDriver(t *testing.T, pr *problem, u0 []float64, iters int, f msg.Fetcher) *coordinator.Driver {
	t.Helper()
	core := newCore(t, coordinator.ShallowConfig{Spec: pr.spec, Partitions: pr.P, MaxIters: iters}, u0)
	return &coordinator.Driver{Core: core, Fetcher: f, Log: zaptest.NewLogger(t)}
}

func TestDriverFetchFailure(t *testing.T) {
	pr := planted(t, "model=sum,d=5,k=2,n=400,seed=12", 6)
	local := pr.eng
	var calls atomic.Int64
	f := fetchFunc(func(ctx context.Context, req msg.Request, p int) (msg.Partial, error) {
		calls.Add(1)
		if p == 3 && req.Round() == 2 {
			return nil, errInjected
		}
		return local.Fetch(ctx, req, msg.Leaf(p))
	})
	for _, parallel := range []int{0, 1, 4} {
		d := newDriver(t, pr, pr.perturbed(1, 0.5), 20, f)
		d.Parallel = parallel
		var iters []int
		d.OnReport = func(r coordinator.Report, _ coordinator.Timing) error {
			iters = append(iters, r.Iter)
			return nil
		}
		_, err := d.Run(context.Background())
		if !errors.Is(err, errInjected) {
			t.Fatalf("parallel %d: err = %v, want the injected fault", parallel, err)
		}
		if m := err.Error(); !strings.Contains(m, "partition 3") || !strings.Contains(m, "round 2") {
			t.Errorf("parallel %d: error %q does not name partition 3 and round 2", parallel, m)
		}
		if at := d.Core.(*coordinator.Shallow).Iter(); len(iters) != 2 || at != 2 {
			t.Errorf("parallel %d: reports for iterations %v, core at %d; want 0, 1 and the core at 2", parallel, iters, at)
		}
	}
}

func TestDriverRejectsWrongAnswers(t *testing.T) {
	pr := planted(t, "model=sum,d=4,k=2,n=300,seed=13", 4)
	local := pr.eng
	cases := []struct {
		name   string
		answer func(ctx context.Context, req msg.Request, p int) (msg.Partial, error)
		want   error    // errors.Is target, or nil
		msg    []string // substrings of the error
	}{
		{
			name: "another partition's stats",
			answer: func(ctx context.Context, req msg.Request, p int) (msg.Partial, error) {
				if p == 2 && req.Round() == 1 {
					return local.Fetch(ctx, req, msg.Leaf(3))
				}
				return local.Fetch(ctx, req, msg.Leaf(p))
			},
			want: msg.ErrInvalid,
			msg:  []string{"round 1", "partition 2", "partition 3"},
		},
		{
			name: "stale stats",
			answer: func(ctx context.Context, req msg.Request, p int) (msg.Partial, error) {
				s, err := local.Fetch(ctx, req, msg.Leaf(p))
				if p == 1 && req.Round() == 1 {
					s.(*msg.Stats).Iter = 0
				}
				return s, err
			},
			want: round.ErrStale,
			msg:  []string{"round 1", "partition 1"},
		},
		{
			name: "NaN stats",
			answer: func(ctx context.Context, req msg.Request, p int) (msg.Partial, error) {
				s, err := local.Fetch(ctx, req, msg.Leaf(p))
				if p == 0 && req.Round() == 2 {
					s.(*msg.Stats).R[1] = math.NaN()
				}
				return s, err
			},
			want: msg.ErrInvalid,
			msg:  []string{"round 2", "partition 0"},
		},
		{
			name: "no stats and no error",
			answer: func(ctx context.Context, req msg.Request, p int) (msg.Partial, error) {
				if p == 3 {
					return nil, nil
				}
				return local.Fetch(ctx, req, msg.Leaf(p))
			},
			want: msg.ErrInvalid,
			msg:  []string{"round 0", "partition 3"},
		},
		{
			name: "moment sums for statistics",
			answer: func(ctx context.Context, req msg.Request, p int) (msg.Partial, error) {
				if p == 1 && req.Round() == 0 {
					return local.Fetch(ctx, &msg.Moments12Request{D: req.Features(), Order: 1}, msg.Leaf(p))
				}
				return local.Fetch(ctx, req, msg.Leaf(p))
			},
			want: msg.ErrInvalid,
			msg:  []string{"round 0", "partition 1", "moments12"},
		},
	}
	for _, c := range cases {
		d := newDriver(t, pr, pr.perturbed(2, 0.5), 20, fetchFunc(c.answer))
		_, err := d.Run(context.Background())
		if err == nil {
			t.Errorf("%s: Run succeeded", c.name)
			continue
		}
		if c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
		for _, s := range c.msg {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, s)
			}
		}
	}
}

// orderedFetcher computes the statistics at once but lets each Fetch return
// only after the partition before it in a seeded random order (fresh each
// iteration) has returned, so partials complete in that order.
type orderedFetcher struct {
	local msg.Fetcher
	P     int
	rng   *rand.Rand

	mu        sync.Mutex
	gates     map[int][]chan struct{} // per iteration, per partition: closed when it may return
	orders    map[int][]int
	completed map[int][]int // per iteration, partitions in the order Fetch returned
}

func (o *orderedFetcher) gatesFor(iter int) ([]chan struct{}, []int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.gates[iter] == nil {
		order := o.rng.Perm(o.P)
		gates := make([]chan struct{}, o.P)
		for p := range gates {
			gates[p] = make(chan struct{})
		}
		close(gates[order[0]])
		o.gates[iter], o.orders[iter] = gates, order
	}
	return o.gates[iter], o.orders[iter]
}

func (o *orderedFetcher) Fetch(ctx context.Context, req msg.Request, sp msg.Span) (msg.Partial, error) {
	if sp.N != 1 {
		return nil, fmt.Errorf("%s asked of a fetcher without a plan", sp)
	}
	p, iter := sp.Lo, req.Round()
	gates, order := o.gatesFor(iter)
	s, err := o.local.Fetch(ctx, req, msg.Leaf(p))
	select {
	case <-gates[p]:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	o.mu.Lock()
	o.completed[iter] = append(o.completed[iter], p)
	for j, q := range order { // open the next partition's gate
		if q == p && j+1 < len(order) {
			close(gates[order[j+1]])
		}
	}
	o.mu.Unlock()
	return s, err
}

func TestDriverOutOfOrderCompletion(t *testing.T) {
	const seed = 61
	t.Logf("seed %d", seed)
	pr := planted(t, "model=sum,d=6,k=3,n=700,seed=14,signs=alternate", 7)
	u0 := pr.perturbed(3, 0.4)
	want := reference(t, pr, u0, 12)
	for _, parallel := range []int{0, 7} { // all partitions in flight, or the gates would deadlock
		of := &orderedFetcher{local: pr.eng, P: pr.P, rng: rand.New(rand.NewPCG(seed, uint64(parallel))),
			gates: map[int][]chan struct{}{}, orders: map[int][]int{}, completed: map[int][]int{}}
		d := newDriver(t, pr, u0, 12, of)
		d.Parallel = parallel
		var got []coordinator.Report
		d.OnReport = func(r coordinator.Report, _ coordinator.Timing) error {
			got = append(got, r)
			return nil
		}
		final, err := d.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("driver ran %d iterations, reference %d", len(got), len(want))
		}
		for i := range want {
			if !sameReport(got[i], want[i]) {
				t.Fatalf("iteration %d: driver report differs from the in-order reference", i)
			}
			if c, o := of.completed[i], of.orders[i]; !equalInts(c, o) {
				t.Fatalf("iteration %d: completion order %v, planned %v", i, c, o)
			}
		}
		if !sameReport(final, want[len(want)-1]) {
			t.Fatal("final report differs from the reference")
		}
		t.Logf("parallel %d: %d iterations, completion orders %v", parallel, len(got), of.orders)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestDriverParallelBound: never more than Parallel fetches in flight.
func TestDriverParallelBound(t *testing.T) {
	pr := planted(t, "model=relu,d=4,n=200,seed=15", 8)
	local := pr.eng
	var inFlight, peak atomic.Int64
	f := fetchFunc(func(ctx context.Context, req msg.Request, p int) (msg.Partial, error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			old := peak.Load()
			if n <= old || peak.CompareAndSwap(old, n) {
				break
			}
		}
		return local.Fetch(ctx, req, msg.Leaf(p))
	})
	u0 := pr.perturbed(5, 0.3)
	want := reference(t, pr, u0, 10)
	d := newDriver(t, pr, u0, 10, f)
	d.Parallel = 2
	final, err := d.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if p := peak.Load(); p > 2 || p < 1 {
		t.Errorf("peak fetches in flight %d, want 1..2", p)
	}
	if !sameReport(final, want[len(want)-1]) {
		t.Error("result differs from the reference")
	}
}

func TestDriverContextAndHooks(t *testing.T) {
	pr := planted(t, "model=sum,d=3,k=2,n=100,seed=16", 3)
	local := pr.eng
	u0 := pr.perturbed(6, 0.3)

	// A cancelled context stops the run with the context's error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := newDriver(t, pr, u0, 5, local).Run(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v, want context.Canceled", err)
	}

	// A fetcher that never answers is cut off by StepTimeout. The outcome
	// does not depend on how long the timer takes: one fetch at a time,
	// the stuck partition first (the fetcher's Plan), so its result is
	// the first whether it was cut off or never started.
	stuck := &plannedFetch{order: []int{1, 0, 2}, fetchFunc: func(ctx context.Context, req msg.Request, p int) (msg.Partial, error) {
		if p == 1 {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return local.Fetch(context.Background(), req, msg.Leaf(p))
	}}
	d := newDriver(t, pr, u0, 5, stuck)
	d.StepTimeout, d.Parallel = time.Millisecond, 1
	if _, err := d.Run(context.Background()); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "partition 1") || !stuck.asked {
		t.Errorf("stuck partition: err = %v, want DeadlineExceeded naming partition 1", err)
	}

	// OnReport sees the injected clock's durations (one tick at the start,
	// one after the fetches, one after the solve), and its error stops
	// training after that iteration.
	d = newDriver(t, pr, u0, 5, local)
	var tick time.Duration
	base := time.Unix(0, 0)
	d.Now = func() time.Time { tick += time.Second; return base.Add(tick) }
	errStop := errors.New("stop here")
	var seen []int
	d.OnReport = func(r coordinator.Report, tm coordinator.Timing) error {
		if want := (coordinator.Timing{Total: 2 * time.Second, Stats: time.Second, Solve: time.Second}); tm != want {
			t.Errorf("iteration %d: timing %+v, want %+v from the injected clock", r.Iter, tm, want)
		}
		seen = append(seen, r.Iter)
		if r.Iter == 1 {
			return errStop
		}
		return nil
	}
	if _, err := d.Run(context.Background()); !errors.Is(err, errStop) || len(seen) != 2 {
		t.Errorf("OnReport error: err = %v after iterations %v, want errStop after [0 1]", err, seen)
	}
}

// advanceFails is a core whose Advance fails at round 1 with its report.
type advanceFails struct {
	coordinator.Core
	err error
}

func (a advanceFails) Advance() (coordinator.Report, error) {
	at := a.Core.Request().Round()
	rep, err := a.Core.Advance()
	if err == nil && at == 1 {
		err = a.err
	}
	return rep, err
}

// TestDriverRunResults: Run returns the zero report with an error fetching
// a round, and the round's report with an error of Advance or OnReport.
func TestDriverRunResults(t *testing.T) {
	pr := planted(t, "model=sum,d=3,k=2,n=120,seed=17", 3)
	u0 := pr.perturbed(7, 0.3)
	boom := errors.New("boom")

	fails := fetchFunc(func(ctx context.Context, req msg.Request, p int) (msg.Partial, error) {
		if req.Round() == 1 {
			return nil, boom
		}
		return pr.eng.Fetch(ctx, req, msg.Leaf(p))
	})
	if rep, err := newDriver(t, pr, u0, 5, fails).Run(context.Background()); !errors.Is(err, boom) || rep.Net != nil || rep.Rows != 0 {
		t.Errorf("fetch error: report %+v, err %v; want the zero report and boom", rep, err)
	}

	d := newDriver(t, pr, u0, 5, pr.eng)
	d.Core = advanceFails{Core: d.Core, err: boom}
	if rep, err := d.Run(context.Background()); !errors.Is(err, boom) || rep.Iter != 1 || !rep.Solved || rep.Net == nil {
		t.Errorf("Advance error: report %+v, err %v; want iteration 1's report and boom", rep, err)
	}

	d = newDriver(t, pr, u0, 5, pr.eng)
	d.OnReport = func(r coordinator.Report, _ coordinator.Timing) error {
		if r.Iter == 2 {
			return boom
		}
		return nil
	}
	if rep, err := d.Run(context.Background()); !errors.Is(err, boom) || rep.Iter != 2 || rep.Net == nil {
		t.Errorf("OnReport error: report %+v, err %v; want iteration 2's report and boom", rep, err)
	}

	// Without an error, Run returns the final report.
	want := reference(t, pr, u0, 5)
	if rep, err := newDriver(t, pr, u0, 5, pr.eng).Run(context.Background()); err != nil || !sameReport(rep, want[len(want)-1]) || rep.Stop == coordinator.Running {
		t.Errorf("final report %+v, err %v; want %+v", rep, err, want[len(want)-1])
	}
}

// TestDriverDegraded: with AllowDegraded, a partition whose fetch fails
// with msg.ErrUnavailable is left out of its round (listed in the report,
// its rows not counted, no fixed-point stop then) and asked for again in
// the next; without it, or for another error, or with a core that cannot
// leave partitions out, training stops with an error naming the partition.
func TestDriverDegraded(t *testing.T) {
	pr := planted(t, "model=sum,d=4,k=2,n=300,seed=18", 4)
	u0 := pr.perturbed(8, 0.3)
	rows2, _, _ := pr.eng.Shape(2)
	unavailable := func(err error) msg.Fetcher {
		return fetchFunc(func(ctx context.Context, req msg.Request, p int) (msg.Partial, error) {
			if p == 2 && req.Round() == 1 {
				return nil, fmt.Errorf("partition 2 is down: %w", err)
			}
			return pr.eng.Fetch(ctx, req, msg.Leaf(p))
		})
	}
	d := newDriver(t, pr, u0, 4, unavailable(msg.ErrUnavailable))
	d.AllowDegraded = true
	var reps []coordinator.Report
	d.OnReport = func(r coordinator.Report, _ coordinator.Timing) error {
		reps = append(reps, r)
		return nil
	}
	if _, err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(reps) < 3 {
		t.Fatalf("%d reports, want at least 3", len(reps))
	}
	for _, r := range reps {
		wantSkipped, wantRows := []int(nil), pr.n
		if r.Iter == 1 {
			wantSkipped, wantRows = []int{2}, pr.n-rows2
		}
		if !slices.Equal(r.Skipped, wantSkipped) || r.Rows != wantRows {
			t.Errorf("iteration %d: skipped %v, %d rows; want %v, %d", r.Iter, r.Skipped, r.Rows, wantSkipped, wantRows)
		}
	}
	if reps[1].Stop == coordinator.FixedPoint {
		t.Error("a degraded iteration stopped at a fixed point")
	}

	for name, c := range map[string]struct {
		allow bool
		err   error
		core  func() coordinator.Core
		want  error
	}{
		"not allowed":   {false, msg.ErrUnavailable, nil, msg.ErrUnavailable},
		"another error": {true, errInjected, nil, errInjected},
		"deep network":  {true, msg.ErrUnavailable, func() coordinator.Core { return newDeepOf(t, pr) }, coordinator.ErrSkip},
	} {
		d := newDriver(t, pr, u0, 4, unavailable(c.err))
		if c.core != nil {
			d.Core = c.core()
		}
		d.AllowDegraded = c.allow
		if _, err := d.Run(context.Background()); !errors.Is(err, c.want) || !strings.Contains(err.Error(), "partition 2") {
			t.Errorf("%s: err %v, want %v naming partition 2", name, err, c.want)
		}
	}
}
