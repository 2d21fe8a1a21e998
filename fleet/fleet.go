package fleet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"altmin/coordinator"
	"altmin/shard"
)

// ErrUnavailable is returned when no live shard holds a partition. It is
// coordinator.ErrUnavailable, so the driver can recognize it.
var ErrUnavailable = coordinator.ErrUnavailable

// Member is a shard as seen by the membership layer.
type Member struct {
	ID         string
	Addr       string // gRPC address
	Partitions []int
}

// View is the membership view the fetcher needs: the live shards and a
// signal on every change.
type View interface {
	Shards() []Member
	Changes() <-chan struct{}
}

// Caller asks one shard for one partition's statistics (Step) or moment
// sums (Moments12, Moment4: see shard.Engine; d is the features per row,
// bias included, the caller expects). An error that wraps
// errors.ErrUnsupported means the shard does not implement the call (it
// predates it): the Fetcher does not ask that shard again in the same call
// and fails at once when no live holder of the partition implements it.
type Caller interface {
	Step(ctx context.Context, m Member, req *shard.Request, partition int) (*shard.Stats, error)
	Moments12(ctx context.Context, m Member, partition, d int, base *shard.Baseline, order int) (*shard.Moments12, error)
	Moment4(ctx context.Context, m Member, partition, d int, v []float64, k int, base *shard.Baseline) (*shard.Moment4, error)
}

// Config configures a Fetcher. Zero durations disable the feature.
type Config struct {
	CallTimeout   time.Duration // deadline of one call to one replica; then another replica is asked
	HedgeAfter    time.Duration // ask a second replica when the first has not answered by then
	RejoinTimeout time.Duration // how long to wait for a live holder of a partition
	RetryDelay    time.Duration // pause before asking again a replica that failed but is still listed alive; default 200ms
	Log           *zap.Logger
}

// Fetcher implements coordinator.Fetcher over a cluster.
type Fetcher struct {
	cfg    Config
	view   View
	caller Caller
	log    *zap.Logger

	mu       sync.Mutex
	changed  chan struct{}           // closed at the next membership change
	answered map[int]map[string]bool // iteration -> shards whose answers were used
	stop     chan struct{}
	done     chan struct{}
}

// New returns a fetcher; Close stops it.
func New(cfg Config, view View, caller Caller) *Fetcher {
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = 200 * time.Millisecond
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	f := &Fetcher{cfg: cfg, view: view, caller: caller, log: log, changed: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	go f.watch()
	return f
}

// watch turns the view's coalescing change signal into a broadcast.
func (f *Fetcher) watch() {
	defer close(f.done)
	ch := f.view.Changes()
	for {
		select {
		case <-f.stop:
			return
		case <-ch:
			f.mu.Lock()
			close(f.changed)
			f.changed = make(chan struct{})
			f.mu.Unlock()
		}
	}
}

func (f *Fetcher) changes() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

// Close stops the fetcher's watcher.
func (f *Fetcher) Close() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	<-f.done
}

