package fleet

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"altmin/deep"
	"altmin/model"
)

// slowDeep answers only from the shard named ok; every other call blocks
// until its context is cancelled, then reports it to done.
type slowDeep struct {
	ok   string
	done *sync.WaitGroup
}

func (s slowDeep) DeepStep(ctx context.Context, m Member, req *deep.Request, p int) (*deep.Partial, error) {
	if m.ID == s.ok {
		return &deep.Partial{Step: req.Step, Partition: p, Flips: -1}, nil
	}
	defer s.done.Done()
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestHedgedCallsDoNotLeak: with more replicas hedged at once than the
// answer channel buffers, the calls still in flight when the first answer
// wins end once cancelled; none is left blocked sending its late answer.
func TestHedgedCallsDoNotLeak(t *testing.T) {
	const n = 12 // replicas of partition 0, all asked (hedging)
	var members []Member
	for i := range n {
		members = append(members, Member{ID: fmt.Sprintf("s%02d", i), Partitions: []int{0}})
	}
	f := New(Config{HedgeAfter: time.Millisecond, RejoinTimeout: time.Minute, Log: zaptest.NewLogger(t)}, NewStaticView(members...), nil)
	defer f.Close()
	var done sync.WaitGroup
	done.Add(n - 1)
	before := runtime.NumGoroutine()
	// Holders asks s00, s01, ... in order: the last one answers, after
	// every other is in flight.
	df := DeepFetcher{F: f, Caller: slowDeep{ok: members[n-1].ID, done: &done}}
	req := &deep.Request{Step: 0, Net: model.NewNet(2, 2, 1)}
	if _, err := df.Fetch(context.Background(), req, 0); err != nil {
		t.Fatal(err)
	}
	done.Wait() // every losing call has returned from DeepStep
	// Their goroutines now only have to exit; a leaked one stays blocked.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines left of %d before the call:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
	}
}
