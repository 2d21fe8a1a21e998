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
	// Len returns the number of partitions of the round.
	Len() int
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

// Planner is implemented by fetchers that know where partitions are
// computed (see fleet.Fetcher): Plan cuts the missing partitions (of
// 0..parts-1, ascending) into the spans of the reduction tree to ask for,
// large ones where a single machine holds them all, in the order to ask
// them. A fetcher without a plan is asked for every partition alone.
type Planner interface {
	Plan(missing []int, parts int) []msg.Span
}

// errNoPartial is the error of a fetch that returned neither a partial
// nor an error: no valid answer.
var errNoPartial = fmt.Errorf("%w: no partial returned", msg.ErrInvalid)

// fetched is the end of one fetch.
type fetched struct {
	span  msg.Span
	value msg.Partial
	err   error
}

// Gather fetches every partition c misses, in the spans of the Fetcher's
// Plan (one partition each without one), at most r.Parallel fetches at a
// time within r.Timeout, and offers each answer to c on the calling
// goroutine as it arrives. A span of several partitions whose fetch fails
// (but for a refusal of the request itself, msg.IsRequestRefusal, or the
// end of ctx) is asked for again as its two halves, down to single
// partitions: the sums are the same bits whichever spans they come in. A
// duplicate is logged and ignored. The first failure of a single
// partition's fetch, an answer for another span or no answer at all (both
// wrapping msg.ErrInvalid), or a refused offer cancels the fetches in
// flight and is returned once all have ended, naming the span; spans not
// yet asked when ctx ends (a timeout) end with ctx's error, partition by
// partition, as if asked. Gather also fails when c is still not ready
// after every answer. Partials that c
// refuses are released to pool.
func Gather(ctx context.Context, c Core, r Round, pool *msg.Pool) error {
	log := r.Log
	if log == nil {
		log = zap.NewNop()
	}
	missing, parts := c.Missing(), c.Len()
	queue := msg.Leaves(missing)
	if pl, ok := r.Fetcher.(Planner); ok {
		queue = pl.Plan(missing, parts)
	}
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.Timeout)
		defer cancel()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	par := r.Parallel
	results := make(chan fetched)
	inflight := 0
	var ended []fetched // spans not asked because ctx is done: ctx's error
	launch := func() {
		for len(queue) > 0 && (par <= 0 || inflight < par || ctx.Err() != nil) {
			s := queue[0]
			queue = queue[1:]
			if err := ctx.Err(); err != nil {
				ended = append(ended, fetched{span: s, err: err})
				continue
			}
			inflight++
			go func() {
				v, err := r.Fetcher.Fetch(ctx, r.Request, s)
				if err == nil && isNil(v) {
					v, err = nil, errNoPartial
				}
				results <- fetched{s, v, err}
			}()
		}
	}
	var firstErr error
	fail := func(err error) {
		if firstErr == nil {
			firstErr = err
			cancel()
		}
	}
	launch()
	for inflight > 0 || len(ended) > 0 {
		var f fetched
		if len(ended) > 0 {
			f, ended = ended[0], ended[1:]
		} else {
			f = <-results
			inflight--
		}
		if firstErr != nil && f.err != nil { // the round has failed: no halves, no skips
			continue
		}
		if f.err != nil && f.span.N > 1 && !msg.IsRequestRefusal(f.err) {
			// Once ctx is done the halves are not asked: down to single
			// partitions, each ends with ctx's error, for Skip to take.
			halves := f.span.Children(parts)
			if ctx.Err() == nil {
				log.Info("no holder of a span answered; asking for its halves", r.Field,
					zap.Stringer("span", f.span), zap.Error(f.err))
			}
			queue = append(halves, queue...)
			launch()
			continue
		}
		if f.err != nil && r.Skip != nil && f.span.N == 1 {
			if skipped, err := r.Skip(f.span.Lo, f.err); skipped {
				if err != nil {
					fail(fmt.Errorf("%s: partition %d: %w", r.Name, f.span.Lo, err))
				}
				launch()
				continue
			}
		}
		switch {
		case f.err != nil:
			fail(fmt.Errorf("%s: %s: %w", r.Name, f.span, f.err))
		case f.value.Span() != f.span:
			got := f.value.Span()
			f.value.Release(pool)
			log.Warn("partial for another span rejected", r.Field, zap.Stringer("span", f.span), zap.Stringer("got", got))
			fail(fmt.Errorf("%s: %s: %w: answer was for %s", r.Name, f.span, msg.ErrInvalid, got))
		default:
			if err := c.Offer(f.value); err != nil {
				f.value.Release(pool)
				log.Warn("partial rejected", r.Field, zap.Stringer("span", f.span), zap.Error(err))
				if !errors.Is(err, ErrDuplicate) {
					fail(fmt.Errorf("%s: %s: %w", r.Name, f.span, err))
				}
			}
		}
		if firstErr == nil {
			launch()
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

// Collect fetches the partials of partitions 0..partitions-1 for req, at
// most parallel fetches at a time (0: all at once), each checked against
// req, and returns their sum in the reduction tree: the round of a
// computation that is not a model's iteration (a moment pass, a summary).
// The first failure cancels the others and is returned, naming the span.
func Collect(ctx context.Context, f msg.Fetcher, req msg.Request, partitions, parallel int, name string, pool *msg.Pool) (msg.Partial, error) {
	if partitions < 1 {
		return nil, fmt.Errorf("%s: %d partitions: need at least 1", name, partitions)
	}
	s := collector{set: NewSet(partitions), req: req, pool: pool}
	if err := Gather(ctx, &s, Round{Name: name, Request: req, Fetcher: f, Parallel: parallel}, pool); err != nil {
		s.set.Release(pool)
		return nil, err
	}
	return s.set.Sum(), nil
}

// collector is the Core of Collect: a Set for one request.
type collector struct {
	set  Set
	req  msg.Request
	pool *msg.Pool
}

func (c *collector) Missing() []int            { return c.set.Missing() }
func (c *collector) Ready() bool               { return c.set.Ready() }
func (c *collector) Offer(p msg.Partial) error { return c.set.Offer(p, c.req, c.pool) }
func (c *collector) Len() int                  { return c.set.Len() }

// isNil reports whether p is nil or a nil pointer of a partial type (a
// fetcher's typed nil).
func isNil(p msg.Partial) bool {
	if p == nil {
		return true
	}
	v := reflect.ValueOf(p)
	return v.Kind() == reflect.Pointer && v.IsNil()
}
