package tensorinit

import (
	"context"
	"fmt"
	"sync"

	"altmin/data"
	"altmin/linalg"
	"altmin/shard"
)

// MomentSource computes one partition's moment sums. Implementations may
// run anywhere (in process: EngineSource, LoadSource; on the shards of a
// cluster, over gRPC: fleet.MomentSource); Run only requires that the sums
// be those of the requested partition, and checks sizes and the partition
// ID before reducing them.
type MomentSource interface {
	// Moments12 returns the partition's moment sums of order 1 or 2 of
	// y - base(x); see shard.Engine.Moments12.
	Moments12(ctx context.Context, p int, base *shard.Baseline, order int) (*shard.Moments12, error)
	// Moment4 returns the partition's sum of (y - base(x)) He4(V^T x) for
	// the projection V (D x k, row-major); see shard.Engine.Moment4.
	Moment4(ctx context.Context, p int, v []float64, k int, base *shard.Baseline) (*shard.Moment4, error)
}

// EngineSource is the in-process MomentSource over an engine holding the
// partitions.
type EngineSource struct{ Engine *shard.Engine }

// Moments12 implements MomentSource.
func (s EngineSource) Moments12(ctx context.Context, p int, base *shard.Baseline, order int) (*shard.Moments12, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.Engine.Moments12(p, base, order)
}

// Moment4 implements MomentSource.
func (s EngineSource) Moment4(ctx context.Context, p int, v []float64, k int, base *shard.Baseline) (*shard.Moment4, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.Engine.Moment4(p, v, k, base)
}

// LoadSource is an in-process MomentSource that loads each partition from
// a data source when it is asked for and drops it afterwards, so that the
// moment passes hold at most Config.Parallel partitions in memory. Every
// pass reads the partition again.
type LoadSource struct {
	Source     data.Source
	Partitions int  // P, the number of partitions the rows are split into
	Bias       bool // append the constant-1 feature, as training does
}

func (s LoadSource) engine(p int) (*shard.Engine, error) {
	part, err := shard.Load(s.Source, s.Partitions, p, s.Bias)
	if err != nil {
		return nil, err
	}
	return shard.NewEngine(part)
}

// Moments12 implements MomentSource.
func (s LoadSource) Moments12(ctx context.Context, p int, base *shard.Baseline, order int) (*shard.Moments12, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e, err := s.engine(p)
	if err != nil {
		return nil, err
	}
	return e.Moments12(p, base, order)
}

// Moment4 implements MomentSource.
func (s LoadSource) Moment4(ctx context.Context, p int, v []float64, k int, base *shard.Baseline) (*shard.Moment4, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	e, err := s.engine(p)
	if err != nil {
		return nil, err
	}
	return e.Moment4(p, v, k, base)
}

// gather calls fetch for partitions 0..P-1, at most parallel at a time, and
// returns the answers indexed by partition. On failure it returns the error
// of the lowest failing partition; a failure does not cancel the other
// fetches, so which error is reported does not depend on scheduling.
func gather[T any](ctx context.Context, P, parallel int, fetch func(context.Context, int) (T, error)) ([]T, error) {
	out := make([]T, P)
	errs := make([]error, P)
	if parallel < 1 {
		parallel = 1
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for p := 0; p < P; p++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(p int) {
			defer wg.Done()
			defer func() { <-sem }()
			out[p], errs[p] = fetch(ctx, p)
		}(p)
	}
	wg.Wait()
	for p, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("tensorinit: partition %d: %w", p, err)
		}
	}
	return out, nil
}

// Reduce12 adds the moment sums of the given order of partitions 0..P-1
// (parts[p] must be partition p) in partition order, for D features.
func Reduce12(parts []*shard.Moments12, d, order int) (*shard.Moments12, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("%w: no partitions", ErrMoments)
	}
	sum := &shard.Moments12{Partition: -1, Order: order, D: d, SumYX: make([]float64, d), SumX: make([]float64, d)}
	if order == 2 {
		sum.SumYXX = make([]float64, linalg.PackedLen(d))
	}
	for p, m := range parts {
		if m == nil || m.Partition != p {
			return nil, fmt.Errorf("%w: answer for partition %d is missing or names another partition", ErrMoments, p)
		}
		if err := m.Validate(d, order); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMoments, err)
		}
		sum.Rows += m.Rows
		sum.SumY += m.SumY
		add(sum.SumYX, m.SumYX)
		add(sum.SumX, m.SumX)
		add(sum.SumYXX, m.SumYXX)
	}
	return sum, nil
}

// Reduce4 adds the fourth moment sums of partitions 0..P-1 (parts[p] must
// be partition p) in partition order, for a projection of order k.
func Reduce4(parts []*shard.Moment4, k int) (*shard.Moment4, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("%w: no partitions", ErrMoments)
	}
	sum := &shard.Moment4{Partition: -1, K: k, Sum: make([]float64, shard.Sym4Len(k))}
	for p, m := range parts {
		if m == nil || m.Partition != p {
			return nil, fmt.Errorf("%w: answer for partition %d is missing or names another partition", ErrMoments, p)
		}
		if err := m.Validate(k); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMoments, err)
		}
		sum.Rows += m.Rows
		add(sum.Sum, m.Sum)
	}
	return sum, nil
}

func add(dst, src []float64) {
	for i, v := range src {
		dst[i] += v
	}
}
