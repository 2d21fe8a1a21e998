// Package drive holds the loop that the coordinator's drivers
// (coordinator.Driver, deep.Driver) share: each round, fetch every missing
// partition's partial and offer it to the core (Gather), then advance the
// core and report, with the wall time of both phases (Loop).
package drive

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"altmin/internal/fanout"
)

// Timing is the wall time of one round and of its two phases, read from
// Loop.Now.
type Timing struct {
	// Total is the whole round: Stats + Solve.
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

// Loop runs rounds until a report is final. R is the core's report.
type Loop[R any] struct {
	// Gather fetches and offers every partial of the current round.
	Gather func() error
	// Advance reduces the partials, solves and moves to the next round.
	Advance func() (R, error)
	// Final reports whether training stops with this report.
	Final func(R) bool
	// OnReport, when set, is called after every round with its report and
	// wall times; an error stops training.
	OnReport func(R, Timing) error
	// Now returns the current time, read at the start of a round, after
	// Gather and after Advance; nil means time.Now.
	Now func() time.Time
}

// Run repeats Gather, Advance and OnReport until Final, and returns the
// last report. An error of Gather returns the zero report; one of Advance
// or OnReport returns the report with it.
func (l Loop[R]) Run() (R, error) {
	now := l.Now
	if now == nil {
		now = time.Now
	}
	for {
		start := now()
		if err := l.Gather(); err != nil {
			var zero R
			return zero, err
		}
		fetched := now()
		rep, err := l.Advance()
		if err != nil {
			return rep, err
		}
		end := now()
		if l.OnReport != nil {
			tm := Timing{Total: end.Sub(start), Stats: fetched.Sub(start), Solve: end.Sub(fetched)}
			if err := l.OnReport(rep, tm); err != nil {
				return rep, err
			}
		}
		if l.Final(rep) {
			return rep, nil
		}
	}
}

// Core is what Gather needs of an iteration core; T is its partial.
type Core[T any] interface {
	// Missing returns the partitions not yet received, ascending.
	Missing() []int
	// Ready reports whether every partition has been received.
	Ready() bool
	// Offer hands the core a partial; it refuses (with an error) stale,
	// duplicate, unknown and malformed ones.
	Offer(*T) error
}

// Round describes one round's fetches for Gather.
type Round[T any] struct {
	// Name heads the errors that name a partition, e.g.
	// "coordinator: iteration 3".
	Name string
	// Field names the round in log lines, e.g. zap.Int("iter", 3).
	Field zap.Field
	Log   *zap.Logger // nil: no logging
	// Parallel bounds the fetches in flight; 0 means all at once.
	Parallel int
	// Order, when set, gives the order in which partitions are fetched
	// when fewer than all are in flight at once (see Scheduler); by
	// default, ascending. It changes no result: the core reduces in
	// partition order whatever the order of arrival.
	Order func(parts []int) []int
	// Timeout bounds the round's fetches; 0 means no bound.
	Timeout time.Duration
	// Fetch returns partition p's partial; it runs on its own goroutine.
	Fetch func(ctx context.Context, p int) (*T, error)
	// Partition returns the partition a (non-nil) partial is of.
	Partition func(*T) int
	// Duplicate is the core's error for a partial already received: such
	// a refusal is logged and ignored.
	Duplicate error
	// Skip, when set, is handed each failed fetch first, on the calling
	// goroutine; it returns true when it gave the partition up for this
	// round instead of failing it (its error, if any, then stops the
	// round).
	Skip func(p int, err error) (bool, error)
}

// Scheduler is implemented by fetchers that know where partitions are
// computed: Schedule orders partitions so that requests made a few at a
// time spread over the machines that compute them (see fleet.Fetcher).
type Scheduler interface {
	Schedule(parts []int) []int
}

// OrderOf returns f's Schedule when f is a Scheduler, else nil.
func OrderOf(f any) func([]int) []int {
	if s, ok := f.(Scheduler); ok {
		return s.Schedule
	}
	return nil
}

// Gather fetches every partition c misses, at most r.Parallel at a time
// within r.Timeout, and offers each answer to c on the calling goroutine
// as it arrives. The first failure (a failed fetch, an answer for another
// partition, a refused offer other than a duplicate) cancels the fetches
// in flight and is returned once all have ended, naming the partition.
// Gather also fails when c is still not ready after every answer.
func Gather[T any](ctx context.Context, c Core[T], r Round[T]) error {
	log := r.Log
	if log == nil {
		log = zap.NewNop()
	}
	missing := c.Missing()
	if r.Order != nil && r.Parallel > 0 && r.Parallel < len(missing) {
		missing = r.Order(missing)
	}
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.Timeout)
		defer cancel()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := fanout.Start(ctx, missing, r.Parallel, r.Fetch)
	var firstErr error
	fail := func(err error) {
		if firstErr == nil {
			firstErr = err
			cancel()
		}
	}
	for range missing {
		f := <-results
		if f.Err != nil && r.Skip != nil {
			if skipped, err := r.Skip(f.Part, f.Err); skipped {
				if err != nil {
					fail(fmt.Errorf("%s: partition %d: %w", r.Name, f.Part, err))
				}
				continue
			}
		}
		switch {
		case f.Err != nil:
			fail(fmt.Errorf("%s: partition %d: %w", r.Name, f.Part, f.Err))
		case f.Value != nil && r.Partition(f.Value) != f.Part:
			got := r.Partition(f.Value)
			log.Warn("partial for another partition rejected", r.Field, zap.Int("partition", f.Part), zap.Int("got", got))
			fail(fmt.Errorf("%s: partition %d: answer was for partition %d", r.Name, f.Part, got))
		default:
			if err := c.Offer(f.Value); err != nil {
				log.Warn("partial rejected", r.Field, zap.Int("partition", f.Part), zap.Error(err))
				if !errors.Is(err, r.Duplicate) {
					fail(fmt.Errorf("%s: partition %d: %w", r.Name, f.Part, err))
				}
			}
		}
	}
	if firstErr != nil {
		return firstErr
	}
	if !c.Ready() {
		return fmt.Errorf("%s: partitions %v missing", r.Name, c.Missing())
	}
	return nil
}
