package data

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"altmin/model"
)

// ErrSynthetic is wrapped by every error in a synthetic data specification.
var ErrSynthetic = errors.New("data: bad synthetic specification")

// Synthetic is planted data: rows x_i ~ N(0, I_d) and labels from a teacher
// network of the same architecture, noise-free. Row i is drawn from its own
// random stream, seeded by (Seed, i) alone, so any row range (a partition)
// can be generated where it lives, without a file, and the data set does not
// depend on how it is partitioned. The teacher is drawn from a stream
// seeded by Seed alone.
type Synthetic struct {
	Model   model.Kind
	N, D, K int
	Seed    uint64
	// WNorm, when positive, scales the teacher to ||W*||_F = WNorm. Default
	// for resnet: 2 (the paper's setting); for relu and sum: 0, meaning
	// teacher entries ~ N(0, 1/d).
	WNorm float64
	Signs string // ones, alternate or random
	// DType is the precision the features are drawn in: "float64" (the
	// default; "" means the same) or "float32", each feature rounded to the
	// nearest float32 before the labels are computed from it, so that the
	// teacher fits the data exactly when they are stored as float32.
	DType string

	spec  model.Spec
	wstar []float64
}

// ParseSynthetic parses a specification such as
// "model=sum,d=50,k=5,n=50000,seed=1" (keys: model, d, k, n, seed, wnorm,
// signs, dtype) and draws the teacher.
func ParseSynthetic(s string) (*Synthetic, error) {
	g := &Synthetic{Model: model.Sum, Seed: 1, Signs: "ones", WNorm: -1}
	kSet := false
	err := ParseSpec(s, ErrSynthetic, func(key, val string) (err error) {
		switch key {
		case "model":
			if g.Model, err = model.ParseKind(val); err != nil {
				err = fmt.Errorf("unknown model %q (want %s)", val, PlantedModels)
			}
		case "d":
			g.D, err = PositiveInt(key, val)
		case "k":
			g.K, err = PositiveInt(key, val)
			kSet = true
		case "n":
			g.N, err = PositiveInt(key, val)
		case "seed":
			g.Seed, err = strconv.ParseUint(val, 10, 64)
		case "wnorm":
			g.WNorm, err = strconv.ParseFloat(val, 64)
			if err == nil && !(g.WNorm > 0 && !math.IsInf(g.WNorm, 0)) {
				err = fmt.Errorf("wnorm must be positive and finite, got %s", val)
			}
		case "dtype":
			g.DType = val
			if val != "float64" && val != "float32" {
				err = fmt.Errorf("dtype must be float64 or float32, got %q", val)
			}
		case "signs":
			g.Signs = val
			if val != "ones" && val != "alternate" && val != "random" {
				err = fmt.Errorf("signs must be ones, alternate or random, got %q", val)
			}
		default:
			err = fmt.Errorf("unknown key %q (known: model, d, k, n, seed, wnorm, signs, dtype)", key)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if g.D == 0 || g.N == 0 {
		return nil, fmt.Errorf("%w: %q needs d and n", ErrSynthetic, s)
	}
	switch g.Model {
	case model.ReLU:
		if kSet && g.K != 1 {
			return nil, fmt.Errorf("%w: model relu has k = 1, got k = %d", ErrSynthetic, g.K)
		}
		g.K = 1
	case model.ResNet:
		if kSet && g.K != g.D {
			return nil, fmt.Errorf("%w: model resnet has k = d, got k = %d, d = %d", ErrSynthetic, g.K, g.D)
		}
		g.K = g.D
		if g.WNorm < 0 {
			g.WNorm = 2
		}
	default:
		if !kSet {
			return nil, fmt.Errorf("%w: %q: model sum needs k", ErrSynthetic, s)
		}
	}
	// The teacher is drawn here, k x d weights; the solve takes at most
	// d*k = 8192 unknowns anyway (transport.MaxM).
	if g.D > MaxSyntheticD || g.K > MaxSyntheticD || g.D*g.K > MaxSyntheticWeights {
		return nil, fmt.Errorf("%w: %q: d = %d, k = %d is too large (at most d, k <= %d and d*k <= %d)", ErrSynthetic, s, g.D, g.K, MaxSyntheticD, MaxSyntheticWeights)
	}
	g.draw()
	return g, nil
}

// PlantedModels lists the models a planted-data specification may name
// (ParsePlanted), for error messages.
const PlantedModels = "relu, sum, resnet, deep, friedman1 or wide"

// Limits of a planted teacher; larger specifications are refused before
// anything is allocated.
const (
	MaxSyntheticD       = 1 << 16
	MaxSyntheticWeights = 1 << 24
)

// PositiveInt parses the value val of key as an integer >= 1.
func PositiveInt(key, val string) (int, error) {
	v, err := strconv.Atoi(val)
	if err != nil || v < 1 {
		return 0, fmt.Errorf("%s must be a positive integer, got %q", key, val)
	}
	return v, nil
}

// mix is SplitMix64's finalizer, used to turn (seed, stream) pairs into
// well-separated generator seeds.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// teacherStream is the stream index of the teacher; rows use 0..N-1.
const teacherStream = math.MaxUint64

func (g *Synthetic) stream(pcg *rand.PCG, i uint64) {
	pcg.Seed(mix(g.Seed), mix(mix(g.Seed)^i))
}

func (g *Synthetic) draw() {
	pcg := rand.NewPCG(0, 0)
	rng := rand.New(pcg)
	g.stream(pcg, teacherStream)
	d, k := g.D, g.K
	w := make([]float64, k*d)
	for i := range w {
		w[i] = rng.NormFloat64() / math.Sqrt(float64(d))
	}
	if g.WNorm > 0 {
		var s float64
		for _, v := range w {
			s += v * v
		}
		f := g.WNorm / math.Sqrt(s)
		for i := range w {
			w[i] *= f
		}
	}
	signs := make([]float64, k)
	for q := range signs {
		switch g.Signs {
		case "ones":
			signs[q] = 1
		case "alternate":
			signs[q] = float64(1 - 2*(q%2))
		case "random":
			signs[q] = float64(1 - 2*int(rng.Uint64()&1))
		}
	}
	g.wstar = w
	g.spec = model.Spec{Kind: g.Model, D: d, K: k, Signs: signs}
}

// Teacher returns the teacher's specification and learned weights W*
// (k x d, row-major; for resnet without the +I).
func (g *Synthetic) Teacher() (model.Spec, []float64) {
	s := g.spec
	s.Signs = append([]float64(nil), s.Signs...)
	return s, append([]float64(nil), g.wstar...)
}

// String returns the canonical specification.
func (g *Synthetic) String() string {
	s := fmt.Sprintf("model=%s,d=%d,k=%d,n=%d,seed=%d,signs=%s", g.Model, g.D, g.K, g.N, g.Seed, g.Signs)
	if g.WNorm > 0 {
		s += fmt.Sprintf(",wnorm=%g", g.WNorm)
	}
	if g.DType == "float32" {
		s += ",dtype=float32"
	}
	return s
}

// Info implements Source.
func (g *Synthetic) Info() Info {
	return Info{N: g.N, D: g.D, Desc: "synthetic " + g.String()}
}

// Read implements Source: it generates rows [lo, hi).
func (g *Synthetic) Read(lo, hi int, x, y []float64) error {
	d := g.D
	if lo < 0 || hi > g.N || lo > hi || len(x) != (hi-lo)*d || (y != nil && len(y) != hi-lo) {
		panic(fmt.Sprintf("data: bad range [%d, %d) or buffer sizes in Synthetic.Read", lo, hi))
	}
	pcg := rand.NewPCG(0, 0)
	rng := rand.New(pcg)
	for i := lo; i < hi; i++ {
		g.stream(pcg, uint64(i))
		xi := x[(i-lo)*d : (i-lo+1)*d]
		for j := range xi {
			xi[j] = rng.NormFloat64()
		}
		if g.DType == "float32" {
			for j, v := range xi {
				xi[j] = float64(float32(v)) // normal draws are far inside the float32 range
			}
		}
	}
	if y != nil {
		g.spec.Predict(y, x, g.wstar)
	}
	return nil
}

// ParseSpec splits a planted-data specification "key=value,key=value,..."
// (blank items ignored) and calls set on each pair in order. An item
// without "=", a key given twice or an error of set stops it with an error
// wrapping sentinel that quotes the item.
func ParseSpec(s string, sentinel error, set func(key, val string) error) error {
	seen := map[string]bool{}
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		key, val, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("%w: %q is not key=value in %q", sentinel, kv, s)
		}
		if seen[key] {
			return fmt.Errorf("%w: key %q given twice in %q", sentinel, key, s)
		}
		seen[key] = true
		if err := set(key, val); err != nil {
			return fmt.Errorf("%w: %q: %v", sentinel, kv, err)
		}
	}
	return nil
}
