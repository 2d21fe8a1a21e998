package msg

import (
	"fmt"
	"math/bits"
)

// The reduction tree. The partials of partitions 0..P-1 are added in a
// fixed binary tree over the partition IDs, whoever adds them: node
// (lo, n), n a power of two and lo a multiple of n, is the sum of the
// partitions [lo, min(lo+n, P)), and it is its left child (lo, n/2) plus
// its right child (lo+n/2, n/2), in that order, when the right child has
// partitions, or else its left child unchanged. A shard that holds every
// partition of a node can add them itself and send one partial for the
// node (a Span); the coordinator adds the nodes it receives in the same
// tree. Floating-point addition is exact to the operands and their order,
// so the root is the same bits for every assignment of nodes to adders.

// Span is a node of the reduction tree: the partitions [Lo, Lo+N) clipped
// to P, N a power of two and Lo a multiple of N. The span of one partition
// p is Leaf(p).
type Span struct {
	Lo, N int
}

// Leaf returns the span of partition p alone.
func Leaf(p int) Span { return Span{Lo: p, N: 1} }

// Leaves returns the span of each of the partitions parts alone.
func Leaves(parts []int) []Span {
	spans := make([]Span, len(parts))
	for i, p := range parts {
		spans[i] = Leaf(p)
	}
	return spans
}

// End returns the first partition after s among partitions 0..parts-1.
func (s Span) End(parts int) int { return min(s.Lo+s.N, parts) }

// Count returns the number of partitions s covers among 0..parts-1.
func (s Span) Count(parts int) int { return s.End(parts) - s.Lo }

func (s Span) String() string {
	if s.N == 1 {
		return fmt.Sprintf("partition %d", s.Lo)
	}
	return fmt.Sprintf("partitions %d-%d", s.Lo, s.Lo+s.N-1)
}

// Check reports whether s is a node of the reduction tree of parts
// partitions in its canonical form: N a power of two, Lo a multiple of N
// inside [0, parts), and N the smallest size covering the same partitions
// (its right half is not empty). Errors wrap ErrInvalid.
func (s Span) Check(parts int) error {
	switch {
	case s.N < 1 || s.N&(s.N-1) != 0 || s.Lo < 0 || s.Lo%s.N != 0 || s.Lo >= parts:
		return fmt.Errorf("%w: span (%d, %d) is not a node of the reduction tree of %d partitions", ErrInvalid, s.Lo, s.N, parts)
	case s.N > 1 && s.Lo+s.N/2 >= parts:
		return fmt.Errorf("%w: span (%d, %d) of %d partitions has an empty right half: its canonical form is (%d, %d)", ErrInvalid, s.Lo, s.N, parts, s.Lo, s.Canonical(parts).N)
	}
	return nil
}

// Canonical returns the smallest node covering the same partitions of
// 0..parts-1 as s (a node whose right half is empty is its left half).
func (s Span) Canonical(parts int) Span {
	for s.N > 1 && s.Lo+s.N/2 >= parts {
		s.N /= 2
	}
	return s
}

// Children returns the canonical children of s among parts partitions:
// two, or one when the right child has no partitions; none for a leaf.
func (s Span) Children(parts int) []Span {
	if s.N == 1 {
		return nil
	}
	h := s.N / 2
	out := []Span{Span{s.Lo, h}.Canonical(parts)}
	if s.Lo+h < parts {
		out = append(out, Span{s.Lo + h, h}.Canonical(parts))
	}
	return out
}

// Root returns the root of the reduction tree of parts partitions.
func Root(parts int) Span {
	if parts <= 1 {
		return Leaf(0)
	}
	return Span{0, 1 << bits.Len(uint(parts-1))}
}

