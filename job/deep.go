package job

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"altmin/data"
	"altmin/deep"
	"altmin/model"
	"altmin/shard"
	"altmin/transport"
)

// Deep networks (--model deep): ReLU networks with 2 to MaxHiddenLayers
// hidden layers, f(x) = v . relu(W_L ... relu(W_1 x)), trained by package
// deep's joint alternating minimization (docs/DEEP.md). The widths come
// from --hidden or a deep --synthetic teacher, the output signs v from
// --signs as for the 1-hidden-layer models.

// ModelDeep is the --model value of deep networks.
const ModelDeep = "deep"

// MaxHiddenLayers is the largest number of hidden layers of --model deep:
// the depths measured in docs/DEEP.md.
const MaxHiddenLayers = 4

// ParseHidden parses a --hidden value, comma-separated widths such as
// "20,10"; "" gives nil. Widths are range-checked by Options.Validate.
func ParseHidden(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var ks []int
	for _, f := range strings.Split(s, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%w: --hidden %q: %q is not an integer width (want e.g. --hidden 20,10)", ErrOptions, s, f)
		}
		ks = append(ks, k)
	}
	return ks, nil
}

// IsDeep reports whether the options train a deep network: --model deep,
// or no --model and a deep --synthetic teacher (model=deep).
func (o *Options) IsDeep() bool {
	return o.Model == ModelDeep || (o.Model == "" && data.IsDeepSpec(o.Synthetic))
}

func hiddenString(ks []int) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = strconv.Itoa(k)
	}
	return strings.Join(s, ",")
}

// validateDeep checks the flags of deep networks and the flags that do not
// apply to them (called by Validate).
func (o *Options) validateDeep() error {
	synthDeep := data.IsDeepSpec(o.Synthetic)
	if !o.IsDeep() {
		m := o.Model
		if m == "" {
			m = "sum (the default)"
		}
		switch {
		case len(o.Hidden) > 0:
			return fmt.Errorf("%w: --hidden %s is for --model deep, but the model is %s (use --k for the 1-hidden-layer models)", ErrOptions, hiddenString(o.Hidden), m)
		case synthDeep:
			return fmt.Errorf("%w: --synthetic %s plants a deep network: --model %s cannot learn it (use --model deep)", ErrOptions, o.Synthetic, m)
		}
		return nil
	}
	for l, k := range o.Hidden {
		if k < 1 {
			return fmt.Errorf("%w: --hidden %s: layer %d has width %d, need >= 1", ErrOptions, hiddenString(o.Hidden), l+1, k)
		}
	}
	switch {
	case len(o.Hidden) > MaxHiddenLayers:
		return fmt.Errorf("%w: --hidden %s: %d hidden layers, at most %d are supported", ErrOptions, hiddenString(o.Hidden), len(o.Hidden), MaxHiddenLayers)
	case len(o.Hidden) == 1:
		return fmt.Errorf("%w: --hidden %s: one hidden layer is --model sum --k %d; --model deep needs 2 to %d hidden layers", ErrOptions, hiddenString(o.Hidden), o.Hidden[0], MaxHiddenLayers)
	case o.Data == "" && o.Synthetic == "" && len(o.Join) == 0:
		return fmt.Errorf("%w: --model deep needs data: --data, or --synthetic model=deep,d=20,hidden=8-4,n=20000,seed=1", ErrOptions)
	case len(o.Hidden) == 0 && !synthDeep:
		return fmt.Errorf("%w: --model deep needs the hidden widths: --hidden k1,k2[,...] (e.g. --hidden 20,10)", ErrOptions)
	case o.K != 0:
		return fmt.Errorf("%w: --k is for the 1-hidden-layer models; give the widths of --model deep with --hidden", ErrOptions)
	case o.Method == "gd":
		return fmt.Errorf("%w: --method gd is not available for --model deep (alternating minimization only)", ErrOptions)
	case o.Step != 0:
		return fmt.Errorf("%w: --step is for --method gd, not available for --model deep", ErrOptions)
	case o.Init == "identity" || o.Init == "tensor":
		return fmt.Errorf("%w: --init %s is for the 1-hidden-layer models; --model deep starts from random, perturb:DELTA or a deep model directory", ErrOptions, o.Init)
	case strings.HasSuffix(strings.ToLower(o.Init), ".npy"):
		return fmt.Errorf("%w: --init %s: a deep start is a model directory (model.json and weights_1.npy ...), not one .npy file", ErrOptions, o.Init)
	case strings.HasSuffix(strings.ToLower(o.Truth), ".npy"):
		return fmt.Errorf("%w: --truth %s: a deep teacher is a model directory (model.json and weights_1.npy ...), not one .npy file", ErrOptions, o.Truth)
	case o.AllowDegraded:
		return fmt.Errorf("%w: --allow-degraded is not available for --model deep: every partition is needed every step", ErrOptions)
	}
	return nil
}

