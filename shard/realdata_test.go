package shard_test

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"altmin/data"
	"altmin/linalg"
	"altmin/model"
	"altmin/msg"
	"altmin/shard"
)

// The settings of training on real data carried by every request: the
// standardization of the rows (msg.Affine), the validation split
// (msg.Split), the linear unit of StatsRequest.Linear and the linear term of
// a deep network (model.Net.Skip), and the summary pass (SummaryRequest).
// Every statistic is compared with a reference written here as plain
// float64 loops over the rows of the data as the source gives them
// (global row index, bias feature appended, standardization applied by
// hand), independent of the engine's kernels.

// memSource is a data.Source holding its rows in memory.
type memSource struct {
	x, y []float64 // n x d, n
	d    int
}

func (s *memSource) Info() data.Info {
	return data.Info{N: len(s.y), D: s.d, Desc: "in-memory test rows"}
}

func (s *memSource) Read(lo, hi int, x, y []float64) error {
	copy(x, s.x[lo*s.d:hi*s.d])
	copy(y, s.y[lo:hi])
	return nil
}

// row returns row g of s with a constant-1 bias feature appended, and its
// label, both through the standardization t (nil: none), computed here by
// hand.
func (s *memSource) row(g int, t *msg.Affine) ([]float64, float64) {
	x := make([]float64, s.d+1)
	copy(x, s.x[g*s.d:(g+1)*s.d])
	x[s.d] = 1
	y := s.y[g]
	if t != nil {
		for j := range t.XShift {
			x[j] = (x[j] - t.XShift[j]) * t.XScale[j]
		}
		y = (y - t.YShift) * t.YScale
	}
	return x, y
}

// realSource draws n rows of d features like real data: column j is about
// mu_j + sigma_j N(0, 1) (far from standardized), rounded to a multiple of
// 1/8 so that every value is a float32 value (float32 storage holds the
// same rows exactly). The labels are not rounded (labels are float64 in
// every storage). A row is drawn again until ok accepts it (nil: any row).
func realSource(rng *rand.Rand, n, d int, ok func(x []float64, y float64) bool) *memSource {
	s := &memSource{x: make([]float64, n*d), y: make([]float64, n), d: d}
	for i := 0; i < n; i++ {
		xi := s.x[i*d : (i+1)*d]
		for try := 0; ; try++ {
			if try == 10000 {
				panic("realSource: no acceptable row")
			}
			for j := range xi {
				mu, sigma := column(j)
				xi[j] = math.Round((mu+sigma*rng.NormFloat64())*8) / 8
			}
			s.y[i] = 10 + 0.3*xi[0] - 0.2*xi[d-1] + 3*rng.NormFloat64()
			if ok == nil || ok(xi, s.y[i]) {
				break
			}
		}
	}
	return s
}

// column returns the mean and standard deviation realSource draws
// feature j with.
func column(j int) (mu, sigma float64) {
	return float64(j%3-1) * 5 * float64(j+1), 0.5 + float64(j)
}

// standardizer returns a standardization of the first nx features of
// realSource's rows (any shifts and positive scales will do; these make
// the standardized features of order 1, not exactly centered).
func standardizer(nx int) *msg.Affine {
	t := &msg.Affine{XShift: make([]float64, nx), XScale: make([]float64, nx), YShift: 9.75, YScale: 1 / 3.3}
	for j := 0; j < nx; j++ {
		mu, sigma := column(j)
		t.XShift[j] = mu + 0.1
		t.XScale[j] = 1 / sigma
	}
	return t
}

// loadAll reads the P partitions of src with a bias feature in storage st.
func loadAll(t *testing.T, src data.Source, P int, st shard.Storage) []*shard.Partition {
	t.Helper()
	ps := make([]*shard.Partition, P)
	for id := range ps {
		p, err := shard.LoadAs(src, P, id, true, st)
		if err != nil {
			t.Fatal(err)
		}
		if p.Storage() != st {
			t.Fatalf("partition %d held as %s, want %s", id, p.Storage(), st)
		}
		ps[id] = p
	}
	return ps
}

// refUnits evaluates the k units of the k x D weights u on the row x:
// which are active (z > 0, or always for the linear unit, the last one,
// when linear) and the output sum_q signs[q] * (z_q if active else 0).
func refUnits(x, u, signs []float64, linear bool) ([]bool, float64) {
	k, d := len(signs), len(x)
	active := make([]bool, k)
	var f float64
	for q := 0; q < k; q++ {
		var z float64
		for j := 0; j < d; j++ {
			z += u[q*d+j] * x[j]
		}
		if z > 0 || (linear && q == k-1) {
			active[q] = true
			f += signs[q] * z
		}
	}
	return active, f
}

// refStatsOut is the reference of one partition's msg.Stats.
type refStatsOut struct {
	rows          int
	gram, r       []float64 // full m x m; m
	yy, sumY, sse float64
	flips         int64
	val           msg.Eval
}

// refStats computes the statistics of rows lo..hi-1 of src for req: for a
// training row, the design row b (block q: signs[q] x if unit q is active,
// else 0) enters G += b b^T, R += y b and the sums; a validation row enters
// only Val. Flips count the pattern bits of U and Prev that differ on the
// training rows.
func refStats(src *memSource, lo, hi int, req *msg.StatsRequest) refStatsOut {
	k, d := len(req.Signs), req.D
	m := k * d
	out := refStatsOut{gram: make([]float64, m*m), r: make([]float64, m), flips: -1}
	if req.Prev != nil {
		out.flips = 0
	}
	b := make([]float64, m)
	for g := lo; g < hi; g++ {
		x, y := src.row(g, req.Transform)
		active, f := refUnits(x, req.U, req.Signs, req.Linear)
		for j, q := range req.Revive { // the statistics' patterns only
			var z float64
			for i, w := range req.ReviveW[j*d : (j+1)*d] {
				z += w * x[i]
			}
			active[q] = z > 0
		}
		e := f - y
		if req.Split.Holds(g) {
			out.val.Rows++
			out.val.SSE += e * e
			out.val.YY += y * y
			out.val.SumY += y
			continue
		}
		out.rows++
		out.yy += y * y
		out.sumY += y
		out.sse += e * e
		if req.Prev != nil {
			prev, _ := refUnits(x, req.Prev, req.Signs, req.Linear)
			for q := range active {
				if active[q] != prev[q] {
					out.flips++
				}
			}
		}
		for q := 0; q < k; q++ {
			for j := 0; j < d; j++ {
				b[q*d+j] = 0
				if active[q] {
					b[q*d+j] = req.Signs[q] * x[j]
				}
			}
		}
		for a := 0; a < m; a++ {
			out.r[a] += y * b[a]
			for c := 0; c < m; c++ {
				out.gram[a*m+c] += b[a] * b[c]
			}
		}
	}
	return out
}

