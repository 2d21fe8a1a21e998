package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"altmin/coordinator"
	"altmin/experiment"
)

const experimentUsage = `usage: coordinator experiment SUBCOMMAND [flags]

Reproduces the papers' experiments in process, through the trainer's own
distributed path (coordinator core and driver over shard partitions).
Each subcommand writes NAME.csv, NAME.md and NAME.png into --out.

subcommands:
  phase     success rate against n, skip model, AM and GD from identity and
            random starts (ISIT 2019, Fig. 1a)
  curve     training and test loss against iteration, AM against GD
            (ISIT 2019, Fig. 1b)
  samples   smallest n with 90% recovery against d and k, 1-hidden-layer
            model, against the n ~ d k^2 law
  deep      success rates and convergence curves of 2 to 4 hidden layers
            on planted teachers, perturbed and random starts (docs/DEEP.md)

Every subcommand takes --quick (a reduced run for CI, seconds), --seed,
--parallel and --out. Run 'coordinator experiment SUBCOMMAND -h' for the rest.
`

// defaultExperimentOut is the default output directory of experiments.
const defaultExperimentOut = "out/experiments"

func experimentCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		w := stderr
		if len(args) > 0 {
			w = stdout
		}
		fmt.Fprint(w, experimentUsage)
		if len(args) == 0 {
			return fmt.Errorf("%w: experiment needs a subcommand", errUsage)
		}
		return nil
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "phase":
		return phaseCmd(ctx, args, stdout, stderr)
	case "curve":
		return curveCmd(ctx, args, stdout, stderr)
	case "samples":
		return samplesCmd(ctx, args, stdout, stderr)
	case "deep":
		return deepCmd(ctx, args, stdout, stderr)
	}
	fmt.Fprint(stderr, experimentUsage)
	return fmt.Errorf("%w: unknown experiment %q", errUsage, sub)
}

// parseTwice parses args into the flags bound by bind to the default
// configuration, and again to the quick one when --quick is given, so that
// explicit flags override either preset.
func parseTwice[C any](name string, args []string, stderr io.Writer, def, quick func() C,
	bind func(fs *flag.FlagSet, c *C)) (C, common, error) {
	var cm common
	mk := func(c *C) *flag.FlagSet {
		fs := flag.NewFlagSet("coordinator experiment "+name, flag.ContinueOnError)
		fs.SetOutput(stderr)
		fs.BoolVar(&cm.quick, "quick", false, "reduced sizes for CI (seconds); other flags still override")
		fs.StringVar(&cm.out, "out", defaultExperimentOut, "output directory")
		bind(fs, c)
		return fs
	}
	cfg := def()
	if err := parse(mk(&cfg), args); err != nil {
		return cfg, cm, err
	}
	if cm.quick {
		cfg = quick()
		if err := parse(mk(&cfg), args); err != nil {
			return cfg, cm, err
		}
	}
	return cfg, cm, nil
}

type common struct {
	quick bool
	out   string
}

func phaseCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var merge []string
	cfg, cm, err := parseTwice("phase", args, stderr, experiment.DefaultPhase, experiment.QuickPhase,
		func(fs *flag.FlagSet, c *experiment.PhaseConfig) {
			fs.IntVar(&c.D, "d", c.D, "input dimension (k = d)")
			fs.Float64Var(&c.WNorm, "wnorm", c.WNorm, "Frobenius norm of the teacher W*")
			fs.Var(intsFlag(&c.N), "n", "comma-separated sample sizes")
			fs.IntVar(&c.Trials, "trials", c.Trials, "trials per point")
			fs.Var(methodsFlag(&c.Methods), "methods", "comma-separated methods: am, gd")
			fs.Var(stringsFlag(&c.Inits), "inits", "comma-separated starts: identity, random, perturb:DELTA")
			fs.IntVar(&c.AMIters, "am-iters", c.AMIters, "AM iteration budget")
			fs.IntVar(&c.GDIters, "gd-iters", c.GDIters, "GD iteration budget")
			fs.Float64Var(&c.Step, "step", c.Step, "GD step (0: the papers' rule 2/(s_min^2+s_max^2), every iteration)")
			fs.Float64Var(&c.Threshold, "threshold", c.Threshold, "success: ||W_T - W*||_F / ||W* + I||_F below this")
			fs.BoolVar(&c.EarlyStop, "early-stop", c.EarlyStop, "end a trial at its first successful iterate")
			fs.Float64Var(&c.Tol, "tol", c.Tol, "stop when the relative weight change is below this (0: never)")
			fs.Var(stringsFlag(&merge), "merge", "comma-separated output directories of earlier phase runs: combine their trials "+
				"into this configuration's grid instead of running (the other flags must match theirs)")
			commonFlags(fs, &c.Partitions, &c.Seed, &c.Parallel)
		})
	if err != nil {
		return err
	}
	return runExperiment(stdout, cm.out, "phase", cfg.Validate, func() (experimentResult, error) {
		if len(merge) > 0 {
			return experiment.MergePhase(cfg, merge)
		}
		return experiment.RunPhase(ctx, cfg, stderr)
	})
}

func curveCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, cm, err := parseTwice("curve", args, stderr, experiment.DefaultCurve, experiment.QuickCurve,
		func(fs *flag.FlagSet, c *experiment.CurveConfig) {
			fs.IntVar(&c.D, "d", c.D, "input dimension (k = d)")
			fs.Float64Var(&c.WNorm, "wnorm", c.WNorm, "Frobenius norm of the teacher W*")
			fs.IntVar(&c.N, "n", c.N, "training samples")
			fs.IntVar(&c.Test, "test", c.Test, "held-out test samples")
			fs.Var(methodsFlag(&c.Methods), "methods", "comma-separated methods: am, gd")
			fs.StringVar(&c.Init, "init", c.Init, "start: identity, random or perturb:DELTA")
			fs.IntVar(&c.AMIters, "am-iters", c.AMIters, "AM iteration budget (AM also stops at a fixed point)")
			fs.IntVar(&c.GDIters, "gd-iters", c.GDIters, "GD iteration budget")
			fs.Float64Var(&c.Step, "step", c.Step, "GD step (0: the papers' rule 2/(s_min^2+s_max^2), every iteration)")
			fs.Float64Var(&c.Tol, "tol", c.Tol, "stop when the relative weight change is below this (0: never)")
			fs.IntVar(&c.Trial, "trial", c.Trial, "use the data and start of this trial of --seed")
			commonFlags(fs, &c.Partitions, &c.Seed, &c.Parallel)
		})
	if err != nil {
		return err
	}
	return runExperiment(stdout, cm.out, "curve", cfg.Validate, func() (experimentResult, error) {
		return experiment.RunCurve(ctx, cfg, stderr)
	})
}

func samplesCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, cm, err := parseTwice("samples", args, stderr, experiment.DefaultSamples, experiment.QuickSamples,
		func(fs *flag.FlagSet, c *experiment.SamplesConfig) {
			fs.Var(intsFlag(&c.D), "d", "comma-separated input dimensions")
			fs.Var(intsFlag(&c.K), "k", "comma-separated numbers of hidden neurons")
			fs.StringVar(&c.Signs, "signs", c.Signs, "output signs: ones or alternate")
			fs.StringVar(&c.Init, "init", c.Init, "start: random or perturb:DELTA")
			fs.IntVar(&c.PerOctave, "per-octave", c.PerOctave, "grid points of n per doubling")
			fs.Float64Var(&c.MaxRatio, "max-ratio", c.MaxRatio, "largest n tried is this times d k (the number of unknowns)")
			fs.IntVar(&c.Trials, "trials", c.Trials, "trials per point")
			fs.Float64Var(&c.Rate, "rate", c.Rate, "success rate that defines n_min")
			fs.IntVar(&c.Iters, "iters", c.Iters, "AM iteration budget")
			fs.Float64Var(&c.Threshold, "threshold", c.Threshold, "success: relative error (up to permutation) at most this")
			fs.Float64Var(&c.Tol, "tol", c.Tol, "stop when the relative weight change is below this (0: never)")
			commonFlags(fs, &c.Partitions, &c.Seed, &c.Parallel)
		})
	if err != nil {
		return err
	}
	return runExperiment(stdout, cm.out, "samples", cfg.Validate, func() (experimentResult, error) {
		return experiment.RunSamples(ctx, cfg, stderr)
	})
}

func deepCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var schedSet, initSet bool
	cfg, cm, err := parseTwice("deep", args, stderr, experiment.DefaultDeep, experiment.QuickDeep,
		func(fs *flag.FlagSet, c *experiment.DeepConfig) {
			fs.Var(&casesFlag{p: &c.Cases}, "case", "a planted problem d,k1,...,kL/n (repeatable; replaces the preset's cases)")
			fs.Var(schedulesFlag(&c.Schedules, &schedSet), "schedule", "comma-separated schedules: joint, sequential, simultaneous (for every case)")
			fs.Var(deepInitsFlag(&c.Inits, &initSet), "init", "comma-separated starts: a relative perturbation of the teacher (0.05) or random (for every case)")
			fs.IntVar(&c.Trials, "trials", c.Trials, "trials (teachers) per case, schedule and start")
			fs.Uint64Var(&c.Seed, "seed", c.Seed, "teacher seed of trial 0; trial t uses seed+t for its teacher and start")
			fs.IntVar(&c.Test, "test", c.Test, "held-out rows for the test error")
			fs.IntVar(&c.Partitions, "partitions", c.Partitions, "partitions of the training rows, reduced in order")
			fs.IntVar(&c.MaxIters, "iters", c.MaxIters, "outer-iteration budget of every run")
			fs.Float64Var(&c.Threshold, "threshold", c.Threshold, "success: final held-out relative prediction error at most this")
			fs.StringVar(&c.Signs, "signs", c.Signs, "output signs of the teachers: alternate or ones")
			fs.IntVar(&c.Parallel, "parallel", c.Parallel, "runs at once (0: GOMAXPROCS)")
		})
	if err != nil {
		return err
	}
	overrideDeep(&cfg, schedSet, initSet)
	return runExperiment(stdout, cm.out, "deep", cfg.Validate, func() (experimentResult, error) {
		return experiment.RunDeep(ctx, cfg, stderr)
	})
}

// overrideDeep makes an explicit --schedule or --init apply to every case,
// also to the preset's cases that carry their own.
func overrideDeep(cfg *experiment.DeepConfig, schedSet, initSet bool) {
	for i := range cfg.Cases {
		if schedSet {
			cfg.Cases[i].Schedules = nil
		}
		if initSet {
			cfg.Cases[i].Inits = nil
		}
	}
}

func commonFlags(fs *flag.FlagSet, partitions *int, seed *uint64, parallel *int) {
	fs.IntVar(partitions, "partitions", *partitions, "partitions of each data set, reduced in order")
	fs.Uint64Var(seed, "seed", *seed, "base seed: trial t uses the data and start seeds derived from (seed, t)")
	fs.IntVar(parallel, "parallel", *parallel, "trials run at once (0: GOMAXPROCS)")
}

// experimentResult is an experiment's result, written into an output
// directory as NAME.csv, NAME.md and NAME.png.
type experimentResult interface{ Write(dir string) error }

// runExperiment runs the experiment name after validate accepts its
// configuration (a usage error otherwise), writes its result into dir and
// prints the summary.
func runExperiment(stdout io.Writer, dir, name string, validate func() error, run func() (experimentResult, error)) error {
	if err := validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	start := time.Now()
	res, err := run()
	if err != nil {
		return err
	}
	if err := res.Write(dir); err != nil {
		return err
	}
	return report(stdout, dir, name, time.Since(start))
}

