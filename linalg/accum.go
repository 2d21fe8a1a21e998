package linalg

import (
	"math"
)

// Accum accumulates least-squares statistics with real-valued
// coefficients. Row i of the design matrix is a concatenation of Kronecker
// blocks, b_i = [c_i1 (x) h_i1, c_i2 (x) h_i2, ...], block t having
// coefficients c_it in R^{k_t} and inputs h_it in R^{d_t}. With one block
// (one layer's solve: c the layer's backward coefficients, h its input)
//
//	G = B^T B = sum_i (c_i c_i^T) (x) (h_i h_i^T)   (m x m, m = k*d, packed upper)
//	R = B^T t = sum_i t_i (c_i (x) h_i)
//
// with the unknown u = vec(W) flattened row by row (u[q*d+j] = W[q][j]), the
// layout of  It generalizes Stats, whose coefficients are
// restricted to v_q p_iq in {0, +-1}. Several blocks give the joint normal
// equations of several layers, unknowns concatenated in block order.
//
// Add skips the zero entries of b_i (inactive units, zero inputs after a
// ReLU), costing about nnz(b_i)^2/2 multiply-adds per row. Every element of
// G and R is a chain of fused multiply-adds over the rows in the order they
// were added, so the same rows in the same order give the same bits.
type Accum struct {
	M int       // unknowns, sum of k_t d_t
	G []float64 // packed upper triangle, PackedLen(M)
	R []float64 // M

	blocks []accBlock
	off    []int     // off[a]: index in G of element (a, 0) of row a's stretch
	b      []float64 // the current row b_i, valid on active segments
	seg    []int     // starts of the active segments of the current row
	segLen []int     // their lengths
}

type accBlock struct{ k, d, start int }

// NewAccum returns a zeroed accumulator for blocks of the given shapes:
// shapes[2t], shapes[2t+1] are k_t and d_t.
func NewAccum(shapes ...int) *Accum {
	if len(shapes) == 0 || len(shapes)%2 != 0 {
		panic("linalg: NewAccum needs (k, d) pairs")
	}
	a := &Accum{}
	for t := 0; t < len(shapes); t += 2 {
		k, d := shapes[t], shapes[t+1]
		if k < 1 || d < 1 {
			panic("linalg: NewAccum with an empty block")
		}
		a.blocks = append(a.blocks, accBlock{k: k, d: d, start: a.M})
		a.M += k * d
	}
	m := a.M
	a.G, a.R = make([]float64, PackedLen(m)), make([]float64, m)
	a.off, a.b = make([]int, m), make([]float64, m)
	for i := range a.off {
		a.off[i] = PackedIndex(m, i, i) - i
	}
	return a
}

// Reset zeroes G and R.
func (a *Accum) Reset() {
	clear(a.G)
	clear(a.R)
}

// Add adds the row b = c (x) h with target t to a one-block accumulator:
// G += b b^T, R += t b.
func (a *Accum) Add(c, h []float64, t float64) {
	if len(a.blocks) != 1 {
		panic("linalg: Accum.Add on a multi-block accumulator")
	}
	a.AddRow([][]float64{c}, [][]float64{h}, t)
}

// AddRow adds the row b = [c[0] (x) h[0], c[1] (x) h[1], ...] with target t:
// G += b b^T, R += t b.
func (a *Accum) AddRow(c, h [][]float64, t float64) {
	if len(c) != len(a.blocks) || len(h) != len(a.blocks) {
		panic("linalg: bad number of blocks in Accum.AddRow")
	}
	b := a.b
	seg, segLen := a.seg[:0], a.segLen[:0]
	for bi, blk := range a.blocks {
		cb, hb := c[bi], h[bi]
		if len(cb) != blk.k || len(hb) != blk.d {
			panic("linalg: bad dimensions in Accum.AddRow")
		}
		for q, cq := range cb {
			if cq == 0 {
				continue
			}
			s := blk.start + q*blk.d
			dst := b[s : s+blk.d]
			for j, v := range hb {
				dst[j] = cq * v
			}
			seg, segLen = append(seg, s), append(segLen, blk.d)
		}
	}
	a.seg, a.segLen = seg, segLen
	g, r := a.G, a.R
	for si, s := range seg {
		end := s + segLen[si]
		for row := s; row < end; row++ {
			bj := b[row]
			if bj == 0 {
				continue
			}
			r[row] = math.FMA(t, bj, r[row])
			base := a.off[row]
			// The rest of this segment: columns row..end-1.
			gs, bs := g[base+row:base+end], b[row:end]
			for l, v := range bs {
				gs[l] = math.FMA(bj, v, gs[l])
			}
			// The later active segments.
			for sj := si + 1; sj < len(seg); sj++ {
				s2, e2 := seg[sj], seg[sj]+segLen[sj]
				gs, bs := g[base+s2:base+e2], b[s2:e2]
				for l, v := range bs {
					gs[l] = math.FMA(bj, v, gs[l])
				}
			}
		}
	}
}
