package fleet

import (
	"time"
)

// Clock is the source of time of a Fetcher: every duration of a Config is
// measured on it. RealClock is the wall clock; the tests' FakeClock moves
// only when a test tells it to.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that fires once, d after Now (at once for
	// d <= 0), sending the time on its channel.
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer of a Clock.
type Timer interface {
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether the timer
	// was still pending. After Stop nothing more is sent on C.
	Stop() bool
}

// RealClock is the wall clock (package time).
type RealClock struct{}

// Now implements Clock.
func (RealClock) Now() time.Time { return time.Now() }

// NewTimer implements Clock.
func (RealClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time { return t.t.C }
func (t realTimer) Stop() bool          { return t.t.Stop() }
