package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"altmin/model"
)

// Non-realizable planted data: problems no ReLU network of the model's size
// fits exactly, for testing training on data like real tables. They have
// no teacher in the model's shape, so they are trained like file data.
// As in Synthetic, row i is drawn from its own stream, seeded by (Seed, i)
// alone, so the data do not depend on the partitioning.

// Friedman is Friedman's first regression problem (Friedman 1991): x
// uniform in [0, 1]^D (D >= 5; features 6.. are noise),
//
//	y = 10 sin(pi x1 x2) + 20 (x3 - 0.5)^2 + 10 x4 + 5 x5 + Noise N(0, 1).
type Friedman struct {
	N, D  int
	Seed  uint64
	Noise float64
}

// Wide is a noisy teacher wider than the models trained on it: x ~ N(0, I_D),
// y = sum_q v_q relu(w_q . x) over K units with alternating signs v and
// w_q ~ N(0, I/D), plus Noise N(0, 1).
type Wide struct {
	N, D, K int
	Seed    uint64
	Noise   float64
	w       []float64 // K x D
	signs   []float64
}

// ParsePlanted parses a planted-data specification of any kind:
// model=relu|sum|resnet (ParseSynthetic), model=deep (ParseDeepTeacher),
// model=friedman1 (keys n, d (default 10), seed, noise (default 1)) or
// model=wide (keys d, k, n, seed, noise (default 0.1)).
func ParsePlanted(s string) (Source, error) {
	switch plantedModel(s) {
	case "deep":
		return ParseDeepTeacher(s)
	case "friedman1":
		return parseFriedman(s)
	case "wide":
		return parseWide(s)
	}
	return ParseSynthetic(s)
}

// plantedModel returns the value of a specification's model key, "" for
// none.
func plantedModel(s string) string {
	for _, kv := range strings.Split(s, ",") {
		if k, v, ok := strings.Cut(strings.TrimSpace(kv), "="); ok && k == "model" {
			return v
		}
	}
	return ""
}

// IsNonRealizable reports whether a planted-data specification names a
// kind without a teacher (friedman1, wide).
func IsNonRealizable(s string) bool {
	m := plantedModel(s)
	return m == "friedman1" || m == "wide"
}

// nonRealizable parses the keys of the non-realizable kinds into the
// fields given; unknown keys are errors naming the known ones.
func nonRealizable(s, name string, n, d, k *int, seed *uint64, noise *float64) error {
	known := "model, n, d, seed, noise"
	if k != nil {
		known = "model, n, d, k, seed, noise"
	}
	return ParseSpec(s, ErrSynthetic, func(key, val string) (err error) {
		switch {
		case key == "model":
		case key == "n":
			*n, err = PositiveInt(key, val)
		case key == "d":
			*d, err = PositiveInt(key, val)
		case key == "k" && k != nil:
			*k, err = PositiveInt(key, val)
		case key == "seed":
			*seed, err = strconv.ParseUint(val, 10, 64)
		case key == "noise":
			*noise, err = strconv.ParseFloat(val, 64)
			if err == nil && !(*noise >= 0 && !math.IsInf(*noise, 0)) {
				err = fmt.Errorf("noise must be finite and >= 0, got %s", val)
			}
		default:
			err = fmt.Errorf("unknown key %q for model=%s (known: %s)", key, name, known)
		}
		return err
	})
}

func parseFriedman(s string) (*Friedman, error) {
	f := &Friedman{D: 10, Seed: 1, Noise: 1}
	if err := nonRealizable(s, "friedman1", &f.N, &f.D, nil, &f.Seed, &f.Noise); err != nil {
		return nil, err
	}
	switch {
	case f.N == 0:
		return nil, fmt.Errorf("%w: %q needs n", ErrSynthetic, s)
	case f.D < 5 || f.D > MaxSyntheticD:
		return nil, fmt.Errorf("%w: %q: model friedman1 needs 5 <= d <= %d, got %d", ErrSynthetic, s, MaxSyntheticD, f.D)
	}
	return f, nil
}

