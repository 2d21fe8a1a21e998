//go:build unix

package main

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"altmin/data"
)

// TestNonRegularDataRefusedByCommands: a named pipe as --data (a writer
// that never comes) is refused at once with an error naming it and exit
// status 1, by train and predict, instead of blocking.
func TestNonRegularDataRefusedByCommands(t *testing.T) {
	model := trainSmall(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "x.npy")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	labels := filepath.Join(dir, "y.npy")
	if err := data.WriteNPY(labels, []float64{1}, 1); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"train", "--data", fifo, "--labels", labels, "--k", "1", "--out", filepath.Join(dir, "m")},
		{"predict", "--model", model, "--data", fifo, "--out", filepath.Join(dir, "p.npy")},
	} {
		done := make(chan error, 1)
		go func() {
			err, _, _ := runCLI(t, args...)
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, data.ErrNotRegular) || exitCode(err) != 1 || !strings.Contains(err.Error(), fifo) {
				t.Errorf("%s: %v (exit %d), want ErrNotRegular naming %s", args[0], err, exitCode(err), fifo)
			}
		case <-time.After(time.Minute): // a deadlock guard, not a measurement
			t.Fatalf("%s blocked on the named pipe", args[0])
		}
	}
}
