package deep

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"altmin/internal/drive"
	"altmin/shard"
)

// Fetcher obtains one partition's statistics for a request: computed in
// process (LocalFetcher) or by a shard over the network. The driver only
// requires that the answer be that of the requested partition and step; the
// core checks both, and the sizes and finiteness, before reducing it.
type Fetcher interface {
	Fetch(ctx context.Context, req *Request, partition int) (*Partial, error)
}

// Driver runs a Core to completion through a Fetcher, in the shape of
// coordinator.Driver. Its duties, each step:
//
//  1. take the current Request from the core;
//  2. fetch every missing partition's Partial, at most Parallel at a time;
//  3. offer each answer to the core from this goroutine as it arrives (the
//     core rejects stale, duplicate, unknown and malformed partials; a
//     duplicate is logged and ignored, any other rejection stops training
//     with an error naming the partition);
//  4. when none is missing, advance the core (reduce in partition order,
//     decide a stop, solve) and hand the Report to OnReport;
//  5. stop when the core reports a stop reason, OnReport fails, or a
//     partition cannot be fetched.
//
// Reduction is in partition order only, so the weights do not depend on the
// order in which answers arrive or on who computed them.
type Driver struct {
	Core    *Core
	Fetcher Fetcher
	// Parallel bounds the fetches in flight; 0 means one per partition.
	Parallel int
	Log      *zap.Logger // nil: no logging
	// OnReport, when set, is called after every step with its report and
	// wall times; an error stops training.
	OnReport func(Report, Timing) error
	// Now returns the current time, for step wall times; nil means time.Now.
	Now func() time.Time
}

// Timing is the wall time of one step and of its two phases (Total,
// Stats, Solve), read from Driver.Now.
type Timing = drive.Timing

// errNoStats is the error of a fetch that returned neither statistics nor
// an error.
var errNoStats = errors.New("no statistics returned")

// Run steps until the core stops and returns the last report.
func (d *Driver) Run(ctx context.Context) (Report, error) {
	log := d.Log
	if log == nil {
		log = zap.NewNop()
	}
	return drive.Loop[Report]{
		Gather:   func() error { return d.step(ctx, log) },
		Advance:  d.Core.Advance,
		Final:    func(r Report) bool { return r.Stop != Running },
		OnReport: d.OnReport,
		Now:      d.Now,
	}.Run()
}

// step fetches every missing partition of the current step.
func (d *Driver) step(ctx context.Context, log *zap.Logger) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := d.Core.Request()
	return drive.Gather(ctx, d.Core, drive.Round[Partial]{
		Name: fmt.Sprintf("deep: step %d", req.Step), Field: zap.Int("step", req.Step), Log: log,
		Parallel: d.Parallel, Order: drive.OrderOf(d.Fetcher), Duplicate: ErrDuplicate,
		Fetch: func(ctx context.Context, p int) (*Partial, error) {
			part, err := d.Fetcher.Fetch(ctx, req, p)
			if err == nil && part == nil {
				err = errNoStats
			}
			return part, err
		},
		Partition: func(p *Partial) int { return p.Partition },
	})
}

// LocalFetcher computes partials in process over partitions it holds, one
// Workspace per partition; calls for one partition are serialized, calls
// for different partitions run concurrently. It is also what a shard
// serves deep statistics with.
type LocalFetcher struct {
	slots map[int]*localSlot
}

type localSlot struct {
	mu sync.Mutex
	p  *shard.Partition
	ws Workspace
}

// NewLocalFetcher returns a fetcher over the given partitions, which must
// have distinct IDs.
func NewLocalFetcher(parts ...*shard.Partition) (*LocalFetcher, error) {
	l := &LocalFetcher{slots: make(map[int]*localSlot, len(parts))}
	for _, p := range parts {
		if p == nil {
			return nil, errors.New("deep: nil partition")
		}
		if _, dup := l.slots[p.ID]; dup {
			return nil, fmt.Errorf("deep: partition %d given twice", p.ID)
		}
		l.slots[p.ID] = &localSlot{p: p}
	}
	return l, nil
}

// EngineFetcher computes partials in process over the partitions of a
// shard engine, through Engine.Use: under the engine's computation tokens,
// and with a streaming engine (shard.NewStreamingEngine) reading each
// partition when it is needed. Each call has its own Workspace (a few
// vectors of the layer widths).
type EngineFetcher struct{ Engine *shard.Engine }

// Fetch implements Fetcher.
func (f EngineFetcher) Fetch(ctx context.Context, req *Request, partition int) (*Partial, error) {
	var ws Workspace
	var out *Partial
	err := f.Engine.Use(ctx, partition, func(p *shard.Partition) error {
		var err error
		out, err = PartitionStats(&ws, p, req)
		return err
	})
	return out, err
}

// Fetch implements Fetcher: PartitionStats of the partition held.
func (l *LocalFetcher) Fetch(ctx context.Context, req *Request, partition int) (*Partial, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := l.slots[partition]
	if s == nil {
		return nil, fmt.Errorf("%w: %d", shard.ErrNoPartition, partition)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return PartitionStats(&s.ws, s.p, req)
}
