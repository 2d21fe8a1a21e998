package fleet

import (
	"context"

	"altmin/shard"
)

// MomentSource is the source of partition moments of the tensor
// initialization over the cluster: it implements tensorinit.MomentSource,
// each partition's sums computed by one of its live replicas with the
// failover, hedging and rejoin wait of Fetch. Every replica holds the same
// rows and computes the same bits, so the sums do not depend on which one
// answers.
type MomentSource struct {
	Fetcher *Fetcher
	D       int // features per row, including the bias feature
}

// Moments12 implements tensorinit.MomentSource.
func (s MomentSource) Moments12(ctx context.Context, p int, base *shard.Baseline, order int) (*shard.Moments12, error) {
	return s.Fetcher.Moments12(ctx, p, s.D, base, order)
}

// Moment4 implements tensorinit.MomentSource.
func (s MomentSource) Moment4(ctx context.Context, p int, v []float64, k int, base *shard.Baseline) (*shard.Moment4, error) {
	return s.Fetcher.Moment4(ctx, p, s.D, v, k, base)
}
