package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"altmin/data"
	"altmin/job"
)

// runCLI calls run as main does and returns the error and the output.
func runCLI(t *testing.T, args ...string) (err error, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	err = run(context.Background(), args, &o, &e)
	return err, o.String(), e.String()
}

// The synthetic teacher of the CLI tests; the test set takes rows beyond
// trainN of the same generator (same teacher, unseen rows).
const (
	trainN  = 1000
	testN   = 150
	cliSeed = 7
	cliD    = 6
	cliK    = 2
)

func synth(n int) string {
	return fmt.Sprintf("model=sum,d=%d,k=%d,n=%d,seed=%d,signs=alternate", cliD, cliK, n, cliSeed)
}

// trainSmall trains on the small planted problem and returns the output
// directory.
func trainSmall(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "model")
	err, stdout, stderr := runCLI(t, "train", "--synthetic", synth(trainN), "--init", "perturb:0.3",
		"--out", dir, "--partitions", "3", "--parallel", "2", "--iters", "15")
	if err != nil {
		t.Fatalf("train: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	if !strings.Contains(stdout, "stopped: fixed-point") {
		t.Errorf("train output lacks the stop line:\n%s", stdout)
	}
	return dir
}

func TestTrainWritesOutputs(t *testing.T) {
	dir := trainSmall(t)

	w, shape, err := data.ReadNPY(filepath.Join(dir, "weights.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if len(shape) != 2 || shape[0] != cliK || shape[1] != cliD || len(w) != cliK*cliD {
		t.Fatalf("weights.npy has shape %v, want (%d, %d)", shape, cliK, cliD)
	}

	b, err := os.ReadFile(filepath.Join(dir, "model.json"))
	if err != nil {
		t.Fatal(err)
	}
	var mf map[string]any
	if err := json.Unmarshal(b, &mf); err != nil {
		t.Fatalf("model.json: %v", err)
	}
	for _, key := range []string{"format", "model", "d", "k", "signs", "bias", "iterations", "stop_reason", "final_loss", "final_rel_err", "rows", "partitions", "data", "init", "seed", "version"} {
		if _, ok := mf[key]; !ok {
			t.Errorf("model.json lacks %q: %s", key, b)
		}
	}
	if mf["model"] != "sum" || mf["d"] != float64(cliD) || mf["k"] != float64(cliK) || mf["rows"] != float64(trainN) || mf["partitions"] != float64(3) || mf["stop_reason"] != "fixed-point" {
		t.Errorf("model.json values: %s", b)
	}
	if rel, _ := mf["final_rel_err"].(float64); !(rel <= 1e-10) {
		t.Errorf("final_rel_err %v, want <= 1e-10", mf["final_rel_err"])
	}
	iterations := int(mf["iterations"].(float64))

	f, err := os.Open(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("metrics.jsonl line %d: %v: %s", line+1, err, sc.Bytes())
		}
		for _, key := range []string{"iter", "loss", "rel_err", "flips", "seconds", "ridge"} {
			if _, ok := m[key]; !ok {
				t.Errorf("metrics.jsonl line %d lacks %q: %s", line+1, key, sc.Bytes())
			}
		}
		if m["iter"] != float64(line) {
			t.Errorf("metrics.jsonl line %d has iter %v", line+1, m["iter"])
		}
		if line == 0 && m["flips"] != nil {
			t.Errorf("iteration 0 has flips %v, want null", m["flips"])
		}
		if fl, ok := m["flips"].(float64); line > 0 && (!ok || fl < 0) {
			t.Errorf("iteration %d has flips %v", line, m["flips"])
		}
		if s, ok := m["seconds"].(float64); !ok || s < 0 {
			t.Errorf("iteration %d has seconds %v", line, m["seconds"])
		}
		if r, ok := m["ridge"].(float64); !ok || r != 0 {
			t.Errorf("iteration %d has ridge %v, want 0", line, m["ridge"])
		}
		if l, ok := m["loss"].(float64); !ok || l < 0 {
			t.Errorf("iteration %d has loss %v", line, m["loss"])
		}
		line++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if line != iterations+1 {
		t.Errorf("metrics.jsonl has %d lines for %d iterations, want one per evaluated iteration (%d)", line, iterations, iterations+1)
	}
}

// testSet writes rows trainN..trainN+testN of the planted generator as
// X.npy, as CSV with a label column and as CSV without, and returns the
// paths and the true labels.
func testSet(t *testing.T, dir string, extraColumn bool) (npy, csvLabeled, csvPlain string, y []float64) {
	t.Helper()
	g, err := data.ParseSynthetic(synth(trainN + testN))
	if err != nil {
		t.Fatal(err)
	}
	d := cliD
	x := make([]float64, testN*d)
	y = make([]float64, testN)
	if err := g.Read(trainN, trainN+testN, x, y); err != nil {
		t.Fatal(err)
	}
	if extraColumn {
		wide := make([]float64, testN*(d+1))
		for i := 0; i < testN; i++ {
			copy(wide[i*(d+1):], x[i*d:(i+1)*d])
			wide[i*(d+1)+d] = 1
		}
		x, d = wide, d+1
	}
	npy = filepath.Join(dir, "x.npy")
	if err := data.WriteNPY(npy, x, testN, d); err != nil {
		t.Fatal(err)
	}
	var lab, plain strings.Builder
	for j := 0; j < d; j++ {
		if j > 0 {
			lab.WriteString(",")
			plain.WriteString(",")
		}
		fmt.Fprintf(&lab, "f%d", j)
		fmt.Fprintf(&plain, "f%d", j)
	}
	lab.WriteString(",y\n")
	plain.WriteString("\n")
	for i := 0; i < testN; i++ {
		for j := 0; j < d; j++ {
			if j > 0 {
				lab.WriteString(",")
				plain.WriteString(",")
			}
			s := fmt.Sprint(x[i*d+j]) // shortest round-trip form: exact
			lab.WriteString(s)
			plain.WriteString(s)
		}
		fmt.Fprintf(&lab, ",%v\n", y[i])
		plain.WriteString("\n")
	}
	csvLabeled, csvPlain = filepath.Join(dir, "labeled.csv"), filepath.Join(dir, "plain.csv")
	if err := os.WriteFile(csvLabeled, []byte(lab.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(csvPlain, []byte(plain.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return npy, csvLabeled, csvPlain, y
}

func TestPredictReproducesPlantedLabels(t *testing.T) {
	model := trainSmall(t)
	dir := t.TempDir()
	npy, csvLabeled, csvPlain, y := testSet(t, dir, false)
	for name, args := range map[string][]string{
		"npy":               {"--data", npy},
		"csv, label column": {"--data", csvLabeled, "--label", "y"},
		"csv, features":     {"--data", csvPlain},
	} {
		out := filepath.Join(dir, strings.NewReplacer(",", "", " ", "_").Replace(name)+".npy")
		err, stdout, stderr := runCLI(t, append([]string{"predict", "--model", model, "--out", out}, args...)...)
		if err != nil {
			t.Errorf("%s: %v\n%s", name, err, stderr)
			continue
		}
		if !strings.Contains(stdout, fmt.Sprintf("wrote %d predictions", testN)) {
			t.Errorf("%s: output %q", name, stdout)
		}
		yhat, shape, err := data.ReadNPY(out)
		if err != nil {
			t.Fatal(err)
		}
		if len(shape) != 1 || shape[0] != testN {
			t.Fatalf("%s: predictions have shape %v, want (%d,)", name, shape, testN)
		}
		var worst float64
		for i := range y {
			worst = max(worst, math.Abs(yhat[i]-y[i])/max(1, math.Abs(y[i])))
		}
		if worst > 1e-10 {
			t.Errorf("%s: predictions differ from the planted labels by up to %.3g", name, worst)
		}
	}
}

func TestPredictRefusesOtherFeatureCount(t *testing.T) {
	model := trainSmall(t)
	dir := t.TempDir()
	npy, csvLabeled, _, _ := testSet(t, dir, true)
	for _, args := range [][]string{{"--data", npy}, {"--data", csvLabeled, "--label", "y"}} {
		err, _, _ := runCLI(t, append([]string{"predict", "--model", model, "--out", filepath.Join(dir, "p.npy")}, args...)...)
		if !errors.Is(err, job.ErrOptions) || exitCode(err) != 1 {
			t.Errorf("%v: err = %v, want job.ErrOptions and exit code 1", args, err)
			continue
		}
		for _, s := range []string{args[1], fmt.Sprint(cliD + 1), fmt.Sprint(cliD), model} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not mention %q", err, s)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "p.npy")); err == nil {
		t.Error("predictions were written for mismatched data")
	}
	err, _, _ := runCLI(t, "predict", "--model", filepath.Join(dir, "nothing"), "--data", npy)
	if err == nil || !strings.Contains(err.Error(), "model.json") {
		t.Errorf("missing model: err = %v, want one naming model.json", err)
	}
}

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want error
		code int
	}{
		{[]string{"bogus"}, errUsage, 2},
		{[]string{"train", "--nope"}, errUsage, 2},
		{[]string{"--iters", "many"}, errUsage, 2},
		{[]string{"train", "--synthetic", "model=relu,d=2,n=5", "extra"}, errUsage, 2},
		{[]string{"train", "--log-level", "loud", "--synthetic", "model=relu,d=2,n=5"}, errUsage, 2},
		{[]string{"predict", "--nope"}, errUsage, 2},
		{[]string{"gen", "--out", "x"}, errUsage, 2},
		{[]string{"gen", "--synthetic", "model=sum,d=2,k=1,n=5", "--out", "x", "--dtype", "float32"}, errUsage, 2},
		{[]string{"gen", "--synthetic", "model=deep,d=2,hidden=2-2,n=5", "--out", "x"}, errUsage, 2},
		{[]string{"train", "--synthetic", "model=relu,d=2,n=5", "--resident", "-1"}, job.ErrOptions, 1},
		{[]string{"train", "--synthetic", "model=sum,d=2,k=2,n=20", "--k", "-3"}, errUsage, 2},
		{[]string{"-h"}, flag.ErrHelp, 0},
		{[]string{"train", "-h"}, flag.ErrHelp, 0},
		{[]string{"predict", "-help"}, flag.ErrHelp, 0},
	}
	for _, c := range cases {
		err, _, _ := runCLI(t, c.args...)
		if !errors.Is(err, c.want) {
			t.Errorf("%q: err = %v, want %v", c.args, err, c.want)
		}
		if got := exitCode(err); got != c.code {
			t.Errorf("%q: exit code %d, want %d", c.args, got, c.code)
		}
	}
	err, stdout, _ := runCLI(t, "help")
	if err != nil || !strings.Contains(stdout, "usage: coordinator") {
		t.Errorf("help: err = %v, output %q", err, stdout)
	}
	err, _, stderr := runCLI(t, "bogus")
	if err == nil || !strings.Contains(err.Error(), `"bogus"`) || !strings.Contains(stderr, "usage: coordinator") {
		t.Errorf("unknown command: err = %v, stderr %q", err, stderr)
	}
}

// TestBadInputsThroughCLI: data and option errors reach the user with the
// file and the problem named, and exit code 1.
func TestBadInputsThroughCLI(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.npy")
	y := filepath.Join(dir, "y.npy")
	if err := data.WriteNPY(y, []float64{1, 2, 3}, 3); err != nil {
		t.Fatal(err)
	}
	x := filepath.Join(dir, "x.npy")
	if err := data.WriteNPY(x, []float64{1, 2, 3, 4}, 2, 2); err != nil {
		t.Fatal(err)
	}
	w := filepath.Join(dir, "w.npy")
	if err := data.WriteNPY(w, make([]float64, 6), 2, 3); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("a,b\n1,2\n3,x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	cases := []struct {
		args []string
		msg  []string
	}{
		{[]string{"--data", missing, "--labels", y, "--k", "1"}, []string{missing}},
		{[]string{"--data", x, "--labels", y, "--k", "1"}, []string{y, "3 labels", "2 rows"}},
		{[]string{"--data", bad, "--label", "a", "--k", "1"}, []string{bad, "line 3", `"b"`, `"x"`}},
		{[]string{"--synthetic", "model=sum,d=2,k=2,n=20", "--init", w}, []string{"--init", w, "(2, 2)"}},
		{[]string{"--synthetic", "model=sum,d=2,k=2,n=20", "--init", "identity"}, []string{"identity", "resnet"}},
		{[]string{"--data", x, "--labels", filepath.Join(dir, "y2.npy"), "--k", "1", "--init", "perturb:0.2"}, []string{"y2.npy"}},
	}
	if err := data.WriteNPY(filepath.Join(dir, "y2.npy"), []float64{1, 2}, 2); err != nil {
		t.Fatal(err)
	}
	cases[5].msg = []string{"perturb:0.2", "teacher"}
	for _, c := range cases {
		err, _, _ := runCLI(t, append([]string{"train", "--out", out}, c.args...)...)
		if err == nil {
			t.Errorf("%q: no error", c.args)
			continue
		}
		if exitCode(err) != 1 {
			t.Errorf("%q: exit code %d, want 1", c.args, exitCode(err))
		}
		for _, s := range c.msg {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%q: error %q does not mention %q", c.args, err, s)
			}
		}
	}
}

// TestGenThenTrainStreaming writes planted float32 data with gen and trains
// on the files, the partitions streamed (--resident 1) in process and
// through local shards: the teacher is recovered, with the same weights as
// from the files held in memory.
func TestGenThenTrainStreaming(t *testing.T) {
	dir := t.TempDir()
	err, stdout, _ := runCLI(t, "gen", "--synthetic", "model=sum,d=6,k=3,n=3000,seed=4,signs=alternate,dtype=float32", "--out", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "float32") || !strings.Contains(stdout, "--signs") {
		t.Errorf("gen output: %q", stdout)
	}
	var ref []float64
	for _, extra := range [][]string{{"--local-shards", "0"}, {"--local-shards", "0", "--resident", "1"}, {"--local-shards", "2", "--resident", "1"}} {
		out := filepath.Join(t.TempDir(), "out")
		args := append([]string{"train", "--model", "sum", "--k", "3", "--signs", filepath.Join(dir, "signs.npy"),
			"--data", filepath.Join(dir, "X.npy"), "--labels", filepath.Join(dir, "y.npy"), "--truth", filepath.Join(dir, "truth.npy"),
			"--storage", "float32", "--partitions", "4", "--init", "random", "--out", out}, extra...)
		err, stdout, _ := runCLI(t, args...)
		if err != nil {
			t.Fatalf("%v: %v", extra, err)
		}
		if !strings.Contains(stdout, "relative error") {
			t.Fatalf("%v: no relative error reported:\n%s", extra, stdout)
		}
		w, _, err := data.ReadNPY(filepath.Join(out, "weights.npy"))
		if err != nil {
			t.Fatal(err)
		}
		if ref == nil {
			ref = w
		} else if !slices.Equal(w, ref) {
			t.Fatalf("%v: weights differ from the run holding the data", extra)
		}
	}
}

// TestRealDataCLI: the default run on a CSV, then `eval` as a table and as
// JSON, and the flags of real data as the command line takes them.
func TestRealDataCLI(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("a,b,price\n")
	for i := 0; i < 600; i++ {
		x1, x2 := float64(i%37)*10, float64(i%11)/100
		fmt.Fprintf(&b, "%v,%v,%v\n", x1, x2, 1000+2*x1+5000*x2*x2+float64(i%7))
	}
	csv := filepath.Join(dir, "t.csv")
	if err := os.WriteFile(csv, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "model")
	err, stdout, _ := runCLI(t, "train", "--data", csv, "--label", "price", "--k", "4", "--out", model, "--local-shards", "0")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"features and label standardized", "10% of the rows held out", "the best by validation loss"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("train output lacks %q:\n%s", s, stdout)
		}
	}
	err, stdout, _ = runCLI(t, "eval", "--model", model, "--data", csv, "--label", "price")
	if err != nil || !strings.Contains(stdout, "rmse") || !strings.Contains(stdout, "n        600") {
		t.Errorf("eval: %v\n%s", err, stdout)
	}
	err, stdout, _ = runCLI(t, "eval", "--model", model, "--data", csv, "--label", "price", "--json")
	var e job.Evaluation
	if err != nil || json.Unmarshal([]byte(stdout), &e) != nil || e.N != 600 || !(e.R2 > 0.9) {
		t.Errorf("eval --json: %v %q -> %+v", err, stdout, e)
	}
	// The papers' method takes the default --alpha (auto) but refuses one
	// given; --paper leaves the papers' model on the same file.
	err, stdout, _ = runCLI(t, "train", "--paper", "--bias", "--data", csv, "--label", "price", "--k", "2", "--iters", "3", "--out", filepath.Join(dir, "paper"), "--local-shards", "0")
	if err != nil || strings.Contains(stdout, "standardized") {
		t.Errorf("--paper: %v\n%s", err, stdout)
	}
	err, _, _ = runCLI(t, "train", "--paper", "--alpha", "0.1", "--data", csv, "--label", "price", "--k", "2", "--out", filepath.Join(dir, "p2"))
	if !errors.Is(err, job.ErrOptions) || !strings.Contains(err.Error(), "--alpha") {
		t.Errorf("--paper --alpha 0.1: %v", err)
	}
	err, _, _ = runCLI(t, "eval", "--model", model, "--data", csv)
	if !errors.Is(err, job.ErrOptions) || !strings.Contains(err.Error(), "--label") {
		t.Errorf("eval without --label: %v", err)
	}
}