// checkDeepSize checks a deep network's widths n_0..n_L before anything of
// their size is allocated: every width >= 1 and at most transport.MaxM
// weights in all (the joint Gram matrix is m(m+1)/2 doubles), computed
// without overflow.
func checkDeepSize(dims []int) error {
	m := 0
	for l, n := range dims {
		switch {
		case n < 1:
			return fmt.Errorf("width n_%d = %d, need >= 1", l, n)
		case n > transport.MaxM:
			return fmt.Errorf("width n_%d = %d: more than %d weights, at most %d are supported (the joint Gram matrix is m(m+1)/2 doubles)", l, n, transport.MaxM, transport.MaxM)
		case l > 0:
			m += n * dims[l-1] // both at most MaxM: no overflow
		}
	}
	if m > transport.MaxM {
		return fmt.Errorf("%d weights, at most %d are supported (the joint Gram matrix is m(m+1)/2 doubles)", m, transport.MaxM)
	}
	return nil
}

// DeepProblem is a deep training problem ready to run.
type DeepProblem struct {
	Source   data.Source
	DataDesc string // description of the data for the table and model.json
	DataID   string // data.Fingerprint of the data as stored (see --storage)
	Bias     bool
	Init     *model.Net // the start: widths (d[+1], k1, ..., kL) and output signs
	InitDesc string
	Teacher  *model.Net // a known teacher in the model's shape (zero bias column), or nil
}

