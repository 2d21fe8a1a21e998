package model

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// Kind names a model.
type Kind string

// The models.
const (
	ReLU   Kind = "relu"   // single ReLU neuron
	Sum    Kind = "sum"    // 1-hidden-layer, fixed output signs
	ResNet Kind = "resnet" // skip connection, identity-mapping model
	Deep   Kind = "deep"   // 2 or more hidden layers, fixed output signs (Net)
)

// MaxDeepLayers is the largest number of hidden layers of a deep model:
// the depths measured in docs/DEEP.md.
const MaxDeepLayers = 4

// ErrSpec is wrapped by every model specification error.
var ErrSpec = errors.New("model: invalid specification")

// Spec is a model with its dimensions: every model is a ReLU network with
// fixed output signs (Net), of one hidden layer of K units (relu, sum,
// resnet) or of the hidden layers Hidden (deep).
type Spec struct {
	Kind Kind `json:"kind"`
	D    int  `json:"d"` // input features, including the bias feature when Bias
	K    int  `json:"k"` // hidden units (deep: of the last hidden layer)
	// Hidden holds the widths of a deep model's hidden layers, the last
	// K; nil for the 1-hidden-layer models.
	Hidden []int     `json:"hidden,omitempty"`
	Signs  []float64 `json:"signs"` // output signs, each +1 or -1, length K
	Bias   bool      `json:"bias"`  // a constant-1 feature is appended to inputs
	// Linear adds a linear term of the input (Net.Skip) to the output;
	// with Bias, its last weight is the output's bias.
	Linear bool `json:"linear,omitempty"`
}

// ParseKind parses a model name.
func ParseKind(s string) (Kind, error) {
	switch Kind(s) {
	case ReLU, Sum, ResNet, Deep:
		return Kind(s), nil
	}
	return "", fmt.Errorf("%w: unknown model %q (want relu, sum, resnet or deep)", ErrSpec, s)
}

// Dims returns the widths of the model's network: D, then the hidden
// layers'.
func (s Spec) Dims() []int {
	if s.Kind == Deep {
		return append([]int{s.D}, s.Hidden...)
	}
	return []int{s.D, s.K}
}

// M returns the number of unknowns: D*K, or a deep model's weights, and D
// more with a linear term.
func (s Spec) M() int {
	dims, m := s.Dims(), 0
	for l := 1; l < len(dims); l++ {
		m += dims[l] * dims[l-1]
	}
	if s.Linear {
		m += s.D
	}
	return m
}

// Shape returns a network of the model's widths and signs, with zero
// weights.
func (s Spec) Shape() *Net {
	n := NewNet(s.Dims()...)
	n.V = append([]float64(nil), s.Signs...)
	if s.Linear {
		n.Skip = make([]float64, s.D)
	}
	return n
}

// InputD returns the number of features of the raw input (without bias).
func (s Spec) InputD() int {
	if s.Bias {
		return s.D - 1
	}
	return s.D
}

// Validate checks the specification.
func (s Spec) Validate() error {
	if _, err := ParseKind(string(s.Kind)); err != nil {
		return err
	}
	if s.K < 1 {
		return fmt.Errorf("%w: k = %d, need k >= 1", ErrSpec, s.K)
	}
	if s.InputD() < 1 {
		return fmt.Errorf("%w: d = %d input features, need at least 1", ErrSpec, s.InputD())
	}
	if s.Kind != Deep && s.Hidden != nil {
		return fmt.Errorf("%w: hidden widths %v are for model deep, not %s", ErrSpec, s.Hidden, s.Kind)
	}
	switch s.Kind {
	case Deep:
		if len(s.Hidden) < 1 || s.Hidden[len(s.Hidden)-1] != s.K {
			return fmt.Errorf("%w: deep model with hidden widths %v and k = %d", ErrSpec, s.Hidden, s.K)
		}
		for l, k := range s.Hidden {
			if k < 1 {
				return fmt.Errorf("%w: hidden layer %d has width %d, need >= 1", ErrSpec, l+1, k)
			}
		}
	case ReLU:
		if s.K != 1 {
			return fmt.Errorf("%w: model relu has k = 1, got k = %d", ErrSpec, s.K)
		}
	case ResNet:
		if s.K != s.InputD() {
			return fmt.Errorf("%w: model resnet needs k = d, got k = %d, d = %d", ErrSpec, s.K, s.InputD())
		}
	}
	if len(s.Signs) != s.K {
		return fmt.Errorf("%w: %d output signs for k = %d", ErrSpec, len(s.Signs), s.K)
	}
	for q, v := range s.Signs {
		if v != 1 && v != -1 {
			return fmt.Errorf("%w: output sign %d is %v, want +1 or -1", ErrSpec, q, v)
		}
	}
	return nil
}

