package deep

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"
)

var (
	long   = flag.Bool("long", false, "run the full deep experiment of docs/DEEP.md (tens of minutes)")
	outDir = flag.String("out", "", "output directory of the long experiment (default: ../out/deep)")
)

// TestExperimentLong regenerates the tables of docs/DEEP.md:
//
//	go test ./deep -run ExperimentLong -v -timeout 0 -args -long
//
// writing out/deep/deep.csv and out/deep/deep.md.
func TestExperimentLong(t *testing.T) {
	if !*long {
		t.Skip("pass -args -long to run the full deep experiment")
	}
	dir := *outDir
	if dir == "" {
		dir = filepath.Join("..", "out", "deep")
	}
	cfg := DefaultExperiment()
	cfg.Log = zaptest.NewLogger(t)
	if err := Experiment(context.Background(), cfg, dir); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", dir)
}

// TestExperimentQuick runs the quick preset and checks its files: the
// perturbed starts succeed, and the output does not depend on Parallel.
func TestExperimentQuick(t *testing.T) {
	cfg := QuickExperiment()
	cfg.Parallel = 1
	dir := t.TempDir()
	if err := Experiment(context.Background(), cfg, dir); err != nil {
		t.Fatal(err)
	}
	csv1, err := os.ReadFile(filepath.Join(dir, "deep.csv"))
	if err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, "deep.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "| 8-4-2 | 3000 | 40 | joint | 0.05 | 2/2 |") {
		t.Errorf("deep.md lacks the expected success row:\n%s", md)
	}
	cfg.Parallel = 3
	res, err := RunExperiment(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if string(res.CSV()) != string(csv1) {
		t.Error("deep.csv differs between Parallel = 1 and 3")
	}
	if n := strings.Count(string(csv1), "\n"); n < 10 {
		t.Errorf("deep.csv has %d lines", n)
	}
}

// TestExperimentParse covers the parsers the command line will use.
func TestExperimentParse(t *testing.T) {
	c, err := ParseCase("20,8,4/20000")
	if err != nil || c.N != 20000 || len(c.Dims) != 3 || c.String() != "20,8,4/20000" {
		t.Errorf("ParseCase: %+v, %v", c, err)
	}
	for _, bad := range []string{"20,8,4", "20/100", "20,x/5", "20,8/0"} {
		if _, err := ParseCase(bad); err == nil {
			t.Errorf("ParseCase(%q) accepted", bad)
		}
	}
	if in, err := ParseInit("0.1"); err != nil || in.Delta != 0.1 {
		t.Errorf("ParseInit(0.1): %v, %v", in, err)
	}
	if in, err := ParseInit("random"); err != nil || in.Delta != 0 {
		t.Errorf("ParseInit(random): %v, %v", in, err)
	}
	if _, err := ParseInit("-1"); err == nil {
		t.Error("negative perturbation accepted")
	}
	if _, err := ParseSchedule("joint"); err != nil {
		t.Error(err)
	}
	if _, err := ParseSchedule("jacobi"); err == nil {
		t.Error("unknown schedule accepted")
	}
	bad := DefaultExperiment()
	bad.Trials = 0
	if bad.Validate() == nil {
		t.Error("0 trials accepted")
	}
}
