package fleet

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"altmin/msg"
	"altmin/placement"
)

// composeMembers returns the shards of the compose placement: 8
// partitions over 4 shards, replication 2.
func composeMembers() []Member {
	return []Member{
		{ID: "shard-0", Addr: "shard-0", Partitions: []int{0, 1, 2, 3}},
		{ID: "shard-1", Addr: "shard-1", Partitions: []int{2, 3, 4, 5}},
		{ID: "shard-2", Addr: "shard-2", Partitions: []int{4, 5, 6, 7}},
		{ID: "shard-3", Addr: "shard-3", Partitions: []int{0, 1, 6, 7}},
	}
}

// placed returns the shards of placement.Plan pl.
func placed(t *testing.T, pl placement.Plan) []Member {
	t.Helper()
	var ms []Member
	for i := range pl.Shards {
		ps, err := pl.Shard(i)
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("shard-%d", i)
		ms = append(ms, Member{ID: id, Addr: id, Partitions: ps})
	}
	return ms
}

// spanCaller answers every call at once with an empty fourth moment of
// the span asked, and records the shard each span was first asked of.
type spanCaller struct {
	mu    sync.Mutex
	first map[msg.Span]string
	calls int
}

func (c *spanCaller) Call(_ context.Context, m Member, _ msg.Request, s msg.Span) (msg.Partial, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if _, ok := c.first[s]; !ok {
		c.first[s] = m.ID
	}
	return &msg.Moment4{Partition: s.Lo, Parts: s.N, K: 1, Sum: []float64{0}}, nil
}

