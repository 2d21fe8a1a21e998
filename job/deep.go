package job

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"altmin/coordinator"
	"altmin/data"
	"altmin/model"
	"altmin/msg"
)

// deepFamily is deep networks (--model deep): ReLU networks with 2 to
// model.MaxDeepLayers hidden layers, f(x) = v . relu(W_L ... relu(W_1 x)),
// trained by the joint schedule of coordinator.Deep (docs/DEEP.md). The
// widths come from --hidden or a deep --synthetic teacher, the output signs
// v from --signs as for the 1-hidden-layer models. The model directory
// holds weights_1.npy ... weights_L.npy, layer l of shape (k_l, k_{l-1})
// with k_0 = d (d+1 with --bias). Starts: random (data.RandomNet, seeded),
// perturb:DELTA (every layer of a known teacher moved by DELTA of its norm)
// and a deep model directory.
type deepFamily struct{}

func (deepFamily) check(o *Options) error {
	for l, k := range o.Hidden {
		if k < 1 {
			return fmt.Errorf("%w: --hidden %s: layer %d has width %d, need >= 1", ErrOptions, hiddenString(o.Hidden), l+1, k)
		}
	}
	synthDeep := data.IsDeepSpec(o.Synthetic)
	switch {
	case len(o.Hidden) > model.MaxDeepLayers:
		return fmt.Errorf("%w: --hidden %s: %d hidden layers, at most %d are supported", ErrOptions, hiddenString(o.Hidden), len(o.Hidden), model.MaxDeepLayers)
	case len(o.Hidden) == 1:
		return fmt.Errorf("%w: --hidden %s: one hidden layer is --model sum --k %d; --model deep needs 2 to %d hidden layers", ErrOptions, hiddenString(o.Hidden), o.Hidden[0], model.MaxDeepLayers)
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
	case isNPY(o.Init):
		return fmt.Errorf("%w: --init %s: a deep start is a model directory (model.json and weights_1.npy ...), not one .npy file", ErrOptions, o.Init)
	case isNPY(o.Truth):
		return fmt.Errorf("%w: --truth %s: a deep teacher is a model directory (model.json and weights_1.npy ...), not one .npy file", ErrOptions, o.Truth)
	case o.AllowDegraded:
		return fmt.Errorf("%w: --allow-degraded is not available for --model deep: every partition is needed every step", ErrOptions)
	}
	return nil
}

func (deepFamily) shape(o Options, d int, planted teacher) (model.Spec, *model.Net, error) {
	hidden := o.Hidden
	var tch *model.Net
	if planted.spec.Kind == model.Deep { // a 1-hidden-layer teacher's data are data, without a teacher in the model's shape
		th := planted.spec.Hidden
		if len(hidden) == 0 {
			hidden = th
		} else if !slices.Equal(hidden, th) {
			return model.Spec{}, nil, fmt.Errorf("%w: --hidden %s differs from the synthetic teacher's widths %s", ErrOptions, hiddenString(hidden), hiddenString(th))
		}
		tch = planted.w
	}
	if n := len(hidden); n < 2 || n > model.MaxDeepLayers {
		return model.Spec{}, nil, fmt.Errorf("%w: --model deep needs 2 to %d hidden layers, got widths %s", ErrOptions, model.MaxDeepLayers, hiddenString(hidden))
	}
	st := o.setup()
	spec := model.Spec{Kind: model.Deep, D: d, K: hidden[len(hidden)-1], Hidden: slices.Clone(hidden), Bias: st.bias, Linear: st.linear}
	if st.bias {
		spec.D++
	}
	if err := msg.CheckDims(spec.Dims()); err != nil {
		return model.Spec{}, nil, fmt.Errorf("%w: --hidden %s on d = %d features: %w", ErrOptions, hiddenString(hidden), spec.D, err)
	}
	if tch != nil && st.bias {
		tch = widenNet(tch, spec.D)
	}
	if o.Truth != "" {
		mf, t, err := LoadModel(o.Truth)
		if err != nil {
			return model.Spec{}, nil, fmt.Errorf("--truth: %w", err)
		}
		if mf.Model != string(model.Deep) || !slices.Equal(t.Dims, spec.Dims()) {
			return model.Spec{}, nil, fmt.Errorf("%w: --truth %s has widths %v, the model %v", ErrOptions, o.Truth, t.Dims, spec.Dims())
		}
		tch = t
	}
	var err error
	if spec.Signs, err = signsOf(o, spec.K, teacherSigns(tch), st.signs); err != nil {
		return model.Spec{}, nil, err
	}
	if err := spec.Validate(); err != nil {
		return model.Spec{}, nil, fmt.Errorf("%w: --signs %s: %v", ErrOptions, o.Signs, err)
	}
	if tch != nil && !slices.Equal(tch.V, spec.Signs) {
		return model.Spec{}, nil, fmt.Errorf("%w: --signs %s differ from the teacher's output signs %v", ErrOptions, o.Signs, tch.V)
	}
	return spec, tch, nil
}

