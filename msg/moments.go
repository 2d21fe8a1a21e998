package msg

import (
	"fmt"

	"altmin/linalg"
)

// The moments of the tensor (method-of-moments) initialization. For inputs
// x ~ N(0, I) and y = sum_q v_q relu(w_q . x) the population moments
// E[y x], E[y (x x^T - I)] and E[y He4(V^T x)] identify the teacher's
// directions (see package tensorinit). Each is a sum over samples, so a
// partition returns its own sums and the coordinator adds them in partition
// order, exactly like the Gram matrix of an iteration.

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
// L diag(S) L^T with R = D; low rank keeps the cost at D R per row.) A nil
// *Baseline is b = 0.
type Baseline struct {
	C float64
	B []float64 // D values, or nil for none
	L []float64 // D x R, row-major, or nil for no quadratic term
	S []float64 // R values
}

// check checks a baseline for d features: sizes within MaxProjection and
// consistent, values finite.
func (b *Baseline) check(d int) error {
	if b == nil {
		return nil
	}
	r := len(b.S)
	switch {
	case int64(d)*int64(r) > MaxProjection:
		return fmt.Errorf("%w: baseline of rank %d for d = %d, at most %d quadratic values supported", ErrTooLarge, r, d, MaxProjection)
	case b.B != nil && len(b.B) != d:
		return fmt.Errorf("%w: baseline has %d linear values for d = %d", ErrRequest, len(b.B), d)
	case len(b.L) != d*r:
		return fmt.Errorf("%w: baseline has %d quadratic values for d = %d, rank %d", ErrRequest, len(b.L), d, r)
	case !finiteAll(b.B, b.L, b.S) || !finite(b.C):
		return fmt.Errorf("%w: baseline has NaN or Inf values", ErrRequest)
	}
	return nil
}