// checkPlan fails unless plan covers exactly the partitions of missing,
// each once, with canonical nodes of the reduction tree of parts
// partitions, each held by a shard of live; it then fetches each span
// through f and checks that the shard asked first (the one Plan chose) is
// a live holder of it. It returns the shard asked first for each span.
func checkPlan(t *testing.T, what string, f *Fetcher, live []Member, missing []int, parts int, plan []msg.Span) map[msg.Span]string {
	t.Helper()
	covered := make([]int, parts)
	for _, s := range plan {
		if err := s.Check(parts); err != nil {
			t.Fatalf("%s: plan %v: %v", what, plan, err)
		}
		for p := s.Lo; p < s.End(parts); p++ {
			covered[p]++
		}
		if len(Holders(live, s, parts)) == 0 {
			t.Fatalf("%s: plan %v: no live shard holds %s", what, plan, s)
		}
	}
	for p, n := range covered {
		if want := b2i(slices.Contains(missing, p)); n != want {
			t.Fatalf("%s: plan %v covers partition %d %d times, want %d", what, plan, p, n, want)
		}
	}
	c := f.caller.(*spanCaller)
	c.mu.Lock()
	c.first = map[msg.Span]string{}
	c.mu.Unlock()
	req := &msg.Moment4Request{D: 1, K: 1, V: []float64{1}}
	for _, s := range plan {
		v, err := f.Fetch(context.Background(), req, s)
		if err != nil || v.Span() != s {
			t.Fatalf("%s: fetch of %s: %v, %v", what, s, v, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range plan {
		id := c.first[s]
		if !slices.ContainsFunc(Holders(live, s, parts), func(m Member) bool { return m.ID == id }) {
			t.Fatalf("%s: %s was first asked of %q, not a live holder of it", what, s, id)
		}
	}
	return maps.Clone(c.first)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func allParts(parts int) []int {
	out := make([]int, parts)
	for p := range out {
		out[p] = p
	}
	return out
}

// TestPlanSpans: with shards holding aligned ranges of partitions (the
// compose placement, and placement's plan for 4 shards, replication 2,
// over 512 partitions), a round of every partition is planned as one span
// per shard, each first asked of a different shard; with a shard gone the
// plan still covers every partition exactly once with spans held by live
// shards, and so it does for any set of missing partitions.
func TestPlanSpans(t *testing.T) {
	cases := []struct {
		name    string
		members []Member
		parts   int
	}{
		{"compose, 8 partitions", composeMembers(), 8},
		{"placement, 512 partitions", placed(t, placement.Plan{Partitions: 512, Shards: 4, Replication: 2}), 512},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			view := NewStaticView(tc.members...)
			f := newFetcher(t, Config{Partitions: tc.parts}, view, &spanCaller{})
			plan := f.Plan(allParts(tc.parts), tc.parts)
			if len(plan) != 4 {
				t.Fatalf("plan %v: %d spans, want 4 (one per shard)", plan, len(plan))
			}
			for _, s := range plan {
				if s.N != tc.parts/4 {
					t.Fatalf("plan %v: %s, want spans of %d partitions", plan, s, tc.parts/4)
				}
			}
			first := checkPlan(t, "every shard live", f, tc.members, allParts(tc.parts), tc.parts, plan)
			shards := map[string]bool{}
			for _, s := range plan {
				shards[first[s]] = true
			}
			if len(shards) != 4 {
				t.Fatalf("plan %v asks first the shards %v, want 4 distinct", plan, first)
			}

			for _, gone := range tc.members {
				live := without(tc.members, gone.ID)
				view.Set(live...)
				what := gone.ID + " gone"
				plan := f.Plan(allParts(tc.parts), tc.parts)
				checkPlan(t, what, f, live, allParts(tc.parts), tc.parts, plan)
				if len(plan) < 3 {
					t.Errorf("%s: plan %v: %d spans for 3 live shards", what, plan, len(plan))
				}
			}
			view.Set(tc.members...)

			rng := rand.New(rand.NewPCG(uint64(tc.parts), 1))
			for trial := range 50 {
				var missing []int
				for p := range tc.parts {
					if rng.IntN(3) > 0 {
						missing = append(missing, p)
					}
				}
				live := tc.members
				if trial%2 == 1 {
					live = without(tc.members, tc.members[rng.IntN(len(tc.members))].ID)
				}
				view.Set(live...)
				checkPlan(t, fmt.Sprintf("trial %d, missing %v", trial, placement.Ranges(missing)), f, live, missing, tc.parts, f.Plan(missing, tc.parts))
			}
		})
	}
}

// TestSpanFailsFast: the fetch of a span of several partitions whose only
// holder fails, or is gone, fails at once with ErrUnavailable naming the
// span, without waiting for RejoinTimeout (the round asks for its halves
// instead), having asked that holder once; the fetch of a single
// partition whose holders fail waits on the clock as before.
func TestSpanFailsFast(t *testing.T) {
	members := composeMembers()
	span := msg.Span{Lo: 0, N: 4} // held by shard-0 alone
	req := &msg.Moment4Request{D: 1, K: 1, V: []float64{1}}
	base := &spanCaller{first: map[msg.Span]string{}}
	caller, ev := record(FailWhen(base, func(m Member, _ msg.Request, _ msg.Span) bool { return m.ID == "shard-0" || m.ID == "shard-3" }))
	clk := NewFakeClock(t0) // never advanced: a fetch that waited would fail atOnce
	view := NewStaticView(members...)
	f := newFetcher(t, Config{Partitions: 8, RejoinTimeout: time.Hour, RetryDelay: time.Second, Clock: clk}, view, caller)

	r := atOnce(t, clk, goFetch(context.Background(), f, req, span))
	if !errors.Is(r.err, ErrUnavailable) || !strings.Contains(r.err.Error(), ErrInjected.Error()) ||
		!strings.Contains(r.err.Error(), "partitions 0-3") || r.v != nil {
		t.Fatalf("span whose only holder fails: %v, %v; want ErrUnavailable naming partitions 0-3 and the failure", r.v, r.err)
	}
	if e := expectEvent(t, ev, "shard-0", false); e.p != span {
		t.Fatalf("call for %v, want %v", e.p, span)
	}
	expectEvent(t, ev, "shard-0", true)
	noEvent(t, ev)

	view.Set(without(members, "shard-0")...)
	r = atOnce(t, clk, goFetch(context.Background(), f, req, span))
	if !errors.Is(r.err, ErrUnavailable) || !strings.Contains(r.err.Error(), "partitions 0-3") {
		t.Fatalf("span with no live holder: %v; want ErrUnavailable naming partitions 0-3", r.err)
	}
	noEvent(t, ev)

	// A span held by a shard that answers is fetched.
	r = atOnce(t, clk, goFetch(context.Background(), f, req, msg.Span{Lo: 4, N: 2}))
	if r.err != nil || r.v.Span() != (msg.Span{Lo: 4, N: 2}) {
		t.Fatalf("span with a live holder: %v, %v", r.v, r.err)
	}
	expectEvent(t, ev, "shard-1", false) // holders shard-1, shard-2, rotated by 4/2
	expectEvent(t, ev, "shard-1", true)

	// A single partition whose live holders (shard-3 here) all fail waits
	// for a retry and a rejoin instead.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := goFetch(ctx, f, req, msg.Leaf(0))
	expectEvent(t, ev, "shard-3", false)
	expectEvent(t, ev, "shard-3", true)
	awaitTimer(t, clk, at(time.Second), res)
	select {
	case r := <-res:
		t.Fatalf("the fetch of a single partition ended without waiting: %v", r.err)
	default:
	}
	cancel()
	if r := <-res; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("the waiting fetch, cancelled: %v", r.err)
	}
}

// TestLeafNamesHoldersSeenBySpan: a partition halved out of a span whose
// holders then left the view is named with those holders in its error,
// not as a partition no shard ever listed.
func TestLeafNamesHoldersSeenBySpan(t *testing.T) {
	members := composeMembers()
	req := &msg.Moment4Request{D: 1, K: 1, V: []float64{1}}
	base := &spanCaller{first: map[msg.Span]string{}}
	caller, _ := record(FailWhen(base, func(m Member, _ msg.Request, _ msg.Span) bool { return m.ID == "shard-0" || m.ID == "shard-3" }))
	clk := NewFakeClock(t0)
	view := NewStaticView(members...)
	f := newFetcher(t, Config{Partitions: 8, RetryDelay: time.Second, Clock: clk}, view, caller)
	if r := atOnce(t, clk, goFetch(context.Background(), f, req, msg.Span{Lo: 0, N: 2})); !errors.Is(r.err, ErrUnavailable) {
		t.Fatalf("span whose holders fail: %v, want ErrUnavailable", r.err)
	}
	view.Set(without(members, "shard-0", "shard-3")...)
	r := atOnce(t, clk, goFetch(context.Background(), f, req, msg.Leaf(1)))
	if !errors.Is(r.err, ErrUnavailable) || !strings.Contains(r.err.Error(), "held by shard-0, shard-3") {
		t.Fatalf("partition 1 after its holders left: %v; want ErrUnavailable naming shard-0 and shard-3", r.err)
	}
}
