package job

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"altmin/coordinator"
	"altmin/data"
	"altmin/model"
	"altmin/msg"
)

// shallowFamily is the 1-hidden-layer models: relu (one neuron), sum (k
// neurons, fixed output signs) and resnet (k = d, a skip connection: the
// network's weights are W + I). The core is coordinator.Shallow, the
// shards' statistics msg.StatsRequest; the model directory holds
// weights.npy, the learned W (k x d, d+1 with --bias). Starts (--init):
// identity (resnet: W0 = 0), random (vec(W0) ~ N(0, I)/d, seeded),
// perturb:DELTA (a known teacher moved by DELTA of its norm), tensor (the
// moment method, computed from the data by whatever holds them) and a
// .npy file.
type shallowFamily struct{}

func (shallowFamily) check(o *Options) error {
	m := o.Model
	if m == "" {
		m = "sum (the default)"
	}
	switch {
	case len(o.Hidden) > 0:
		return fmt.Errorf("%w: --hidden %s is for --model deep, but the model is %s (use --k for the 1-hidden-layer models)", ErrOptions, hiddenString(o.Hidden), m)
	case data.IsDeepSpec(o.Synthetic):
		return fmt.Errorf("%w: --synthetic %s plants a deep network: --model %s cannot learn it (use --model deep)", ErrOptions, o.Synthetic, m)
	}
	return nil
}

func (shallowFamily) shape(o Options, d int, planted teacher) (model.Spec, *model.Net, error) {
	kind := model.Sum
	if planted.spec.Kind != "" {
		kind = planted.spec.Kind
	}
	if o.Model != "" {
		k := model.Kind(o.Model) // Validate parsed it
		if planted.spec.Kind != "" && k != planted.spec.Kind {
			return model.Spec{}, nil, fmt.Errorf("%w: --model %s differs from the synthetic teacher's model %s", ErrOptions, k, planted.spec.Kind)
		}
		kind = k
	}
	st := o.setup()
	spec := model.Spec{Kind: kind, D: d, Bias: st.bias, Linear: st.linear}
	if st.bias {
		spec.D++
	}
	switch {
	case o.K != 0:
		spec.K = o.K
	case planted.spec.K != 0:
		spec.K = planted.spec.K
	case kind == model.ReLU:
		spec.K = 1
	case kind == model.ResNet:
		spec.K = d
	default:
		return model.Spec{}, nil, fmt.Errorf("%w: --k is required for model sum with --data", ErrOptions)
	}
	if planted.spec.K != 0 && spec.K != planted.spec.K {
		return model.Spec{}, nil, fmt.Errorf("%w: --k %d differs from the synthetic teacher's k = %d", ErrOptions, spec.K, planted.spec.K)
	}
	// The unknowns are checked before anything of size k (the signs) or
	// k*d is allocated.
	m := int64(spec.K) * int64(spec.D)
	if spec.Linear {
		m += int64(spec.D)
	}
	if spec.K < 0 || m > msg.MaxM {
		return model.Spec{}, nil, fmt.Errorf("%w: %w: %d unknowns (k = %d units of d = %d features, and a linear term), at most %d are supported (MaxM; the Gram matrix is m(m+1)/2 doubles)", ErrOptions, msg.ErrTooLarge, m, spec.K, spec.D, msg.MaxM)
	}
	var err error
	if spec.Signs, err = signsOf(o, spec.K, planted.spec.Signs, st.signs); err != nil {
		return model.Spec{}, nil, err
	}
	if err := spec.Validate(); err != nil {
		return model.Spec{}, nil, fmt.Errorf("%w: %v", ErrOptions, err)
	}
	// The teacher: the synthetic one (with a zero bias column) or --truth.
	var tch *model.Net
	if planted.w != nil {
		tch = widenNet(planted.w, spec.D)
	}
	if o.Truth != "" {
		w, err := readMatrix("--truth", o.Truth, spec.K, spec.D, shapeName(spec))
		if err != nil {
			return model.Spec{}, nil, err
		}
		tch = shallowNet(spec, w)
	}
	return spec, tch, nil
}

// shapeName names the shape of a 1-hidden-layer model's weights for
// errors.
func shapeName(spec model.Spec) string {
	if spec.Bias {
		return "(k, d+1 (bias))"
	}
	return "(k, d)"
}

// shallowNet returns the weights w (k x d) of spec as a network, with a
// zero linear term if spec has one.
func shallowNet(spec model.Spec, w []float64) *model.Net {
	n := spec.Shape()
	n.W[0] = w
	return n
}

