package job

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"altmin/coordinator"
	"altmin/deep"
	"altmin/internal/arith"
	"altmin/model"
)

// TestCheckpointKindBytes checks that both checkpoint kinds write the
// layout of their documented formats, field for field, and read back what
// they wrote.
func TestCheckpointKindBytes(t *testing.T) {
	cfg := json.RawMessage(`{"seed":1}`)
	one := coordinator.State{Iter: 2, U: []float64{0.1, -2}, Prev: []float64{1, 3e-300}}
	net := model.NewNet(2, 2, 1)
	net.V = []float64{1}
	two := deep.State{Iter: 1, Step: 1, Layer: 1, Net: net, Prev: net, Start: net}

	// The layouts, spelled out independently of the types.
	layout := func(format, key string, st any) []byte {
		b, _ := json.Marshal(st)
		return []byte(`{"format":"` + format + `","fingerprint":"fp","config":{"seed":1},"arith":"` + arith.Build() + `","` + key + `":` + string(b) + `}`)
	}
	wantOne, wantDeep := layout(CheckpointFormat, "state", one), layout(DeepCheckpointFormat, "deep_state", two)

	dir1, dir2 := t.TempDir(), t.TempDir()
	if err := checkpoints.save(dir1, "fp", cfg, one); err != nil {
		t.Fatal(err)
	}
	if err := deepCheckpoints.save(dir2, "fp", cfg, two); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string][]byte{dir1: wantOne, dir2: wantDeep} {
		got, err := os.ReadFile(filepath.Join(dir, "checkpoint.json"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("checkpoint.json:\n got %s\nwant %s", got, want)
		}
	}

	c, err := checkpoints.load(dir1, "fp")
	if err != nil || c == nil {
		t.Fatalf("load: %v, %v", c, err)
	}
	if _, st := c.parts(); st.Iter != one.Iter || st.U[0] != one.U[0] || st.Prev[1] != one.Prev[1] {
		t.Errorf("load: state %+v, want %+v", *st, one)
	}
	if iter, ok := c.resumeAt(); iter != 2 || !ok {
		t.Errorf("resumeAt = %d, %v, want 2, true", iter, ok)
	}
	d, err := deepCheckpoints.load(dir2, "fp")
	if err != nil || d == nil {
		t.Fatalf("deep load: %v, %v", d, err)
	}
	if iter, ok := d.resumeAt(); iter != 1 || !ok {
		t.Errorf("deep resumeAt = %d, %v, want 1, true", iter, ok)
	}
}

// TestCheckpointKindLoad checks what load makes of missing, finished,
// foreign and broken files.
func TestCheckpointKindLoad(t *testing.T) {
	if c, err := checkpoints.load(t.TempDir(), "fp"); c != nil || err != nil {
		t.Errorf("no file: %v, %v, want nothing", c, err)
	}
	finished := t.TempDir()
	if err := checkpoints.save(finished, "fp", nil, coordinator.State{Iter: 3, U: []float64{1}, Prev: []float64{1}, Stopped: coordinator.IterLimit}); err != nil {
		t.Fatal(err)
	}
	if c, err := checkpoints.load(finished, "fp"); c != nil || err != nil {
		t.Errorf("finished run: %v, %v, want nothing", c, err)
	}
	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, "checkpoint.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		load    func() error
		contain string
	}{
		{"other configuration", func() error { _, err := checkpoints.load(finished, "other"); return err }, "another configuration"},
		{"deep on 1-layer", func() error { _, err := deepCheckpoints.load(finished, "fp"); return err }, `want "altmin-deep-checkpoint/1" (a checkpoint of another kind of model)`},
		{"broken", func() error { _, err := checkpoints.load(broken, "fp"); return err }, "is not a valid checkpoint"},
	} {
		if err := tc.load(); !errors.Is(err, ErrCheckpoint) || !strings.Contains(err.Error(), tc.contain) {
			t.Errorf("%s: %v, want ErrCheckpoint with %q", tc.name, err, tc.contain)
		}
	}
}

// TestTableCells checks the table cells shared by both kinds of run.
func TestTableCells(t *testing.T) {
	e := 1.25e-3
	if got := relErrCell(&e) + " " + relErrCell(nil) + relErrSuffix(&e) + relErrSuffix(nil); got != "1.250e-03 -, relative error 1.250e-03" {
		t.Errorf("relative error cells: %q", got)
	}
	if p, s := flipsCell(-1); p != nil || s != "-" {
		t.Errorf("flipsCell(-1) = %v, %q", p, s)
	}
	if p, s := flipsCell(0); p == nil || *p != 0 || s != "0" {
		t.Errorf("flipsCell(0) = %v, %q", p, s)
	}
	for _, tc := range []struct {
		solved        bool
		change, ridge float64
		want          string
	}{
		{false, 1, 1, "- -"},
		{true, 0.5, 0, "5.000e-01 0"},
		{true, 0.5, 1e-8, "5.000e-01 1.0e-08"},
	} {
		c, r := solveCells(tc.solved, tc.change, tc.ridge)
		if c+" "+r != tc.want {
			t.Errorf("solveCells(%v, %v, %v) = %q %q, want %q", tc.solved, tc.change, tc.ridge, c, r, tc.want)
		}
	}
}