// closeSum reports whether a sum got matches want to a relative 1e-12
// (summation orders differ), both zero included.
func closeSum(got, want float64) bool {
	return got == want || math.Abs(got-want) <= 1e-12*math.Abs(want)
}

// checkEval compares validation sums with the reference's.
func checkEval(t *testing.T, name string, got, want msg.Eval) {
	t.Helper()
	if got.Rows != want.Rows || !closeSum(got.SSE, want.SSE) || !closeSum(got.YY, want.YY) || !closeSum(got.SumY, want.SumY) {
		t.Errorf("%s: Val = %+v, want %+v", name, got, want)
	}
}

// checkStatsRef compares one partition's statistics with the reference.
func checkStatsRef(t *testing.T, name string, st *msg.Stats, want refStatsOut) {
	t.Helper()
	m := st.M
	if st.Rows != want.rows || st.Flips != want.flips || m*m != len(want.gram) {
		t.Errorf("%s: %d rows, %d flips, m = %d; want %d, %d, m^2 = %d", name, st.Rows, st.Flips, m, want.rows, want.flips, len(want.gram))
		return
	}
	if !closeSum(st.YY, want.yy) || !closeSum(st.SumY, want.sumY) || !closeSum(st.SSE, want.sse) {
		t.Errorf("%s: YY, SumY, SSE = %v, %v, %v; want %v, %v, %v", name, st.YY, st.SumY, st.SSE, want.yy, want.sumY, want.sse)
	}
	full := make([]float64, m*m)
	linalg.Unpack(full, st.Gram, m)
	if e := relDiff(full, want.gram); e > 1e-12 {
		t.Errorf("%s: Gram differs from the reference by %.3g relative", name, e)
	}
	if e := relDiff(st.R, want.r); e > 1e-12 {
		t.Errorf("%s: R differs from the reference by %.3g relative", name, e)
	}
	checkEval(t, name, st.Val, want.val)
}

// noTies returns a row filter accepting the rows whose every unit z of
// every weight matrix in ws (k x D each, D = len(row)+1 with the bias) is
// at least tieGap from 0 under every standardization in ts, so that the
// patterns do not depend on the summation order.
func noTies(ts []*msg.Affine, d int, ws ...[]float64) func(x []float64, y float64) bool {
	src := &memSource{d: d}
	return func(x []float64, y float64) bool {
		src.x, src.y = x, []float64{y}
		for _, t := range ts {
			xt, _ := src.row(0, t)
			for _, u := range ws {
				for q := 0; q < len(u)/(d+1); q++ {
					if math.Abs(dot(u[q*(d+1):(q+1)*(d+1)], xt)) <= tieGap {
						return false
					}
				}
			}
		}
		return true
	}
}

// statsCase is a setting of the rows (standardization, split, linear
// unit) for a sequence of statistics requests.
type statsCase struct {
	name      string
	transform *msg.Affine
	split     *msg.Split
	linear    bool
}

// statsCases returns the settings TestStatsTransformSplitLinear and
// TestRealDataSameBits run, for rows of d features (D = d+1 with the bias).
func statsCases(d, n int) []statsCase {
	full := standardizer(d)
	shifted := standardizer(d) // full with other shifts
	for j := range shifted.XShift {
		shifted.XShift[j] += 0.25
	}
	rescaled := standardizer(d) // shifted with other scales
	for j := range rescaled.XShift {
		rescaled.XShift[j] += 0.25
		rescaled.XScale[j] *= 1.5
	}
	part := standardizer(2)
	bias := standardizer(d)
	bias.XShift = append(bias.XShift, 0.5) // the bias feature too: (1 - 0.5) * 2
	bias.XScale = append(bias.XScale, 2)
	labelOnly := &msg.Affine{YShift: -2, YScale: 0.5}
	a, b := &msg.Split{Fraction: 0.3, Seed: 17}, &msg.Split{Fraction: 0.3, Seed: 18}
	tail, half := &msg.Split{From: n - n/4}, &msg.Split{Fraction: 0.5, Seed: 17}
	// Consecutive cases differ in one setting where they can, so that
	// patterns kept from the case before under another setting would
	// change the flip count of the next case's first request.
	return []statsCase{
		{"standardized, no split, linear", full, nil, true},
		{"standardized, random split, linear", full, a, true},
		{"standardized, other split seed, linear", full, b, true},
		{"standardized, other split seed, no linear unit", full, b, false},
		{"other shifts, other split seed, no linear unit", shifted, b, false},
		{"other shifts and scales, other split seed, no linear unit", rescaled, b, false},
		{"first 2 features standardized, validation tail, linear", part, tail, true},
		{"bias feature scaled too, random split, no linear unit", bias, &msg.Split{Fraction: 0.2, Seed: 3}, false},
		{"raw rows, random split, linear", nil, half, true},
		{"standardized, random split, linear (after raw rows)", full, half, true},
		{"labels only standardized, random split, linear", labelOnly, a, true},
		{"standardized, validation tail, linear", full, tail, true},
	}
}

