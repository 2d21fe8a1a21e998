// Package round is the machinery every round of training shares, whatever
// the kind of partial (package msg): the bookkeeping of one round's
// partials (Set: which partitions have answered, which offers to refuse),
// the bounded fan-out of one fetch per partition, and Gather, which fetches
// every missing partition of a round through a msg.Fetcher and offers each
// answer to a core as it arrives. The coordinator's cores, its driver and
// the tensor initialization's moment passes all use it.
package round

import (
	"errors"
	"fmt"

	"altmin/msg"
)

// Refusals of an offered partial. A refused partial is never reduced.
var (
	// ErrStale: a partial for another round.
	ErrStale = errors.New("round: partial for another round")
	// ErrDuplicate: a partition already received in this round.
	ErrDuplicate = errors.New("round: duplicate partial")
	// ErrUnknown: a partition out of range.
	ErrUnknown = errors.New("round: partial for an unknown partition")
)

// Set holds at most one partial per partition for the current round of
// partitions 0..P-1.
type Set struct {
	got []msg.Partial
	n   int
}

// NewSet returns an empty set for partitions 0..partitions-1.
func NewSet(partitions int) Set {
	return Set{got: make([]msg.Partial, partitions)}
}

// Len returns the number of partitions.
func (s *Set) Len() int { return len(s.got) }

// Check returns an error when a partial of partition p for round cannot be
// kept in round current: a stale round (ErrStale), a partition out of
// range (ErrUnknown) or one already received (ErrDuplicate), checked in
// that order.
func (s *Set) Check(p, round, current int) error {
	switch {
	case round != current:
		return fmt.Errorf("%w: partition %d, round %d, current %d", ErrStale, p, round, current)
	case p < 0 || p >= len(s.got):
		return fmt.Errorf("%w: partition %d, have %d", ErrUnknown, p, len(s.got))
	case s.got[p] != nil:
		return fmt.Errorf("%w: partition %d, round %d", ErrDuplicate, p, round)
	}
	return nil
}

// Offer keeps p as its partition's partial when it answers req: it refuses
// (keeping nothing) a nil partial (msg.ErrInvalid), one that Check
// refuses, and one that is not a valid answer to req (p.Check, wrapping
// msg.ErrInvalid).
func (s *Set) Offer(p msg.Partial, req msg.Request) error {
	if p == nil {
		return fmt.Errorf("%w: nil", msg.ErrInvalid)
	}
	if err := s.Check(p.Part(), p.Round(), req.Round()); err != nil {
		return err
	}
	if err := p.Check(req); err != nil {
		return err
	}
	s.Put(p.Part(), p)
	return nil
}

// Put keeps v as partition p's partial. It panics unless Check(p, ...)
// accepted p.
func (s *Set) Put(p int, v msg.Partial) {
	if v == nil || s.got[p] != nil {
		panic(fmt.Sprintf("round: Put of partition %d: nil or already received", p))
	}
	s.got[p] = v
	s.n++
}

// Missing returns the partitions not yet received, ascending.
func (s *Set) Missing() []int {
	var m []int
	for p, v := range s.got {
		if v == nil {
			m = append(m, p)
		}
	}
	return m
}

// Ready reports whether every partition's partial has been received.
func (s *Set) Ready() bool { return s.n == len(s.got) }

// All returns the partials in partition order, the only order to reduce
// them in; nil for those missing. The caller must not modify the slice.
func (s *Set) All() []msg.Partial { return s.got }

// Reset drops every partial, for the next round.
func (s *Set) Reset() {
	clear(s.got)
	s.n = 0
}

// Release gives every partial's buffers back to pool and drops them.
func (s *Set) Release(pool *msg.Pool) {
	for _, p := range s.got {
		if p != nil {
			p.Release(pool)
		}
	}
	s.Reset()
}
