package transport

import (
	"fmt"
	"math"

	"altmin/shard"
)

// The arguments of the moment passes of the tensor initialization
// (Moments12, Moment4) and their checks against the protocol's limits,
// made by the client before sending and by the server on receipt.

// moments12Args are the arguments of a Moments12 call.
type moments12Args struct {
	partition, d, order int
	base                *shard.Baseline
}

// moment4Args are the arguments of a Moment4 call.
type moment4Args struct {
	partition, d, k int
	v               []float64
	base            *shard.Baseline
}

// checkMomentTarget checks the partition and the features per row of a
// moment call. Errors wrap ErrTooLarge or shard.ErrRequest.
func checkMomentTarget(partition int64, d int) error {
	switch {
	case partition < 0 || partition > math.MaxInt32:
		return fmt.Errorf("%w: partition %d out of range", shard.ErrRequest, partition)
	case d < 1:
		return fmt.Errorf("%w: d = %d features", shard.ErrRequest, d)
	case d > MaxMomentD:
		return fmt.Errorf("%w: moment pass over d = %d features, at most %d supported", ErrTooLarge, d, MaxMomentD)
	}
	return nil
}

// checkBaseline checks a baseline for d features: sizes within
// MaxProjection and consistent, values finite. Errors wrap ErrTooLarge or
// shard.ErrRequest.
func checkBaseline(b *shard.Baseline, d int) error {
	if b == nil {
		return nil
	}
	r := len(b.S)
	switch {
	case int64(d)*int64(r) > MaxProjection:
		return fmt.Errorf("%w: baseline of rank %d for d = %d, at most %d quadratic values supported", ErrTooLarge, r, d, MaxProjection)
	case b.B != nil && len(b.B) != d:
		return fmt.Errorf("%w: baseline has %d linear values for d = %d", shard.ErrRequest, len(b.B), d)
	case len(b.L) != d*r:
		return fmt.Errorf("%w: baseline has %d quadratic values for d = %d, rank %d", shard.ErrRequest, len(b.L), d, r)
	case nonFinite(b.B) >= 0 || nonFinite(b.L) >= 0 || nonFinite(b.S) >= 0 || nonFinite([]float64{b.C}) >= 0:
		return fmt.Errorf("%w: baseline has NaN or Inf values", shard.ErrRequest)
	}
	return nil
}

// check checks a Moments12 call before it is sent or computed.
func (a *moments12Args) check() error {
	if err := checkMomentTarget(int64(a.partition), a.d); err != nil {
		return err
	}
	if a.order != 1 && a.order != 2 {
		return fmt.Errorf("%w: moment order %d, want 1 or 2", shard.ErrRequest, a.order)
	}
	return checkBaseline(a.base, a.d)
}

// check checks a Moment4 call before it is sent or computed.
func (a *moment4Args) check() error {
	if err := checkMomentTarget(int64(a.partition), a.d); err != nil {
		return err
	}
	switch {
	case a.k < 1 || a.k > a.d:
		return fmt.Errorf("%w: projection of order k = %d for d = %d, need 1 <= k <= d", shard.ErrRequest, a.k, a.d)
	case a.d*a.k > MaxProjection:
		return fmt.Errorf("%w: projection of d*k = %d*%d values, at most %d supported", ErrTooLarge, a.d, a.k, MaxProjection)
	case len(a.v) != a.d*a.k:
		return fmt.Errorf("%w: projection has %d values for d = %d, k = %d", shard.ErrRequest, len(a.v), a.d, a.k)
	case nonFinite(a.v) >= 0:
		return fmt.Errorf("%w: projection has NaN or Inf values", shard.ErrRequest)
	}
	return checkBaseline(a.base, a.d)
}
