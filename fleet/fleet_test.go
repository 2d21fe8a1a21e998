package fleet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"altmin/data"
	"altmin/model"
	"altmin/msg"
	"altmin/round"
	"altmin/shard"
)

func TestHolders(t *testing.T) {
	ms := []Member{{ID: "c", Partitions: []int{1, 2}}, {ID: "a", Partitions: []int{1}}, {ID: "b", Partitions: []int{2}}}
	ids := func(hs []Member) (s []string) {
		for _, h := range hs {
			s = append(s, h.ID)
		}
		return s
	}
	if got := ids(Holders(ms, msg.Leaf(1), 4)); !slices.Equal(got, []string{"c", "a"}) {
		t.Errorf("holders of 1 = %v, want [c a] (sorted, rotated by 1)", got)
	}
	if got := ids(Holders(ms, msg.Leaf(2), 4)); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("holders of 2 = %v, want [b c]", got)
	}
	// A span's holders hold all of its partitions (clipped to P), rotated
	// by the span's index Lo/N.
	if got := ids(Holders(ms, msg.Span{Lo: 2, N: 2}, 3)); !slices.Equal(got, []string{"c", "b"}) {
		t.Errorf("holders of span (2, 2) of 3 partitions = %v, want [c b] (sorted, rotated by 1)", got)
	}
	if got := ids(Holders(ms, msg.Span{Lo: 2, N: 2}, 4)); len(got) != 0 {
		t.Errorf("holders of partitions 2-3 = %v, want none", got)
	}
	if got := ids(Holders(ms, msg.Span{Lo: 0, N: 2}, 4)); len(got) != 0 {
		t.Errorf("holders of partitions 0-1 = %v, want none", got)
	}
	if got := Missing(ms, 4); !slices.Equal(got, []int{0, 3}) {
		t.Errorf("missing = %v, want [0 3]", got)
	}
}

// TestSchedule: without the data set's partition count (Config.Partitions
// 0) the plan is single partitions; partitions held in contiguous ranges
// are requested round robin over their first holders, so that a bounded
// number of requests in flight reaches different shards; partitions nobody
// holds form one more queue, placed by first appearance.
func TestSchedule(t *testing.T) {
	ms := []Member{{ID: "s1", Partitions: []int{0, 1, 2}}, {ID: "s2", Partitions: []int{3, 4, 5}}, {ID: "s3", Partitions: []int{6, 7}}}
	f := newFetcher(t, Config{}, NewStaticView(ms...), Engines{})
	leaves := func(ps ...int) (out []msg.Span) {
		for _, p := range ps {
			out = append(out, msg.Leaf(p))
		}
		return out
	}
	if got, want := f.Plan([]int{0, 1, 2, 3, 4, 5, 6, 7, 9}, 10), leaves(0, 3, 6, 9, 1, 4, 7, 2, 5); !slices.Equal(got, want) {
		t.Errorf("Plan = %v, want %v", got, want)
	}
	if got := f.Plan([]int{4, 5}, 10); !slices.Equal(got, leaves(4, 5)) {
		t.Errorf("Plan of one shard's partitions = %v, want them in order", got)
	}
	var _ round.Planner = f
}

