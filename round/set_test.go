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
		{3, 5, round.ErrUnknown, "round: partial for an unknown partition: partition 3, have 3"},
		{-1, 5, round.ErrUnknown, "round: partial for an unknown partition: partition -1, have 3"},
		{-1, 4, round.ErrStale, "round: partial for another round: partition -1, round 4, current 5"}, // stale first
		{2, 6, round.ErrStale, "round: partial for another round: partition 2, round 6, current 5"},   // stale before duplicate
		{0, 5, nil, ""},
	} {
		err := s.Check(tc.p, tc.round, 5)
		if !errors.Is(err, tc.want) || (err != nil && err.Error() != tc.msg) {
			t.Fatalf("Check(%d, %d) = %v, want %q", tc.p, tc.round, err, tc.msg)
		}
		if err == nil {
			s.Put(tc.p, stats(nil, 5, tc.p, 2))
		}
	}
	if m := s.Missing(); !slices.Equal(m, []int{1}) || s.Ready() {
		t.Fatalf("Missing = %v, Ready = %v, want [1], false", m, s.Ready())
	}
	one := stats(nil, 5, 1, 1)
	s.Put(1, one)
	if !s.Ready() || s.Missing() != nil || s.All()[1] != one || s.Len() != 3 {
		t.Fatalf("after all: Ready %v, Missing %v, All %v", s.Ready(), s.Missing(), s.All())
	}
	for p, v := range s.All() {
		if v.Part() != p {
			t.Errorf("All()[%d] is partition %d's", p, v.Part())
		}
	}
	s.Reset()
	if s.Ready() || len(s.Missing()) != 3 || s.All()[1] != nil || s.Len() != 3 {
		t.Fatalf("after Reset: Ready %v, Missing %v", s.Ready(), s.Missing())
	}
}

func TestPutTwicePanics(t *testing.T) {
	for name, second := range map[string]msg.Partial{"twice": stats(nil, 0, 0, 1), "nil": nil} {
		t.Run(name, func(t *testing.T) {
			s := round.NewSet(1)
			if name == "twice" {
				s.Put(0, stats(nil, 0, 0, 1))
			}
			defer func() {
				if recover() == nil {
					t.Errorf("Put %s did not panic", name)
				}
			}()
			s.Put(0, second)
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
		{"duplicate", stats(nil, 7, 2, 4), round.ErrDuplicate},
		{"stale", stats(nil, 6, 0, 4), round.ErrStale},
		{"future", stats(nil, 8, 0, 4), round.ErrStale},
		{"unknown", stats(nil, 7, 3, 4), round.ErrUnknown},
		{"negative rows", stats(nil, 7, 0, -1), msg.ErrInvalid},
		{"NaN", nan, msg.ErrInvalid},
		{"partition 0", stats(nil, 7, 0, 4), nil},
	} {
		if err := s.Offer(tc.p, r); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
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
	if err := s0.Offer(m12, req(0)); !errors.Is(err, msg.ErrInvalid) || !slices.Equal(s0.Missing(), []int{0}) {
		t.Errorf("moment sums offered for a statistics request: %v, missing %v", err, s0.Missing())
	}
	if got := s.All()[2].(*msg.Stats).Rows; got != 4 {
		t.Errorf("partition 2 holds the partial of %d rows: a refused duplicate replaced it", got)
	}

	// Release gives every kept partial's buffers to the pool and empties
	// the set.
	pool := msg.NewPool()
	s.Reset()
	kept := []*msg.Stats{stats(pool, 7, 0, 1), stats(pool, 7, 2, 1)}
	for _, k := range kept {
		if err := s.Offer(k, r); err != nil {
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
}