func (shallowFamily) start(o Options, spec model.Spec, tch *model.Net) (*model.Net, string, error) {
	name := o.Init
	if name == "" {
		name = "random"
		if def := o.setup().init; def != "" {
			name = def
		}
		if spec.Kind == model.ResNet {
			name = "identity"
		}
	}
	m := spec.K * spec.D                                 // the hidden weights; a linear term starts at zero
	rng := rand.New(rand.NewPCG(o.Seed, 0x616c746d696e)) // "altmin"
	w := make([]float64, m)
	switch {
	case name == "tensor" || name == "data":
		if spec.Kind == model.ResNet {
			return nil, "", fmt.Errorf("%w: --init %s is for models sum and relu; for resnet use identity", ErrOptions, name)
		}
		return nil, name, nil
	case name == "identity":
		if spec.Kind != model.ResNet {
			return nil, "", fmt.Errorf("%w: --init identity is for model resnet (W0 = 0, U0 = I); model is %s", ErrOptions, spec.Kind)
		}
	case name == "random":
		for i := range w {
			w[i] = rng.NormFloat64() / float64(spec.D)
		}
	case strings.HasPrefix(name, "perturb:"):
		delta, err := strconv.ParseFloat(strings.TrimPrefix(name, "perturb:"), 64)
		if err != nil || !(delta >= 0) || math.IsInf(delta, 0) {
			return nil, "", fmt.Errorf("%w: --init %s: DELTA must be a finite number >= 0", ErrOptions, name)
		}
		if tch == nil {
			return nil, "", fmt.Errorf("%w: --init %s needs a known teacher (--synthetic or --truth)", ErrOptions, name)
		}
		t := tch.W[0]
		noise := make([]float64, m)
		var nn, tn float64
		for i := range noise {
			noise[i] = rng.NormFloat64()
			nn += noise[i] * noise[i]
			tn += t[i] * t[i]
		}
		f := delta * math.Sqrt(tn/nn)
		for i := range w {
			w[i] = t[i] + f*noise[i]
		}
	case isNPY(name):
		var err error
		if w, err = readMatrix("--init", name, spec.K, spec.D, shapeName(spec)); err != nil {
			return nil, "", err
		}
	default:
		return nil, "", fmt.Errorf("%w: --init %q: want identity, random, perturb:DELTA, data, tensor or a .npy file", ErrOptions, name)
	}
	return shallowNet(spec, w), name, nil
}

func (shallowFamily) core(o Options, pr *Problem, pool *msg.Pool) (coordinator.Core, error) {
	spec, st := pr.Spec, o.setup()
	cfg := coordinator.ShallowConfig{Spec: spec, Partitions: o.Partitions, MaxIters: o.Iters, Tol: o.Tol,
		Method: coordinator.Method(o.Method), Step: o.Step, Patience: st.patience, Transform: pr.Transform, Split: pr.Split, Pool: pool}
	if st.damping {
		cfg.Damping, cfg.Ridge = coordinator.DefaultDamping(), st.ridge
		cfg.Revive, cfg.Seed = st.revive, o.Seed
	}
	return coordinator.NewShallow(cfg, append(spec.Effective(pr.Start.W[0]), pr.Start.Skip...))
}

func (shallowFamily) learned(spec model.Spec, n *model.Net) *model.Net {
	w := shallowNet(spec, spec.Learned(n.W[0]))
	if n.Skip != nil {
		w.Skip = slices.Clone(n.Skip)
	}
	return w
}

func (shallowFamily) relErr(spec model.Spec, w, tch *model.Net) float64 {
	return spec.RelErr(w.W[0], tch.W[0])
}

func (shallowFamily) files(spec model.Spec) []string {
	if spec.Linear {
		return []string{"weights.npy", linearFile}
	}
	return []string{"weights.npy"}
}

func (f shallowFamily) write(dir string, spec model.Spec, w *model.Net) error {
	return writeWeights(dir, f.files(spec), w)
}

func (f shallowFamily) read(dir string, spec model.Spec) (*model.Net, error) {
	return readWeights(dir, f.files(spec), spec)
}

func (shallowFamily) predictor(spec model.Spec, w *model.Net) func(out, x []float64) {
	return func(out, x []float64) {
		spec.Predict(out, x, w.W[0])
		addLinear(out, x, w.Skip)
	}
}