// TestFaultsBitIdentical fetches rounds of every kind through one fetcher
// (iterations of a 1-hidden-layer model, the three moment passes of the
// tensor initialization, solve steps of a deep network) from real shard
// engines behind fault decorators, all partitions at once, and checks that
// every partial is bit-identical to the in-process one. The clock advances
// to each timer as it is armed, so retries and hedges happen without
// waiting.
func TestFaultsBitIdentical(t *testing.T) {
	c := newCluster(t, synthetic(t), 4)
	reqs := append(statsReqs(c.d, 2, 4), momentReqs(c.d)...)
	reqs = append(reqs, deepReqs(data.RandomNet(model.NewNet(c.d, 4, 2), 1), 2)...)
	want := make([][]msg.Partial, len(reqs))
	for i, req := range reqs {
		want[i] = c.reference(t, req)
	}
	// Shard-0 is the first holder asked for partitions 0 and 4, shard-2
	// for 1, 2, 5 and 6 (see Holders); hits counts the calls failed.
	var hits [2]atomic.Int64
	momentOn0 := func(m Member, req msg.Request, p msg.Span) bool {
		fail := m.ID == "shard-0" && (req.Kind() == msg.KindMoments12 || req.Kind() == msg.KindMoment4)
		if fail {
			hits[0].Add(1)
		}
		return fail
	}
	deadFrom2 := func(m Member, req msg.Request, p msg.Span) bool {
		fail := m.ID == "shard-2" && req.Kind() == msg.KindStats && req.Round() >= 2
		if fail {
			hits[1].Add(1)
		}
		return fail
	}
	cases := []struct {
		name  string
		wrap  func(Caller) Caller
		hedge time.Duration
	}{
		{"healthy", func(c Caller) Caller { return c }, 0},
		{"fail call 5", func(c Caller) Caller { return FailNth(c, 5) }, 0},
		{"fail call 37 (a moment pass)", func(c Caller) Caller { return FailNth(c, 37) }, 0},
		{"shard-2 dead from iteration 2", func(c Caller) Caller { return FailWhen(c, deadFrom2) }, 0},
		{"shard-0 fails every moment call", func(c Caller) Caller { return FailWhen(c, momentOn0) }, 0},
		{"drop 30%", func(c Caller) Caller { return Drop(c, 0.3, 42) }, 0},
		{"shard-2 hangs, hedged", func(c Caller) Caller {
			// A channel of the subtest's bubble, so that a fetch stuck on
			// it is a deadlock.
			never := make(chan struct{})
			return BlockWhen(c, never, func(m Member, _ msg.Request, _ msg.Span) bool { return m.ID == "shard-2" })
		}, time.Millisecond},
		{"composed", func(c Caller) Caller {
			return Drop(FailNth(FailWhen(c, func(m Member, _ msg.Request, p msg.Span) bool { return m.ID == "shard-0" && p == msg.Leaf(0) }), 3), 0.1, 9)
		}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := Config{HedgeAfter: tc.hedge, RejoinTimeout: 10 * time.Second, RetryDelay: time.Millisecond, Clock: autoClock(t)}
				f := newFetcher(t, cfg, NewStaticView(c.members...), tc.wrap(c.engines))
				for i, req := range reqs {
					checkRound(t, f, req, want[i])
					if tc.name == "shard-2 dead from iteration 2" && req.Kind() == msg.KindStats {
						if used := slices.Contains(f.Answered(req.Round()), "shard-2"); used != (req.Round() < 2) {
							t.Errorf("iteration %d: answers used from %v", req.Round(), f.Answered(req.Round()))
						}
					}
				}
			})
		})
	}
	if n := hits[0].Load(); n != 6 { // partitions 0 and 4 in each of the three passes
		t.Errorf("shard-0 failed %d moment calls, want 6", n)
	}
	if n := hits[1].Load(); n != 8 { // partitions 1, 2, 5, 6 in iterations 2 and 3
		t.Errorf("shard-2 failed %d calls, want 8", n)
	}
}

