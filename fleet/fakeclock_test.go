package fleet

import (
	"slices"
	"sync"
	"time"
)

// FakeClock is a Clock for tests: its time moves only by Advance (or
// AutoAdvance), and a timer fires when the clock is advanced to its due
// time. Pending tells a test that the code under test has armed a timer,
// so that it advances the clock only once the timer exists and never
// sleeps. It is safe for concurrent use. Make one with NewFakeClock.
type FakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer // pending
	waiters []fakeWaiter // Pending calls not yet satisfied
}

type fakeTimer struct {
	clock *FakeClock
	at    time.Time
	ch    chan time.Time
}

type fakeWaiter struct {
	at time.Time
	ch chan struct{}
}

// NewFakeClock returns a fake clock reading start, or the Unix epoch for
// the zero time (which a Fetcher reads as no time at all).
func NewFakeClock(start time.Time) *FakeClock {
	if start.IsZero() {
		start = time.Unix(0, 0)
	}
	return &FakeClock{now: start}
}

// Now implements Clock.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer implements Clock.
func (c *FakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clock: c, at: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
		return t
	}
	c.timers = append(c.timers, t)
	c.notifyLocked()
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	c := t.clock
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.Index(c.timers, t)
	if i < 0 {
		return false
	}
	c.timers = slices.Delete(c.timers, i, i+1)
	return true
}

// Advance moves the clock forward by d and fires, in order of due time,
// every pending timer due by then.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	slices.SortStableFunc(c.timers, func(a, b *fakeTimer) int { return a.at.Compare(b.at) })
	n := 0
	for n < len(c.timers) && !c.timers[n].at.After(c.now) {
		c.timers[n].ch <- c.now // buffered, and a timer fires once
		n++
	}
	c.timers = slices.Delete(c.timers, 0, n)
}

// Pending returns a channel that is closed once a timer due at or before
// at is pending (armed, neither fired nor stopped): at once if one is.
func (c *FakeClock) Pending(at time.Time) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := fakeWaiter{at: at, ch: make(chan struct{})}
	if c.dueLocked(at) {
		close(w.ch)
	} else {
		c.waiters = append(c.waiters, w)
	}
	return w.ch
}

// AutoAdvance advances the clock to the due time of each timer as soon as
// it is pending, until stop is closed: time passes only while something
// waits for it, as in a discrete-event simulation. It suits tests whose
// outcome must not depend on how long anything takes (retries of dropped
// calls, hedging a hung shard), not those about what happens before a
// deadline, since every deadline passes as soon as it is armed. Run it on
// its own goroutine.
func (c *FakeClock) AutoAdvance(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-c.Pending(time.Unix(1<<62, 0)):
		}
		c.mu.Lock()
		var next time.Time
		for _, t := range c.timers {
			if next.IsZero() || t.at.Before(next) {
				next = t.at
			}
		}
		c.mu.Unlock()
		if !next.IsZero() { // the timer may have been stopped meanwhile
			c.Advance(max(next.Sub(c.Now()), 0))
		}
	}
}

func (c *FakeClock) dueLocked(at time.Time) bool {
	return slices.ContainsFunc(c.timers, func(t *fakeTimer) bool { return !t.at.After(at) })
}

func (c *FakeClock) notifyLocked() {
	c.waiters = slices.DeleteFunc(c.waiters, func(w fakeWaiter) bool {
		if c.dueLocked(w.at) {
			close(w.ch)
			return true
		}
		return false
	})
}
