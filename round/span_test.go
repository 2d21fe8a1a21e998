package round_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"altmin/linalg"
	"altmin/msg"
	"altmin/round"
)

// spanReq is the request of round 7 of a model of m = 6 unknowns.
func spanReq() *msg.StatsRequest {
	return &msg.StatsRequest{Iter: 7, D: 3, Signs: []float64{1, -1}, U: make([]float64, 6), Prev: make([]float64, 6)}
}

// randomLeaves returns the statistics of partitions 0..parts-1 for
// spanReq: random values of every magnitude, so that sums in another
// order round differently.
func randomLeaves(parts int, seed uint64) []*msg.Stats {
	rng := rand.New(rand.NewPCG(seed, 7))
	v := func() float64 { return rng.NormFloat64() * math.Pow(10, float64(rng.IntN(9)-4)) }
	vs := func(n int) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = v()
		}
		return out
	}
	out := make([]*msg.Stats, parts)
	for p := range out {
		out[p] = &msg.Stats{Iter: 7, Partition: p, Rows: 1 + rng.IntN(100), M: 6, Gram: vs(linalg.PackedLen(6)), R: vs(6),
			YY: math.Abs(v()), SumY: v(), SSE: math.Abs(v()), Flips: int64(rng.IntN(5)),
			Val: msg.Eval{Rows: rng.IntN(10), SSE: math.Abs(v()), YY: math.Abs(v()), SumY: v()}}
	}
	return out
}

// cloneStats returns a copy of s owning its slices.
func cloneStats(s *msg.Stats) *msg.Stats {
	c := *s
	c.Gram, c.R = slices.Clone(s.Gram), slices.Clone(s.R)
	return &c
}

// statsBits returns the bits of every value of s, and its counts.
func statsBits(s *msg.Stats) []uint64 {
	var out []uint64
	for _, v := range slices.Concat(s.Gram, s.R, []float64{s.YY, s.SumY, s.SSE, s.Val.SSE, s.Val.YY, s.Val.SumY}) {
		out = append(out, math.Float64bits(v))
	}
	return append(out, uint64(s.Rows), uint64(s.Flips), uint64(s.Val.Rows))
}

// spanServer serves the spans of its leaves as a shard holding them all
// does: their sum in the reduction tree (msg.Tree). It plans (Planner) the
// largest spans covering the partitions missing, records the spans asked,
// and fails those of fail once each, with their error.
type spanServer struct {
	leaves []*msg.Stats
	mu     sync.Mutex
	asked  []msg.Span
	fail   map[msg.Span]error
	onFail func(msg.Span) // called as a span fails, when set
}

func (s *spanServer) Plan(missing []int, parts int) []msg.Span {
	return msg.Cover(parts, func(p int) bool { return slices.Contains(missing, p) })
}

func (s *spanServer) Fetch(ctx context.Context, r msg.Request, sp msg.Span) (msg.Partial, error) {
	parts := len(s.leaves)
	s.mu.Lock()
	s.asked = append(s.asked, sp)
	err, failed := s.fail[sp]
	delete(s.fail, sp)
	s.mu.Unlock()
	if failed {
		if s.onFail != nil {
			s.onFail(sp)
		}
		return nil, err
	}
	if sp.Check(parts) != nil {
		return nil, fmt.Errorf("%w: %v", msg.ErrRequest, sp.Check(parts))
	}
	tree := msg.NewTree(parts)
	for p := sp.Lo; p < sp.End(parts); p++ {
		tree.Put(cloneStats(s.leaves[p]), r, nil)
	}
	v := tree.Take(sp)
	if v == nil {
		return nil, fmt.Errorf("span %v not summed", sp)
	}
	return v, nil
}

// leavesOnly hides the server's plan: Gather asks it every partition alone.
type leavesOnly struct{ s *spanServer }

func (l leavesOnly) Fetch(ctx context.Context, r msg.Request, sp msg.Span) (msg.Partial, error) {
	if sp.N != 1 {
		return nil, fmt.Errorf("%s asked of a fetcher without a plan", sp)
	}
	return l.s.Fetch(ctx, r, sp)
}

// gatherSum runs a round of the leaves through f, one fetch at a time,
// with the partitions of have already received, and returns the sum.
func gatherSum(t *testing.T, f msg.Fetcher, leaves []*msg.Stats, have ...int) (*msg.Stats, error) {
	t.Helper()
	c := &core{set: round.NewSet(len(leaves)), req: spanReq()}
	for _, p := range have {
		c.set.Put(cloneStats(leaves[p]), c.req, nil)
	}
	r := testRound(t, f)
	r.Request, r.Parallel = c.req, 1
	if err := round.Gather(context.Background(), c, r, nil); err != nil {
		return nil, err
	}
	return c.sum(), nil
}

