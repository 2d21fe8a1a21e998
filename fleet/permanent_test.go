package fleet

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"altmin/msg"
)

// TestRequestRefusalFailsAtOnce: a refusal of the request itself (too
// large, malformed) ends the fetch at its first answer, with that error
// and not ErrUnavailable, even with live replicas left and a long rejoin
// timeout: no replica can change it.
func TestRequestRefusalFailsAtOnce(t *testing.T) {
	for _, refusal := range []error{msg.ErrTooLarge, msg.ErrRequest} {
		r := newReplicas(msg.Leaf(0), 0, msg.KindStats, Config{RetryDelay: time.Second, RejoinTimeout: time.Hour})
		expect(t, "start", r.start(t0, holding("a", "b")), []string{"a"}, none)
		a := r.answer(t0, "a", fmt.Errorf("call: %w: m = 9000, at most 8192", refusal))
		expectErr(t, "a refuses the request", a, refusal, "partition 0", "at most 8192")
		if errorsIsUnavailable(a.err) {
			t.Errorf("refusal %v reported as unavailable: %v", refusal, a.err)
		}
	}
}

// TestPermanentRefusalFailsWithoutRejoinWait: a shard that refuses
// permanently (its certificate not trusted, another protocol version:
// msg.ErrPermanent) is not asked again; another replica still is, and
// when every live holder refused so the fetch fails at once with that
// error instead of retrying them until the rejoin timeout.
func TestPermanentRefusalFailsWithoutRejoinWait(t *testing.T) {
	tls := fmt.Errorf("%w: x509: certificate signed by unknown authority", msg.ErrPermanent)
	r := newReplicas(msg.Leaf(0), 0, msg.KindStats, Config{RetryDelay: time.Second, RejoinTimeout: time.Hour})
	expect(t, "start", r.start(t0, holding("a", "b")), []string{"a"}, none)
	expect(t, "a refuses: b is asked", r.answer(t0, "a", tls), []string{"b"}, none)
	a := r.answer(t0, "b", tls)
	expectErr(t, "b refuses too", a, msg.ErrPermanent, "partition 0", "a, b", "unknown authority")
	if errorsIsUnavailable(a.err) {
		t.Errorf("permanent refusal reported as unavailable: %v", a.err)
	}

	// One permanent refusal and one transient failure: the transient one
	// is retried, the permanent one is not asked again.
	r = newReplicas(msg.Leaf(0), 0, msg.KindStats, Config{RetryDelay: time.Second, RejoinTimeout: time.Hour})
	expect(t, "start", r.start(t0, holding("a", "b")), []string{"a"}, none)
	expect(t, "a refuses", r.answer(t0, "a", tls), []string{"b"}, none)
	expect(t, "b fails", r.answer(t0, "b", ErrInjected), none, none)
	expect(t, "the retry asks b only", r.tick(at(time.Second)), []string{"b"}, none)
}

func errorsIsUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }
