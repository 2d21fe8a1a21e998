package experiment

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"gonum.org/v1/plot/plotter"

	"altmin/coordinator"
)

// CurveConfig configures the loss-against-iteration experiment of the ISIT
// 2019 paper (Fig. 1b): one planted skip-model problem, the training loss,
// the loss on held-out samples and the relative error of every iterate of
// AM and GD from the same start.
type CurveConfig struct {
	D          int                  // input dimension, k = d; the paper: 20
	WNorm      float64              // ||W*||_F; the paper: 2
	N          int                  // training samples; the paper: 1700
	Test       int                  // held-out samples from the same teacher; the paper: 500
	Methods    []coordinator.Method // AM and/or GD
	Init       string               // start, as job's --init; the paper: identity
	AMIters    int                  // AM iteration budget (AM also stops at a fixed point)
	GDIters    int                  // GD iteration budget
	Step       float64              // GD step; 0: the papers' rule, recomputed every iteration
	Tol        float64              // coordinator.ShallowConfig.Tol; 0 (the default) runs GD to its budget
	Partitions int                  // partitions of the data, reduced in order
	Seed       uint64               // base seed
	Trial      int                  // the trial whose seeds are used: DataSeed(Seed, Trial), InitSeed(Seed, Trial)
	Parallel   int                  // methods run at once; 0: GOMAXPROCS
}

// DefaultCurve returns the paper's setting: d = 20, n = 1700, 500 test
// samples, identity start, 20 AM and 1000 GD iterations.
func DefaultCurve() CurveConfig {
	return CurveConfig{D: 20, WNorm: 2, N: 1700, Test: 500,
		Methods: []coordinator.Method{coordinator.AM, coordinator.GD}, Init: "identity",
		AMIters: 20, GDIters: 1000, Partitions: coordinator.DefaultPartitions, Seed: 1}
}

// QuickCurve is DefaultCurve shrunk to run in seconds: d = 10, n = 425
// (4.25 samples per unknown, as 1700 for d = 20), 125 test samples, 300 GD
// iterations.
func QuickCurve() CurveConfig {
	c := DefaultCurve()
	c.D, c.N, c.Test = 10, 425, 125
	c.GDIters = 300
	return c
}

// Validate checks the configuration.
func (c CurveConfig) Validate() error {
	if err := validateCommon(1, c.Partitions, c.Parallel, c.Tol, 1); err != nil {
		return err
	}
	switch {
	case c.D < 1 || c.N < 1 || c.Test < 1:
		return fmt.Errorf("%w: d = %d, n = %d, test = %d, need each >= 1", ErrConfig, c.D, c.N, c.Test)
	case !(c.WNorm > 0) || math.IsInf(c.WNorm, 0):
		return fmt.Errorf("%w: wnorm = %v, need a positive finite value", ErrConfig, c.WNorm)
	case c.AMIters < 0 || c.GDIters < 0:
		return fmt.Errorf("%w: iteration budgets %d (AM), %d (GD), need >= 0", ErrConfig, c.AMIters, c.GDIters)
	case !(c.Step >= 0) || math.IsInf(c.Step, 0):
		return fmt.Errorf("%w: step = %v, need a finite value >= 0", ErrConfig, c.Step)
	case c.Trial < 0:
		return fmt.Errorf("%w: trial = %d, need >= 0", ErrConfig, c.Trial)
	}
	if err := validateMethods(c.Methods); err != nil {
		return err
	}
	return validateInits([]string{c.Init})
}

// CurveRun is one method's trajectory.
type CurveRun struct {
	Method coordinator.Method
	Outcome
}

// CurveResult is the result of the loss-curve experiment.
type CurveResult struct {
	Config             CurveConfig
	DataSeed, InitSeed uint64
	Runs               []CurveRun // in the configured method order
}