// Cover returns the largest nodes of the reduction tree of parts
// partitions whose partitions all satisfy in, in increasing order: the
// partitions satisfying in, cut into as few spans as the tree allows.
func Cover(parts int, in func(p int) bool) []Span {
	var out []Span
	var walk func(s Span)
	walk = func(s Span) {
		all := true
		any := false
		for p := s.Lo; p < s.End(parts); p++ {
			if in(p) {
				any = true
			} else {
				all = false
			}
		}
		switch {
		case all:
			out = append(out, s)
		case any:
			for _, c := range s.Children(parts) {
				walk(c)
			}
		}
	}
	if parts > 0 {
		walk(Root(parts))
	}
	return out
}

// Tree adds partials of one request in the reduction tree of its
// partitions, as they arrive in any order: it keeps the largest nodes
// received so far, adding two siblings into their parent (left plus
// right) as soon as both are there. A node's sum does not depend on the
// order in which its parts arrived. Tree does not check what it is given;
// round.Set checks offers before it puts them.
type Tree struct {
	parts int
	nodes map[int]Partial // by first partition: the disjoint nodes held
	held  []bool          // partitions covered by a node held
	n     int             // partitions covered
}

// NewTree returns an empty tree of the partials of parts partitions.
func NewTree(parts int) *Tree {
	return &Tree{parts: parts, nodes: map[int]Partial{}, held: make([]bool, parts)}
}

// Parts returns the number of partitions.
func (t *Tree) Parts() int { return t.parts }

// Covers reports whether any partition of s is covered by a node held.
func (t *Tree) Covers(s Span) bool {
	for p := s.Lo; p < s.End(t.parts); p++ {
		if t.held[p] {
			return true
		}
	}
	return false
}

// Put adds v, a partial for req whose span must be a canonical node none
// of whose partitions is covered yet, and then every pair of siblings now
// complete into their parent (Partial.Add), releasing the right ones'
// buffers to pool.
func (t *Tree) Put(v Partial, req Request, pool *Pool) {
	s := v.Span()
	for p := s.Lo; p < s.End(t.parts); p++ {
		t.held[p] = true
	}
	t.n += s.Count(t.parts)
	for s.N < Root(t.parts).N {
		parent := Span{s.Lo &^ (2*s.N - 1), 2 * s.N}
		if parent.Lo+s.N >= t.parts { // no right child: the parent is s
			s = parent
			continue
		}
		left, right := Span{parent.Lo, s.N}, Span{parent.Lo + s.N, s.N}.Canonical(t.parts)
		sibling := right
		if s.Lo != left.Lo {
			sibling = left
		}
		other := t.nodes[sibling.Lo]
		if other == nil || other.Span() != sibling {
			break
		}
		delete(t.nodes, sibling.Lo)
		if sibling == left { // left plus right, whichever arrived last
			v, other = other, v
		}
		v.Add(other, req)
		other.Release(pool)
		v.setSpan(parent)
		s = parent
	}
	v.setSpan(s.Canonical(t.parts))
	t.nodes[s.Lo] = v
}

// Missing returns the partitions not yet covered, ascending.
func (t *Tree) Missing() []int {
	var m []int
	for p, h := range t.held {
		if !h {
			m = append(m, p)
		}
	}
	return m
}

// Ready reports whether every partition is covered: the root is held.
func (t *Tree) Ready() bool { return t.n == t.parts }

// Sum returns the root's partial, the sum of every partition, once Ready;
// nil before. The tree keeps it: Release gives its buffers back.
func (t *Tree) Sum() Partial {
	if !t.Ready() {
		return nil
	}
	return t.nodes[0]
}

// Take removes and returns the node of span s, nil when the tree does not
// hold it (whole): the sum of a span all of whose partitions were put.
func (t *Tree) Take(s Span) Partial {
	v := t.nodes[s.Lo]
	if v == nil || v.Span() != s {
		return nil
	}
	delete(t.nodes, s.Lo)
	for p := s.Lo; p < s.End(t.parts); p++ {
		t.held[p] = false
	}
	t.n -= s.Count(t.parts)
	return v
}

// Release gives the buffers of every node held back to pool and empties
// the tree.
func (t *Tree) Release(pool *Pool) {
	for _, v := range t.nodes {
		v.Release(pool)
	}
	clear(t.nodes)
	clear(t.held)
	t.n = 0
}
