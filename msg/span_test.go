package msg_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"altmin/linalg"
	"altmin/msg"
)

func sp(lo, n int) msg.Span { return msg.Span{Lo: lo, N: n} }

func TestSpanCheck(t *testing.T) {
	for _, c := range []struct {
		s     msg.Span
		parts int
		ok    bool
	}{
		{msg.Leaf(0), 1, true},
		{msg.Leaf(2), 3, true},
		{sp(0, 2), 2, true},
		{sp(0, 4), 3, true},
		{sp(4, 4), 8, true},
		{sp(0, 8), 5, true},
		{sp(8, 4), 13, true},
		{sp(12, 1), 13, true},
		{sp(0, 16), 13, true},
		{msg.Leaf(3), 3, false},  // out of range
		{msg.Leaf(-1), 3, false}, // negative
		{sp(0, 0), 3, false},     // empty
		{sp(0, -2), 3, false},    // negative size
		{sp(0, 3), 3, false},     // not a power of two
		{sp(2, 4), 8, false},     // not aligned
		{sp(1, 2), 3, false},     // not aligned
		{sp(0, 2), 1, false},     // empty right half: (0,1)
		{sp(0, 4), 2, false},     // empty right half: (0,2)
		{sp(2, 2), 3, false},     // empty right half: (2,1)
		{sp(12, 2), 13, false},   // empty right half: (12,1)
		{sp(8, 8), 12, false},    // empty right half: (8,4)
		{sp(0, 32), 13, false},   // larger than the root
		{sp(16, 1), 13, false},   // beyond the partitions
		{sp(0, 1), 0, false},     // no partitions
		{sp(0, 1<<3), 8, true},   // the root of 8
		{sp(0, 1<<4), 8, false},  // its parent
	} {
		err := c.s.Check(c.parts)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, msg.ErrInvalid)) {
			t.Errorf("(%d, %d).Check(%d) = %v, want ok %v (errors wrap ErrInvalid)", c.s.Lo, c.s.N, c.parts, err, c.ok)
		}
	}
}

func TestSpanCanonicalChildrenRoot(t *testing.T) {
	for _, c := range []struct {
		s     msg.Span
		parts int
		want  msg.Span
	}{
		{sp(0, 2), 1, msg.Leaf(0)},
		{sp(0, 16), 1, msg.Leaf(0)},
		{sp(0, 4), 2, sp(0, 2)},
		{sp(0, 4), 3, sp(0, 4)},
		{sp(2, 2), 3, msg.Leaf(2)},
		{sp(8, 8), 13, sp(8, 8)},
		{sp(8, 8), 12, sp(8, 4)},
		{sp(8, 8), 9, msg.Leaf(8)},
		{sp(12, 4), 13, msg.Leaf(12)},
		{sp(0, 32), 13, sp(0, 16)},
		{msg.Leaf(5), 13, msg.Leaf(5)},
	} {
		got := c.s.Canonical(c.parts)
		if got != c.want || got.Check(c.parts) != nil {
			t.Errorf("(%d, %d).Canonical(%d) = %v, want %v (and a valid node)", c.s.Lo, c.s.N, c.parts, got, c.want)
		}
		if got.End(c.parts) != c.s.End(c.parts) || got.Count(c.parts) != c.s.Count(c.parts) {
			t.Errorf("(%d, %d).Canonical(%d) covers other partitions", c.s.Lo, c.s.N, c.parts)
		}
	}

	for _, c := range []struct {
		s     msg.Span
		parts int
		want  []msg.Span
	}{
		{msg.Leaf(3), 5, nil},
		{sp(0, 2), 2, []msg.Span{msg.Leaf(0), msg.Leaf(1)}},
		{sp(0, 4), 3, []msg.Span{sp(0, 2), msg.Leaf(2)}},
		{sp(0, 16), 13, []msg.Span{sp(0, 8), sp(8, 8)}},
		{sp(8, 8), 13, []msg.Span{sp(8, 4), msg.Leaf(12)}},
		{sp(0, 8), 5, []msg.Span{sp(0, 4), msg.Leaf(4)}},
		{sp(0, 8), 6, []msg.Span{sp(0, 4), sp(4, 2)}},
		{sp(0, 8), 4, []msg.Span{sp(0, 4)}}, // a non-canonical node: its left half only
	} {
		got := c.s.Children(c.parts)
		if !slices.Equal(got, c.want) {
			t.Errorf("(%d, %d).Children(%d) = %v, want %v", c.s.Lo, c.s.N, c.parts, got, c.want)
		}
	}

	for parts, want := range map[int]msg.Span{0: msg.Leaf(0), 1: msg.Leaf(0), 2: sp(0, 2), 3: sp(0, 4), 4: sp(0, 4), 5: sp(0, 8), 8: sp(0, 8), 9: sp(0, 16), 13: sp(0, 16), 16: sp(0, 16), 17: sp(0, 32)} {
		if got := msg.Root(parts); got != want {
			t.Errorf("Root(%d) = %v, want %v", parts, got, want)
		}
		if parts > 0 && (msg.Root(parts).Check(parts) != nil || msg.Root(parts).Count(parts) != parts) {
			t.Errorf("Root(%d) = %v is not a node covering every partition", parts, msg.Root(parts))
		}
	}

	if s := sp(8, 8); s.End(13) != 13 || s.Count(13) != 5 || s.End(20) != 16 || s.Count(20) != 8 {
		t.Errorf("(8, 8): End %d, Count %d of 13; End %d, Count %d of 20", s.End(13), s.Count(13), s.End(20), s.Count(20))
	}
	if msg.Leaf(3).String() != "partition 3" || sp(4, 4).String() != "partitions 4-7" {
		t.Errorf("String: %q, %q", msg.Leaf(3).String(), sp(4, 4).String())
	}
}

