package fleet

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"altmin/internal/metrics"
	"altmin/internal/metrics/metricstest"
	"altmin/msg"
)

// counters returns the fetcher's counters gathered from reg: failovers,
// hedges and rejoin waits.
func counters(t *testing.T, reg prometheus.Gatherer) (failovers, hedges, waits float64) {
	t.Helper()
	fs := metricstest.Gather(t, reg)
	failovers, _ = fs.Value("altmin_coordinator_failovers_total")
	hedges, _ = fs.Value("altmin_coordinator_hedges_total")
	waits, _ = fs.Value("altmin_coordinator_rejoin_waits_total")
	return failovers, hedges, waits
}

// TestMetricsFailover: a call that fails on one replica counts one
// failover, and the answer of the next replica is timed on the fetcher's
// clock, under that replica's shard label only.
func TestMetricsFailover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, synthetic(t), 4)
		req := statsReqs(c.d, 2, 1)[0]
		release := make(chan struct{})
		failing := FailWhen(c.engines, func(m Member, _ msg.Request, _ msg.Span) bool { return m.ID == "shard-0" })
		caller, ev := record(BlockWhen(failing, release, func(m Member, _ msg.Request, _ msg.Span) bool { return m.ID == "shard-1" }))
		reg := prometheus.NewRegistry()
		clk := NewFakeClock(t0)
		f := newFetcher(t, Config{RejoinTimeout: time.Hour, Clock: clk, Metrics: metrics.NewCoordinator(reg)}, NewStaticView(c.members...), caller)

		res := goFetch(context.Background(), f, req, msg.Leaf(0)) // holders: shard-0, shard-1
		expectEvent(t, ev, "shard-0", false)
		if e := expectEvent(t, ev, "shard-0", true); !errors.Is(e.err, ErrInjected) {
			t.Fatalf("call %+v, want it failed", e)
		}
		expectEvent(t, ev, "shard-1", false) // started at t0
		clk.Advance(2 * time.Second)
		close(release)
		if r := <-res; r.err != nil || !same(r.v, c.reference(t, req)[0]) {
			t.Fatalf("fetch after a failover: %v", r.err)
		}
		if failovers, hedges, waits := counters(t, reg); failovers != 1 || hedges != 0 || waits != 0 {
			t.Errorf("failovers %v, hedges %v, rejoin waits %v; want 1, 0, 0", failovers, hedges, waits)
		}
		fs := metricstest.Gather(t, reg)
		if n, _ := fs.Value("altmin_coordinator_partial_seconds", "shard", "shard-1"); n != 1 {
			t.Errorf("%v answers of shard-1 timed, want 1", n)
		}
		if s, _ := fs.Sum("altmin_coordinator_partial_seconds", "shard", "shard-1"); s != 2 {
			t.Errorf("shard-1 answered in %v s on the clock, want 2", s)
		}
		if _, ok := fs.Value("altmin_coordinator_partial_seconds", "shard", "shard-0"); ok {
			t.Error("the failed call of shard-0 was timed as an answer")
		}
	})
}

// TestMetricsHedge: a call backing up a slow replica counts one hedge and
// no failover (the slow call is cancelled once the hedge answers).
func TestMetricsHedge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, synthetic(t), 4)
		req := statsReqs(c.d, 2, 1)[0]
		never := make(chan struct{})
		caller, ev := record(BlockWhen(c.engines, never, func(m Member, _ msg.Request, _ msg.Span) bool { return m.ID == "shard-0" }))
		reg := prometheus.NewRegistry()
		clk := NewFakeClock(t0)
		f := newFetcher(t, Config{HedgeAfter: 3 * time.Second, RejoinTimeout: time.Hour, Clock: clk, Metrics: metrics.NewCoordinator(reg)}, NewStaticView(c.members...), caller)

		res := goFetch(context.Background(), f, req, msg.Leaf(0))
		expectEvent(t, ev, "shard-0", false)
		awaitTimer(t, clk, at(3*time.Second), res)
		clk.Advance(3 * time.Second)
		if r := <-res; r.err != nil {
			t.Fatalf("hedged fetch: %v", r.err)
		}
		if failovers, hedges, waits := counters(t, reg); failovers != 0 || hedges != 1 || waits != 0 {
			t.Errorf("failovers %v, hedges %v, rejoin waits %v; want 0, 1, 0", failovers, hedges, waits)
		}
	})
}

// TestMetricsRejoinWait: a fetch that finds no live holder and waits for
// one to join counts one rejoin wait; one that fails at once (a zero
// rejoin timeout) counts none, and neither is a failover.
func TestMetricsRejoinWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCluster(t, synthetic(t), 4)
		req := statsReqs(c.d, 2, 1)[0]
		caller, ev := record(c.engines)
		view := NewStaticView(without(c.members, "shard-0", "shard-1")...) // partitions 0 and 4 unheld
		reg := prometheus.NewRegistry()
		m := metrics.NewCoordinator(reg)
		clk := NewFakeClock(t0)
		f := newFetcher(t, Config{RejoinTimeout: 10 * time.Second, Clock: clk, Metrics: m}, view, caller)
		res := goFetch(context.Background(), f, req, msg.Leaf(0))
		awaitTimer(t, clk, at(10*time.Second), res)
		view.Set(c.members...)
		expectEvent(t, ev, "shard-0", false)
		if r := <-res; r.err != nil {
			t.Fatalf("fetch after a rejoin: %v", r.err)
		}
		expectEvent(t, ev, "shard-0", true)

		view.Set(without(c.members, "shard-0", "shard-1")...)
		g := newFetcher(t, Config{Clock: clk, Metrics: m}, view, caller)
		if r := atOnce(t, clk, goFetch(context.Background(), g, req, msg.Leaf(4))); !errors.Is(r.err, ErrUnavailable) {
			t.Fatalf("fetch without a holder nor a rejoin timeout: %v, want ErrUnavailable", r.err)
		}
		if failovers, hedges, waits := counters(t, reg); failovers != 0 || hedges != 0 || waits != 1 {
			t.Errorf("failovers %v, hedges %v, rejoin waits %v; want 0, 0, 1", failovers, hedges, waits)
		}
	})
}
