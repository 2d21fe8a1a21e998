package main

import (
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"altmin/data"
	"altmin/job"
)

// TestDeepTrainPredictCLI: `coordinator train` on a planted deep teacher
// (--model deep implied by the spec) and `coordinator predict` on its
// model directory, as a user runs them; bad deep flags exit with code 1
// (2 for an unparsable --hidden).
func TestDeepTrainPredictCLI(t *testing.T) {
	const spec = "model=deep,d=6,hidden=4-2,n=1500,seed=3"
	dir := t.TempDir()
	model := filepath.Join(dir, "model")
	err, stdout, stderr := runCLI(t, "train", "--synthetic", spec, "--hidden", "4,2", "--init", "perturb:0.05",
		"--out", model, "--partitions", "3", "--parallel", "2", "--local-shards", "0")
	if err != nil {
		t.Fatalf("train: %v\n%s\n%s", err, stdout, stderr)
	}
	if !strings.Contains(stdout, "model deep  widths [6 4 2]") || !(strings.Contains(stdout, "stopped: fit") || strings.Contains(stdout, "stopped: tolerance")) {
		t.Errorf("train output:\n%s", stdout)
	}
	tch, err := data.ParseDeepTeacher(spec)
	if err != nil {
		t.Fatal(err)
	}
	test := tch.HeldOut(200)
	x, y := make([]float64, 200*6), make([]float64, 200)
	if err := test.Read(0, 200, x, y); err != nil {
		t.Fatal(err)
	}
	xp, out := filepath.Join(dir, "x.npy"), filepath.Join(dir, "yhat.npy")
	if err := data.WriteNPY(xp, x, 200, 6); err != nil {
		t.Fatal(err)
	}
	err, stdout, stderr = runCLI(t, "predict", "--model", model, "--data", xp, "--out", out)
	if err != nil || !strings.Contains(stdout, "wrote 200 predictions") {
		t.Fatalf("predict: %v\n%s\n%s", err, stdout, stderr)
	}
	yhat, _, err := data.ReadNPY(out)
	if err != nil {
		t.Fatal(err)
	}
	var num, den float64
	for i := range y {
		num += (yhat[i] - y[i]) * (yhat[i] - y[i])
		den += y[i] * y[i]
	}
	if e := math.Sqrt(num / den); !(e <= 1e-10) {
		t.Errorf("held-out relative error %.3g", e)
	}

	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"train", "--synthetic", "model=sum,d=4,k=2,n=50", "--hidden", "3,2"}, 1, "--hidden 3,2 is for --model deep"},
		{[]string{"train", "--model", "deep", "--hidden", "3,x", "--synthetic", spec}, 2, `"x" is not an integer width`},
		{[]string{"train", "--model", "deep", "--hidden", "3,2,2,2,2", "--synthetic", spec}, 1, "at most 4"},
	} {
		err, _, _ := runCLI(t, c.args...)
		if err == nil || exitCode(err) != c.code || !strings.Contains(err.Error(), c.msg) || !errors.Is(err, job.ErrOptions) {
			t.Errorf("%q: %v (exit %d), want exit %d and %q", c.args, err, exitCode(err), c.code, c.msg)
		}
	}
}
