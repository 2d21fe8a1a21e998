package job

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"path/filepath"

	"go.uber.org/zap"

	"altmin/coordinator"
	"altmin/data"
	"altmin/shard"
)

// Version is the build version recorded in model.json; set with
// -ldflags "-X altmin/job.Version=...".
var Version = "0.1.0-dev"

// Metric is one line of metrics.jsonl.
type Metric struct {
	Iter    int      `json:"iter"`
	Loss    float64  `json:"loss"`
	RelErr  *float64 `json:"rel_err,omitempty"`
	Flips   *int64   `json:"flips"` // null at iteration 0
	Seconds float64  `json:"seconds"`
	// The two phases of Seconds: broadcast, every partition's statistics
	// and their transfer; then the coordinator's reduce and solve.
	StatsSeconds float64 `json:"stats_seconds"`
	SolveSeconds float64 `json:"solve_seconds"`
	Ridge        float64 `json:"ridge"`
	Step         float64 `json:"step,omitempty"`
	Cond         float64 `json:"cond,omitempty"`
	Change       float64 `json:"change,omitempty"`
	Rows         int     `json:"rows"`
	Skipped      []int   `json:"skipped_partitions,omitempty"` // left out (--allow-degraded)
}

// ModelFile is the content of model.json.
type ModelFile struct {
	Format      string    `json:"format"`
	Model       string    `json:"model"`
	D           int       `json:"d"` // input features, without the bias feature
	K           int       `json:"k"`
	Signs       []float64 `json:"signs"`
	Bias        bool      `json:"bias"` // weights have d+1 columns, the last for the constant-1 feature
	Iterations  int       `json:"iterations"`
	StopReason  string    `json:"stop_reason"`
	FinalLoss   float64   `json:"final_loss"`
	FinalRelErr *float64  `json:"final_rel_err,omitempty"`
	Rows        int       `json:"rows"`
	Partitions  int       `json:"partitions"`
	Data        string    `json:"data"`
	Init        string    `json:"init"`
	Method      string    `json:"method"`
	Seed        uint64    `json:"seed"`
	Version     string    `json:"version"`
	// Degraded lists the iterations that left partitions out
	// (--allow-degraded); empty for a complete run.
	Degraded []DegradedIter `json:"degraded,omitempty"`
}

// DegradedIter records partitions left out of one iteration.
type DegradedIter struct {
	Iter       int   `json:"iter"`
	Partitions []int `json:"partitions"`
}

// ModelFormat names the model.json format.
const ModelFormat = "altmin-model/1"

// Result is what a training run produced.
type Result struct {
	Weights []float64 // learned weights W, k x D
	Final   coordinator.Report
	Model   ModelFile
}

// Train runs o to completion, writing the output directory and the
// per-iteration table to out: in a cluster (o.Join), through in-process
// shards over the network (o.LocalShards), or in process.
func Train(ctx context.Context, o Options, out io.Writer, log *zap.Logger) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if len(o.Join) > 0 {
		return trainCluster(ctx, o, out, log)
	}
	pr, err := prepareTrain(o)
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	st, err := o.storage()
	if err != nil {
		return nil, err
	}
	if o.LocalShards > 0 {
		return trainLocalShards(ctx, o, pr, out, log)
	}
	eng, err := localEngine(o, pr.Source, pr.Spec.Bias, st)
	if err != nil {
		return nil, err
	}
	return Run(ctx, o, pr, coordinator.LocalFetcher{Engine: eng}, out, log)
}

// localEngine returns the engine of an in-process run: every partition
// read into memory, or with o.Resident > 0 a streaming engine.
func localEngine(o Options, src data.Source, bias bool, st shard.Storage) (*shard.Engine, error) {
	ids := make([]int, o.Partitions)
	for p := range ids {
		ids[p] = p
	}
	if o.Resident > 0 {
		return shard.NewStreamingEngine(shard.StreamConfig{Source: src, Partitions: o.Partitions, IDs: ids, Bias: bias, Storage: st, Resident: o.Resident})
	}
	parts := make([]*shard.Partition, o.Partitions)
	for _, p := range ids {
		var err error
		if parts[p], err = shard.LoadAs(src, o.Partitions, p, bias, st); err != nil {
			return nil, err
		}
	}
	return shard.NewEngine(parts...)
}

