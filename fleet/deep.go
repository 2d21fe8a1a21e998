package fleet

import (
	"context"
	"errors"

	"go.uber.org/zap"

	"altmin/deep"
)

// DeepCaller asks one shard for one partition's statistics of a deep
// network's solve step (deep.PartitionStats). As for Caller, an error that
// wraps errors.ErrUnsupported means the shard does not implement the call.
type DeepCaller interface {
	DeepStep(ctx context.Context, m Member, req *deep.Request, partition int) (*deep.Partial, error)
}

// DeepFetcher implements deep.Fetcher over a cluster: each partition's
// statistics come from one of its live replicas, with the failover,
// hedging and rejoin wait of Fetcher.Fetch (the configuration and the
// membership view of F), through Caller.
type DeepFetcher struct {
	F      *Fetcher
	Caller DeepCaller
}

// Fetch implements deep.Fetcher.
func (d DeepFetcher) Fetch(ctx context.Context, req *deep.Request, p int) (*deep.Partial, error) {
	part, m, err := do(ctx, d.F, p, "deepstep", []zap.Field{zap.Int("step", req.Step)},
		func(ctx context.Context, m Member) (*deep.Partial, error) { return d.Caller.DeepStep(ctx, m, req, p) })
	if err != nil {
		return nil, err
	}
	d.F.noteAnswer(req.Step, m.ID)
	return part, nil
}

// Answered returns the IDs of the shards whose statistics were used in
// step, sorted.
func (d DeepFetcher) Answered(step int) []string { return d.F.Answered(step) }

// Schedule implements drive.Scheduler, as Fetcher does.
func (d DeepFetcher) Schedule(parts []int) []int { return d.F.Schedule(parts) }

// DeepEngines is an in-memory DeepCaller: each shard ID maps to a fetcher
// that computes its partitions in process.
type DeepEngines map[string]*deep.LocalFetcher

// DeepStep implements DeepCaller.
func (e DeepEngines) DeepStep(ctx context.Context, m Member, req *deep.Request, p int) (*deep.Partial, error) {
	f := e[m.ID]
	if f == nil {
		return nil, errors.New("fleet: no such shard " + m.ID)
	}
	return f.Fetch(ctx, req, p)
}

// DeepHook returns a DeepCaller that runs before ahead of every call of c
// and fails the call with before's error when it is not nil: the deep
// counterpart of Hook, for fault drills.
func DeepHook(c DeepCaller, before func(ctx context.Context, m Member, req *deep.Request, p int) error) DeepCaller {
	return deepHooked{next: c, before: before}
}

type deepHooked struct {
	next   DeepCaller
	before func(ctx context.Context, m Member, req *deep.Request, p int) error
}

func (h deepHooked) DeepStep(ctx context.Context, m Member, req *deep.Request, p int) (*deep.Partial, error) {
	if err := h.before(ctx, m, req, p); err != nil {
		return nil, err
	}
	return h.next.DeepStep(ctx, m, req, p)
}
