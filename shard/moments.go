package shard

import (
	"context"

	"altmin/linalg"
	"altmin/msg"
)

// The moments of the tensor (method-of-moments) initialization. For inputs
// x ~ N(0, I) and y = sum_q v_q relu(w_q . x) the population moments
// E[y x], E[y (x x^T - I)] and E[y He4(V^T x)] identify the teacher's
// directions (see package tensorinit). Each is a sum over samples, so a
// partition returns its own sums and the coordinator adds them in partition
// order, exactly like the Gram matrix of an iteration. Both functions below
// are pure functions of their arguments and the partition's rows.

// moments12 returns the moment sums of order 1 or 2 of slot s, of
// r_i = y_i - base(x_i) (base nil: the labels themselves). Order 1 costs
// about 2D multiply-adds per row, order 2 another D(D+1)/2. The caller has
// checked req.
func (e *Engine) moments12(ctx context.Context, s *slot, req *msg.Moments12Request) (*msg.Moments12, error) {
	d, order, base := s.d, req.Order, req.Base
	p, done, err := e.hold(ctx, s)
	if err != nil {
		return nil, err
	}
	defer done()
	m := &msg.Moments12{Partition: s.id, Order: order, D: d, SumYX: make([]float64, d), SumX: make([]float64, d)}
	if order == 2 {
		m.SumYXX = make([]float64, linalg.PackedLen(d))
	}
	var scratch []float64
	row := make([]float64, d) // a float32 row converted, or standardized
	for i := range p.Y {
		if req.Split.Holds(p.Lo + i) {
			continue
		}
		xi, yi := p.row(i, row, req.Transform)
		m.Rows++
		yi -= base.Eval(xi, &scratch)
		m.SumY += yi
		for a, xa := range xi {
			m.SumYX[a] += yi * xa
			m.SumX[a] += xa
		}
		if order == 1 {
			continue
		}
		idx := 0
		for a, xa := range xi {
			ya := yi * xa
			row := m.SumYXX[idx : idx+d-a]
			for b, xb := range xi[a:] {
				row[b] += ya * xb
			}
			idx += d - a
		}
	}
	return m, nil
}

// moment4 returns the sum over the rows of slot s of
// (y_i - base(x_i)) He4(V^T x_i), where V is p.D x k (row-major, column c
// is the c-th projection direction), base may be nil (no baseline) and,
// for z in R^k,
//
//	He4(z)_ijlm = z_i z_j z_l z_m
//	              - (d_ij z_l z_m + d_il z_j z_m + d_im z_j z_l
//	                 + d_jl z_i z_m + d_jm z_i z_l + d_lm z_i z_j)
//	              + (d_ij d_lm + d_il d_jm + d_im d_jl)
//
// with d the Kronecker delta. It is the fourth Hermite tensor of z when the
// columns of V are orthonormal (z ~ N(0, I_k) for x ~ N(0, I)); the function
// computes the formula whatever V is. The cost is about Sym4Len(k) + D k
// multiply-adds per row, plus D (R + 1) for a baseline of rank R.
func (e *Engine) moment4(ctx context.Context, s *slot, req *msg.Moment4Request) (*msg.Moment4, error) {
	d, v, k, base := s.d, req.V, req.K, req.Base
	p, done, err := e.hold(ctx, s)
	if err != nil {
		return nil, err
	}
	defer done()
	s4 := make([]float64, msg.Sym4Len(k))
	s2 := make([]float64, linalg.PackedLen(k))
	var s0 float64
	z := make([]float64, k)
	var scratch []float64
	row := make([]float64, d) // a float32 row converted, or standardized
	rows := 0
	for r := range p.Y {
		if req.Split.Holds(p.Lo + r) {
			continue
		}
		xr, yi := p.row(r, row, req.Transform)
		rows++
		yi -= base.Eval(xr, &scratch)
		clear(z)
		for j, xj := range xr {
			vj := v[j*k : (j+1)*k]
			for c, vc := range vj {
				z[c] += xj * vc
			}
		}
		s0 += yi
		i2, i4 := 0, 0
		for i := 0; i < k; i++ {
			a := yi * z[i]
			for j := i; j < k; j++ {
				b := a * z[j]
				s2[i2] += b
				i2++
				for l := j; l < k; l++ {
					c := b * z[l]
					for m := l; m < k; m++ {
						s4[i4] += c * z[m]
						i4++
					}
				}
			}
		}
	}
	// He4 sums from the raw sums: subtract the six delta terms and add the
	// three delta-delta terms, entry by entry.
	out := &msg.Moment4{Partition: s.id, Rows: rows, K: k, Sum: s4}
	pairs := [6][4]int{{0, 1, 2, 3}, {0, 2, 1, 3}, {0, 3, 1, 2}, {1, 2, 0, 3}, {1, 3, 0, 2}, {2, 3, 0, 1}}
	idx := 0
	for i := 0; i < k; i++ {
		for j := i; j < k; j++ {
			for l := j; l < k; l++ {
				for m := l; m < k; m++ {
					t := [4]int{i, j, l, m}
					var corr float64
					for _, pr := range pairs {
						if t[pr[0]] == t[pr[1]] {
							corr += s2[linalg.PackedIndex(k, t[pr[2]], t[pr[3]])]
						}
					}
					var cnst float64
					for _, pr := range pairs[:3] { // the three perfect matchings
						if t[pr[0]] == t[pr[1]] && t[pr[2]] == t[pr[3]] {
							cnst += s0
						}
					}
					s4[idx] = s4[idx] - corr + cnst
					idx++
				}
			}
		}
	}
	return out, nil
}