func TestCover(t *testing.T) {
	in := func(ps ...int) func(int) bool { return func(p int) bool { return slices.Contains(ps, p) } }
	all := func(int) bool { return true }
	for _, c := range []struct {
		name  string
		parts int
		in    func(int) bool
		want  []msg.Span
	}{
		{"none of 0", 0, all, nil},
		{"all of 1", 1, all, []msg.Span{msg.Leaf(0)}},
		{"all of 13", 13, all, []msg.Span{sp(0, 16)}},
		{"none of 13", 13, in(), nil},
		{"all of 13 but 5", 13, func(p int) bool { return p != 5 }, []msg.Span{sp(0, 4), msg.Leaf(4), sp(6, 2), sp(8, 8)}},
		{"8..12 of 13", 13, func(p int) bool { return p >= 8 }, []msg.Span{sp(8, 8)}},
		{"8..11 of 13", 13, func(p int) bool { return p >= 8 && p < 12 }, []msg.Span{sp(8, 4)}},
		{"scattered", 8, in(1, 2, 3, 6, 7), []msg.Span{msg.Leaf(1), sp(2, 2), sp(6, 2)}},
		{"2 of 3", 3, in(2), []msg.Span{msg.Leaf(2)}},
		{"0, 1 of 3", 3, in(0, 1), []msg.Span{sp(0, 2)}},
	} {
		got := msg.Cover(c.parts, c.in)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: Cover = %v, want %v", c.name, got, c.want)
		}
		// Canonical nodes, disjoint, ascending, covering exactly in.
		covered := make([]bool, c.parts)
		for i, s := range got {
			if s.Check(c.parts) != nil || (i > 0 && s.Lo < got[i-1].End(c.parts)) {
				t.Errorf("%s: %v is not a canonical node after %v", c.name, s, got[:i])
			}
			for p := s.Lo; p < s.End(c.parts); p++ {
				covered[p] = true
			}
		}
		for p := range covered {
			if covered[p] != c.in(p) {
				t.Errorf("%s: partition %d covered %v", c.name, p, covered[p])
			}
		}
	}
}

// The statistics of the tree tests: m = 6 unknowns.
const treeM = 6

func treeReq(prev bool) *msg.StatsRequest {
	r := statsReq(0)
	if prev {
		r = statsReq(3)
	}
	return r
}

