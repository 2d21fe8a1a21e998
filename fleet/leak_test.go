package fleet

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap/zaptest"

	"altmin/msg"
)

// TestHedgedCallsDoNotLeak: with every replica of a partition asked
// (hedging), the calls still in flight when the last one's answer wins
// end once cancelled, and their goroutines exit instead of staying blocked
// on sending a late answer. It runs in a synctest bubble, which waits for
// every goroutine started in it to exit when the test function returns and
// fails the test (deadlock) if one stays blocked: a deterministic leak
// check, without counting goroutines or timing out.
func TestHedgedCallsDoNotLeak(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n, h = 12, time.Second
		var members []Member
		for i := range n {
			members = append(members, Member{ID: fmt.Sprintf("s%02d", i), Partitions: []int{0}})
		}
		winner := members[n-1].ID // Holders asks s00, s01, ... in order
		var started, ended atomic.Int64
		caller := CallerFunc(func(ctx context.Context, m Member, req msg.Request, p msg.Span) (msg.Partial, error) {
			started.Add(1)
			defer ended.Add(1)
			if m.ID == winner {
				return &msg.Moment4{Partition: p.Lo, Parts: p.N, K: 1, Sum: []float64{1}}, nil
			}
			<-ctx.Done()
			return nil, ctx.Err()
		})
		clk := NewFakeClock(t0)
		f := New(Config{HedgeAfter: h, RejoinTimeout: time.Hour, Clock: clk, Log: zaptest.NewLogger(t)}, NewStaticView(members...), caller)
		defer f.Close()
		req := &msg.Moment4Request{D: 1, K: 1, V: []float64{1}}
		res := goFetch(context.Background(), f, req, msg.Leaf(0))
		for i := 1; i < n; i++ {
			awaitTimer(t, clk, at(time.Duration(i)*h), res)
			clk.Advance(h)
		}
		r := <-res
		if r.err != nil || r.v.Span() != msg.Leaf(0) {
			t.Fatalf("fetch: %v, %v", r.v, r.err)
		}
		if got := f.Answered(0); !slices.Equal(got, []string{winner}) {
			t.Errorf("answers used from %v, want [%s]", got, winner)
		}
		synctest.Wait() // every other goroutine of the bubble is blocked or gone
		if s, e := started.Load(), ended.Load(); s != n || e != n {
			t.Errorf("%d calls started, %d ended; want %d and %d", s, e, n, n)
		}
	})
}
