package round_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"altmin/msg"
	"altmin/round"
)

// core is a scripted core of 4 partitions over the statistics of req(7):
// a round.Set that refuses what Set.Offer refuses (stale, duplicate,
// unknown, invalid), except that a partial of 0 rows is accepted but not
// kept (so a round can end with partitions missing).
type core struct {
	set round.Set
	req msg.Request
}

func newCore() *core { return &core{set: round.NewSet(4), req: req(7)} }

func (c *core) Len() int       { return c.set.Len() }
func (c *core) Missing() []int { return c.set.Missing() }
func (c *core) Ready() bool    { return c.set.Ready() }
func (c *core) Offer(p msg.Partial) error {
	if s, ok := p.(*msg.Stats); ok && s.Rows == 0 {
		return nil
	}
	return c.set.Offer(p, c.req, nil)
}

// put marks partitions received.
func (c *core) put(parts ...int) {
	for _, p := range parts {
		c.set.Put(stats(nil, 7, p, 1), c.req, nil)
	}
}

// sum returns the core's sum: its statistics once ready.
func (c *core) sum() *msg.Stats {
	s, _ := c.set.Sum().(*msg.Stats)
	return s
}

// fetcher adapts a function to msg.Fetcher; its fetches must be of req(7),
// one partition each (it has no plan).
type fetcher func(ctx context.Context, p int) (msg.Partial, error)

func (f fetcher) Fetch(ctx context.Context, r msg.Request, s msg.Span) (msg.Partial, error) {
	if r.Round() != 7 || r.Kind() != msg.KindStats {
		return nil, errors.New("fetch of another request")
	}
	if s.N != 1 {
		return nil, fmt.Errorf("%s asked of a fetcher without a plan", s)
	}
	return f(ctx, s.Lo)
}

// planned is a fetcher that plans the partitions to ask (round.Planner):
// the leaves of order.
type planned struct {
	fetcher
	order   []int
	planned bool
}

func (s *planned) Plan(missing []int, parts int) []msg.Span {
	s.planned = true
	var out []msg.Span
	for _, p := range s.order {
		out = append(out, msg.Leaf(p))
	}
	return out
}

func testRound(t *testing.T, f msg.Fetcher) round.Round {
	return round.Round{Name: "test: round 7", Field: zap.Int("round", 7), Log: zaptest.NewLogger(t),
		Request: req(7), Fetcher: f, Parallel: 2}
}