// randomStats returns partition p's statistics for treeReq: random values
// of every magnitude, so that sums in other orders round differently.
func randomStats(rng *rand.Rand, iter, p int, flips bool) *msg.Stats {
	v := func() float64 { return rng.NormFloat64() * math.Pow(10, float64(rng.IntN(13)-6)) }
	vs := func(n int) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = v()
		}
		return out
	}
	s := &msg.Stats{Iter: iter, Partition: p, Rows: rng.IntN(1000), M: treeM, Gram: vs(linalg.PackedLen(treeM)), R: vs(treeM),
		YY: math.Abs(v()), SumY: v(), SSE: math.Abs(v()), Flips: -1,
		Val: msg.Eval{Rows: rng.IntN(50), SSE: math.Abs(v()), YY: math.Abs(v()), SumY: v()}}
	if flips {
		s.Flips = int64(rng.IntN(20))
	}
	return s
}

func cloneStats(s *msg.Stats) *msg.Stats {
	c := *s
	c.Gram, c.R = slices.Clone(s.Gram), slices.Clone(s.R)
	return &c
}

// plainAdd returns a + b, element by element, written out here so that
// the reference does not use Stats.Add.
func plainAdd(a, b *msg.Stats) *msg.Stats {
	c := cloneStats(a)
	for i := range c.Gram {
		c.Gram[i] = a.Gram[i] + b.Gram[i]
	}
	for i := range c.R {
		c.R[i] = a.R[i] + b.R[i]
	}
	c.YY, c.SumY, c.SSE, c.Rows = a.YY+b.YY, a.SumY+b.SumY, a.SSE+b.SSE, a.Rows+b.Rows
	c.Flips = -1
	if a.Flips >= 0 && b.Flips >= 0 {
		c.Flips = a.Flips + b.Flips
	}
	c.Val = msg.Eval{Rows: a.Val.Rows + b.Val.Rows, SSE: a.Val.SSE + b.Val.SSE, YY: a.Val.YY + b.Val.YY, SumY: a.Val.SumY + b.Val.SumY}
	return c
}

// treeSum is the reduction tree's sum of leaves[lo:lo+n], straight from
// its definition: the left half plus the right half when the right half
// has partitions, else the left half.
func treeSum(leaves []*msg.Stats, lo, n int) *msg.Stats {
	if n == 1 {
		return cloneStats(leaves[lo])
	}
	h := n / 2
	if lo+h >= len(leaves) {
		return treeSum(leaves, lo, h)
	}
	return plainAdd(treeSum(leaves, lo, h), treeSum(leaves, lo+h, h))
}

// bitsOf returns the bits of every value of s and its counts.
func bitsOf(s *msg.Stats) []uint64 {
	var out []uint64
	for _, v := range slices.Concat(s.Gram, s.R, []float64{s.YY, s.SumY, s.SSE, s.Val.SSE, s.Val.YY, s.Val.SumY}) {
		out = append(out, math.Float64bits(v))
	}
	return append(out, uint64(s.Rows), uint64(s.Flips), uint64(s.Val.Rows), uint64(s.M))
}

// randomCut cuts node s into a random set of disjoint nodes covering it.
func randomCut(rng *rand.Rand, s msg.Span, parts int, out []msg.Span) []msg.Span {
	if s.N == 1 || rng.IntN(3) == 0 {
		return append(out, s)
	}
	for _, c := range s.Children(parts) {
		out = randomCut(rng, c, parts, out)
	}
	return out
}

// spanSum returns the partial of span s built as a holder of its leaves
// does: a Tree of its own fed them in a random order, then Take.
func spanSum(t *testing.T, rng *rand.Rand, leaves []*msg.Stats, s msg.Span, req msg.Request) msg.Partial {
	t.Helper()
	parts := len(leaves)
	tree := msg.NewTree(parts)
	ps := rng.Perm(s.Count(parts))
	for _, i := range ps {
		tree.Put(cloneStats(leaves[s.Lo+i]), req, nil)
	}
	v := tree.Take(s)
	if v == nil || v.Span() != s {
		t.Fatalf("Take(%v) of a tree holding its leaves: %v", s, v)
	}
	if tree.Covers(s) || len(tree.Missing()) != parts || tree.Ready() {
		t.Fatalf("after Take(%v): Covers %v, missing %v", s, tree.Covers(s), tree.Missing())
	}
	return v
}

