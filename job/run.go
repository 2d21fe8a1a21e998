package job

import (
	"altmin/internal/arith"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"

	"go.uber.org/zap"

	"altmin/coordinator"
	"altmin/internal/metrics"
	"altmin/model"
	"altmin/msg"
)

// Version is the build version recorded in model.json; set with
// -ldflags "-X altmin/job.Version=...".
var Version = "0.1.0-dev"

// VersionLine describes the build for a command's --version: the command,
// its Version, the arithmetic it computes with (internal/arith) and the Go
// release.
func VersionLine(cmd string) string {
	return fmt.Sprintf("%s %s (%s, %s)", cmd, Version, arith.Build(), runtime.Version())
}

// errNaNLoss is returned, with the result, by a run that ended on a NaN loss.
var errNaNLoss = errors.New("job: training produced a NaN loss")

// Result is what a training run produced.
type Result struct {
	Net   *model.Net // the learned weights
	Final coordinator.Report
	Model ModelFile
}

// Train runs o to completion, for any model family, writing the output
// directory and the per-iteration table to out: in a cluster (o.Join),
// through in-process shards over the network (o.LocalShards), or in
// process. The weights are the same bits in all three.
func Train(ctx context.Context, o Options, out io.Writer, log *zap.Logger) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if err := o.checkOutDir(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	pool := msg.NewPool()
	table := o.table(out)
	pr, rt, err := openBackend(ctx, o, pool, table, log)
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	defer rt.Close()
	rt.observe(o)
	defer rt.rounds.end()
	if rt.desc != "" {
		fmt.Fprintln(table, rt.desc)
	}
	// The passes before the first iteration (summary, a data or tensor
	// start), from whatever computes the partitions, with the same
	// failover and bound as the statistics.
	if o.setup().standardize || pr.Start == nil {
		what := "summary of the training rows"
		if pr.StartDesc == "tensor" {
			what = "tensor initialization: moments"
		}
		fmt.Fprintf(table, "%s of %d partitions %s\n", what, o.Partitions, rt.where)
	}
	if err := pr.finish(ctx, o, rt.fetcher, rt.parallel, pool); err != nil {
		return nil, err
	}
	return run(ctx, o, pr, rt, pool, out, log)
}

// Run trains the prepared problem with partials from f, at most
// o.Parallel partitions at a time (0: GOMAXPROCS), resuming from a
// checkpoint of the same configuration in o.Out and writing one after
// every iteration.
func Run(ctx context.Context, o Options, pr *Problem, f msg.Fetcher, out io.Writer, log *zap.Logger) (*Result, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if pr.Start == nil {
		return nil, fmt.Errorf("%w: the problem's %s start is still to be computed (Prepare computes it)", ErrOptions, pr.StartDesc)
	}
	rt := &backend{fetcher: f, parallel: o.parallel()}
	rt.observe(o)
	defer rt.rounds.end()
	return run(ctx, o, pr, rt, nil, out, log)
}