// A span whose fetch fails is asked again as its halves, down to single
// partitions, and the round's sum is the same bits as that of the leaves
// fetched one by one; the failure of a single partition fails the round.
func TestGatherSplitsFailedSpans(t *testing.T) {
	const P = 7 // the tree: (0,8) = ((0,2)+(2,2)) + ((4,2)+(6,1))
	leaves := randomLeaves(P, 1)
	ref, err := gatherSum(t, leavesOnly{&spanServer{leaves: leaves}}, leaves)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Span() != msg.Root(P) {
		t.Fatalf("leaves only: the sum is of %v, want the root", ref.Span())
	}
	down := errors.New("holder down")
	S := func(lo, n int) msg.Span { return msg.Span{Lo: lo, N: n} }
	for _, tc := range []struct {
		name  string
		have  []int // partitions already received
		fail  []msg.Span
		asked []msg.Span
	}{
		{"no failure", nil, nil, []msg.Span{S(0, 8)}},
		{"root fails", nil, []msg.Span{S(0, 8)}, []msg.Span{S(0, 8), S(0, 4), S(4, 4)}},
		{"root and its left half fail", nil, []msg.Span{S(0, 8), S(0, 4)},
			[]msg.Span{S(0, 8), S(0, 4), S(0, 2), S(2, 2), S(4, 4)}},
		{"down to leaves", nil, []msg.Span{S(0, 8), S(4, 4), S(4, 2)},
			[]msg.Span{S(0, 8), S(0, 4), S(4, 4), S(4, 2), S(4, 1), S(5, 1), S(6, 1)}},
		{"partition 5 held", []int{5}, []msg.Span{S(0, 4)},
			[]msg.Span{S(0, 4), S(0, 2), S(2, 2), S(4, 1), S(6, 1)}},
	} {
		s := &spanServer{leaves: leaves, fail: map[msg.Span]error{}}
		for _, sp := range tc.fail {
			s.fail[sp] = fmt.Errorf("%s: %w", sp, down)
		}
		got, err := gatherSum(t, s, leaves, tc.have...)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !slices.Equal(s.asked, tc.asked) {
			t.Errorf("%s: asked %v, want %v", tc.name, s.asked, tc.asked)
		}
		if got.Span() != msg.Root(P) || !slices.Equal(statsBits(got), statsBits(ref)) {
			t.Errorf("%s: the sum (of %v) is not the bits of the leaves' sum:\n got %v\nwant %v", tc.name, got.Span(), got, ref)
		}
	}

	// A single partition that fails after the splits fails the round,
	// naming it.
	s := &spanServer{leaves: leaves, fail: map[msg.Span]error{S(0, 8): down, S(0, 4): down, S(0, 2): down, msg.Leaf(1): down}}
	if _, err := gatherSum(t, s, leaves); !errors.Is(err, down) || !strings.Contains(err.Error(), "partition 1:") {
		t.Errorf("partition 1 fails: err %v, want its failure naming it", err)
	}
}

// A refusal of the request itself fails the round at once, and so does a
// failure once the round's context is done: neither is asked again in
// halves.
func TestGatherRefusalDoesNotSplit(t *testing.T) {
	const P = 7
	leaves := randomLeaves(P, 2)
	for _, refusal := range []error{msg.ErrTooLarge, msg.ErrRequest} {
		s := &spanServer{leaves: leaves, fail: map[msg.Span]error{{Lo: 0, N: 8}: fmt.Errorf("%w: m too large", refusal)}}
		_, err := gatherSum(t, s, leaves)
		if !errors.Is(err, refusal) || !strings.Contains(err.Error(), "partitions 0-7") {
			t.Errorf("%v: err %v, want the refusal naming the span", refusal, err)
		}
		if !slices.Equal(s.asked, []msg.Span{{Lo: 0, N: 8}}) {
			t.Errorf("%v: asked %v, want the root only", refusal, s.asked)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &spanServer{leaves: leaves, fail: map[msg.Span]error{{Lo: 0, N: 8}: context.Canceled}, onFail: func(msg.Span) { cancel() }}
	c := &core{set: round.NewSet(P), req: spanReq()}
	r := testRound(t, s)
	r.Request = c.req
	if err := round.Gather(ctx, c, r, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err %v, want context.Canceled", err)
	}
	if !slices.Equal(s.asked, []msg.Span{{Lo: 0, N: 8}}) {
		t.Errorf("cancelled: asked %v, want the root only", s.asked)
	}
}