// The sum of a Tree is the reduction tree's sum, bit for bit, whatever
// the order the partials arrive in and whatever spans they come in.
func TestTreeSum(t *testing.T) {
	differs := false
	for _, parts := range []int{1, 3, 8, 13} {
		for _, prev := range []bool{false, true} {
			rng := rand.New(rand.NewPCG(uint64(parts), 42))
			req := treeReq(prev)
			leaves := make([]*msg.Stats, parts)
			for p := range leaves {
				leaves[p] = randomStats(rng, req.Iter, p, prev)
				if err := leaves[p].Check(req); err != nil {
					t.Fatal(err)
				}
			}
			root := msg.Root(parts)
			want := treeSum(leaves, 0, root.N)
			want.Partition, want.Parts = root.Lo, root.N
			if want.Span() != root {
				t.Fatalf("%d partitions: reference of %v", parts, want.Span())
			}

			fold := cloneStats(leaves[0])
			for _, l := range leaves[1:] {
				fold = plainAdd(fold, l)
			}
			if !slices.Equal(bitsOf(fold), bitsOf(want)) {
				differs = true
				t.Logf("%d partitions: the tree's sum differs from the left fold's", parts)
			} else {
				t.Logf("%d partitions: the tree's sum happens to equal the left fold's", parts)
			}

			check := func(how string, tree *msg.Tree) {
				t.Helper()
				got, ok := tree.Sum().(*msg.Stats)
				if !ok || !tree.Ready() || tree.Missing() != nil {
					t.Fatalf("%d partitions, %s: Sum %v, Ready %v, Missing %v", parts, how, tree.Sum(), tree.Ready(), tree.Missing())
				}
				if got.Span() != root || !slices.Equal(bitsOf(got), bitsOf(want)) {
					t.Errorf("%d partitions, %s: the sum (of %v) is not the reference's bits:\n got %+v\nwant %+v", parts, how, got.Span(), got, want)
				}
				if err := got.Check(req); err != nil {
					t.Errorf("%d partitions, %s: the sum does not check: %v", parts, how, err)
				}
			}

			// Leaves in random orders.
			for range 6 {
				order := rng.Perm(parts)
				tree := msg.NewTree(parts)
				for i, p := range order {
					if tree.Ready() || tree.Sum() != nil {
						t.Fatalf("%d partitions: ready after %d of them", parts, i)
					}
					tree.Put(cloneStats(leaves[p]), req, nil)
					if !tree.Covers(msg.Leaf(p)) || len(tree.Missing()) != parts-i-1 {
						t.Fatalf("%d partitions: after putting %v, missing %v", parts, order[:i+1], tree.Missing())
					}
				}
				check("leaves in the order "+fmt.Sprint(order), tree)
			}

			// Mixes of pre-summed spans, in random orders.
			for range 10 {
				cut := randomCut(rng, root, parts, nil)
				rng.Shuffle(len(cut), func(i, j int) { cut[i], cut[j] = cut[j], cut[i] })
				tree := msg.NewTree(parts)
				for _, s := range cut {
					if tree.Covers(s) {
						t.Fatalf("%d partitions: %v covered before it was put (cut %v)", parts, s, cut)
					}
					tree.Put(spanSum(t, rng, leaves, s, req), req, nil)
				}
				check("spans "+fmt.Sprint(cut), tree)
			}
		}
	}
	if !differs {
		t.Log("the tree's sum equals the left fold's for every P tried: the data do not show the order")
	}
}

