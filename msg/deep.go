package msg

import (
	"fmt"
	"slices"

	"altmin/linalg"
	"altmin/model"
)

// DeepRequest asks a partition for its statistics of one solve step of a
// deep network (model.Net) with the activation patterns of every layer
// held at the current weights.
type DeepRequest struct {
	Step int        // solve step, counted from 0; names the request
	Net  *model.Net // the current weights, whose patterns are held
	// Layers lists the layers (1-based, ascending) whose normal equations
	// are wanted; empty for an evaluation only.
	Layers []int
	// Joint asks for one system over all of Layers together (the
	// Gauss-Newton equations of the network with its patterns held)
	// instead of one system per layer.
	Joint bool
	// Prev, when non-nil, is the previous step's weights: the partial then
	// counts the pattern bits (all layers) that changed since.
	Prev      *model.Net
	Transform *Affine // standardization of the rows; nil: none
	Split     *Split  // validation rows; nil: none
}

// Kind implements Request.
func (*DeepRequest) Kind() Kind { return KindDeep }

// Round implements Request: the solve step.
func (r *DeepRequest) Round() int { return r.Step }

// Features implements Request: the network's input width, or 0 without a
// network.
func (r *DeepRequest) Features() int {
	if r.Net == nil || len(r.Net.Dims) == 0 {
		return 0
	}
	return r.Net.Dims[0]
}

func (*DeepRequest) request() {}

// CheckDims checks a network's widths against the limits before anything
// of its size is allocated: the input width and 1 to MaxLayers hidden
// layers, every width in 1..MaxM and at most MaxM weights in all. Errors
// wrap ErrTooLarge or ErrRequest.
func CheckDims(dims []int) error {
	if len(dims) < 2 {
		return fmt.Errorf("%w: network with widths %v: need the input width and at least one hidden layer", ErrRequest, dims)
	}
	if len(dims)-1 > MaxLayers {
		return fmt.Errorf("%w: network with %d hidden layers, at most %d supported", ErrTooLarge, len(dims)-1, MaxLayers)
	}
	var m int64
	for l, n := range dims {
		if n < 1 {
			return fmt.Errorf("%w: network width n_%d = %d, need >= 1", ErrRequest, l, n)
		}
		if n > MaxM {
			return fmt.Errorf("%w: network width n_%d = %d, at most %d supported", ErrTooLarge, l, n, MaxM)
		}
		if l > 0 {
			m += int64(n) * int64(dims[l-1])
		}
	}
	if m > MaxM {
		return fmt.Errorf("%w: network with %d weights, at most %d supported (the joint Gram matrix is m(m+1)/2 doubles)", ErrTooLarge, m, MaxM)
	}
	return nil
}

// Validate implements Request.
func (r *DeepRequest) Validate() error {
	if r.Step < 0 {
		return fmt.Errorf("%w: negative step %d", ErrRequest, r.Step)
	}
	if r.Net == nil {
		return fmt.Errorf("%w: no weights", ErrRequest)
	}
	if err := CheckDims(r.Net.Dims); err != nil {
		return err
	}
	if err := r.Net.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrRequest, err)
	}
	if r.Prev != nil {
		if err := r.Prev.Validate(); err != nil {
			return fmt.Errorf("%w: previous weights: %v", ErrRequest, err)
		}
		if !r.Prev.SameShape(r.Net) {
			return fmt.Errorf("%w: previous weights have another shape", ErrRequest)
		}
	}
	for i, l := range r.Layers {
		if l < 1 || l > r.Net.Layers() || (i > 0 && l <= r.Layers[i-1]) {
			return fmt.Errorf("%w: layers %v, want ascending values in 1..%d", ErrRequest, r.Layers, r.Net.Layers())
		}
	}
	if r.Net.Skip != nil && len(r.Layers) > 0 && (!r.Joint || len(r.Layers) != r.Net.Layers()) {
		return fmt.Errorf("%w: a network with a linear term is solved jointly over all its layers", ErrRequest)
	}
	if err := r.Transform.check(r.Net.In()); err != nil {
		return err
	}
	return r.Split.check()
}

// Unknowns returns the number of unknowns of the system over layers: their
// weights, and the linear term's with a joint system over every layer.
func (r *DeepRequest) Unknowns(layers []int) int {
	m := r.Net.UnknownsOf(layers)
	if r.Net.Skip != nil && len(layers) == r.Net.Layers() {
		m += len(r.Net.Skip)
	}
	return m
}

