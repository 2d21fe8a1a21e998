package fleet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"altmin/msg"
)

// The tests in this file drive the pure core (replicas) with scripted
// events and times: no goroutine, no clock.

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// holding returns members holding partition 0, which Holders asks in the
// order given (sorted IDs).
func holding(ids ...string) []Member {
	ms := make([]Member, len(ids))
	for i, id := range ids {
		ms[i] = Member{ID: id, Partitions: []int{0}}
	}
	return ms
}

// expect fails unless a launches exactly the shards ids and cancels
// exactly cancel, and is not done.
func expect(t *testing.T, step string, a actions, ids []string, cancel []string) {
	t.Helper()
	var got []string
	for _, m := range a.launch {
		got = append(got, m.ID)
	}
	if a.done || !slices.Equal(got, ids) || !slices.Equal(a.cancel, cancel) {
		t.Fatalf("%s: launch %v, cancel %v, done %v (%v); want launch %v, cancel %v, not done", step, got, a.cancel, a.done, a.err, ids, cancel)
	}
}

// expectErr fails unless a ends the fetch with an error wrapping target
// whose text contains every string of texts.
func expectErr(t *testing.T, step string, a actions, target error, texts ...string) {
	t.Helper()
	if !a.done || !errors.Is(a.err, target) {
		t.Fatalf("%s: done %v, err %v; want an error wrapping %v", step, a.done, a.err, target)
	}
	for _, s := range texts {
		if !strings.Contains(a.err.Error(), s) {
			t.Errorf("%s: error %q does not contain %q", step, a.err, s)
		}
	}
}

func expectWake(t *testing.T, step string, r *replicas, want time.Time) {
	t.Helper()
	if got := r.wake(); !got.Equal(want) {
		t.Fatalf("%s: wake at %v, want %v", step, got, want)
	}
}

var none []string

// TestReplicasFailover: holders are asked one at a time in Holders'
// order, the next one on each error; when all failed, nothing happens
// until RetryDelay has passed, then the first is asked again; an answer
// without error ends the fetch.
func TestReplicasFailover(t *testing.T) {
	r := newReplicas(msg.Leaf(0), 0, msg.KindStats, Config{RetryDelay: time.Second, RejoinTimeout: time.Hour})
	expect(t, "start", r.start(t0, holding("a", "b", "c")), []string{"a"}, none)
	expectWake(t, "one call in flight", r, time.Time{})
	expect(t, "a fails", r.answer(t0, "a", ErrInjected), []string{"b"}, none)
	expect(t, "b fails", r.answer(t0, "b", ErrInjected), []string{"c"}, none)
	expect(t, "c fails", r.answer(t0, "c", ErrInjected), none, none)
	expectWake(t, "all failed", r, at(time.Second))
	expect(t, "before the retry", r.tick(at(time.Second-1)), none, none)
	expect(t, "retry", r.tick(at(time.Second)), []string{"a"}, none)
	expect(t, "answer of no call", r.answer(at(time.Second), "zz", nil), none, none)
	if a := r.answer(at(time.Second), "a", nil); !a.done || a.err != nil {
		t.Fatalf("a answers: done %v, err %v; want done without error", a.done, a.err)
	}
}

// TestReplicasHedge: HedgeAfter after the last call started, the next
// holder is asked too; an error while calls are in flight asks the next
// holder at once.
func TestReplicasHedge(t *testing.T) {
	s := time.Second
	r := newReplicas(msg.Leaf(0), 0, msg.KindStats, Config{HedgeAfter: s, RetryDelay: s, RejoinTimeout: time.Hour})
	expect(t, "start", r.start(t0, holding("a", "b", "c", "d")), []string{"a"}, none)
	expectWake(t, "after start", r, at(s))
	expect(t, "before the hedge", r.tick(at(s-1)), none, none)
	a := r.tick(at(s))
	expect(t, "hedge", a, []string{"b"}, none)
	if !a.hedge {
		t.Error("the second call is not marked a hedge")
	}
	expectWake(t, "after the hedge", r, at(2*s))
	a = r.answer(at(s+1), "a", ErrInjected)
	expect(t, "a fails while b is in flight", a, []string{"c"}, none)
	if a.hedge {
		t.Error("a failover is marked a hedge")
	}
	expectWake(t, "after the failover", r, at(2*s+1))
	expect(t, "hedge", r.tick(at(2*s+1)), []string{"d"}, none)
	expect(t, "nobody left to hedge with", r.tick(at(10*s)), none, none)
	expectWake(t, "nobody left", r, time.Time{})
	if a := r.answer(at(10*s), "c", nil); !a.done || a.err != nil {
		t.Fatalf("c answers: done %v, err %v", a.done, a.err)
	}
}

