package round

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
)

// Every part gets one result, and no more than par calls are in flight.
func TestStartBoundsCalls(t *testing.T) {
	for _, par := range []int{0, 1, 2, 3, 10} {
		var mu sync.Mutex
		inFlight, peak := 0, 0
		release := make(chan struct{})
		parts := []int{4, 0, 7, 1, 3}
		res := fanOut(context.Background(), parts, par, func(ctx context.Context, p int) (int, error) {
			mu.Lock()
			inFlight++
			peak = max(peak, inFlight)
			mu.Unlock()
			<-release
			mu.Lock()
			inFlight--
			mu.Unlock()
			return 10 * p, nil
		})
		close(release)
		var got []int
		for range parts {
			r := <-res
			if r.Err != nil || r.Value != 10*r.Part {
				t.Fatalf("par=%d: result %+v", par, r)
			}
			got = append(got, r.Part)
		}
		slices.Sort(got)
		if !slices.Equal(got, []int{0, 1, 3, 4, 7}) {
			t.Errorf("par=%d: parts %v", par, got)
		}
		want := par
		if par <= 0 || par > len(parts) {
			want = len(parts)
		}
		if peak > want {
			t.Errorf("par=%d: %d calls in flight, want at most %d", par, peak, want)
		}
	}
}

// Calls not started when the context is cancelled are not made.
func TestStartCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	var mu sync.Mutex
	calls := 0
	res := fanOut(ctx, []int{0, 1, 2, 3}, 1, func(ctx context.Context, p int) (int, error) {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			close(started)
			<-ctx.Done()
		}
		return p, ctx.Err()
	})
	<-started
	cancel()
	for range 4 {
		if r := <-res; !errors.Is(r.Err, context.Canceled) {
			t.Errorf("part %d: err %v, want context.Canceled", r.Part, r.Err)
		}
	}
	if calls != 1 {
		t.Errorf("%d calls made after cancellation, want only the first", calls)
	}
}

// TestStartInOrder: with one call at a time the calls start in the order
// of parts (a scheduler's order, see drive.Round.Order).
func TestStartInOrder(t *testing.T) {
	parts := []int{4, 0, 7, 1, 3}
	var started []int
	res := fanOut(context.Background(), parts, 1, func(ctx context.Context, p int) (int, error) {
		started = append(started, p) // one call at a time: no race
		return p, nil
	})
	for range parts {
		<-res
	}
	if !slices.Equal(started, parts) {
		t.Errorf("calls started in the order %v, want %v", started, parts)
	}
}
