package fleet

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

	"altmin/shard"
)

// This file holds composable fault decorators for a Caller, for tests and
// fault drills: each wraps a Caller and changes what some calls do.

// ErrInjected is the error returned by injected faults.
var ErrInjected = errors.New("fleet: injected fault")

// Engines is an in-memory Caller: each shard ID maps to an engine that
// computes its partitions in process.
type Engines map[string]*shard.Engine

// engine returns the engine of shard m, checking that it holds partition p
// with d features per row (d < 0: any).
func (e Engines) engine(ctx context.Context, m Member, p, d int) (*shard.Engine, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	eng := e[m.ID]
	if eng == nil {
		return nil, errors.New("fleet: no such shard " + m.ID)
	}
	if _, pd, ok := eng.Shape(p); d >= 0 && ok && pd != d {
		return nil, fmt.Errorf("fleet: shard %s: partition %d has d = %d, the call expects %d", m.ID, p, pd, d)
	}
	return eng, nil
}

// Step implements Caller.
func (e Engines) Step(ctx context.Context, m Member, req *shard.Request, p int) (*shard.Stats, error) {
	eng, err := e.engine(ctx, m, p, -1)
	if err != nil {
		return nil, err
	}
	return eng.ComputeContext(ctx, req, p)
}

// Moments12 implements Caller.
func (e Engines) Moments12(ctx context.Context, m Member, p, d int, base *shard.Baseline, order int) (*shard.Moments12, error) {
	eng, err := e.engine(ctx, m, p, d)
	if err != nil {
		return nil, err
	}
	return eng.Moments12Context(ctx, p, base, order)
}

// Moment4 implements Caller.
func (e Engines) Moment4(ctx context.Context, m Member, p, d int, v []float64, k int, base *shard.Baseline) (*shard.Moment4, error) {
	eng, err := e.engine(ctx, m, p, d)
	if err != nil {
		return nil, err
	}
	return eng.Moment4Context(ctx, p, v, k, base)
}

// Hook returns a Caller that runs before ahead of every call of c, of any
// method, and fails the call with before's error when it is not nil. req
// is the request of a Step call and nil for a moment pass (Moments12,
// Moment4). The fault decorators below are hooks.
func Hook(c Caller, before func(ctx context.Context, m Member, req *shard.Request, p int) error) Caller {
	return hooked{next: c, before: before}
}

type hooked struct {
	next   Caller
	before func(ctx context.Context, m Member, req *shard.Request, p int) error
}

func (h hooked) Step(ctx context.Context, m Member, req *shard.Request, p int) (*shard.Stats, error) {
	if err := h.before(ctx, m, req, p); err != nil {
		return nil, err
	}
	return h.next.Step(ctx, m, req, p)
}

func (h hooked) Moments12(ctx context.Context, m Member, p, d int, base *shard.Baseline, order int) (*shard.Moments12, error) {
	if err := h.before(ctx, m, nil, p); err != nil {
		return nil, err
	}
	return h.next.Moments12(ctx, m, p, d, base, order)
}

func (h hooked) Moment4(ctx context.Context, m Member, p, d int, v []float64, k int, base *shard.Baseline) (*shard.Moment4, error) {
	if err := h.before(ctx, m, nil, p); err != nil {
		return nil, err
	}
	return h.next.Moment4(ctx, m, p, d, v, k, base)
}

// FailNth makes the n-th call (1-based, counted over all calls of every
// method) fail.
func FailNth(c Caller, n int) Caller {
	var mu sync.Mutex
	count := 0
	return Hook(c, func(context.Context, Member, *shard.Request, int) error {
		mu.Lock()
		defer mu.Unlock()
		count++
		if count == n {
			return ErrInjected
		}
		return nil
	})
}

// FailWhen makes calls fail for which cond returns true; req is nil for a
// moment pass.
func FailWhen(c Caller, cond func(m Member, req *shard.Request, p int) bool) Caller {
	return Hook(c, func(_ context.Context, m Member, req *shard.Request, p int) error {
		if cond(m, req, p) {
			return ErrInjected
		}
		return nil
	})
}

// BlockWhen makes calls for which cond returns true (req is nil for a
// moment pass) wait until release is closed (then proceed) or their
// context ends (then fail): a straggler or a hung shard, without sleeping.
func BlockWhen(c Caller, release <-chan struct{}, cond func(m Member, req *shard.Request, p int) bool) Caller {
	return Hook(c, func(ctx context.Context, m Member, req *shard.Request, p int) error {
		if cond(m, req, p) {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
}

// Drop makes each call fail with probability prob, drawn from a generator
// seeded with seed.
func Drop(c Caller, prob float64, seed uint64) Caller {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, 0))
	return Hook(c, func(context.Context, Member, *shard.Request, int) error {
		mu.Lock()
		drop := rng.Float64() < prob
		mu.Unlock()
		if drop {
			return ErrInjected
		}
		return nil
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