// TestDeepFailover: the solve steps of a deep network fetched from replicas
// through the same fetcher, one of which fails from step 1 or which drop
// calls, give the bits of the in-process run, and the shards used are
// recorded per step; a partition whose holders all lack the deep kind
// fails at once with errors.ErrUnsupported naming it and the kind.
func TestDeepFailover(t *testing.T) {
	tch, err := data.ParseDeepTeacher("model=deep,d=6,hidden=4-2,n=400,seed=1")
	if err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, tch, 4)
	reqs := deepReqs(tch.Net(), 4)
	var calls atomic.Int64
	cases := []struct {
		name string
		wrap func(Caller) Caller
		used func(step int) []string // the shards answering, nil: not checked
	}{
		{"healthy", func(c Caller) Caller { return c },
			func(int) []string { return []string{"shard-0", "shard-2", "shard-3"} }},
		{"shard-2 fails from step 1", func(c Caller) Caller {
			return FailWhen(c, func(m Member, req msg.Request, _ msg.Span) bool { return m.ID == "shard-2" && req.Round() >= 1 })
		}, func(step int) []string {
			if step == 0 {
				return []string{"shard-0", "shard-2", "shard-3"}
			}
			return []string{"shard-0", "shard-1", "shard-3"}
		}},
		{"every third call fails", func(c Caller) Caller {
			return FailWhen(c, func(Member, msg.Request, msg.Span) bool { return calls.Add(1)%3 == 0 })
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := Config{RejoinTimeout: 10 * time.Second, RetryDelay: time.Millisecond, Clock: autoClock(t)}
				f := newFetcher(t, cfg, NewStaticView(c.members...), tc.wrap(c.engines))
				for _, req := range reqs {
					checkRound(t, f, req, c.reference(t, req))
					got := f.Answered(req.Round())
					if len(got) == 0 || tc.used != nil && !slices.Equal(got, tc.used(req.Round())) {
						t.Errorf("step %d: answers used from %v", req.Round(), got)
					}
				}
			})
		})
	}

	old := Hook(c.engines, func(_ context.Context, m Member, req msg.Request, _ msg.Span) error {
		if req.Kind() == msg.KindDeep {
			return fmt.Errorf("shard %s: %w", m.ID, errors.ErrUnsupported)
		}
		return nil
	})
	clk := NewFakeClock(t0)
	f := newFetcher(t, Config{RejoinTimeout: time.Hour, Clock: clk}, NewStaticView(c.members...), old)
	r := atOnce(t, clk, goFetch(context.Background(), f, reqs[0], msg.Leaf(3)))
	if !errors.Is(r.err, errors.ErrUnsupported) || !strings.Contains(r.err.Error(), "partition 3") || !strings.Contains(r.err.Error(), "deep") {
		t.Fatalf("no holder implements deep requests: %v", r.err)
	}
}

// TestHedge: a holder that has not answered HedgeAfter after it was asked
// is backed up by the next one, not a moment earlier, and the first answer
// wins; the slow call is then cancelled.
func TestHedge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, synthetic(t), 4)
		req := statsReqs(c.d, 2, 1)[0]
		never := make(chan struct{})
		caller, ev := record(BlockWhen(c.engines, never, func(m Member, _ msg.Request, _ msg.Span) bool { return m.ID == "shard-0" }))
		clk := NewFakeClock(t0)
		f := newFetcher(t, Config{HedgeAfter: 3 * time.Second, RejoinTimeout: time.Hour, Clock: clk}, NewStaticView(c.members...), caller)

		res := goFetch(context.Background(), f, req, msg.Leaf(0)) // holders: shard-0, shard-1
		expectEvent(t, ev, "shard-0", false)
		awaitTimer(t, clk, at(3*time.Second), res)
		clk.Advance(3*time.Second - 1)
		noEvent(t, ev)
		clk.Advance(1)
		expectEvent(t, ev, "shard-1", false)
		expectEvent(t, ev, "shard-1", true)
		r := <-res
		if r.err != nil || !same(r.v, c.reference(t, req)[0]) {
			t.Fatalf("hedged fetch: %v", r.err)
		}
		if e := expectEvent(t, ev, "shard-0", true); !errors.Is(e.err, context.Canceled) {
			t.Errorf("the slow call ended with %v, want it cancelled", e.err)
		}
		if got := f.Answered(0); !slices.Equal(got, []string{"shard-1"}) {
			t.Errorf("answers used from %v, want [shard-1]", got)
		}
	})
}

