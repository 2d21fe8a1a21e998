package coordinator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"altmin/internal/fanout"
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

// Timing is the wall time of one iteration and of its two phases, read
// from Driver.Now.
type Timing struct {
	// Total is the whole iteration: Stats + Solve.
	Total time.Duration
	// Stats runs from the broadcast of the weights until every partial
	// statistic has arrived and been checked: the shards' statistics
	// passes and the transfer.
	Stats time.Duration
	// Solve is the core's step once every partial is in: the reduce of the
	// partials in partition order, loss, stop tests and the solve of the
	// normal equations.
	Solve time.Duration
}

// Run iterates until the core stops and returns the last report.
func (d *Driver) Run(ctx context.Context) (Report, error) {
	log := d.Log
	if log == nil {
		log = zap.NewNop()
	}
	now := d.Now
	if now == nil {
		now = time.Now
	}
	for {
		start := now()
		if err := d.step(ctx, log); err != nil {
			return Report{}, err
		}
		fetched := now()
		rep, err := d.Core.Advance()
		if err != nil {
			return rep, err
		}
		end := now()
		tm := Timing{Total: end.Sub(start), Stats: fetched.Sub(start), Solve: end.Sub(fetched)}
		if d.OnReport != nil {
			if err := d.OnReport(rep, tm); err != nil {
				return rep, err
			}
		}
		if rep.Stop != Running {
			return rep, nil
		}
	}
}

// step fetches every missing partition of the current iteration.
func (d *Driver) step(ctx context.Context, log *zap.Logger) error {
	req := d.Core.Request()
	missing := d.Core.Missing()
	if d.StepTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.StepTimeout)
		defer cancel()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := fanout.Start(ctx, missing, d.Parallel, func(ctx context.Context, p int) (*shard.Stats, error) {
		return d.Fetcher.Fetch(ctx, req, p)
	})
	var firstErr error
	for range missing {
		f := <-results
		if f.Err != nil && d.AllowDegraded && errors.Is(f.Err, ErrUnavailable) {
			log.Error("DEGRADED: continuing without a partition; its samples are left out of this iteration", zap.Int("iter", req.Iter), zap.Int("partition", f.Part), zap.Error(f.Err))
			if err := d.Core.Skip(f.Part); err != nil && firstErr == nil {
				firstErr = err
			}
			continue
		}
		if f.Err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("coordinator: iteration %d: partition %d: %w", req.Iter, f.Part, f.Err)
				cancel()
			}
			continue
		}
		if f.Value != nil && f.Value.Partition != f.Part {
			log.Warn("partial for another partition rejected", zap.Int("iter", req.Iter), zap.Int("partition", f.Part), zap.Int("got", f.Value.Partition))
			if firstErr == nil {
				firstErr = fmt.Errorf("coordinator: iteration %d: partition %d: answer was for partition %d", req.Iter, f.Part, f.Value.Partition)
				cancel()
			}
			continue
		}
		if err := d.Core.Offer(f.Value); err != nil {
			log.Warn("partial rejected", zap.Int("iter", req.Iter), zap.Int("partition", f.Part), zap.Error(err))
			if firstErr == nil && !errors.Is(err, ErrDuplicate) {
				firstErr = fmt.Errorf("coordinator: iteration %d: partition %d: %w", req.Iter, f.Part, err)
				cancel()
			}
		}
	}
	if firstErr != nil {
		return firstErr
	}
	if !d.Core.Ready() {
		return fmt.Errorf("coordinator: iteration %d: partitions %v missing", req.Iter, d.Core.Missing())
	}
	return nil
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