// Gather offers every missing partition's answer and fails, naming the
// round and the partition, on the first fetch error, answer for another
// partition, missing answer or refused offer; a partition skipped is not an
// error, and a round still missing partitions after every answer is.
// Partials refused are released to the pool.
func TestGather(t *testing.T) {
	c := newCore()
	c.put(2) // already in: not fetched
	fetched := make(chan int, 4)
	r := testRound(t, fetcher(func(ctx context.Context, p int) (msg.Partial, error) {
		fetched <- p
		return stats(nil, 7, p, 10*p+1), nil
	}))
	// Rows 1, 11, 1 (put) and 31: 44 (64 had partition 2 been fetched).
	if err := round.Gather(context.Background(), c, r, nil); err != nil || !c.Ready() || c.sum().Rows != 1+11+1+31 {
		t.Fatalf("err %v, core %+v", err, c.sum())
	}
	close(fetched)
	var asked []int
	for p := range fetched {
		asked = append(asked, p)
	}
	slices.Sort(asked)
	if !slices.Equal(asked, []int{0, 1, 3}) {
		t.Errorf("fetched %v, want the missing [0 1 3]", asked)
	}

	boom := errors.New("boom")
	for name, tc := range map[string]struct {
		fetch func(p int) (msg.Partial, error)
		want  string
		is    error
		freed int // buffers released to the pool
	}{
		"fetch error":       {func(p int) (msg.Partial, error) { return nil, boom }, "test: round 7: partition 1: boom", boom, 0},
		"another partition": {func(p int) (msg.Partial, error) { return stats(nil, 7, (p+1)%4, 1), nil }, "test: round 7: partition 1: msg: invalid partial: answer was for partition 2", msg.ErrInvalid, 1},
		"refused":           {func(p int) (msg.Partial, error) { return stats(nil, 7, p, -1), nil }, "test: round 7: partition 1: msg: invalid partial: partial of partition 1 has -1 rows", msg.ErrInvalid, 1},
		"stale":             {func(p int) (msg.Partial, error) { return stats(nil, 6, p, 1), nil }, "test: round 7: partition 1: round: partial for another round: partition 1, round 6, current 7", round.ErrStale, 1},
		"nil answer":        {func(p int) (msg.Partial, error) { return nil, nil }, "test: round 7: partition 1: msg: invalid partial: no partial returned", msg.ErrInvalid, 0},
		"not ready":         {func(p int) (msg.Partial, error) { return stats(nil, 7, p, 0), nil }, "test: round 7: partitions [1] missing", nil, 0},
	} {
		c := newCore()
		c.put(0, 2, 3)
		pool := msg.NewPool()
		err := round.Gather(context.Background(), c, testRound(t, fetcher(func(ctx context.Context, p int) (msg.Partial, error) {
			v, err := tc.fetch(p)
			if s, ok := v.(*msg.Stats); ok {
				s.Gram = pool.Get(1)
			}
			return v, err
		})), pool)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: err %v, want %q", name, err, tc.want)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: %v does not wrap %v", name, err, tc.is)
		}
		if n, _ := pool.Idle(); n != tc.freed {
			t.Errorf("%s: %d buffers back in the pool, want %d", name, n, tc.freed)
		}
		if !slices.Equal(c.Missing(), []int{1}) {
			t.Errorf("%s: the core kept a partial it should not: missing %v", name, c.Missing())
		}
	}

	// A duplicate is logged and ignored, and released (here the core got
	// the partition while it was fetched).
	c = newCore()
	c.put(0, 2, 3)
	pool := msg.NewPool()
	var dup *msg.Stats
	if err := round.Gather(context.Background(), c, testRound(t, fetcher(func(ctx context.Context, p int) (msg.Partial, error) {
		c.set.Put(stats(nil, 7, p, 5), c.req, nil) // before Gather reads the answer: the results' channel orders it
		dup = stats(pool, 7, p, 6)
		return dup, nil
	})), pool); err != nil || c.sum() == nil || c.sum().Rows != 1+5+1+1 {
		t.Errorf("duplicate: err %v, core %+v (the duplicate of 6 rows must not be added)", err, c.sum())
	}
	if n, _ := pool.Idle(); n != 1 || dup.Gram != nil {
		t.Errorf("duplicate: %d buffers released, want 1", n)
	}

	// Skip gives partitions up, on the calling goroutine; one it declines
	// fails the round, and so does its error.
	c = newCore()
	r = testRound(t, fetcher(func(ctx context.Context, p int) (msg.Partial, error) {
		if p%2 == 1 {
			return nil, boom
		}
		return stats(nil, 7, p, 1), nil
	}))
	var skipped []int
	r.Skip = func(p int, err error) (bool, error) {
		if !errors.Is(err, boom) {
			return false, nil
		}
		skipped = append(skipped, p)
		c.put(p)
		return true, nil
	}
	if err := round.Gather(context.Background(), c, r, nil); err != nil || !c.Ready() {
		t.Errorf("skipped: err %v, missing %v", err, c.Missing())
	}
	slices.Sort(skipped)
	if !slices.Equal(skipped, []int{1, 3}) {
		t.Errorf("skipped %v, want [1 3]", skipped)
	}
	c = newCore()
	r.Skip = func(p int, err error) (bool, error) { return false, nil }
	if err := round.Gather(context.Background(), c, r, nil); !errors.Is(err, boom) {
		t.Errorf("Skip declined: err %v, want boom", err)
	}
	errSkip := errors.New("cannot skip")
	r.Skip = func(p int, err error) (bool, error) { return true, errSkip }
	if err := round.Gather(context.Background(), newCore(), r, nil); !errors.Is(err, errSkip) || !strings.HasPrefix(err.Error(), "test: round 7: partition ") {
		t.Errorf("Skip's error: err %v, want errSkip naming the partition", err)
	}

	// The first failure cancels the fetches in flight, and Timeout bounds
	// the round.
	r = testRound(t, fetcher(func(ctx context.Context, p int) (msg.Partial, error) {
		if p == 0 {
			return nil, boom
		}
		<-ctx.Done()
		return nil, ctx.Err()
	}))
	r.Parallel = 0
	if err := round.Gather(context.Background(), newCore(), r, nil); !errors.Is(err, boom) {
		t.Errorf("first failure: err %v, want boom", err)
	}
	// One fetch at a time, the stuck partition first (Plan): its
	// result is the first whether the timer cut it off or it never
	// started, however long the timer takes.
	r = testRound(t, &planned{order: []int{3, 0, 1, 2}, fetcher: func(ctx context.Context, p int) (msg.Partial, error) {
		if p == 3 {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return stats(nil, 7, p, 1), nil
	}})
	r.Timeout, r.Parallel = time.Millisecond, 1
	if err := round.Gather(context.Background(), newCore(), r, nil); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "partition 3") {
		t.Errorf("timeout: err %v, want DeadlineExceeded naming partition 3", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r = testRound(t, fetcher(func(ctx context.Context, p int) (msg.Partial, error) { return stats(nil, 7, p, 1), nil }))
	if err := round.Gather(ctx, newCore(), r, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err %v, want context.Canceled", err)
	}
}

// TestGatherOrder fetches the spans of the Planner's plan, asked of every
// round whatever the parallelism, in the plan's order (observable one at
// a time), and without a Planner every partition missing alone, ascending.
func TestGatherOrder(t *testing.T) {
	for _, c := range []struct {
		parallel int
		want     []int
	}{{1, []int{3, 1, 2, 0}}, {0, nil}, {4, nil}} {
		var mu sync.Mutex
		var asked []int
		f := &planned{order: []int{3, 1, 2, 0}, fetcher: func(ctx context.Context, p int) (msg.Partial, error) {
			mu.Lock()
			asked = append(asked, p)
			mu.Unlock()
			return stats(nil, 7, p, 1), nil
		}}
		r := testRound(t, f)
		r.Parallel = c.parallel
		if err := round.Gather(context.Background(), newCore(), r, nil); err != nil {
			t.Fatal(err)
		}
		if c.want != nil && !slices.Equal(asked, c.want) {
			t.Errorf("parallel %d: fetched in the order %v, want %v", c.parallel, asked, c.want)
		}
		slices.Sort(asked)
		if !f.planned || !slices.Equal(asked, []int{0, 1, 2, 3}) {
			t.Errorf("parallel %d: planned %v, fetched %v; want the plan asked and every partition fetched", c.parallel, f.planned, asked)
		}
	}
	// A fetcher that is not a Planner is asked in ascending order.
	var asked []int
	r := testRound(t, fetcher(func(ctx context.Context, p int) (msg.Partial, error) {
		asked = append(asked, p) // one fetch at a time: no race
		return stats(nil, 7, p, 1), nil
	}))
	r.Parallel = 1
	c := newCore()
	c.put(1)
	if err := round.Gather(context.Background(), c, r, nil); err != nil || !slices.Equal(asked, []int{0, 2, 3}) {
		t.Errorf("without a Planner: err %v, fetched in the order %v, want [0 2 3]", err, asked)
	}
}

// m12 returns partition p's first-order moment sums over one feature.
func m12(p int) *msg.Moments12 {
	return &msg.Moments12{Partition: p, Order: 1, Rows: p + 1, D: 1, SumY: float64(p), SumYX: []float64{1}, SumX: []float64{2}}
}

// TestCollect: the partials are added up in the reduction tree whatever
// the order they complete in (forced here: the reverse), each checked
// against the request, and their sum is returned; the first failure is
// returned naming the partition, and the partials already received are
// released.
func TestCollect(t *testing.T) {
	const P = 5
	m12req := &msg.Moments12Request{D: 1, Order: 1}
	for _, parallel := range []int{0, P} { // every fetch in flight, or the gates would deadlock
		gates := make([]chan struct{}, P+1)
		for p := range gates {
			gates[p] = make(chan struct{})
		}
		close(gates[P])
		var mu sync.Mutex
		var completed []int
		f := msg.Fetcher(fetchAny(func(ctx context.Context, r msg.Request, p int) (msg.Partial, error) {
			<-gates[p+1] // partition p+1 has completed
			mu.Lock()
			completed = append(completed, p)
			mu.Unlock()
			close(gates[p])
			return m12(p), nil
		}))
		got, err := round.Collect(context.Background(), f, m12req, P, parallel, "test: moments", nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(completed, []int{4, 3, 2, 1, 0}) {
			t.Fatalf("parallel %d: completed in the order %v, want the reverse", parallel, completed)
		}
		// The sum of partitions 0..4: rows p+1, SumY p, SumYX 1, SumX 2.
		m, ok := got.(*msg.Moments12)
		if !ok || m.Span() != msg.Root(P) || m.Rows != 15 || m.SumY != 10 || m.SumYX[0] != P || m.SumX[0] != 2*P {
			t.Errorf("parallel %d: sum %+v, want the root's: 15 rows, SumY 10, SumYX 5, SumX 10", parallel, got)
		}
	}

	boom := errors.New("boom")
	for name, tc := range map[string]struct {
		fetch func(p int) (msg.Partial, error)
		want  string
		is    error
	}{
		"fetch error":       {func(p int) (msg.Partial, error) { return nil, boom }, "test: moments: partition 3: boom", boom},
		"invalid":           {func(p int) (msg.Partial, error) { return stats(nil, 0, p, -1), nil }, "test: moments: partition 3: msg: invalid partial: partial of partition 3 has -1 rows", msg.ErrInvalid},
		"another partition": {func(p int) (msg.Partial, error) { return stats(nil, 0, 0, 1), nil }, "test: moments: partition 3: msg: invalid partial: answer was for partition 0", msg.ErrInvalid},
		"another kind":      {func(p int) (msg.Partial, error) { return m12(p), nil }, "test: moments: partition 3: msg: invalid partial: moments12 partial of partition 3 for a stats request", msg.ErrInvalid},
	} {
		// Statistics with pooled buffers for partitions 0..2, one at a
		// time, then partition 3 fails.
		pool := msg.NewPool()
		var received []*float64
		f := fetchAny(func(ctx context.Context, r msg.Request, p int) (msg.Partial, error) {
			if p < 3 {
				s := stats(pool, 0, p, 1)
				received = append(received, &s.Gram[0])
				return s, nil
			}
			return tc.fetch(p)
		})
		got, err := round.Collect(context.Background(), f, req(0), P, 1, "test: moments", pool)
		if got != nil || !errors.Is(err, tc.is) || (tc.want != "" && err.Error() != tc.want) || !strings.Contains(err.Error(), "partition 3") {
			t.Errorf("%s: sum %v, err %v, want %q", name, got, err, tc.want)
		}
		// The pool holds the buffers of the partials received (and of
		// the refused ones).
		var idle []*float64
		for n, _ := pool.Idle(); n > 0; n, _ = pool.Idle() {
			idle = append(idle, &pool.Get(1)[0])
		}
		for p, b := range received {
			if !slices.Contains(idle, b) {
				t.Errorf("%s: partition %d's buffer was not released", name, p)
			}
		}
	}
}

// fetchAny adapts a function to msg.Fetcher.
type fetchAny func(ctx context.Context, r msg.Request, p int) (msg.Partial, error)

func (f fetchAny) Fetch(ctx context.Context, r msg.Request, s msg.Span) (msg.Partial, error) {
	if s.N != 1 {
		return nil, fmt.Errorf("%s asked of a fetcher without a plan", s)
	}
	return f(ctx, r, s.Lo)
}
