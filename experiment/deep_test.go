package experiment

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"altmin/coordinator"
)

// The quick preset: the perturbed starts succeed, the files do not depend
// on Parallel, and there is one progress line per run.
func TestDeepQuick(t *testing.T) {
	var files [2]map[string][]byte
	for i, par := range []int{1, 3} {
		cfg := QuickDeep()
		cfg.Parallel = par
		var progress bytes.Buffer
		res, err := RunDeep(context.Background(), cfg, &progress)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(progress.String(), "deep run"); n != len(res.Runs) || n != 8 {
			t.Errorf("%d progress lines for %d runs, want 8:\n%s", n, len(res.Runs), progress.String())
		}
		dir := t.TempDir()
		if err := res.Write(dir); err != nil {
			t.Fatal(err)
		}
		files[i] = map[string][]byte{}
		for _, name := range []string{"deep.csv", "deep.md", "deep_summary.csv", "deep.png"} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			files[i][name] = b
		}
	}
	for name, b := range files[0] {
		if !bytes.Equal(b, files[1][name]) {
			t.Errorf("%s differs between Parallel = 1 and 3", name)
		}
	}
	md := string(files[0]["deep.md"])
	if !strings.Contains(md, "| 8-4-2 | 3000 | 40 | joint | 0.05 | 2/2 |") {
		t.Errorf("deep.md lacks the expected success row:\n%s", md)
	}
	if n := bytes.Count(files[0]["deep.csv"], []byte("\n")); n < 10 {
		t.Errorf("deep.csv has %d lines", n)
	}
}

// A run's success fields, recomputed from its steps by an independent
// route: the last stretch of steps at or below the threshold, its first
// step's pass and outer iteration (a partly done sequential iteration
// counts as done).
func TestDeepSuccessFromSteps(t *testing.T) {
	cfg := QuickDeep()
	cfg.Trials, cfg.MaxIters = 1, 15
	cfg.Schedules = []coordinator.Schedule{coordinator.Joint, coordinator.Sequential, coordinator.Simultaneous}
	res, err := RunDeep(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	succ := 0
	for _, run := range res.Runs {
		first := len(run.Steps)
		for first > 0 && run.Steps[first-1].TestErr <= cfg.Threshold {
			first--
		}
		iter, pass := -1, -1
		if first < len(run.Steps) {
			s := run.Steps[first]
			iter, pass = s.Iter, s.Step
			if run.Schedule == coordinator.Sequential && s.Step%2 == 1 { // 2 layers: odd steps solve layer 2
				iter++
			}
			succ++
		}
		if run.Success != (first < len(run.Steps)) || run.SuccessIter != iter || run.SuccessPass != pass {
			t.Errorf("%s start %v: success %v at iteration %d, pass %d; recomputed %d, %d", run.Schedule, run.Init,
				run.Success, run.SuccessIter, run.SuccessPass, iter, pass)
		}
		for i, s := range run.Steps {
			if s.Step != i || s.Net == nil {
				t.Fatalf("%s start %v: step %d is numbered %d (net %v)", run.Schedule, run.Init, i, s.Step, s.Net != nil)
			}
		}
	}
	if succ == 0 {
		t.Error("no run succeeded")
	}
}

// The parsers the command line uses, and Validate.
func TestDeepParse(t *testing.T) {
	c, err := ParseDeepCase("20,8,4/20000")
	if err != nil || c.N != 20000 || len(c.Dims) != 3 || c.String() != "20,8,4/20000" {
		t.Errorf("ParseDeepCase: %+v, %v", c, err)
	}
	for _, bad := range []string{"20,8,4", "20/100", "20,x/5", "20,8/0"} {
		if _, err := ParseDeepCase(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("ParseDeepCase(%q): %v, want ErrConfig", bad, err)
		}
	}
	if in, err := ParseDeepInit("0.1"); err != nil || in.Delta != 0.1 || in.String() != "0.1" {
		t.Errorf("ParseDeepInit(0.1): %v, %v", in, err)
	}
	if in, err := ParseDeepInit("random"); err != nil || in.Delta != 0 || in.String() != "random" {
		t.Errorf("ParseDeepInit(random): %v, %v", in, err)
	}
	for _, bad := range []string{"-1", "0", "x", "inf"} {
		if _, err := ParseDeepInit(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("ParseDeepInit(%q): %v, want ErrConfig", bad, err)
		}
	}
	for _, s := range []coordinator.Schedule{coordinator.Joint, coordinator.Sequential, coordinator.Simultaneous} {
		if got, err := ParseSchedule(string(s)); err != nil || got != s {
			t.Errorf("ParseSchedule(%q) = %q, %v", s, got, err)
		}
	}
	for _, bad := range []string{"jacobi", ""} {
		if _, err := ParseSchedule(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("ParseSchedule(%q): %v, want ErrConfig", bad, err)
		}
	}
	for i, mod := range []func(*DeepConfig){
		func(c *DeepConfig) { c.Trials = 0 },
		func(c *DeepConfig) { c.Cases = nil },
		func(c *DeepConfig) { c.Cases = []DeepCase{{Dims: []int{5}, N: 10}} },
		func(c *DeepConfig) { c.Schedules = []coordinator.Schedule{"jacobi"} },
		func(c *DeepConfig) { c.Inits = nil },
		func(c *DeepConfig) { c.Test = 0 },
		func(c *DeepConfig) { c.MaxIters = 0 },
		func(c *DeepConfig) { c.Threshold = 0 },
		func(c *DeepConfig) { c.Signs = "random" },
		func(c *DeepConfig) { c.Parallel = -1 },
	} {
		c := QuickDeep()
		mod(&c)
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("case %d: %v, want ErrConfig", i, err)
		}
	}
	for _, c := range []DeepConfig{DefaultDeep(), QuickDeep()} {
		if err := c.Validate(); err != nil {
			t.Errorf("preset: %v", err)
		}
	}
}