// TestCallTimeout: when a call's deadline passes on the clock its context
// is cancelled and the next holder asked; when every holder's deadline
// passes, the fetch fails with ErrUnavailable naming the deadline.
func TestCallTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, synthetic(t), 4)
		req := statsReqs(c.d, 2, 1)[0]
		never := make(chan struct{})
		hang := func(ids ...string) (Caller, <-chan event) {
			return record(BlockWhen(c.engines, never, func(m Member, _ msg.Request, _ msg.Span) bool { return slices.Contains(ids, m.ID) }))
		}

		caller, ev := hang("shard-0")
		clk := NewFakeClock(t0)
		f := newFetcher(t, Config{CallTimeout: 5 * time.Second, RejoinTimeout: time.Hour, Clock: clk}, NewStaticView(c.members...), caller)
		res := goFetch(context.Background(), f, req, msg.Leaf(0))
		expectEvent(t, ev, "shard-0", false)
		awaitTimer(t, clk, at(5*time.Second), res)
		clk.Advance(5 * time.Second)
		if e := expectEvent(t, ev, "shard-0", true); !errors.Is(e.err, context.Canceled) {
			t.Errorf("the call past its deadline ended with %v, want it cancelled", e.err)
		}
		expectEvent(t, ev, "shard-1", false)
		expectEvent(t, ev, "shard-1", true)
		if r := <-res; r.err != nil || !same(r.v, c.reference(t, req)[0]) {
			t.Fatalf("fetch after a call deadline: %v", r.err)
		}

		caller, ev = hang("shard-0", "shard-1")
		clk = NewFakeClock(t0)
		f = newFetcher(t, Config{CallTimeout: 5 * time.Second, Clock: clk}, NewStaticView(c.members...), caller)
		res = goFetch(context.Background(), f, req, msg.Leaf(0))
		for i, id := range []string{"shard-0", "shard-1"} {
			expectEvent(t, ev, id, false)
			awaitTimer(t, clk, at(time.Duration(i+1)*5*time.Second), res)
			clk.Advance(5 * time.Second)
			expectEvent(t, ev, id, true)
		}
		r := <-res
		if !errors.Is(r.err, ErrUnavailable) || !strings.Contains(r.err.Error(), "shard-1: call deadline 5s passed") {
			t.Fatalf("every call past its deadline: %v", r.err)
		}
	})
}

// TestRetryDelay: holders that failed but are still listed alive are asked
// again, in Holders' order, RetryDelay after the last one failed, not
// before.
func TestRetryDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, synthetic(t), 4)
		req := momentReqs(c.d)[2]
		var n atomic.Int64
		caller, ev := record(FailWhen(c.engines, func(Member, msg.Request, msg.Span) bool { return n.Add(1) <= 2 }))
		clk := NewFakeClock(t0)
		f := newFetcher(t, Config{RetryDelay: 2 * time.Second, RejoinTimeout: time.Hour, Clock: clk}, NewStaticView(c.members...), caller)
		res := goFetch(context.Background(), f, req, msg.Leaf(0))
		for _, id := range []string{"shard-0", "shard-1"} {
			expectEvent(t, ev, id, false)
			if e := expectEvent(t, ev, id, true); !errors.Is(e.err, ErrInjected) {
				t.Fatalf("call %+v, want it failed", e)
			}
		}
		awaitTimer(t, clk, at(2*time.Second), res)
		noEvent(t, ev)
		clk.Advance(2*time.Second - 1)
		noEvent(t, ev)
		clk.Advance(1)
		expectEvent(t, ev, "shard-0", false)
		if r := <-res; r.err != nil || !same(r.v, c.reference(t, req)[0]) {
			t.Fatalf("fetch after a retry: %v", r.err)
		}
	})
}