// Close releases the data source's files, if it holds any.
func (dp *DeepProblem) Close() error {
	if c, ok := dp.Source.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// PrepareDeep opens the data of a deep run (o.IsDeep()) and builds the
// network's shape, the teacher and the start. The caller closes the
// problem.
func PrepareDeep(o Options) (*DeepProblem, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if !o.IsDeep() {
		return nil, fmt.Errorf("%w: not a deep model: give --model deep", ErrOptions)
	}
	src, tch, err := openDeepSource(o)
	if err != nil {
		return nil, err
	}
	dp, err := prepareDeep(o, src, tch)
	if err == nil {
		st, _ := o.storage()
		stored := src
		if st == shard.Float32 {
			stored = data.Float32(src)
		}
		dp.DataID, err = data.Fingerprint(stored)
	}
	if err != nil {
		if c, ok := src.(io.Closer); ok {
			c.Close()
		}
		return nil, err
	}
	return dp, nil
}

// LocalFetcher loads the problem's o.Partitions partitions in the storage
// of o and returns a fetcher computing them in process; with o.Resident >
// 0 it streams them instead (see localEngine).
func (dp *DeepProblem) LocalFetcher(o Options) (deep.Fetcher, error) {
	st, err := o.storage()
	if err != nil {
		return nil, err
	}
	if o.Resident > 0 {
		eng, err := localEngine(o, dp.Source, dp.Bias, st)
		if err != nil {
			return nil, err
		}
		return deep.EngineFetcher{Engine: eng}, nil
	}
	parts := make([]*shard.Partition, o.Partitions)
	for p := range parts {
		if parts[p], err = shard.LoadAs(dp.Source, o.Partitions, p, dp.Bias, st); err != nil {
			return nil, err
		}
	}
	return deep.NewLocalFetcher(parts...)
}

// openDeepSource opens the data of a deep run: a deep --synthetic teacher
// (returned too), or whatever OpenSource opens.
func openDeepSource(o Options) (data.Source, *data.DeepTeacher, error) {
	src, _, err := OpenSource(o)
	if err != nil {
		return nil, nil, err
	}
	tch, _ := src.(*data.DeepTeacher)
	return src, tch, nil
}

// prepareDeep builds the network's shape, the teacher and the start for
// data src (of d features) and an optional planted teacher.
func prepareDeep(o Options, src data.Source, tch *data.DeepTeacher) (*DeepProblem, error) {
	info := src.Info()
	dp := &DeepProblem{Source: src, DataDesc: info.Desc, Bias: o.Bias}
	if tch != nil {
		dp.DataDesc = "synthetic " + tch.Spec()
	}
	var teacher *model.Net
	hidden := o.Hidden
	if tch != nil {
		teacher = tch.Net()
		th := teacher.Dims[1:]
		if len(hidden) == 0 {
			hidden = th
		} else if !slices.Equal(hidden, th) {
			return nil, fmt.Errorf("%w: --hidden %s differs from the synthetic teacher's widths %s", ErrOptions, hiddenString(hidden), hiddenString(th))
		}
	}
	if n := len(hidden); n < 2 || n > MaxHiddenLayers {
		return nil, fmt.Errorf("%w: --model deep needs 2 to %d hidden layers, got widths %s", ErrOptions, MaxHiddenLayers, hiddenString(hidden))
	}
	in := info.D
	if o.Bias {
		in++
	}
	dims := append([]int{in}, hidden...)
	if err := checkDeepSize(dims); err != nil {
		return nil, fmt.Errorf("%w: --hidden %s on d = %d features: %v", ErrOptions, hiddenString(hidden), in, err)
	}
	shape := model.NewNet(dims...)
	if teacher != nil && o.Bias {
		teacher.Dims[0] = in
		teacher.W[0] = widen(teacher.W[0], hidden[0], info.D, in)
	}
	if o.Truth != "" {
		t, _, err := LoadDeepModel(o.Truth)
		if err != nil {
			return nil, fmt.Errorf("--truth: %w", err)
		}
		if !slices.Equal(t.Dims, dims) {
			return nil, fmt.Errorf("%w: --truth %s has widths %v, the model %v", ErrOptions, o.Truth, t.Dims, dims)
		}
		teacher = t
	}

	// Output signs, as for the 1-hidden-layer models.
	kL := hidden[len(hidden)-1]
	var err error
	switch {
	case o.Signs == "" && teacher != nil:
		shape.V = append([]float64(nil), teacher.V...)
	case o.Signs == "":
		shape.V, _ = model.MakeSigns("ones", kL)
	case strings.HasSuffix(strings.ToLower(o.Signs), ".npy"):
		v, sh, err := data.ReadNPY(o.Signs)
		if err != nil {
			return nil, fmt.Errorf("--signs: %w", err)
		}
		if len(sh) != 1 || sh[0] != kL {
			return nil, fmt.Errorf("%w: --signs %s has shape %s, want (%d,), one sign per unit of the last hidden layer", ErrOptions, o.Signs, pyShape(sh), kL)
		}
		shape.V = v
	default:
		if shape.V, err = model.MakeSigns(o.Signs, kL); err != nil {
			return nil, fmt.Errorf("%w: --signs: %v", ErrOptions, err)
		}
	}
	if err := shape.Validate(); err != nil {
		return nil, fmt.Errorf("%w: --signs %s: %v", ErrOptions, o.Signs, err)
	}
	if teacher != nil && !slices.Equal(teacher.V, shape.V) {
		return nil, fmt.Errorf("%w: --signs %s differ from the teacher's output signs %v", ErrOptions, o.Signs, teacher.V)
	}
	dp.Teacher = teacher

	// Start.
	initName := o.Init
	if initName == "" {
		initName = "random"
	}
	switch {
	case initName == "random":
		dp.Init = data.RandomNet(shape, o.Seed)
	case strings.HasPrefix(initName, "perturb:"):
		delta, err := strconv.ParseFloat(strings.TrimPrefix(initName, "perturb:"), 64)
		if err != nil || !(delta >= 0) || math.IsInf(delta, 0) {
			return nil, fmt.Errorf("%w: --init %s: DELTA must be a finite number >= 0", ErrOptions, initName)
		}
		if teacher == nil {
			return nil, fmt.Errorf("%w: --init %s needs a known teacher (--synthetic model=deep,... or --truth DIR)", ErrOptions, initName)
		}
		dp.Init = data.PerturbNet(teacher, delta, o.Seed)
	default:
		if st, err := os.Stat(initName); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("%w: --init %q: want random, perturb:DELTA or a deep model directory", ErrOptions, initName)
		}
		w, _, err := LoadDeepModel(initName)
		if err != nil {
			return nil, fmt.Errorf("--init: %w", err)
		}
		if !w.SameShape(shape) {
			return nil, fmt.Errorf("%w: --init %s has widths %v and signs %v, the model %v and %v", ErrOptions, initName, w.Dims, w.V, dims, shape.V)
		}
		dp.Init = w
	}
	dp.InitDesc = initName
	return dp, nil
}

