package deep

import (
	"context"
	"fmt"

	"go.uber.org/zap"

	"altmin/data"
	"altmin/shard"
)

// LoadPartitions reads the P partitions of src (no bias feature), in
// partition order, with shard.Load.
func LoadPartitions(src data.Source, parts int) ([]*shard.Partition, error) {
	ps := make([]*shard.Partition, parts)
	for id := range ps {
		p, err := shard.Load(src, parts, id, false)
		if err != nil {
			return nil, err
		}
		ps[id] = p
	}
	return ps, nil
}

// Trainer drives a Core in process over partitions: each step it computes
// every partition's statistics with PartitionStats, offers them to the core
// in the order given by Order, and advances. Driver with a LocalFetcher does
// the same (with the same bits) and also runs over a cluster.
type Trainer struct {
	Core  *Core
	Parts []*shard.Partition // indexed by partition ID
	Log   *zap.Logger        // nil: no logging
	// Order, when non-nil, returns the order in which the partials of a
	// step are offered (a permutation of 0..P-1), to exercise arrival-order
	// independence; nil offers them in partition order.
	Order func(step int) []int
	// OnReport, when set, is called after every step; an error stops
	// training.
	OnReport func(Report) error

	ws []Workspace
}

// Run steps until the core stops or ctx is cancelled, and returns the last
// report.
func (t *Trainer) Run(ctx context.Context) (Report, error) {
	log := t.Log
	if log == nil {
		log = zap.NewNop()
	}
	if len(t.Parts) != t.Core.got.Len() {
		return Report{}, fmt.Errorf("deep: %d partitions given, core expects %d", len(t.Parts), t.Core.got.Len())
	}
	for id, p := range t.Parts {
		if p.ID != id {
			return Report{}, fmt.Errorf("deep: partition at index %d has ID %d", id, p.ID)
		}
	}
	if len(t.ws) != len(t.Parts) {
		t.ws = make([]Workspace, len(t.Parts))
	}
	for {
		if err := ctx.Err(); err != nil {
			return Report{}, err
		}
		req := t.Core.Request()
		order := make([]int, len(t.Parts))
		for i := range order {
			order[i] = i
		}
		if t.Order != nil {
			order = t.Order(req.Step)
		}
		for _, id := range order {
			p, err := PartitionStats(&t.ws[id], t.Parts[id], req)
			if err != nil {
				return Report{}, fmt.Errorf("deep: step %d, partition %d: %w", req.Step, id, err)
			}
			if err := t.Core.Offer(p); err != nil {
				return Report{}, fmt.Errorf("deep: step %d: %w", req.Step, err)
			}
		}
		rep, err := t.Core.Advance()
		if err != nil {
			return rep, err
		}
		log.Info("deep step", zap.Int("iter", rep.Iter), zap.Int("step", rep.Step), zap.Ints("layers", rep.Layers),
			zap.Float64("loss", rep.Loss), zap.Float64("relres", rep.RelRes), zap.Int64("flips", rep.Flips),
			zap.Float64("ridge", rep.Ridge), zap.Float64("change", rep.Change), zap.String("stop", string(rep.Stop)))
		if t.OnReport != nil {
			if err := t.OnReport(rep); err != nil {
				return rep, err
			}
		}
		if rep.Stop != Running {
			return rep, nil
		}
	}
}
