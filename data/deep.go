package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"altmin/model"
)

// DeepTeacher is planted data for a deep network: rows x_i ~ N(0, I_d) and
// noise-free labels y_i = f*(x_i) from a teacher network whose layer-l
// weights are drawn i.i.d. N(0, 1/n_{l-1}), rows of layers l >= 2 then
// centered to zero sum (see drawLayer). As in data.Synthetic, row i is
// drawn from its own PCG stream seeded by (Seed, i) alone, so a partition
// generates its own rows and the data do not depend on the partitioning;
// the teacher's weights and signs come from a stream seeded by Seed alone.
//
// DeepTeacher implements Source for the training rows 0..N-1; HeldOut
// gives further rows of the same distribution for testing.
type DeepTeacher struct {
	N     int    // training rows
	Dims  []int  // widths d, k1, ..., kL
	Seed  uint64 // seeds the teacher and every row
	Signs string // output signs: "alternate" (+1, -1, +1, ...) or "ones"

	net *model.Net
}

// MaxDeepWeights bounds a teacher's widths and its number of weights,
// sum_l n_l n_{l-1} (2^24, 128 MiB of float64), so that a mistyped
// specification is refused before the network is allocated. Training is
// limited far below it (job: transport.MaxM weights).
const MaxDeepWeights = 1 << 24

// NewDeepTeacher validates the specification and draws the teacher network.
func NewDeepTeacher(n int, dims []int, seed uint64, signs string) (*DeepTeacher, error) {
	if n < 1 {
		return nil, fmt.Errorf("%w: n = %d, need >= 1", ErrSynthetic, n)
	}
	if signs != "alternate" && signs != "ones" {
		return nil, fmt.Errorf("%w: signs %q, want alternate or ones", ErrSynthetic, signs)
	}
	if len(dims) < 2 {
		return nil, fmt.Errorf("%w: widths %v, need d and at least one hidden layer", ErrSynthetic, dims)
	}
	var weights int
	for l, v := range dims {
		if v < 1 {
			return nil, fmt.Errorf("%w: width n_%d = %d, need >= 1", ErrSynthetic, l, v)
		}
		if v > MaxDeepWeights {
			return nil, fmt.Errorf("%w: width n_%d = %d, at most %d supported", ErrSynthetic, l, v, MaxDeepWeights)
		}
		if l > 0 {
			// Both widths are at most MaxDeepWeights (2^24): no overflow.
			if weights += v * dims[l-1]; weights > MaxDeepWeights {
				return nil, fmt.Errorf("%w: widths %v: more than %d weights", ErrSynthetic, dims, MaxDeepWeights)
			}
		}
	}
	t := &DeepTeacher{N: n, Dims: append([]int(nil), dims...), Seed: seed, Signs: signs}
	net := model.NewNet(dims...)
	rng := rand.New(t.stream(teacherStream))
	for l := 1; l <= net.Layers(); l++ {
		drawLayer(rng, net, l)
	}
	if signs == "alternate" {
		for q := range net.V {
			net.V[q] = float64(1 - 2*(q%2))
		}
	}
	t.net = net
	return t, nil
}

