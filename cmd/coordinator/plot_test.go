package main

import (
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"altmin/job"
)

// checkPNG requires path to be a PNG of the convergence plot's size:
// 2 x 2 panels of 5 x 3 inches at 96 dpi.
func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != 960 || b.Dy() != 576 {
		t.Errorf("%s is %d x %d pixels, want 960 x 576", path, b.Dx(), b.Dy())
	}
}

func TestPlot(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "model")
	err, stdout, stderr := runCLI(t, "train", "--synthetic", synth(300), "--init", "perturb:0.3", "--local-shards", "0",
		"--partitions", "2", "--iters", "15", "--out", dir)
	if err != nil {
		t.Fatalf("train: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}

	err, stdout, _ = runCLI(t, "plot", "--model", dir)
	if err != nil {
		t.Fatalf("plot: %v", err)
	}
	def := filepath.Join(dir, "convergence.png")
	if !strings.Contains(stdout, def) {
		t.Errorf("plot output %q does not name %s", stdout, def)
	}
	checkPNG(t, def)

	out := filepath.Join(t.TempDir(), "new", "run.png")
	if err, _, _ := runCLI(t, "plot", "--model", dir, "--out", out); err != nil {
		t.Fatalf("plot --out: %v", err)
	}
	checkPNG(t, out)
}

// TestPlotErrors: a missing directory or metrics.jsonl, and a malformed
// line, are errors naming the directory, the file and the line.
func TestPlotErrors(t *testing.T) {
	root := t.TempDir()
	metricsIn := func(name, content string) string {
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "metrics.jsonl"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	good := `{"iter":0,"loss":1,"rel_res":1,"flips":null,"seconds":0.1,"accepted":true,"r2":0}`
	cases := []struct {
		name string
		args []string
		want []string
		is   error
	}{
		{"no --model", []string{"plot"}, []string{"--model DIR is required"}, errUsage},
		{"no directory", []string{"plot", "--model", filepath.Join(root, "absent")}, []string{"--model", "absent", "no such file"}, job.ErrOptions},
		{"no metrics", []string{"plot", "--model", root}, []string{filepath.Join(root, "metrics.jsonl"), "no such file"}, nil},
		{"malformed line", []string{"plot", "--model", metricsIn("bad", good+"\n{\"iter\":1,\"loss\":\"x\"}\n")},
			[]string{filepath.Join(root, "bad", "metrics.jsonl"), "line 2"}, nil},
		{"not JSON", []string{"plot", "--model", metricsIn("text", "\n"+good+"\nloss 1\n")},
			[]string{filepath.Join(root, "text", "metrics.jsonl"), "line 3"}, nil},
		{"no iter", []string{"plot", "--model", metricsIn("noiter", `{"loss":1}`)},
			[]string{filepath.Join(root, "noiter", "metrics.jsonl"), `line 1: no "iter"`}, nil},
		{"empty", []string{"plot", "--model", metricsIn("empty", "\n")},
			[]string{filepath.Join(root, "empty", "metrics.jsonl"), "no iterations"}, nil},
	}
	for _, c := range cases {
		err, _, _ := runCLI(t, c.args...)
		if err == nil {
			t.Errorf("%s: plot succeeded", c.name)
			continue
		}
		if c.is != nil && !errors.Is(err, c.is) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.is)
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not name %q", c.name, err, w)
			}
		}
	}
	// One good line plots.
	if err, _, _ := runCLI(t, "plot", "--model", metricsIn("one", good+"\n")); err != nil {
		t.Errorf("one iteration: %v", err)
	}
	checkPNG(t, filepath.Join(root, "one", "convergence.png"))
}
