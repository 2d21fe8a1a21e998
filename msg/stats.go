package msg

import (
	"fmt"

	"altmin/linalg"
)

// StatsRequest asks a partition for its statistics at the weights of one
// iteration of a 1-hidden-layer model, y = sum_q v_q relu(u_q . x).
type StatsRequest struct {
	Iter  int
	D     int       // features per row, including the bias feature
	Signs []float64 // output signs v, each +1 or -1; k = len(Signs)
	U     []float64 // effective weights, k x D, row-major
	Prev  []float64 // effective weights of iteration Iter-1; nil at the first
	// Linear makes the last unit linear: its output is u_k . x on every
	// row (sign +1), a linear term of the input, instead of relu(u_k . x).
	Linear    bool
	Transform *Affine // standardization of the rows; nil: none
	Split     *Split  // validation rows; nil: none
	// Revive lists ReLU units (increasing) whose activation patterns in the
	// statistics, not in the prediction, come from ReviveW instead of U:
	// unit Revive[j] is active on row x when ReviveW[j*D:(j+1)*D] . x > 0.
	// A core sends it for units inactive on every training row, so that
	// the next solve can place them again.
	Revive  []int
	ReviveW []float64
}

// Kind implements Request.
func (*StatsRequest) Kind() Kind { return KindStats }

// Round implements Request: the iteration.
func (r *StatsRequest) Round() int { return r.Iter }

// Features implements Request.
func (r *StatsRequest) Features() int { return r.D }

func (*StatsRequest) request() {}

// Validate implements Request.
func (r *StatsRequest) Validate() error {
	k := len(r.Signs)
	switch {
	case r.Iter < 0:
		return fmt.Errorf("%w: negative iteration %d", ErrRequest, r.Iter)
	case k < 1 || r.D < 1:
		return fmt.Errorf("%w: d = %d, k = %d", ErrRequest, r.D, k)
	case r.D > MaxM || int64(r.D)*int64(k) > MaxM:
		return fmt.Errorf("%w: m = d*k = %d*%d, at most %d supported", ErrTooLarge, r.D, k, MaxM)
	case len(r.U) != k*r.D:
		return fmt.Errorf("%w: %d weights for d = %d, k = %d", ErrRequest, len(r.U), r.D, k)
	case r.Prev != nil && len(r.Prev) != len(r.U):
		return fmt.Errorf("%w: %d previous weights for d = %d, k = %d", ErrRequest, len(r.Prev), r.D, k)
	case (r.Prev != nil) != (r.Iter > 0):
		return fmt.Errorf("%w: iteration %d: previous weights are given exactly after iteration 0", ErrRequest, r.Iter)
	}
	for _, v := range r.Signs {
		if v != 1 && v != -1 {
			return fmt.Errorf("%w: output sign %v", ErrRequest, v)
		}
	}
	if !finiteAll(r.U, r.Prev) {
		return fmt.Errorf("%w: non-finite weights", ErrRequest)
	}
	if r.Linear && r.Signs[k-1] != 1 {
		return fmt.Errorf("%w: the linear unit has output sign %v, want +1", ErrRequest, r.Signs[k-1])
	}
	if err := r.checkRevive(k); err != nil {
		return err
	}
	if err := r.Transform.check(r.D); err != nil {
		return err
	}
	return r.Split.check()
}

// checkRevive checks the revived units: ReLU units of the k, increasing,
// with D finite weights each.
func (r *StatsRequest) checkRevive(k int) error {
	relu := k
	if r.Linear {
		relu--
	}
	return CheckRevive(r.Revive, r.ReviveW, relu, r.D)
}