// DeepResult is what a deep training run produced.
type DeepResult struct {
	Net   *model.Net // the learned network
	Final deep.Report
	Model DeepModelFile
}

// DeepMetric is one line of metrics.jsonl of a deep run: one solve step.
type DeepMetric struct {
	Iter    int      `json:"iter"` // outer iteration (joint schedule: = step)
	Step    int      `json:"step"`
	Loss    float64  `json:"loss"`    // (1/2n) ||f(X) - y||^2 of the weights evaluated in this step
	RelRes  float64  `json:"rel_res"` // ||f(X) - y|| / ||y||
	RelErr  *float64 `json:"rel_err,omitempty"`
	Flips   *int64   `json:"flips"` // pattern bits of all layers; null at step 0
	Seconds float64  `json:"seconds"`
	// The two phases of Seconds: broadcast, every partition's statistics
	// and their transfer; then the coordinator's reduce and solve.
	StatsSeconds float64 `json:"stats_seconds"`
	SolveSeconds float64 `json:"solve_seconds"`
	Ridge        float64 `json:"ridge"`
	Cond         float64 `json:"cond,omitempty"`
	Change       float64 `json:"change,omitempty"`
	Layers       []int   `json:"layers,omitempty"` // layers solved; absent at the stop
	Rows         int     `json:"rows"`
}

// TrainDeep trains a deep network (o.IsDeep()) to completion, writing the
// output directory and the per-step table to out: in a cluster (o.Join),
// through in-process shards over the network (o.LocalShards), or in
// process, as Train does for the 1-hidden-layer models. The shards compute
// the statistics with the DeepStep call; the weights are the same bits in
// all three.
func TrainDeep(ctx context.Context, o Options, out io.Writer, log *zap.Logger) (*DeepResult, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if !o.IsDeep() {
		return nil, fmt.Errorf("%w: not a deep model: give --model deep", ErrOptions)
	}
	if len(o.Join) > 0 {
		return trainDeepCluster(ctx, o, out, log)
	}
	dp, err := PrepareDeep(o)
	if err != nil {
		return nil, err
	}
	defer dp.Close()
	if o.LocalShards > 0 {
		return trainDeepLocalShards(ctx, o, dp, out, log)
	}
	f, err := dp.LocalFetcher(o)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "%d partitions computed in process\n", o.Partitions)
	return RunDeep(ctx, o, dp, f, out, log)
}