// run trains pr through rt: the one training loop of every family and
// runtime.
func run(ctx context.Context, o Options, pr *Problem, rt *backend, pool *msg.Pool, out io.Writer, log *zap.Logger) (*Result, error) {
	fam, spec := pr.fam, pr.Spec
	core, err := fam.core(o, pr, pool)
	if err != nil {
		return nil, err
	}
	if err := o.checkRunOutputs(); err != nil {
		return nil, err
	}
	fp, fpConfig := fingerprint(o, pr)
	rf, err := openRun(o.Out, fp, fpConfig, core, out, o.Overwrite, checkpointLimits{iters: o.Iters, rows: pr.Source.Info().N})
	if err != nil {
		return nil, err
	}
	defer rf.Close()

	info := pr.Source.Info()
	table := o.table(out)
	if pr.Demo {
		fmt.Fprintf(table, "altmin demo: no data given, training on planted data (%s)\n", DemoSynthetic)
	}
	fmt.Fprintf(table, "model %s  %s bias=%v linear=%v  n=%d in %d partitions%s  init %s\ndata: %s\n%s",
		spec.Kind, widths(spec), spec.Bias, spec.Linear, info.N, o.Partitions, storageNote(o), pr.StartDesc, pr.DataDesc, setupNote(o, pr))
	if len(pr.Constant) > 0 {
		fmt.Fprintf(out, "WARNING: features %v are constant on the training rows: they are kept, centred to 0, and learn nothing\n", pr.Constant)
	}
	fmt.Fprintf(table, "%5s  %12s  %10s  %10s  %9s  %9s  %9s  %10s  %8s  %9s  %8s\n", "iter", "loss", "rel_res", "rel_err", "r2", "val_r2", "flips", "change", "lambda", "alpha", "seconds")

	observed := &observedCore{Core: core, m: o.Metrics}
	rec := &recorder{pr: pr, rt: rt, core: core, observed: observed, files: rf, out: out, table: table, metrics: o.Metrics, log: log}
	if rt.received != nil {
		rec.lastBytes = rt.received()
	}
	d := &coordinator.Driver{
		Core: observed, Fetcher: rt.fetcher, Parallel: rt.parallel, Log: log, Pool: pool, AllowDegraded: o.AllowDegraded,
		OnReport: rec.report,
	}
	final, err := d.Run(ctx)
	if err != nil {
		return nil, err
	}
	// The model written: the papers' method's last iterate, else the
	// best accepted iterate (by validation loss, or by training loss).
	written, writtenIter, train, val := final.Net, final.Iter, final.Train, final.Val
	if !o.Paper && final.Best != nil {
		b := final.Best
		written, writtenIter, train, val = b.Net, b.Iter, b.Train, b.Val
	}
	w := fam.learned(spec, written)
	mf := ModelFile{Format: ModelFormat, Model: string(spec.Kind), D: spec.InputD(), K: spec.K, Hidden: spec.Hidden, Signs: spec.Signs,
		Bias: spec.Bias, Linear: spec.Linear, Weights: fam.files(spec), Iterations: final.Iter, StopReason: string(final.Stop),
		FinalLoss: final.Loss, FinalRelRes: final.RelRes, FinalRelErr: rec.lastRel, Rows: final.Rows, Partitions: o.Partitions,
		Data: pr.DataDesc, Init: pr.StartDesc, Method: o.method(), Seed: o.Seed, Version: Version, Degraded: rec.degraded,
		Iteration: writtenIter, Standardize: standardization(pr.Transform), ConstantFeatures: pr.Constant, Damping: o.setup().damping,
		Features: pr.Source.Info().Features}
	mf.Train, mf.Validation = scores(train, pr.Transform), scores(val, pr.Transform)
	if spec.Kind == model.Deep {
		mf.Dims, mf.Schedule = spec.Dims(), string(coordinator.Joint)
	}
	if err := fam.write(o.Out, spec, w); err != nil {
		return nil, err
	}
	if err := WriteModel(o.Out, mf); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "stopped: %s after %d iterations, loss %.5e, relative residual %.3e%s\n%smodel written to %s\n",
		final.Stop, final.Iter, final.Loss, final.RelRes, relErrSuffix(rec.lastRel), writtenNote(mf), o.Out)
	res := &Result{Net: w, Final: final, Model: mf}
	if math.IsNaN(final.Loss) {
		return res, errNaNLoss
	}
	return res, nil
}

// recorder ends every iteration of a run: metrics.jsonl, the table row,
// the checkpoint, the metrics and the log line.
type recorder struct {
	pr       *Problem
	rt       *backend
	core     coordinator.Core
	observed *observedCore // counts the partials accepted
	files    *runFiles
	out      io.Writer // warnings
	table    io.Writer // the table's rows (io.Discard with Quiet)
	metrics  *metrics.Coordinator
	log      *zap.Logger
	lastRel  *float64
	degraded []DegradedIter
	// lastBytes and lastPartials are the coordinator's inbound bytes and
	// the partials accepted at the end of the last iteration.
	lastBytes    int64
	lastPartials int
}

// report is the driver's OnReport.
func (rc *recorder) report(r coordinator.Report, tm coordinator.Timing) error {
	if r.Refresh { // not an iteration: the checkpoint only
		return saveCheckpoint(rc.files.dir, rc.files.fp, rc.files.config, rc.core.State())
	}
	m := Metric{Iter: r.Iter, Loss: r.Loss, RelRes: r.RelRes, Seconds: tm.Total.Seconds(), StatsSeconds: tm.Stats.Seconds(),
		SolveSeconds: tm.Solve.Seconds(), Ridge: r.Ridge, Step: r.StepSize, Cond: r.Cond, Change: r.Change, Layers: r.Layers,
		Rows: r.Rows, Skipped: r.Skipped, Accepted: r.Accepted, Lambda: r.Lambda, R2: jsonFloat(r.R2),
		Objective: r.Objective, Alpha: r.NextAlpha, Revived: r.Revived}
	m.Partials, rc.lastPartials = rc.observed.partials-rc.lastPartials, rc.observed.partials
	if rc.rt.received != nil {
		b := rc.rt.received()
		m.InboundBytes, rc.lastBytes = b-rc.lastBytes, b
	}
	valLoss := math.NaN()
	if r.Val.Rows > 0 {
		m.ValRows, m.ValLoss, m.ValR2 = r.Val.Rows, jsonFloat(r.ValLoss), jsonFloat(r.ValR2)
		valLoss = r.ValLoss
	}
	rc.metrics.Iteration(r.Iter, r.Loss, valLoss, r.Rows, tm.Total)
	rc.rt.rounds.end() // before the row, on the same terminal
	if len(r.Skipped) > 0 {
		rc.degraded = append(rc.degraded, DegradedIter{Iter: r.Iter, Partitions: r.Skipped})
		fmt.Fprintf(rc.out, "WARNING: iteration %d left out partitions %v (--allow-degraded)\n", r.Iter, r.Skipped)
	}
	// The relative error is of the weights evaluated in this iteration,
	// like the loss.
	if pr := rc.pr; pr.Teacher != nil {
		e := pr.fam.relErr(pr.Spec, pr.fam.learned(pr.Spec, r.Net), pr.Teacher)
		m.RelErr, rc.lastRel = &e, &e
	}
	var flips string
	m.Flips, flips = flipsCell(r.Flips)
	change := "-"
	if r.Solved {
		change = fmt.Sprintf("%.3e", r.Change)
	}
	row := fmt.Sprintf("%5d  %12.5e  %10.3e  %10s  %9s  %9s  %9s  %10s  %8s  %9s  %8.3f%s\n", r.Iter, r.Loss, r.RelRes, relErrCell(m.RelErr),
		r2Cell(r.R2), r2Cell(r.ValR2), flips, change, lambdaCell(r.Solved, r.Lambda), lambdaCell(r.Solved, r.NextAlpha), tm.Total.Seconds(), rejected(r.Accepted)+revived(r.Revived))
	if err := rc.files.record(m, rc.table, row, rc.core.State()); err != nil {
		return err
	}
	fields := []zap.Field{zap.Int("iter", r.Iter), zap.Float64("loss", r.Loss), zap.Float64("relres", r.RelRes), zap.Int64("flips", r.Flips), zap.Duration("dur", tm.Total)}
	if rc.rt.answered != nil {
		fields = append(fields, zap.Strings("shards", rc.rt.answered(r.Step)))
	}
	if r.Ridge > 0 {
		rc.log.Warn("normal equations regularized", append(fields, zap.Float64("ridge", r.Ridge), zap.Float64("cond", r.Cond))...)
	} else {
		rc.log.Info("iteration", fields...)
	}
	return nil
}

