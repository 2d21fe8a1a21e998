package model

import (
	"fmt"
	"math"
)

// Net is a bias-free ReLU network with L >= 1 hidden layers, a fixed
// output layer of signs and an optional linear term:
//
//	h_0 = x,  h_l = relu(W_l h_{l-1}) (l = 1..L),  f(x) = V . h_L + Skip . x.
//
// Dims holds the widths n_0 = d, n_1 = k1, ..., n_L; W[l-1] is W_l, an
// n_l x n_{l-1} matrix stored row-major (W[l-1][q*n_{l-1}+j] is the weight of
// input j of unit q of layer l). V has n_L entries, each +1 or -1, and is not
// learned.
type Net struct {
	Dims []int
	W    [][]float64
	V    []float64
	// Skip, when not nil, holds n_0 weights of a linear term of the input
	// (with a constant-1 feature, its weight is the output's bias).
	Skip []float64 `json:",omitempty"`
}

// NewNet returns a network of the given widths with zero weights and all
// output signs +1.
func NewNet(dims ...int) *Net {
	n := &Net{Dims: append([]int(nil), dims...)}
	for l := 1; l < len(dims); l++ {
		n.W = append(n.W, make([]float64, dims[l]*dims[l-1]))
	}
	if len(dims) > 0 {
		n.V = make([]float64, dims[len(dims)-1])
		for q := range n.V {
			n.V[q] = 1
		}
	}
	return n
}

// Layers returns L, the number of hidden layers.
func (n *Net) Layers() int { return len(n.Dims) - 1 }

// In returns d, the number of input features.
func (n *Net) In() int { return n.Dims[0] }

// Unknowns returns the number of weights of layer l (1-based), n_l n_{l-1}.
func (n *Net) Unknowns(l int) int { return n.Dims[l] * n.Dims[l-1] }

// UnknownsOf returns the number of weights of the given layers together.
func (n *Net) UnknownsOf(layers []int) int {
	m := 0
	for _, l := range layers {
		m += n.Unknowns(l)
	}
	return m
}

// Validate checks the shapes, the signs and that every weight is finite.
func (n *Net) Validate() error {
	if len(n.Dims) < 2 {
		return fmt.Errorf("%w: %d widths, need d and at least one hidden layer", ErrSpec, len(n.Dims))
	}
	for l, v := range n.Dims {
		if v < 1 {
			return fmt.Errorf("%w: width n_%d = %d, need >= 1", ErrSpec, l, v)
		}
	}
	if len(n.W) != n.Layers() {
		return fmt.Errorf("%w: %d weight matrices for %d layers", ErrSpec, len(n.W), n.Layers())
	}
	for l := 1; l <= n.Layers(); l++ {
		w := n.W[l-1]
		if len(w) != n.Unknowns(l) {
			return fmt.Errorf("%w: layer %d has %d weights, want %d x %d", ErrSpec, l, len(w), n.Dims[l], n.Dims[l-1])
		}
		for _, x := range w {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("%w: layer %d has a non-finite weight", ErrSpec, l)
			}
		}
	}
	if n.Skip != nil && len(n.Skip) != n.Dims[0] {
		return fmt.Errorf("%w: %d linear weights for %d inputs", ErrSpec, len(n.Skip), n.Dims[0])
	}
	for _, x := range n.Skip {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("%w: a non-finite linear weight", ErrSpec)
		}
	}
	if len(n.V) != n.Dims[n.Layers()] {
		return fmt.Errorf("%w: %d output signs for %d units", ErrSpec, len(n.V), n.Dims[n.Layers()])
	}
	for q, v := range n.V {
		if v != 1 && v != -1 {
			return fmt.Errorf("%w: output sign %d is %v, want +1 or -1", ErrSpec, q, v)
		}
	}
	return nil
}

// SameShape reports whether o has the widths and signs of n, and a linear
// term when n has one.
func (n *Net) SameShape(o *Net) bool {
	if len(n.Dims) != len(o.Dims) || len(n.V) != len(o.V) || (n.Skip == nil) != (o.Skip == nil) {
		return false
	}
	for l, v := range n.Dims {
		if o.Dims[l] != v {
			return false
		}
	}
	for q, v := range n.V {
		if o.V[q] != v {
			return false
		}
	}
	return true
}

