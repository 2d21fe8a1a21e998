package coordinator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"altmin/msg"
	"altmin/round"
)

// Driver runs a Core to completion: each round it fans the request out to
// every missing partition, feeds the answers to the core from a single
// goroutine, and advances.
//
// The driver's duties, in order, each round:
//  1. take the request of the current round from the core;
//  2. fetch every missing partition's partial through the Fetcher, at most
//     Parallel at a time, within StepTimeout;
//  3. offer each answer to the core as it arrives (the core refuses stale,
//     duplicate and invalid partials; a duplicate is logged and ignored,
//     any other refusal stops training with an error naming the
//     partition);
//  4. when no partition is missing, advance the core (reduce in partition
//     order, decide a stop, solve) and hand the report to OnReport;
//  5. stop when the core reports a stop reason, OnReport fails, or a
//     partition cannot be fetched (the error names it).
type Driver struct {
	Core    Core
	Fetcher msg.Fetcher
	// Parallel bounds the fetches in flight; 0 means one per partition.
	Parallel int
	// StepTimeout bounds one round's fetches; 0 means no bound.
	StepTimeout time.Duration
	Log         *zap.Logger
	// Pool takes back the buffers of partials the core refuses.
	Pool *msg.Pool
	// OnReport, when set, is called after every round with its report and
	// wall times; an error stops training.
	OnReport func(Report, Timing) error
	// Now returns the current time, for round wall times; nil means
	// time.Now.
	Now func() time.Time
	// AllowDegraded continues a round without a partition whose fetch
	// failed with msg.ErrUnavailable, leaving its samples out (logged at
	// error level and listed in the report), when the core can (Skip). Off
	// by default: a missing partition stops training with an error naming
	// it.
	AllowDegraded bool
}

// Timing is the wall time of one round and of its two phases, read from
// Driver.Now.
type Timing struct {
	// Total is the whole round: Stats + Solve.
	Total time.Duration
	// Stats runs from the broadcast of the weights until every partial
	// has arrived, been checked and been added in the reduction tree: the
	// partitions' statistics passes, the transfer and the reduction.
	Stats time.Duration
	// Solve is the core's Advance once every partial is in: the stop
	// tests and the solve.
	Solve time.Duration
}

// Run runs rounds until the core stops and returns the last report. An
// error fetching a round returns the zero report; one of Advance or
// OnReport returns the report with it.
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
		if err := ctx.Err(); err != nil {
			return Report{}, err
		}
		start := now()
		if err := d.gather(ctx, log); err != nil {
			return Report{}, err
		}
		fetched := now()
		rep, err := d.Core.Advance()
		if err != nil {
			return rep, err
		}
		end := now()
		if d.OnReport != nil {
			tm := Timing{Total: end.Sub(start), Stats: fetched.Sub(start), Solve: end.Sub(fetched)}
			if err := d.OnReport(rep, tm); err != nil {
				return rep, err
			}
		}
		if rep.Stop != Running {
			return rep, nil
		}
	}
}

// gather fetches every missing partition of the current round.
func (d *Driver) gather(ctx context.Context, log *zap.Logger) error {
	req := d.Core.Request()
	return round.Gather(ctx, d.Core, round.Round{
		Name: fmt.Sprintf("coordinator: round %d", req.Round()), Field: zap.Int("round", req.Round()), Log: log,
		Request: req, Fetcher: d.Fetcher, Parallel: d.Parallel, Timeout: d.StepTimeout,
		Skip: func(p int, err error) (bool, error) {
			if !d.AllowDegraded || !errors.Is(err, msg.ErrUnavailable) {
				return false, nil
			}
			log.Error("DEGRADED: continuing without a partition; its samples are left out of this round", zap.Int("round", req.Round()), zap.Int("partition", p), zap.Error(err))
			return true, d.Core.Skip(p)
		},
	}, d.Pool)
}
