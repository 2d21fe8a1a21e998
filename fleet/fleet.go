package fleet

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"altmin/internal/metrics"
	"altmin/msg"
)

// ErrUnavailable is returned when no live shard answers for a partition
// within the rejoin timeout. It is msg.ErrUnavailable.
var ErrUnavailable = msg.ErrUnavailable

// Caller asks one shard for the partial of one span of partitions (a node
// of the reduction tree, msg.Span) for a request, of any kind. An error
// that wraps errors.ErrUnsupported means the shard does not implement the
// request's kind (it predates it); one that wraps msg.ErrData means the
// shard cannot read the partitions' rows. See Fetcher for what the fetcher
// does with either.
type Caller interface {
	Call(ctx context.Context, m Member, req msg.Request, s msg.Span) (msg.Partial, error)
}

// CallerFunc adapts a function to a Caller.
type CallerFunc func(ctx context.Context, m Member, req msg.Request, s msg.Span) (msg.Partial, error)

// Call implements Caller.
func (f CallerFunc) Call(ctx context.Context, m Member, req msg.Request, s msg.Span) (msg.Partial, error) {
	return f(ctx, m, req, s)
}

// DefaultRetryDelay is the RetryDelay of a Config that leaves it zero.
const DefaultRetryDelay = 200 * time.Millisecond

// Config configures a Fetcher. Every duration is measured on Clock; a
// zero (or negative) one disables what it controls, except RetryDelay.
type Config struct {
	// Partitions is the number of partitions P of the data set, which
	// spans of several partitions are clipped to; 0 plans single
	// partitions only.
	Partitions int
	// CallTimeout is the deadline of one call to one replica; when it
	// passes, the call's context is cancelled and another replica asked.
	CallTimeout time.Duration
	// HedgeAfter: when a call has not answered this long after it
	// started, the next replica is asked too; the first answer wins.
	HedgeAfter time.Duration
	// RejoinTimeout is how long a fetch waits, from the first time no
	// live holder of the partition is left to ask, for one to (re)join;
	// 0 fails at once.
	RejoinTimeout time.Duration
	// RetryDelay is the pause before asking again replicas that failed
	// but are still listed alive; 0 means DefaultRetryDelay.
	RetryDelay time.Duration
	// Clock measures the durations above; nil is the wall clock.
	Clock Clock
	// Log receives a Debug line per call, a Warn line per failed call and
	// an Info line per hedge; nil logs nothing.
	Log *zap.Logger
	// Metrics counts failovers, hedges and rejoin waits and times the
	// answered calls by shard, on Clock; nil counts nothing.
	Metrics *metrics.Coordinator
}

// Fetcher implements msg.Fetcher over a cluster: each span's partial, of
// any kind, from one of the live shards holding all of its partitions,
// with the failover, hedging, retries and rejoin wait described in the
// package documentation. It also implements round.Planner (Plan).
type Fetcher struct {
	cfg    Config // with Clock, Log and RetryDelay set
	view   View
	caller Caller

	mu       sync.Mutex
	changed  chan struct{}           // closed at the next membership change
	answered map[int]map[string]bool // round -> shards whose answers were used
	prefer   map[msg.Span]string     // the shard Plan chose for each span
	held     map[int]map[string]bool // partition -> shards seen holding it by any fetch
	stop     chan struct{}
	done     chan struct{}
}

var _ msg.Fetcher = (*Fetcher)(nil)

