package experiment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"altmin/coordinator"
	"altmin/data"
	"altmin/linalg"
	"altmin/model"
	"altmin/shard"
)

// DeepCase is one planted problem of the deep experiment.
type DeepCase struct {
	Dims []int // widths d, k1, ..., kL
	N    int   // training rows
	// Schedules and Inits, when non-empty, replace the configuration's for
	// this case.
	Schedules []coordinator.Schedule
	Inits     []DeepInit
}

// String renders the case as ParseDeepCase reads it: "d,k1,...,kL/n".
func (c DeepCase) String() string {
	s := make([]string, len(c.Dims))
	for i, v := range c.Dims {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",") + "/" + strconv.Itoa(c.N)
}

// ParseDeepCase reads "d,k1,...,kL/n", for example "20,8,4/20000".
func ParseDeepCase(s string) (DeepCase, error) {
	dims, n, ok := strings.Cut(s, "/")
	if !ok {
		return DeepCase{}, fmt.Errorf("%w: case %q, want d,k1,...,kL/n", ErrConfig, s)
	}
	var c DeepCase
	for _, f := range strings.Split(dims, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			return DeepCase{}, fmt.Errorf("%w: case %q: width %q is not a positive integer", ErrConfig, s, f)
		}
		c.Dims = append(c.Dims, v)
	}
	v, err := strconv.Atoi(strings.TrimSpace(n))
	if err != nil || v < 1 {
		return DeepCase{}, fmt.Errorf("%w: case %q: n %q is not a positive integer", ErrConfig, s, n)
	}
	c.N = v
	if len(c.Dims) < 2 {
		return DeepCase{}, fmt.Errorf("%w: case %q needs d and at least one hidden width", ErrConfig, s)
	}
	return c, nil
}

// DeepInit is a starting point: the teacher perturbed by a relative amount
// Delta in every layer (data.PerturbNet), or, for Delta = 0, a random
// network (data.RandomNet).
type DeepInit struct{ Delta float64 }

// String renders the start as ParseDeepInit reads it: "0.05" or "random".
func (i DeepInit) String() string {
	if i.Delta == 0 {
		return "random"
	}
	return strconv.FormatFloat(i.Delta, 'g', -1, 64)
}

// ParseDeepInit reads a relative perturbation of the teacher ("0.05") or
// "random".
func ParseDeepInit(s string) (DeepInit, error) {
	if s == "random" {
		return DeepInit{}, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) {
		return DeepInit{}, fmt.Errorf("%w: start %q, want a positive perturbation such as 0.05, or random", ErrConfig, s)
	}
	return DeepInit{Delta: v}, nil
}

// ParseSchedule reads the name of a schedule of coordinator.Deep.
func ParseSchedule(s string) (coordinator.Schedule, error) {
	switch sc := coordinator.Schedule(s); sc {
	case coordinator.Sequential, coordinator.Simultaneous, coordinator.Joint:
		return sc, nil
	}
	return "", fmt.Errorf("%w: schedule %q, want joint, sequential or simultaneous", ErrConfig, s)
}

// DeepConfig configures the deeper-network experiment (docs/DEEP.md):
// planted teachers with L >= 1 hidden layers (data.DeepTeacher) trained by
// coordinator.Deep from perturbed and random starts, for every case,
// schedule, start and trial; trial t uses teacher seed Seed+t and the start
// drawn from the same seed.
type DeepConfig struct {
	Cases     []DeepCase
	Schedules []coordinator.Schedule // for cases without their own
	Inits     []DeepInit             // for cases without their own
	Trials    int                    // trials (teachers) per case, schedule and start
	Seed      uint64                 // teacher seed of trial 0
	Test      int                    // held-out rows for the test error
	// Partitions is P, the partitions of the training rows, reduced in
	// order.
	Partitions int
	// MaxIters is the outer-iteration budget of every run; the core's
	// tolerances are coordinator.DefaultDeepConfig's.
	MaxIters int
	// Threshold is the success criterion: the relative prediction error
	// ||f(X_test) - y_test|| / ||y_test|| at the end is at most Threshold.
	Threshold float64
	Signs     string // output signs of the teachers: alternate or ones
	Parallel  int    // runs at once; 0 means GOMAXPROCS
}

