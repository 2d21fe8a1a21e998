package deep

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"altmin/linalg"
	"altmin/model"
	"altmin/shard"
)

// ErrRequest is wrapped by errors in a statistics request.
var ErrRequest = errors.New("deep: bad request")

// Request asks every partition for the statistics of one solve step.
type Request struct {
	Step int        // solve step, counted from 0; names the request
	Net  *model.Net // the current weights, whose patterns are held
	// Layers lists the layers (1-based, ascending) whose normal equations
	// are wanted; empty for an evaluation only.
	Layers []int
	// Joint asks for one system over all of Layers together (the
	// Gauss-Newton equations of the network with its patterns held, see
	// PartitionStats) instead of one system per layer.
	Joint bool
	// Prev, when non-nil, is the previous step's weights: the partial then
	// counts the pattern bits (all layers) that changed since.
	Prev *model.Net
}

// Validate checks the request's internal consistency.
func (r *Request) Validate() error {
	if r.Step < 0 {
		return fmt.Errorf("%w: negative step %d", ErrRequest, r.Step)
	}
	if r.Net == nil {
		return fmt.Errorf("%w: no weights", ErrRequest)
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
	return nil
}

// System is a set of normal equations over some rows (see PartitionStats):
// Gram = B^T B and R = B^T (y - f) for the change of the weights of Layers,
// the unknowns being [vec(W_l) for l in Layers] concatenated.
type System struct {
	Layers []int
	M      int       // unknowns, sum of n_l n_{l-1} over Layers
	Gram   []float64 // packed upper triangle, linalg.PackedLen(M)
	R      []float64 // M
}

// Partial is one partition's statistics for one step.
type Partial struct {
	Step      int
	Partition int
	Rows      int
	YY        float64  // y^T y
	SSE       float64  // ||f(X) - y||^2 at the request's weights
	Flips     int64    // pattern bits changed since Prev (all layers); -1 without Prev
	Systems   []System // in the order of Request.Systems
}

// Systems returns the systems a request asks for: one per layer, or one
// joint system.
func (r *Request) Systems() [][]int {
	if len(r.Layers) == 0 {
		return nil
	}
	if r.Joint {
		return [][]int{append([]int(nil), r.Layers...)}
	}
	out := make([][]int, len(r.Layers))
	for i, l := range r.Layers {
		out[i] = []int{l}
	}
	return out
}

// Validate checks the partial's sizes and finiteness against a request.
func (p *Partial) Validate(req *Request) error {
	want := req.Systems()
	if p.Rows < 0 || p.Flips < -1 || len(p.Systems) != len(want) {
		return fmt.Errorf("partial of partition %d: %d rows, %d flips, %d systems for %d requested", p.Partition, p.Rows, p.Flips, len(p.Systems), len(want))
	}
	if !finite(p.YY) || !finite(p.SSE) {
		return fmt.Errorf("partial of partition %d has non-finite sums", p.Partition)
	}
	for i, sy := range p.Systems {
		m := req.Net.UnknownsOf(want[i])
		if !slices.Equal(sy.Layers, want[i]) || sy.M != m || len(sy.Gram) != linalg.PackedLen(m) || len(sy.R) != m {
			return fmt.Errorf("partial of partition %d: system over layers %v with m = %d, want layers %v, m = %d", p.Partition, sy.Layers, sy.M, want[i], m)
		}
		for _, v := range sy.Gram {
			if !finite(v) {
				return fmt.Errorf("partial of partition %d: layers %v: non-finite Gram entries", p.Partition, sy.Layers)
			}
		}
		for _, v := range sy.R {
			if !finite(v) {
				return fmt.Errorf("partial of partition %d: layers %v: non-finite right-hand side", p.Partition, sy.Layers)
			}
		}
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Workspace holds the scratch memory of PartitionStats for one partition.
// The zero value is ready to use.
type Workspace struct {
	fw, prev model.Pass
	row      []float64 // one row's features, with float32 storage
}

// PartitionStats computes partition p's statistics for req: it runs every
// row model.Pass through req.Net, reads off the activation patterns of all
// layers and runs the backward pass for the coefficients c_l (see model.Net), so
// that f(x_i) = c_li . (W_l h_{l-1,i}) for every layer l while the patterns
// are held: f is linear in each layer's weights separately, with
// gradient b_li = c_li (x) h_{l-1,i}. For each requested system over a set S
// of layers (one layer, or all of them for a joint request) it accumulates,
// in row order,
//
//	G = sum_i b_i b_i^T,  R = sum_i e_i b_i,  b_i = [b_li]_{l in S},  e_i = y_i - f(x_i),
//
// the normal equations of the update delta (the weights theta_S of the
// layers in S move to theta_S + delta) in the residual form
// min ||e - B delta||. For one layer this is exactly the layer's least
// squares y_i = c_li^T W_l h_{l-1,i} with all other layers and the patterns
// fixed (B theta_l = f), written for the change of W_l; for several layers
// it is the Gauss-Newton step of the network with its patterns held. The
// residual form keeps the right-hand side, and so the rounding error of the
// solve, proportional to the current residual rather than to the weights.
//
// The result is a pure function of the partition's rows and the request.
func PartitionStats(ws *Workspace, p *shard.Partition, req *Request) (*Partial, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	net := req.Net
	if p.D != net.In() {
		return nil, fmt.Errorf("%w: weights for d = %d, partition %d has d = %d", ErrRequest, net.In(), p.ID, p.D)
	}
	ws.fw.Init(net)
	if req.Prev != nil {
		ws.prev.Init(req.Prev)
	}
	systems := req.Systems()
	acc := make([]*linalg.Accum, len(systems))
	cs := make([][][]float64, len(systems))
	hs := make([][][]float64, len(systems))
	for i, sy := range systems {
		var shapes []int
		for _, l := range sy {
			shapes = append(shapes, net.Dims[l], net.Dims[l-1])
		}
		acc[i] = linalg.NewAccum(shapes...)
		cs[i], hs[i] = make([][]float64, len(sy)), make([][]float64, len(sy))
	}
	out := &Partial{Step: req.Step, Partition: p.ID, Rows: p.Rows, Flips: -1}
	if req.Prev != nil {
		out.Flips = 0
	}
	row := ws.row[:0]
	if p.Storage() != shard.Float64 {
		if cap(ws.row) < p.D {
			ws.row = make([]float64, p.D)
		}
		row = ws.row[:p.D]
	}
	for i := 0; i < p.Rows; i++ {
		x, y := p.Row(i, row), p.Y[i] // float32 storage: converted exactly into row
		f := ws.fw.Run(net, x)
		e := f - y
		out.SSE = math.FMA(e, e, out.SSE)
		out.YY = math.FMA(y, y, out.YY)
		if req.Prev != nil {
			ws.prev.Run(req.Prev, x)
			for l := 1; l <= net.Layers(); l++ {
				for q, z := range ws.fw.Z[l] {
					if (z > 0) != (ws.prev.Z[l][q] > 0) {
						out.Flips++
					}
				}
			}
		}
		if len(acc) == 0 {
			continue
		}
		ws.fw.Backward(net)
		for j, sy := range systems {
			for t, l := range sy {
				cs[j][t], hs[j][t] = ws.fw.C[l], ws.fw.H[l-1]
			}
			acc[j].AddRow(cs[j], hs[j], -e)
		}
	}
	for i, sy := range systems {
		out.Systems = append(out.Systems, System{Layers: sy, M: acc[i].M, Gram: acc[i].G, R: acc[i].R})
	}
	return out, nil
}
