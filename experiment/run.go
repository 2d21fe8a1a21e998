package experiment

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"

	"altmin/coordinator"
	"altmin/data"
	"altmin/job"
	"altmin/linalg"
	"altmin/msg"
	"altmin/shard"
)

// ErrConfig is wrapped by every configuration error of this package.
var ErrConfig = errors.New("experiment: bad configuration")

// Trial is one training run on planted data through the distributed path.
type Trial struct {
	// Synthetic is the data.ParseSynthetic specification; its n counts the
	// training rows and the Test rows.
	Synthetic string
	// Test is the number of rows held out at the end of the data set to
	// evaluate a test loss; 0 means none. Rows are drawn per index, so the
	// first n-Test rows are the same whatever Test is.
	Test int
	// Init is the start, as job's --init: identity, random, perturb:DELTA
	// or tensor. The tensor start reads the moments of the whole data set,
	// so it is refused with Test rows (they would leak into the start).
	Init       string
	InitSeed   uint64 // seed of a random start, as job's --seed
	Method     coordinator.Method
	Iters      int     // iteration budget, coordinator.ShallowConfig.MaxIters
	Tol        float64 // coordinator.ShallowConfig.Tol; 0 disables
	Step       float64 // GD step, coordinator.ShallowConfig.Step; 0 is the papers' rule
	Partitions int     // P; the statistics of P partitions are reduced in order
	// Target, when positive, stops the run at the first iterate whose
	// relative error against the teacher is below Target (StopTarget).
	Target float64
	// Trace records every iterate's losses and relative error.
	Trace bool
}

// Stop reasons of a trial besides the coordinator's (fixed-point,
// tolerance, iteration-limit).
const (
	StopTarget   = "target"       // the relative error fell below Trial.Target
	StopDiverged = "diverged"     // the weights or the loss became non-finite
	StopSolve    = "solve-failed" // the normal equations could not be solved
)

// Point is the evaluation of one iterate.
type Point struct {
	Iter      int
	TrainLoss float64 // (1/2n) ||f(X; W_Iter) - y||^2 on the training rows
	TestLoss  float64 // the same on the test rows; NaN without a test set
	RelErr    float64 // model.Spec.RelErr of W_Iter against the teacher
}

// Outcome is the result of a trial.
type Outcome struct {
	Final Point  // the last iterate evaluated
	Stop  string // why the run stopped
	Trace []Point
	// Weights are the learned weights of the last iterate evaluated (k x d;
	// for the skip model W, without the identity).
	Weights []float64
}

var (
	errTarget   = errors.New("experiment: target reached")
	errDiverged = errors.New("experiment: diverged")
)

// prefix is the first n rows of a source.
type prefix struct {
	src data.Source
	n   int
}

func (p prefix) Info() data.Info {
	i := p.src.Info()
	i.N = p.n
	i.Desc = fmt.Sprintf("first %d rows of %s", p.n, i.Desc)
	return i
}

func (p prefix) Read(lo, hi int, x, y []float64) error {
	if hi > p.n {
		panic(fmt.Sprintf("experiment: row range [%d, %d) beyond the first %d rows", lo, hi, p.n))
	}
	return p.src.Read(lo, hi, x, y)
}

