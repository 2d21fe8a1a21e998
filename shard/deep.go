package shard

import (
	"context"
	"math"

	"altmin/linalg"
	"altmin/model"
	"altmin/msg"
)

// deep returns the statistics of slot s for a deep network's step req
// (deepStats), under a computation token. No state is kept between calls:
// the scratch of one call is a few vectors of the widths.
func (e *Engine) deep(ctx context.Context, s *slot, req *msg.DeepRequest) (*msg.DeepStats, error) {
	p, done, err := e.hold(ctx, s)
	if err != nil {
		return nil, err
	}
	defer done()
	var ws deepScratch
	return deepStats(&ws, p, req), nil
}

// deepScratch holds the scratch memory of deepStats for one computation.
// The zero value is ready to use.
type deepScratch struct {
	fw, prev model.Pass
	row      []float64 // one row's features, with float32 storage
}

// deepStats computes partition p's statistics for a deep network's step req: it runs every
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
// The result is a pure function of the partition's rows and the request,
// which the caller has checked (msg.DeepRequest.Validate, p.D).
func deepStats(ws *deepScratch, p *Partition, req *msg.DeepRequest) *msg.DeepStats {
	net := req.Net
	ws.fw.Init(net)
	if req.Prev != nil {
		ws.prev.Init(req.Prev)
	}
	systems := req.Systems()
	acc := make([]*linalg.Accum, len(systems))
	cs := make([][][]float64, len(systems))
	hs := make([][][]float64, len(systems))
	skip := []float64{1} // the coefficient of the linear term's block
	for i, sy := range systems {
		var shapes []int
		for _, l := range sy {
			shapes = append(shapes, net.Dims[l], net.Dims[l-1])
		}
		if withSkip := req.Unknowns(sy) > net.UnknownsOf(sy); withSkip {
			shapes = append(shapes, 1, net.Dims[0])
		}
		acc[i] = linalg.NewAccum(shapes...)
		cs[i], hs[i] = make([][]float64, len(shapes)/2), make([][]float64, len(shapes)/2)
	}
	out := &msg.DeepStats{Step: req.Step, Partition: p.ID, Flips: -1}
	if req.Prev != nil {
		out.Flips = 0
	}
	if cap(ws.row) < p.D {
		ws.row = make([]float64, p.D)
	}
	for i := 0; i < p.Rows; i++ {
		x, y := p.row(i, ws.row, req.Transform) // float32 storage: converted exactly
		f := ws.fw.Run(net, x)
		e := f - y
		if req.Split.Holds(p.Lo + i) {
			out.Val.Add(msg.Eval{Rows: 1, SSE: e * e, YY: y * y, SumY: y})
			continue
		}
		out.Rows++
		out.SSE = math.FMA(e, e, out.SSE)
		out.YY = math.FMA(y, y, out.YY)
		out.SumY += y
		if req.Prev != nil {
			out.Flips += flips(&ws.fw, &ws.prev, req.Prev, x)
		}
		if len(acc) == 0 {
			continue
		}
		ws.fw.Backward(net)
		for j, sy := range systems {
			for t, l := range sy {
				cs[j][t], hs[j][t] = ws.fw.C[l], ws.fw.H[l-1]
			}
			if len(cs[j]) > len(sy) { // the linear term
				cs[j][len(sy)], hs[j][len(sy)] = skip, x
			}
			acc[j].AddRow(cs[j], hs[j], -e)
		}
	}
	for i, sy := range systems {
		out.Systems = append(out.Systems, msg.System{Layers: sy, M: acc[i].M, Gram: acc[i].G, R: acc[i].R})
	}
	return out
}

// flips returns the number of pattern bits of the last run of fw that
// differ from those of prev evaluated on x.
func flips(fw, pv *model.Pass, prev *model.Net, x []float64) int64 {
	pv.Run(prev, x)
	var n int64
	for l := 1; l < len(fw.Z); l++ {
		for q, z := range fw.Z[l] {
			if (z > 0) != (pv.Z[l][q] > 0) {
				n++
			}
		}
	}
	return n
}
