package partials

import (
	"errors"
	"slices"
	"testing"
)

var (
	errStale     = errors.New("stale")
	errDuplicate = errors.New("duplicate")
	errUnknown   = errors.New("unknown")
)

// A scripted round: out of order, duplicated, stale and unknown offers.
func TestSetRound(t *testing.T) {
	s := New[int](3, Errors{Stale: errStale, Duplicate: errDuplicate, Unknown: errUnknown, Round: "step"})
	one, two := 1, 2
	for _, tc := range []struct {
		p, round int
		want     error
		msg      string
	}{
		{2, 5, nil, ""},
		{2, 5, errDuplicate, "duplicate: partition 2, step 5"},
		{0, 4, errStale, "stale: partition 0, step 4, current 5"},
		{3, 5, errUnknown, "unknown: partition 3, have 3"},
		{-1, 5, errUnknown, "unknown: partition -1, have 3"},
		{0, 5, nil, ""},
	} {
		err := s.Check(tc.p, tc.round, 5)
		if !errors.Is(err, tc.want) || (err != nil && err.Error() != tc.msg) {
			t.Fatalf("Check(%d, %d) = %v, want %q", tc.p, tc.round, err, tc.msg)
		}
		if err == nil {
			s.Put(tc.p, &two)
		}
	}
	if m := s.Missing(); !slices.Equal(m, []int{1}) || s.Ready() {
		t.Fatalf("Missing = %v, Ready = %v, want [1], false", m, s.Ready())
	}
	s.Put(1, &one)
	if !s.Ready() || s.Missing() != nil || *s.All()[1] != 1 || s.Len() != 3 {
		t.Fatalf("after all: Ready %v, Missing %v, All %v", s.Ready(), s.Missing(), s.All())
	}
	s.Reset()
	if s.Ready() || len(s.Missing()) != 3 || s.All()[1] != nil {
		t.Fatalf("after Reset: Ready %v, Missing %v", s.Ready(), s.Missing())
	}
}

func TestPutTwicePanics(t *testing.T) {
	s := New[int](1, Errors{})
	v := 1
	s.Put(0, &v)
	defer func() {
		if recover() == nil {
			t.Error("a second Put of partition 0 did not panic")
		}
	}()
	s.Put(0, &v)
}