func (f *Friedman) String() string {
	return fmt.Sprintf("model=friedman1,d=%d,n=%d,seed=%d,noise=%g", f.D, f.N, f.Seed, f.Noise)
}

// Info implements Source.
func (f *Friedman) Info() Info { return Info{N: f.N, D: f.D, Desc: "synthetic " + f.String()} }

// Read implements Source: it generates rows [lo, hi).
func (f *Friedman) Read(lo, hi int, x, y []float64) error {
	rows(lo, hi, f.N, f.D, x, y, "Friedman", func(rng *rand.Rand, xi []float64) float64 {
		for j := range xi {
			xi[j] = rng.Float64()
		}
		v := 10*math.Sin(math.Pi*xi[0]*xi[1]) + 20*(xi[2]-0.5)*(xi[2]-0.5) + 10*xi[3] + 5*xi[4]
		return v + f.Noise*rng.NormFloat64()
	}, f.Seed)
	return nil
}

func parseWide(s string) (*Wide, error) {
	w := &Wide{Seed: 1, Noise: 0.1}
	if err := nonRealizable(s, "wide", &w.N, &w.D, &w.K, &w.Seed, &w.Noise); err != nil {
		return nil, err
	}
	switch {
	case w.N == 0 || w.D == 0 || w.K == 0:
		return nil, fmt.Errorf("%w: %q: model wide needs d, k and n", ErrSynthetic, s)
	case w.D > MaxSyntheticD || w.K > MaxSyntheticD || w.D*w.K > MaxSyntheticWeights:
		return nil, fmt.Errorf("%w: %q: d = %d, k = %d is too large (at most d, k <= %d and d*k <= %d)", ErrSynthetic, s, w.D, w.K, MaxSyntheticD, MaxSyntheticWeights)
	}
	rng := rand.New(rand.NewPCG(mix(w.Seed^0x77696465), mix(w.Seed))) // "wide"
	w.w = make([]float64, w.K*w.D)
	for i := range w.w {
		w.w[i] = rng.NormFloat64() / math.Sqrt(float64(w.D))
	}
	w.signs, _ = model.MakeSigns("alternate", w.K)
	return w, nil
}

func (w *Wide) String() string {
	return fmt.Sprintf("model=wide,d=%d,k=%d,n=%d,seed=%d,noise=%g", w.D, w.K, w.N, w.Seed, w.Noise)
}

// Info implements Source.
func (w *Wide) Info() Info { return Info{N: w.N, D: w.D, Desc: "synthetic " + w.String()} }

// Read implements Source: it generates rows [lo, hi).
func (w *Wide) Read(lo, hi int, x, y []float64) error {
	spec := model.Spec{Kind: model.Sum, D: w.D, K: w.K, Signs: w.signs}
	f := make([]float64, 1)
	rows(lo, hi, w.N, w.D, x, y, "Wide", func(rng *rand.Rand, xi []float64) float64 {
		for j := range xi {
			xi[j] = rng.NormFloat64()
		}
		spec.Predict(f, xi, w.w)
		return f[0] + w.Noise*rng.NormFloat64()
	}, w.Seed^0x77696465)
	return nil
}

// rows generates rows [lo, hi) of n rows of d features: row i from the
// stream of (seed, i), its features and label drawn by draw.
func rows(lo, hi, n, d int, x, y []float64, name string, draw func(rng *rand.Rand, xi []float64) float64, seed uint64) {
	if lo < 0 || hi > n || lo > hi || len(x) != (hi-lo)*d || (y != nil && len(y) != hi-lo) {
		panic(fmt.Sprintf("data: bad range [%d, %d) or buffer sizes in %s.Read", lo, hi, name))
	}
	pcg := rand.NewPCG(0, 0)
	rng := rand.New(pcg)
	for i := lo; i < hi; i++ {
		pcg.Seed(mix(seed), mix(mix(seed)^uint64(i)))
		v := draw(rng, x[(i-lo)*d:(i-lo+1)*d])
		if y != nil {
			y[i-lo] = v
		}
	}
}