// widths describes the model's widths for the table's header.
func widths(spec model.Spec) string {
	if spec.Kind == model.Deep {
		return fmt.Sprintf("widths %v (d=%d, hidden %s)", spec.Dims(), spec.InputD(), hiddenString(spec.Hidden))
	}
	return fmt.Sprintf("d=%d k=%d", spec.InputD(), spec.K)
}

// storageNote notes float32 storage in the table's header.
func storageNote(o Options) string {
	if o.Storage == "float32" {
		return ", features stored as float32"
	}
	return ""
}

// relErrCell returns the table cell of a relative error, "-" for none.
func relErrCell(e *float64) string {
	if e == nil {
		return "-"
	}
	return fmt.Sprintf("%.3e", *e)
}

// flipsCell returns a flip count for metrics.jsonl (nil for none, n < 0)
// and its table cell.
func flipsCell(n int64) (*int64, string) {
	if n < 0 {
		return nil, "-"
	}
	return &n, fmt.Sprint(n)
}

// relErrSuffix returns the part of the final summary about the last
// relative error, "" for none.
func relErrSuffix(e *float64) string {
	if e == nil {
		return ""
	}
	return fmt.Sprintf(", relative error %.3e", *e)
}

// r2Cell returns the table cell of an R^2, "-" for NaN.
func r2Cell(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmt.Sprintf("%.5f", v)
}

// lambdaCell returns the table cell of a solve's damping or penalty.
func lambdaCell(solved bool, l float64) string {
	switch {
	case !solved:
		return "-"
	case l == 0:
		return "0"
	}
	return fmt.Sprintf("%.0e", l)
}

// rejected marks the row of a rejected iterate.
func rejected(accepted bool) string {
	if accepted {
		return ""
	}
	return "  rejected"
}

// revived marks a table row whose weights had dead units, revived next.
func revived(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("  revive %d", n)
}

// jsonFloat returns v for metrics.jsonl, nil for NaN (JSON has no NaN).
func jsonFloat(v float64) *float64 {
	if math.IsNaN(v) {
		return nil
	}
	return &v
}

// setupNote describes the settings of the run for the table's header: the
// papers' method, or the standardization, validation, damping and early
// stopping.
func setupNote(o Options, pr *Problem) string {
	st := o.setup()
	if o.Paper {
		return "the papers' method: plain least-squares step, no standardization, every row for training\n"
	}
	s := "damping " + map[bool]string{true: "on", false: "off"}[st.damping]
	if pr.Transform != nil {
		s += ", features and label standardized"
	}
	switch sp := pr.Split; {
	case sp == nil:
		s += ", no validation rows"
	case sp.From > 0:
		s += fmt.Sprintf(", validation rows from row %d (--val-data)", sp.From)
	default:
		s += fmt.Sprintf(", %.0f%% of the rows held out for validation", 100*sp.Fraction)
	}
	if st.patience > 0 {
		s += fmt.Sprintf(", patience %d", st.patience)
	}
	return s + "\n"
}

// writtenNote says which iterate was written, when it is not the last.
func writtenNote(mf ModelFile) string {
	s := ""
	if mf.Iteration != mf.Iterations {
		s = fmt.Sprintf("the model written is iteration %d's, the best", mf.Iteration)
		if mf.Validation != nil {
			s += " by validation loss"
		}
		s += "\n"
	}
	if v := mf.Validation; v != nil {
		s += fmt.Sprintf("validation: %d rows, RMSE %.6g, R^2 %.5f\n", v.Rows, v.RMSE, v.R2)
	}
	return s
}