// report prints the Markdown summary and where the files are.
func report(stdout io.Writer, dir, name string, dur time.Duration) error {
	md, err := os.ReadFile(filepath.Join(dir, name+".md"))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\nwrote %s/%s.csv, %s.md, %s.png in %.1fs\n", md, dir, name, name, name, dur.Seconds())
	return nil
}

// listFlag is a comma-separated, non-empty list of values, each parsed by
// parse and printed by format. When set is not nil, Set records there that
// the flag was given.
type listFlag[T any] struct {
	p      *[]T
	parse  func(string) (T, error)
	format func(T) string
	set    *bool
}

func (f *listFlag[T]) String() string {
	if f.p == nil {
		return ""
	}
	s := make([]string, len(*f.p))
	for i, v := range *f.p {
		s[i] = f.format(v)
	}
	return strings.Join(s, ",")
}

func (f *listFlag[T]) Set(s string) error {
	var v []T
	for _, part := range splitList(s) {
		x, err := f.parse(part)
		if err != nil {
			return err
		}
		v = append(v, x)
	}
	if len(v) == 0 {
		return fmt.Errorf("empty list")
	}
	*f.p = v
	if f.set != nil {
		*f.set = true
	}
	return nil
}

// intsFlag is a comma-separated list of positive integers.
func intsFlag(p *[]int) *listFlag[int] {
	parse := func(s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return 0, fmt.Errorf("%q is not a positive integer", s)
		}
		return n, nil
	}
	return &listFlag[int]{p: p, parse: parse, format: strconv.Itoa}
}

// stringsFlag is a comma-separated list.
func stringsFlag(p *[]string) *listFlag[string] {
	return &listFlag[string]{p: p, format: func(s string) string { return s }, parse: func(s string) (string, error) { return s, nil }}
}

// schedulesFlag is a comma-separated list of deep schedules.
func schedulesFlag(p *[]coordinator.Schedule, set *bool) *listFlag[coordinator.Schedule] {
	return &listFlag[coordinator.Schedule]{p: p, set: set, parse: experiment.ParseSchedule,
		format: func(v coordinator.Schedule) string { return string(v) }}
}

// deepInitsFlag is a comma-separated list of deep starts.
func deepInitsFlag(p *[]experiment.DeepInit, set *bool) *listFlag[experiment.DeepInit] {
	return &listFlag[experiment.DeepInit]{p: p, set: set, parse: experiment.ParseDeepInit, format: experiment.DeepInit.String}
}

// methodsFlag is a comma-separated list of methods.
func methodsFlag(p *[]coordinator.Method) *listFlag[coordinator.Method] {
	parse := func(s string) (coordinator.Method, error) {
		m := coordinator.Method(s)
		if m != coordinator.AM && m != coordinator.GD {
			return "", fmt.Errorf("method %q, want am or gd", s)
		}
		return m, nil
	}
	return &listFlag[coordinator.Method]{p: p, parse: parse, format: func(m coordinator.Method) string { return string(m) }}
}

// casesFlag is a repeatable experiment.DeepCase; the first use replaces the
// preset.
type casesFlag struct {
	p   *[]experiment.DeepCase
	set bool
}

func (f *casesFlag) String() string {
	if f.p == nil {
		return ""
	}
	s := make([]string, len(*f.p))
	for i, c := range *f.p {
		s[i] = c.String()
	}
	return strings.Join(s, " ")
}

func (f *casesFlag) Set(s string) error {
	c, err := experiment.ParseDeepCase(s)
	if err != nil {
		return err
	}
	if !f.set {
		*f.p, f.set = nil, true
	}
	*f.p = append(*f.p, c)
	return nil
}
