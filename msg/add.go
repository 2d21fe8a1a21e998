package msg

import (
	"cmp"
	"slices"
)

// The additions of the reduction tree (Tree): p.Add(o, req) adds o, the
// partial of the node right after p's (p's right sibling in the tree),
// into p, for req. Sums are added element by element as p's value plus
// o's; counts are added; a flip count of -1 (no previous weights) stays -1.
// The callers have checked both partials against req.

// Add adds o's statistics into s.
func (s *Stats) Add(o Partial, _ Request) {
	q := o.(*Stats)
	addTo(s.Gram, q.Gram)
	addTo(s.R, q.R)
	s.YY += q.YY
	s.SumY += q.SumY
	s.SSE += q.SSE
	s.Rows += q.Rows
	s.Flips = addFlips(s.Flips, q.Flips)
	s.Val.Add(q.Val)
	s.finiteChecked = s.finiteChecked && q.finiteChecked
}

// Add adds o's statistics into p, system by system.
func (p *DeepStats) Add(o Partial, _ Request) {
	q := o.(*DeepStats)
	p.YY += q.YY
	p.SumY += q.SumY
	p.SSE += q.SSE
	p.Rows += q.Rows
	p.Flips = addFlips(p.Flips, q.Flips)
	p.Val.Add(q.Val)
	for i := range p.Systems {
		addTo(p.Systems[i].Gram, q.Systems[i].Gram)
		addTo(p.Systems[i].R, q.Systems[i].R)
	}
	p.finiteChecked = p.finiteChecked && q.finiteChecked
}

// Add adds o's moment sums into m.
func (m *Moments12) Add(o Partial, _ Request) {
	q := o.(*Moments12)
	m.Rows += q.Rows
	m.SumY += q.SumY
	addTo(m.SumYX, q.SumYX)
	addTo(m.SumX, q.SumX)
	addTo(m.SumYXX, q.SumYXX)
}

// Add adds o's fourth-moment sums into m.
func (m *Moment4) Add(o Partial, _ Request) {
	q := o.(*Moment4)
	m.Rows += q.Rows
	addTo(m.Sum, q.Sum)
}

// Add combines o's summary into s: the counts, means and sums of squared
// deviations by Chan et al.'s pairwise update, and the sampled rows of
// both, by increasing RowHash(req.Seed, index), the req.Samples of
// smallest hash kept.
func (s *Summary) Add(o Partial, req Request) {
	q := o.(*Summary)
	switch {
	case q.Rows == 0:
	case s.Rows == 0:
		s.Rows = q.Rows
		copy(s.Mean, q.Mean)
		copy(s.M2, q.M2)
	default:
		na, nb := float64(s.Rows), float64(q.Rows)
		n := na + nb
		for j := range s.Mean {
			delta := q.Mean[j] - s.Mean[j]
			s.Mean[j] += delta * nb / n
			s.M2[j] += q.M2[j] + delta*delta*na*nb/n
		}
		s.Rows += q.Rows
	}
	r := req.(*SummaryRequest)
	c := len(s.Mean)
	type row struct {
		hash  uint64
		index float64
		v     []float64
	}
	rows := make([]row, 0, len(s.Index)+len(q.Index))
	for _, t := range []*Summary{s, q} {
		for i, idx := range t.Index {
			rows = append(rows, row{RowHash(r.Seed, int(idx)), idx, t.Sample[i*c : (i+1)*c]})
		}
	}
	slices.SortStableFunc(rows, func(a, b row) int { return cmp.Compare(a.hash, b.hash) })
	rows = rows[:min(len(rows), r.Samples)]
	index := make([]float64, 0, len(rows))
	sample := make([]float64, 0, len(rows)*c)
	for _, w := range rows {
		index = append(index, w.index)
		sample = append(sample, w.v...)
	}
	s.Index, s.Sample = index, sample
}

// addFlips adds two flip counts, -1 (not counted) staying -1.
func addFlips(a, b int64) int64 {
	if a < 0 || b < 0 {
		return -1
	}
	return a + b
}

// addTo sets dst[i] += src[i].
func addTo(dst, src []float64) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] += v
	}
}

// span returns the span of a partial's partition and count of partitions
// (0 meaning 1).
func span(partition, parts int) Span { return Span{Lo: partition, N: max(parts, 1)} }
