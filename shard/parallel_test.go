package shard

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"

	"altmin/model"
	"altmin/msg"
)

// oneTokenEngine returns an engine of one small partition (ID 0, d = 2)
// that computes one thing at a time.
func oneTokenEngine(t *testing.T) *Engine {
	t.Helper()
	x := []float64{1, 2, -1, 0.5, 3, -2, 0.25, 1}
	e, err := NewEngine(&Partition{ID: 0, Rows: 4, D: 2, X: x, Y: []float64{1, -1, 2, 0}})
	if err != nil {
		t.Fatal(err)
	}
	e.SetParallel(1)
	return e
}

// tokenRequests are one request of every kind for oneTokenEngine.
func tokenRequests() []msg.Request {
	net := &model.Net{Dims: []int{2, 2, 1}, W: [][]float64{{1, -1, 0.5, 1}, {1, 1}}, V: []float64{1}}
	return []msg.Request{
		&msg.StatsRequest{Iter: 0, D: 2, Signs: []float64{1}, U: []float64{1, -1}},
		&msg.DeepRequest{Step: 0, Net: net, Layers: []int{1, 2}},
		&msg.Moments12Request{D: 2, Order: 2},
		&msg.Moment4Request{D: 2, K: 1, V: []float64{1, 0}},
	}
}

// With one token, a computation of any kind does not start while the
// token is taken, and starts once it is given back. In a synctest bubble,
// synctest.Wait returns once the fetch is durably blocked (on the token),
// so "not done" is checked when nothing else can happen.
func TestEngineWaitsForToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := oneTokenEngine(t)
		for _, req := range tokenRequests() {
			end, err := e.Acquire(context.Background()) // the only token
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { _, err := e.Fetch(context.Background(), req, msg.Leaf(0)); done <- err }()
			synctest.Wait()
			select {
			case err := <-done:
				t.Fatalf("%s ran while the only token was taken (err %v)", req.Kind(), err)
			default:
			}
			end()
			if err := <-done; err != nil {
				t.Fatalf("%s: %v", req.Kind(), err)
			}
		}
	})
}

// A call waiting for a token gives up when its context is done, and does
// not compute; the token it did not get is still there for the next call.
func TestEngineGivesUpWaiting(t *testing.T) {
	e := oneTokenEngine(t)
	reqs := tokenRequests()
	end, err := e.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, len(reqs))
	for _, req := range reqs {
		go func() { _, err := e.Fetch(ctx, req, msg.Leaf(0)); done <- err }()
	}
	cancel()
	for range reqs {
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("waiting call after cancel: err = %v, want context.Canceled", err)
		}
	}
	// An already cancelled context is refused even with a token free.
	end()
	for _, req := range reqs {
		if _, err := e.Fetch(ctx, req, msg.Leaf(0)); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: cancelled context, free token: err = %v, want context.Canceled", req.Kind(), err)
		}
		if _, err := e.Fetch(context.Background(), req, msg.Leaf(0)); err != nil {
			t.Errorf("%s: after the cancelled calls: %v", req.Kind(), err)
		}
	}
}
