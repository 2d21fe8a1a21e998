package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"altmin/data"
	"altmin/model"
	"altmin/tensorinit"
)

// Problem is a training problem ready to run: data, model and start.
type Problem struct {
	Source   data.Source
	Spec     model.Spec
	Teacher  []float64 // learned weights of a known teacher (k x D), or nil
	Init     []float64 // learned weights W0 (k x D)
	InitDesc string
	Demo     bool   // no data was given: the embedded demo
	DataID   string // data.Fingerprint of the source

	// tensorPending: --init tensor, whose start is still to be computed
	// from the data's moments by initTensor (Init is nil until then).
	tensorPending bool
}

// Close releases the data source's files, if it holds any.
func (pr *Problem) Close() error {
	if c, ok := pr.Source.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// Prepare opens the data and builds the model and the initial weights. The
// caller closes the Problem. The tensor initialization (--init tensor) is
// computed in this process from the local data; with --join the data live
// on the shards and it is refused: Train computes it over the cluster.
func Prepare(o Options) (*Problem, error) {
	pr, err := prepareLocal(o)
	if err != nil {
		return nil, err
	}
	if pr.tensorPending {
		err := fmt.Errorf("%w: --init tensor with --join: the shards compute the moments over gRPC when training (job.Train); Prepare reads local data only", ErrOptions)
		if len(o.Join) == 0 {
			err = pr.initTensor(context.Background(), o, tensorinit.LoadSource{Source: pr.Source, Partitions: o.Partitions, Bias: pr.Spec.Bias}, 0)
		}
		if err != nil {
			pr.Close()
			return nil, err
		}
	}
	return pr, nil
}

// prepareTrain is Prepare for Train: with in-process shards
// (--local-shards) the tensor start is left pending, for trainLocalShards
// to compute over gRPC like a cluster's.
func prepareTrain(o Options) (*Problem, error) {
	if o.LocalShards > 0 && len(o.Join) == 0 {
		return prepareLocal(o)
	}
	return Prepare(o)
}

// prepareLocal opens the local data and builds the problem; a tensor start
// is left pending.
func prepareLocal(o Options) (*Problem, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	src, demo, err := OpenSource(o)
	if err != nil {
		return nil, err
	}
	pr, err := prepare(o, src, "")
	if err != nil {
		if c, ok := src.(io.Closer); ok {
			c.Close()
		}
		return nil, err
	}
	pr.Demo = demo
	// The data are those held in the chosen storage (rounded to float32
	// with --storage float32) from here on, for the tensor start too.
	st, err := o.storage()
	if err == nil {
		err = pr.storeAs(st)
	}
	if err != nil {
		pr.Close()
		return nil, err
	}
	return pr, nil
}

// OpenSource opens the data the options name: --data (.npy or .csv),
// --synthetic, or, with neither, the demo's planted data (demo is true).
func OpenSource(o Options) (src data.Source, demo bool, err error) {
	switch {
	case o.Data != "" && isCSV(o.Data):
		src, err = data.OpenCSV(o.Data, o.Label)
	case o.Data != "":
		src, err = data.OpenNPY(o.Data, o.Labels)
	case data.IsDeepSpec(o.Synthetic): // a planted deep network, see deep.go
		if src, err = data.ParseDeepTeacher(o.Synthetic); err != nil {
			err = fmt.Errorf("--synthetic: %w", err)
		}
	default:
		spec := o.Synthetic
		if spec == "" {
			spec, demo = DemoSynthetic, true
		}
		src, err = data.ParseSynthetic(spec)
	}
	if err != nil {
		return nil, false, err
	}
	return src, demo, nil
}

// prepare builds the problem for an open source, whose fingerprint is
// dataID when known. A tensor start (--init tensor) is left pending: it
// needs the moments of the data, wherever they live (initTensor).
func prepare(o Options, src data.Source, dataID string) (*Problem, error) {
	pr := &Problem{Source: src, DataID: dataID}
	var teacher model.Spec
	var wstar []float64
	if g, ok := src.(*data.Synthetic); ok {
		teacher, wstar = g.Teacher()
	}
	info := pr.Source.Info()
	if pr.DataID == "" {
		fp, err := data.Fingerprint(pr.Source)
		if err != nil {
			return nil, err
		}
		pr.DataID = fp
	}

	// Model kind and size.
	kind := model.Sum
	if teacher.Kind != "" {
		kind = teacher.Kind
	}
	if o.Model != "" {
		k, err := model.ParseKind(o.Model)
		if err != nil {
			return nil, fmt.Errorf("%w: --model: %v", ErrOptions, err)
		}
		if teacher.Kind != "" && k != teacher.Kind {
			return nil, fmt.Errorf("%w: --model %s differs from the synthetic teacher's model %s", ErrOptions, k, teacher.Kind)
		}
		kind = k
	}
	spec := model.Spec{Kind: kind, D: info.D, Bias: o.Bias}
	if o.Bias {
		spec.D++
	}
	switch {
	case o.K != 0:
		spec.K = o.K
	case teacher.K != 0:
		spec.K = teacher.K
	case kind == model.ReLU:
		spec.K = 1
	case kind == model.ResNet:
		spec.K = info.D
	default:
		return nil, fmt.Errorf("%w: --k is required for model sum with --data", ErrOptions)
	}
	if spec.K < 1 {
		return nil, fmt.Errorf("%w: k = %d, need k >= 1", ErrOptions, spec.K)
	}
	if teacher.K != 0 && spec.K != teacher.K {
		return nil, fmt.Errorf("%w: --k %d differs from the synthetic teacher's k = %d", ErrOptions, spec.K, teacher.K)
	}

	// Output signs.
	switch {
	case o.Signs == "" && teacher.Signs != nil:
		spec.Signs = teacher.Signs
	case o.Signs == "":
		spec.Signs, _ = model.MakeSigns("ones", spec.K)
	case strings.HasSuffix(strings.ToLower(o.Signs), ".npy"):
		v, shape, err := data.ReadNPY(o.Signs)
		if err != nil {
			return nil, fmt.Errorf("--signs: %w", err)
		}
		if len(shape) != 1 || shape[0] != spec.K {
			return nil, fmt.Errorf("%w: --signs %s has shape %s, want (%d,)", ErrOptions, o.Signs, pyShape(shape), spec.K)
		}
		spec.Signs = v
	default:
		v, err := model.MakeSigns(o.Signs, spec.K)
		if err != nil {
			return nil, fmt.Errorf("%w: --signs: %v", ErrOptions, err)
		}
		spec.Signs = v
	}
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrOptions, err)
	}
	pr.Spec = spec

	// Teacher: the synthetic one (with a zero bias column) or --truth.
	if wstar != nil {
		pr.Teacher = widen(wstar, spec.K, info.D, spec.D)
	}
	if o.Truth != "" {
		w, err := readWeights("--truth", o.Truth, spec)
		if err != nil {
			return nil, err
		}
		pr.Teacher = w
	}

	// Start.
	initName := o.Init
	if initName == "" {
		initName = "random"
		if kind == model.ResNet {
			initName = "identity"
		}
	}
	if initName == "tensor" {
		if spec.Kind == model.ResNet {
			return nil, fmt.Errorf("%w: --init tensor is for models sum and relu; for resnet use identity", ErrOptions)
		}
		pr.tensorPending = true
		return pr, nil
	}
	w0, err := simpleInit(initName, spec, pr.Teacher, o.Seed)
	if err != nil {
		return nil, err
	}
	pr.Init, pr.InitDesc = w0, initName
	return pr, nil
}