// teacherSigns returns a teacher's output signs, nil without one.
func teacherSigns(t *model.Net) []float64 {
	if t == nil {
		return nil
	}
	return t.V
}

func (deepFamily) start(o Options, spec model.Spec, tch *model.Net) (*model.Net, string, error) {
	name := o.Init
	if name == "" {
		name = "random"
		if def := o.setup().init; def != "" {
			name = def
		}
	}
	shape := spec.Shape()
	switch {
	case name == "data":
		return nil, name, nil
	case name == "random":
		return data.RandomNet(shape, o.Seed), name, nil
	case strings.HasPrefix(name, "perturb:"):
		delta, err := strconv.ParseFloat(strings.TrimPrefix(name, "perturb:"), 64)
		if err != nil || !(delta >= 0) || math.IsInf(delta, 0) {
			return nil, "", fmt.Errorf("%w: --init %s: DELTA must be a finite number >= 0", ErrOptions, name)
		}
		if tch == nil {
			return nil, "", fmt.Errorf("%w: --init %s needs a known teacher (--synthetic model=deep,... or --truth DIR)", ErrOptions, name)
		}
		return data.PerturbNet(tch, delta, o.Seed), name, nil
	case isDir(name):
		_, w, err := LoadModel(name)
		if err != nil {
			return nil, "", fmt.Errorf("--init: %w", err)
		}
		if !w.SameShape(shape) {
			return nil, "", fmt.Errorf("%w: --init %s has widths %v and signs %v, the model %v and %v", ErrOptions, name, w.Dims, w.V, shape.Dims, shape.V)
		}
		return w, name, nil
	}
	return nil, "", fmt.Errorf("%w: --init %q: want random, perturb:DELTA, data or a deep model directory", ErrOptions, name)
}

func (deepFamily) core(o Options, pr *Problem, pool *msg.Pool) (coordinator.Core, error) {
	st := o.setup()
	cfg := coordinator.DeepConfig{Schedule: coordinator.Joint, Partitions: o.Partitions, MaxIters: o.Iters, Tol: o.Tol,
		FitTol: coordinator.DefaultDeepConfig().FitTol, Patience: st.patience, Transform: pr.Transform, Split: pr.Split, Pool: pool}
	if st.damping {
		cfg.Damping, cfg.Ridge = coordinator.DefaultDamping(), st.ridge
	}
	return coordinator.NewDeep(cfg, pr.Start)
}

func (deepFamily) learned(_ model.Spec, n *model.Net) *model.Net { return n.Clone() }

func (deepFamily) relErr(_ model.Spec, w, tch *model.Net) float64 { return model.WeightErr(w, tch) }

func (deepFamily) files(spec model.Spec) []string {
	names := make([]string, len(spec.Hidden))
	for l := range names {
		names[l] = fmt.Sprintf("weights_%d.npy", l+1)
	}
	if spec.Linear {
		names = append(names, linearFile)
	}
	return names
}

func (f deepFamily) write(dir string, spec model.Spec, w *model.Net) error {
	return writeWeights(dir, f.files(spec), w)
}

func (f deepFamily) read(dir string, spec model.Spec) (*model.Net, error) {
	return readWeights(dir, f.files(spec), spec)
}

func (deepFamily) predictor(_ model.Spec, w *model.Net) func(out, x []float64) { return w.Predict }
