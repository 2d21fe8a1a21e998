package drive

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
)

var errDuplicate = errors.New("duplicate")

type partial struct{ part, val int }

// core is a scripted core of 4 partitions: it refuses a partition it
// already has with errDuplicate, and nil or a value of -1 as invalid; a
// value of 0 is accepted but not kept.
type core struct{ got map[int]int }

func newCore() *core { return &core{got: map[int]int{}} }

func (c *core) Missing() []int {
	var m []int
	for p := range 4 {
		if _, ok := c.got[p]; !ok {
			m = append(m, p)
		}
	}
	return m
}

func (c *core) Ready() bool { return len(c.got) == 4 }

func (c *core) Offer(v *partial) error {
	if v == nil || v.val < 0 {
		return errors.New("invalid")
	}
	if _, ok := c.got[v.part]; ok {
		return errDuplicate
	}
	if v.val != 0 {
		c.got[v.part] = v.val
	}
	return nil
}

func round(t *testing.T, fetch func(ctx context.Context, p int) (*partial, error)) Round[partial] {
	return Round[partial]{Name: "test: round 7", Field: zap.Int("round", 7), Log: zaptest.NewLogger(t),
		Parallel: 2, Duplicate: errDuplicate, Fetch: fetch,
		Partition: func(v *partial) int { return v.part }}
}

