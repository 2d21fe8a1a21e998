package job_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"altmin/job"
)

// editJSON decodes the JSON file at path (numbers kept as written),
// applies edit and writes it back.
func editJSON(t *testing.T, path string, edit func(m map[string]any)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	nb, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nb, 0o644); err != nil {
		t.Fatal(err)
	}
}

// field returns the JSON object at the path of keys in m.
func field(t *testing.T, m map[string]any, keys ...string) map[string]any {
	t.Helper()
	for _, k := range keys {
		next, ok := m[k].(map[string]any)
		if !ok {
			t.Fatalf("checkpoint has no object %q in %v", k, keys)
		}
		m = next
	}
	return m
}

// TestTamperedCheckpointRefused: a checkpoint edited by hand or damaged
// is refused with an error naming the file and the problem, before any
// training: one weight changed (the checksum no longer matches), and,
// with the checksum recomputed, every value outside its domain (an
// iteration beyond --iters or negative, unknown stop reasons, a negative
// damping or penalty, a best iterate after the current one, weights of
// the wrong shape); so is a checkpoint of the previous format or without
// a checksum. The untouched checkpoint resumes.
func TestTamperedCheckpointRefused(t *testing.T) {
	ctx := context.Background()
	o := interrupted(t)
	path := filepath.Join(o.Out, "checkpoint.json")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		edit   func(m map[string]any)
		reseal bool
		want   []string
	}{
		{"one weight edited", func(m map[string]any) {
			w := field(t, m, "state", "net")["W"].([]any)[0].([]any)
			w[3] = json.Number("0.5")
		}, false, []string{"checksum"}},
		{"iteration beyond --iters", func(m map[string]any) { field(t, m, "state")["iter"] = json.Number("999999999999") }, true,
			[]string{"iteration 999999999999", "--iters 50"}},
		{"negative iteration", func(m map[string]any) { field(t, m, "state")["iter"] = json.Number("-1") }, true, []string{"iteration -1"}},
		{"unknown pending reason", func(m map[string]any) { field(t, m, "state")["pending"] = "bogus" }, true, []string{`pending stop reason "bogus"`}},
		{"unknown stop reason", func(m map[string]any) { field(t, m, "state")["stopped"] = "done" }, true, []string{`stop reason "done"`}},
		{"negative lambda", func(m map[string]any) { field(t, m, "state", "descent")["lambda"] = json.Number("-1") }, true, []string{"lambda -1"}},
		{"negative alpha", func(m map[string]any) { field(t, m, "state", "descent")["alpha"] = json.Number("-0.5") }, true, []string{"alpha -0.5"}},
		{"best iterate after the current one", func(m map[string]any) { field(t, m, "state", "best")["iter"] = json.Number("7") }, true,
			[]string{"best iterate", "iteration 7"}},
		{"best rows beyond the data", func(m map[string]any) { field(t, m, "state", "best", "train")["Rows"] = json.Number("4000") }, true,
			[]string{"best iterate", "4000 training"}},
		{"weights of the wrong shape", func(m map[string]any) {
			net := field(t, m, "state", "net")
			net["W"] = []any{net["W"].([]any)[0].([]any)[1:]}
		}, true, []string{"weights"}},
		{"previous format", func(m map[string]any) {
			m["format"] = "altmin-checkpoint/2"
			delete(m, "checksum")
		}, false, []string{`"altmin-checkpoint/2"`, "earlier version", "--overwrite"}},
		{"no checksum", func(m map[string]any) { delete(m, "checksum") }, false, []string{"no checksum"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(path, orig, 0o644); err != nil {
				t.Fatal(err)
			}
			editJSON(t, path, tc.edit)
			if tc.reseal {
				if err := job.ResealCheckpoint(o.Out); err != nil {
					t.Fatal(err)
				}
			}
			_, err := job.Train(ctx, o, io.Discard, zaptest.NewLogger(t))
			if !errors.Is(err, job.ErrCheckpoint) {
				t.Fatalf("err = %v, want ErrCheckpoint", err)
			}
			for _, s := range append(tc.want, path) {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if _, err := os.Stat(filepath.Join(o.Out, "model.json")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a model was written from the refused checkpoint: %v", err)
			}
		})
	}
	// The checkpoint as written resumes, so the refusals above are due to
	// the edits alone.
	if err := os.WriteFile(path, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := job.Train(ctx, o, &out, zaptest.NewLogger(t)); err != nil || !strings.Contains(out.String(), "resuming from the checkpoint") {
		t.Errorf("untouched checkpoint: %v\n%s", err, out.String())
	}
}

// TestTamperedModelRefused: a model directory whose weights file or
// model.json changed after training is refused by every reader
// (LoadModel: predict, eval, export, a deep --init or --truth) with an
// error naming the file; a model.json of the format before checksums
// (altmin-model/1) is read without verification.
func TestTamperedModelRefused(t *testing.T) {
	o := resumeOptions(filepath.Join(t.TempDir(), "m"))
	o.Iters = 3
	if _, err := job.Train(context.Background(), o, io.Discard, zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	weights, mj := filepath.Join(o.Out, "weights.npy"), filepath.Join(o.Out, "model.json")
	origW, err := os.ReadFile(weights)
	if err != nil {
		t.Fatal(err)
	}
	origM, err := os.ReadFile(mj)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := job.LoadModel(o.Out); err != nil {
		t.Fatalf("the model as written: %v", err)
	}
	restore := func() {
		t.Helper()
		if err := os.WriteFile(weights, origW, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(mj, origM, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		edit func()
		want []string
	}{
		{"one weight edited", func() {
			b := bytes.Clone(origW)
			b[len(b)-1] ^= 0x01 // the last bit of the last weight's exponent byte
			if err := os.WriteFile(weights, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{weights, "SHA-256"}},
		{"signs edited", func() {
			editJSON(t, mj, func(m map[string]any) { m["signs"] = []any{-1, 1, 1} })
		}, []string{mj, "checksum"}},
		{"weights checksum removed", func() {
			editJSON(t, mj, func(m map[string]any) { delete(m, "sha256") })
		}, []string{mj, "checksum"}},
		{"no checksum", func() {
			editJSON(t, mj, func(m map[string]any) { delete(m, "checksum") })
		}, []string{mj, "no checksum"}},
	} {
		restore()
		tc.edit()
		_, _, err := job.LoadModel(o.Out)
		if err == nil {
			t.Errorf("%s: the model was read", tc.name)
			continue
		}
		for _, s := range tc.want {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q does not contain %q", tc.name, err, s)
			}
		}
		_, err = job.Predict(job.PredictOptions{Model: o.Out, Data: filepath.Join(t.TempDir(), "x.npy"), Out: filepath.Join(t.TempDir(), "y.npy")})
		if err == nil || !strings.Contains(err.Error(), o.Out) {
			t.Errorf("%s: predict: %v, want the model refused", tc.name, err)
		}
	}
	// A model directory of the format before checksums.
	restore()
	editJSON(t, mj, func(m map[string]any) {
		m["format"] = "altmin-model/1"
		delete(m, "checksum")
		delete(m, "sha256")
	})
	if _, _, err := job.LoadModel(o.Out); err != nil {
		t.Errorf("altmin-model/1: %v, want it read without verification", err)
	}
}

// TestRunStoppedBeforeItsOutputsRunsAgain: a directory that a run left
// before its outputs were complete is trained into again without
// --overwrite, to the same weights: a finished checkpoint without
// model.json (stopped while writing the model), and a metrics.jsonl
// without a checkpoint (stopped before the first one). A complete run of
// the same configuration and data trains again to the same bits (the
// demo can be run twice); one of another configuration is refused.
func TestRunStoppedBeforeItsOutputsRunsAgain(t *testing.T) {
	ctx := context.Background()
	o := resumeOptions(filepath.Join(t.TempDir(), "m"))
	o.Iters = 3
	if _, err := job.Train(ctx, o, io.Discard, zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(o.Out, "weights.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := job.Train(ctx, o, io.Discard, zaptest.NewLogger(t)); err != nil {
		t.Errorf("a complete run of the same configuration: %v, want it trained again", err)
	} else if got, _ := os.ReadFile(filepath.Join(o.Out, "weights.npy")); !bytes.Equal(got, want) {
		t.Error("a complete run trained again: other weights")
	}
	other := o
	other.Seed++
	if _, err := job.Train(ctx, other, io.Discard, zaptest.NewLogger(t)); err == nil {
		t.Error("a complete run of another configuration: replaced without --overwrite")
	}
	if got, _ := os.ReadFile(filepath.Join(o.Out, "weights.npy")); !bytes.Equal(got, want) {
		t.Error("a refused run changed the weights")
	}
	for _, tc := range []struct {
		name   string
		remove []string
	}{
		{"finished checkpoint, no model.json", []string{"model.json"}},
		{"metrics.jsonl only", []string{"model.json", "checkpoint.json", "weights.npy"}},
	} {
		for _, f := range tc.remove {
			if err := os.Remove(filepath.Join(o.Out, f)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := job.Train(ctx, o, io.Discard, zaptest.NewLogger(t)); err != nil {
			t.Errorf("%s: %v, want the run trained again", tc.name, err)
			continue
		}
		if got, _ := os.ReadFile(filepath.Join(o.Out, "weights.npy")); !bytes.Equal(got, want) {
			t.Errorf("%s: other weights than the first run's", tc.name)
		}
	}
	o.Overwrite = true
	if _, err := job.Train(ctx, o, io.Discard, zaptest.NewLogger(t)); err != nil {
		t.Errorf("--overwrite over a complete run: %v", err)
	}
}
