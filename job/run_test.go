package job

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"altmin/coordinator"
	"altmin/internal/arith"
	"altmin/model"
)

// TestCheckpointBytes checks that the checkpoint of either model family is
// written in the layout of its documented format, field for field, the
// checksum last: the SHA-256 of the bytes before it; and read back as
// written.
func TestCheckpointBytes(t *testing.T) {
	cfg := json.RawMessage(`{"seed":1}`)
	lim := checkpointLimits{iters: 10, rows: 100}
	one := coordinator.State{Iter: 2, Step: 2, Net: &model.Net{Dims: []int{2, 1}, W: [][]float64{{0.1, -2}}, V: []float64{1}},
		Prev: &model.Net{Dims: []int{2, 1}, W: [][]float64{{1, 3e-300}}, V: []float64{1}}}
	net := model.NewNet(2, 2, 1)
	net.V = []float64{1}
	two := coordinator.State{Iter: 1, Step: 1, Layer: 1, Net: net, Prev: net, Start: net}
	for _, st := range []coordinator.State{one, two} {
		// The layout, spelled out independently of the types.
		b, _ := json.Marshal(st)
		body := `{"format":"` + CheckpointFormat + `","fingerprint":"fp","config":{"seed":1},"arith":"` + arith.Build() + `","state":` + string(b)
		sum := sha256.Sum256([]byte(body + `}`))
		want := []byte(body + `,"checksum":"` + hex.EncodeToString(sum[:]) + `"}`)
		dir := t.TempDir()
		if err := saveCheckpoint(dir, "fp", cfg, st); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, "checkpoint.json"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("checkpoint.json:\n got %s\nwant %s", got, want)
		}
		c, err := loadCheckpoint(dir, "fp", lim)
		if err != nil || c == nil {
			t.Fatalf("load: %v, %v", c, err)
		}
		rb, _ := json.Marshal(c.State)
		if !bytes.Equal(rb, b) {
			t.Errorf("load: state %s, want %s", rb, b)
		}
	}
	// The floats read back are the same bits.
	c, _ := func() (*Checkpoint, error) {
		dir := t.TempDir()
		saveCheckpoint(dir, "fp", cfg, one)
		return loadCheckpoint(dir, "fp", lim)
	}()
	if got := c.State.Prev.W[0][1]; got != 3e-300 {
		t.Errorf("3e-300 read back as %v", got)
	}
}

// TestCheckpointLoad checks what loadCheckpoint makes of missing,
// finished, foreign and broken files.
func TestCheckpointLoad(t *testing.T) {
	lim := checkpointLimits{iters: 10, rows: 100}
	if c, err := loadCheckpoint(t.TempDir(), "fp", lim); c != nil || err != nil {
		t.Errorf("no file: %v, %v, want nothing", c, err)
	}
	finished := t.TempDir()
	if err := saveCheckpoint(finished, "fp", nil, coordinator.State{Iter: 3, Step: 3, Net: model.NewNet(1, 1), Stopped: coordinator.IterLimit}); err != nil {
		t.Fatal(err)
	}
	if c, err := loadCheckpoint(finished, "fp", lim); c == nil || err != nil || c.State.Stopped != coordinator.IterLimit {
		t.Errorf("finished run: %v, %v, want it read", c, err)
	}
	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, "checkpoint.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	older := t.TempDir()
	if err := os.WriteFile(filepath.Join(older, "checkpoint.json"), []byte(`{"format":"altmin-deep-checkpoint/1"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		dir, fp string
		contain string
	}{
		{"other configuration", finished, "other", "another configuration"},
		{"older format", older, "fp", `has format "altmin-deep-checkpoint/1", want "altmin-checkpoint/3"`},
		{"broken", broken, "fp", "is not a valid checkpoint"},
	} {
		if _, err := loadCheckpoint(tc.dir, tc.fp, lim); !errors.Is(err, ErrCheckpoint) || !strings.Contains(err.Error(), tc.contain) {
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
		solved bool
		v      float64
		want   string
	}{
		{false, 1, "-"},
		{true, 0, "0"},
		{true, 3e-4, "3e-04"},
	} {
		if got := lambdaCell(tc.solved, tc.v); got != tc.want {
			t.Errorf("lambdaCell(%v, %v) = %q, want %q", tc.solved, tc.v, got, tc.want)
		}
	}
	if rejected(true) != "" || rejected(false) != "  rejected" {
		t.Errorf("rejected marker: %q %q", rejected(true), rejected(false))
	}
}
