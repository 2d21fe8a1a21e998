package shard_test

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"altmin/data"
	"altmin/model"
	"altmin/msg"
	"altmin/shard"
)

// sameStatsBits reports whether two statistics hold the same bits in every
// field, the validation sums included.
func sameStatsBits(a, b *msg.Stats) bool {
	f := func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) }
	return samePartial(a, b) && f(a.SumY, b.SumY) && a.Val.Rows == b.Val.Rows &&
		f(a.Val.SSE, b.Val.SSE) && f(a.Val.YY, b.Val.YY) && f(a.Val.SumY, b.Val.SumY)
}

// spanParts returns P partitions of random rows of d features, with no
// row near a tie under the weights ws.
func spanParts(seed uint64, P, d int, ws ...[]float64) []*shard.Partition {
	rng := rand.New(rand.NewPCG(seed, 0))
	var parts []*shard.Partition
	for id := 0; id < P; id++ {
		n := 40 + 17*id
		parts = append(parts, &shard.Partition{ID: id, Rows: n, D: d, X: randRows(rng, n, d, ws...), Y: randNormal(rng, n)})
	}
	return parts
}

// coordinatorSum returns the sum of span s of eng's partitions as a
// coordinator adds them: every partition fetched alone, put in a msg.Tree
// of P partitions in the order given, the span's node taken.
func coordinatorSum(t *testing.T, eng *shard.Engine, req msg.Request, P int, s msg.Span, order []int) msg.Partial {
	t.Helper()
	tree := msg.NewTree(P)
	for _, p := range order {
		tree.Put(fetch[msg.Partial](t, eng, req, p), req, nil)
	}
	v := tree.Take(s)
	if v == nil {
		t.Fatalf("the tree of the leaves %v does not hold %v", order, s)
	}
	return v
}

// A shard's pre-reduced subtree is the coordinator's own sum of the same
// partitions, bit for bit: a span fetched whole from an engine holding
// every partition of it equals the msg.Tree of its partitions fetched one
// by one, for every kind of partial, through iterations (the patterns of
// the previous iteration held) and with buffers reused from a pool.
func TestSpanIsCoordinatorSum(t *testing.T) {
	const P, d, k, seed = 8, 5, 3, 83
	rng := rand.New(rand.NewPCG(seed, 1))
	signs := []float64{1, -1, 1}
	us := [][]float64{randNormal(rng, k*d), randNormal(rng, k*d), randNormal(rng, k*d)}
	parts := spanParts(seed, P, d, us...)
	net := data.RandomNet(model.NewNet(d, 4, 3), seed)
	others := []msg.Request{
		&msg.DeepRequest{Step: 1, Net: net, Layers: []int{1, 2}, Joint: true, Prev: data.PerturbNet(net, 0.2, 1)},
		&msg.DeepRequest{Step: 0, Net: net, Layers: []int{1, 2}},
		&msg.Moments12Request{D: d, Order: 2, Base: &msg.Baseline{C: 0.5, B: randNormal(rng, d)}},
		&msg.Moment4Request{D: d, K: 2, V: randNormal(rng, 2*d)},
	}
	for _, s := range []msg.Span{{Lo: 0, N: 8}, {Lo: 4, N: 4}, {Lo: 2, N: 2}} {
		for _, par := range []int{1, 3, 8} {
			// Fresh engines: one fetched leaf by leaf, one fetched the span
			// whole, each through the same iterations.
			leaves, err := shard.NewEngine(parts...)
			if err != nil {
				t.Fatal(err)
			}
			whole, err := shard.NewEngine(parts...)
			if err != nil {
				t.Fatal(err)
			}
			whole.SetPartitionCount(P)
			whole.SetParallel(par)
			whole.SetPool(msg.NewPool())
			var order []int
			for p := s.End(P) - 1; p >= s.Lo; p-- {
				order = append(order, p) // the leaves in reverse: the tree's order must not depend on it
			}
			for it := range us {
				req := &msg.StatsRequest{Iter: it, D: d, Signs: signs, U: us[it]}
				if it > 0 {
					req.Prev = us[it-1]
				}
				want := coordinatorSum(t, leaves, req, P, s, order).(*msg.Stats)
				got, err := whole.Fetch(context.Background(), req, s)
				if err != nil {
					t.Fatalf("span %v, parallel %d, iteration %d: %v", s, par, it, err)
				}
				if err := got.Check(req); err != nil {
					t.Fatalf("span %v, iteration %d: the engine's sum fails its check: %v", s, it, err)
				}
				st := got.(*msg.Stats)
				if st.Span() != s || !sameStatsBits(st, want) {
					t.Errorf("span %v, parallel %d, iteration %d: the shard's sum (of %v; rows %d, flips %d, SSE %v) is not the coordinator's (rows %d, flips %d, SSE %v)",
						s, par, it, st.Span(), st.Rows, st.Flips, st.SSE, want.Rows, want.Flips, want.SSE)
				}
				if it > 0 && st.Flips <= 0 {
					t.Errorf("span %v, iteration %d: %d flips: the test's weights do not move the patterns", s, it, st.Flips)
				}
				got.Release(whole.Pool()) // reused by the next iteration's buffers
			}
		}
	}

	// The other kinds, with fresh engines.
	for _, req := range others {
		for _, s := range []msg.Span{{Lo: 0, N: 8}, {Lo: 4, N: 4}} {
			leaves, _ := shard.NewEngine(parts...)
			whole, _ := shard.NewEngine(parts...)
			whole.SetPartitionCount(P)
			var order []int
			for p := s.Lo; p < s.End(P); p++ {
				order = append(order, p)
			}
			want := coordinatorSum(t, leaves, req, P, s, order)
			got, err := whole.Fetch(context.Background(), req, s)
			if err != nil {
				t.Fatalf("%s request, span %v: %v", req.Kind(), s, err)
			}
			if err := got.Check(req); err != nil {
				t.Fatalf("%s request, span %v: the engine's sum fails its check: %v", req.Kind(), s, err)
			}
			if !samePartial(got, want) {
				t.Errorf("%s request, span %v: the shard's sum (of %v) is not the coordinator's", req.Kind(), s, got.Span())
			}
		}
	}

	// The whole sum is also what the coordinator gets from the spans (0,4)
	// and (4,4) of two shards.
	req := &msg.StatsRequest{Iter: 0, D: d, Signs: signs, U: us[0]}
	left, _ := shard.NewEngine(parts[:4]...)
	right, _ := shard.NewEngine(parts[4:]...)
	leaves, _ := shard.NewEngine(parts...)
	tree := msg.NewTree(P)
	for _, e := range []*shard.Engine{right, left} {
		e.SetPartitionCount(P)
		s := msg.Span{Lo: e.Partitions()[0], N: 4}
		v, err := e.Fetch(context.Background(), req, s)
		if err != nil {
			t.Fatal(err)
		}
		tree.Put(v, req, nil)
	}
	if want := coordinatorSum(t, leaves, req, P, msg.Root(P), []int{3, 0, 6, 1, 7, 2, 5, 4}); !tree.Ready() || !sameStatsBits(tree.Sum().(*msg.Stats), want.(*msg.Stats)) {
		t.Error("the sum of the shards' halves is not the coordinator's sum of the leaves")
	}
}