// DefaultDeep returns the measurement reported in docs/DEEP.md.
func DefaultDeep() DeepConfig {
	inits := []DeepInit{{0.05}, {0.1}, {0.3}, {0}}
	joint := []coordinator.Schedule{coordinator.Joint}
	return DeepConfig{
		Cases: []DeepCase{
			{Dims: []int{10, 4, 2}, N: 10000, Schedules: []coordinator.Schedule{coordinator.Joint, coordinator.Sequential, coordinator.Simultaneous}},
			{Dims: []int{20, 8, 4}, N: 20000},
			{Dims: []int{20, 8, 4}, N: 50000, Schedules: joint},
			// Fewer samples, down to 1.3 per unknown.
			{Dims: []int{20, 8, 4}, N: 250, Schedules: joint},
			{Dims: []int{20, 8, 4}, N: 400, Schedules: joint},
			{Dims: []int{20, 8, 4}, N: 1000, Schedules: joint},
			{Dims: []int{20, 8, 4}, N: 2000, Schedules: joint},
			// Three and four hidden layers.
			{Dims: []int{10, 6, 4, 2}, N: 20000},
			{Dims: []int{12, 8, 6, 4, 2}, N: 20000, Schedules: joint},
		},
		Schedules: []coordinator.Schedule{coordinator.Joint, coordinator.Sequential}, Inits: inits,
		Trials: 10, Seed: 1, Test: 2000, Partitions: coordinator.DefaultPartitions, MaxIters: 100, Threshold: 1e-8,
		Signs: "alternate",
	}
}

// QuickDeep is a run of seconds for CI: one small case, two starts, two
// trials.
func QuickDeep() DeepConfig {
	c := DefaultDeep()
	c.Cases = []DeepCase{{Dims: []int{8, 4, 2}, N: 3000}}
	c.Inits = []DeepInit{{0.05}, {0}}
	c.Trials, c.Test, c.MaxIters, c.Partitions = 2, 500, 40, 4
	return c
}

// Validate checks the configuration.
func (c DeepConfig) Validate() error {
	if len(c.Cases) == 0 {
		return fmt.Errorf("%w: no cases", ErrConfig)
	}
	for _, cs := range c.Cases {
		if len(cs.Dims) < 2 || cs.N < 1 {
			return fmt.Errorf("%w: case %v", ErrConfig, cs)
		}
		for _, v := range cs.Dims {
			if v < 1 {
				return fmt.Errorf("%w: case %v has a width < 1", ErrConfig, cs)
			}
		}
		if len(c.schedules(cs)) == 0 || len(c.inits(cs)) == 0 {
			return fmt.Errorf("%w: case %v has no schedule or no start", ErrConfig, cs)
		}
		for _, s := range c.schedules(cs) {
			if _, err := ParseSchedule(string(s)); err != nil {
				return err
			}
		}
		for _, in := range c.inits(cs) {
			if !(in.Delta >= 0) || math.IsInf(in.Delta, 0) {
				return fmt.Errorf("%w: start delta %v", ErrConfig, in.Delta)
			}
		}
	}
	if err := validateCommon(c.Trials, c.Partitions, c.Parallel, 0, c.Threshold); err != nil {
		return err
	}
	switch {
	case c.Test < 1:
		return fmt.Errorf("%w: test = %d, need >= 1", ErrConfig, c.Test)
	case c.MaxIters < 1:
		return fmt.Errorf("%w: iters = %d, need >= 1", ErrConfig, c.MaxIters)
	case c.Signs != "alternate" && c.Signs != "ones":
		return fmt.Errorf("%w: signs %q, want alternate or ones", ErrConfig, c.Signs)
	}
	return nil
}

func (c DeepConfig) schedules(cs DeepCase) []coordinator.Schedule {
	if len(cs.Schedules) > 0 {
		return cs.Schedules
	}
	return c.Schedules
}

func (c DeepConfig) inits(cs DeepCase) []DeepInit {
	if len(cs.Inits) > 0 {
		return cs.Inits
	}
	return c.Inits
}

// DeepStep is one step of one run, as written to deep.csv: the core's
// report and the evaluation of its weights.
type DeepStep struct {
	coordinator.Report
	TestErr   float64 // model.PredErr on the held-out rows
	WeightErr float64 // model.WeightErr against the teacher
}

// DeepRun is one training run of the deep experiment.
type DeepRun struct {
	Case     int // index in DeepConfig.Cases
	Schedule coordinator.Schedule
	Init     DeepInit
	Seed     uint64
	Steps    []DeepStep
	Success  bool // final TestErr <= Threshold
	// SuccessIter and SuccessPass are the number of outer iterations
	// (counting a partly done one as done) and of solves (data passes)
	// after which TestErr <= Threshold for the rest of the run; -1 without
	// success.
	SuccessIter, SuccessPass int
	Err                      string // a solve error, when the run failed with one
}

// Final returns the last step.
func (r *DeepRun) Final() DeepStep { return r.Steps[len(r.Steps)-1] }