// TestMemberLeaves: a call to a shard that leaves the membership view is
// cancelled and the next holder asked, with no clock involved.
func TestMemberLeaves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, synthetic(t), 4)
		req := momentReqs(c.d)[1]
		never := make(chan struct{})
		caller, ev := record(BlockWhen(c.engines, never, func(m Member, _ msg.Request, _ msg.Span) bool { return m.ID == "shard-0" }))
		view := NewStaticView(c.members...)
		clk := NewFakeClock(t0)
		f := newFetcher(t, Config{RejoinTimeout: time.Hour, Clock: clk}, view, caller)
		res := goFetch(context.Background(), f, req, msg.Leaf(0))
		expectEvent(t, ev, "shard-0", false)
		view.Set(without(c.members, "shard-0")...)
		if e := expectEvent(t, ev, "shard-0", true); !errors.Is(e.err, context.Canceled) {
			t.Errorf("the call to the shard that left ended with %v, want it cancelled", e.err)
		}
		expectEvent(t, ev, "shard-1", false)
		if r := atOnce(t, clk, res); r.err != nil || !same(r.v, c.reference(t, req)[0]) {
			t.Fatalf("fetch after a member left: %v", r.err)
		}
	})
}

// TestRejoin: a fetch for a partition no live shard holds waits for one to
// join, of any kind of request; when none joins, it fails exactly
// RejoinTimeout later with ErrUnavailable naming the partition.
func TestRejoin(t *testing.T) {
	c := newCluster(t, synthetic(t), 4)
	const rejoin = 10 * time.Second
	for _, req := range []msg.Request{statsReqs(c.d, 2, 1)[0], momentReqs(c.d)[0]} {
		t.Run(req.Kind().String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				caller, ev := record(c.engines)
				view := NewStaticView(without(c.members, "shard-0", "shard-1")...) // partitions 0 and 4 unheld
				clk := NewFakeClock(t0)
				f := newFetcher(t, Config{RejoinTimeout: rejoin, Clock: clk}, view, caller)
				res := goFetch(context.Background(), f, req, msg.Leaf(0))
				awaitTimer(t, clk, at(rejoin), res)
				noEvent(t, ev)
				view.Set(c.members...)
				expectEvent(t, ev, "shard-0", false)
				if r := <-res; r.err != nil || !same(r.v, c.reference(t, req)[0]) {
					t.Fatalf("fetch after a rejoin: %v", r.err)
				}
				expectEvent(t, ev, "shard-0", true)

				view.Set(without(c.members, "shard-0", "shard-1")...)
				res = goFetch(context.Background(), f, req, msg.Leaf(4))
				awaitTimer(t, clk, at(rejoin), res)
				clk.Advance(rejoin - 1)
				select {
				case r := <-res:
					t.Fatalf("the fetch ended before the rejoin timeout: %v", r.err)
				default:
				}
				clk.Advance(1)
				r := <-res
				if !errors.Is(r.err, ErrUnavailable) || !strings.Contains(r.err.Error(), "partition 4") || !strings.Contains(r.err.Error(), "no shard ever listed it") {
					t.Fatalf("nobody rejoined: %v", r.err)
				}
				noEvent(t, ev)
			})
		})
	}
}

// TestUnavailable: with the only holders of partitions 0 and 4 gone, a
// round fails exactly those partitions, with ErrUnavailable naming each,
// and fetches every other one (the port of a degraded run: nothing is
// left out silently); a partition whose holders fail every call fails
// naming them and the last error.
func TestUnavailable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, synthetic(t), 4)
		req := statsReqs(c.d, 2, 1)[0]
		want := c.reference(t, req)
		cfg := Config{RejoinTimeout: time.Second, RetryDelay: 100 * time.Millisecond, Clock: autoClock(t)}
		f := newFetcher(t, cfg, NewStaticView(without(c.members, "shard-0", "shard-1")...), c.engines)
		got, errs := fetchAll(f, req)
		for p := range parts {
			if p%4 == 0 {
				if !errors.Is(errs[p], ErrUnavailable) || !strings.Contains(errs[p].Error(), fmt.Sprintf("partition %d:", p)) {
					t.Errorf("partition %d: %v, want ErrUnavailable naming it", p, errs[p])
				}
				continue
			}
			if errs[p] != nil || !same(got[p], want[p]) {
				t.Errorf("partition %d: %v", p, errs[p])
			}
		}

		failing := FailWhen(c.engines, func(_ Member, _ msg.Request, p msg.Span) bool { return p == msg.Leaf(1) })
		f = newFetcher(t, cfg, NewStaticView(c.members...), failing)
		_, err := f.Fetch(context.Background(), req, msg.Leaf(1))
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "held by shard-1, shard-2") ||
			!strings.Contains(err.Error(), "last error: shard shard-") || !strings.Contains(err.Error(), ErrInjected.Error()) {
			t.Fatalf("holders failing every call: %v", err)
		}
	})
}

