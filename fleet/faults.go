package fleet

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"

	"altmin/shard"
)

// This file holds composable fault decorators for a Caller, for tests and
// fault drills: each wraps a Caller and changes what some calls do.

// ErrInjected is the error returned by injected faults.
var ErrInjected = errors.New("fleet: injected fault")

// CallerFunc adapts a function to a Caller.
type CallerFunc func(ctx context.Context, m Member, req *shard.Request, p int) (*shard.Stats, error)

// Step implements Caller.
func (f CallerFunc) Step(ctx context.Context, m Member, req *shard.Request, p int) (*shard.Stats, error) {
	return f(ctx, m, req, p)
}

// Engines is an in-memory Caller: each shard ID maps to an engine that
// computes its partitions in process.
type Engines map[string]*shard.Engine

// Step implements Caller.
func (e Engines) Step(ctx context.Context, m Member, req *shard.Request, p int) (*shard.Stats, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	eng := e[m.ID]
	if eng == nil {
		return nil, errors.New("fleet: no such shard " + m.ID)
	}
	return eng.Compute(req, p)
}

// FailNth makes the n-th call (1-based, counted over all calls) fail.
func FailNth(c Caller, n int) Caller {
	var mu sync.Mutex
	count := 0
	return CallerFunc(func(ctx context.Context, m Member, req *shard.Request, p int) (*shard.Stats, error) {
		mu.Lock()
		count++
		hit := count == n
		mu.Unlock()
		if hit {
			return nil, ErrInjected
		}
		return c.Step(ctx, m, req, p)
	})
}

// FailWhen makes calls fail for which cond returns true.
func FailWhen(c Caller, cond func(m Member, req *shard.Request, p int) bool) Caller {
	return CallerFunc(func(ctx context.Context, m Member, req *shard.Request, p int) (*shard.Stats, error) {
		if cond(m, req, p) {
			return nil, ErrInjected
		}
		return c.Step(ctx, m, req, p)
	})
}

// BlockWhen makes calls for which cond returns true wait until release is
// closed (then proceed) or their context ends (then fail): a straggler or a
// hung shard, without sleeping.
func BlockWhen(c Caller, release <-chan struct{}, cond func(m Member, req *shard.Request, p int) bool) Caller {
	return CallerFunc(func(ctx context.Context, m Member, req *shard.Request, p int) (*shard.Stats, error) {
		if cond(m, req, p) {
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return c.Step(ctx, m, req, p)
	})
}

// Drop makes each call fail with probability prob, drawn from a generator
// seeded with seed.
func Drop(c Caller, prob float64, seed uint64) Caller {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, 0))
	return CallerFunc(func(ctx context.Context, m Member, req *shard.Request, p int) (*shard.Stats, error) {
		mu.Lock()
		drop := rng.Float64() < prob
		mu.Unlock()
		if drop {
			return nil, ErrInjected
		}
		return c.Step(ctx, m, req, p)
	})
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