// pyShape formats a shape as NumPy does: (3,), (2, 4).
func pyShape(shape []int) string {
	s := "("
	for i, v := range shape {
		if i > 0 {
			s += ", "
		}
		s += strconv.Itoa(v)
	}
	if len(shape) == 1 {
		s += ","
	}
	return s + ")"
}

// widen copies the k x d matrix w into a k x D one, D >= d, padding zeros.
func widen(w []float64, k, d, D int) []float64 {
	out := make([]float64, k*D)
	for q := 0; q < k; q++ {
		copy(out[q*D:q*D+d], w[q*d:(q+1)*d])
	}
	return out
}

func readWeights(flag, path string, spec model.Spec) ([]float64, error) {
	w, shape, err := data.ReadNPY(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	if len(shape) != 2 || shape[0] != spec.K || shape[1] != spec.D {
		what := "d"
		if spec.Bias {
			what = "d+1 (bias)"
		}
		return nil, fmt.Errorf("%w: %s %s has shape %s, want (k, %s) = (%d, %d) to match the data", ErrOptions, flag, path, pyShape(shape), what, spec.K, spec.D)
	}
	return w, nil
}

// initTensor computes a pending tensor start (--init tensor) from the
// moments of partitions 0..o.Partitions-1 served by src: in process
// (tensorinit.LoadSource) or by the shards over gRPC (fleet.MomentSource),
// at most parallel partitions at a time (0: GOMAXPROCS). The partials are
// reduced in partition order, so the start is the same bits wherever the
// partitions are computed. Without a pending start it does nothing.
func (pr *Problem) initTensor(ctx context.Context, o Options, src tensorinit.MomentSource, parallel int) error {
	if !pr.tensorPending {
		return nil
	}
	w, desc, err := tensorInit(ctx, pr.Spec, o.Seed, src, o.Partitions, parallel)
	if err != nil {
		return err
	}
	pr.Init, pr.InitDesc, pr.tensorPending = w, desc, false
	return nil
}

// tensorInit runs the moment (tensor) initialization over the partitions
// of src.
func tensorInit(ctx context.Context, spec model.Spec, seed uint64, src tensorinit.MomentSource, parts, parallel int) ([]float64, string, error) {
	cfg := tensorinit.DefaultConfig()
	cfg.Seed, cfg.Parallel = seed, parallel
	res, err := tensorinit.Run(ctx, src, spec, parts, cfg)
	if err != nil {
		if errors.Is(err, tensorinit.ErrModel) {
			return nil, "", fmt.Errorf("%w: --init tensor: %v", ErrOptions, err)
		}
		return nil, "", fmt.Errorf("--init tensor: %w", err)
	}
	desc := "tensor"
	switch {
	case res.Fallback:
		desc += fmt.Sprintf(" (second-moment spectrum nearly degenerate, eigenvalue gap %.2f: span from the fourth moment; the start may be poor)", res.Gap)
	case res.Degenerate:
		desc += fmt.Sprintf(" (second-moment spectrum nearly degenerate, eigenvalue gap %.2f: the start may be poor)", res.Gap)
	}
	if res.Mismatched > 0 {
		desc += fmt.Sprintf(" (%d neurons given a component of the other output sign)", res.Mismatched)
	}
	return res.W, desc, nil
}

// simpleInit returns W0 for an --init value other than tensor.
func simpleInit(name string, spec model.Spec, teacher []float64, seed uint64) ([]float64, error) {
	m := spec.M()
	rng := rand.New(rand.NewPCG(seed, 0x616c746d696e)) // "altmin"
	switch {
	case name == "identity":
		if spec.Kind != model.ResNet {
			return nil, fmt.Errorf("%w: --init identity is for model resnet (W0 = 0, U0 = I); model is %s", ErrOptions, spec.Kind)
		}
		return make([]float64, m), nil
	case name == "random":
		w := make([]float64, m)
		for i := range w {
			w[i] = rng.NormFloat64() / float64(spec.D)
		}
		return w, nil
	case strings.HasPrefix(name, "perturb:"):
		delta, err := strconv.ParseFloat(strings.TrimPrefix(name, "perturb:"), 64)
		if err != nil || !(delta >= 0) || math.IsInf(delta, 0) {
			return nil, fmt.Errorf("%w: --init %s: DELTA must be a finite number >= 0", ErrOptions, name)
		}
		if teacher == nil {
			return nil, fmt.Errorf("%w: --init %s needs a known teacher (--synthetic or --truth)", ErrOptions, name)
		}
		noise := make([]float64, m)
		var nn, tn float64
		for i := range noise {
			noise[i] = rng.NormFloat64()
			nn += noise[i] * noise[i]
			tn += teacher[i] * teacher[i]
		}
		f := delta * math.Sqrt(tn/nn)
		w := make([]float64, m)
		for i := range w {
			w[i] = teacher[i] + f*noise[i]
		}
		return w, nil
	case strings.HasSuffix(strings.ToLower(name), ".npy"):
		return readWeights("--init", name, spec)
	}
	return nil, fmt.Errorf("%w: --init %q: want identity, random, perturb:DELTA, tensor or a .npy file", ErrOptions, name)
}