// TestUnsupported: shards that do not implement the moment passes (an
// older build): another replica is asked, and when no holder of a
// partition implements them the fetch fails at once, naming the partition
// and its shards, having asked each once; other kinds are unaffected.
func TestUnsupported(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, synthetic(t), 4)
		moments := momentReqs(c.d)
		old := func(ids ...string) (Caller, <-chan event) {
			return record(Hook(c.engines, func(_ context.Context, m Member, req msg.Request, _ msg.Span) error {
				if req.Kind() != msg.KindStats && slices.Contains(ids, m.ID) {
					return fmt.Errorf("shard %s: %w", m.ID, errors.ErrUnsupported)
				}
				return nil
			}))
		}
		clk := NewFakeClock(t0) // never advanced: a fetch that waited would fail atOnce
		cfg := Config{RejoinTimeout: time.Hour, Clock: clk}

		caller, _ := old("shard-0", "shard-2")
		f := newFetcher(t, cfg, NewStaticView(c.members...), caller)
		for _, req := range moments {
			for p, want := range c.reference(t, req) {
				if r := atOnce(t, clk, goFetch(context.Background(), f, req, msg.Leaf(p))); r.err != nil || !same(r.v, want) {
					t.Fatalf("%s, partition %d: %v", req.Kind(), p, r.err)
				}
			}
		}

		caller, ev := old("shard-1", "shard-2") // partition 1 is held by shard-1 and shard-2 only
		f = newFetcher(t, cfg, NewStaticView(c.members...), caller)
		r := atOnce(t, clk, goFetch(context.Background(), f, moments[0], msg.Leaf(1)))
		if !errors.Is(r.err, errors.ErrUnsupported) || errors.Is(r.err, ErrUnavailable) ||
			!strings.Contains(r.err.Error(), "partition 1") || !strings.Contains(r.err.Error(), "shard-1, shard-2") || !strings.Contains(r.err.Error(), "moments12") {
			t.Fatalf("err = %v, want ErrUnsupported naming partition 1, its shards and the kind", r.err)
		}
		for _, id := range []string{"shard-2", "shard-1"} { // Holders' order for partition 1
			expectEvent(t, ev, id, false)
			expectEvent(t, ev, id, true)
		}
		noEvent(t, ev)
		req := statsReqs(c.d, 2, 1)[0]
		if r := atOnce(t, clk, goFetch(context.Background(), f, req, msg.Leaf(1))); r.err != nil || !same(r.v, c.reference(t, req)[1]) {
			t.Fatalf("stats from shards lacking the moment passes: %v", r.err)
		}
	})
}

// brokenAfter is a data source whose reads of rows from row from on fail
// once broken is set: data that break after a streaming shard checked them.
type brokenAfter struct {
	data.Source
	from   int
	broken atomic.Bool
}

func (b *brokenAfter) Read(lo, hi int, x, y []float64) error {
	if b.broken.Load() && hi > b.from {
		return fmt.Errorf("%w: read at row %d failed", data.ErrSize, b.from)
	}
	return b.Source.Read(lo, hi, x, y)
}