// TestReplicasCallDeadline: CallTimeout after a call started it is
// cancelled; its answer, an error, asks the next holder and is named as a
// deadline in the last error; a success that beats the cancellation is
// still used.
func TestReplicasCallDeadline(t *testing.T) {
	s := time.Second
	cfg := Config{CallTimeout: 5 * s, RetryDelay: s} // RejoinTimeout 0: fail once all failed
	r := newReplicas(msg.Leaf(0), 0, msg.KindMoment4, cfg)
	expect(t, "start", r.start(t0, holding("a", "b")), []string{"a"}, none)
	expectWake(t, "call deadline", r, at(5*s))
	expect(t, "deadline", r.tick(at(5*s)), none, []string{"a"})
	expectWake(t, "cancelled call in flight", r, time.Time{})
	expect(t, "a returns", r.answer(at(5*s), "a", context.Canceled), []string{"b"}, none)
	expectWake(t, "b's deadline", r, at(10*s))
	expect(t, "b's deadline", r.tick(at(10*s)), none, []string{"b"})
	expectErr(t, "b returns", r.answer(at(10*s), "b", context.Canceled), ErrUnavailable,
		"partition 0", "held by a, b", "last error: shard b: call deadline 5s passed: context canceled")

	r = newReplicas(msg.Leaf(0), 0, msg.KindMoment4, cfg)
	expect(t, "start", r.start(t0, holding("a", "b")), []string{"a"}, none)
	expect(t, "deadline", r.tick(at(5*s)), none, []string{"a"})
	if a := r.answer(at(5*s), "a", nil); !a.done || a.err != nil {
		t.Fatalf("an answer after the deadline: done %v, err %v; want it used", a.done, a.err)
	}
}

// TestReplicasMembership: a call to a shard that leaves the view is
// cancelled (once), and its error asks the next holder; a membership
// change gives holders that lacked the kind another chance, at the next
// retry.
func TestReplicasMembership(t *testing.T) {
	s := time.Second
	r := newReplicas(msg.Leaf(0), 0, msg.KindStats, Config{RetryDelay: s, RejoinTimeout: time.Hour})
	expect(t, "start", r.start(t0, holding("a", "b")), []string{"a"}, none)
	expect(t, "a leaves", r.changed(t0, holding("b")), none, []string{"a"})
	expect(t, "another change", r.changed(t0, holding("b")), none, none)
	expect(t, "a returns", r.answer(t0, "a", context.Canceled), []string{"b"}, none)

	unsupported := fmt.Errorf("old shard: %w", errors.ErrUnsupported)
	r = newReplicas(msg.Leaf(0), 0, msg.KindMoments12, Config{RetryDelay: s, RejoinTimeout: time.Hour})
	expect(t, "start", r.start(t0, holding("a", "b")), []string{"a"}, none)
	expect(t, "a lacks the kind", r.answer(t0, "a", unsupported), []string{"b"}, none)
	expect(t, "b fails", r.answer(t0, "b", ErrInjected), none, none)
	expect(t, "retry", r.tick(at(s)), []string{"b"}, none)
	expect(t, "b fails", r.answer(at(s), "b", ErrInjected), none, none)
	expect(t, "a is upgraded", r.changed(at(s+1), holding("a", "b")), none, none)
	expect(t, "retry", r.tick(at(2*s)), []string{"a"}, none)
}

// TestReplicasUnsupported: when no live holder implements the kind, the
// fetch fails at once, naming the partition, its holders and the kind.
func TestReplicasUnsupported(t *testing.T) {
	unsupported := fmt.Errorf("old shard: %w", errors.ErrUnsupported)
	r := newReplicas(msg.Leaf(3), 0, msg.KindMoment4, Config{RetryDelay: time.Second, RejoinTimeout: time.Hour})
	shards := []Member{{ID: "b", Partitions: []int{3}}, {ID: "a", Partitions: []int{3}}}
	expect(t, "start", r.start(t0, shards), []string{"b"}, none) // sorted [a b], rotated by 3
	expect(t, "b lacks it", r.answer(t0, "b", unsupported), []string{"a"}, none)
	a := r.answer(t0, "a", unsupported)
	expectErr(t, "a lacks it", a, errors.ErrUnsupported, "partition 3", "(a, b)", "moment4")
	if errors.Is(a.err, ErrUnavailable) {
		t.Error("the error wraps ErrUnavailable")
	}
}

