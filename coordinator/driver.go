package coordinator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"altmin/internal/drive"
	"altmin/shard"
)

// ErrUnavailable is wrapped by Fetcher errors meaning that no node can
// currently compute a partition (as opposed to a malformed answer).
var ErrUnavailable = errors.New("coordinator: partition unavailable")

// Fetcher obtains one partition's statistics for a request. Implementations
// choose where the partition is computed (in process, a shard over gRPC,
// another replica after a failure); the driver only requires that the
// returned statistics be those of the requested partition and iteration, and
// the core checks that before reducing them.
type Fetcher interface {
	Fetch(ctx context.Context, req *shard.Request, partition int) (*shard.Stats, error)
}

// Driver runs a Core to completion: each iteration it fans the request out
// to every missing partition, feeds the answers to the core from a single
// goroutine, and advances.
//
// The driver's duties, in order, each iteration:
//  1. take the request of the current iteration from the core;
//  2. fetch every partition's statistics, at most Parallel at a time, within
//     StepTimeout;
//  3. offer each answer to the core as it arrives (the core rejects stale,
//     duplicate and malformed partials, which are logged and never reduced);
//  4. when no partition is missing, advance the core (reduce in partition
//     order, solve) and hand the report to OnReport;
//  5. stop when the core reports a stop reason, OnReport fails, or a
//     partition cannot be fetched (the error names it).
type Driver struct {
	Core    *Core
	Fetcher Fetcher
	// Parallel bounds the fetches in flight; 0 means one per partition.
	Parallel int
	// StepTimeout bounds one iteration's fetches; 0 means no bound.
	StepTimeout time.Duration
	Log         *zap.Logger
	// OnReport, when set, is called after every iteration with its report
	// and wall times; an error stops training.
	OnReport func(Report, Timing) error
	// Now returns the current time, for iteration wall times; nil means
	// time.Now.
	Now func() time.Time
	// AllowDegraded continues an iteration without a partition whose
	// fetch failed with ErrUnavailable, leaving its samples out (logged at
	// error level and listed in the report). Off by default: a missing
	// partition stops training with an error naming it.
	AllowDegraded bool
}

// Timing is the wall time of one iteration and of its two phases (Total,
// Stats, Solve), read from Driver.Now.
type Timing = drive.Timing

// Run iterates until the core stops and returns the last report.
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

// step fetches every missing partition of the current iteration.
func (d *Driver) step(ctx context.Context, log *zap.Logger) error {
	req := d.Core.Request()
	return drive.Gather(ctx, d.Core, drive.Round[shard.Stats]{
		Name: fmt.Sprintf("coordinator: iteration %d", req.Iter), Field: zap.Int("iter", req.Iter), Log: log,
		Parallel: d.Parallel, Order: drive.OrderOf(d.Fetcher), Timeout: d.StepTimeout, Duplicate: ErrDuplicate,
		Fetch: func(ctx context.Context, p int) (*shard.Stats, error) {
			return d.Fetcher.Fetch(ctx, req, p)
		},
		Partition: func(s *shard.Stats) int { return s.Partition },
		Skip: func(p int, err error) (bool, error) {
			if !d.AllowDegraded || !errors.Is(err, ErrUnavailable) {
				return false, nil
			}
			log.Error("DEGRADED: continuing without a partition; its samples are left out of this iteration", zap.Int("iter", req.Iter), zap.Int("partition", p), zap.Error(err))
			return true, d.Core.Skip(p)
		},
	})
}

// LocalFetcher computes statistics in process with a shard engine.
type LocalFetcher struct{ Engine *shard.Engine }

// Fetch implements Fetcher.
func (l LocalFetcher) Fetch(ctx context.Context, req *shard.Request, partition int) (*shard.Stats, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return l.Engine.ComputeContext(ctx, req, partition)
}