// Tree's bookkeeping: Take of what it does not hold whole, Release, and
// the buffers of the right partials added into left ones going to the
// pool.
func TestTreeTakeRelease(t *testing.T) {
	const parts = 5 // (0,8) = (0,4) + (4,1)
	rng := rand.New(rand.NewPCG(5, 5))
	req := treeReq(false)
	pool := msg.NewPool()
	tree := msg.NewTree(parts)
	if tree.Parts() != parts || tree.Sum() != nil || !slices.Equal(tree.Missing(), []int{0, 1, 2, 3, 4}) {
		t.Fatalf("empty tree: Parts %d, Sum %v, Missing %v", tree.Parts(), tree.Sum(), tree.Missing())
	}
	put := func(p int) {
		tree.Put(randomStats(rng, 0, p, false), req, pool) // a Gram buffer of its own, not from the pool
	}
	put(1)
	put(3)
	if n, _ := pool.Idle(); n != 0 {
		t.Fatalf("%d buffers released before any sibling was complete", n)
	}
	put(0) // (0,2) = 0 + 1: partition 1's buffer released
	if n, _ := pool.Idle(); n != 1 {
		t.Fatalf("%d buffers released after (0,2) was added, want 1", n)
	}
	if tree.Take(msg.Leaf(0)) != nil || tree.Take(sp(0, 4)) != nil || tree.Take(msg.Leaf(2)) != nil {
		t.Fatal("Take of a node not held whole returned a partial")
	}
	if !tree.Covers(sp(0, 4)) || tree.Covers(msg.Leaf(2)) || !slices.Equal(tree.Missing(), []int{2, 4}) {
		t.Fatalf("Covers (0,4) %v, (2,1) %v, Missing %v", tree.Covers(sp(0, 4)), tree.Covers(msg.Leaf(2)), tree.Missing())
	}
	v := tree.Take(sp(0, 2))
	if v == nil || v.Span() != sp(0, 2) || !slices.Equal(tree.Missing(), []int{0, 1, 2, 4}) {
		t.Fatalf("Take(0,2) = %v, missing %v", v, tree.Missing())
	}
	tree.Put(v, req, pool) // back
	put(2)                 // (2,2) = 2 + 3, (0,4) = (0,2) + (2,2): 2 more buffers
	put(4)                 // (0,8) = (0,4) + (4,1): 1 more
	if n, _ := pool.Idle(); n != 4 || !tree.Ready() || tree.Sum().Span() != sp(0, 8) {
		t.Fatalf("all put: %d buffers released, want 4; ready %v", n, tree.Ready())
	}
	tree.Release(pool)
	if n, _ := pool.Idle(); n != 5 || tree.Ready() || tree.Sum() != nil || len(tree.Missing()) != parts {
		t.Fatalf("after Release: %d buffers idle, want 5; ready %v, missing %v", n, tree.Ready(), tree.Missing())
	}
}

// Add of every kind: sums element by element, a flip count of -1 staying
// -1.
func TestAddKinds(t *testing.T) {
	a, b := goodStats(0), goodStats(0)
	b.Partition = 2
	a.Add(b, statsReq(0))
	if a.Flips != -1 || a.Rows != 2*goodStats(0).Rows || a.Gram[0] != 2*goodStats(0).Gram[0] {
		t.Errorf("stats: flips %d, rows %d, Gram[0] %v", a.Flips, a.Rows, a.Gram[0])
	}
	a, b = goodStats(3), goodStats(3)
	a.Flips, b.Flips = 2, 5
	a.Add(b, statsReq(3))
	if a.Flips != 7 {
		t.Errorf("stats: flips %d, want 7", a.Flips)
	}

	d, e := goodDeep(false, true), goodDeep(false, true)
	d.Flips, e.Flips = 1, 4
	d.Add(e, deepReq(false, true))
	g := goodDeep(false, true)
	if d.Flips != 5 || d.Rows != 2*g.Rows || d.YY != 2*g.YY || d.Systems[1].Gram[3] != 2*g.Systems[1].Gram[3] || d.Systems[0].R[0] != 2*g.Systems[0].R[0] {
		t.Errorf("deep: %+v", d)
	}
	d, e = goodDeep(true, false), goodDeep(true, false)
	d.Add(e, deepReq(true, false))
	if d.Flips != -1 {
		t.Errorf("deep: flips %d, want -1", d.Flips)
	}

	m, n := goodM12(2), goodM12(2)
	m.Add(n, &msg.Moments12Request{D: 3, Order: 2})
	g12 := goodM12(2)
	if m.Rows != 2*g12.Rows || m.SumY != 2*g12.SumY || m.SumYX[2] != 2*g12.SumYX[2] || m.SumX[1] != 2*g12.SumX[1] || m.SumYXX[5] != 2*g12.SumYXX[5] {
		t.Errorf("moments12: %+v", m)
	}
	m4, n4 := goodM4(), goodM4()
	m4.Add(n4, &msg.Moment4Request{D: 2, K: 2})
	if g4 := goodM4(); m4.Rows != 2*g4.Rows || m4.Sum[4] != 2*g4.Sum[4] {
		t.Errorf("moment4: %+v", m4)
	}
}