// ParseDeepTeacher parses a planted deep-network specification in the syntax of
// ParseSynthetic, such as "model=deep,d=20,hidden=8-4,n=20000,seed=1",
// and draws the teacher. Keys: model (must be deep), d, hidden (the widths
// k1-k2-...-kL, at least one), n, seed (default 1), signs (alternate, the
// default, or ones).
func ParseDeepTeacher(s string) (*DeepTeacher, error) {
	var d, n int
	var hidden []int
	seed, signs := uint64(1), "alternate"
	isDeep := false
	err := ParseSpec(s, ErrSynthetic, func(key, val string) (err error) {
		switch key {
		case "model":
			if val != "deep" {
				err = fmt.Errorf("model must be deep, got %q", val)
			}
			isDeep = true
		case "d":
			d, err = PositiveInt(key, val)
		case "n":
			n, err = PositiveInt(key, val)
		case "hidden":
			hidden = hidden[:0]
			for _, w := range strings.Split(val, "-") {
				var k int
				if k, err = PositiveInt("every hidden width", w); err != nil {
					break
				}
				hidden = append(hidden, k)
			}
		case "seed":
			seed, err = strconv.ParseUint(val, 10, 64)
		case "signs":
			signs = val
			if val != "alternate" && val != "ones" {
				err = fmt.Errorf("signs must be alternate or ones, got %q", val)
			}
		default:
			err = fmt.Errorf("unknown key %q (known for model=deep: model, d, hidden, n, seed, signs)", key)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if !isDeep || d == 0 || n == 0 || len(hidden) == 0 {
		return nil, fmt.Errorf("%w: %q needs model=deep, d, hidden (e.g. hidden=8-4) and n", ErrSynthetic, s)
	}
	return NewDeepTeacher(n, append([]int{d}, hidden...), seed, signs)
}

// IsDeepSpec reports whether a planted-data specification names
// model=deep (and so is for ParseDeepTeacher rather than ParseSynthetic).
func IsDeepSpec(s string) bool {
	for _, kv := range strings.Split(s, ",") {
		if strings.TrimSpace(kv) == "model=deep" {
			return true
		}
	}
	return false
}

// Spec returns the teacher's canonical specification, which ParseDeepTeacher
// reads back.
func (t *DeepTeacher) Spec() string {
	h := make([]string, len(t.Dims)-1)
	for i, k := range t.Dims[1:] {
		h[i] = strconv.Itoa(k)
	}
	return fmt.Sprintf("model=deep,d=%d,hidden=%s,n=%d,seed=%d,signs=%s", t.Dims[0], strings.Join(h, "-"), t.N, t.Seed, t.Signs)
}

// Net returns a copy of the teacher network.
func (t *DeepTeacher) Net() *model.Net { return t.net.Clone() }

// String describes the teacher.
func (t *DeepTeacher) String() string {
	return fmt.Sprintf("deep teacher dims=%v n=%d seed=%d signs=%s", t.Dims, t.N, t.Seed, t.Signs)
}

// Info implements Source.
func (t *DeepTeacher) Info() Info {
	return Info{N: t.N, D: t.Dims[0], Desc: t.String()}
}

// Read implements Source: it generates training rows [lo, hi).
func (t *DeepTeacher) Read(lo, hi int, x, y []float64) error {
	if lo < 0 || hi > t.N || lo > hi {
		panic(fmt.Sprintf("data: bad range [%d, %d) in DeepTeacher.Read", lo, hi))
	}
	t.rows(lo, hi, x, y)
	return nil
}

// HeldOut returns a Source of n rows drawn after the training rows
// (rows N..N+n-1 of the same streams), for measuring test error.
func (t *DeepTeacher) HeldOut(n int) Source { return heldOut{t: t, n: n} }

type heldOut struct {
	t *DeepTeacher
	n int
}

func (h heldOut) Info() Info {
	return Info{N: h.n, D: h.t.Dims[0], Desc: fmt.Sprintf("%s, held-out rows %d..%d", h.t, h.t.N, h.t.N+h.n)}
}

func (h heldOut) Read(lo, hi int, x, y []float64) error {
	if lo < 0 || hi > h.n || lo > hi {
		panic(fmt.Sprintf("data: bad range [%d, %d) in held-out Read", lo, hi))
	}
	h.t.rows(h.t.N+lo, h.t.N+hi, x, y)
	return nil
}

// rows generates rows [lo, hi) of the stream; y may be nil.
func (t *DeepTeacher) rows(lo, hi int, x, y []float64) {
	d := t.Dims[0]
	if len(x) != (hi-lo)*d || (y != nil && len(y) != hi-lo) {
		panic("data: bad buffer sizes in DeepTeacher.Read")
	}
	for i := lo; i < hi; i++ {
		rng := rand.New(t.stream(uint64(i)))
		xi := x[(i-lo)*d : (i-lo+1)*d]
		for j := range xi {
			xi[j] = rng.NormFloat64()
		}
	}
	if y != nil {
		t.net.Predict(y, x)
	}
}

// streamSalt separates these streams from those of data.Synthetic with the
// same seed.
const streamSalt = 0x6465657000000000 // "deep"

func (t *DeepTeacher) stream(i uint64) *rand.PCG {
	return rand.NewPCG(mix(t.Seed^streamSalt), mix(mix(t.Seed)^i))
}

// PerturbNet returns a copy of n with every layer moved by a relative amount
// delta in a random direction: W_l + delta ||W_l||_F E_l / ||E_l||_F with
// E_l i.i.d. N(0, 1) drawn from a stream seeded by seed, so that
// ||W_l - W_l*||_F = delta ||W_l*||_F exactly (up to rounding).
func PerturbNet(n *model.Net, delta float64, seed uint64) *model.Net {
	p := n.Clone()
	rng := rand.New(rand.NewPCG(mix(seed^streamSalt^1), mix(seed)))
	for _, w := range p.W {
		e := make([]float64, len(w))
		for i := range e {
			e[i] = rng.NormFloat64()
		}
		s := delta * norm(w) / norm(e)
		for i := range w {
			w[i] += s * e[i]
		}
	}
	return p
}

// drawLayer draws W_l: entries i.i.d. N(0, 1/n_{l-1}), and for l >= 2 each
// row then centered to zero sum. The inputs of layer l >= 2 are ReLU outputs,
// nonnegative with about equal means, so a centered row is active on about
// half the samples; an uncentered row with all entries negative (probability
// 2^-n_{l-1}, 1 in 16 for n_{l-1} = 4) would be a dead unit that no data can
// identify, and a mostly negative one a nearly dead unit.
func drawLayer(rng *rand.Rand, n *model.Net, l int) {
	in := n.Dims[l-1]
	w := n.W[l-1]
	s := 1 / math.Sqrt(float64(in))
	for i := range w {
		w[i] = rng.NormFloat64() * s
	}
	if l == 1 {
		return
	}
	for q := 0; q < n.Dims[l]; q++ {
		row := w[q*in : (q+1)*in]
		var mean float64
		for _, v := range row {
			mean += v
		}
		mean /= float64(in)
		for j := range row {
			row[j] -= mean
		}
	}
}

// RandomNet returns a network with the widths and signs of n and weights
// drawn like a teacher's (see NewDeepTeacher) from a stream seeded by seed: a
// random start that knows nothing of the teacher.
func RandomNet(n *model.Net, seed uint64) *model.Net {
	p := n.Clone()
	rng := rand.New(rand.NewPCG(mix(seed^streamSalt^2), mix(seed)))
	for l := 1; l <= p.Layers(); l++ {
		drawLayer(rng, p, l)
	}
	return p
}

func norm(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}
