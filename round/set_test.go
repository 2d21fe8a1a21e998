package round_test

import (
	"errors"
	"math"
	"slices"
	"testing"

	"altmin/msg"
	"altmin/round"
)

// req is the request of round 7 of a 1-hidden-layer model with one
// unknown (d = k = 1): its partials are small.
func req(iter int) *msg.StatsRequest {
	r := &msg.StatsRequest{Iter: iter, D: 1, Signs: []float64{1}, U: []float64{0.5}}
	if iter > 0 {
		r.Prev = []float64{0.25}
	}
	return r
}

// stats returns partition p's statistics for round iter (flips given
// after round 0), with rows rows (-1: invalid) and a Gram buffer from
// pool.
func stats(pool *msg.Pool, iter, p, rows int) *msg.Stats {
	s := &msg.Stats{Iter: iter, Partition: p, Rows: rows, M: 1, Gram: pool.Get(1), R: []float64{float64(p)}, Flips: -1}
	s.Gram[0] = float64(rows)
	if iter > 0 {
		s.Flips = 0
	}
	return s
}

// A scripted round: out of order, duplicated, stale and unknown offers.
func TestSetRound(t *testing.T) {
	s := round.NewSet(3)
	for _, tc := range []struct {
		p, round int
		want     error
		msg      string
	}{
		{2, 5, nil, ""},
		{2, 5, round.ErrDuplicate, "round: duplicate partial: partition 2, round 5"},
		{0, 4, round.ErrStale, "round: partial for another round: partition 0, round 4, current 5"},
		{3, 5, round.ErrUnknown, "round: partial for an unknown partition: msg: invalid partial: span (3, 1) is not a node of the reduction tree of 3 partitions"},
		{-1, 5, round.ErrUnknown, "round: partial for an unknown partition: msg: invalid partial: span (-1, 1) is not a node of the reduction tree of 3 partitions"},
		{-1, 4, round.ErrStale, "round: partial for another round: partition -1, round 4, current 5"}, // stale first
		{2, 6, round.ErrStale, "round: partial for another round: partition 2, round 6, current 5"},   // stale before duplicate
		{0, 5, nil, ""},
	} {
		err := s.Check(msg.Leaf(tc.p), tc.round, 5)
		if !errors.Is(err, tc.want) || (err != nil && err.Error() != tc.msg) {
			t.Fatalf("Check(%d, %d) = %v, want %q", tc.p, tc.round, err, tc.msg)
		}
		if err == nil {
			s.Put(stats(nil, 5, tc.p, 2), req(5), nil)
		}
	}
	if m := s.Missing(); !slices.Equal(m, []int{1}) || s.Ready() {
		t.Fatalf("Missing = %v, Ready = %v, want [1], false", m, s.Ready())
	}
	one := stats(nil, 5, 1, 1)
	s.Put(one, req(5), nil)
	if !s.Ready() || s.Missing() != nil || s.Len() != 3 {
		t.Fatalf("after all: Ready %v, Missing %v, Len %d", s.Ready(), s.Missing(), s.Len())
	}
	// The sum of the three partials (rows 2, 1, 2; R = p), of the root.
	sum, ok := s.Sum().(*msg.Stats)
	if !ok || sum.Span() != msg.Root(3) || sum.Rows != 5 || sum.Gram[0] != 5 || sum.R[0] != 0+1+2 || sum.Flips != 0 {
		t.Fatalf("after all: Sum %+v, want the root's sum: 5 rows, Gram 5, R 3, no flips", s.Sum())
	}
	s.Release(nil)
	if s.Ready() || len(s.Missing()) != 3 || s.Sum() != nil || s.Len() != 3 {
		t.Fatalf("after Release: Ready %v, Missing %v, Sum %v", s.Ready(), s.Missing(), s.Sum())
	}
}

func TestPutTwicePanics(t *testing.T) {
	for name, second := range map[string]msg.Partial{"twice": stats(nil, 0, 0, 1), "nil": nil} {
		t.Run(name, func(t *testing.T) {
			s := round.NewSet(1)
			if name == "twice" {
				s.Put(stats(nil, 0, 0, 1), req(0), nil)
			}
			defer func() {
				if recover() == nil {
					t.Errorf("Put %s did not panic", name)
				}
			}()
			s.Put(second, req(0), nil)
		})
	}
}

