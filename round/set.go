// Package round is the machinery every round of training shares, whatever
// the kind of partial (package msg): the bookkeeping of one round's
// partials (Set: which partitions have answered, which offers to refuse,
// their sum in the reduction tree), and Gather, which fetches every
// missing partition of a round through a msg.Fetcher, in the spans a
// Planner plans, at most so many at a time, halving the spans that fail,
// and offers each answer to a core as it arrives. The coordinator's cores, its driver and
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

// Set holds the partials of the current round of partitions 0..P-1, each
// of one span (a node of the reduction tree, msg.Span), and adds them up
// in the tree as they arrive (msg.Tree): at most one partial covers a
// partition, and once every partition is covered the set holds the sum of
// all of them, the same bits whatever spans it was received in.
type Set struct {
	tree *msg.Tree
}

// NewSet returns an empty set for partitions 0..partitions-1.
func NewSet(partitions int) Set {
	return Set{tree: msg.NewTree(partitions)}
}

// Len returns the number of partitions.
func (s *Set) Len() int { return s.tree.Parts() }

// Check returns an error when a partial of span sp for round cannot be
// kept in round current: a stale round (ErrStale), a span that is not a
// node of the reduction tree (ErrUnknown) or one with a partition already
// received (ErrDuplicate), checked in that order.
func (s *Set) Check(sp msg.Span, round, current int) error {
	switch {
	case round != current:
		return fmt.Errorf("%w: %s, round %d, current %d", ErrStale, sp, round, current)
	case sp.Check(s.Len()) != nil:
		return fmt.Errorf("%w: %v", ErrUnknown, sp.Check(s.Len()))
	case s.tree.Covers(sp):
		return fmt.Errorf("%w: %s, round %d", ErrDuplicate, sp, round)
	}
	return nil
}

// Offer adds p to the set when it answers req: it refuses (keeping
// nothing) a nil partial (msg.ErrInvalid), one that Check refuses, and one
// that is not a valid answer to req (p.Check, wrapping msg.ErrInvalid).
// Partials added into others have their buffers released to pool.
func (s *Set) Offer(p msg.Partial, req msg.Request, pool *msg.Pool) error {
	if p == nil {
		return fmt.Errorf("%w: nil", msg.ErrInvalid)
	}
	if err := s.Check(p.Span(), p.Round(), req.Round()); err != nil {
		return err
	}
	if err := p.Check(req); err != nil {
		return err
	}
	s.tree.Put(p, req, pool)
	return nil
}

// Put adds v, a partial for req. It panics unless Check accepted v's span.
func (s *Set) Put(v msg.Partial, req msg.Request, pool *msg.Pool) {
	if v == nil || s.Check(v.Span(), v.Round(), v.Round()) != nil {
		panic(fmt.Sprintf("round: Put of %v: nil, not a node or already received", v))
	}
	s.tree.Put(v, req, pool)
}

// Missing returns the partitions not yet received, ascending.
func (s *Set) Missing() []int { return s.tree.Missing() }

// Ready reports whether every partition's partial has been received.
func (s *Set) Ready() bool { return s.tree.Ready() }

// Sum returns the sum of every partition's partial, added in the
// reduction tree, once Ready; nil before. The set keeps it until Release.
func (s *Set) Sum() msg.Partial { return s.tree.Sum() }

// Release gives every partial's buffers back to pool and drops them, for
// the next round.
func (s *Set) Release(pool *msg.Pool) { s.tree.Release(pool) }