// summaryOf returns the summary of rows (each D+1 values) of global
// indices idx: counts, means and sums of squared deviations by two passes,
// and the samples rows of smallest hash in hash order.
func summaryOf(rows [][]float64, idx []int, samples int, seed uint64) *msg.Summary {
	c := len(rows[0])
	s := &msg.Summary{Rows: len(idx), Mean: make([]float64, c), M2: make([]float64, c)}
	for _, i := range idx {
		for j, v := range rows[i] {
			s.Mean[j] += v
		}
	}
	for j := range s.Mean {
		s.Mean[j] /= float64(len(idx))
	}
	for _, i := range idx {
		for j, v := range rows[i] {
			s.M2[j] += (v - s.Mean[j]) * (v - s.Mean[j])
		}
	}
	byHash := slices.Clone(idx)
	slices.SortFunc(byHash, func(a, b int) int {
		ha, hb := msg.RowHash(seed, a), msg.RowHash(seed, b)
		switch {
		case ha < hb:
			return -1
		case ha > hb:
			return 1
		}
		return 0
	})
	for _, i := range byHash[:min(samples, len(byHash))] {
		s.Index = append(s.Index, float64(i))
		s.Sample = append(s.Sample, rows[i]...)
	}
	return s
}

func TestSummaryAdd(t *testing.T) {
	const d, n, seed = 3, 60, 99
	rng := rand.New(rand.NewPCG(7, 7))
	rows := make([][]float64, n)
	for i := range rows {
		rows[i] = make([]float64, d+1)
		for j := range rows[i] {
			rows[i][j] = 5*float64(j) + rng.NormFloat64()*float64(j+1)
		}
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-12*max(1, math.Abs(b)) }
	for _, c := range []struct {
		name    string
		a, b    []int // the global indices of each side
		samples int
	}{
		{"halves", seq(0, 30), seq(30, 60), 8},
		{"uneven", seq(0, 7), seq(7, 60), 10},
		{"interleaved", evens(n), odds(n), 5},
		{"more samples than rows", seq(0, 3), seq(3, 6), 20},
		{"no samples", seq(0, 20), seq(20, 40), 0},
		{"left empty", nil, seq(0, 12), 4},
		{"right empty", seq(0, 12), nil, 4},
	} {
		req := &msg.SummaryRequest{D: d, Samples: c.samples, Seed: seed}
		mk := func(idx []int) *msg.Summary {
			if len(idx) == 0 {
				return &msg.Summary{Mean: make([]float64, d+1), M2: make([]float64, d+1)}
			}
			return summaryOf(rows, idx, c.samples, seed)
		}
		a, b := mk(c.a), mk(c.b)
		b.Partition = 1
		for _, s := range []*msg.Summary{a, b} {
			if err := s.Check(req); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
		}
		want := summaryOf(rows, slices.Concat(c.a, c.b), c.samples, seed)
		a.Add(b, req)
		if a.Rows != want.Rows {
			t.Errorf("%s: %d rows, want %d", c.name, a.Rows, want.Rows)
		}
		for j := range want.Mean {
			if !near(a.Mean[j], want.Mean[j]) || !near(a.M2[j], want.M2[j]) {
				t.Errorf("%s: column %d: mean %v, M2 %v; want %v, %v", c.name, j, a.Mean[j], a.M2[j], want.Mean[j], want.M2[j])
			}
		}
		if !slices.Equal(a.Index, want.Index) || !slices.Equal(a.Sample, want.Sample) {
			t.Errorf("%s: samples %v, want %v (the smallest hashes in hash order)", c.name, a.Index, want.Index)
		}
		if err := a.Check(req); err != nil {
			t.Errorf("%s: the combined summary does not check: %v", c.name, err)
		}
	}
}

func seq(lo, hi int) []int {
	var out []int
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

func evens(n int) []int {
	var out []int
	for i := 0; i < n; i += 2 {
		out = append(out, i)
	}
	return out
}

func odds(n int) []int {
	var out []int
	for i := 1; i < n; i += 2 {
		out = append(out, i)
	}
	return out
}