// Holders returns the live shards holding partition p, in the order they
// are asked: sorted by ID, rotated by p so that replicas share the load.
func Holders(shards []Member, p int) []Member {
	var hs []Member
	for _, m := range shards {
		if slices.Contains(m.Partitions, p) {
			hs = append(hs, m)
		}
	}
	slices.SortFunc(hs, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	if len(hs) > 1 {
		r := p % len(hs)
		hs = append(hs[r:], hs[:r]...)
	}
	return hs
}

// Missing returns the partitions of 0..parts-1 that no live shard holds.
func Missing(shards []Member, parts int) []int {
	held := make([]bool, parts)
	for _, m := range shards {
		for _, p := range m.Partitions {
			if p >= 0 && p < parts {
				held[p] = true
			}
		}
	}
	var miss []int
	for p, h := range held {
		if !h {
			miss = append(miss, p)
		}
	}
	return miss
}

type answer[T any] struct {
	m   Member
	v   T
	err error
}

// Fetch implements coordinator.Fetcher.
func (f *Fetcher) Fetch(ctx context.Context, req *shard.Request, p int) (*shard.Stats, error) {
	st, m, err := do(ctx, f, p, "step", []zap.Field{zap.Int("iter", req.Iter)},
		func(ctx context.Context, m Member) (*shard.Stats, error) { return f.caller.Step(ctx, m, req, p) })
	if err != nil {
		return nil, err
	}
	f.noteAnswer(req.Iter, m.ID)
	return st, nil
}

// Moments12 returns partition p's moment sums of order 1 or 2 of the labels
// less base (see shard.Engine.Moments12), for rows of d features (bias
// included), from one of its live replicas, with the failover, hedging and
// rejoin wait of Fetch.
func (f *Fetcher) Moments12(ctx context.Context, p, d int, base *shard.Baseline, order int) (*shard.Moments12, error) {
	m, _, err := do(ctx, f, p, "moments12", []zap.Field{zap.Int("order", order)},
		func(ctx context.Context, m Member) (*shard.Moments12, error) {
			return f.caller.Moments12(ctx, m, p, d, base, order)
		})
	return m, err
}

// Moment4 returns partition p's projected fourth moment (see
// shard.Engine.Moment4), for rows of d features (bias included) and the
// projection v (d x k), from one of its live replicas, with the failover,
// hedging and rejoin wait of Fetch.
func (f *Fetcher) Moment4(ctx context.Context, p, d int, v []float64, k int, base *shard.Baseline) (*shard.Moment4, error) {
	m, _, err := do(ctx, f, p, "moment4", []zap.Field{zap.Int("k", k)},
		func(ctx context.Context, m Member) (*shard.Moment4, error) {
			return f.caller.Moment4(ctx, m, p, d, v, k, base)
		})
	return m, err
}

// Schedule implements drive.Scheduler: parts in round-robin order over the
// shards that would be asked first for them (Holders' order), in order of
// first appearance, so that a few requests at a time (a --parallel bound)
// go to different shards instead of queueing on the shard that holds the
// first partitions.
func (f *Fetcher) Schedule(parts []int) []int {
	shards := f.view.Shards()
	queues := map[string][]int{}
	var first []string
	for _, p := range parts {
		id := ""
		if hs := Holders(shards, p); len(hs) > 0 {
			id = hs[0].ID
		}
		if _, seen := queues[id]; !seen {
			first = append(first, id)
		}
		queues[id] = append(queues[id], p)
	}
	out := make([]int, 0, len(parts))
	for len(out) < len(parts) {
		for _, id := range first {
			if q := queues[id]; len(q) > 0 {
				out = append(out, q[0])
				queues[id] = q[1:]
			}
		}
	}
	return out
}

// do makes one call for partition p on its live replicas and returns the
// first answer without error and the shard that gave it. It asks one
// holder at a time (Holders' order); on an error, the per-call deadline or
// the holder leaving the view it asks the next one, after HedgeAfter it
// also asks the next one, and when no live holder is left to ask it waits
// up to RejoinTimeout for one (holders that failed are asked again after
// RetryDelay or a membership change). Holders that do not implement the
// call (errors.ErrUnsupported) are not asked again; when no live holder
// implements it, do fails at once. Holders that cannot read the
// partition's data (shard.ErrData) are not asked again in this call; when
// every live holder has failed so, do fails at once with that error,
// which is not ErrUnavailable (the data are broken, not the shards gone). name and fields describe the call in
// logs.
func do[T any](ctx context.Context, f *Fetcher, p int, name string, fields []zap.Field, call func(context.Context, Member) (T, error)) (T, Member, error) {
	var zero T
	ctx, cancelAll := context.WithCancel(ctx)
	defer cancelAll()
	fields = slices.Clip(append(slices.Clip(fields), zap.Int("partition", p))) // appends below copy
	answers := make(chan answer[T], 8)
	inflight := map[string]context.CancelFunc{} // by member ID
	failed := map[string]bool{}                 // failed in this call, since the last membership change
	unsupported := map[string]bool{}            // do not implement the call, since the last membership change
	unreadable := map[string]bool{}             // cannot read the partition's data (shard.ErrData): not asked again
	everHeld := map[string]bool{}
	var waitSince time.Time // when no candidate was left
	var hedge <-chan time.Time
	var retry <-chan time.Time

	launch := func(m Member) {
		cctx, cancel := ctx, context.CancelFunc(func() {})
		if f.cfg.CallTimeout > 0 {
			cctx, cancel = context.WithTimeout(ctx, f.cfg.CallTimeout)
		} else {
			cctx, cancel = context.WithCancel(ctx)
		}
		inflight[m.ID] = cancel
		f.log.Debug(name+" call", append(fields, zap.String("shard", m.ID))...)
		go func() {
			v, err := call(cctx, m)
			select {
			case answers <- answer[T]{m: m, v: v, err: err}:
			case <-ctx.Done():
				// do has returned, or is returning with ctx's error:
				// nobody reads answers any more, and more calls may be
				// in flight than it buffers (one per live holder).
			}
		}()
	}
	// next launches a call to the first holder neither in flight, failed
	// nor lacking the call; it reports whether it launched one.
	next := func() bool {
		for _, m := range Holders(f.view.Shards(), p) {
			everHeld[m.ID] = true
			if inflight[m.ID] == nil && !failed[m.ID] && !unsupported[m.ID] && !unreadable[m.ID] {
				launch(m)
				if f.cfg.HedgeAfter > 0 {
					hedge = time.After(f.cfg.HedgeAfter)
				}
				return true
			}
		}
		return false
	}
	var lastErr, lastUnsupported, lastData error
	for {
		if len(inflight) == 0 && retry == nil {
			if !next() {
				hs := Holders(f.view.Shards(), p)
				if len(hs) > 0 && allIn(hs, unsupported) {
					return zero, Member{}, fmt.Errorf("fleet: partition %d: no live shard holding it (%s) implements the %s call: %w", p, memberIDs(hs), name, lastUnsupported)
				}
				if lastData != nil && allIn(hs, unreadable) {
					// Not an outage: waiting for the shards would read
					// the same data again.
					return zero, Member{}, fmt.Errorf("fleet: partition %d: no live shard holding it (%s) can read its data: %w", p, memberIDs(hs), lastData)
				}
				if waitSince.IsZero() {
					waitSince = time.Now()
				}
				if len(hs) > 0 {
					// Live holders, all failed: try them again after a pause.
					retry = time.After(f.cfg.RetryDelay)
				}
			}
		}
		var rejoin <-chan time.Time
		if len(inflight) == 0 && !waitSince.IsZero() {
			left := f.cfg.RejoinTimeout - time.Since(waitSince)
			if left <= 0 {
				return zero, Member{}, f.unavailable(p, everHeld, lastErr)
			}
			rejoin = time.After(left)
		}
		select {
		case <-ctx.Done():
			return zero, Member{}, ctx.Err()
		case a := <-answers:
			if cancel := inflight[a.m.ID]; cancel != nil {
				cancel()
				delete(inflight, a.m.ID)
			}
			if a.err == nil {
				return a.v, a.m, nil
			}
			lastErr = fmt.Errorf("shard %s: %w", a.m.ID, a.err)
			if errors.Is(a.err, errors.ErrUnsupported) {
				unsupported[a.m.ID], lastUnsupported = true, lastErr
			}
			if errors.Is(a.err, shard.ErrData) {
				unreadable[a.m.ID], lastData = true, lastErr
			}
			failed[a.m.ID] = true
			f.log.Warn(name+" call failed; asking another replica", append(fields, zap.String("shard", a.m.ID), zap.Error(a.err))...)
			if len(inflight) == 0 || !next() {
				continue
			}
		case <-hedge:
			hedge = nil
			if len(inflight) > 0 {
				if next() {
					f.log.Info("hedging a slow replica", append(fields, zap.String("call", name))...)
				}
			}
		case <-retry:
			retry = nil
			clear(failed)
		case <-f.changes():
			// Cancel calls to shards that are no longer alive, and give
			// failed shards another chance: they may have restarted (and
			// been upgraded).
			alive := map[string]bool{}
			for _, m := range f.view.Shards() {
				alive[m.ID] = true
			}
			for id, cancel := range inflight {
				if !alive[id] {
					cancel()
				}
			}
			clear(failed)
			clear(unsupported)
		case <-rejoin:
			return zero, Member{}, f.unavailable(p, everHeld, lastErr)
		}
	}
}

// allIn reports whether every member's ID is in set.
func allIn(ms []Member, set map[string]bool) bool {
	for _, m := range ms {
		if !set[m.ID] {
			return false
		}
	}
	return true
}

// memberIDs lists the members' IDs, sorted, comma-separated.
func memberIDs(ms []Member) string {
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	slices.Sort(ids)
	return strings.Join(ids, ", ")
}

func (f *Fetcher) noteAnswer(iter int, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.answered == nil {
		f.answered = map[int]map[string]bool{}
	}
	if f.answered[iter] == nil {
		f.answered[iter] = map[string]bool{}
	}
	f.answered[iter][id] = true
	delete(f.answered, iter-2) // keep the last iterations only
}

// Answered returns the IDs of the shards whose statistics were used in
// iteration iter, sorted.
func (f *Fetcher) Answered(iter int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]string, 0, len(f.answered[iter]))
	for id := range f.answered[iter] {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (f *Fetcher) unavailable(p int, held map[string]bool, last error) error {
	ids := make([]string, 0, len(held))
	for id := range held {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	who := "no shard ever listed it"
	if len(ids) > 0 {
		who = "held by " + strings.Join(ids, ", ")
	}
	err := fmt.Errorf("%w: partition %d: no live shard answered within the rejoin timeout %s (%s)", ErrUnavailable, p, f.cfg.RejoinTimeout, who)
	if last != nil {
		err = fmt.Errorf("%w; last error: %v", err, last)
	}
	return err
}