// RunTrial runs one trial to completion. Numerical outcomes (a failed
// solve, divergence) are a Stop reason, not an error; errors are for bad
// configurations, data errors and cancellation.
func RunTrial(ctx context.Context, tr Trial) (Outcome, error) {
	if tr.Init == "tensor" && tr.Test > 0 {
		return Outcome{}, fmt.Errorf("%w: the tensor start would see the %d test rows", ErrConfig, tr.Test)
	}
	o := job.DefaultOptions()
	o.Synthetic, o.Init, o.Seed, o.Partitions = tr.Synthetic, tr.Init, tr.InitSeed, tr.Partitions
	pr, err := job.Prepare(o)
	if err != nil {
		return Outcome{}, err
	}
	defer pr.Close()
	if pr.Teacher == nil {
		return Outcome{}, fmt.Errorf("%w: %q has no teacher", ErrConfig, tr.Synthetic)
	}
	spec, info := pr.Spec, pr.Source.Info()
	nTrain := info.N - tr.Test
	if tr.Test < 0 || nTrain < 1 {
		return Outcome{}, fmt.Errorf("%w: %d test rows of %d", ErrConfig, tr.Test, info.N)
	}
	train := prefix{pr.Source, nTrain}
	parts := make([]*shard.Partition, tr.Partitions)
	for p := range parts {
		if parts[p], err = shard.Load(train, tr.Partitions, p, spec.Bias); err != nil {
			return Outcome{}, err
		}
	}
	eng, err := shard.NewEngine(parts...)
	if err != nil {
		return Outcome{}, err
	}
	var testX, testY, pred []float64
	if tr.Test > 0 {
		testX, testY = make([]float64, tr.Test*info.D), make([]float64, tr.Test)
		if err := pr.Source.Read(nTrain, info.N, testX, testY); err != nil {
			return Outcome{}, err
		}
		pred = make([]float64, tr.Test)
	}
	cfg := coordinator.ShallowConfig{Method: tr.Method, Spec: spec, Partitions: tr.Partitions,
		MaxIters: tr.Iters, Tol: tr.Tol, Step: tr.Step}
	core, err := coordinator.NewShallow(cfg, spec.Effective(pr.Start.W[0]))
	if err != nil {
		return Outcome{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}

	var out Outcome
	// evaluate evaluates the effective weights U of a report (Net.W[0]).
	evaluate := func(r coordinator.Report) Point {
		w := spec.Learned(r.Net.W[0])
		out.Weights = w
		pt := Point{Iter: r.Iter, TrainLoss: r.Loss, TestLoss: math.NaN(), RelErr: spec.RelErr(w, pr.Teacher.W[0])}
		if tr.Test > 0 {
			spec.Predict(pred, testX, w)
			var s float64
			for i, v := range pred {
				r := v - testY[i]
				s += r * r
			}
			pt.TestLoss = s / (2 * float64(tr.Test))
		}
		return pt
	}
	drv := &coordinator.Driver{
		Core:    core,
		Fetcher: eng,
		// Trials run in parallel; within one, partitions are computed one
		// at a time (the result does not depend on it).
		Parallel: 1,
		OnReport: func(r coordinator.Report, _ coordinator.Timing) error {
			out.Final = evaluate(r)
			if tr.Trace {
				out.Trace = append(out.Trace, out.Final)
			}
			switch {
			case !finite(r.Net.W[0]) || (r.Next != nil && !finite(r.Next.W[0])) || math.IsNaN(r.Loss) || math.IsInf(r.Loss, 0):
				return errDiverged
			case tr.Target > 0 && out.Final.RelErr < tr.Target:
				return errTarget
			}
			return nil
		},
	}
	rep, err := drv.Run(ctx)
	switch {
	case err == nil:
		out.Stop = string(rep.Stop)
	case errors.Is(err, errTarget):
		out.Stop = StopTarget
	case errors.Is(err, errDiverged), errors.Is(err, msg.ErrInvalid), errors.Is(err, msg.ErrRequest):
		// Non-finite weights are refused by the shards, non-finite
		// statistics by the core: both mean the iteration blew up.
		out.Stop = StopDiverged
	case errors.Is(err, linalg.ErrSolve):
		// Advance failed after evaluating U_Iter, which its report holds.
		if rep.Net != nil {
			out.Final = evaluate(rep)
			if tr.Trace {
				out.Trace = append(out.Trace, out.Final)
			}
		}
		out.Stop = StopSolve
	default:
		return Outcome{}, err
	}
	return out, nil
}

func finite(v []float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// mix is SplitMix64's finalizer.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// DataSeed returns the data seed (teacher and rows) of trial t for the base
// seed. Different experiments with the same base seed use the same data for
// the same trial, so their results can be compared trial by trial.
func DataSeed(base uint64, t int) uint64 { return mix(mix(base) + 2*uint64(t)) }

// InitSeed returns the seed of the random start of trial t.
func InitSeed(base uint64, t int) uint64 { return mix(mix(base) + 2*uint64(t) + 1) }

// forEach calls f(ctx, i) for i in [0, n) on at most parallel goroutines.
// It returns the error of the smallest i that failed; after a failure no
// new call starts.
func forEach(ctx context.Context, parallel, n int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	parallel = max(1, min(parallel, n))
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range parallel {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(ctx, i); err != nil {
					errs[i] = err
					cancel()
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

// syncWriter serializes writes of progress lines from parallel trials.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) printf(format string, args ...any) {
	if s == nil || s.w == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.w, format, args...)
}

// Write writes p under the lock.
func (s *syncWriter) Write(p []byte) (int, error) {
	if s == nil || s.w == nil {
		return len(p), nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
