package fleet

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"altmin/msg"
)

// counting is a msg.Fetcher that counts its calls and answers with an
// empty fourth moment of the partition.
type counting struct{ calls int }

func (c *counting) Fetch(_ context.Context, _ msg.Request, p msg.Span) (msg.Partial, error) {
	c.calls++
	return &msg.Moment4{Partition: p.Lo, Parts: p.N}, nil
}

// TestEngines: the in-memory Caller checks its context, refuses a shard ID
// it does not know and otherwise returns the shard's own answer.
func TestEngines(t *testing.T) {
	c := newCluster(t, synthetic(t), 4)
	req := momentReqs(c.d)[1]
	got, err := c.engines.Call(context.Background(), c.members[1], req, msg.Leaf(1))
	if err != nil || !same(got, c.reference(t, req)[1]) {
		t.Fatalf("Call: %v", err)
	}
	if _, err := c.engines.Call(context.Background(), Member{ID: "nobody"}, req, msg.Leaf(1)); err == nil || !strings.Contains(err.Error(), "no such shard nobody") {
		t.Fatalf("unknown shard: %v", err)
	}
	fetcher := &counting{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (Engines{"a": fetcher}).Call(ctx, Member{ID: "a"}, req, msg.Leaf(0)); !errors.Is(err, context.Canceled) || fetcher.calls != 0 {
		t.Fatalf("cancelled call: %v after %d calls, want context.Canceled without a call", err, fetcher.calls)
	}
}

// TestDecorators: each fault decorator fails exactly the calls it names,
// for requests of every kind, and passes the others through.
func TestDecorators(t *testing.T) {
	base := Engines{"a": &counting{}, "b": &counting{}}
	a, b := Member{ID: "a"}, Member{ID: "b"}
	reqs := []msg.Request{&msg.StatsRequest{Iter: 4}, &msg.DeepRequest{Step: 2}, &msg.Moments12Request{}, &msg.Moment4Request{}}
	// outcomes returns which calls of c fail with ErrInjected, over reqs
	// asked of a then b for partition 3.
	outcomes := func(c Caller) []bool {
		var out []bool
		for _, req := range reqs {
			for _, m := range []Member{a, b} {
				v, err := c.Call(context.Background(), m, req, msg.Leaf(3))
				if err != nil && !errors.Is(err, ErrInjected) || err == nil && v.Span() != msg.Leaf(3) {
					t.Fatalf("call of %s for %s: %v, %v", m.ID, req.Kind(), v, err)
				}
				out = append(out, err != nil)
			}
		}
		return out
	}
	check := func(name string, c Caller, want ...int) {
		t.Helper()
		got := outcomes(c)
		for i, failed := range got {
			wanted := false
			for _, w := range want {
				wanted = wanted || w == i
			}
			if failed != wanted {
				t.Errorf("%s: calls failed %v, want exactly calls %v (0-based)", name, got, want)
				return
			}
		}
	}
	check("FailNth 3", FailNth(base, 3), 2)
	check("FailWhen deep or b", FailWhen(base, func(m Member, req msg.Request, p msg.Span) bool {
		return p == msg.Leaf(3) && (req.Kind() == msg.KindDeep || m.ID == "b")
	}), 1, 2, 3, 5, 7)
	check("Drop 0", Drop(base, 0, 1))
	check("Drop 1", Drop(base, 1, 1), 0, 1, 2, 3, 4, 5, 6, 7)
	if x, y := outcomes(Drop(base, 0.5, 7)), outcomes(Drop(base, 0.5, 7)); !slices.Equal(x, y) || !slices.Contains(x, true) || !slices.Contains(x, false) {
		t.Errorf("Drop 0.5 with one seed dropped %v, then %v; want the same mix twice", x, y)
	}
	var seen []msg.Kind
	check("Hook", Hook(base, func(_ context.Context, m Member, req msg.Request, _ msg.Span) error {
		if m.ID == "a" {
			seen = append(seen, req.Kind())
		}
		return nil
	}))
	if want := []msg.Kind{msg.KindStats, msg.KindDeep, msg.KindMoments12, msg.KindMoment4}; !slices.Equal(seen, want) {
		t.Errorf("Hook saw kinds %v, want %v", seen, want)
	}

	// BlockWhen holds the calls it names until released, or fails them
	// when their context ends.
	release := make(chan struct{})
	blocked := BlockWhen(base, release, func(m Member, _ msg.Request, _ msg.Span) bool { return m.ID == "a" })
	if _, err := blocked.Call(context.Background(), b, reqs[0], msg.Leaf(3)); err != nil {
		t.Fatalf("a call BlockWhen does not name: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := blocked.Call(ctx, a, reqs[0], msg.Leaf(3)); !errors.Is(err, context.Canceled) {
		t.Fatalf("a blocked call whose context ended: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := blocked.Call(context.Background(), a, reqs[0], msg.Leaf(3))
		done <- err
	}()
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("a released call: %v", err)
	}
}
