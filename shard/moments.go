package shard

import (
	"context"
	"fmt"

	"altmin/linalg"
)

// The moments of the tensor (method-of-moments) initialization. For inputs
// x ~ N(0, I) and y = sum_q v_q relu(w_q . x) the population moments
// E[y x], E[y (x x^T - I)] and E[y He4(V^T x)] identify the teacher's
// directions (see package tensorinit). Each is a sum over samples, so a
// partition returns its own sums and the coordinator adds them in partition
// order, exactly like the Gram matrix of an iteration. Both functions below
// are pure functions of their arguments and the partition's rows.

// Moments12 are one partition's sums for the first and, with Order 2, the
// second moment, of r_i = y_i - base(x_i) for a baseline (see Baseline;
// r_i = y_i without one).
type Moments12 struct {
	Partition int
	Order     int // 1: first-order sums only; 2: also SumYXX
	Rows      int
	D         int       // features per row, including the bias feature
	SumY      float64   // sum_i r_i
	SumYX     []float64 // sum_i r_i x_i, D values
	SumX      []float64 // sum_i x_i, D values (to centre the labels)
	SumYXX    []float64 // Order 2: packed upper triangle of sum_i r_i x_i x_i^T, linalg.PackedLen(D); else empty
}

// Validate checks the sizes and finiteness of moment sums received for d
// features and the given order.
func (m *Moments12) Validate(d, order int) error {
	want2 := 0
	if order == 2 {
		want2 = linalg.PackedLen(d)
	}
	switch {
	case m.Order != order || m.D != d || len(m.SumYX) != d || len(m.SumX) != d || len(m.SumYXX) != want2:
		return fmt.Errorf("%w: moments of partition %d have order %d, d = %d, %d, %d first and %d second-order values, want order %d, d = %d",
			ErrRequest, m.Partition, m.Order, m.D, len(m.SumYX), len(m.SumX), len(m.SumYXX), order, d)
	case m.Rows < 0:
		return fmt.Errorf("%w: moments of partition %d have %d rows", ErrRequest, m.Partition, m.Rows)
	case !finite(m.SumYX) || !finite(m.SumYXX) || !finite(m.SumX) || !finite([]float64{m.SumY}):
		return fmt.Errorf("%w: moments of partition %d have NaN or Inf values", ErrRequest, m.Partition)
	}
	return nil
}

// Moment4 is one partition's sum of y_i He4(V^T x_i), the fourth-order
// Hermite tensor of the projected input, stored as a packed symmetric
// tensor (see Sym4Len).
type Moment4 struct {
	Partition int
	Rows      int
	K         int       // order of the projection, the tensor is K x K x K x K
	Sum       []float64 // Sym4Len(K) values
}

// Validate checks the sizes and finiteness of a fourth moment received for
// a projection of order k.
func (m *Moment4) Validate(k int) error {
	switch {
	case m.K != k || len(m.Sum) != Sym4Len(k):
		return fmt.Errorf("%w: fourth moment of partition %d has k = %d and %d values, want k = %d",
			ErrRequest, m.Partition, m.K, len(m.Sum), k)
	case m.Rows < 0:
		return fmt.Errorf("%w: fourth moment of partition %d has %d rows", ErrRequest, m.Partition, m.Rows)
	case !finite(m.Sum):
		return fmt.Errorf("%w: fourth moment of partition %d has NaN or Inf values", ErrRequest, m.Partition)
	}
	return nil
}

// Sym4Len returns the number of distinct entries of a symmetric
// k x k x k x k tensor, C(k+3, 4). The packed form lists the entries
// (i, j, l, m) with i <= j <= l <= m in lexicographic order.
func Sym4Len(k int) int { return k * (k + 1) * (k + 2) * (k + 3) / 24 }

// Sym4Unpack writes the full symmetric tensor held in packed form p into
// dst (k^4 values, index ((i*k+j)*k+l)*k+m).
func Sym4Unpack(dst, p []float64, k int) {
	if len(dst) != k*k*k*k || len(p) != Sym4Len(k) {
		panic("shard: bad length in Sym4Unpack")
	}
	idx := 0
	for i := 0; i < k; i++ {
		for j := i; j < k; j++ {
			for l := j; l < k; l++ {
				for m := l; m < k; m++ {
					t := [4]int{i, j, l, m}
					v := p[idx]
					idx++
					// All orderings of the multiset (at most 24).
					permute4(t, func(a, b, c, e int) { dst[((a*k+b)*k+c)*k+e] = v })
				}
			}
		}
	}
}

// permute4 calls f with every ordering of t (repeated orderings of equal
// indices included; they write the same entry).
func permute4(t [4]int, f func(a, b, c, e int)) {
	for a := 0; a < 4; a++ {
		for b := 0; b < 4; b++ {
			if b == a {
				continue
			}
			for c := 0; c < 4; c++ {
				if c == a || c == b {
					continue
				}
				e := 6 - a - b - c
				f(t[a], t[b], t[c], t[e])
			}
		}
	}
}