// Eval returns b(x), using *scratch (grown as needed) for L^T x.
func (b *Baseline) Eval(x []float64, scratch *[]float64) float64 {
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
		u := *scratch
		if cap(u) < r {
			u = make([]float64, r)
		}
		u = u[:r]
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

// checkMomentD checks the features per row of a moment pass.
func checkMomentD(d int) error {
	switch {
	case d < 1:
		return fmt.Errorf("%w: d = %d features", ErrRequest, d)
	case d > MaxMomentD:
		return fmt.Errorf("%w: moment pass over d = %d features, at most %d supported", ErrTooLarge, d, MaxMomentD)
	}
	return nil
}

// Moments12Request asks a partition for its moment sums of order 1 or 2 of
// r_i = y_i - Base(x_i).
type Moments12Request struct {
	D         int // features per row, including the bias feature
	Order     int // 1: first-order sums only; 2: also the second-order sum
	Base      *Baseline
	Transform *Affine // standardization of the rows; nil: none
	Split     *Split  // validation rows, left out; nil: none
}

// Kind implements Request.
func (*Moments12Request) Kind() Kind { return KindMoments12 }

// Round implements Request: moment passes have round 0.
func (*Moments12Request) Round() int { return 0 }

// Features implements Request.
func (r *Moments12Request) Features() int { return r.D }

func (*Moments12Request) request() {}

// Validate implements Request.
func (r *Moments12Request) Validate() error {
	if err := checkMomentD(r.D); err != nil {
		return err
	}
	if r.Order != 1 && r.Order != 2 {
		return fmt.Errorf("%w: moment order %d, want 1 or 2", ErrRequest, r.Order)
	}
	if err := r.Transform.check(r.D); err != nil {
		return err
	}
	if err := r.Split.check(); err != nil {
		return err
	}
	return r.Base.check(r.D)
}

// Moments12 are one partition's sums for the first and, with Order 2, the
// second moment, of r_i = y_i - base(x_i).
type Moments12 struct {
	Partition int // the first partition summed
	// Parts is the number of partitions summed: the node (Partition, Parts)
	// of the reduction tree (Span); 0 means 1.
	Parts  int
	Order  int // 1: first-order sums only; 2: also SumYXX
	Rows   int
	D      int       // features per row, including the bias feature
	SumY   float64   // sum_i r_i
	SumYX  []float64 // sum_i r_i x_i, D values
	SumX   []float64 // sum_i x_i, D values (to centre the labels)
	SumYXX []float64 // Order 2: packed upper triangle of sum_i r_i x_i x_i^T, linalg.PackedLen(D); else empty
}

// Kind implements Partial.
func (*Moments12) Kind() Kind { return KindMoments12 }

// Round implements Partial.
func (*Moments12) Round() int { return 0 }

// Span implements Partial.
func (m *Moments12) Span() Span { return span(m.Partition, m.Parts) }

func (m *Moments12) setSpan(sp Span) { m.Partition, m.Parts = sp.Lo, sp.N }

func (*Moments12) partial() {}

// Release implements Partial; moment sums are not pooled.
func (*Moments12) Release(*Pool) {}

// Check implements Partial.
func (m *Moments12) Check(req Request) error {
	if err := checkAnswer(m, req); err != nil {
		return err
	}
	r := req.(*Moments12Request)
	want2 := 0
	if r.Order == 2 {
		want2 = linalg.PackedLen(r.D)
	}
	switch {
	case m.Order != r.Order || m.D != r.D || len(m.SumYX) != r.D || len(m.SumX) != r.D || len(m.SumYXX) != want2:
		return fmt.Errorf("%w: moments of partition %d have order %d, d = %d, %d, %d first and %d second-order values, want order %d, d = %d",
			ErrInvalid, m.Partition, m.Order, m.D, len(m.SumYX), len(m.SumX), len(m.SumYXX), r.Order, r.D)
	case m.Rows < 0:
		return fmt.Errorf("%w: moments of partition %d have %d rows", ErrInvalid, m.Partition, m.Rows)
	case !finiteAll(m.SumYX, m.SumYXX, m.SumX) || !finite(m.SumY):
		return fmt.Errorf("%w: moments of partition %d have NaN or Inf values", ErrInvalid, m.Partition)
	}
	return nil
}

// Moment4Request asks a partition for sum_i (y_i - Base(x_i)) He4(V^T x_i)
// (see shard's kernel for He4).
type Moment4Request struct {
	D         int       // features per row, including the bias feature
	K         int       // order of the projection, 1 <= K <= D
	V         []float64 // the projection, D x K, row-major
	Base      *Baseline
	Transform *Affine // standardization of the rows; nil: none
	Split     *Split  // validation rows, left out; nil: none
}

// Kind implements Request.
func (*Moment4Request) Kind() Kind { return KindMoment4 }

// Round implements Request: moment passes have round 0.
func (*Moment4Request) Round() int { return 0 }

// Features implements Request.
func (r *Moment4Request) Features() int { return r.D }

func (*Moment4Request) request() {}

// Validate implements Request.
func (r *Moment4Request) Validate() error {
	if err := checkMomentD(r.D); err != nil {
		return err
	}
	switch {
	case r.K < 1 || r.K > r.D:
		return fmt.Errorf("%w: projection of order k = %d for d = %d, need 1 <= k <= d", ErrRequest, r.K, r.D)
	case r.D*r.K > MaxProjection:
		return fmt.Errorf("%w: projection of d*k = %d*%d values, at most %d supported", ErrTooLarge, r.D, r.K, MaxProjection)
	case len(r.V) != r.D*r.K:
		return fmt.Errorf("%w: projection has %d values for d = %d, k = %d", ErrRequest, len(r.V), r.D, r.K)
	case !finite(r.V...):
		return fmt.Errorf("%w: projection has NaN or Inf values", ErrRequest)
	}
	if err := r.Transform.check(r.D); err != nil {
		return err
	}
	if err := r.Split.check(); err != nil {
		return err
	}
	return r.Base.check(r.D)
}

// Moment4 is one partition's sum of y_i He4(V^T x_i), the fourth-order
// Hermite tensor of the projected input, stored as a packed symmetric
// tensor (see Sym4Len).
type Moment4 struct {
	Partition int // the first partition summed
	// Parts is the number of partitions summed: the node (Partition, Parts)
	// of the reduction tree (Span); 0 means 1.
	Parts int
	Rows  int
	K     int       // order of the projection, the tensor is K x K x K x K
	Sum   []float64 // Sym4Len(K) values
}

// Kind implements Partial.
func (*Moment4) Kind() Kind { return KindMoment4 }

// Round implements Partial.
func (*Moment4) Round() int { return 0 }

// Span implements Partial.
func (m *Moment4) Span() Span { return span(m.Partition, m.Parts) }

func (m *Moment4) setSpan(sp Span) { m.Partition, m.Parts = sp.Lo, sp.N }

func (*Moment4) partial() {}

// Release implements Partial; moment sums are not pooled.
func (*Moment4) Release(*Pool) {}

// Check implements Partial.
func (m *Moment4) Check(req Request) error {
	if err := checkAnswer(m, req); err != nil {
		return err
	}
	k := req.(*Moment4Request).K
	switch {
	case m.K != k || len(m.Sum) != Sym4Len(k):
		return fmt.Errorf("%w: fourth moment of partition %d has k = %d and %d values, want k = %d",
			ErrInvalid, m.Partition, m.K, len(m.Sum), k)
	case m.Rows < 0:
		return fmt.Errorf("%w: fourth moment of partition %d has %d rows", ErrInvalid, m.Partition, m.Rows)
	case !finite(m.Sum...):
		return fmt.Errorf("%w: fourth moment of partition %d has NaN or Inf values", ErrInvalid, m.Partition)
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
		panic("msg: bad length in Sym4Unpack")
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
