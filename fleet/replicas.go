package fleet

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"altmin/msg"
)

// replicas decides, for one fetch of one partition, which of its holders to
// ask and when, when to give up and with which error. It is a pure state
// machine: no goroutines, no clock, no I/O. Its driver (Fetcher.Fetch)
// feeds it the fetch's events with the time they happen (start, an answer,
// a membership change, a tick once wake has passed) and carries out the
// actions each returns.
//
// The rules, holders being asked in the order of Holders:
//   - one holder is asked at a time; when its call fails, the next one. A
//     call is cancelled, and so fails, when its holder leaves the view or
//     its deadline (CallTimeout after it started) passes;
//   - HedgeAfter after the last call started, the next holder is asked too,
//     while calls are in flight;
//   - a holder whose call failed is not asked again until a membership
//     change or the retry, RetryDelay after no holder was left to ask (a
//     retry pending, holders are asked at the retry);
//   - a holder that does not implement the request's kind
//     (errors.ErrUnsupported) is not asked again until a membership change;
//     when no live holder implements it, the fetch fails at once;
//   - a holder that cannot read the partition's data (msg.ErrData) is not
//     asked again; when every live holder has failed so, the fetch fails at
//     once with that error, which is not ErrUnavailable;
//   - a holder that refuses permanently (msg.ErrPermanent: its certificate
//     is not trusted, another protocol version) is not asked again until a
//     membership change; when every live holder has refused so, the fetch
//     fails at once with that error, which is not ErrUnavailable;
//   - a refusal of the request itself (msg.ErrTooLarge, msg.ErrRequest:
//     msg.IsRequestRefusal) ends the fetch at once with that error: every
//     replica would give it;
//   - from the first time no holder is left to ask, the fetch waits for a
//     holder to (re)join; once RejoinTimeout has passed since then, it
//     fails with ErrUnavailable as soon as no call is in flight.
type replicas struct {
	span  msg.Span
	parts int // partitions of the data set
	kind  msg.Kind
	cfg   Config // only the durations are read

	prefer  string          // the holder to ask first, if it is one
	holders []Member        // live holders, in the order they are asked
	alive   map[string]bool // every live shard

	inflight    map[string]time.Time // shard -> its call's deadline (zero: none or passed)
	cancelled   map[string]bool      // calls in flight already cancelled
	expired     map[string]bool      // calls cancelled because their deadline passed
	failed      map[string]bool      // failed since the last retry or membership change
	unsupported map[string]bool      // lack the kind, since the last membership change
	unreadable  map[string]bool      // cannot read the partition's data
	refused     map[string]bool      // refused permanently, since the last membership change
	everHeld    map[string]bool

	waitSince time.Time // the first time no holder was left to ask
	hedgeAt   time.Time // zero: none
	retryAt   time.Time // zero: none

	lastErr, lastUnsupported, lastData, lastRefused error
}

// actions is what the driver must do after an event.
type actions struct {
	launch []Member // ask each of these holders
	hedge  bool     // the launches back up a slow call
	cancel []string // cancel the calls to these shards (their answers still come)
	// waiting: no holder is left to ask for the first time in this fetch,
	// which now waits for one to answer or (re)join (counted, not acted on).
	waiting bool
	done    bool // the fetch is over: with err, or nil for the answer just given
	err     error
}

func newReplicas(s msg.Span, parts int, kind msg.Kind, cfg Config) *replicas {
	return &replicas{
		span: s, parts: parts, kind: kind, cfg: cfg,
		alive: map[string]bool{}, inflight: map[string]time.Time{}, cancelled: map[string]bool{},
		expired: map[string]bool{}, failed: map[string]bool{}, unsupported: map[string]bool{},
		unreadable: map[string]bool{}, refused: map[string]bool{}, everHeld: map[string]bool{},
	}
}

// start begins the fetch with the live shards.
func (r *replicas) start(now time.Time, shards []Member) actions {
	r.see(shards)
	var a actions
	r.settle(now, &a)
	return a
}