// statsSequence returns the requests of one case: an iteration with
// previous weights none of the engines holds patterns of, the next one
// (its Prev the weights just computed), and a first iteration. Run case
// after case, the first request of a case has as Prev the weights of the
// last one of the case before, computed with other settings, whose
// patterns the engine must not reuse.
func statsSequence(c statsCase, d int, signs []float64, us [][]float64) []*msg.StatsRequest {
	mk := func(iter int, u, prev []float64) *msg.StatsRequest {
		return &msg.StatsRequest{Iter: iter, D: d, Signs: signs, U: u, Prev: prev, Linear: c.linear, Transform: c.transform, Split: c.split}
	}
	// The first request revives unit 0 with the hyperplane opposite to its
	// start's (no ties either): the second's flip count must not see it.
	revived := mk(1, us[1], us[0])
	revived.Revive, revived.ReviveW = []int{0}, slices.Clone(us[0][:d])
	for j := range revived.ReviveW {
		revived.ReviveW[j] = -revived.ReviveW[j]
	}
	return []*msg.StatsRequest{revived, mk(2, us[2], us[1]), mk(0, us[0], nil)}
}

// statsData returns the rows, output signs and weights of the statistics
// tests: n rows of d features with no pattern ties under any case's
// standardization.
func statsData(seed uint64, n, d, k int) (*memSource, []float64, [][]float64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	signs := randSigns(rng, k)
	signs[k-1] = 1 // the linear unit's
	us := make([][]float64, 3)
	us[0] = randNormal(rng, k*(d+1))
	for i := 1; i < len(us); i++ {
		us[i] = slices.Clone(us[i-1])
		for j := range us[i] {
			us[i][j] += 0.3 * rng.NormFloat64()
		}
	}
	var ts []*msg.Affine
	for _, c := range statsCases(d, n) {
		ts = append(ts, c.transform)
	}
	return realSource(rand.New(rand.NewPCG(seed, 2)), n, d, noTies(ts, d, us...)), signs, us
}

// minMargin returns the smallest |u_q . x| over the rows of src through
// the standardizations of every case and the weights us: the test data
// must keep it above the rounding of the kernels' sums.
func minMargin(src *memSource, us [][]float64) float64 {
	mm := math.Inf(1)
	for _, c := range statsCases(src.d, len(src.y)) {
		for g := range src.y {
			x, _ := src.row(g, c.transform)
			for _, u := range us {
				for q := 0; q < len(u)/len(x); q++ {
					mm = min(mm, math.Abs(dot(u[q*len(x):(q+1)*len(x)], x)))
				}
			}
		}
	}
	return mm
}

// TestStatsTransformSplitLinear compares the statistics of every
// partition with the reference for requests with a standardization (of
// all features, of some, of the bias feature too, of the label only), a
// validation split (random, or the tail of the rows) and a linear unit
// (the last of the k units, output sign +1: M stays k*D), over sequences
// of requests that take each of the engine's paths to the flip count
// (patterns of Prev kept from the last request, computed again, or kept
// but under other settings). The training sums, Gram matrix, right-hand
// side and flip count must be those of the training rows only, Val the
// sums of the validation rows, and the two row counts must add up to the
// partition's rows.
func TestStatsTransformSplitLinear(t *testing.T) {
	const n, d, k, P = 700, 5, 4, 3
	src, signs, us := statsData(5, n, d, k)
	if mm := minMargin(src, us); mm < 1e-9 {
		t.Fatalf("test data: a unit is %.3g from its threshold on some row; choose another seed", mm)
	}
	parts := loadAll(t, src, P, shard.Float64)
	empty := &shard.Partition{ID: P, Lo: n, D: d + 1}
	eng, err := shard.NewEngine(append(parts, empty)...)
	if err != nil {
		t.Fatal(err)
	}
	var flipsSeen bool
	for _, c := range statsCases(src.d, len(src.y)) {
		for ri, req := range statsSequence(c, d+1, signs, us) {
			for _, p := range parts {
				name := fmt.Sprintf("%s: request %d (iteration %d), partition %d", c.name, ri, req.Iter, p.ID)
				st := fetch[*msg.Stats](t, eng, req, p.ID)
				if st.M != k*(d+1) {
					t.Fatalf("%s: m = %d, want k*D = %d", name, st.M, k*(d+1))
				}
				want := refStats(src, p.Lo, p.Lo+p.Rows, req)
				checkStatsRef(t, name, st, want)
				if st.Rows+st.Val.Rows != p.Rows {
					t.Errorf("%s: %d training and %d validation rows of %d", name, st.Rows, st.Val.Rows, p.Rows)
				}
				if c.split == nil && st.Val != (msg.Eval{}) {
					t.Errorf("%s: validation sums %+v without a split", name, st.Val)
				}
				// The test's split must leave rows on both sides in
				// most partitions (the tail split: in the last).
				if c.split != nil && c.split.From == 0 && (want.rows == 0 || want.val.Rows == 0) {
					t.Fatalf("%s: test data: %d training, %d validation rows", name, want.rows, want.val.Rows)
				}
				flipsSeen = flipsSeen || st.Flips > 0
			}
			st := fetch[*msg.Stats](t, eng, req, empty.ID)
			if st.Rows != 0 || st.Val != (msg.Eval{}) || st.YY != 0 || st.SSE != 0 || slices.ContainsFunc(st.Gram, func(v float64) bool { return v != 0 }) {
				t.Errorf("%s: empty partition: %d rows, Val %+v, YY %v, SSE %v", c.name, st.Rows, st.Val, st.YY, st.SSE)
			}
		}
	}
	if !flipsSeen {
		t.Error("no pattern changed between the test's weights: the flip count is untested")
	}

	// The validation rows make a difference: the same request without
	// the split has other sums (else the comparison above proves nothing).
	req := statsSequence(statsCases(src.d, len(src.y))[1], d+1, signs, us)[2]
	all := *req
	all.Split = nil
	p := parts[0]
	a, b := fetch[*msg.Stats](t, eng, req, p.ID), fetch[*msg.Stats](t, eng, &all, p.ID)
	if a.Rows == b.Rows || a.YY == b.YY || bitsEqual(a.Gram, b.Gram) || bitsEqual(a.R, b.R) {
		t.Error("the split changes neither the rows, the sums nor the Gram matrix")
	}
	if b.Rows != p.Rows {
		t.Errorf("without a split: %d rows of %d", b.Rows, p.Rows)
	}
}

