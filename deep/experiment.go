package deep

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"go.uber.org/zap"

	"altmin/data"
	"altmin/linalg"
	"altmin/model"
)

// ErrExperiment is wrapped by errors in an experiment configuration.
var ErrExperiment = errors.New("deep: bad experiment configuration")

// Case is one planted problem of an experiment.
type Case struct {
	Dims []int // widths d, k1, ..., kL
	N    int   // training rows
	// Schedules and Inits, when non-empty, replace the configuration's for
	// this case.
	Schedules []Schedule
	Inits     []Init
}

// String renders the case as ParseCase reads it: "d,k1,...,kL/n".
func (c Case) String() string {
	s := make([]string, len(c.Dims))
	for i, v := range c.Dims {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",") + "/" + strconv.Itoa(c.N)
}

// ParseCase reads "d,k1,...,kL/n", for example "20,8,4/20000".
func ParseCase(s string) (Case, error) {
	dims, n, ok := strings.Cut(s, "/")
	if !ok {
		return Case{}, fmt.Errorf("%w: case %q, want d,k1,...,kL/n", ErrExperiment, s)
	}
	var c Case
	for _, f := range strings.Split(dims, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 1 {
			return Case{}, fmt.Errorf("%w: case %q: width %q is not a positive integer", ErrExperiment, s, f)
		}
		c.Dims = append(c.Dims, v)
	}
	v, err := strconv.Atoi(strings.TrimSpace(n))
	if err != nil || v < 1 {
		return Case{}, fmt.Errorf("%w: case %q: n %q is not a positive integer", ErrExperiment, s, n)
	}
	c.N = v
	if len(c.Dims) < 2 {
		return Case{}, fmt.Errorf("%w: case %q needs d and at least one hidden width", ErrExperiment, s)
	}
	return c, nil
}

// Init is a starting point: the teacher perturbed by a relative amount
// Delta in every layer (Perturb), or, for Delta = 0, a random network
// (RandomInit).
type Init struct{ Delta float64 }

// String renders the start as ParseInit reads it: "0.05" or "random".
func (i Init) String() string {
	if i.Delta == 0 {
		return "random"
	}
	return strconv.FormatFloat(i.Delta, 'g', -1, 64)
}

// ParseInit reads a relative perturbation of the teacher ("0.05") or
// "random".
func ParseInit(s string) (Init, error) {
	if s == "random" {
		return Init{}, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v > 0) || math.IsInf(v, 0) {
		return Init{}, fmt.Errorf("%w: start %q, want a positive perturbation such as 0.05, or random", ErrExperiment, s)
	}
	return Init{Delta: v}, nil
}

// ParseSchedule reads a schedule name.
func ParseSchedule(s string) (Schedule, error) {
	switch Schedule(s) {
	case Sequential, Simultaneous, Joint:
		return Schedule(s), nil
	}
	return "", fmt.Errorf("%w: schedule %q, want joint, sequential or simultaneous", ErrExperiment, s)
}

// ExperimentConfig configures Experiment: every case, schedule, start and
// trial, trial t using teacher seed Seed+t and the start drawn from the
// same seed.
type ExperimentConfig struct {
	Cases      []Case
	Schedules  []Schedule // for cases without their own
	Inits      []Init     // for cases without their own
	Trials     int        // trials (teachers) per case, schedule and start
	Seed       uint64     // seed of trial 0
	Test       int        // held-out rows for the test error
	Partitions int        // P, partitions of the training rows, reduced in order
	MaxIters   int        // outer-iteration budget of every run
	// Threshold is the success criterion: the relative prediction error
	// ||f(X_test) - y_test|| / ||y_test|| at the end is at most Threshold.
	Threshold float64
	Signs     string      // output signs of the teachers: alternate or ones
	Parallel  int         // runs at once; 0 means GOMAXPROCS
	Log       *zap.Logger // progress, one line per run; nil: none
}