// Moments12 returns the moment sums of order 1 or 2 of partition id, of
// r_i = y_i - base(x_i) (base nil: the labels themselves). Order 1 costs
// about 2D multiply-adds per row, order 2 another D(D+1)/2.
func (e *Engine) Moments12(id int, base *Baseline, order int) (*Moments12, error) {
	return e.Moments12Context(context.Background(), id, base, order)
}

// Moments12Context is Moments12 giving up, with ctx's error, while it waits
// for a computation token (SetParallel) once ctx is done.
func (e *Engine) Moments12Context(ctx context.Context, id int, base *Baseline, order int) (*Moments12, error) {
	s := e.slots[id]
	if s == nil {
		return nil, fmt.Errorf("%w: %d", ErrNoPartition, id)
	}
	d := s.d // rows are immutable; no lock needed
	if order != 1 && order != 2 {
		return nil, fmt.Errorf("%w: moment order %d, want 1 or 2", ErrRequest, order)
	}
	if err := base.validate(d); err != nil {
		return nil, err
	}
	p, done, err := e.hold(ctx, s)
	if err != nil {
		return nil, err
	}
	defer done()
	m := &Moments12{Partition: id, Order: order, Rows: p.Rows, D: d, SumYX: make([]float64, d), SumX: make([]float64, d)}
	if order == 2 {
		m.SumYXX = make([]float64, linalg.PackedLen(d))
	}
	var scratch []float64
	row := make([]float64, d) // a float32 row converted
	for i, yi := range p.Y {
		xi := p.Row(i, row)
		yi -= base.eval(xi, &scratch)
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

// Baseline is a quadratic function of the input,
//
//	b(x) = C + B . x + sum_r S_r (L_r . x)^2,
//
// L_r the r-th column of the D x R matrix L (row-major), subtracted from
// the labels before a moment is summed. Under x ~ N(0, I) the Hermite
// tensor of order n (x x^T - I, He4) is orthogonal to every polynomial of
// degree below n, so a baseline of lower degree leaves the expected moment
// unchanged, while its variance drops when b approximates the labels'
// Hermite expansion up to that degree. (Any symmetric quadratic form is
// L diag(S) L^T with R = D; low rank keeps the cost at D R per row.)
type Baseline struct {
	C float64
	B []float64 // D values, or nil for none
	L []float64 // D x R, row-major, or nil for no quadratic term
	S []float64 // R values
}

func (b *Baseline) validate(d int) error {
	if b == nil {
		return nil
	}
	r := len(b.S)
	if (b.B != nil && len(b.B) != d) || len(b.L) != d*r {
		return fmt.Errorf("%w: baseline has %d linear values and a %d-value quadratic factor of rank %d for d = %d", ErrRequest, len(b.B), len(b.L), r, d)
	}
	if !finite(b.B) || !finite(b.L) || !finite(b.S) || !finite([]float64{b.C}) {
		return fmt.Errorf("%w: non-finite baseline", ErrRequest)
	}
	return nil
}

// eval returns b(x), using *scratch (grown as needed) for L^T x.
func (b *Baseline) eval(x []float64, scratch *[]float64) float64 {
	if b == nil {
		return 0
	}
	s := b.C
	if b.B != nil {
		for j, xj := range x {
			s += b.B[j] * xj
		}
	}
	if r := len(b.S); r > 0 {
		u := grow(*scratch, r)
		*scratch = u
		clear(u)
		for j, xj := range x {
			for c, l := range b.L[j*r : (j+1)*r] {
				u[c] += xj * l
			}
		}
		for c, uc := range u {
			s += b.S[c] * uc * uc
		}
	}
	return s
}

// Moment4 returns the sum over the rows of partition id of
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
func (e *Engine) Moment4(id int, v []float64, k int, base *Baseline) (*Moment4, error) {
	return e.Moment4Context(context.Background(), id, v, k, base)
}

// Moment4Context is Moment4 giving up, with ctx's error, while it waits for
// a computation token (SetParallel) once ctx is done.
func (e *Engine) Moment4Context(ctx context.Context, id int, v []float64, k int, base *Baseline) (*Moment4, error) {
	s := e.slots[id]
	if s == nil {
		return nil, fmt.Errorf("%w: %d", ErrNoPartition, id)
	}
	d := s.d
	if k < 1 || len(v) != d*k {
		return nil, fmt.Errorf("%w: projection has %d values for d = %d, k = %d", ErrRequest, len(v), d, k)
	}
	if !finite(v) {
		return nil, fmt.Errorf("%w: non-finite projection", ErrRequest)
	}
	if err := base.validate(d); err != nil {
		return nil, err
	}
	p, done, err := e.hold(ctx, s)
	if err != nil {
		return nil, err
	}
	defer done()
	s4 := make([]float64, Sym4Len(k))
	s2 := make([]float64, linalg.PackedLen(k))
	var s0 float64
	z := make([]float64, k)
	var scratch []float64
	row := make([]float64, d) // a float32 row converted
	for r, yi := range p.Y {
		xr := p.Row(r, row)
		yi -= base.eval(xr, &scratch)
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
	out := &Moment4{Partition: id, Rows: p.Rows, K: k, Sum: s4}
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
