package job

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"altmin/msg"
)

// limitOptions returns the options of a small planted run in process.
func limitOptions(t *testing.T, synth string) Options {
	o := DefaultOptions()
	o.Synthetic = synth
	o.Out = t.TempDir()
	o.Parallel = 1
	o.LocalShards = 0
	o.Iters = 1
	return o
}

func trainErr(o Options) error {
	_, err := Train(context.Background(), o, io.Discard, zap.NewNop())
	return err
}

// withMemoryLimit sets the memory limit runs are checked against for the
// test.
func withMemoryLimit(t *testing.T, b int64) {
	old := memoryLimit
	memoryLimit = func() int64 { return b }
	t.Cleanup(func() { memoryLimit = old })
}

// wantTooLarge fails unless err wraps msg.ErrTooLarge and names every
// part of want.
func wantTooLarge(t *testing.T, err error, want ...string) {
	t.Helper()
	if !errors.Is(err, msg.ErrTooLarge) {
		t.Fatalf("err = %v, want msg.ErrTooLarge", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("err = %v, want it to name %q", err, w)
		}
	}
}

// TestPartitionsAboveMaxRefused checks that --partitions beyond
// msg.MaxPartitions is refused by the options, naming the limit, before
// any data is opened.
func TestPartitionsAboveMaxRefused(t *testing.T) {
	o := limitOptions(t, "model=sum,d=5,k=2,n=500,seed=1")
	o.Partitions = 1000000
	wantTooLarge(t, o.Validate(), "--partitions 1000000", fmt.Sprint(msg.MaxPartitions))
}

// TestRoundPartialsAboveMemoryRefused checks that a P whose partials of
// one round exceed the memory limit is refused before any round runs (it
// allocated past the machine's memory: 1e6 partitions of n = 5000 rows).
func TestRoundPartialsAboveMemoryRefused(t *testing.T) {
	withMemoryLimit(t, 64<<20)
	o := limitOptions(t, "model=sum,d=50,k=5,n=5000,seed=1")
	o.Partitions = 4096 // 4096 partials of m = 250: 1 GB
	wantTooLarge(t, trainErr(o), "--partitions 4096", "67108864 bytes")
	for _, shards := range []int{0, 2} { // the same check in every local runtime
		o.LocalShards = shards
		o.Partitions = 4096
		if err := trainErr(o); !errors.Is(err, msg.ErrTooLarge) {
			t.Errorf("--local-shards %d: err = %v, want msg.ErrTooLarge", shards, err)
		}
	}
}

// TestHeldRowsAboveMemoryRefused checks that planted data of 1e12 rows held
// in memory is refused before loading (it ended in the runtime's fatal
// out-of-memory error), and that streaming them (--resident) passes the
// check.
func TestHeldRowsAboveMemoryRefused(t *testing.T) {
	withMemoryLimit(t, 64<<30)
	o := limitOptions(t, "model=sum,d=50,k=5,n=1000000000000,seed=1")
	wantTooLarge(t, trainErr(o), "1000000000000 rows", "68719476736 bytes", "--resident")
	o.Resident = 1
	o.Partitions = 1 << 16
	pr := &Problem{}
	src, _, err := OpenSource(o)
	if err != nil {
		t.Fatal(err)
	}
	pr.Source, pr.Spec.D, pr.Spec.K, pr.Spec.Kind = src, 51, 5, "sum"
	if err := checkLocalMemory(o, pr); err != nil {
		t.Errorf("streaming 1e12 rows, one partition of %d resident: %v", 1000000000000>>16, err)
	}
}

// TestHugeKRefusedBeforeSigns checks that --k of 2^50 units is refused by
// the MaxM check before its signs are allocated (make panicked).
func TestHugeKRefusedBeforeSigns(t *testing.T) {
	dir := t.TempDir()
	o := limitOptions(t, "")
	o.Synthetic = ""
	o.Data = writeTestNPY(t, filepath.Join(dir, "x.npy"), make([]float64, 20*3), 20, 3)
	o.Labels = writeTestNPY(t, filepath.Join(dir, "y.npy"), make([]float64, 20), 20)
	o.K = 1 << 50
	wantTooLarge(t, trainErr(o), "at most 8192", "MaxM")
}

// TestInitFileShapeCheckedBeforeRead checks that an --init file's shape is
// checked from its header, before its values are read: a file of the
// wrong shape whose last value is NaN is refused for its shape, not for
// the NaN found by reading it whole.
func TestInitFileShapeCheckedBeforeRead(t *testing.T) {
	dir := t.TempDir()
	v := make([]float64, 1000*7)
	v[len(v)-1] = math.NaN()
	bad := writeTestNPY(t, filepath.Join(dir, "w.npy"), v, 1000, 7)
	for _, flag := range []string{"--init", "--signs"} {
		o := limitOptions(t, "model=sum,d=5,k=2,n=500,seed=1")
		if flag == "--init" {
			o.Init = bad
		} else {
			o.Signs = bad
		}
		err := trainErr(o)
		if err == nil || !strings.Contains(err.Error(), "has shape (1000, 7)") || strings.Contains(err.Error(), "NaN") {
			t.Errorf("%s: err = %v, want the shape refused before the values are read", flag, err)
		}
	}
}

// writeTestNPY writes a float64 C-order .npy file of the given shape.
func writeTestNPY(t *testing.T, path string, v []float64, shape ...int) string {
	t.Helper()
	dims := make([]string, len(shape))
	for i, s := range shape {
		dims[i] = fmt.Sprint(s)
	}
	tuple := "(" + strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	dict := fmt.Sprintf("{'descr': '<f8', 'fortran_order': False, 'shape': %s), }", tuple)
	hlen := (10+len(dict)+1+63)/64*64 - 10
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(hlen))
	b.WriteString(dict + strings.Repeat(" ", hlen-len(dict)-1) + "\n")
	binary.Write(&b, binary.LittleEndian, v)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