// TestStatsSplitAcrossChunks checks the statistics of partitions of more
// rows than the engine evaluates at a time (4096), with a split that
// depends on the global index of every row, against the reference.
func TestStatsSplitAcrossChunks(t *testing.T) {
	const n, d, k, P = 2*4096 + 1500, 3, 3, 2
	src, signs, us := statsData(13, n, d, k)
	if mm := minMargin(src, us); mm < 1e-9 {
		t.Fatalf("test data: a unit is %.3g from its threshold on some row; choose another seed", mm)
	}
	parts := loadAll(t, src, P, shard.Float64)
	eng, err := shard.NewEngine(parts...)
	if err != nil {
		t.Fatal(err)
	}
	cases := statsCases(d, n)
	for _, c := range []statsCase{cases[1], cases[7], {"standardized, validation rows from the second chunk of partition 1", standardizer(d), &msg.Split{From: n - 600}, true}} {
		for ri, req := range statsSequence(c, d+1, signs, us) {
			for _, p := range parts {
				if p.Rows <= 4096 {
					t.Fatalf("partition %d has %d rows, want more than 4096", p.ID, p.Rows)
				}
				name := fmt.Sprintf("%s: request %d, partition %d", c.name, ri, p.ID)
				st := fetch[*msg.Stats](t, eng, req, p.ID)
				checkStatsRef(t, name, st, refStats(src, p.Lo, p.Lo+p.Rows, req))
			}
		}
	}
}

// sameBits returns "" when two partials of the same request hold the same
// bits in every field (validation sums and label sums included), else a
// description of the first difference.
func sameBits(a, b msg.Partial) string {
	f := func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) }
	ev := func(x, y msg.Eval) bool {
		return x.Rows == y.Rows && f(x.SSE, y.SSE) && f(x.YY, y.YY) && f(x.SumY, y.SumY)
	}
	if a.Kind() != b.Kind() || a.Round() != b.Round() || a.Span() != b.Span() {
		return fmt.Sprintf("%s round %d %v vs %s round %d %v", a.Kind(), a.Round(), a.Span(), b.Kind(), b.Round(), b.Span())
	}
	switch a := a.(type) {
	case *msg.Stats:
		b := b.(*msg.Stats)
		switch {
		case a.Rows != b.Rows || a.M != b.M || a.Flips != b.Flips:
			return fmt.Sprintf("rows %d/%d, m %d/%d, flips %d/%d", a.Rows, b.Rows, a.M, b.M, a.Flips, b.Flips)
		case !f(a.YY, b.YY) || !f(a.SumY, b.SumY) || !f(a.SSE, b.SSE):
			return fmt.Sprintf("YY %v/%v, SumY %v/%v, SSE %v/%v", a.YY, b.YY, a.SumY, b.SumY, a.SSE, b.SSE)
		case !bitsEqual(a.Gram, b.Gram) || !bitsEqual(a.R, b.R):
			return "Gram or R"
		case !ev(a.Val, b.Val):
			return fmt.Sprintf("Val %+v/%+v", a.Val, b.Val)
		}
	case *msg.DeepStats:
		b := b.(*msg.DeepStats)
		switch {
		case a.Rows != b.Rows || a.Flips != b.Flips || len(a.Systems) != len(b.Systems):
			return fmt.Sprintf("rows %d/%d, flips %d/%d, %d/%d systems", a.Rows, b.Rows, a.Flips, b.Flips, len(a.Systems), len(b.Systems))
		case !f(a.YY, b.YY) || !f(a.SumY, b.SumY) || !f(a.SSE, b.SSE):
			return fmt.Sprintf("YY %v/%v, SumY %v/%v, SSE %v/%v", a.YY, b.YY, a.SumY, b.SumY, a.SSE, b.SSE)
		case !ev(a.Val, b.Val):
			return fmt.Sprintf("Val %+v/%+v", a.Val, b.Val)
		}
		for i, x := range a.Systems {
			y := b.Systems[i]
			if !slices.Equal(x.Layers, y.Layers) || x.M != y.M || !bitsEqual(x.Gram, y.Gram) || !bitsEqual(x.R, y.R) {
				return fmt.Sprintf("system %d (layers %v)", i, x.Layers)
			}
		}
	case *msg.Summary:
		b := b.(*msg.Summary)
		switch {
		case a.Rows != b.Rows:
			return fmt.Sprintf("rows %d/%d", a.Rows, b.Rows)
		case !bitsEqual(a.Mean, b.Mean) || !bitsEqual(a.M2, b.M2):
			return fmt.Sprintf("means %v/%v, M2 %v/%v", a.Mean, b.Mean, a.M2, b.M2)
		case !bitsEqual(a.Index, b.Index) || !bitsEqual(a.Sample, b.Sample):
			return fmt.Sprintf("samples %v/%v", a.Index, b.Index)
		}
	default:
		return fmt.Sprintf("unexpected partial %T", a)
	}
	return ""
}

// TestRealDataSameBits runs the same requests (statistics sequences of
// every setting of TestStatsTransformSplitLinear, a deep step with a
// standardization, split and linear term, summaries) through engines
// holding the partitions in memory as float64 and as float32 and through
// streaming engines of both storages holding fewer partitions than they
// serve, and checks that every partial has the same bits as the in-memory
// float64 engine's. The features are multiples of 1/8, float32 values, so
// float32 storage holds the same rows.
func TestRealDataSameBits(t *testing.T) {
	const n, d, k, P = 500, 4, 3, 5
	src, signs, us := statsData(9, n, d, k)
	ids := []int{0, 1, 2, 3, 4}
	mem64, err := shard.NewEngine(loadAll(t, src, P, shard.Float64)...)
	if err != nil {
		t.Fatal(err)
	}
	mem32, err := shard.NewEngine(loadAll(t, src, P, shard.Float32)...)
	if err != nil {
		t.Fatal(err)
	}
	engines := map[string]*shard.Engine{"float32 in memory": mem32}
	for _, c := range []struct {
		st       shard.Storage
		resident int
	}{{shard.Float64, 1}, {shard.Float32, 2}, {shard.Float64, 3}} {
		e, err := shard.NewStreamingEngine(shard.StreamConfig{Source: src, Partitions: P, IDs: ids, Bias: true, Storage: c.st, Resident: c.resident})
		if err != nil {
			t.Fatal(err)
		}
		engines[fmt.Sprintf("streaming %s, %d resident", c.st, c.resident)] = e
	}

	var reqs []msg.Request
	for _, c := range statsCases(src.d, len(src.y)) {
		for _, r := range statsSequence(c, d+1, signs, us) {
			reqs = append(reqs, r)
		}
	}
	net := randomDeepNet(rand.New(rand.NewPCG(9, 3)), []int{d + 1, 4, 3}, true)
	tr := standardizer(d)
	sp := &msg.Split{Fraction: 0.25, Seed: 4}
	reqs = append(reqs,
		&msg.DeepRequest{Step: 3, Net: net, Layers: []int{1, 2}, Joint: true, Prev: data.PerturbNet(net, 0.2, 5), Transform: tr, Split: sp},
		&msg.DeepRequest{Step: 4, Net: net, Transform: tr, Split: &msg.Split{From: 420}}, // evaluation only
		&msg.SummaryRequest{D: d + 1, Split: sp, Samples: 7, Seed: 11},
		&msg.SummaryRequest{D: d + 1, Samples: 500, Seed: 12}, // more than a partition's rows
	)
	for ri, req := range reqs {
		for _, id := range ids {
			want := fetch[msg.Partial](t, mem64, req, id)
			for name, e := range engines {
				got := fetch[msg.Partial](t, e, req, id)
				if diff := sameBits(got, want); diff != "" {
					t.Errorf("request %d (%s), partition %d: %s differs from float64 in memory: %s", ri, req.Kind(), id, name, diff)
				}
			}
		}
	}
}

