package experiment

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"altmin/coordinator"
)

// PhaseConfig configures the phase-transition experiment of the ISIT 2019
// paper (Fig. 1a): the skip model y = relu(X (W + I)) 1 with k = d, success
// rate over trials against the number of samples, for AM and GD from the
// identity and from a random start.
type PhaseConfig struct {
	D          int                  // input dimension, k = d; the paper: 20
	WNorm      float64              // ||W*||_F of the teacher; the paper: 2
	N          []int                // sample sizes
	Trials     int                  // trials per (method, start, n)
	Methods    []coordinator.Method // AM and/or GD
	Inits      []string             // starts, as job's --init: identity, random, perturb:DELTA
	AMIters    int                  // AM iteration budget T
	GDIters    int                  // GD iteration budget T
	Step       float64              // GD step; 0: the papers' rule, recomputed every iteration
	Threshold  float64              // success: ||W_T - W*||_F / ||W* + I||_F < Threshold; the paper: 0.01
	EarlyStop  bool                 // end a trial at its first successful iterate
	Tol        float64              // coordinator.ShallowConfig.Tol: stop when the relative weight change is below it; 0 never
	Partitions int                  // partitions of the data, reduced in order
	Seed       uint64               // base seed; trial t uses DataSeed(Seed, t) and InitSeed(Seed, t)
	Parallel   int                  // trials run at once; 0: GOMAXPROCS
}

// DefaultPhase returns the paper's setting: d = 20, ||W*||_F = 2,
// n in {200, 700, 1200, 1700}, 10 trials, AM and GD from identity and
// random starts, budgets of 50 AM and 1000 GD iterations, the papers' GD
// step rule, success below 1% relative error.
func DefaultPhase() PhaseConfig {
	return PhaseConfig{
		D: 20, WNorm: 2, N: []int{200, 700, 1200, 1700}, Trials: 10,
		Methods: []coordinator.Method{coordinator.AM, coordinator.GD},
		Inits:   []string{"identity", "random"},
		AMIters: 50, GDIters: 1000, Threshold: 0.01, EarlyStop: true, Tol: 1e-12,
		Partitions: coordinator.DefaultPartitions, Seed: 1,
	}
}

// QuickPhase is DefaultPhase shrunk to run in seconds: d = 10 (100
// unknowns) with n in {50, 425}, the paper's smallest and largest n scaled
// by the number of unknowns (n/d^2 = 0.5 and 4.25), 3 trials, at most 400
// GD iterations. It still checks both ends of the transition: nobody
// recovers from fewer samples than unknowns, AM always recovers from 4.25
// times as many.
func QuickPhase() PhaseConfig {
	c := DefaultPhase()
	c.D, c.N = 10, []int{50, 425}
	c.Trials = 3
	c.AMIters, c.GDIters = 30, 400
	return c
}

// Validate checks the configuration.
func (c PhaseConfig) Validate() error {
	if err := validateCommon(c.Trials, c.Partitions, c.Parallel, c.Tol, c.Threshold); err != nil {
		return err
	}
	switch {
	case c.D < 1:
		return fmt.Errorf("%w: d = %d, need d >= 1", ErrConfig, c.D)
	case !(c.WNorm > 0) || math.IsInf(c.WNorm, 0):
		return fmt.Errorf("%w: wnorm = %v, need a positive finite value", ErrConfig, c.WNorm)
	case len(c.N) == 0:
		return fmt.Errorf("%w: no sample sizes", ErrConfig)
	case c.AMIters < 0 || c.GDIters < 0:
		return fmt.Errorf("%w: iteration budgets %d (AM), %d (GD), need >= 0", ErrConfig, c.AMIters, c.GDIters)
	case !(c.Step >= 0) || math.IsInf(c.Step, 0):
		return fmt.Errorf("%w: step = %v, need a finite value >= 0", ErrConfig, c.Step)
	}
	for _, n := range c.N {
		if n < 1 {
			return fmt.Errorf("%w: sample size %d, need >= 1", ErrConfig, n)
		}
	}
	if err := validateMethods(c.Methods); err != nil {
		return err
	}
	return validateInits(c.Inits)
}

