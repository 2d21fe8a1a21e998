package main

import (
	"altmin/job"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExplicitKZeroRefused: --k 0 given on the command line (or by
// ALTMIN_K) is a usage error naming the flag, not taken for "not given";
// without --k the teacher's k is still the default.
func TestExplicitKZeroRefused(t *testing.T) {
	for _, k := range []string{"0", "-2"} {
		out := filepath.Join(t.TempDir(), "m")
		err, _, _ := runCLI(t, "train", "--synthetic", synth(200), "--k", k, "--out", out, "--iters", "1")
		if !errors.Is(err, errUsage) || exitCode(err) != 2 || !strings.Contains(err.Error(), "-k") {
			t.Errorf("--k %s: %v (exit %d), want a usage error naming --k", k, err, exitCode(err))
		}
	}
	err, stdout, _ := runCLI(t, "train", "--synthetic", synth(200), "--out", filepath.Join(t.TempDir(), "m"), "--iters", "1", "--quiet")
	if err != nil || !strings.Contains(stdout, "model written") {
		t.Errorf("without --k: %v\n%s", err, stdout)
	}
}

// TestOutputsNeverClobber: train, predict, gen and export refuse to
// replace an existing output unless --overwrite is given (export also
// takes --force, its former name), leaving it as it was, and never write
// over one of their inputs, even with --overwrite; inputs are recognized
// as files, whatever the path that names them. Refusals exit with 1.
func TestOutputsNeverClobber(t *testing.T) {
	model := trainSmall(t)
	modelJSON, err := os.ReadFile(filepath.Join(model, "model.json"))
	if err != nil {
		t.Fatal(err)
	}
	refused := func(name string, err error, subs ...string) {
		t.Helper()
		if !errors.Is(err, job.ErrOutput) || exitCode(err) != 1 {
			t.Errorf("%s: %v (exit %d), want an output refused", name, err, exitCode(err))
			return
		}
		for _, s := range subs {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: error %q does not contain %q", name, err, s)
			}
		}
	}
	same := func(name, path string, want []byte) {
		t.Helper()
		if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, want) {
			t.Errorf("%s: %s changed (%v)", name, path, err)
		}
	}

	// train: a finished run of another configuration in --out (one of the
	// same configuration and data is trained again, to the same bits).
	args := []string{"train", "--synthetic", synth(trainN), "--init", "perturb:0.3", "--out", model, "--partitions", "3", "--iters", "15", "--quiet", "--seed", "77"}
	err, _, _ = runCLI(t, args...)
	if !errors.Is(err, job.ErrCheckpoint) || exitCode(err) != 1 || !strings.Contains(err.Error(), "another configuration") || !strings.Contains(err.Error(), "--overwrite") {
		t.Errorf("train over a finished run of another configuration: %v (exit %d), want it refused", err, exitCode(err))
	}
	same("train over a finished run", filepath.Join(model, "model.json"), modelJSON)
	// train: the files of a run without a checkpoint.
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "model.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	err, _, _ = runCLI(t, "train", "--synthetic", synth(200), "--out", other, "--iters", "1")
	refused("train over a model.json", err, other, "model.json", "--overwrite")
	// train: files of other programs are not in the way.
	unrelated := t.TempDir()
	if err := os.WriteFile(filepath.Join(unrelated, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err, _, _ := runCLI(t, "train", "--synthetic", synth(200), "--out", unrelated, "--iters", "1", "--quiet"); err != nil {
		t.Errorf("train into a directory of other files: %v", err)
	}
	same("train into a directory of other files", filepath.Join(unrelated, "notes.txt"), []byte("mine"))
	// train: the start read from the directory written.
	initW := filepath.Join(unrelated, "weights.npy")
	initB, _ := os.ReadFile(initW)
	err, _, _ = runCLI(t, "train", "--synthetic", synth(200), "--init", initW, "--out", unrelated, "--iters", "1", "--overwrite")
	refused("train --init DIR/weights.npy --out DIR --overwrite", err, "--init", initW)
	same("train --init DIR/weights.npy --out DIR --overwrite", initW, initB)

	// predict.
	dir := t.TempDir()
	npy, _, _, _ := testSet(t, dir, false)
	npyB, _ := os.ReadFile(npy)
	out := filepath.Join(dir, "yhat.npy")
	if err := os.WriteFile(out, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	err, _, _ = runCLI(t, "predict", "--model", model, "--data", npy, "--out", out)
	refused("predict over a file", err, out, "--overwrite")
	same("predict over a file", out, []byte("keep"))
	if err, _, _ := runCLI(t, "predict", "--model", model, "--data", npy, "--out", out, "--overwrite"); err != nil {
		t.Errorf("predict --overwrite: %v", err)
	}
	sneaky := filepath.Join(dir, ".", "x.npy") // --data by another path
	err, _, _ = runCLI(t, "predict", "--model", model, "--data", npy, "--out", sneaky, "--overwrite")
	refused("predict --out --data --overwrite", err, "--data", npy)
	same("predict --out --data --overwrite", npy, npyB)
	weights := filepath.Join(model, "weights.npy")
	weightsB, _ := os.ReadFile(weights)
	err, _, _ = runCLI(t, "predict", "--model", model, "--data", npy, "--out", weights, "--overwrite")
	refused("predict --out MODEL/weights.npy --overwrite", err, "--model", weights)
	same("predict --out MODEL/weights.npy --overwrite", weights, weightsB)

	// gen.
	gen := t.TempDir()
	genArgs := []string{"gen", "--synthetic", "model=sum,d=2,k=1,n=20,seed=1", "--out", gen}
	if err, _, _ := runCLI(t, genArgs...); err != nil {
		t.Fatal(err)
	}
	x, _ := os.ReadFile(filepath.Join(gen, "X.npy"))
	err, _, _ = runCLI(t, append(genArgs[:1:1], "--synthetic", "model=sum,d=2,k=1,n=30,seed=2", "--out", gen)...)
	refused("gen over its files", err, filepath.Join(gen, "X.npy"), "--overwrite")
	same("gen over its files", filepath.Join(gen, "X.npy"), x)
	if err, _, _ := runCLI(t, append(genArgs, "--overwrite")...); err != nil {
		t.Errorf("gen --overwrite: %v", err)
	}

	// export: --overwrite, and --force as its alias; never the model.
	onnx := filepath.Join(t.TempDir(), "m.onnx")
	if err := os.WriteFile(onnx, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	err, _, _ = runCLI(t, "export", "--model", model, "--out", onnx)
	refused("export over a file", err, onnx, "--overwrite")
	same("export over a file", onnx, []byte("keep"))
	for _, flag := range []string{"--overwrite", "--force"} {
		if err, _, _ := runCLI(t, "export", "--model", model, "--out", onnx, flag); err != nil {
			t.Errorf("export %s: %v", flag, err)
		}
	}
	err, _, _ = runCLI(t, "export", "--model", model, "--out", filepath.Join(model, "model.json"), "--overwrite")
	refused("export --out MODEL/model.json --overwrite", err, "--model")
	same("export --out MODEL/model.json --overwrite", filepath.Join(model, "model.json"), modelJSON)
}

// TestTamperedCheckpointExitsOne: a checkpoint edited by hand (a finished
// run turned into an unfinished one) is refused with an error naming it
// and exit status 1, and the model already written stays as it was.
func TestTamperedCheckpointExitsOne(t *testing.T) {
	model := trainSmall(t)
	modelJSON, err := os.ReadFile(filepath.Join(model, "model.json"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(model, "checkpoint.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(b), `"stopped":"fixed-point"`, `"stopped":""`, 1)
	if edited == string(b) {
		t.Fatalf("checkpoint without the stop reason of the run: %.300s", b)
	}
	if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	err, _, _ = runCLI(t, "train", "--synthetic", synth(trainN), "--init", "perturb:0.3", "--out", model, "--partitions", "3", "--iters", "15")
	if !errors.Is(err, job.ErrCheckpoint) || exitCode(err) != 1 || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("tampered checkpoint: %v (exit %d), want a refused checkpoint naming %s", err, exitCode(err), path)
	}
	if b, _ := os.ReadFile(filepath.Join(model, "model.json")); !bytes.Equal(b, modelJSON) {
		t.Error("model.json changed")
	}
}

// TestCommandsStopOnCancelledContext: train, predict, eval and gen stop
// with context.Canceled when their context is cancelled (as SIGINT and
// SIGTERM do): while the data are loaded and parsed, and before anything
// is written.
func TestCommandsStopOnCancelledContext(t *testing.T) {
	model := trainSmall(t)
	dir := t.TempDir()
	npy, csvLabeled, _, _ := testSet(t, dir, false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name    string
		args    []string
		written string // a file that must not be written
		names   string // the data file the error names: stopped while reading it
	}{
		{"train", []string{"train", "--data", csvLabeled, "--label", "y", "--k", "2", "--out", filepath.Join(dir, "m")}, filepath.Join(dir, "m", "model.json"), csvLabeled},
		{"predict", []string{"predict", "--model", model, "--data", npy, "--out", filepath.Join(dir, "p.npy")}, filepath.Join(dir, "p.npy"), npy},
		{"eval", []string{"eval", "--model", model, "--data", csvLabeled, "--label", "y"}, "", csvLabeled},
		{"gen", []string{"gen", "--synthetic", "model=sum,d=2,k=1,n=100000,seed=1", "--out", filepath.Join(dir, "g")}, filepath.Join(dir, "g", "X.npy"), ""},
	} {
		var o, e bytes.Buffer
		err := run(ctx, tc.args, &o, &e)
		if !errors.Is(err, context.Canceled) || exitCode(err) != 1 {
			t.Errorf("%s: %v (exit %d), want context.Canceled", tc.name, err, exitCode(err))
			continue
		}
		if tc.names != "" && !strings.Contains(err.Error(), tc.names) {
			t.Errorf("%s: error %q does not name %s", tc.name, err, tc.names)
		}
		if tc.written != "" {
			if _, err := os.Stat(tc.written); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s: %s was written (%v)", tc.name, tc.written, err)
			}
		}
	}
}

// TestPredictIntoTheModelDirectory: predictions written into the model
// directory are an output like any other: replaced with --overwrite,
// while the model's own files stay inputs.
func TestPredictIntoTheModelDirectory(t *testing.T) {
	model := trainSmall(t)
	npy, _, _, _ := testSet(t, t.TempDir(), false)
	out := filepath.Join(model, "yhat.npy")
	if err, _, _ := runCLI(t, "predict", "--model", model, "--data", npy, "--out", out); err != nil {
		t.Fatal(err)
	}
	if err, _, _ := runCLI(t, "predict", "--model", model, "--data", npy, "--out", out, "--overwrite"); err != nil {
		t.Errorf("predict --overwrite into the model directory: %v", err)
	}
}