// CheckRevive checks revived units and their hyperplanes, as
// StatsRequest.Revive and ReviveW hold them: increasing units of the relu
// ReLU units, with d finite weights each. Errors wrap ErrRequest.
func CheckRevive(units []int, w []float64, relu, d int) error {
	switch {
	case len(units) > relu:
		return fmt.Errorf("%w: %d revived units of %d ReLU units", ErrRequest, len(units), relu)
	case len(w) != len(units)*d:
		return fmt.Errorf("%w: %d revival weights for %d units of d = %d", ErrRequest, len(w), len(units), d)
	case !finiteAll(w):
		return fmt.Errorf("%w: non-finite revival weights", ErrRequest)
	}
	for j, q := range units {
		if q < 0 || q >= relu || (j > 0 && q <= units[j-1]) {
			return fmt.Errorf("%w: revived units %v: want increasing ReLU units in [0, %d)", ErrRequest, units, relu)
		}
	}
	return nil
}

// Stats are one partition's statistics for one iteration: its part of the
// normal equations of the least-squares step with the activation patterns
// of the request's weights held.
type Stats struct {
	Iter      int
	Partition int // the first partition summed
	// Parts is the number of partitions summed: the node (Partition, Parts)
	// of the reduction tree (Span); 0 means 1.
	Parts int
	Rows  int
	M     int       // unknowns, d*k
	Gram  []float64 // packed upper triangle of B^T B, linalg.PackedLen(M)
	R     []float64 // B^T y, M
	YY    float64   // y^T y
	SumY  float64   // sum of the labels
	SSE   float64   // sum of squared residuals at the request's weights
	Flips int64     // pattern bits changed since Prev; -1 without Prev
	// Val are the sums of the partition's validation rows (Split), which
	// every other field leaves out.
	Val Eval

	// finiteChecked records that the producer checked every value finite
	// (MarkFiniteChecked).
	finiteChecked bool
}

// Kind implements Partial.
func (*Stats) Kind() Kind { return KindStats }

// Round implements Partial: the iteration.
func (s *Stats) Round() int { return s.Iter }

// Span implements Partial.
func (s *Stats) Span() Span { return span(s.Partition, s.Parts) }

func (s *Stats) setSpan(sp Span) { s.Partition, s.Parts = sp.Lo, sp.N }

func (*Stats) partial() {}

// Check implements Partial. The finiteness pass, a read of the whole Gram
// matrix, is skipped for statistics marked with MarkFiniteChecked.
func (s *Stats) Check(req Request) error {
	if err := checkAnswer(s, req); err != nil {
		return err
	}
	r := req.(*StatsRequest)
	m := len(r.U)
	switch {
	case s.M != m || len(s.Gram) != linalg.PackedLen(m) || len(s.R) != m:
		return fmt.Errorf("%w: partial of partition %d has m = %d, %d Gram and %d rhs values, want m = %d", ErrInvalid, s.Partition, s.M, len(s.Gram), len(s.R), m)
	case s.Rows < 0:
		return fmt.Errorf("%w: partial of partition %d has %d rows", ErrInvalid, s.Partition, s.Rows)
	case (r.Prev != nil) != (s.Flips >= 0) || s.Flips < -1:
		return fmt.Errorf("%w: partial of partition %d has %d flips for a request with%s previous weights", ErrInvalid, s.Partition, s.Flips, without(r.Prev != nil))
	case !s.finiteChecked && !(finite(s.YY, s.SSE, s.SumY) && finiteAll(s.R, s.Gram)):
		return fmt.Errorf("%w: partial of partition %d has NaN or Inf values", ErrInvalid, s.Partition)
	}
	return s.Val.check(s.Partition)
}

// without returns "" or "out", for messages about what a request has.
func without(has bool) string {
	if has {
		return ""
	}
	return "out"
}

// MarkFiniteChecked records that every value of s (Gram, R, YY, SSE) was
// checked finite as s was built, as the transport's client does while it
// decodes a reply, so that Check does not read them again. The values must
// not change afterwards; statistics computed in process are not marked, so
// Check reads them whole.
func (s *Stats) MarkFiniteChecked() { s.finiteChecked = true }

// Release implements Partial: s's Gram buffer goes back to pool.
func (s *Stats) Release(pool *Pool) {
	if s == nil {
		return
	}
	pool.Put(s.Gram)
	s.Gram = nil
}