// DeepResult is the result of the deep experiment: every run in a fixed
// order, by case, schedule, start and trial.
type DeepResult struct {
	Config DeepConfig
	Runs   []DeepRun
}

// RunDeep runs every case, schedule, start and trial of cfg, writing one
// progress line per run to progress (which may be nil). The result depends
// only on cfg, not on Parallel or timing.
func RunDeep(ctx context.Context, cfg DeepConfig, progress io.Writer) (*DeepResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	res := &DeepResult{Config: cfg}
	for ci, cs := range cfg.Cases {
		for _, s := range cfg.schedules(cs) {
			for _, in := range cfg.inits(cs) {
				for t := range cfg.Trials {
					res.Runs = append(res.Runs, DeepRun{Case: ci, Schedule: s, Init: in, Seed: cfg.Seed + uint64(t)})
				}
			}
		}
	}
	pw := &syncWriter{w: progress}
	var done atomic.Int64
	err := forEach(ctx, parallelism(cfg.Parallel), len(res.Runs), func(ctx context.Context, i int) error {
		r := &res.Runs[i]
		start := time.Now()
		if err := runDeep(ctx, cfg, r); err != nil {
			return fmt.Errorf("experiment: deep %v %s start %v seed %d: %w", cfg.Cases[r.Case], r.Schedule, r.Init, r.Seed, err)
		}
		f := r.Final()
		pw.printf("deep run [%d/%d] %s %-12s start %-6s seed %-3d %-7s test_err %.2e iter %-4d %-15s %.1fs%s\n",
			done.Add(1), len(res.Runs), cfg.Cases[r.Case], r.Schedule, r.Init, r.Seed, successWord(r.Success), f.TestErr, f.Iter, f.Stop,
			time.Since(start).Seconds(), errSuffix(r.Err))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return " (" + e + ")"
}

// runDeep trains one run through the distributed path in process (the
// partitions held by a shard.Engine, coordinator.Deep driven by a
// coordinator.Driver) and records its steps. A failed solve ends the run
// and is recorded in r.Err; other errors are returned.
func runDeep(ctx context.Context, cfg DeepConfig, r *DeepRun) error {
	cs := cfg.Cases[r.Case]
	tch, err := data.NewDeepTeacher(cs.N, cs.Dims, r.Seed, cfg.Signs)
	if err != nil {
		return err
	}
	parts := make([]*shard.Partition, cfg.Partitions)
	for p := range parts {
		if parts[p], err = shard.Load(tch, cfg.Partitions, p, false); err != nil {
			return err
		}
	}
	eng, err := shard.NewEngine(parts...)
	if err != nil {
		return err
	}
	test, err := shard.Load(tch.HeldOut(cfg.Test), 1, 0, false)
	if err != nil {
		return err
	}
	truth := tch.Net()
	start := data.RandomNet(truth, r.Seed)
	if r.Init.Delta > 0 {
		start = data.PerturbNet(truth, r.Init.Delta, r.Seed)
	}
	def := coordinator.DefaultDeepConfig()
	core, err := coordinator.NewDeep(coordinator.DeepConfig{Schedule: r.Schedule, Partitions: cfg.Partitions,
		MaxIters: cfg.MaxIters, Tol: def.Tol, FitTol: def.FitTol}, start)
	if err != nil {
		return err
	}
	r.SuccessIter, r.SuccessPass = -1, -1
	drv := &coordinator.Driver{
		Core:    core,
		Fetcher: eng,
		// Runs go in parallel; within one, partitions are computed one at
		// a time (the result does not depend on it).
		Parallel: 1,
		OnReport: func(rep coordinator.Report, _ coordinator.Timing) error {
			s := DeepStep{Report: rep, TestErr: model.PredErr(rep.Net, test.X, test.Y), WeightErr: model.WeightErr(rep.Net, truth)}
			r.Steps = append(r.Steps, s)
			if s.TestErr <= cfg.Threshold && r.SuccessIter < 0 {
				r.SuccessIter, r.SuccessPass = rep.Iter, rep.Step
				if len(rep.Layers) > 0 && rep.Layers[0] != 1 { // sequential, within iteration rep.Iter
					r.SuccessIter++
				}
			}
			if s.TestErr > cfg.Threshold {
				r.SuccessIter, r.SuccessPass = -1, -1
			}
			return nil
		},
	}
	if _, err := drv.Run(ctx); err != nil {
		if !errors.Is(err, linalg.ErrSolve) || len(r.Steps) == 0 {
			return err
		}
		r.Err = err.Error()
	}
	r.Success = r.Final().TestErr <= cfg.Threshold
	return nil
}