// Fetch refuses spans it cannot serve: one with a partition it does not
// hold (msg.ErrNoPartition), one that is not a canonical node of the
// reduction tree (msg.ErrRequest), and any span of several partitions
// when the partition count was not set (msg.ErrNoPartition: another
// holder, or the span's halves, may serve it).
func TestSpanErrors(t *testing.T) {
	const d = 3
	parts := spanParts(5, 6, d)
	req := &msg.StatsRequest{Iter: 0, D: d, Signs: []float64{1, -1}, U: make([]float64, 2*d)}

	unset, _ := shard.NewEngine(parts...)
	for _, s := range []msg.Span{{Lo: 0, N: 2}, {Lo: 0, N: 8}, {Lo: 4, N: 2}} {
		if _, err := unset.Fetch(context.Background(), req, s); !errors.Is(err, msg.ErrNoPartition) {
			t.Errorf("no partition count, %v: err %v, want ErrNoPartition", s, err)
		}
	}
	if _, err := unset.Fetch(context.Background(), req, msg.Leaf(3)); err != nil {
		t.Errorf("no partition count, a single partition: %v", err)
	}

	// Partitions 0..5 of 8 held.
	some, _ := shard.NewEngine(parts...)
	some.SetPartitionCount(8)
	for _, s := range []msg.Span{{Lo: 0, N: 8}, {Lo: 4, N: 4}, {Lo: 6, N: 2}, msg.Leaf(6)} {
		if _, err := some.Fetch(context.Background(), req, s); !errors.Is(err, msg.ErrNoPartition) {
			t.Errorf("%v of partitions 0..5: err %v, want ErrNoPartition", s, err)
		}
	}
	if v, err := some.Fetch(context.Background(), req, msg.Span{Lo: 4, N: 2}); err != nil || v.Span() != (msg.Span{Lo: 4, N: 2}) {
		t.Errorf("(4,2) of partitions 0..5: %v, %v", v, err)
	}

	// All 6 held, of 6: (4,4) is (4,2), (0,16) is (0,8).
	all, _ := shard.NewEngine(parts...)
	all.SetPartitionCount(6)
	for _, s := range []msg.Span{{Lo: 4, N: 4}, {Lo: 0, N: 16}, {Lo: 1, N: 2}, {Lo: 0, N: 3}, {Lo: 0, N: 0}, {Lo: -2, N: 2}} {
		if _, err := all.Fetch(context.Background(), req, s); !errors.Is(err, msg.ErrRequest) {
			t.Errorf("%v of 6 partitions: err %v, want ErrRequest", s, err)
		}
	}
	if _, err := all.Fetch(context.Background(), req, msg.Span{Lo: 8, N: 8}); err == nil {
		t.Error("(8,8) of 6 partitions served")
	}
	// A request refused, or a done context, fails the span.
	wide := &msg.StatsRequest{Iter: 0, D: d + 1, Signs: []float64{1}, U: make([]float64, d+1)}
	if _, err := all.Fetch(context.Background(), wide, msg.Span{Lo: 0, N: 8}); !errors.Is(err, msg.ErrRequest) {
		t.Errorf("a request of another width, span (0,8): err %v, want ErrRequest", err)
	}
	bad := &msg.StatsRequest{Iter: 0, D: d, Signs: []float64{1, 0.5}, U: make([]float64, 2*d)}
	if _, err := all.Fetch(context.Background(), bad, msg.Span{Lo: 0, N: 8}); !errors.Is(err, msg.ErrRequest) {
		t.Errorf("an invalid request, span (0,8): err %v, want ErrRequest", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if v, err := all.Fetch(ctx, req, msg.Span{Lo: 0, N: 8}); !errors.Is(err, context.Canceled) || v != nil {
		t.Errorf("a done context, span (0,8): %v, %v, want context.Canceled", v, err)
	}
}
