package shard

import (
	"cmp"
	"container/heap"
	"context"
	"slices"

	"altmin/msg"
)

// summary returns the summary of slot s's training rows for req (see
// msg.SummaryRequest): Welford's running mean and sum of squared
// deviations of every column in row order, and the req.Samples rows of
// smallest msg.RowHash.
func (e *Engine) summary(ctx context.Context, s *slot, req *msg.SummaryRequest) (*msg.Summary, error) {
	p, done, err := e.hold(ctx, s)
	if err != nil {
		return nil, err
	}
	defer done()
	c := p.D + 1
	out := &msg.Summary{Partition: s.id, Mean: make([]float64, c), M2: make([]float64, c)}
	row := make([]float64, c)
	var h sampleHeap
	for i := range p.Y {
		g := p.Lo + i
		if req.Split.Holds(g) {
			continue
		}
		x := p.Row(i, row[:p.D])
		v := row
		if &x[0] != &row[0] {
			copy(v, x)
		}
		v[p.D] = p.Y[i]
		out.Rows++
		n := float64(out.Rows)
		for j, xj := range v {
			d := xj - out.Mean[j]
			out.Mean[j] += d / n
			out.M2[j] += d * (xj - out.Mean[j])
		}
		if req.Samples > 0 {
			hs := msg.RowHash(req.Seed, g)
			if h.Len() < req.Samples {
				heap.Push(&h, sample{hs, g, slices.Clone(v)})
			} else if hs < h[0].hash {
				h[0] = sample{hs, g, slices.Clone(v)}
				heap.Fix(&h, 0)
			}
		}
	}
	slices.SortFunc(h, func(a, b sample) int { return cmp.Compare(a.hash, b.hash) })
	for _, sm := range h {
		out.Index = append(out.Index, float64(sm.index))
		out.Sample = append(out.Sample, sm.row...)
	}
	return out, nil
}

// sample is a sampled row: its hash, global index and values.
type sample struct {
	hash  uint64
	index int
	row   []float64
}

// sampleHeap is a max-heap of samples by hash: its top is the sample the
// next row of smaller hash replaces.
type sampleHeap []sample

func (h sampleHeap) Len() int           { return len(h) }
func (h sampleHeap) Less(i, j int) bool { return h[i].hash > h[j].hash }
func (h sampleHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *sampleHeap) Push(x any)        { *h = append(*h, x.(sample)) }
func (h *sampleHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