// New returns a fetcher asking the shards of view through caller; Close
// stops it.
func New(cfg Config, view View, caller Caller) *Fetcher {
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = DefaultRetryDelay
	}
	if cfg.Clock == nil {
		cfg.Clock = RealClock{}
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	f := &Fetcher{cfg: cfg, view: view, caller: caller,
		changed: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
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

type answer struct {
	m   Member
	v   msg.Partial
	err error
}

// Fetch implements msg.Fetcher: span sp's partial for req, from the first
// of the live shards holding all of its partitions to answer without
// error, asked first the one Plan chose. The decisions are replicas';
// Fetch starts and cancels the calls it asks for and feeds it their
// answers, membership changes and, through one clock timer, its timed
// events. A span of several partitions does not wait for a holder to
// rejoin: when no live holder of it is left to ask, its fetch fails at
// once, and the round asks for its halves (round.Gather). The shard that
// answered is recorded for Answered under req.Round(). Fetch returns
// ctx's error once ctx is done.
func (f *Fetcher) Fetch(ctx context.Context, req msg.Request, sp msg.Span) (msg.Partial, error) {
	if req == nil {
		return nil, fmt.Errorf("%w: fleet: no request for %s", msg.ErrRequest, sp)
	}
	ctx, cancelAll := context.WithCancel(ctx)
	defer cancelAll() // also ends the sends of late answers
	log := f.cfg.Log.With(zap.Stringer("kind", req.Kind()), zap.Int("round", req.Round()), zap.Stringer("span", sp))
	cfg := f.cfg
	if sp.N > 1 {
		cfg.RejoinTimeout = 0
	}
	r := newReplicas(sp, f.cfg.Partitions, req.Kind(), cfg)
	r.prefer = f.preferred(sp)
	if sp.N == 1 {
		// The holders seen by earlier fetches (of a span it was part of)
		// name the partition's shards in its error, once they are gone.
		f.mu.Lock()
		for id := range f.held[sp.Lo] {
			r.everHeld[id] = true
		}
		f.mu.Unlock()
	}
	defer f.noteHeld(sp, r.everHeld)
	answers := make(chan answer)
	calls := map[string]context.CancelFunc{}
	started := map[string]time.Time{} // when each call in flight started
	var w waker
	defer w.stop()
	changed := f.changes() // before the view is read: no change is missed
	act := r.start(f.cfg.Clock.Now(), f.view.Shards())
	for {
		for _, id := range act.cancel {
			calls[id]()
		}
		for _, m := range act.launch {
			log.Debug("call", zap.String("shard", m.ID), zap.Bool("hedge", act.hedge))
			if act.hedge {
				log.Info("hedging a slow replica", zap.String("shard", m.ID))
				f.cfg.Metrics.Hedge()
			}
			started[m.ID] = f.cfg.Clock.Now()
			calls[m.ID] = f.launch(ctx, m, req, sp, answers)
		}
		if act.waiting && !act.done {
			f.cfg.Metrics.RejoinWait()
		}
		if act.done {
			return nil, act.err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case a := <-answers:
			calls[a.m.ID]()
			delete(calls, a.m.ID)
			now := f.cfg.Clock.Now()
			if act = r.answer(now, a.m.ID, a.err); act.done && act.err == nil {
				f.cfg.Metrics.Partial(a.m.ID, now.Sub(started[a.m.ID]))
				f.noteAnswer(req.Round(), a.m.ID)
				return a.v, nil
			}
			delete(started, a.m.ID)
			if !act.done {
				f.cfg.Metrics.Failover()
			}
			log.Warn("call failed; asking another replica", zap.String("shard", a.m.ID), zap.Error(a.err))
		case <-w.wait(f.cfg.Clock, r.wake()):
			w.fired()
			act = r.tick(f.cfg.Clock.Now())
		case <-changed:
			changed = f.changes()
			act = r.changed(f.cfg.Clock.Now(), f.view.Shards())
		}
	}
}

// launch starts a call to m on its own goroutine, which sends the answer
// unless ctx (the fetch's) is done first, and returns the call's cancel.
func (f *Fetcher) launch(ctx context.Context, m Member, req msg.Request, sp msg.Span, answers chan<- answer) context.CancelFunc {
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		v, err := f.caller.Call(cctx, m, req, sp)
		select {
		case answers <- answer{m: m, v: v, err: err}:
		case <-ctx.Done(): // the fetch is over: nobody reads answers
		}
	}()
	return cancel
}

// waker keeps one clock timer armed for a fetch's next timed event.
type waker struct {
	t  Timer
	at time.Time
}

// wait returns the channel of a timer due at at, re-arming the timer when
// at changed; nil (which blocks forever) for a zero at.
func (w *waker) wait(c Clock, at time.Time) <-chan time.Time {
	if w.t == nil || !at.Equal(w.at) {
		w.stop()
		if at.IsZero() {
			return nil
		}
		w.t, w.at = c.NewTimer(at.Sub(c.Now())), at
	}
	return w.t.C()
}

// fired forgets the timer that just fired.
func (w *waker) fired() { w.t, w.at = nil, time.Time{} }

func (w *waker) stop() {
	if w.t != nil {
		w.t.Stop()
		w.t = nil
	}
	w.at = time.Time{}
}

// Plan implements round.Planner: the missing partitions of 0..parts-1
// cut into spans of the reduction tree, each given to a live shard that
// holds all of its partitions. It starts from the largest spans of
// missing partitions (msg.Cover), halves every span no single live shard
// holds (down to single partitions, which wait for a holder in Fetch),
// then halves the largest spans while there are fewer spans than live
// shards holding missing partitions, so that every shard computes; each
// span goes to its least loaded holder (by partitions, ties in Holders'
// order). The spans come in round-robin order over their shards, so that
// a few fetches at a time (a --parallel bound) go to different shards.
// With shards holding aligned ranges of partitions (placement), a round
// receives one partial per shard, however many partitions there are.
func (f *Fetcher) Plan(missing []int, parts int) []msg.Span {
	shards := f.view.Shards()
	var cover []msg.Span
	if parts > 0 && parts == f.cfg.Partitions { // spans need the data set's P
		in := make([]bool, parts)
		for _, p := range missing {
			in[p] = true
		}
		for _, s := range msg.Cover(parts, func(p int) bool { return in[p] }) {
			cover = append(cover, heldSpans(shards, s, parts)...)
		}
		want := 0
		for _, m := range shards {
			if slices.ContainsFunc(m.Partitions, func(p int) bool { return p >= 0 && p < parts && in[p] }) {
				want++
			}
		}
		for len(cover) < want {
			i := -1
			for j, s := range cover {
				if s.N > 1 && (i < 0 || s.N > cover[i].N) {
					i = j
				}
			}
			if i < 0 {
				break
			}
			cover = slices.Concat(cover[:i], cover[i].Children(parts), cover[i+1:])
		}
	} else {
		cover = msg.Leaves(missing)
	}
	load := map[string]int{}
	prefer := map[msg.Span]string{}
	queues := map[string][]msg.Span{}
	var first []string
	for _, s := range cover {
		id := ""
		if hs := Holders(shards, s, parts); len(hs) > 0 {
			id = hs[0].ID
			for _, h := range hs[1:] {
				if load[h.ID] < load[id] {
					id = h.ID
				}
			}
			load[id] += s.Count(parts)
			prefer[s] = id
		}
		if _, seen := queues[id]; !seen {
			first = append(first, id)
		}
		queues[id] = append(queues[id], s)
	}
	f.mu.Lock()
	f.prefer = prefer
	f.mu.Unlock()
	out := make([]msg.Span, 0, len(cover))
	for len(out) < len(cover) {
		for _, id := range first {
			if q := queues[id]; len(q) > 0 {
				out = append(out, q[0])
				queues[id] = q[1:]
			}
		}
	}
	return out
}

// heldSpans returns s when a live shard holds all of its partitions, and
// otherwise the held spans of its halves, down to single partitions.
func heldSpans(shards []Member, s msg.Span, parts int) []msg.Span {
	if s.N == 1 || len(Holders(shards, s, parts)) > 0 {
		return []msg.Span{s}
	}
	var out []msg.Span
	for _, c := range s.Children(parts) {
		out = append(out, heldSpans(shards, c, parts)...)
	}
	return out
}

// noteHeld records that the shards ids were seen holding every partition
// of span s.
func (f *Fetcher) noteHeld(s msg.Span, ids map[string]bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.held == nil {
		f.held = map[int]map[string]bool{}
	}
	end := s.Lo + s.N
	if f.cfg.Partitions > 0 {
		end = s.End(f.cfg.Partitions)
	}
	for p := s.Lo; p < end; p++ {
		if f.held[p] == nil {
			f.held[p] = map[string]bool{}
		}
		for id := range ids {
			f.held[p][id] = true
		}
	}
}

// preferred returns the shard Plan chose for span s, "" for none.
func (f *Fetcher) preferred(s msg.Span) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.prefer[s]
}

func (f *Fetcher) noteAnswer(round int, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.answered == nil {
		f.answered = map[int]map[string]bool{}
	}
	if f.answered[round] == nil {
		f.answered[round] = map[string]bool{}
	}
	f.answered[round][id] = true
	delete(f.answered, round-2) // keep the last rounds only
}

// Answered returns the IDs of the shards whose answers were used in round
// (the requests' Round: an iteration, a solve step, 0 for a moment pass),
// sorted.
func (f *Fetcher) Answered(round int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return sortedKeys(f.answered[round])
}
