package round

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"go.uber.org/zap"

	"altmin/msg"
)

// Core is what Gather needs of whatever collects a round's partials.
type Core interface {
	// Missing returns the partitions not yet received, ascending.
	Missing() []int
	// Ready reports whether every partition has been received.
	Ready() bool
	// Offer hands the core a partial; it refuses (with an error) stale,
	// duplicate, unknown and invalid ones.
	Offer(msg.Partial) error
}

// Round describes one round's fetches for Gather.
type Round struct {
	// Name heads the errors that name a partition, e.g. "iteration 3".
	Name string
	// Field names the round in log lines, e.g. zap.Int("iter", 3).
	Field zap.Field
	Log   *zap.Logger // nil: no logging
	// Request is what every partition is asked for.
	Request msg.Request
	Fetcher msg.Fetcher
	// Parallel bounds the fetches in flight; 0 means all at once.
	Parallel int
	// Timeout bounds the round's fetches; 0 means no bound.
	Timeout time.Duration
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

// errNoPartial is the error of a fetch that returned neither a partial
// nor an error: no valid answer.
var errNoPartial = fmt.Errorf("%w: no partial returned", msg.ErrInvalid)

// Gather fetches every partition c misses, at most r.Parallel at a time
// (in the Fetcher's Schedule order when fewer than all are in flight)
// within r.Timeout, and offers each answer to c on the calling goroutine
// as it arrives. A duplicate is logged and ignored. The first failure (a
// failed fetch, an answer for another partition or no answer at all, both
// wrapping msg.ErrInvalid, a refused offer) cancels
// the fetches in flight and is returned once all have ended, naming the
// partition. Gather also fails when c is still not ready after every
// answer. Partials that c refuses are released to pool.
func Gather(ctx context.Context, c Core, r Round, pool *msg.Pool) error {
	log := r.Log
	if log == nil {
		log = zap.NewNop()
	}
	missing := c.Missing()
	if s, ok := r.Fetcher.(Scheduler); ok && r.Parallel > 0 && r.Parallel < len(missing) {
		missing = s.Schedule(missing)
	}
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.Timeout)
		defer cancel()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := fanOut(ctx, missing, r.Parallel, func(ctx context.Context, p int) (msg.Partial, error) {
		v, err := r.Fetcher.Fetch(ctx, r.Request, p)
		if err == nil && isNil(v) {
			v, err = nil, errNoPartial
		}
		return v, err
	})
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
		case f.Value.Part() != f.Part:
			got := f.Value.Part()
			f.Value.Release(pool)
			log.Warn("partial for another partition rejected", r.Field, zap.Int("partition", f.Part), zap.Int("got", got))
			fail(fmt.Errorf("%s: partition %d: %w: answer was for partition %d", r.Name, f.Part, msg.ErrInvalid, got))
		default:
			if err := c.Offer(f.Value); err != nil {
				f.Value.Release(pool)
				log.Warn("partial rejected", r.Field, zap.Int("partition", f.Part), zap.Error(err))
				if !errors.Is(err, ErrDuplicate) {
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

// Collect fetches partition p's partial for req, for every p in
// 0..partitions-1, at most parallel at a time (0: all at once), and
// returns them in partition order, each checked against req: the round of
// a computation that is not a model's iteration (a moment pass). The
// first failure cancels the others and is returned, naming the partition.
func Collect(ctx context.Context, f msg.Fetcher, req msg.Request, partitions, parallel int, name string, pool *msg.Pool) ([]msg.Partial, error) {
	s := collector{set: NewSet(partitions), req: req}
	if err := Gather(ctx, &s, Round{Name: name, Request: req, Fetcher: f, Parallel: parallel}, pool); err != nil {
		s.set.Release(pool)
		return nil, err
	}
	return s.set.All(), nil
}

// collector is the Core of Collect: a Set for one request.
type collector struct {
	set Set
	req msg.Request
}

func (c *collector) Missing() []int            { return c.set.Missing() }
func (c *collector) Ready() bool               { return c.set.Ready() }
func (c *collector) Offer(p msg.Partial) error { return c.set.Offer(p, c.req) }

// isNil reports whether p is nil or a nil pointer of a partial type (a
// fetcher's typed nil).
func isNil(p msg.Partial) bool {
	if p == nil {
		return true
	}
	v := reflect.ValueOf(p)
	return v.Kind() == reflect.Pointer && v.IsNil()
}