// DefaultExperiment returns the measurement reported in docs/DEEP.md.
func DefaultExperiment() ExperimentConfig {
	inits := []Init{{0.05}, {0.1}, {0.3}, {0}}
	joint := []Schedule{Joint}
	return ExperimentConfig{
		Cases: []Case{
			{Dims: []int{10, 4, 2}, N: 10000, Schedules: []Schedule{Joint, Sequential, Simultaneous}},
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
		Schedules: []Schedule{Joint, Sequential}, Inits: inits,
		Trials: 10, Seed: 1, Test: 2000, Partitions: 8, MaxIters: 100, Threshold: 1e-8, Signs: "alternate",
	}
}

// QuickExperiment is a run of seconds for CI: one small case, two starts,
// two trials.
func QuickExperiment() ExperimentConfig {
	c := DefaultExperiment()
	c.Cases = []Case{{Dims: []int{8, 4, 2}, N: 3000}}
	c.Inits = []Init{{0.05}, {0}}
	c.Trials, c.Test, c.MaxIters, c.Partitions = 2, 500, 40, 4
	return c
}

// Validate checks the configuration.
func (c ExperimentConfig) Validate() error {
	if len(c.Cases) == 0 {
		return fmt.Errorf("%w: no cases", ErrExperiment)
	}
	for _, cs := range c.Cases {
		if len(cs.Dims) < 2 || cs.N < 1 {
			return fmt.Errorf("%w: case %v", ErrExperiment, cs)
		}
		for _, v := range cs.Dims {
			if v < 1 {
				return fmt.Errorf("%w: case %v has a width < 1", ErrExperiment, cs)
			}
		}
		if len(c.schedules(cs)) == 0 || len(c.inits(cs)) == 0 {
			return fmt.Errorf("%w: case %v has no schedule or no start", ErrExperiment, cs)
		}
		for _, s := range c.schedules(cs) {
			if _, err := ParseSchedule(string(s)); err != nil {
				return err
			}
		}
		for _, in := range c.inits(cs) {
			if !(in.Delta >= 0) || math.IsInf(in.Delta, 0) {
				return fmt.Errorf("%w: start delta %v", ErrExperiment, in.Delta)
			}
		}
	}
	switch {
	case c.Trials < 1:
		return fmt.Errorf("%w: trials = %d, need >= 1", ErrExperiment, c.Trials)
	case c.Test < 1:
		return fmt.Errorf("%w: test = %d, need >= 1", ErrExperiment, c.Test)
	case c.Partitions < 1:
		return fmt.Errorf("%w: partitions = %d, need >= 1", ErrExperiment, c.Partitions)
	case c.MaxIters < 1:
		return fmt.Errorf("%w: iters = %d, need >= 1", ErrExperiment, c.MaxIters)
	case !(c.Threshold > 0):
		return fmt.Errorf("%w: threshold = %v, need > 0", ErrExperiment, c.Threshold)
	case c.Signs != "alternate" && c.Signs != "ones":
		return fmt.Errorf("%w: signs %q, want alternate or ones", ErrExperiment, c.Signs)
	case c.Parallel < 0:
		return fmt.Errorf("%w: parallel = %d, need >= 0", ErrExperiment, c.Parallel)
	}
	return nil
}

func (c ExperimentConfig) schedules(cs Case) []Schedule {
	if len(cs.Schedules) > 0 {
		return cs.Schedules
	}
	return c.Schedules
}

func (c ExperimentConfig) inits(cs Case) []Init {
	if len(cs.Inits) > 0 {
		return cs.Inits
	}
	return c.Inits
}

// StepRecord is one step of one run, as written to deep.csv.
type StepRecord struct {
	Report
	TestErr   float64 // relative prediction error on the held-out rows
	WeightErr float64 // WeightErr against the teacher
}

// Run is one training run of an experiment.
type Run struct {
	Case     int // index in Cases
	Schedule Schedule
	Init     Init
	Seed     uint64
	Steps    []StepRecord
	Success  bool // final TestErr <= Threshold
	// SuccessIter and SuccessPass are the number of outer iterations
	// (counting a partly done one as done) and of solves (data passes)
	// after which TestErr <= Threshold for the rest of the run; -1 without
	// success.
	SuccessIter, SuccessPass int
	Err                      string // a solve error, when the run failed with one
}

// Final returns the last step.
func (r *Run) Final() StepRecord { return r.Steps[len(r.Steps)-1] }

// ExperimentResult holds every run in a fixed order: by case, schedule,
// start and trial.
type ExperimentResult struct {
	Config ExperimentConfig
	Runs   []Run
}

// Experiment runs cfg in process (teachers, partitions, core and in-process
// trainer; not over gRPC) and writes outDir/deep.csv (one row per step of
// every run) and outDir/deep.md (success rates, per-iteration medians and
// failures). The output depends only on cfg, not on Parallel or timing.
func Experiment(ctx context.Context, cfg ExperimentConfig, outDir string) error {
	res, err := RunExperiment(ctx, cfg)
	if err != nil {
		return err
	}
	return res.Write(outDir)
}

// RunExperiment runs every case, schedule, start and trial of cfg.
func RunExperiment(ctx context.Context, cfg ExperimentConfig) (*ExperimentResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	res := &ExperimentResult{Config: cfg}
	for ci, cs := range cfg.Cases {
		for _, s := range cfg.schedules(cs) {
			for _, in := range cfg.inits(cs) {
				for t := 0; t < cfg.Trials; t++ {
					res.Runs = append(res.Runs, Run{Case: ci, Schedule: s, Init: in, Seed: cfg.Seed + uint64(t)})
				}
			}
		}
	}
	par := cfg.Parallel
	if par == 0 {
		par = runtime.GOMAXPROCS(0)
	}
	jobs := make(chan int)
	errs := make([]error, len(res.Runs))
	var wg sync.WaitGroup
	for w := 0; w < par; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				r := &res.Runs[i]
				errs[i] = runOne(ctx, cfg, r)
				if errs[i] == nil {
					f := r.Final()
					log.Info("deep run", zap.String("case", cfg.Cases[r.Case].String()), zap.String("schedule", string(r.Schedule)),
						zap.String("init", r.Init.String()), zap.Uint64("seed", r.Seed), zap.Int("iters", f.Iter),
						zap.String("stop", string(f.Stop)), zap.Float64("test_err", f.TestErr), zap.String("err", r.Err))
				}
			}
		}()
	}
	for i := range res.Runs {
		if ctx.Err() != nil {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return res, nil
}

// runOne trains one run and records its steps. A failed solve ends the
// run and is recorded in r.Err; other errors are returned.
func runOne(ctx context.Context, cfg ExperimentConfig, r *Run) error {
	cs := cfg.Cases[r.Case]
	tch, err := data.NewDeepTeacher(cs.N, cs.Dims, r.Seed, cfg.Signs)
	if err != nil {
		return err
	}
	parts, err := LoadPartitions(tch, cfg.Partitions)
	if err != nil {
		return err
	}
	test, err := LoadPartitions(tch.HeldOut(cfg.Test), 1)
	if err != nil {
		return err
	}
	truth := tch.Net()
	init := data.RandomNet(truth, r.Seed)
	if r.Init.Delta > 0 {
		init = data.PerturbNet(truth, r.Init.Delta, r.Seed)
	}
	core, err := NewCore(Config{Schedule: r.Schedule, Partitions: cfg.Partitions, MaxIters: cfg.MaxIters,
		Tol: DefaultConfig().Tol, FitTol: DefaultConfig().FitTol}, init)
	if err != nil {
		return err
	}
	r.SuccessIter, r.SuccessPass = -1, -1
	tr := &Trainer{Core: core, Parts: parts, OnReport: func(rep Report) error {
		s := StepRecord{Report: rep, TestErr: model.PredErr(rep.Net, test[0].X, test[0].Y), WeightErr: model.WeightErr(rep.Net, truth)}
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
	}}
	if _, err := tr.Run(ctx); err != nil {
		if !errors.Is(err, linalg.ErrSolve) || len(r.Steps) == 0 {
			return err
		}
		r.Err = err.Error()
	}
	r.Success = r.Final().TestErr <= cfg.Threshold
	return nil
}
