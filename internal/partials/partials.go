// Package partials keeps the partial results of one round, one per
// partition, for the iteration cores of packages coordinator and deep:
// which partitions have answered, which are missing, and which offers to
// refuse (for another round, a duplicate, an unknown partition).
package partials

import "fmt"

// Errors are the sentinel errors a core wraps for refused offers, and its
// word for a round ("iteration", "step") in their messages.
type Errors struct {
	Stale     error // a partial for another round
	Duplicate error // a partition already received in this round
	Unknown   error // a partition out of range
	Round     string
}

// Set holds at most one partial per partition for the current round.
type Set[T any] struct {
	errs Errors
	got  []*T
	n    int
}

// New returns an empty set for partitions 0..partitions-1.
func New[T any](partitions int, errs Errors) Set[T] {
	return Set[T]{errs: errs, got: make([]*T, partitions)}
}

// Len returns the number of partitions.
func (s *Set[T]) Len() int { return len(s.got) }

// Check returns an error, wrapping the sentinel of s's Errors, when a
// partial of partition p for round cannot be kept in round current: a
// stale round, an unknown partition or one already received, checked in
// that order.
func (s *Set[T]) Check(p, round, current int) error {
	switch {
	case round != current:
		return fmt.Errorf("%w: partition %d, %s %d, current %d", s.errs.Stale, p, s.errs.Round, round, current)
	case p < 0 || p >= len(s.got):
		return fmt.Errorf("%w: partition %d, have %d", s.errs.Unknown, p, len(s.got))
	case s.got[p] != nil:
		return fmt.Errorf("%w: partition %d, %s %d", s.errs.Duplicate, p, s.errs.Round, round)
	}
	return nil
}

// Put keeps v as partition p's partial. It panics unless Check(p, ...)
// accepted p.
func (s *Set[T]) Put(p int, v *T) {
	if v == nil || s.got[p] != nil {
		panic(fmt.Sprintf("partials: Put of partition %d: nil or already received", p))
	}
	s.got[p] = v
	s.n++
}

// Missing returns the partitions not yet received, ascending.
func (s *Set[T]) Missing() []int {
	var m []int
	for p, v := range s.got {
		if v == nil {
			m = append(m, p)
		}
	}
	return m
}

// Ready reports whether every partition's partial has been received.
func (s *Set[T]) Ready() bool { return s.n == len(s.got) }

// All returns the partials in partition order, the only order to reduce
// them in; nil for those missing. The caller must not modify the slice.
func (s *Set[T]) All() []*T { return s.got }

// Reset drops every partial, for the next round.
func (s *Set[T]) Reset() {
	clear(s.got)
	s.n = 0
}
