package transport

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"altmin/linalg"
	"altmin/msg"
	pb "altmin/proto/altminpb"
)

// bigStats returns a fetcher answering every stats request with a zero
// partial of its size, counting its calls.
func bigStats(calls *atomic.Int64) msg.Fetcher {
	return fetcherFunc(func(_ context.Context, req msg.Request, sp msg.Span) (msg.Partial, error) {
		calls.Add(1)
		r := req.(*msg.StatsRequest)
		m := len(r.U)
		return &msg.Stats{Iter: r.Iter, Partition: sp.Lo, Parts: sp.N, Rows: 1, M: m, R: make([]float64, m), Gram: make([]float64, linalg.PackedLen(m))}, nil
	})
}

// fakeTimers replaces a server's send timers by channels the test fires.
type fakeTimers struct {
	mu sync.Mutex
	ch []chan time.Time
}

func (f *fakeTimers) new(time.Duration) (<-chan time.Time, func() bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := make(chan time.Time, 1)
	f.ch = append(f.ch, c)
	return c, func() bool { return true }
}

// fire expires every timer armed so far.
func (f *fakeTimers) fire() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.ch {
		select {
		case c <- time.Time{}:
		default:
		}
	}
	f.ch = nil
}

// until yields until cond holds. The bound only turns a hang into a
// failure: no outcome depends on how long anything takes.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i == 60000 {
			t.Fatalf("never: %s", what)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

// TestReplyBudgetBoundsStalledStreams: a client with valid credentials
// opens many Compute streams with a large d*k and reads only the first
// chunk of each. The shard holds at most its reply budget of replies (two
// here): the other computations wait for budget instead of holding their
// replies too. When the send timeout passes, the stalled streams are
// cancelled with DeadlineExceeded, their buffers are freed, and the
// waiting computations go on; the reserved bytes never exceed the budget
// and are all given back in the end.
func TestReplyBudgetBoundsStalledStreams(t *testing.T) {
	var calls atomic.Int64
	const d, k = 100, 10 // m = 1000: a 4 MB reply, far beyond the 64 KiB window
	req := statsRequest(newRand(1), 1, d, k)
	need := ReplyBytes(req)
	timers := &fakeTimers{}
	info := ShardInfo{ID: "s1", Schema: Schema{P: 4, D: d, Rows: map[int]int{0: 1, 1: 1, 2: 1, 3: 1}}}
	// Small fixed windows (no bandwidth estimator): a reader that stops
	// reading stalls the stream.
	dopts := []grpc.DialOption{grpc.WithInitialWindowSize(64 << 10), grpc.WithInitialConnWindowSize(64 << 10)}
	s := serveOpts(t, bigStats(&calls), info, nil, dopts)
	s.srv.SetLimits(2*need+need/2, time.Minute)
	s.srv.newTimer = timers.new
	b := s.srv.budget

	wire, err := requestToProto(req, msg.Leaf(0), "s1")
	if err != nil {
		t.Fatal(err)
	}
	rpc := pb.NewShardClient(s.c.conn)
	const streams = 4
	var recv []grpc.ServerStreamingClient[pb.Chunk]
	for p := range streams {
		w := proto.Clone(wire).(*pb.ComputeRequest)
		w.Partition = int32(p)
		st, err := rpc.Compute(t.Context(), w)
		if err != nil {
			t.Fatal(err)
		}
		recv = append(recv, st)
	}
	until(t, "two replies computed and two computations waiting for budget", func() bool {
		_, _, waiting := b.state()
		return calls.Load() == 2 && waiting == 2
	})
	if used, peak, _ := b.state(); used != 2*need || peak != 2*need {
		t.Fatalf("reserved %d bytes (peak %d), want %d: two replies of %d", used, peak, 2*need, need)
	}
	// Read the first chunk of every stream, once it has one.
	var firsts sync.WaitGroup
	for _, st := range recv {
		firsts.Go(func() { st.Recv() })
	}
	// The send timeout of the stalled streams passes: they are cancelled,
	// their bytes given back, and the waiting two are computed. Nothing
	// more is read: only the cancellation frees the budget. (Timers are
	// fired until that happens: one re-armed after a chunk is a new one.)
	until(t, "the stalled streams cancelled and the waiting computed", func() bool {
		timers.fire()
		return calls.Load() == streams
	})
	until(t, "the other two cancelled and every reserved byte given back", func() bool {
		timers.fire()
		used, _, waiting := b.state()
		return used == 0 && waiting == 0
	})
	firsts.Wait()
	for i, st := range recv {
		var err error
		for err == nil {
			_, err = st.Recv()
		}
		if status.Code(err) != codes.DeadlineExceeded || !strings.Contains(err.Error(), "--send-timeout") {
			t.Errorf("stalled stream %d ended with %v, want DeadlineExceeded naming --send-timeout", i, err)
		}
	}
	if _, peak, _ := b.state(); peak > 2*need+need/2 {
		t.Errorf("peak %d bytes reserved, over the budget %d", peak, 2*need+need/2)
	}
}

// TestReplyLargerThanBudgetRefused: a request whose reply exceeds the
// shard's whole reply budget is refused before it is computed, with
// msg.ErrTooLarge naming the budget, and a fleet fails it at once
// (msg.IsRequestRefusal).
func TestReplyLargerThanBudgetRefused(t *testing.T) {
	var calls atomic.Int64
	req := statsRequest(newRand(1), 1, 20, 5)
	info := ShardInfo{ID: "s1", Schema: Schema{P: 1, D: 20, Rows: map[int]int{0: 1}}}
	s := serve(t, bigStats(&calls), info)
	s.srv.SetLimits(ReplyBytes(req)-1, time.Minute)
	_, err := s.c.Call(t.Context(), "s1", req, msg.Leaf(0))
	if !errors.Is(err, msg.ErrTooLarge) || !msg.IsRequestRefusal(err) || !strings.Contains(err.Error(), "--reply-budget") {
		t.Fatalf("err = %v, want msg.ErrTooLarge naming --reply-budget", err)
	}
	if calls.Load() != 0 {
		t.Errorf("%d computations, want none", calls.Load())
	}
	s.srv.SetLimits(ReplyBytes(req), time.Minute)
	if _, err := s.c.Call(t.Context(), "s1", req, msg.Leaf(0)); err != nil {
		t.Fatalf("a reply of exactly the budget: %v", err)
	}
}