// Systems returns the systems a request asks for, each a list of layers:
// one per layer, or one joint system (with the linear term, if any, after
// the layers' weights).
func (r *DeepRequest) Systems() [][]int {
	if len(r.Layers) == 0 {
		return nil
	}
	if r.Joint {
		return [][]int{slices.Clone(r.Layers)}
	}
	out := make([][]int, len(r.Layers))
	for i, l := range r.Layers {
		out[i] = []int{l}
	}
	return out
}

// System is a set of normal equations over some rows: Gram = B^T B and
// R = B^T (y - f) for the change of the weights of Layers, the unknowns
// being [vec(W_l) for l in Layers] concatenated, then the linear term's
// weights for a joint system of a network with one.
type System struct {
	Layers []int
	M      int       // unknowns, sum of n_l n_{l-1} over Layers
	Gram   []float64 // packed upper triangle, linalg.PackedLen(M)
	R      []float64 // M
}

// DeepStats are one partition's statistics for one solve step of a deep
// network.
type DeepStats struct {
	Step      int
	Partition int // the first partition summed
	// Parts is the number of partitions summed: the node (Partition, Parts)
	// of the reduction tree (Span); 0 means 1.
	Parts   int
	Rows    int
	YY      float64  // y^T y
	SumY    float64  // sum of the labels
	SSE     float64  // ||f(X) - y||^2 at the request's weights
	Flips   int64    // pattern bits changed since Prev (all layers); -1 without Prev
	Systems []System // in the order of DeepRequest.Systems
	Val     Eval     // the validation rows' sums (Split), which every other field leaves out

	// finiteChecked records that the producer checked every value finite
	// (MarkFiniteChecked).
	finiteChecked bool
}

// MarkFiniteChecked records that every value of p was checked finite as p
// was built (as the transport's client does while it decodes a reply), so
// that Check does not read the Gram matrices again.
func (p *DeepStats) MarkFiniteChecked() { p.finiteChecked = true }

// Kind implements Partial.
func (*DeepStats) Kind() Kind { return KindDeep }

// Round implements Partial: the solve step.
func (p *DeepStats) Round() int { return p.Step }

// Span implements Partial.
func (p *DeepStats) Span() Span { return span(p.Partition, p.Parts) }

func (p *DeepStats) setSpan(sp Span) { p.Partition, p.Parts = sp.Lo, sp.N }

func (*DeepStats) partial() {}

// Check implements Partial.
func (p *DeepStats) Check(req Request) error {
	if err := checkAnswer(p, req); err != nil {
		return err
	}
	r := req.(*DeepRequest)
	want := r.Systems()
	switch {
	case p.Rows < 0 || len(p.Systems) != len(want):
		return fmt.Errorf("%w: partial of partition %d: %d rows, %d systems for %d requested", ErrInvalid, p.Partition, p.Rows, len(p.Systems), len(want))
	case (r.Prev != nil) != (p.Flips >= 0) || p.Flips < -1:
		return fmt.Errorf("%w: partial of partition %d has %d flips for a request with%s previous weights", ErrInvalid, p.Partition, p.Flips, without(r.Prev != nil))
	case !finite(p.YY, p.SSE, p.SumY):
		return fmt.Errorf("%w: partial of partition %d has non-finite sums", ErrInvalid, p.Partition)
	}
	if err := p.Val.check(p.Partition); err != nil {
		return err
	}
	for i, sy := range p.Systems {
		m := r.Unknowns(want[i])
		if !slices.Equal(sy.Layers, want[i]) || sy.M != m || len(sy.Gram) != linalg.PackedLen(m) || len(sy.R) != m {
			return fmt.Errorf("%w: partial of partition %d: system over layers %v with m = %d, want layers %v, m = %d", ErrInvalid, p.Partition, sy.Layers, sy.M, want[i], m)
		}
		if !p.finiteChecked && !finiteAll(sy.Gram, sy.R) {
			return fmt.Errorf("%w: partial of partition %d: layers %v: non-finite values", ErrInvalid, p.Partition, sy.Layers)
		}
	}
	return nil
}

// Release implements Partial: the systems' Gram buffers go back to pool.
func (p *DeepStats) Release(pool *Pool) {
	if p == nil {
		return
	}
	for i := range p.Systems {
		pool.Put(p.Systems[i].Gram)
		p.Systems[i].Gram = nil
	}
}