// MakeSigns returns k output signs by name: "ones" (all +1) or "alternate"
// (+1, -1, +1, ...).
func MakeSigns(name string, k int) ([]float64, error) {
	v := make([]float64, k)
	switch strings.ToLower(name) {
	case "ones":
		for q := range v {
			v[q] = 1
		}
	case "alternate":
		for q := range v {
			v[q] = 1
			if q%2 == 1 {
				v[q] = -1
			}
		}
	default:
		return nil, fmt.Errorf("%w: unknown signs %q (want ones, alternate or a .npy file)", ErrSpec, name)
	}
	return v, nil
}

// Effective returns the effective weights U for learned weights W (both
// k x d, row-major): W itself, or W + I for resnet.
func (s Spec) Effective(w []float64) []float64 {
	u := append([]float64(nil), w...)
	if s.Kind == ResNet {
		for q := 0; q < s.K; q++ {
			u[q*s.D+q]++
		}
	}
	return u
}

// Learned is the inverse of Effective.
func (s Spec) Learned(u []float64) []float64 {
	w := append([]float64(nil), u...)
	if s.Kind == ResNet {
		for q := 0; q < s.K; q++ {
			w[q*s.D+q]--
		}
	}
	return w
}

// Predict writes into out the outputs of the model with learned weights w on
// the rows of x (rows x D, row-major; the bias feature must already be there).
func (s Spec) Predict(out, x, w []float64) {
	u := s.Effective(w)
	d := s.D
	for i := range out {
		xi := x[i*d : (i+1)*d]
		var y float64
		for q := 0; q < s.K; q++ {
			var z float64
			for j, v := range u[q*d : (q+1)*d] {
				z += v * xi[j]
			}
			if z > 0 {
				y += s.Signs[q] * z
			}
		}
		out[i] = y
	}
}

// RelErr returns the relative error of learned weights w against the
// teacher's wstar. For resnet it is ||W - W*||_F / ||W* + I||_F, as in the
// paper. For relu and sum it is min over permutations P of neurons that
// preserve the output signs of ||W - P W*||_F / ||W*||_F, since such neurons
// are interchangeable.
func (s Spec) RelErr(w, wstar []float64) float64 {
	d, k := s.D, s.K
	if s.Kind == ResNet {
		return frob(diff(w, wstar)) / frob(s.Effective(wstar))
	}
	cost := make([]float64, k*k)
	for a := 0; a < k; a++ {
		for b := 0; b < k; b++ {
			if s.Signs[a] != s.Signs[b] {
				cost[a*k+b] = math.Inf(1)
				continue
			}
			var c float64
			for j := 0; j < d; j++ {
				t := w[a*d+j] - wstar[b*d+j]
				c += t * t
			}
			cost[a*k+b] = c
		}
	}
	assign := Assign(cost, k)
	var num float64
	for a, b := range assign {
		num += cost[a*k+b]
	}
	return math.Sqrt(num) / frob(wstar)
}

func diff(a, b []float64) []float64 {
	c := make([]float64, len(a))
	for i := range a {
		c[i] = a[i] - b[i]
	}
	return c
}

func frob(a []float64) float64 {
	var s float64
	for _, v := range a {
		s += v * v
	}
	return math.Sqrt(s)
}