// TestSummaryMatchesNaive compares the summaries of the partitions of
// one data set, split in P = 1, 4 and 7 partitions, with the naive column
// statistics and samples of their training rows. The summary is of the
// rows as the data hold them (the request has no standardization: it is
// what the standardization is computed from), with the bias feature, and
// the label last. The means and sums of squared deviations must be those
// of the training rows only (the bias column's exactly 1 and 0), the
// samples the training rows of smallest msg.RowHash in increasing hash
// order with their raw values, and the rows sampled over all partitions,
// merged by hash, the same whatever P.
func TestSummaryMatchesNaive(t *testing.T) {
	const n, d = 1000, 4
	src := realSource(rand.New(rand.NewPCG(21, 1)), n, d, nil)
	c := d + 2 // features, bias, label
	for _, sc := range []struct {
		name    string
		split   *msg.Split
		samples int
		seed    uint64
	}{
		{"random split", &msg.Split{Fraction: 0.3, Seed: 8}, 25, 99},
		{"validation tail", &msg.Split{From: 810}, 40, 1},
		{"no split", nil, 12, 7},
		{"many samples", &msg.Split{Fraction: 0.6, Seed: 2}, 300, 5}, // more than a partition of 7 has training rows
		{"no samples", &msg.Split{Fraction: 0.3, Seed: 8}, 0, 99},
	} {
		// The global reference: training rows by increasing hash.
		var train []int
		for g := 0; g < n; g++ {
			if !sc.split.Holds(g) {
				train = append(train, g)
			}
		}
		byHash := func(a, b int) int { return cmp.Compare(msg.RowHash(sc.seed, a), msg.RowHash(sc.seed, b)) }
		global := slices.SortedFunc(slices.Values(train), byHash)
		global = global[:min(sc.samples, len(global))]

		var merged [][]int
		for _, P := range []int{1, 4, 7} {
			eng, err := shard.NewEngine(loadAll(t, src, P, shard.Float64)...)
			if err != nil {
				t.Fatal(err)
			}
			req := &msg.SummaryRequest{D: d + 1, Split: sc.split, Samples: sc.samples, Seed: sc.seed}
			var all []int
			rows := 0
			for id := 0; id < P; id++ {
				name := fmt.Sprintf("%s, P = %d, partition %d", sc.name, P, id)
				s := fetch[*msg.Summary](t, eng, req, id)
				lo, hi := data.Bounds(n, P, id)
				// The partition's training rows, raw (no standardization).
				var mine []int
				for g := lo; g < hi; g++ {
					if !sc.split.Holds(g) {
						mine = append(mine, g)
					}
				}
				if s.Rows != len(mine) {
					t.Errorf("%s: %d training rows, want %d", name, s.Rows, len(mine))
				}
				rows += s.Rows
				mean, m2, scale := make([]float64, c), make([]float64, c), make([]float64, c)
				for _, g := range mine {
					x, y := src.row(g, nil)
					for j, v := range append(x, y) {
						mean[j] += v
						scale[j] = max(scale[j], math.Abs(v))
					}
				}
				for j := range mean {
					mean[j] /= float64(len(mine))
				}
				for _, g := range mine {
					x, y := src.row(g, nil)
					for j, v := range append(x, y) {
						m2[j] += (v - mean[j]) * (v - mean[j])
					}
				}
				switch {
				case len(mine) == 0:
					// No training rows (the validation tail): nothing to
					// average, zero sums.
					if slices.ContainsFunc(append(s.Mean, s.M2...), func(v float64) bool { return v != 0 }) {
						t.Errorf("%s: no training rows: means %v, M2 %v, want zeros", name, s.Mean, s.M2)
					}
				case s.Mean[d] != 1 || s.M2[d] != 0:
					t.Errorf("%s: bias column: mean %v, M2 %v; want exactly 1, 0", name, s.Mean[d], s.M2[d])
				}
				for j := 0; j < c && len(mine) > 0; j++ {
					if math.Abs(s.Mean[j]-mean[j]) > 1e-12*scale[j] || math.Abs(s.M2[j]-m2[j]) > 1e-12*m2[j] {
						t.Errorf("%s: column %d: mean %v, M2 %v; want %v, %v", name, j, s.Mean[j], s.M2[j], mean[j], m2[j])
					}
				}
				// The samples: the partition's training rows of smallest hash.
				want := slices.SortedFunc(slices.Values(mine), byHash)
				want = want[:min(sc.samples, len(want))]
				got := make([]int, len(s.Index))
				for i, v := range s.Index {
					got[i] = int(v)
					if float64(got[i]) != v {
						t.Fatalf("%s: sample index %v", name, v)
					}
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s: sampled rows %v, want %v", name, got, want)
					continue
				}
				for i, g := range got {
					x, y := src.row(g, nil)
					if !bitsEqual(s.Sample[i*c:(i+1)*c], append(x, y)) {
						t.Errorf("%s: sample %d (row %d) holds %v, want the raw row %v", name, i, g, s.Sample[i*c:(i+1)*c], append(x, y))
					}
				}
				all = append(all, got...)
			}
			if rows != len(train) {
				t.Errorf("%s, P = %d: %d training rows in all, want %d", sc.name, P, rows, len(train))
			}
			all = slices.SortedFunc(slices.Values(all), byHash)
			all = all[:min(sc.samples, len(all))]
			if !slices.Equal(all, global) {
				t.Errorf("%s, P = %d: the rows sampled over all partitions are %v, want %v", sc.name, P, all, global)
			}
			merged = append(merged, all)
		}
		for i := 1; i < len(merged); i++ {
			if !slices.Equal(merged[i], merged[0]) {
				t.Errorf("%s: samples differ between partition counts: %v vs %v", sc.name, merged[i], merged[0])
			}
		}
	}
}

