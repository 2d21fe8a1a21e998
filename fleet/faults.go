package fleet

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

	"altmin/msg"
)

// This file holds the in-memory Caller and composable fault decorators
// over any Caller, for tests and fault drills: each wraps a Caller and
// changes what some calls do, whatever the request's kind.

// ErrInjected is the error returned by injected faults.
var ErrInjected = errors.New("fleet: injected fault")

// Engines is an in-memory Caller: each shard ID maps to a fetcher that
// computes its partitions in process, such as a *shard.Engine.
type Engines map[string]msg.Fetcher

// Call implements Caller: ctx's error once ctx is done, an error for a
// shard ID not in e, else the shard's answer.
func (e Engines) Call(ctx context.Context, m Member, req msg.Request, p msg.Span) (msg.Partial, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f := e[m.ID]
	if f == nil {
		return nil, fmt.Errorf("fleet: no such shard %s", m.ID)
	}
	return f.Fetch(ctx, req, p)
}

// Hook returns a Caller that runs before ahead of every call of c and
// fails the call with before's error when it is not nil. The fault
// decorators below are hooks.
func Hook(c Caller, before func(ctx context.Context, m Member, req msg.Request, p msg.Span) error) Caller {
	return CallerFunc(func(ctx context.Context, m Member, req msg.Request, p msg.Span) (msg.Partial, error) {
		if err := before(ctx, m, req, p); err != nil {
			return nil, err
		}
		return c.Call(ctx, m, req, p)
	})
}

// FailNth makes the n-th call (1-based, counted over all calls) fail with
// ErrInjected.
func FailNth(c Caller, n int) Caller {
	var mu sync.Mutex
	count := 0
	return Hook(c, func(context.Context, Member, msg.Request, msg.Span) error {
		mu.Lock()
		defer mu.Unlock()
		count++
		if count == n {
			return ErrInjected
		}
		return nil
	})
}

// FailWhen makes the calls for which cond returns true fail with
// ErrInjected.
func FailWhen(c Caller, cond func(m Member, req msg.Request, p msg.Span) bool) Caller {
	return Hook(c, func(_ context.Context, m Member, req msg.Request, p msg.Span) error {
		if cond(m, req, p) {
			return ErrInjected
		}
		return nil
	})
}

// BlockWhen makes the calls for which cond returns true wait until release
// is closed (then proceed) or their context ends (then fail with its
// error): a straggler or a hung shard, without sleeping.
func BlockWhen(c Caller, release <-chan struct{}, cond func(m Member, req msg.Request, p msg.Span) bool) Caller {
	return Hook(c, func(ctx context.Context, m Member, req msg.Request, p msg.Span) error {
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

// Drop makes each call fail with ErrInjected with probability prob, drawn
// from a generator seeded with seed.
func Drop(c Caller, prob float64, seed uint64) Caller {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, 0))
	return Hook(c, func(context.Context, Member, msg.Request, msg.Span) error {
		mu.Lock()
		drop := rng.Float64() < prob
		mu.Unlock()
		if drop {
			return ErrInjected
		}
		return nil
	})
}