// Run trains the prepared problem with statistics from f.
func Run(ctx context.Context, o Options, pr *Problem, f coordinator.Fetcher, out io.Writer, log *zap.Logger) (*Result, error) {
	if log == nil {
		log = zap.NewNop()
	}
	spec := pr.Spec
	cfg := coordinator.Config{Spec: spec, Partitions: o.Partitions, MaxIters: o.Iters, Tol: o.Tol, Method: coordinator.Method(o.Method), Step: o.Step}
	core, err := coordinator.NewCore(cfg, spec.Effective(pr.Init))
	if err != nil {
		return nil, err
	}
	fp, fpConfig := fingerprint(o, pr)
	rf, err := openRun(o.Out, checkpoints, fp, fpConfig, core, out, log)
	if err != nil {
		return nil, err
	}
	defer rf.Close()

	info := pr.Source.Info()
	if pr.Demo {
		fmt.Fprintf(out, "altmin demo: no data given, training on planted data (%s)\n", DemoSynthetic)
	}
	fmt.Fprintf(out, "model %s  d=%d k=%d bias=%v  n=%d in %d partitions  init %s\ndata: %s\n",
		spec.Kind, spec.InputD(), spec.K, spec.Bias, info.N, o.Partitions, pr.InitDesc, info.Desc)
	fmt.Fprintf(out, "%5s  %12s  %10s  %9s  %10s  %9s  %8s\n", "iter", "loss", "rel_err", "flips", "change", "ridge", "seconds")

	var lastRel *float64
	var degraded []DegradedIter
	d := &coordinator.Driver{
		Core: core, Fetcher: f, Parallel: o.parallel(), Log: log, AllowDegraded: o.AllowDegraded,
		OnReport: func(r coordinator.Report, tm coordinator.Timing) error {
			dur := tm.Total
			m := Metric{Iter: r.Iter, Loss: r.Loss, Seconds: dur.Seconds(), StatsSeconds: tm.Stats.Seconds(), SolveSeconds: tm.Solve.Seconds(), Ridge: r.Ridge, Step: r.Step, Cond: r.Cond, Change: r.Change, Rows: r.Rows, Skipped: r.Skipped}
			if len(r.Skipped) > 0 {
				degraded = append(degraded, DegradedIter{Iter: r.Iter, Partitions: r.Skipped})
				fmt.Fprintf(out, "WARNING: iteration %d left out partitions %v (--allow-degraded)\n", r.Iter, r.Skipped)
			}
			// The relative error is of the weights evaluated in this
			// iteration, U_Iter, like the loss.
			if pr.Teacher != nil {
				e := spec.RelErr(spec.Learned(r.U), pr.Teacher)
				m.RelErr, lastRel = &e, &e
			}
			var flips string
			m.Flips, flips = flipsCell(r.Flips)
			change, ridge := solveCells(r.Solved, r.Change, r.Ridge)
			row := fmt.Sprintf("%5d  %12.5e  %10s  %9s  %10s  %9s  %8.3f\n", r.Iter, r.Loss, relErrCell(m.RelErr), flips, change, ridge, dur.Seconds())
			if err := rf.record(m, out, row, core.State()); err != nil {
				return err
			}
			logIteration(log, f, r.Iter, []zap.Field{zap.Int("iter", r.Iter), zap.Float64("loss", r.Loss), zap.Int64("flips", r.Flips), zap.Duration("dur", dur)}, r.Ridge, r.Cond)
			return nil
		},
	}
	final, err := d.Run(ctx)
	if err != nil {
		return nil, err
	}
	w := spec.Learned(final.U)
	res := &Result{Weights: w, Final: final, Model: ModelFile{
		Format: ModelFormat, Model: string(spec.Kind), D: spec.InputD(), K: spec.K, Signs: spec.Signs, Bias: spec.Bias,
		Iterations: final.Iter, StopReason: string(final.Stop), FinalLoss: final.Loss, FinalRelErr: lastRel,
		Rows: final.Rows, Partitions: o.Partitions, Data: info.Desc, Init: pr.InitDesc, Method: method(o), Seed: o.Seed, Version: Version, Degraded: degraded,
	}}
	if err := data.WriteNPY(filepath.Join(o.Out, "weights.npy"), w, spec.K, spec.D); err != nil {
		return nil, err
	}
	if err := writeJSON(filepath.Join(o.Out, "model.json"), res.Model); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "stopped: %s after %d iterations, loss %.5e%s\nmodel written to %s\n", final.Stop, final.Iter, final.Loss, relErrSuffix(lastRel), o.Out)
	if math.IsNaN(final.Loss) {
		return res, errNaNLoss
	}
	return res, nil
}

func method(o Options) string {
	if o.Method == "" {
		return "am"
	}
	return o.Method
}

// writeJSON writes v to path atomically.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'))
}