func validateCommon(trials, partitions, parallel int, tol, threshold float64) error {
	switch {
	case trials < 1:
		return fmt.Errorf("%w: trials = %d, need >= 1", ErrConfig, trials)
	case partitions < 1:
		return fmt.Errorf("%w: partitions = %d, need >= 1", ErrConfig, partitions)
	case parallel < 0:
		return fmt.Errorf("%w: parallel = %d, need >= 0", ErrConfig, parallel)
	case !(tol >= 0) || math.IsInf(tol, 0):
		return fmt.Errorf("%w: tol = %v, need a finite value >= 0", ErrConfig, tol)
	case !(threshold > 0) || math.IsInf(threshold, 0):
		return fmt.Errorf("%w: success threshold = %v, need a positive finite value", ErrConfig, threshold)
	}
	return nil
}

func validateMethods(ms []coordinator.Method) error {
	if len(ms) == 0 {
		return fmt.Errorf("%w: no methods", ErrConfig)
	}
	for i, m := range ms {
		if m != coordinator.AM && m != coordinator.GD {
			return fmt.Errorf("%w: method %q, want am or gd", ErrConfig, m)
		}
		if slices.Contains(ms[:i], m) {
			return fmt.Errorf("%w: method %q given twice", ErrConfig, m)
		}
	}
	return nil
}

func validateInits(inits []string) error {
	if len(inits) == 0 {
		return fmt.Errorf("%w: no starts", ErrConfig)
	}
	for i, s := range inits {
		if s != "identity" && s != "random" && s != "tensor" && !strings.HasPrefix(s, "perturb:") {
			return fmt.Errorf("%w: start %q, want identity, random, perturb:DELTA or tensor", ErrConfig, s)
		}
		if slices.Contains(inits[:i], s) {
			return fmt.Errorf("%w: start %q given twice", ErrConfig, s)
		}
	}
	return nil
}

func parallelism(p int) int {
	if p > 0 {
		return p
	}
	return runtime.GOMAXPROCS(0)
}

// PhaseRow is one point of the phase transition.
type PhaseRow struct {
	Method    coordinator.Method
	Init      string
	N         int
	Trials    int
	Successes int
}

// TrialRecord is the outcome of one trial of an experiment.
type TrialRecord struct {
	Method   coordinator.Method
	Init     string
	N        int
	Trial    int
	DataSeed uint64
	InitSeed uint64
	Outcome
	Success bool
}

// PhaseResult is the result of the phase-transition experiment.
type PhaseResult struct {
	Config PhaseConfig
	Rows   []PhaseRow    // method-major, then start, then n, in the configured orders
	Trials []TrialRecord // Rows' order, trials ascending
}

