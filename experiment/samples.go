package experiment

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"altmin/coordinator"
)

// SamplesConfig configures the sample-complexity experiment (ours; the
// arXiv paper states n = O~(d k^2) without an experiment): for the
// 1-hidden-layer model y = sum_q v_q relu(w_q . x) and every (d, k) of a
// grid, the smallest n of a geometric grid at which AM recovers the teacher
// in at least Rate of the trials.
//
// The grid of a cell starts at n = d k (as many samples as unknowns; below
// it the least-squares problem is underdetermined) and grows by a factor
// 2^(1/PerOctave) up to MaxRatio d k. The scan stops at the first n whose
// success rate reaches Rate; that n is n_min. Success rates need not be
// monotone in n, so n_min is the first crossing, not the last.
//
// The start matters. The theory is local: it needs ||W0 - W*||_F <= delta
// ||W*||_F, which the papers get from a tensor initialization. The default,
// perturb:0.5, draws W0 = W* + 0.5 ||W*||_F E/||E||_F with E Gaussian, so
// n_min measures the samples AM needs to converge from such a start. From a
// random start, AM also has to find the basin; for k >= 4 a fraction of the
// runs never settles (the activation patterns keep changing), whatever n.
type SamplesConfig struct {
	D         []int   // input dimensions
	K         []int   // hidden neurons
	Signs     string  // output signs: ones or alternate; the papers' experiments: ones
	Init      string  // start, as job's --init: random or perturb:DELTA
	PerOctave int     // grid points per doubling of n
	MaxRatio  float64 // largest n tried is MaxRatio d k
	Trials    int     // trials per point
	Rate      float64 // required success rate, in (0, 1]
	Iters     int     // AM iteration budget
	// Threshold: a trial succeeds when the relative error up to a
	// sign-preserving permutation of the neurons (model.Spec.RelErr),
	// ||W_T - P W*||_F / ||W*||_F, is at most Threshold.
	Threshold  float64
	Tol        float64 // coordinator.ShallowConfig.Tol
	Partitions int     // partitions of the data, reduced in order
	Seed       uint64  // base seed
	Parallel   int     // trials run at once; 0: GOMAXPROCS
}

// DefaultSamples returns d in {10, 20, 40}, k in {1, 2, 4, 8}, start
// perturb:0.5, all-ones signs, 4 grid points per octave up to 16 d k, 10
// trials, 90% success at relative error 1e-8, 100 AM iterations.
func DefaultSamples() SamplesConfig {
	return SamplesConfig{D: []int{10, 20, 40}, K: []int{1, 2, 4, 8}, Signs: "ones", Init: "perturb:0.5",
		PerOctave: 4, MaxRatio: 16, Trials: 10, Rate: 0.9, Iters: 100, Threshold: 1e-8, Tol: 1e-12,
		Partitions: coordinator.DefaultPartitions, Seed: 1}
}

// QuickSamples is DefaultSamples on d in {5, 10}, k in {1, 2, 4}, with 2
// grid points per octave and 5 trials.
func QuickSamples() SamplesConfig {
	c := DefaultSamples()
	c.D, c.K = []int{5, 10}, []int{1, 2, 4}
	c.PerOctave, c.Trials = 2, 5
	return c
}

// Validate checks the configuration.
func (c SamplesConfig) Validate() error {
	if err := validateCommon(c.Trials, c.Partitions, c.Parallel, c.Tol, c.Threshold); err != nil {
		return err
	}
	switch {
	case len(c.D) == 0 || len(c.K) == 0:
		return fmt.Errorf("%w: empty d or k grid", ErrConfig)
	case c.Signs != "ones" && c.Signs != "alternate":
		return fmt.Errorf("%w: signs %q, want ones or alternate", ErrConfig, c.Signs)
	case c.PerOctave < 1:
		return fmt.Errorf("%w: %d grid points per octave, need >= 1", ErrConfig, c.PerOctave)
	case !(c.MaxRatio >= 1) || math.IsInf(c.MaxRatio, 0):
		return fmt.Errorf("%w: max-ratio = %v, need a finite value >= 1", ErrConfig, c.MaxRatio)
	case !(c.Rate > 0 && c.Rate <= 1):
		return fmt.Errorf("%w: rate = %v, need 0 < rate <= 1", ErrConfig, c.Rate)
	case c.Iters < 0:
		return fmt.Errorf("%w: iters = %d, need >= 0", ErrConfig, c.Iters)
	case c.Init == "identity":
		return fmt.Errorf("%w: start identity is for the skip model; want random or perturb:DELTA", ErrConfig)
	}
	for _, v := range append(slices.Clone(c.D), c.K...) {
		if v < 1 {
			return fmt.Errorf("%w: d and k must be >= 1, got %d", ErrConfig, v)
		}
	}
	return validateInits([]string{c.Init})
}