// RunDeep trains the prepared deep problem with statistics from f, at most
// o.Parallel partitions at a time (0: GOMAXPROCS), resuming from a
// checkpoint of the same configuration in o.Out and writing one after
// every step.
func RunDeep(ctx context.Context, o Options, dp *DeepProblem, f deep.Fetcher, out io.Writer, log *zap.Logger) (*DeepResult, error) {
	if log == nil {
		log = zap.NewNop()
	}
	cfg := deep.Config{Schedule: deep.Joint, Partitions: o.Partitions, MaxIters: o.Iters, Tol: o.Tol, FitTol: deep.DefaultConfig().FitTol}
	core, err := deep.NewCore(cfg, dp.Init)
	if err != nil {
		return nil, err
	}
	fp, fpConfig := deepFingerprint(o, dp)
	rf, err := openRun(o.Out, deepCheckpoints, fp, fpConfig, core, out, log)
	if err != nil {
		return nil, err
	}
	defer rf.Close()

	info := dp.Source.Info()
	storage := ""
	if o.Storage == string(shard.Float32) {
		storage = ", features stored as float32"
	}
	fmt.Fprintf(out, "model deep  widths %v (d=%d, hidden %s) bias=%v  n=%d in %d partitions%s  init %s\ndata: %s\n",
		dp.Init.Dims, info.D, hiddenString(dp.Init.Dims[1:]), dp.Bias, info.N, o.Partitions, storage, dp.InitDesc, dp.DataDesc)
	fmt.Fprintf(out, "%5s  %12s  %10s  %10s  %9s  %10s  %9s  %8s\n", "iter", "loss", "rel_res", "rel_err", "flips", "change", "ridge", "seconds")

	var lastRel *float64
	d := &deep.Driver{
		Core: core, Fetcher: f, Parallel: o.parallel(), Log: log,
		OnReport: func(r deep.Report, tm deep.Timing) error {
			dur := tm.Total
			m := DeepMetric{Iter: r.Iter, Step: r.Step, Loss: r.Loss, RelRes: r.RelRes, Seconds: dur.Seconds(),
				StatsSeconds: tm.Stats.Seconds(), SolveSeconds: tm.Solve.Seconds(), Ridge: r.Ridge,
				Cond: r.Cond, Change: r.Change, Layers: r.Layers, Rows: r.Rows}
			if dp.Teacher != nil {
				e := model.WeightErr(r.Net, dp.Teacher)
				m.RelErr, lastRel = &e, &e
			}
			var flips string
			m.Flips, flips = flipsCell(r.Flips)
			change, ridge := solveCells(r.Layers != nil, r.Change, r.Ridge)
			row := fmt.Sprintf("%5d  %12.5e  %10.3e  %10s  %9s  %10s  %9s  %8.3f\n", r.Iter, r.Loss, r.RelRes, relErrCell(m.RelErr), flips, change, ridge, dur.Seconds())
			if err := rf.record(m, out, row, core.State()); err != nil {
				return err
			}
			logIteration(log, f, r.Step, []zap.Field{zap.Int("iter", r.Iter), zap.Float64("loss", r.Loss), zap.Float64("relres", r.RelRes), zap.Int64("flips", r.Flips), zap.Duration("dur", dur)}, r.Ridge, r.Cond)
			return nil
		},
	}
	final, err := d.Run(ctx)
	if err != nil {
		return nil, err
	}
	net := final.Net
	res := &DeepResult{Net: net, Final: final, Model: DeepModelFile{
		Format: ModelFormat, Model: ModelDeep, D: info.D, Hidden: append([]int(nil), net.Dims[1:]...), Dims: append([]int(nil), net.Dims...),
		Signs: append([]float64(nil), net.V...), Bias: dp.Bias, Weights: weightFiles(net.Layers()), Schedule: string(deep.Joint),
		Iterations: final.Iter, StopReason: string(final.Stop), FinalLoss: final.Loss, FinalRelRes: final.RelRes, FinalRelErr: lastRel,
		Rows: final.Rows, Partitions: o.Partitions, Data: dp.DataDesc, Init: dp.InitDesc, Method: "am", Seed: o.Seed, Version: Version,
	}}
	if err := writeDeepModel(o.Out, res.Model, net); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "stopped: %s after %d iterations, loss %.5e, relative residual %.3e%s\nmodel written to %s\n",
		final.Stop, final.Iter, final.Loss, final.RelRes, relErrSuffix(lastRel), o.Out)
	if math.IsNaN(final.Loss) {
		return res, errNaNLoss
	}
	return res, nil
}

// weightFiles returns the names of the weight files of L layers.
func weightFiles(layers int) []string {
	names := make([]string, layers)
	for l := range names {
		names[l] = fmt.Sprintf("weights_%d.npy", l+1)
	}
	return names
}

// writeDeepModel writes weights_1.npy ... weights_L.npy and model.json.
func writeDeepModel(dir string, mf DeepModelFile, net *model.Net) error {
	for l, name := range weightFiles(net.Layers()) {
		if err := data.WriteNPY(filepath.Join(dir, name), net.W[l], net.Dims[l+1], net.Dims[l]); err != nil {
			return err
		}
	}
	return writeJSON(filepath.Join(dir, "model.json"), mf)
}