// RunPhase runs the experiment, writing one progress line per trial to
// progress (which may be nil).
func RunPhase(ctx context.Context, cfg PhaseConfig, progress io.Writer) (*PhaseResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	res := &PhaseResult{Config: cfg}
	for _, m := range cfg.Methods {
		for _, init := range cfg.Inits {
			for _, n := range cfg.N {
				res.Rows = append(res.Rows, PhaseRow{Method: m, Init: init, N: n, Trials: cfg.Trials})
				for t := range cfg.Trials {
					res.Trials = append(res.Trials, TrialRecord{Method: m, Init: init, N: n, Trial: t,
						DataSeed: DataSeed(cfg.Seed, t), InitSeed: InitSeed(cfg.Seed, t)})
				}
			}
		}
	}
	// Start the expensive trials first (GD, large n) so that the cheap
	// ones fill in at the end; the results do not depend on the order.
	order := make([]int, len(res.Trials))
	for i := range order {
		order[i] = i
	}
	cost := func(r TrialRecord) float64 {
		it := cfg.AMIters
		if r.Method == coordinator.GD {
			it = cfg.GDIters
		}
		return float64(it) * float64(r.N+cfg.D*cfg.D*cfg.D/4)
	}
	slices.SortStableFunc(order, func(a, b int) int { return -cmp.Compare(cost(res.Trials[a]), cost(res.Trials[b])) })
	pw := &syncWriter{w: progress}
	var done atomic.Int64
	err := forEach(ctx, parallelism(cfg.Parallel), len(order), func(ctx context.Context, i int) error {
		r := &res.Trials[order[i]]
		start := time.Now()
		out, err := RunTrial(ctx, phaseTrial(cfg, r))
		if err != nil {
			return fmt.Errorf("experiment: phase %s %s n=%d trial %d: %w", r.Method, r.Init, r.N, r.Trial, err)
		}
		r.Outcome, r.Success = out, out.Final.RelErr < cfg.Threshold
		pw.printf("phase [%d/%d] %s %-8s n=%-5d trial %-2d %-7s rel_err %.2e iter %-4d %-15s %.1fs\n",
			done.Add(1), len(order), r.Method, r.Init, r.N, r.Trial, successWord(r.Success),
			out.Final.RelErr, out.Final.Iter, out.Stop, time.Since(start).Seconds())
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range res.Rows {
		for _, r := range res.Trials[i*cfg.Trials : (i+1)*cfg.Trials] {
			if r.Success {
				res.Rows[i].Successes++
			}
		}
	}
	return res, nil
}

func phaseTrial(cfg PhaseConfig, r *TrialRecord) Trial {
	tr := Trial{
		Synthetic: fmt.Sprintf("model=resnet,d=%d,n=%d,seed=%d,wnorm=%s", cfg.D, r.N, r.DataSeed, ftoa(cfg.WNorm)),
		Init:      r.Init, InitSeed: r.InitSeed, Method: r.Method,
		Iters: cfg.AMIters, Tol: cfg.Tol, Step: cfg.Step, Partitions: cfg.Partitions,
	}
	if r.Method == coordinator.GD {
		tr.Iters = cfg.GDIters
	}
	if cfg.EarlyStop {
		tr.Target = cfg.Threshold
	}
	return tr
}

func successWord(ok bool) string {
	if ok {
		return "success"
	}
	return "fail"
}

// paperPhase returns the success rate the ISIT 2019 paper reports (Fig. 1a)
// for a method, start and n in the paper's setting (d = 20, ||W*||_F = 2),
// if it reports one.
func (c PhaseConfig) paperPhase(m coordinator.Method, init string, n int) (float64, bool) {
	if c.D != 20 || c.WNorm != 2 || (init != "identity" && init != "random") {
		return 0, false
	}
	switch n {
	case 200:
		return 0, true
	case 700:
		if m == coordinator.AM && init == "identity" {
			return 0.6, true
		}
		return 0, true
	case 1200, 1700:
		return 1, true
	}
	return 0, false
}

// Write writes phase.csv (method,init,n,trials,successes), phase_trials.csv
// (every trial with its seeds), phase.json (the configuration, which
// MergePhase reads), phase.md and phase.png into dir.
func (r *PhaseResult) Write(dir string) error {
	if err := r.writeConfig(dir); err != nil {
		return err
	}
	rows := make([][]string, len(r.Rows))
	for i, p := range r.Rows {
		rows[i] = []string{string(p.Method), p.Init, itoa(p.N), itoa(p.Trials), itoa(p.Successes)}
	}
	if err := writeCSV(dir, "phase.csv", []string{"method", "init", "n", "trials", "successes"}, rows); err != nil {
		return err
	}
	if err := writeTrials(dir, "phase_trials.csv", r.Trials); err != nil {
		return err
	}
	if err := writeFile(dir, "phase.md", []byte(r.markdown())); err != nil {
		return err
	}
	return r.plot(dir)
}

// writeTrials writes the per-trial records.
func writeTrials(dir, name string, trials []TrialRecord) error {
	rows := make([][]string, len(trials))
	for i, t := range trials {
		rows[i] = []string{string(t.Method), t.Init, itoa(t.N), itoa(t.Trial), utoa(t.DataSeed), utoa(t.InitSeed),
			itoa(t.Final.Iter), t.Stop, ftoa(t.Final.RelErr), ftoa(t.Final.TrainLoss), fmt.Sprint(t.Success)}
	}
	return writeCSV(dir, name, []string{"method", "init", "n", "trial", "data_seed", "init_seed",
		"iters", "stop", "rel_err", "train_loss", "success"}, rows)
}