// TestReplicasUnreadable: a holder that cannot read the data is not asked
// again, not even after a membership change; when every live holder failed
// so, the fetch fails at once with msg.ErrData, not ErrUnavailable.
func TestReplicasUnreadable(t *testing.T) {
	s := time.Second
	bad := fmt.Errorf("%w: read failed", msg.ErrData)
	r := newReplicas(msg.Leaf(0), 0, msg.KindStats, Config{RetryDelay: s, RejoinTimeout: time.Hour})
	expect(t, "start", r.start(t0, holding("a", "b")), []string{"a"}, none)
	expect(t, "a cannot read", r.answer(t0, "a", bad), []string{"b"}, none)
	expect(t, "b fails", r.answer(t0, "b", ErrInjected), none, none)
	expect(t, "membership change", r.changed(t0, holding("a", "b")), none, none)
	expect(t, "retry", r.tick(at(s)), []string{"b"}, none)
	a := r.answer(at(s), "b", bad)
	expectErr(t, "b cannot read", a, msg.ErrData, "partition 0", "(a, b)", "shard b")
	if errors.Is(a.err, ErrUnavailable) {
		t.Error("the error wraps ErrUnavailable")
	}
}

// TestReplicasRejoin: without a live holder the fetch waits for one to
// join, up to RejoinTimeout from the first time none was left, then fails
// with ErrUnavailable naming the partition, the shards that ever held it
// and the last error.
func TestReplicasRejoin(t *testing.T) {
	s := time.Second
	cfg := Config{RetryDelay: s, RejoinTimeout: 10 * s}

	r := newReplicas(msg.Leaf(0), 0, msg.KindStats, cfg)
	expect(t, "start without holders", r.start(t0, nil), none, none)
	expectWake(t, "waiting", r, at(10*s))
	expect(t, "a joins", r.changed(at(4*s), holding("a")), []string{"a"}, none)
	expectWake(t, "a call in flight", r, time.Time{})
	if a := r.answer(at(4*s), "a", nil); !a.done || a.err != nil {
		t.Fatalf("a answers: done %v, err %v", a.done, a.err)
	}

	r = newReplicas(msg.Leaf(0), 0, msg.KindStats, cfg)
	expect(t, "start without holders", r.start(t0, nil), none, none)
	expect(t, "before the timeout", r.tick(at(10*s-1)), none, none)
	expectErr(t, "timeout", r.tick(at(10*s)), ErrUnavailable, "partition 0", "rejoin timeout 10s", "no shard ever listed it")

	r = newReplicas(msg.Leaf(0), 0, msg.KindStats, cfg)
	expect(t, "start", r.start(t0, holding("a")), []string{"a"}, none)
	expect(t, "a fails", r.answer(t0, "a", ErrInjected), none, none)
	expect(t, "a leaves", r.changed(at(s/2), nil), none, none)
	expect(t, "retry without holders", r.tick(at(s)), none, none)
	expectWake(t, "waiting", r, at(10*s))
	expectErr(t, "timeout", r.tick(at(10*s)), ErrUnavailable, "held by a", "last error: shard a: "+ErrInjected.Error())

	// The rejoin deadline is not checked while a call is in flight; once
	// none is, the fetch fails at once.
	r = newReplicas(msg.Leaf(0), 0, msg.KindStats, cfg)
	expect(t, "start without holders", r.start(t0, nil), none, none)
	expect(t, "a joins", r.changed(at(9*s), holding("a")), []string{"a"}, none)
	expect(t, "long call", r.tick(at(15*s)), none, none)
	expectErr(t, "a fails late", r.answer(at(15*s), "a", ErrInjected), ErrUnavailable, "held by a")

	// RejoinTimeout 0: no wait at all, and no retry.
	r = newReplicas(msg.Leaf(0), 0, msg.KindStats, Config{RetryDelay: s})
	expectErr(t, "start without holders", r.start(t0, nil), ErrUnavailable, "partition 0")
	r = newReplicas(msg.Leaf(0), 0, msg.KindStats, Config{RetryDelay: s})
	expect(t, "start", r.start(t0, holding("a")), []string{"a"}, none)
	expectErr(t, "a fails", r.answer(t0, "a", ErrInjected), ErrUnavailable, "held by a")
}

// TestReplicasTickOrder: events that passed by the time of a tick are
// handled in the order of their due times: a retry due before the rejoin
// deadline asks again (and a call in flight holds off the deadline), a
// retry due after it comes too late.
func TestReplicasTickOrder(t *testing.T) {
	s := time.Second
	r := newReplicas(msg.Leaf(0), 0, msg.KindStats, Config{RetryDelay: s, RejoinTimeout: 3 * s / 2})
	expect(t, "start", r.start(t0, holding("a")), []string{"a"}, none)
	expect(t, "a fails", r.answer(t0, "a", ErrInjected), none, none)
	expect(t, "late tick", r.tick(at(5*s)), []string{"a"}, none)

	r = newReplicas(msg.Leaf(0), 0, msg.KindStats, Config{RetryDelay: 2 * s, RejoinTimeout: 3 * s / 2})
	expect(t, "start", r.start(t0, holding("a")), []string{"a"}, none)
	expect(t, "a fails", r.answer(t0, "a", ErrInjected), none, none)
	expectErr(t, "late tick", r.tick(at(5*s)), ErrUnavailable, "held by a")
}