// TestUnreadableData: when every replica of a partition fails to read its
// rows (streaming shards whose data broke), the fetch fails at once with
// msg.ErrData, not ErrUnavailable, even with a long rejoin timeout; other
// partitions are fetched.
func TestUnreadableData(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := &brokenAfter{Source: synthetic(t), from: 350} // partition 7 of 8
		engines := Engines{}
		var members []Member
		ids := []int{0, 1, 2, 3, 4, 5, 6, 7}
		for s := range 2 { // both shards hold every partition
			eng, err := shard.NewStreamingEngine(shard.StreamConfig{Source: src, Partitions: parts, IDs: ids, Storage: shard.Float64, Resident: 1})
			if err != nil {
				t.Fatal(err)
			}
			id := fmt.Sprintf("shard-%d", s)
			engines[id] = eng
			members = append(members, Member{ID: id, Addr: id, Partitions: ids})
		}
		src.broken.Store(true)
		clk := NewFakeClock(t0)
		f := newFetcher(t, Config{RejoinTimeout: time.Hour, Clock: clk}, NewStaticView(members...), engines)
		req := statsReqs(6, 2, 1)[0]
		r := atOnce(t, clk, goFetch(context.Background(), f, req, msg.Leaf(7)))
		if !errors.Is(r.err, msg.ErrData) || errors.Is(r.err, ErrUnavailable) ||
			!strings.Contains(r.err.Error(), "partition 7") || !strings.Contains(r.err.Error(), "shard-0, shard-1") {
			t.Fatalf("fetch of unreadable data: %v, want msg.ErrData naming partition 7 and its shards", r.err)
		}
		if r := atOnce(t, clk, goFetch(context.Background(), f, req, msg.Leaf(0))); r.err != nil {
			t.Fatalf("fetch of readable data: %v", r.err)
		}
	})
}

// TestAnswered: the shards whose answers were used are recorded by the
// request's round, whatever its kind, for the last rounds only.
func TestAnswered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, synthetic(t), 4)
		f := newFetcher(t, Config{Clock: NewFakeClock(t0)}, NewStaticView(c.members...), c.engines)
		first := []string{"shard-0", "shard-2", "shard-3"} // the first holders of the partitions
		net := data.RandomNet(model.NewNet(c.d, 4, 2), 1)
		for _, req := range append(statsReqs(c.d, 2, 4), deepReqs(net, 1)...) {
			if _, errs := fetchAll(f, req); errors.Join(errs...) != nil {
				t.Fatal(errors.Join(errs...))
			}
		}
		for round, want := range [][]string{first, nil, first, first} {
			if got := f.Answered(round); !slices.Equal(got, want) {
				t.Errorf("Answered(%d) = %v, want %v", round, got, want)
			}
		}
	})
}

// TestFetchEnds: a fetch returns its context's error once the context is
// done, even while it waits for a holder; it refuses a nil request.
func TestFetchEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, synthetic(t), 4)
		clk := NewFakeClock(t0)
		f := newFetcher(t, Config{RejoinTimeout: time.Hour, Clock: clk}, NewStaticView(without(c.members, "shard-0", "shard-1")...), c.engines)
		ctx, cancel := context.WithCancel(context.Background())
		res := goFetch(ctx, f, statsReqs(c.d, 2, 1)[0], msg.Leaf(0))
		awaitTimer(t, clk, at(time.Hour), res)
		cancel()
		if r := <-res; !errors.Is(r.err, context.Canceled) {
			t.Fatalf("fetch with its context cancelled: %v", r.err)
		}
		if _, err := f.Fetch(context.Background(), nil, msg.Leaf(0)); !errors.Is(err, msg.ErrRequest) {
			t.Fatalf("fetch of a nil request: %v", err)
		}
	})
}

// TestRealClock: without a Clock the fetcher runs on the wall clock.
func TestRealClock(t *testing.T) {
	c := newCluster(t, synthetic(t), 4)
	f := newFetcher(t, Config{}, NewStaticView(c.members...), c.engines)
	if _, ok := f.cfg.Clock.(RealClock); !ok {
		t.Fatalf("clock %T, want RealClock", f.cfg.Clock)
	}
	req := momentReqs(c.d)[2]
	checkRound(t, f, req, c.reference(t, req))
	if tm := (RealClock{}).NewTimer(time.Hour); !tm.Stop() {
		t.Error("Stop of a pending wall-clock timer returned false")
	}
	<-(RealClock{}).NewTimer(0).C()
}