// RunCurve runs the experiment, writing one progress line per method to
// progress (which may be nil).
func RunCurve(ctx context.Context, cfg CurveConfig, progress io.Writer) (*CurveResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	res := &CurveResult{Config: cfg, DataSeed: DataSeed(cfg.Seed, cfg.Trial), InitSeed: InitSeed(cfg.Seed, cfg.Trial),
		Runs: make([]CurveRun, len(cfg.Methods))}
	pw := &syncWriter{w: progress}
	err := forEach(ctx, parallelism(cfg.Parallel), len(cfg.Methods), func(ctx context.Context, i int) error {
		m := cfg.Methods[i]
		tr := Trial{
			Synthetic: fmt.Sprintf("model=resnet,d=%d,n=%d,seed=%d,wnorm=%s", cfg.D, cfg.N+cfg.Test, res.DataSeed, ftoa(cfg.WNorm)),
			Test:      cfg.Test, Init: cfg.Init, InitSeed: res.InitSeed, Method: m,
			Iters: cfg.AMIters, Tol: cfg.Tol, Step: cfg.Step, Partitions: cfg.Partitions, Trace: true,
		}
		if m == coordinator.GD {
			tr.Iters = cfg.GDIters
		}
		start := time.Now()
		out, err := RunTrial(ctx, tr)
		if err != nil {
			return fmt.Errorf("experiment: curve %s: %w", m, err)
		}
		res.Runs[i] = CurveRun{Method: m, Outcome: out}
		pw.printf("curve %s: %d iterations (%s), train loss %.3e, test loss %.3e, rel_err %.3e, %.1fs\n", m, out.Final.Iter,
			out.Stop, out.Final.TrainLoss, out.Final.TestLoss, out.Final.RelErr, time.Since(start).Seconds())
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// Write writes curve.csv (method,iter,train_loss,test_loss,rel_err),
// curve.md, curve.png (log10 of the losses against iteration) and
// curve_zoom.png (the first iterations) into dir.
func (r *CurveResult) Write(dir string) error {
	var rows [][]string
	for _, run := range r.Runs {
		for _, p := range run.Trace {
			rows = append(rows, []string{string(run.Method), itoa(p.Iter), ftoa(p.TrainLoss), ftoa(p.TestLoss), ftoa(p.RelErr)})
		}
	}
	if err := writeCSV(dir, "curve.csv", []string{"method", "iter", "train_loss", "test_loss", "rel_err"}, rows); err != nil {
		return err
	}
	if err := writeFile(dir, "curve.md", []byte(r.markdown())); err != nil {
		return err
	}
	last := 0
	for _, run := range r.Runs {
		last = max(last, run.Final.Iter)
	}
	if err := r.plot(dir, "curve.png", last); err != nil {
		return err
	}
	return r.plot(dir, "curve_zoom.png", min(last, 30))
}

// lossAt returns the training loss of the iterate at iter; past a stop at
// an AM fixed point it is the fixed point's (the iterates no longer change).
func lossAt(run CurveRun, iter int) (float64, bool) {
	for _, p := range run.Trace {
		if p.Iter == iter {
			return p.TrainLoss, true
		}
	}
	if run.Stop == string(coordinator.FixedPoint) && iter > run.Final.Iter {
		return run.Final.TrainLoss, true
	}
	return 0, false
}

// firstBelow returns the first iteration whose training loss is at most v.
func firstBelow(run CurveRun, v float64) (int, bool) {
	for _, p := range run.Trace {
		if p.TrainLoss <= v {
			return p.Iter, true
		}
	}
	return 0, false
}

func (r *CurveResult) run(m coordinator.Method) (CurveRun, bool) {
	for _, run := range r.Runs {
		if run.Method == m {
			return run, true
		}
	}
	return CurveRun{}, false
}

func (r *CurveResult) markdown() string {
	c := r.Config
	var b strings.Builder
	fmt.Fprintf(&b, "# Loss against iteration: skip model, d = %d, n = %d\n\n", c.D, c.N)
	step := "the papers' rule 2/(s_min^2 + s_max^2) of B/sqrt(n), recomputed every iteration"
	if c.Step > 0 {
		step = ftoa(c.Step)
	}
	fmt.Fprintf(&b, "One planted problem: data seed %d, start %s (seed %d), ||W*||_F = %s, %d training and %d held-out samples "+
		"of the same teacher. Loss L = (1/2n) ||f(X) - y||^2. AM: at most %d iterations (it stops at a fixed point of the "+
		"activation patterns); GD: %d iterations, step %s. %d partitions.\n\n",
		r.DataSeed, c.Init, r.InitSeed, ftoa(c.WNorm), c.N, c.Test, c.AMIters, c.GDIters, step, c.Partitions)

	am, okAM := r.run(coordinator.AM)
	gd, okGD := r.run(coordinator.GD)
	if okAM && okGD {
		b.WriteString("## Comparison with the paper\n\n")
		amStop := fmt.Sprintf("AM stopped at iteration %d (%s).", am.Final.Iter, am.Stop)
		if am.Stop == string(coordinator.FixedPoint) {
			amStop += " At a fixed point the next least-squares solve returns the same weights, so AM's loss at any later iteration is its final loss."
		}
		b.WriteString(amStop + "\n\n")
		if v, ok := lossAt(am, 10); ok {
			fmt.Fprintf(&b, "- AM's training loss at iteration 10: %s (log10 %.1f, ln %.1f). The paper: log L about -19.\n", sci(v), math.Log10(v), math.Log(v))
			if it, ok := firstBelow(gd, v); ok {
				fmt.Fprintf(&b, "- GD first reaches it at iteration %d.\n", it)
			} else {
				fmt.Fprintf(&b, "- GD does not reach it within %d iterations.\n", gd.Final.Iter)
			}
		}
		if v, ok := lossAt(gd, 10); ok {
			fmt.Fprintf(&b, "- GD's training loss at iteration 10: %s (log10 %.1f, ln %.1f).\n", sci(v), math.Log10(v), math.Log(v))
		}
		g := gd.Final
		fmt.Fprintf(&b, "- GD's training loss at its last iteration, %d: %s (log10 %.1f, ln %.1f). The paper: about -7.5.\n",
			g.Iter, sci(g.TrainLoss), math.Log10(g.TrainLoss), math.Log(g.TrainLoss))
		if it, ok := firstBelow(am, g.TrainLoss); ok {
			fmt.Fprintf(&b, "- AM first reaches GD's iteration-%d training loss at iteration %d. The paper: about 10.\n", g.Iter, it)
		} else {
			fmt.Fprintf(&b, "- AM does not reach GD's iteration-%d training loss.\n", g.Iter)
		}
		b.WriteString("\n")
	}

	b.WriteString("## Trajectories\n\n")
	iters := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20, 50, 100, 200, 300, 500, 700, 1000}
	header := []string{"iteration"}
	for _, run := range r.Runs {
		m := strings.ToUpper(string(run.Method))
		header = append(header, m+" train loss", m+" log10", m+" ln", m+" test loss", m+" rel. error")
	}
	var rows [][]string
	for _, it := range iters {
		row := []string{itoa(it)}
		any := false
		for _, run := range r.Runs {
			p, ok := pointAt(run, it)
			if !ok {
				row = append(row, "", "", "", "", "")
				continue
			}
			any = true
			row = append(row, sci(p.TrainLoss), fmt.Sprintf("%.1f", math.Log10(p.TrainLoss)), fmt.Sprintf("%.1f", math.Log(p.TrainLoss)),
				sci(p.TestLoss), sci(p.RelErr))
		}
		if any {
			rows = append(rows, row)
		}
	}
	b.WriteString(mdTable(header, rows))
	b.WriteString("\nEmpty cells: the method had stopped. Every iterate is in curve.csv.\n")
	return b.String()
}

func pointAt(run CurveRun, iter int) (Point, bool) {
	for _, p := range run.Trace {
		if p.Iter == iter {
			return p, true
		}
	}
	return Point{}, false
}

// floorLog is the value plotted for a zero loss.
const floorLog = -35

func log10Floor(v float64) float64 {
	if v <= 0 {
		return floorLog
	}
	return math.Max(math.Log10(v), floorLog)
}

func (r *CurveResult) plot(dir, name string, last int) error {
	var ss []series
	for ci, run := range r.Runs {
		var train, test plotter.XYs
		for _, p := range run.Trace {
			if p.Iter > last {
				break
			}
			train = append(train, plotter.XY{X: float64(p.Iter), Y: log10Floor(p.TrainLoss)})
			test = append(test, plotter.XY{X: float64(p.Iter), Y: log10Floor(p.TestLoss)})
		}
		m := strings.ToUpper(string(run.Method))
		pts := len(train) <= 60
		ss = append(ss, series{name: m + " train", ci: ci, xy: train, line: true, points: pts},
			series{name: m + " test", ci: ci, xy: test, line: true, dashed: true})
	}
	c := r.Config
	title := fmt.Sprintf("Skip model, d = %d, n = %d (%d test), %s start", c.D, c.N, c.Test, c.Init)
	return savePNG(dir, name, plotSpec{title: title, xlabel: "iteration", ylabel: "log10 loss (1/2n ||f(X) - y||^2)",
		legendBottom: true, yTickStep: 5}, ss)
}