// Grid returns the sample sizes tried for (d, k), ascending.
func (c SamplesConfig) Grid(d, k int) []int {
	var ns []int
	hi := c.MaxRatio * float64(d*k)
	for j := 0; ; j++ {
		n := int(math.Ceil(float64(d*k)*math.Pow(2, float64(j)/float64(c.PerOctave)) - 1e-9))
		if float64(n) > hi {
			break
		}
		if len(ns) == 0 || n > ns[len(ns)-1] {
			ns = append(ns, n)
		}
	}
	return ns
}

// SamplesPoint is the success count at one n.
type SamplesPoint struct {
	D, K, N   int
	Trials    int
	Successes int
}

// SamplesRow is the result for one (d, k).
type SamplesRow struct {
	D, K   int
	NMin   int // smallest n reaching the rate; 0 if none on the grid
	Trials int
	Points []SamplesPoint // every n tried, ascending
}

// SamplesResult is the result of the sample-complexity experiment.
type SamplesResult struct {
	Config SamplesConfig
	Rows   []SamplesRow  // d-major, then k, in the configured orders
	Trials []SampleTrial // every trial run, by row, n, trial
}

// SampleTrial is one trial of the sample-complexity experiment.
type SampleTrial struct {
	D, K int
	TrialRecord
}

// RunSamples runs the experiment. All cells advance through their grids in
// rounds; each round runs the next point of every unresolved cell, its
// trials in parallel.
func RunSamples(ctx context.Context, cfg SamplesConfig, progress io.Writer) (*SamplesResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	res := &SamplesResult{Config: cfg}
	grids := map[int][]int{}
	var active []int
	for _, d := range cfg.D {
		for _, k := range cfg.K {
			grids[len(res.Rows)] = cfg.Grid(d, k)
			active = append(active, len(res.Rows))
			res.Rows = append(res.Rows, SamplesRow{D: d, K: k, Trials: cfg.Trials})
		}
	}
	perRow := make([][]SampleTrial, len(res.Rows))
	pw := &syncWriter{w: progress}
	for round := 0; len(active) > 0; round++ {
		var batch []SampleTrial
		var live []int
		for _, ri := range active {
			if round >= len(grids[ri]) {
				continue // grid exhausted: n_min not reached
			}
			live = append(live, ri)
			row := res.Rows[ri]
			for t := range cfg.Trials {
				batch = append(batch, SampleTrial{D: row.D, K: row.K, TrialRecord: TrialRecord{Method: coordinator.AM,
					Init: cfg.Init, N: grids[ri][round], Trial: t, DataSeed: DataSeed(cfg.Seed, t), InitSeed: InitSeed(cfg.Seed, t)}})
			}
		}
		start := time.Now()
		err := forEach(ctx, parallelism(cfg.Parallel), len(batch), func(ctx context.Context, i int) error {
			s := &batch[i]
			tr := Trial{
				Synthetic: fmt.Sprintf("model=sum,d=%d,k=%d,n=%d,seed=%d,signs=%s", s.D, s.K, s.N, s.DataSeed, cfg.Signs),
				Init:      s.Init, InitSeed: s.InitSeed, Method: coordinator.AM, Iters: cfg.Iters, Tol: cfg.Tol,
				Partitions: cfg.Partitions,
			}
			out, err := RunTrial(ctx, tr)
			if err != nil {
				return fmt.Errorf("experiment: samples d=%d k=%d n=%d trial %d: %w", s.D, s.K, s.N, s.Trial, err)
			}
			s.Outcome, s.Success = out, out.Final.RelErr <= cfg.Threshold
			return nil
		})
		if err != nil {
			return nil, err
		}
		active = active[:0]
		for j, ri := range live {
			row := &res.Rows[ri]
			pt := SamplesPoint{D: row.D, K: row.K, N: grids[ri][round], Trials: cfg.Trials}
			for _, s := range batch[j*cfg.Trials : (j+1)*cfg.Trials] {
				if s.Success {
					pt.Successes++
				}
			}
			perRow[ri] = append(perRow[ri], batch[j*cfg.Trials:(j+1)*cfg.Trials]...)
			row.Points = append(row.Points, pt)
			if float64(pt.Successes) >= cfg.Rate*float64(cfg.Trials)-1e-9 {
				row.NMin = pt.N
			} else {
				active = append(active, ri)
			}
			pw.printf("samples d=%-3d k=%-2d n=%-6d (n/dk %.2f, n/dk^2 %.2f): %d/%d\n", row.D, row.K, pt.N,
				float64(pt.N)/float64(row.D*row.K), float64(pt.N)/float64(row.D*row.K*row.K), pt.Successes, pt.Trials)
		}
		pw.printf("samples round %d: %d trials in %.1fs\n", round, len(batch), time.Since(start).Seconds())
	}
	for _, ts := range perRow {
		res.Trials = append(res.Trials, ts...)
	}
	return res, nil
}