// Clone returns a deep copy of n.
func (n *Net) Clone() *Net {
	c := &Net{Dims: append([]int(nil), n.Dims...), V: append([]float64(nil), n.V...)}
	if n.Skip != nil {
		c.Skip = append([]float64(nil), n.Skip...)
	}
	for _, w := range n.W {
		c.W = append(c.W, append([]float64(nil), w...))
	}
	return c
}

// Predict writes f(x_i) into out[i] for the rows of x (row-major,
// len(out) x d).
func (n *Net) Predict(out, x []float64) {
	d := n.In()
	if len(x) != len(out)*d {
		panic("model: bad dimensions in Net.Predict")
	}
	var fw Pass
	fw.Init(n)
	for i := range out {
		out[i] = fw.Run(n, x[i*d:(i+1)*d])
	}
}

// Balance rescales the network without changing its function: for
// l = 1..L-1 it divides every row of W_l by its norm and multiplies the
// matching column of W_{l+1} by it (relu(a z) = a relu(z) for a > 0). Rows
// of norm zero are left alone. The last layer keeps its scale, which the
// fixed signs V pin down.
func (n *Net) Balance() {
	for l := 1; l < n.Layers(); l++ {
		w, next := n.W[l-1], n.W[l]
		in, units, out := n.Dims[l-1], n.Dims[l], n.Dims[l+1]
		for q := 0; q < units; q++ {
			row := w[q*in : (q+1)*in]
			s := norm(row)
			if s == 0 || math.IsInf(s, 0) {
				continue
			}
			for j := range row {
				row[j] /= s
			}
			for r := 0; r < out; r++ {
				next[r*units+q] *= s
			}
		}
	}
}

// Pass holds the scratch of one forward and backward pass through a
// network: the pre-activations Z[l] and outputs H[l] of every layer and the
// coefficients C[l] of the backward pass. The zero value is ready for Init.
type Pass struct {
	Z, H, C [][]float64 // per layer l = 0..L; Z[0], C[0] unused, H[0] = x
}

// Init sizes the pass for n's widths, reusing its memory when they match.
func (f *Pass) Init(n *Net) {
	L := n.Layers()
	if len(f.Z) == L+1 {
		ok := true
		for l := 1; l <= L; l++ {
			ok = ok && len(f.Z[l]) == n.Dims[l]
		}
		if ok {
			return
		}
	}
	f.Z, f.H, f.C = make([][]float64, L+1), make([][]float64, L+1), make([][]float64, L+1)
	for l := 1; l <= L; l++ {
		f.Z[l] = make([]float64, n.Dims[l])
		f.H[l] = make([]float64, n.Dims[l])
		f.C[l] = make([]float64, n.Dims[l])
	}
}

// Run evaluates the network on one input x and returns f(x); the
// activation pattern of layer l is Z[l] > 0.
func (f *Pass) Run(n *Net, x []float64) float64 {
	f.H[0] = x
	L := n.Layers()
	for l := 1; l <= L; l++ {
		in := f.H[l-1]
		w := n.W[l-1]
		z, h := f.Z[l], f.H[l]
		m := len(in)
		for q := range z {
			row := w[q*m : (q+1)*m]
			var s float64
			for j, v := range in {
				s = math.FMA(row[j], v, s)
			}
			z[q] = s
			h[q] = 0
			if s > 0 {
				h[q] = s
			}
		}
	}
	var out float64
	for q, v := range f.H[L] {
		out = math.FMA(n.V[q], v, out)
	}
	for j, v := range n.Skip {
		out = math.FMA(v, x[j], out)
	}
	return out
}

// Backward fills the coefficients of the last Run: C[L] = p_L o V and
// C[l] = p_l o (W_{l+1}^T C[l+1]), so that f(x) = C[l] . (W_l H[l-1]) for
// every layer l while the patterns are held.
func (f *Pass) Backward(n *Net) {
	L := n.Layers()
	for q, z := range f.Z[L] {
		f.C[L][q] = 0
		if z > 0 {
			f.C[L][q] = n.V[q]
		}
	}
	for l := L - 1; l >= 1; l-- {
		c, up, w := f.C[l], f.C[l+1], n.W[l]
		m := len(c)
		for j := range c {
			c[j] = 0
		}
		for r, cr := range up {
			if cr == 0 {
				continue
			}
			row := w[r*m : (r+1)*m]
			for j := range c {
				c[j] = math.FMA(cr, row[j], c[j])
			}
		}
		for j, z := range f.Z[l] {
			if !(z > 0) {
				c[j] = 0
			}
		}
	}
}

func norm(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}