// Gather offers every missing partition's answer and fails, naming the
// round and the partition, on the first fetch error, answer for another
// partition or refused offer; a partition skipped is not an error, and a
// round still missing partitions after every answer is.
func TestGather(t *testing.T) {
	c := newCore()
	c.got[2] = 30 // already in: not fetched
	fetched := make(chan int, 4)
	r := round(t, func(ctx context.Context, p int) (*partial, error) {
		fetched <- p
		return &partial{p, 10*p + 1}, nil
	})
	if err := Gather(context.Background(), c, r); err != nil || !c.Ready() || c.got[3] != 31 || c.got[2] != 30 {
		t.Fatalf("err %v, core %v", err, c.got)
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
		fetch func(p int) (*partial, error)
		want  string
	}{
		"fetch error":       {func(p int) (*partial, error) { return nil, boom }, "test: round 7: partition 1: boom"},
		"another partition": {func(p int) (*partial, error) { return &partial{(p + 1) % 4, 1}, nil }, "test: round 7: partition 1: answer was for partition 2"},
		"refused":           {func(p int) (*partial, error) { return &partial{p, -1}, nil }, "test: round 7: partition 1: invalid"},
		"nil answer":        {func(p int) (*partial, error) { return nil, nil }, "test: round 7: partition 1: invalid"},
		"not ready":         {func(p int) (*partial, error) { return &partial{p, 0}, nil }, "test: round 7: partitions [1] missing"},
	} {
		c := newCore()
		c.got[0], c.got[2], c.got[3] = 1, 1, 1
		err := Gather(context.Background(), c, round(t, func(ctx context.Context, p int) (*partial, error) { return tc.fetch(p) }))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: err %v, want %q", name, err, tc.want)
		}
		if name == "fetch error" && !errors.Is(err, boom) {
			t.Errorf("%s: %v does not wrap the fetch's error", name, err)
		}
	}

	// A duplicate is logged and ignored (here the core got the partition
	// while it was fetched).
	c = newCore()
	c.got[0], c.got[2], c.got[3] = 1, 1, 1
	if err := Gather(context.Background(), c, round(t, func(ctx context.Context, p int) (*partial, error) {
		c.got[p] = 5 // before Gather reads the answer: the fan-out's channel orders it
		return &partial{p, 6}, nil
	})); err != nil || c.got[1] != 5 {
		t.Errorf("duplicate: err %v, core %v", err, c.got)
	}

	// Skip gives partitions up, on the calling goroutine; one it declines
	// fails the round.
	c = newCore()
	r = round(t, func(ctx context.Context, p int) (*partial, error) {
		if p%2 == 1 {
			return nil, boom
		}
		return &partial{p, 1}, nil
	})
	var skipped []int
	r.Skip = func(p int, err error) (bool, error) {
		if !errors.Is(err, boom) {
			return false, nil
		}
		skipped = append(skipped, p)
		c.got[p] = -1
		return true, nil
	}
	if err := Gather(context.Background(), c, r); err != nil || !c.Ready() {
		t.Errorf("skipped: err %v, core %v", err, c.got)
	}
	slices.Sort(skipped)
	if !slices.Equal(skipped, []int{1, 3}) {
		t.Errorf("skipped %v, want [1 3]", skipped)
	}
	c = newCore()
	r.Skip = func(p int, err error) (bool, error) { return false, nil }
	if err := Gather(context.Background(), c, r); !errors.Is(err, boom) {
		t.Errorf("Skip declined: err %v, want boom", err)
	}

	// The first failure cancels the fetches in flight, and Timeout bounds
	// the round.
	c = newCore()
	r = round(t, func(ctx context.Context, p int) (*partial, error) {
		if p == 0 {
			return nil, boom
		}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	r.Parallel = 0
	if err := Gather(context.Background(), c, r); !errors.Is(err, boom) {
		t.Errorf("first failure: err %v, want boom", err)
	}
	r = round(t, func(ctx context.Context, p int) (*partial, error) {
		if p == 3 {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return &partial{p, 1}, nil
	})
	r.Timeout = time.Millisecond
	if err := Gather(context.Background(), newCore(), r); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "partition 3") {
		t.Errorf("timeout: err %v, want DeadlineExceeded naming partition 3", err)
	}
}

// Loop reports the injected clock's phases each round, stops at the final
// report, and stops on the first error of Gather (zero report), Advance
// or OnReport (their report).
func TestLoop(t *testing.T) {
	var tick time.Duration
	base := time.Unix(0, 0)
	n := 0
	var seen []int
	l := Loop[int]{
		Gather:  func() error { tick += 3 * time.Second; return nil },
		Advance: func() (int, error) { tick += 2 * time.Second; n++; return n, nil },
		Final:   func(r int) bool { return r == 3 },
		Now:     func() time.Time { tick += time.Second; return base.Add(tick) },
		OnReport: func(r int, tm Timing) error {
			if want := (Timing{Total: 7 * time.Second, Stats: 4 * time.Second, Solve: 3 * time.Second}); tm != want {
				t.Errorf("round %d: timing %+v, want %+v", r, tm, want)
			}
			seen = append(seen, r)
			return nil
		},
	}
	if r, err := l.Run(); r != 3 || err != nil || !slices.Equal(seen, []int{1, 2, 3}) {
		t.Errorf("Run: %d, %v after reports %v, want 3 after [1 2 3]", r, err, seen)
	}

	boom := errors.New("boom")
	n = 0
	l.OnReport, l.Now = nil, nil
	l.Gather = func() error {
		if n == 1 {
			return boom
		}
		return nil
	}
	if r, err := l.Run(); r != 0 || !errors.Is(err, boom) {
		t.Errorf("Gather error: %d, %v", r, err)
	}
	n = 0
	l.Gather = func() error { return nil }
	l.Advance = func() (int, error) { n++; return n, boom }
	if r, err := l.Run(); r != 1 || !errors.Is(err, boom) {
		t.Errorf("Advance error: %d, %v", r, err)
	}
	n = 0
	l.Advance = func() (int, error) { n++; return n, nil }
	l.OnReport = func(r int, _ Timing) error {
		if r == 2 {
			return boom
		}
		return nil
	}
	if r, err := l.Run(); r != 2 || !errors.Is(err, boom) {
		t.Errorf("OnReport error: %d, %v", r, err)
	}
}

// TestGatherOrder fetches in Order's order when fewer than all partitions
// are in flight at once, and ascending when all are (Order is not asked).
func TestGatherOrder(t *testing.T) {
	for _, c := range []struct {
		parallel int
		want     []int
	}{{1, []int{3, 1, 2, 0}}, {0, nil}} {
		var mu sync.Mutex
		var asked []int
		r := round(t, func(ctx context.Context, p int) (*partial, error) {
			mu.Lock()
			asked = append(asked, p)
			mu.Unlock()
			return &partial{p, 1}, nil
		})
		r.Parallel = c.parallel
		ordered := false
		r.Order = func(parts []int) []int {
			ordered = true
			return []int{3, 1, 2, 0}
		}
		if err := Gather(context.Background(), newCore(), r); err != nil {
			t.Fatal(err)
		}
		if c.want != nil && !slices.Equal(asked, c.want) {
			t.Errorf("parallel %d: fetched in the order %v, want %v", c.parallel, asked, c.want)
		}
		if c.want == nil && ordered {
			t.Errorf("parallel %d: Order asked although every partition is in flight at once", c.parallel)
		}
	}
	if OrderOf(struct{}{}) != nil {
		t.Error("OrderOf of a value without Schedule is not nil")
	}
}
