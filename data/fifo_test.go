//go:build unix

package data

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestNonRegularDataRefused: a data file that is not a regular file (a
// named pipe, a directory, a device) is refused when opened, with an
// error naming it, in every format; a named pipe without a writer is
// never opened, so nothing blocks.
func TestNonRegularDataRefused(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"fifo.npy", "fifo.csv", "fifo.parquet"} {
		fifo := filepath.Join(dir, name)
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := Open(Table{Path: fifo, Labels: fifo, Label: "y"})
			done <- err
		}()
		select {
		case err := <-done:
			wantErr(t, err, ErrNotRegular, fifo, "named pipe")
		case <-time.After(time.Minute): // a deadlock guard, not a measurement
			t.Fatalf("Open(%s) blocked on the named pipe", fifo)
		}
	}
	sub := filepath.Join(dir, "d.csv")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Open(Table{Path: sub, Label: "y"})
	wantErr(t, err, ErrNotRegular, sub, "directory")
	if _, err := os.Stat("/dev/null"); err == nil {
		_, err := Open(Table{Path: "/dev/null", Unlabeled: true})
		wantErr(t, err, ErrNotRegular, "/dev/null", "device")
	}
	// The labels of an .npy data set too.
	x := writeRawNPY(t, "x.npy", 1, 0, npyDict("<f8", false, "(1, 1)"), f64Bytes([]float64{1}))
	_, err = Open(Table{Path: x, Labels: dir})
	wantErr(t, err, ErrNotRegular, dir, "directory")
	_, _, err = ReadNPY(dir)
	wantErr(t, err, ErrNotRegular, dir, "directory")
}
