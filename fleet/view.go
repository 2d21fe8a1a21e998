package fleet

import (
	"altmin/msg"
	"slices"
	"strings"
	"sync"
)

// Member is a shard as seen by the membership layer.
type Member struct {
	ID         string
	Addr       string // gRPC address
	Partitions []int
}

// View is the membership view the fetcher needs: the live shards and a
// signal on every change.
type View interface {
	Shards() []Member
	Changes() <-chan struct{}
}

// Holders returns the live shards holding every partition of span s of
// parts partitions (its partitions from s.Lo below min(s.Lo+s.N, parts);
// parts <= 0: below s.Lo+s.N),
// in the order they are asked: sorted by ID, rotated by the span's index
// s.Lo/s.N so that replicas share the load.
func Holders(shards []Member, s msg.Span, parts int) []Member {
	var hs []Member
	for _, m := range shards {
		if m.holds(s, parts) {
			hs = append(hs, m)
		}
	}
	slices.SortFunc(hs, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	if len(hs) > 1 {
		r := (s.Lo / s.N) % len(hs)
		hs = append(hs[r:], hs[:r]...)
	}
	return hs
}

// holds reports whether m holds every partition of s of parts partitions
// (parts <= 0: unknown, s not clipped).
func (m Member) holds(s msg.Span, parts int) bool {
	end := s.Lo + s.N
	if parts > 0 {
		end = s.End(parts)
	}
	for p := s.Lo; p < end; p++ {
		if !slices.Contains(m.Partitions, p) {
			return false
		}
	}
	return true
}

// Missing returns the partitions of 0..parts-1 that no live shard holds.
func Missing(shards []Member, parts int) []int {
	held := make([]bool, parts)
	for _, m := range shards {
		for _, p := range m.Partitions {
			if p >= 0 && p < parts {
				held[p] = true
			}
		}
	}
	var miss []int
	for p, h := range held {
		if !h {
			miss = append(miss, p)
		}
	}
	return miss
}

// StaticView is a fixed membership view; Set replaces its members and
// signals a change.
type StaticView struct {
	mu      sync.Mutex
	members []Member
	ch      chan struct{}
}

// NewStaticView returns a view listing members.
func NewStaticView(members ...Member) *StaticView {
	return &StaticView{members: members, ch: make(chan struct{}, 1)}
}

// Shards implements View.
func (v *StaticView) Shards() []Member {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]Member(nil), v.members...)
}

// Changes implements View.
func (v *StaticView) Changes() <-chan struct{} { return v.ch }

// Set replaces the members and signals a change.
func (v *StaticView) Set(members ...Member) {
	v.mu.Lock()
	v.members = append([]Member(nil), members...)
	v.mu.Unlock()
	select {
	case v.ch <- struct{}{}:
	default:
	}
}