// randomDeepNet returns a network of the given widths with weights
// N(0, 1/n_{l-1}), mixed output signs and, with skip, a linear term.
func randomDeepNet(rng *rand.Rand, dims []int, skip bool) *model.Net {
	net := model.NewNet(dims...)
	for l := 1; l < len(dims); l++ {
		for i := range net.W[l-1] {
			net.W[l-1][i] = rng.NormFloat64() / math.Sqrt(float64(dims[l-1]))
		}
	}
	for q := range net.V {
		net.V[q] = float64(1 - 2*(q%2))
	}
	if skip {
		net.Skip = randNormal(rng, dims[0])
	}
	return net
}

// refForward runs net on the row x: the pre-activations z_l and outputs
// h_l of every layer (index 0: x), and f = V . h_L + Skip . x.
func refForward(net *model.Net, x []float64) (zs, hs [][]float64, f float64) {
	L := net.Layers()
	zs, hs = make([][]float64, L+1), make([][]float64, L+1)
	hs[0] = x
	for l := 1; l <= L; l++ {
		in, out := net.Dims[l-1], net.Dims[l]
		zs[l], hs[l] = make([]float64, out), make([]float64, out)
		for q := 0; q < out; q++ {
			zs[l][q] = dot(net.W[l-1][q*in:(q+1)*in], hs[l-1])
			if zs[l][q] > 0 {
				hs[l][q] = zs[l][q]
			}
		}
	}
	f = dot(net.V, hs[L])
	if net.Skip != nil {
		f += dot(net.Skip, x)
	}
	return zs, hs, f
}

// refDeepOut is the reference of one partition's msg.DeepStats.
type refDeepOut struct {
	rows          int
	yy, sumY, sse float64
	flips         int64
	g, r          [][]float64 // per system: full m x m, m
	val           msg.Eval
}

// refDeep computes the deep statistics of rows lo..hi-1 of src for req:
// with the patterns held, df/dW_l[q][j] = c_l[q] h_{l-1}[j], c_L = V on
// the active units of layer L and c_l = W_{l+1}^T c_{l+1} on those of
// layer l; df/dSkip = x. A system's design row is the concatenation of
// its layers' gradients, then x with a linear term and all layers; a
// training row enters G += b b^T, R += (y - f) b and the sums, a
// validation row only Val.
func refDeep(src *memSource, lo, hi int, req *msg.DeepRequest) refDeepOut {
	net, L := req.Net, req.Net.Layers()
	systems := req.Systems()
	out := refDeepOut{flips: -1}
	if req.Prev != nil {
		out.flips = 0
	}
	for _, sy := range systems {
		m := req.Unknowns(sy)
		out.g, out.r = append(out.g, make([]float64, m*m)), append(out.r, make([]float64, m))
	}
	for g := lo; g < hi; g++ {
		x, y := src.row(g, req.Transform)
		zs, hs, f := refForward(net, x)
		e := y - f
		if req.Split.Holds(g) {
			out.val.Rows++
			out.val.SSE += e * e
			out.val.YY += y * y
			out.val.SumY += y
			continue
		}
		out.rows++
		out.yy += y * y
		out.sumY += y
		out.sse += e * e
		if req.Prev != nil {
			pz, _, _ := refForward(req.Prev, x)
			for l := 1; l <= L; l++ {
				for q := range zs[l] {
					if (zs[l][q] > 0) != (pz[l][q] > 0) {
						out.flips++
					}
				}
			}
		}
		cs := make([][]float64, L+1)
		cs[L] = make([]float64, net.Dims[L])
		for q, v := range net.V {
			if zs[L][q] > 0 {
				cs[L][q] = v
			}
		}
		for l := L - 1; l >= 1; l-- {
			cs[l] = make([]float64, net.Dims[l])
			for j := range cs[l] {
				if zs[l][j] <= 0 {
					continue
				}
				for q, c := range cs[l+1] {
					cs[l][j] += c * net.W[l][q*net.Dims[l]+j]
				}
			}
		}
		for s, sy := range systems {
			var b []float64
			for _, l := range sy {
				for _, c := range cs[l] {
					for _, h := range hs[l-1] {
						b = append(b, c*h)
					}
				}
			}
			if net.Skip != nil && len(sy) == L {
				b = append(b, x...)
			}
			m := len(b)
			for a := 0; a < m; a++ {
				out.r[s][a] += e * b[a]
				for c := 0; c < m; c++ {
					out.g[s][a*m+c] += b[a] * b[c]
				}
			}
		}
	}
	return out
}

