package msg

import (
	"fmt"
	"math"
)

// Affine standardizes the rows a kernel reads: feature j < len(XShift)
// becomes (x_j - XShift[j]) * XScale[j] (the later features, such as the
// constant-1 bias feature, are kept), the label (y - YShift) * YScale. A
// nil *Affine is the identity. The kernels apply it to the rows as they
// read them, so the data are held as they are and the same shards serve
// standardized and raw requests.
type Affine struct {
	XShift, XScale []float64
	YShift, YScale float64
}

// Check checks an affine map of rows of d features: sizes, finite values,
// positive scales.
func (a *Affine) Check(d int) error { return a.check(d) }

// check checks an affine map of rows of d features.
func (a *Affine) check(d int) error {
	if a == nil {
		return nil
	}
	switch {
	case len(a.XShift) != len(a.XScale) || len(a.XShift) > d:
		return fmt.Errorf("%w: standardization of %d and %d features for rows of %d", ErrRequest, len(a.XShift), len(a.XScale), d)
	case !finiteAll(a.XShift, a.XScale) || !finite(a.YShift, a.YScale):
		return fmt.Errorf("%w: standardization has NaN or Inf values", ErrRequest)
	case !(a.YScale > 0):
		return fmt.Errorf("%w: standardization scales the label by %v", ErrRequest, a.YScale)
	}
	for j, s := range a.XScale {
		if !(s > 0) {
			return fmt.Errorf("%w: standardization scales feature %d by %v", ErrRequest, j, s)
		}
	}
	return nil
}

// Row applies a to the features of one row in place (a nil a does
// nothing).
func (a *Affine) Row(x []float64) {
	if a == nil {
		return
	}
	for j, s := range a.XShift {
		x[j] = (x[j] - s) * a.XScale[j]
	}
}

// Label returns the standardized label of y (y itself for a nil a).
func (a *Affine) Label(y float64) float64 {
	if a == nil {
		return y
	}
	return (y - a.YShift) * a.YScale
}

// Split holds rows out of training for validation, the same rows whatever
// the partitioning: row i of the data (its global index) is a validation
// row when From > 0 and i >= From (the rows of a separate validation file
// appended after the training rows), or when From = 0 and the hash of
// (Seed, i) falls below Fraction. A nil *Split holds out nothing. The
// kernels leave validation rows out of every sum but the validation loss
// (Eval).
type Split struct {
	Fraction float64
	Seed     uint64
	From     int
}

// check checks a split.
func (s *Split) check() error {
	switch {
	case s == nil:
		return nil
	case s.From < 0:
		return fmt.Errorf("%w: validation rows from row %d", ErrRequest, s.From)
	case s.From == 0 && !(s.Fraction > 0 && s.Fraction < 1):
		return fmt.Errorf("%w: validation fraction %v, want one in (0, 1)", ErrRequest, s.Fraction)
	}
	return nil
}

// Holds reports whether row i (its global index) is a validation row.
func (s *Split) Holds(i int) bool {
	if s == nil {
		return false
	}
	if s.From > 0 {
		return i >= s.From
	}
	return s.uniform(i) < s.Fraction
}

// uniform returns the row's hash as a float in [0, 1).
func (s *Split) uniform(i int) float64 {
	return float64(RowHash(s.Seed, i)>>11) / (1 << 53)
}

// RowHash is the hash of row i of the data under seed (SplitMix64's
// finalizer of both): the validation split and the rows sampled for a
// start (Summary) are decided by it, row by row, so neither depends on how
// the rows are partitioned or which shard holds them.
func RowHash(seed uint64, i int) uint64 {
	x := seed ^ (uint64(i) * 0x9e3779b97f4a7c15)
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Eval are the sums of the validation rows of a partition at the request's
// weights, for the validation loss, RMSE and R^2.
type Eval struct {
	Rows int
	SSE  float64 // sum of squared residuals
	YY   float64 // sum of squared labels
	SumY float64 // sum of labels
}

// Check checks validation sums: a row count >= 0, finite sums.
func (e Eval) Check() error {
	if e.Rows < 0 || !finite(e.SSE, e.YY, e.SumY) {
		return fmt.Errorf("%w: %d validation rows, sums %v, %v, %v", ErrInvalid, e.Rows, e.SSE, e.YY, e.SumY)
	}
	return nil
}

// check is Check naming a partition.
func (e Eval) check(part int) error {
	if err := e.Check(); err != nil {
		return fmt.Errorf("partial of partition %d: %w", part, err)
	}
	return nil
}

// Add adds o's sums to e.
func (e *Eval) Add(o Eval) {
	e.Rows += o.Rows
	e.SSE += o.SSE
	e.YY += o.YY
	e.SumY += o.SumY
}

// R2 returns 1 - SSE / sum (y - mean y)^2 over the rows summed, NaN
// without rows or with constant labels.
func R2(rows int, sse, yy, sumY float64) float64 {
	if rows == 0 {
		return math.NaN()
	}
	ss := yy - sumY*sumY/float64(rows)
	if !(ss > 0) {
		return math.NaN()
	}
	return 1 - sse/ss
}
