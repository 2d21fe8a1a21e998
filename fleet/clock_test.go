package fleet

import (
	"slices"
	"testing"
	"time"
)

// fired reports whether timer tm has fired, without waiting.
func fired(tm Timer) bool {
	select {
	case <-tm.C():
		return true
	default:
		return false
	}
}

// isClosed reports whether ch is closed, without waiting.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestFakeClock: timers fire when the clock reaches their due time, not
// before; a stopped timer never fires; a timer of
// zero duration fires at once; Pending reports armed timers due by a time.
func TestFakeClock(t *testing.T) {
	c := NewFakeClock(t0)
	if !fired(c.NewTimer(0)) {
		t.Error("a timer of zero duration did not fire at once")
	}
	late := c.Pending(at(3 * time.Second))
	a := c.NewTimer(2 * time.Second)
	if !isClosed(late) {
		t.Error("Pending(3s) not closed once a timer due at 2s was armed")
	}
	if !isClosed(c.Pending(at(2 * time.Second))) {
		t.Error("Pending(2s) not closed with a timer due at 2s armed")
	}
	if isClosed(c.Pending(at(time.Second))) {
		t.Error("Pending(1s) closed with only a timer due at 2s armed")
	}
	b := c.NewTimer(time.Second)
	stopped := c.NewTimer(time.Second)
	if !stopped.Stop() || stopped.Stop() {
		t.Error("Stop of a pending timer, then of a stopped one: want true, false")
	}
	c.Advance(time.Second - 1)
	if fired(a) || fired(b) {
		t.Fatal("a timer fired before its due time")
	}
	c.Advance(1)
	if fired(a) || !fired(b) {
		t.Fatal("at 1s: want only the timer due at 1s fired")
	}
	if fired(stopped) {
		t.Fatal("a stopped timer fired")
	}
	if a.Stop(); fired(a) {
		t.Fatal("a timer fired after Stop")
	}
	if got := c.Now(); !got.Equal(at(time.Second)) {
		t.Fatalf("Now = %v, want %v", got, at(time.Second))
	}

	// One Advance past several timers fires every one of them.
	ts := []Timer{c.NewTimer(3 * time.Second), c.NewTimer(time.Second), c.NewTimer(time.Hour + 1)}
	c.Advance(time.Hour)
	if !fired(ts[0]) || !fired(ts[1]) || fired(ts[2]) {
		t.Fatal("an Advance by an hour: want the timers due within it fired, the other not")
	}
}

// TestFakeClockAutoAdvance: the clock jumps to each timer as it is armed,
// so a chain of waits completes, at the sum of the waits.
func TestFakeClockAutoAdvance(t *testing.T) {
	c := NewFakeClock(t0)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.AutoAdvance(stop)
	}()
	var seen []time.Time
	for _, d := range []time.Duration{time.Second, time.Minute, time.Millisecond} {
		seen = append(seen, <-c.NewTimer(d).C())
	}
	close(stop)
	<-done
	want := []time.Time{at(time.Second), at(time.Second + time.Minute), at(time.Second + time.Minute + time.Millisecond)}
	if !slices.EqualFunc(seen, want, time.Time.Equal) {
		t.Fatalf("timers fired at %v, want %v", seen, want)
	}
}