// TestDeepSplitTransformMatchesNaive compares the deep statistics of every
// partition with the reference for steps with a standardization and a
// validation split, of networks with and without a linear term, joint and
// per-layer systems and an evaluation alone: the training sums, systems and
// flip count must be those of the training rows only, Val the sums of the
// validation rows.
func TestDeepSplitTransformMatchesNaive(t *testing.T) {
	const n, d, P = 600, 5, 3
	D := d + 1
	rng := rand.New(rand.NewPCG(31, 1))
	withSkip := randomDeepNet(rng, []int{D, 5, 4, 2}, true)
	noSkip := randomDeepNet(rng, []int{D, 6, 3}, false)
	prevSkip, prevNo := data.PerturbNet(withSkip, 0.15, 2), data.PerturbNet(noSkip, 0.15, 3)
	tr := standardizer(d)
	// Rows with no unit of any layer of any of the networks near its
	// threshold.
	src := realSource(rand.New(rand.NewPCG(31, 2)), n, d, func(x []float64, y float64) bool {
		row := append(slices.Clone(x), 1)
		for j := range tr.XShift {
			row[j] = (row[j] - tr.XShift[j]) * tr.XScale[j]
		}
		for _, net := range []*model.Net{withSkip, noSkip, prevSkip, prevNo} {
			zs, _, _ := refForward(net, row)
			for _, z := range zs[1:] {
				if slices.ContainsFunc(z, func(v float64) bool { return math.Abs(v) <= tieGap }) {
					return false
				}
			}
		}
		return true
	})
	parts := loadAll(t, src, P, shard.Float64)
	eng, err := shard.NewEngine(parts...)
	if err != nil {
		t.Fatal(err)
	}
	split := &msg.Split{Fraction: 0.3, Seed: 6}
	var flipsSeen bool
	for ri, req := range []*msg.DeepRequest{
		{Step: 2, Net: withSkip, Layers: []int{1, 2, 3}, Joint: true, Prev: prevSkip, Transform: tr, Split: split},
		{Step: 0, Net: withSkip, Transform: tr, Split: &msg.Split{From: 450}},
		{Step: 3, Net: withSkip, Layers: []int{1, 2, 3}, Joint: true, Split: split}, // raw rows
		{Step: 1, Net: noSkip, Layers: []int{1, 2}, Prev: prevNo, Transform: tr, Split: split},
		{Step: 1, Net: noSkip, Layers: []int{1, 2}, Joint: true, Split: split},
		{Step: 5, Net: noSkip, Layers: []int{2}, Transform: tr, Split: &msg.Split{Fraction: 0.5, Seed: 1}},
	} {
		for _, p := range parts {
			name := fmt.Sprintf("request %d (layers %v, joint %v, linear term %v), partition %d", ri, req.Layers, req.Joint, req.Net.Skip != nil, p.ID)
			got := fetch[*msg.DeepStats](t, eng, req, p.ID)
			want := refDeep(src, p.Lo, p.Lo+p.Rows, req)
			if got.Rows != want.rows || got.Flips != want.flips || len(got.Systems) != len(want.g) {
				t.Errorf("%s: %d rows, %d flips, %d systems; want %d, %d, %d", name, got.Rows, got.Flips, len(got.Systems), want.rows, want.flips, len(want.g))
				continue
			}
			if got.Rows+got.Val.Rows != p.Rows {
				t.Errorf("%s: %d training and %d validation rows of %d", name, got.Rows, got.Val.Rows, p.Rows)
			}
			if req.Split.From == 0 && (want.rows == 0 || want.val.Rows == 0) {
				t.Fatalf("%s: test data: %d training, %d validation rows", name, want.rows, want.val.Rows)
			}
			if !closeSum(got.YY, want.yy) || !closeSum(got.SumY, want.sumY) || !closeSum(got.SSE, want.sse) {
				t.Errorf("%s: YY, SumY, SSE = %v, %v, %v; want %v, %v, %v", name, got.YY, got.SumY, got.SSE, want.yy, want.sumY, want.sse)
			}
			checkEval(t, name, got.Val, want.val)
			for s, sy := range got.Systems {
				if sy.M*sy.M != len(want.g[s]) {
					t.Errorf("%s: system %d has m = %d, want %d unknowns", name, s, sy.M, len(want.r[s]))
					continue
				}
				full := make([]float64, sy.M*sy.M)
				linalg.Unpack(full, sy.Gram, sy.M)
				if e := relDiff(full, want.g[s]); e > 1e-12 {
					t.Errorf("%s: layers %v: Gram differs from the reference by %.3g relative", name, sy.Layers, e)
				}
				if e := relDiff(sy.R, want.r[s]); e > 1e-12 {
					t.Errorf("%s: layers %v: R differs from the reference by %.3g relative", name, sy.Layers, e)
				}
			}
			flipsSeen = flipsSeen || got.Flips > 0
		}
	}
	if !flipsSeen {
		t.Error("no pattern changed between the test's networks: the flip count is untested")
	}
}