// answer takes the answer of the call to shard id: err nil ends the fetch
// with it.
func (r *replicas) answer(now time.Time, id string, err error) actions {
	var a actions
	if _, ok := r.inflight[id]; !ok {
		return a // not a call of this fetch
	}
	expired := r.expired[id]
	delete(r.inflight, id)
	delete(r.cancelled, id)
	delete(r.expired, id)
	if err == nil {
		a.done = true
		return a
	}
	if expired {
		err = fmt.Errorf("call deadline %s passed: %w", r.cfg.CallTimeout, err)
	}
	r.lastErr = fmt.Errorf("shard %s: %w", id, err)
	if msg.IsRequestRefusal(err) {
		r.fail(&a, fmt.Errorf("fleet: %s: the request is refused, which no replica can change: %w", r.span, r.lastErr))
		return a
	}
	if errors.Is(err, errors.ErrUnsupported) {
		r.unsupported[id], r.lastUnsupported = true, r.lastErr
	} else if errors.Is(err, msg.ErrPermanent) {
		r.refused[id], r.lastRefused = true, r.lastErr
	}
	if errors.Is(err, msg.ErrData) {
		r.unreadable[id], r.lastData = true, r.lastErr
	}
	r.failed[id] = true
	if len(r.inflight) > 0 {
		r.next(now, &a) // fail over at once, next to the calls in flight
	}
	r.settle(now, &a)
	return a
}

// changed takes a new membership view: calls to shards no longer alive are
// cancelled, and failed shards get another chance (they may have restarted,
// or been upgraded).
func (r *replicas) changed(now time.Time, shards []Member) actions {
	r.see(shards)
	var a actions
	for _, id := range sortedKeys(r.inflight) {
		if !r.alive[id] && !r.cancelled[id] {
			r.cancelled[id] = true
			a.cancel = append(a.cancel, id)
		}
	}
	clear(r.failed)
	clear(r.unsupported)
	clear(r.refused)
	r.settle(now, &a)
	return a
}

// Timed events, in the order they are handled when due at once.
const (
	dueCall = iota
	dueHedge
	dueRetry
	dueRejoin
)

// due returns the earliest timed event: its time (zero: none), its kind
// and, for a call deadline, the shard.
func (r *replicas) due() (at time.Time, what int, id string) {
	consider := func(t time.Time, w int, s string) {
		if !t.IsZero() && (at.IsZero() || t.Before(at) || t.Equal(at) && (w < what || w == what && s < id)) {
			at, what, id = t, w, s
		}
	}
	for s, t := range r.inflight {
		consider(t, dueCall, s)
	}
	consider(r.hedgeAt, dueHedge, "")
	consider(r.retryAt, dueRetry, "")
	consider(r.rejoinAt(), dueRejoin, "")
	return at, what, id
}

// rejoinAt returns when the wait for a holder to rejoin runs out, while
// no call is in flight; zero otherwise.
func (r *replicas) rejoinAt() time.Time {
	if len(r.inflight) > 0 || r.waitSince.IsZero() {
		return time.Time{}
	}
	return r.waitSince.Add(r.cfg.RejoinTimeout)
}

// wake returns when the driver must next call tick; zero for never.
func (r *replicas) wake() time.Time {
	at, _, _ := r.due()
	return at
}

// tick handles every timed event due by now, in order of due time.
func (r *replicas) tick(now time.Time) actions {
	var a actions
	for !a.done {
		at, what, id := r.due()
		if at.IsZero() || at.After(now) {
			break
		}
		switch what {
		case dueCall:
			r.inflight[id] = time.Time{}
			r.expired[id] = true
			if !r.cancelled[id] {
				r.cancelled[id] = true
				a.cancel = append(a.cancel, id)
			}
		case dueHedge:
			r.hedgeAt = time.Time{}
			if len(r.inflight) > 0 && r.next(now, &a) {
				a.hedge = true
			}
		case dueRetry:
			r.retryAt = time.Time{}
			clear(r.failed)
			r.settle(now, &a)
		case dueRejoin:
			r.fail(&a, r.unavailable())
		}
	}
	return a
}