// Offer keeps valid answers to the request and refuses, keeping nothing,
// nil, stale, unknown, duplicate and invalid partials.
func TestSetOffer(t *testing.T) {
	s := round.NewSet(3)
	r := req(7)
	nan := stats(nil, 7, 1, 2)
	nan.R[0] = math.NaN()
	for _, tc := range []struct {
		name string
		p    msg.Partial
		want error
	}{
		{"partition 2", stats(nil, 7, 2, 4), nil},
		{"nil", nil, msg.ErrInvalid},
		{"duplicate", stats(nil, 7, 2, 5), round.ErrDuplicate},
		{"stale", stats(nil, 6, 0, 4), round.ErrStale},
		{"future", stats(nil, 8, 0, 4), round.ErrStale},
		{"unknown", stats(nil, 7, 3, 4), round.ErrUnknown},
		{"negative rows", stats(nil, 7, 0, -1), msg.ErrInvalid},
		{"NaN", nan, msg.ErrInvalid},
		{"partition 0", stats(nil, 7, 0, 4), nil},
	} {
		if err := s.Offer(tc.p, r, nil); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if m := s.Missing(); !slices.Equal(m, []int{1}) {
		t.Fatalf("Missing = %v after the refusals, want [1]", m)
	}
	// A partial of another kind (moment sums have round 0) for a request
	// of round 0.
	m12 := &msg.Moments12{Partition: 0, Order: 1, D: 1, SumYX: []float64{1}, SumX: []float64{1}}
	if err := m12.Check(&msg.Moments12Request{D: 1, Order: 1}); err != nil {
		t.Fatal(err)
	}
	s0 := round.NewSet(1)
	if err := s0.Offer(m12, req(0), nil); !errors.Is(err, msg.ErrInvalid) || !slices.Equal(s0.Missing(), []int{0}) {
		t.Errorf("moment sums offered for a statistics request: %v, missing %v", err, s0.Missing())
	}
	// Partition 2 holds the partial of 4 rows: with partition 1's of 3
	// and partition 0's of 4, the sum has 11 (12 had the refused
	// duplicate of 5 rows replaced it).
	if err := s.Offer(stats(nil, 7, 1, 3), r, nil); err != nil {
		t.Fatal(err)
	}
	if got := s.Sum().(*msg.Stats).Rows; got != 4+3+4 {
		t.Errorf("the sum has %d rows, want 11: a refused duplicate replaced partition 2's partial", got)
	}

	// Release gives every kept partial's buffers to the pool and empties
	// the set.
	pool := msg.NewPool()
	s.Release(nil)
	kept := []*msg.Stats{stats(pool, 7, 0, 1), stats(pool, 7, 2, 1)}
	for _, k := range kept {
		if err := s.Offer(k, r, pool); err != nil {
			t.Fatal(err)
		}
	}
	s.Release(pool)
	if n, _ := pool.Idle(); n != 2 || len(s.Missing()) != 3 {
		t.Fatalf("after Release: %d idle buffers, missing %v; want 2 and every partition", n, s.Missing())
	}
	for _, k := range kept {
		if k.Gram != nil {
			t.Error("Release left a partial's Gram set")
		}
	}

	// Offers that complete siblings add them up at once, releasing the
	// right ones' buffers to the pool given; Release gives back the sum's.
	pool = msg.NewPool()
	all := []*msg.Stats{stats(pool, 7, 0, 1), stats(pool, 7, 1, 2), stats(pool, 7, 2, 3)}
	for _, p := range []int{2, 1, 0} {
		if err := s.Offer(all[p], r, pool); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := pool.Idle(); n != 2 || !s.Ready() || s.Sum().(*msg.Stats).Rows != 6 {
		t.Fatalf("after the merges: %d idle buffers, want 2; ready %v", n, s.Ready())
	}
	s.Release(pool)
	if n, _ := pool.Idle(); n != 3 {
		t.Fatalf("after Release: %d idle buffers, want 3", n)
	}
}

// spanStats returns the statistics of round iter of span sp of parts
// partitions: rows rows, R the sum of its partitions' IDs.
func spanStats(iter int, sp msg.Span, parts, rows int) *msg.Stats {
	s := stats(nil, iter, sp.Lo, rows)
	s.Parts = sp.N
	s.R[0] = 0
	for p := sp.Lo; p < sp.End(parts); p++ {
		s.R[0] += float64(p)
	}
	return s
}

// A set takes spans of partitions: canonical nodes of the reduction tree
// only, none overlapping what it holds.
func TestSetSpans(t *testing.T) {
	const P = 6 // the tree: (0,8) = (0,4) + (4,2); (4,4) is not canonical
	r := req(7)
	s := round.NewSet(P)
	for _, tc := range []struct {
		name string
		sp   msg.Span
		want error
	}{
		{"(2,2)", msg.Span{Lo: 2, N: 2}, nil},
		{"(3,1) inside (2,2)", msg.Leaf(3), round.ErrDuplicate},
		{"(0,4) over (2,2)", msg.Span{Lo: 0, N: 4}, round.ErrDuplicate},
		{"(4,4): not canonical", msg.Span{Lo: 4, N: 4}, round.ErrUnknown},
		{"(0,16): not canonical", msg.Span{Lo: 0, N: 16}, round.ErrUnknown},
		{"(1,2): not aligned", msg.Span{Lo: 1, N: 2}, round.ErrUnknown},
		{"(0,3): not a power of two", msg.Span{Lo: 0, N: 3}, round.ErrUnknown},
		{"(4,2)", msg.Span{Lo: 4, N: 2}, nil},
		{"(0,1)", msg.Leaf(0), nil},
	} {
		if err := s.Offer(spanStats(7, tc.sp, P, 1), r, nil); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if m := s.Missing(); !slices.Equal(m, []int{1}) || s.Ready() || s.Sum() != nil {
		t.Fatalf("Missing = %v, Ready %v, want [1], false", m, s.Ready())
	}
	if err := s.Offer(spanStats(7, msg.Leaf(1), P, 1), r, nil); err != nil {
		t.Fatal(err)
	}
	sum := s.Sum().(*msg.Stats)
	if !s.Ready() || sum.Span() != msg.Root(P) || sum.Rows != 4 || sum.R[0] != 0+1+2+3+4+5 {
		t.Fatalf("sum of span %v, %d rows, R %v; want the root, 4 rows, R 15", sum.Span(), sum.Rows, sum.R)
	}
}