// TestRealDataBadRequests sends requests whose standardization, split,
// linear unit or summary settings are invalid through Engine.Fetch: each
// must come back as an error wrapping msg.ErrRequest (or ErrTooLarge), not
// a partial or a panic, and the engine must serve a valid request after.
func TestRealDataBadRequests(t *testing.T) {
	const n, d = 60, 4
	D := d + 1
	src := realSource(rand.New(rand.NewPCG(41, 1)), n, d, nil)
	eng, err := shard.NewEngine(loadAll(t, src, 2, shard.Float64)...)
	if err != nil {
		t.Fatal(err)
	}
	ones := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = 1
		}
		return v
	}
	affine := func(nx int) *msg.Affine { return &msg.Affine{XShift: make([]float64, nx), XScale: ones(nx), YScale: 1} }
	with := func(edit func(a *msg.Affine)) *msg.Affine { a := affine(d); edit(a); return a }
	stats := func(edit func(r *msg.StatsRequest)) msg.Request {
		r := &msg.StatsRequest{D: D, Signs: []float64{1, -1, 1}, U: make([]float64, 3*D), Linear: true, Transform: affine(d), Split: &msg.Split{Fraction: 0.2}}
		edit(r)
		return r
	}
	net := randomDeepNet(rand.New(rand.NewPCG(41, 2)), []int{D, 3, 2}, true)
	deep := func(edit func(r *msg.DeepRequest)) msg.Request {
		r := &msg.DeepRequest{Net: net.Clone(), Layers: []int{1, 2}, Joint: true, Transform: affine(d), Split: &msg.Split{From: 50}}
		edit(r)
		return r
	}
	summary := func(edit func(r *msg.SummaryRequest)) msg.Request {
		r := &msg.SummaryRequest{D: D, Split: &msg.Split{Fraction: 0.2}, Samples: 5}
		edit(r)
		return r
	}
	nan, inf := math.NaN(), math.Inf(1)
	for _, c := range []struct {
		name string
		req  msg.Request
		want error
	}{
		{"stats: shift of D+1 features", stats(func(r *msg.StatsRequest) { r.Transform = affine(D + 1) }), msg.ErrRequest},
		{"stats: more shifts than scales", stats(func(r *msg.StatsRequest) { r.Transform.XShift = append(r.Transform.XShift, 0) }), msg.ErrRequest},
		{"stats: fewer shifts than scales", stats(func(r *msg.StatsRequest) { r.Transform.XShift = r.Transform.XShift[:1] }), msg.ErrRequest},
		{"stats: NaN shift", stats(func(r *msg.StatsRequest) { r.Transform = with(func(a *msg.Affine) { a.XShift[1] = nan }) }), msg.ErrRequest},
		{"stats: Inf scale", stats(func(r *msg.StatsRequest) { r.Transform = with(func(a *msg.Affine) { a.XScale[2] = inf }) }), msg.ErrRequest},
		{"stats: zero scale", stats(func(r *msg.StatsRequest) { r.Transform = with(func(a *msg.Affine) { a.XScale[0] = 0 }) }), msg.ErrRequest},
		{"stats: negative scale", stats(func(r *msg.StatsRequest) { r.Transform = with(func(a *msg.Affine) { a.XScale[3] = -1 }) }), msg.ErrRequest},
		{"stats: zero label scale", stats(func(r *msg.StatsRequest) { r.Transform = with(func(a *msg.Affine) { a.YScale = 0 }) }), msg.ErrRequest},
		{"stats: NaN label scale", stats(func(r *msg.StatsRequest) { r.Transform = with(func(a *msg.Affine) { a.YScale = nan }) }), msg.ErrRequest},
		{"stats: Inf label shift", stats(func(r *msg.StatsRequest) { r.Transform = with(func(a *msg.Affine) { a.YShift = -inf }) }), msg.ErrRequest},
		{"stats: split from row -1", stats(func(r *msg.StatsRequest) { r.Split = &msg.Split{From: -1} }), msg.ErrRequest},
		{"stats: split fraction 0", stats(func(r *msg.StatsRequest) { r.Split = &msg.Split{} }), msg.ErrRequest},
		{"stats: split fraction 1", stats(func(r *msg.StatsRequest) { r.Split = &msg.Split{Fraction: 1} }), msg.ErrRequest},
		{"stats: split fraction NaN", stats(func(r *msg.StatsRequest) { r.Split = &msg.Split{Fraction: nan} }), msg.ErrRequest},
		{"stats: linear unit of sign -1", stats(func(r *msg.StatsRequest) { r.Signs = []float64{1, 1, -1} }), msg.ErrRequest},
		{"stats: request for D-1 features", stats(func(r *msg.StatsRequest) { r.D, r.U, r.Transform = d, make([]float64, 3*d), affine(d-1) }), msg.ErrRequest},
		{"deep: shift of D+1 features", deep(func(r *msg.DeepRequest) { r.Transform = affine(D + 1) }), msg.ErrRequest},
		{"deep: zero scale", deep(func(r *msg.DeepRequest) { r.Transform = with(func(a *msg.Affine) { a.XScale[1] = 0 }) }), msg.ErrRequest},
		{"deep: split fraction 2", deep(func(r *msg.DeepRequest) { r.Split = &msg.Split{Fraction: 2} }), msg.ErrRequest},
		{"deep: linear term of D-1 weights", deep(func(r *msg.DeepRequest) { r.Net.Skip = r.Net.Skip[:d] }), msg.ErrRequest},
		{"deep: linear term, not joint", deep(func(r *msg.DeepRequest) { r.Joint = false }), msg.ErrRequest},
		{"deep: linear term, joint over some layers", deep(func(r *msg.DeepRequest) { r.Layers = []int{2} }), msg.ErrRequest},
		{"deep: previous weights without the linear term", deep(func(r *msg.DeepRequest) { r.Prev = r.Net.Clone(); r.Prev.Skip = nil }), msg.ErrRequest},
		{"summary: -1 samples", summary(func(r *msg.SummaryRequest) { r.Samples = -1 }), msg.ErrRequest},
		{"summary: too many samples", summary(func(r *msg.SummaryRequest) { r.Samples = msg.MaxSamples + 1 }), msg.ErrTooLarge},
		{"summary: split from row -5", summary(func(r *msg.SummaryRequest) { r.Split = &msg.Split{From: -5} }), msg.ErrRequest},
		{"summary: split fraction -0.5", summary(func(r *msg.SummaryRequest) { r.Split = &msg.Split{Fraction: -0.5} }), msg.ErrRequest},
		{"summary: D-1 features", summary(func(r *msg.SummaryRequest) { r.D = d }), msg.ErrRequest},
		{"summary: D+1 features", summary(func(r *msg.SummaryRequest) { r.D = D + 1 }), msg.ErrRequest},
		{"summary: no features", summary(func(r *msg.SummaryRequest) { r.D = 0 }), msg.ErrRequest},
	} {
		for id := range 2 {
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Errorf("%s: partition %d: Fetch panics: %v", c.name, id, p)
					}
				}()
				err = fetchErr(t, eng, c.req, id)
			}()
			if !errors.Is(err, c.want) {
				t.Errorf("%s: partition %d: err = %v, want %v", c.name, id, err, c.want)
			}
		}
	}
	// The limits themselves are valid: a standardization of every column
	// (bias included), a validation split from row 1, a fraction just
	// below 1, as many samples as allowed.
	for _, req := range []msg.Request{
		stats(func(r *msg.StatsRequest) { r.Transform = affine(D) }),
		stats(func(r *msg.StatsRequest) { r.Transform, r.Split = &msg.Affine{YScale: 2}, &msg.Split{From: 1} }),
		deep(func(r *msg.DeepRequest) { r.Split = &msg.Split{Fraction: math.Nextafter(1, 0)} }),
		summary(func(r *msg.SummaryRequest) { r.Samples = msg.MaxSamples }),
	} {
		for id := range 2 {
			fetch[msg.Partial](t, eng, req, id)
		}
	}
}
