package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"altmin/coordinator"
	"altmin/experiment"
)

// readCSV reads dir/name and checks its header.
func readCSV(t *testing.T, dir, name string, header ...string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(recs) < 2 || !slices.Equal(recs[0], header) {
		t.Fatalf("%s: header %v (%d records), want %v", name, recs[0], len(recs), header)
	}
	return recs[1:]
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	v, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%q is not an integer", s)
	}
	return v
}

func atof(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return v
}

// checkOutputs checks that the Markdown and PNG outputs exist.
func checkOutputs(t *testing.T, dir, name string) {
	t.Helper()
	md, err := os.ReadFile(filepath.Join(dir, name+".md"))
	if err != nil || !bytes.HasPrefix(md, []byte("# ")) || !bytes.Contains(md, []byte("|---|")) {
		t.Errorf("%s.md: %v\n%s", name, err, md)
	}
	png, err := os.ReadFile(filepath.Join(dir, name+".png"))
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("%s.png is not a PNG: %v", name, err)
	}
}

func TestExperimentPhaseQuick(t *testing.T) {
	dir := t.TempDir()
	err, stdout, stderr := runCLI(t, "experiment", "phase", "--quick", "--out", dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	rows := readCSV(t, dir, "phase.csv", "method", "init", "n", "trials", "successes")
	if len(rows) != 8 {
		t.Fatalf("phase.csv has %d rows, want 2 methods x 2 starts x 2 n = 8", len(rows))
	}
	for _, r := range rows {
		n, trials, succ := atoi(t, r[2]), atoi(t, r[3]), atoi(t, r[4])
		switch {
		case trials != 3 || succ < 0 || succ > trials:
			t.Errorf("row %v: %d of %d trials", r, succ, trials)
		case n == 50 && succ != 0:
			t.Errorf("row %v: recovery from fewer samples than unknowns", r)
		case n == 425 && succ != trials:
			// The paper: all four succeed at 4.25 samples per unknown
			// (n = 1700, d = 20); GD needs 273 to 330 of its 400
			// iterations here.
			t.Errorf("row %v: failed with 4.25 samples per unknown", r)
		}
	}
	trials := readCSV(t, dir, "phase_trials.csv", "method", "init", "n", "trial", "data_seed", "init_seed",
		"iters", "stop", "rel_err", "train_loss", "success")
	if len(trials) != 24 {
		t.Errorf("phase_trials.csv has %d rows, want 24", len(trials))
	}
	checkOutputs(t, dir, "phase")
	if !strings.Contains(stdout, "## Success rate") || !strings.Contains(stderr, "phase [24/24]") {
		t.Errorf("output lacks the summary or the progress:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
}

// Flags after --quick override the quick preset.
func TestExperimentQuickOverride(t *testing.T) {
	dir := t.TempDir()
	err, _, stderr := runCLI(t, "experiment", "phase", "--quick", "--methods", "am", "--inits", "identity",
		"--trials", "2", "--n", "425", "--out", dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	rows := readCSV(t, dir, "phase.csv", "method", "init", "n", "trials", "successes")
	if len(rows) != 1 || !slices.Equal(rows[0], []string{"am", "identity", "425", "2", "2"}) {
		t.Fatalf("phase.csv rows %v, want [am identity 425 2 2]", rows)
	}
	// --merge rebuilds the same files from the run's trials.
	merged := t.TempDir()
	err, _, stderr = runCLI(t, "experiment", "phase", "--quick", "--methods", "am", "--inits", "identity",
		"--trials", "2", "--n", "425", "--merge", dir, "--out", merged)
	if err != nil {
		t.Fatalf("--merge: %v\n%s", err, stderr)
	}
	for _, name := range []string{"phase.csv", "phase_trials.csv", "phase.md"} {
		a, _ := os.ReadFile(filepath.Join(dir, name))
		b, err := os.ReadFile(filepath.Join(merged, name))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("--merge: %s differs (%v)", name, err)
		}
	}
	if strings.Contains(stderr, "phase [") {
		t.Errorf("--merge ran trials:\n%s", stderr)
	}
	// With another threshold the trials do not belong to the run.
	if err, _, _ := runCLI(t, "experiment", "phase", "--quick", "--methods", "am", "--inits", "identity",
		"--trials", "2", "--n", "425", "--threshold", "0.02", "--merge", dir, "--out", t.TempDir()); err == nil {
		t.Error("--merge accepted a run with another threshold")
	}
}

func TestExperimentCurveQuick(t *testing.T) {
	dir := t.TempDir()
	err, _, stderr := runCLI(t, "experiment", "curve", "--quick", "--out", dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	rows := readCSV(t, dir, "curve.csv", "method", "iter", "train_loss", "test_loss", "rel_err")
	last := map[string][]float64{}
	count := map[string]int{}
	for _, r := range rows {
		it, train, test, rel := atoi(t, r[1]), atof(t, r[2]), atof(t, r[3]), atof(t, r[4])
		if it != count[r[0]] || !(train >= 0) || !(test >= 0) || !(rel >= 0) || math.IsInf(train+test+rel, 0) {
			t.Fatalf("bad row %v (iterate %d of %s expected)", r, count[r[0]], r[0])
		}
		if it == 0 {
			last[r[0]+"0"] = []float64{train, test, rel}
		}
		last[r[0]] = []float64{train, test, rel}
		count[r[0]]++
	}
	if count["gd"] != 301 {
		t.Errorf("GD has %d iterates, want 301 (0..300)", count["gd"])
	}
	if am := last["am"]; count["am"] > 21 || am[0] > 1e-20 || am[1] > 1e-20 || am[2] > 1e-10 {
		t.Errorf("AM did not recover exactly within 20 iterations: %d iterates, last %v", count["am"], am)
	}
	if gd, gd0 := last["gd"], last["gd0"]; !(gd[0] < gd0[0]*1e-3) || !(gd[2] < gd0[2]) {
		t.Errorf("GD did not make progress: %v at the start, %v at the end", gd0, gd)
	}
	if last["am0"][0] != last["gd0"][0] {
		t.Errorf("AM and GD start from different losses: %v, %v", last["am0"], last["gd0"])
	}
	checkOutputs(t, dir, "curve")
}

func TestExperimentSamplesQuick(t *testing.T) {
	dir := t.TempDir()
	err, _, stderr := runCLI(t, "experiment", "samples", "--quick", "--out", dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	rows := readCSV(t, dir, "samples.csv", "d", "k", "n_min", "trials")
	if len(rows) != 6 {
		t.Fatalf("samples.csv has %d rows, want 2 d x 3 k = 6", len(rows))
	}
	for _, r := range rows {
		d, k, trials := atoi(t, r[0]), atoi(t, r[1]), atoi(t, r[3])
		if r[2] == "NA" {
			t.Errorf("d=%d k=%d: no n_min on the grid", d, k)
			continue
		}
		// At least as many samples as unknowns, at most the grid's end.
		if n := atoi(t, r[2]); n < d*k || n > 16*d*k || trials != 5 {
			t.Errorf("row %v: n_min outside [d k, 16 d k] or wrong trials", r)
		}
	}
	readCSV(t, dir, "samples_points.csv", "d", "k", "n", "trials", "successes")
	checkOutputs(t, dir, "samples")
}

func TestExperimentDeepQuick(t *testing.T) {
	dir := t.TempDir()
	err, stdout, stderr := runCLI(t, "experiment", "deep", "--quick", "--out", dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	rows := readCSV(t, dir, "deep_summary.csv", "dims", "n", "schedule", "init", "trials", "successes",
		"weights_ok", "median_iters", "median_passes")
	want := [][2]string{{"joint", "0.05"}, {"joint", "random"}, {"sequential", "0.05"}, {"sequential", "random"}}
	if len(rows) != len(want) {
		t.Fatalf("deep_summary.csv has %d rows, want 1 case x 2 schedules x 2 starts = 4", len(rows))
	}
	for i, r := range rows {
		trials, succ, wok := atoi(t, r[4]), atoi(t, r[5]), atoi(t, r[6])
		switch {
		case r[0] != "8-4-2" || r[1] != "3000" || r[2] != want[i][0] || r[3] != want[i][1]:
			t.Errorf("row %d: %v, want 8-4-2 3000 %v", i, r, want[i])
		case trials != 2 || succ < 0 || succ > trials || wok < 0 || wok > trials:
			t.Errorf("row %v: %d (weights %d) of %d trials", r, succ, wok, trials)
		case r[3] == "0.05" && succ != trials:
			// 5% perturbations of a 2-hidden-layer teacher converge to
			// machine precision (docs/DEEP.md: 10/10 in every case).
			t.Errorf("row %v: a 5%% perturbation did not converge", r)
		case succ > 0 && (atof(t, r[7]) < 1 || atof(t, r[8]) < atof(t, r[7])):
			t.Errorf("row %v: iterations / passes to success", r)
		}
	}
	// deep.csv: every step of every run; a run's steps count up from 0 and
	// the successful joint runs end below the threshold.
	steps := readCSV(t, dir, "deep.csv", "case", "dims", "n", "schedule", "init", "seed", "iter", "step", "layers",
		"train_loss", "train_relres", "test_relerr", "weight_err", "flips", "ridge", "cond", "change", "stop")
	runs := map[string]bool{}
	last := map[string][]string{}
	for _, r := range steps {
		key := r[3] + " " + r[4] + " " + r[5]
		runs[key] = true
		if te := atof(t, r[11]); !(te >= 0) || math.IsInf(te, 0) {
			t.Fatalf("bad test error in %v", r)
		}
		last[key] = r
	}
	if len(runs) != 8 {
		t.Errorf("deep.csv has %d runs, want 8", len(runs))
	}
	for _, seed := range []string{"1", "2"} {
		if r := last["joint 0.05 "+seed]; r == nil || r[17] != "fit" || atof(t, r[11]) > 1e-8 {
			t.Errorf("joint, start 0.05, seed %s: last step %v, want a fit below 1e-8", seed, r)
		}
	}
	checkOutputs(t, dir, "deep")
	if !strings.Contains(stdout, "## Success rates") || strings.Count(stderr, "deep run") != 8 {
		t.Errorf("output lacks the summary or the progress:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
}

// --case replaces the preset's cases; --schedule and --init apply to every
// case, also to a preset case that carries its own.
func TestExperimentDeepOverride(t *testing.T) {
	dir := t.TempDir()
	err, _, stderr := runCLI(t, "experiment", "deep", "--quick", "--case", "6,3,2/1500", "--case", "6,3/800",
		"--schedule", "joint", "--init", "0.1", "--trials", "1", "--out", dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	rows := readCSV(t, dir, "deep_summary.csv", "dims", "n", "schedule", "init", "trials", "successes",
		"weights_ok", "median_iters", "median_passes")
	if len(rows) != 2 || !slices.Equal(rows[0][:5], []string{"6-3-2", "1500", "joint", "0.1", "1"}) ||
		!slices.Equal(rows[1][:5], []string{"6-3", "800", "joint", "0.1", "1"}) {
		t.Fatalf("deep_summary.csv rows %v", rows)
	}
	// The default preset's first case carries its own three schedules.
	cfg := experiment.DefaultDeep()
	overrideDeep(&cfg, true, true)
	for _, c := range cfg.Cases {
		if c.Schedules != nil || c.Inits != nil {
			t.Errorf("case %v keeps its own schedules %v or starts %v", c, c.Schedules, c.Inits)
		}
	}
}

func TestExperimentUsage(t *testing.T) {
	for _, args := range [][]string{
		{"experiment"},
		{"experiment", "nope"},
		{"experiment", "phase", "--n", "0"},
		{"experiment", "phase", "--methods", "sgd"},
		{"experiment", "samples", "--init", "identity"},
		{"experiment", "curve", "--test", "0"},
		{"experiment", "deep", "--case", "20,8"},
		{"experiment", "deep", "--schedule", "jacobi"},
		{"experiment", "deep", "--init", "-0.1"},
		{"experiment", "deep", "--trials", "0"},
	} {
		err, _, _ := runCLI(t, args...)
		if !errors.Is(err, errUsage) {
			t.Errorf("%v: error %v, want a usage error", args, err)
		}
	}
	if err, stdout, _ := runCLI(t, "experiment", "help"); err != nil || !strings.Contains(stdout, "phase") {
		t.Errorf("experiment help: %v\n%s", err, stdout)
	}
}

// The list flags parse, print and record like the flags they replaced.
func TestListFlag(t *testing.T) {
	var ns []int
	f := intsFlag(&ns)
	if err := f.Set("3, 5"); err != nil || !slices.Equal(ns, []int{3, 5}) || f.String() != "3,5" {
		t.Errorf("ints: %v, %v, %q", err, ns, f.String())
	}
	for _, bad := range []string{"0", "3,x", ","} {
		if err := f.Set(bad); err == nil || !slices.Equal(ns, []int{3, 5}) {
			t.Errorf("ints %q: %v, kept %v", bad, err, ns)
		}
	}
	var sc []coordinator.Schedule
	var set bool
	g := schedulesFlag(&sc, &set)
	if g.String() != "" || set {
		t.Errorf("schedules before Set: %q, set %v", g.String(), set)
	}
	if err := g.Set("joint,sequential"); err != nil || !set || g.String() != "joint,sequential" {
		t.Errorf("schedules: %v, set %v, %q", err, set, g.String())
	}
	if (&listFlag[int]{}).String() != "" {
		t.Error("the zero listFlag does not print empty")
	}
}
