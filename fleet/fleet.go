package fleet

import (
	"context"
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

// Caller asks one shard for one partition's statistics.
type Caller interface {
	Step(ctx context.Context, m Member, req *shard.Request, partition int) (*shard.Stats, error)
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

type answer struct {
	m     Member
	stats *shard.Stats
	err   error
}

// Fetch implements coordinator.Fetcher.
func (f *Fetcher) Fetch(ctx context.Context, req *shard.Request, p int) (*shard.Stats, error) {
	ctx, cancelAll := context.WithCancel(ctx)
	defer cancelAll()
	answers := make(chan answer, 8)
	inflight := map[string]context.CancelFunc{} // by member ID
	failed := map[string]bool{}                 // failed in this call, since the last membership change
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
		f.log.Debug("step call", zap.Int("iter", req.Iter), zap.Int("partition", p), zap.String("shard", m.ID))
		go func() {
			s, err := f.caller.Step(cctx, m, req, p)
			answers <- answer{m: m, stats: s, err: err}
		}()
	}
	// next launches a call to the first holder neither in flight nor failed;
	// it reports whether it launched one.
	next := func() bool {
		for _, m := range Holders(f.view.Shards(), p) {
			everHeld[m.ID] = true
			if inflight[m.ID] == nil && !failed[m.ID] {
				launch(m)
				if f.cfg.HedgeAfter > 0 {
					hedge = time.After(f.cfg.HedgeAfter)
				}
				return true
			}
		}
		return false
	}
	var lastErr error
	for {
		if len(inflight) == 0 && retry == nil {
			if !next() {
				if waitSince.IsZero() {
					waitSince = time.Now()
				}
				if len(Holders(f.view.Shards(), p)) > 0 {
					// Live holders, all failed: try them again after a pause.
					retry = time.After(f.cfg.RetryDelay)
				}
			}
		}
		var rejoin <-chan time.Time
		if len(inflight) == 0 && !waitSince.IsZero() {
			left := f.cfg.RejoinTimeout - time.Since(waitSince)
			if left <= 0 {
				return nil, f.unavailable(p, everHeld, lastErr)
			}
			rejoin = time.After(left)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case a := <-answers:
			if cancel := inflight[a.m.ID]; cancel != nil {
				cancel()
				delete(inflight, a.m.ID)
			}
			if a.err == nil {
				f.noteAnswer(req.Iter, a.m.ID)
				return a.stats, nil
			}
			lastErr = fmt.Errorf("shard %s: %w", a.m.ID, a.err)
			failed[a.m.ID] = true
			f.log.Warn("step call failed; asking another replica", zap.Int("iter", req.Iter), zap.Int("partition", p), zap.String("shard", a.m.ID), zap.Error(a.err))
			if len(inflight) == 0 || !next() {
				continue
			}
		case <-hedge:
			hedge = nil
			if len(inflight) > 0 {
				if next() {
					f.log.Info("hedging a slow replica", zap.Int("iter", req.Iter), zap.Int("partition", p))
				}
			}
		case <-retry:
			retry = nil
			clear(failed)
		case <-f.changes():
			// Cancel calls to shards that are no longer alive, and give
			// failed shards another chance: they may have restarted.
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
		case <-rejoin:
			return nil, f.unavailable(p, everHeld, lastErr)
		}
	}
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