// see takes the live shards.
func (r *replicas) see(shards []Member) {
	r.holders = Holders(shards, r.span, r.parts)
	if i := slices.IndexFunc(r.holders, func(m Member) bool { return m.ID == r.prefer }); i > 0 {
		r.holders = slices.Concat(r.holders[i:i+1], r.holders[:i], r.holders[i+1:])
	}
	clear(r.alive)
	for _, m := range shards {
		r.alive[m.ID] = true
	}
	for _, m := range r.holders {
		r.everHeld[m.ID] = true
	}
}

// next asks the first holder neither in flight, failed, lacking the kind,
// unable to read the data nor refusing permanently; it reports whether it
// asked one.
func (r *replicas) next(now time.Time, a *actions) bool {
	for _, m := range r.holders {
		if _, busy := r.inflight[m.ID]; busy || r.failed[m.ID] || r.unsupported[m.ID] || r.unreadable[m.ID] || r.refused[m.ID] {
			continue
		}
		var deadline time.Time
		if r.cfg.CallTimeout > 0 {
			deadline = now.Add(r.cfg.CallTimeout)
		}
		r.inflight[m.ID] = deadline
		a.launch = append(a.launch, m)
		if r.cfg.HedgeAfter > 0 {
			r.hedgeAt = now.Add(r.cfg.HedgeAfter)
		}
		return true
	}
	return false
}

// settle asks a holder when no call is in flight and no retry is pending,
// fails when no holder can ever answer, and starts or ends the wait for a
// holder to rejoin.
func (r *replicas) settle(now time.Time, a *actions) {
	if a.done {
		return
	}
	if len(r.inflight) == 0 && r.retryAt.IsZero() && !r.next(now, a) {
		if len(r.holders) > 0 && allIn(r.holders, r.unsupported) {
			r.fail(a, fmt.Errorf("fleet: %s: no live shard holding it (%s) implements the %s call: %w", r.span, memberIDs(r.holders), r.kind, r.lastUnsupported))
			return
		}
		if len(r.holders) > 0 && allIn(r.holders, r.refused) {
			r.fail(a, fmt.Errorf("fleet: %s: every live shard holding it (%s) refused the call permanently: %w", r.span, memberIDs(r.holders), r.lastRefused))
			return
		}
		if r.lastData != nil && allIn(r.holders, r.unreadable) {
			// Not an outage: waiting for the shards would read the same
			// data again.
			r.fail(a, fmt.Errorf("fleet: %s: no live shard holding it (%s) can read its data: %w", r.span, memberIDs(r.holders), r.lastData))
			return
		}
		if r.waitSince.IsZero() {
			r.waitSince, a.waiting = now, true
		}
		if len(r.holders) > 0 { // live holders, all failed: ask again after a pause
			r.retryAt = now.Add(r.cfg.RetryDelay)
		}
	}
	if at := r.rejoinAt(); !at.IsZero() && !now.Before(at) {
		r.fail(a, r.unavailable())
	}
}

func (r *replicas) fail(a *actions, err error) { a.done, a.err = true, err }

// unavailable is the error of a fetch whose rejoin wait ran out.
func (r *replicas) unavailable() error {
	ids := sortedKeys(r.everHeld)
	who := "no shard ever listed it"
	if len(ids) > 0 {
		who = "held by " + strings.Join(ids, ", ")
	}
	err := fmt.Errorf("%w: %s: no live shard answered within the rejoin timeout %s (%s)", ErrUnavailable, r.span, r.cfg.RejoinTimeout, who)
	if r.span.N > 1 { // a span does not wait: its halves are asked next
		err = fmt.Errorf("%w: %s: no live shard holding all of them answered (%s)", ErrUnavailable, r.span, who)
	}
	if r.lastErr != nil {
		err = fmt.Errorf("%w; last error: %v", err, r.lastErr)
	}
	return err
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

func sortedKeys[V any](m map[string]V) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
