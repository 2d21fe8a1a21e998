package shard

import (
	"context"
	"errors"
	"runtime"
	"testing"
)

// With one token, a computation does not start while the token is taken,
// and starts once it is given back. (The check of "not started" can only
// miss a bug, never report one that is not there.)
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

func TestEngineWaitsForToken(t *testing.T) {
	e := oneTokenEngine(t)
	calls := map[string]func() error{
		"Compute": func() error {
			_, err := e.Compute(&Request{Iter: 0, D: 2, Signs: []float64{1}, U: []float64{1, -1}}, 0)
			return err
		},
		"Moments12": func() error { _, err := e.Moments12(0, nil, 2); return err },
		"Moment4":   func() error { _, err := e.Moment4(0, []float64{1, 0}, 1, nil); return err },
	}
	for name, call := range calls {
		end, err := e.Acquire(context.Background()) // the only token
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- call() }()
		for range 200 {
			runtime.Gosched()
		}
		select {
		case err := <-done:
			t.Fatalf("%s ran while the only token was taken (err %v)", name, err)
		default:
		}
		end()
		if err := <-done; err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// A call waiting for a token gives up when its context is done, and does
// not compute; the token it did not get is still there for the next call.
func TestEngineGivesUpWaiting(t *testing.T) {
	e := oneTokenEngine(t)
	req := &Request{Iter: 0, D: 2, Signs: []float64{1}, U: []float64{1, -1}}
	end, err := e.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 3)
	go func() { _, err := e.ComputeContext(ctx, req, 0); done <- err }()
	go func() { _, err := e.Moments12Context(ctx, 0, nil, 1); done <- err }()
	go func() { _, err := e.Moment4Context(ctx, 0, []float64{1, 0}, 1, nil); done <- err }()
	cancel()
	for range 3 {
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("waiting call after cancel: err = %v, want context.Canceled", err)
		}
	}
	// An already cancelled context is refused even with a token free.
	end()
	if _, err := e.ComputeContext(ctx, req, 0); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context, free token: err = %v, want context.Canceled", err)
	}
	if _, err := e.Compute(req, 0); err != nil {
		t.Errorf("after the cancelled calls: %v", err)
	}
}
