package msg_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"altmin/model"
	"altmin/msg"
)

// Tests of the messages of training on real data: the standardization
// (Affine), the validation split (Split, RowHash), the validation sums
// (Eval, R2), the summary pass (SummaryRequest, Summary), and the new
// fields of the statistics requests and partials.

// TestAffineApply checks what a transform does to a row and a label:
// feature j < len(XShift) becomes (x_j - XShift[j]) * XScale[j] (shifted,
// then scaled), the later features are kept, the label becomes
// (y - YShift) * YScale; a nil transform changes nothing.
func TestAffineApply(t *testing.T) {
	a := &msg.Affine{XShift: []float64{1, 2}, XScale: []float64{0.5, 4}, YShift: 3, YScale: 0.25}
	x := []float64{3, -1, 1}
	a.Row(x)
	// Shift then scale: (3-1)*0.5 = 1, where scale then shift would
	// give 3*0.5-1 = 0.5; (-1-2)*4 = -12; the bias feature is kept.
	if want := []float64{1, -12, 1}; !slices.Equal(x, want) {
		t.Errorf("Row = %v, want %v", x, want)
	}
	if got := a.Label(11); got != 2 { // (11-3)*0.25, not 11*0.25-3
		t.Errorf("Label(11) = %v, want 2", got)
	}

	// A transform of every feature.
	all := &msg.Affine{XShift: []float64{-1, 0, 1}, XScale: []float64{2, 3, 0.5}, YShift: -2, YScale: 1}
	x = []float64{1, 5, 9}
	all.Row(x)
	if want := []float64{4, 15, 4}; !slices.Equal(x, want) {
		t.Errorf("Row of every feature = %v, want %v", x, want)
	}
	if got := all.Label(-2); got != 0 {
		t.Errorf("Label(-2) = %v, want 0", got)
	}

	// A label-only transform keeps every feature.
	label := &msg.Affine{YShift: 1, YScale: 10}
	x = []float64{math.Pi, -0.0, 5e-324}
	orig := slices.Clone(x)
	label.Row(x)
	if !sameBits(x, orig) {
		t.Errorf("a label-only transform changed the row: %v, want %v", x, orig)
	}
	if got := label.Label(1.5); got != 5 {
		t.Errorf("label-only Label(1.5) = %v, want 5", got)
	}

	// nil: the identity, bit for bit.
	var none *msg.Affine
	for _, y := range []float64{0, math.Copysign(0, -1), 1.0 / 3, -math.MaxFloat64, 5e-324} {
		x := []float64{y, 2 * y, 1}
		want := slices.Clone(x)
		none.Row(x)
		if !sameBits(x, want) {
			t.Errorf("nil Row(%v) changed it to %v", want, x)
		}
		if got := none.Label(y); math.Float64bits(got) != math.Float64bits(y) {
			t.Errorf("nil Label(%v) = %v", y, got)
		}
	}

	// The transform itself is not changed by its use.
	if !slices.Equal(a.XShift, []float64{1, 2}) || !slices.Equal(a.XScale, []float64{0.5, 4}) || a.YShift != 3 || a.YScale != 0.25 {
		t.Errorf("Row or Label changed the transform: %+v", a)
	}
}

// sameBits reports whether a and b hold the same float64 bits.
func sameBits(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) })
}

// goodAffine returns a valid transform of n of the features.
func goodAffine(n int) *msg.Affine {
	return &msg.Affine{XShift: filled(n, -0.5), XScale: filled(n, 0.25), YShift: 1.5, YScale: 2}
}

// badAffines are transforms, each with one fault, for rows of d = 3
// features; want is the error of the check (nil: valid).
func badAffines() []struct {
	name string
	a    *msg.Affine
	want error
} {
	edit := func(n int, f func(a *msg.Affine)) *msg.Affine {
		a := goodAffine(n)
		f(a)
		return a
	}
	return []struct {
		name string
		a    *msg.Affine
		want error
	}{
		{"nil", nil, nil},
		{"every feature", goodAffine(3), nil},
		{"two features", goodAffine(2), nil},
		{"label only", goodAffine(0), nil},
		{"label only, nil slices", &msg.Affine{YScale: 1}, nil},
		{"tiny scales", edit(3, func(a *msg.Affine) { a.XScale[1], a.YScale = 5e-324, 5e-324 }), nil},
		{"huge values", edit(3, func(a *msg.Affine) {
			a.XShift[0], a.XScale[2], a.YShift, a.YScale = -math.MaxFloat64, math.MaxFloat64, math.MaxFloat64, math.MaxFloat64
		}), nil},

		{"zero value", &msg.Affine{}, msg.ErrRequest},
		{"more features than the rows", goodAffine(4), msg.ErrRequest},
		{"short scales", edit(3, func(a *msg.Affine) { a.XScale = a.XScale[:2] }), msg.ErrRequest},
		{"short shifts", edit(2, func(a *msg.Affine) { a.XShift = a.XShift[:1] }), msg.ErrRequest},
		{"scales without shifts", edit(2, func(a *msg.Affine) { a.XShift = nil }), msg.ErrRequest},
		{"shifts without scales", edit(1, func(a *msg.Affine) { a.XScale = nil }), msg.ErrRequest},
		{"NaN shift", edit(3, func(a *msg.Affine) { a.XShift[1] = math.NaN() }), msg.ErrRequest},
		{"Inf shift", edit(3, func(a *msg.Affine) { a.XShift[2] = math.Inf(1) }), msg.ErrRequest},
		{"NaN scale", edit(3, func(a *msg.Affine) { a.XScale[0] = math.NaN() }), msg.ErrRequest},
		{"Inf scale", edit(3, func(a *msg.Affine) { a.XScale[2] = math.Inf(1) }), msg.ErrRequest},
		{"zero scale", edit(3, func(a *msg.Affine) { a.XScale[1] = 0 }), msg.ErrRequest},
		{"-0 scale", edit(3, func(a *msg.Affine) { a.XScale[0] = math.Copysign(0, -1) }), msg.ErrRequest},
		{"negative scale", edit(3, func(a *msg.Affine) { a.XScale[2] = -0.25 }), msg.ErrRequest},
		{"NaN label shift", edit(3, func(a *msg.Affine) { a.YShift = math.NaN() }), msg.ErrRequest},
		{"-Inf label shift", edit(3, func(a *msg.Affine) { a.YShift = math.Inf(-1) }), msg.ErrRequest},
		{"NaN label scale", edit(3, func(a *msg.Affine) { a.YScale = math.NaN() }), msg.ErrRequest},
		{"Inf label scale", edit(3, func(a *msg.Affine) { a.YScale = math.Inf(1) }), msg.ErrRequest},
		{"zero label scale", edit(3, func(a *msg.Affine) { a.YScale = 0 }), msg.ErrRequest},
		{"negative label scale", edit(0, func(a *msg.Affine) { a.YScale = -2 }), msg.ErrRequest},
	}
}

// TestAffineCheck checks the refusals of a transform for rows of d
// features, by Check and by the Validate of every request that carries
// one: sizes, finite values, positive scales.
func TestAffineCheck(t *testing.T) {
	const d = 3
	for _, c := range badAffines() {
		err := c.a.Check(d)
		wantErr(t, "Check: "+c.name, err, c.want)
		if errors.Is(err, msg.ErrTooLarge) {
			t.Errorf("Check: %s: %v is ErrTooLarge", c.name, err)
		}
		// Every request with a transform refuses the same ones.
		reqs := map[string]msg.Request{
			"stats":     &msg.StatsRequest{Iter: 0, D: d, Signs: []float64{1, -1}, U: filled(2*d, 0.1), Transform: c.a},
			"deep":      &msg.DeepRequest{Step: 0, Net: netOf(d, 2, 2), Layers: []int{1, 2}, Transform: c.a},
			"moments12": &msg.Moments12Request{D: d, Order: 2, Transform: c.a},
			"moment4":   &msg.Moment4Request{D: d, K: 2, V: filled(2*d, 0.1), Transform: c.a},
		}
		for kind, r := range reqs {
			wantErr(t, kind+" request: "+c.name, r.Validate(), c.want)
		}
	}
	// The width is the request's: 4 features are fine for rows of 4.
	if err := goodAffine(4).Check(4); err != nil {
		t.Errorf("4 features for rows of 4: %v", err)
	}
	if err := goodAffine(4).Check(0); !errors.Is(err, msg.ErrRequest) {
		t.Errorf("4 features for rows of 0: %v", err)
	}
	if err := goodAffine(0).Check(0); err != nil {
		t.Errorf("label only for rows of 0: %v", err)
	}
	wantErr(t, "deep request of input width 4", (&msg.DeepRequest{Net: netOf(4, 2), Transform: goodAffine(4)}).Validate(), nil)
	wantErr(t, "deep request of input width 2", (&msg.DeepRequest{Net: netOf(2, 2), Transform: goodAffine(3)}).Validate(), msg.ErrRequest)
}

// TestRowHash pins RowHash to SplitMix64 (the first output of the state
// seed ^ i*0x9e3779b97f4a7c15): the split and the sample must be the same
// in every build that reads the same data. The reference values were
// computed independently of this package.
func TestRowHash(t *testing.T) {
	for _, c := range []struct {
		seed uint64
		i    int
		want uint64
	}{
		// With seed 0, rows 0, 1, 2 give the first three outputs of
		// SplitMix64 seeded with 0.
		{0, 0, 0xe220a8397b1dcdaf},
		{0, 1, 0x6e789e6aa1b965f4},
		{0, 2, 0x06c45d188009454f},
		{1234567, 0, 0x599ed017fb08fc85},
		{1234567, 5, 0xc8a6ea7c24f95c68},
	} {
		if got := msg.RowHash(c.seed, c.i); got != c.want {
			t.Errorf("RowHash(%d, %d) = %#x, want %#x", c.seed, c.i, got, c.want)
		}
	}
	// Distinct rows and seeds give distinct hashes.
	seen := make(map[uint64]bool)
	for _, seed := range []uint64{0, 1, 2, 1 << 63} {
		for i := 0; i < 5000; i++ {
			h := msg.RowHash(seed, i)
			if seen[h] {
				t.Fatalf("RowHash(%d, %d) = %#x repeats a hash", seed, i, h)
			}
			seen[h] = true
		}
	}
}

// heldCount returns the number of rows lo..hi-1 s holds.
func heldCount(s *msg.Split, lo, hi int) int {
	n := 0
	for i := lo; i < hi; i++ {
		if s.Holds(i) {
			n++
		}
	}
	return n
}

// within fails unless count is within 5 standard deviations of the
// binomial mean n*p.
func within(t *testing.T, what string, count, n int, p float64) {
	t.Helper()
	mean, sd := float64(n)*p, math.Sqrt(float64(n)*p*(1-p))
	if math.Abs(float64(count)-mean) > 5*sd {
		t.Errorf("%s: %d of %d rows, want %.1f +- %.1f (5 sd)", what, count, n, mean, 5*sd)
	}
}

// TestSplitHolds checks the validation split: a nil split holds nothing;
// with From > 0 exactly the rows from From on; else the rows whose hash
// falls below Fraction: about Fraction of them, in every range of rows,
// nested as the fraction grows, another set for another seed, and the
// same whatever the order the rows are asked in.
func TestSplitHolds(t *testing.T) {
	const n = 100000
	var none *msg.Split
	if c := heldCount(none, 0, n); c != 0 {
		t.Errorf("a nil split holds %d rows", c)
	}

	for _, from := range []int{1, 7, 1000} {
		for _, f := range []float64{0, 0.5, 1} {
			s := &msg.Split{From: from, Fraction: f, Seed: 3}
			for i := 0; i < 2000; i++ {
				if s.Holds(i) != (i >= from) {
					t.Fatalf("from %d, fraction %v: Holds(%d) = %t", from, f, i, s.Holds(i))
				}
			}
		}
	}

	if c := heldCount(&msg.Split{Fraction: 0, Seed: 9}, 0, n); c != 0 {
		t.Errorf("fraction 0 holds %d rows", c)
	}
	// The hash is mapped into [0, 1): fraction 1 holds every row.
	if c := heldCount(&msg.Split{Fraction: 1, Seed: 9}, 0, n); c != n {
		t.Errorf("fraction 1 holds %d of %d rows", c, n)
	}

	seeds := []uint64{0, 1, 42, 1<<63 + 5}
	for _, seed := range seeds {
		for _, f := range []float64{0.001, 0.05, 0.1, 0.3, 0.5, 0.9, 0.999} {
			s := &msg.Split{Fraction: f, Seed: seed}
			within(t, "all rows", heldCount(s, 0, n), n, f)
			// No drift with the row index: each half, and rows far
			// beyond (a large data set's last partitions).
			within(t, "first half", heldCount(s, 0, n/2), n/2, f)
			within(t, "second half", heldCount(s, n/2, n), n/2, f)
			within(t, "rows from 10^12", heldCount(s, 1e12, 1e12+n/2), n/2, f)
		}
	}

	// "Below": the row's hash as a float in [0, 1) is its top 53 bits
	// over 2^53; a fraction equal to it does not hold the row, the next
	// float up does. (This pins the map from hash to [0, 1): the same
	// rows must be held out by every build.)
	for _, seed := range seeds {
		for i := 0; i < 50; i++ {
			u := float64(msg.RowHash(seed, i)>>11) / (1 << 53)
			if u == 0 {
				continue
			}
			if (&msg.Split{Fraction: u, Seed: seed}).Holds(i) || !(&msg.Split{Fraction: math.Nextafter(u, 1), Seed: seed}).Holds(i) {
				t.Fatalf("seed %d, row %d of hash %#x: not held exactly at fractions above %v", seed, i, msg.RowHash(seed, i), u)
			}
		}
	}

	// Nested: a row held at one fraction is held at every larger one.
	fs := []float64{0.01, 0.1, 0.2, 0.5, 0.8}
	for i := 0; i < n; i++ {
		for j := 1; j < len(fs); j++ {
			if (&msg.Split{Fraction: fs[j-1], Seed: 42}).Holds(i) && !(&msg.Split{Fraction: fs[j], Seed: 42}).Holds(i) {
				t.Fatalf("row %d is held at fraction %v, not at %v", i, fs[j-1], fs[j])
			}
		}
	}

	// Another seed, another set: at fraction 1/2 two independent sets
	// share about a quarter of the rows.
	a, b := &msg.Split{Fraction: 0.5, Seed: 1}, &msg.Split{Fraction: 0.5, Seed: 2}
	both := 0
	for i := 0; i < n; i++ {
		if a.Holds(i) && b.Holds(i) {
			both++
		}
	}
	within(t, "held by seeds 1 and 2", both, n, 0.25)

	// Deterministic: a copy of the split, asked in reverse order and in a
	// random order, holds the same rows; nothing but the seed, fraction
	// and row index counts.
	s := &msg.Split{Fraction: 0.3, Seed: 77}
	want := make([]bool, n)
	for i := range want {
		want[i] = s.Holds(i)
	}
	c := *s
	for i := n - 1; i >= 0; i-- {
		if c.Holds(i) != want[i] {
			t.Fatalf("row %d: the copy, asked in reverse, disagrees", i)
		}
	}
	rng := rand.New(rand.NewPCG(5, 0))
	for _, i := range rng.Perm(n) {
		if s.Holds(i) != want[i] {
			t.Fatalf("row %d: asked in random order, disagrees", i)
		}
	}
	// A partition holding rows lo..hi-1 asks by global index: the held
	// rows of any partitioning are those of the whole.
	for _, parts := range []int{1, 3, 7} {
		got := 0
		for p := 0; p < parts; p++ {
			lo, hi := p*n/parts, (p+1)*n/parts
			for i := 0; i < hi-lo; i++ {
				if s.Holds(lo+i) != want[lo+i] {
					t.Fatalf("%d partitions: row %d differs", parts, lo+i)
				}
				if s.Holds(lo + i) {
					got++
				}
			}
		}
		if wantN := heldCount(s, 0, n); got != wantN {
			t.Errorf("%d partitions hold %d rows, the whole %d", parts, got, wantN)
		}
	}
}

// TestSplitValidate checks the refusals of a split by every request that
// carries one: a negative From; with From = 0, a fraction outside (0, 1).
func TestSplitValidate(t *testing.T) {
	for _, c := range []struct {
		name  string
		split *msg.Split
		want  error
	}{
		{"nil", nil, nil},
		{"fraction 1/2", &msg.Split{Fraction: 0.5, Seed: 1}, nil},
		{"tiny fraction", &msg.Split{Fraction: 5e-324}, nil},
		{"fraction just below 1", &msg.Split{Fraction: math.Nextafter(1, 0), Seed: math.MaxUint64}, nil},
		{"from row 10", &msg.Split{From: 10}, nil},
		{"from row 10, fraction unused", &msg.Split{From: 10, Fraction: 2}, nil},
		{"from row 1", &msg.Split{From: 1, Fraction: 0.5}, nil},

		{"zero value", &msg.Split{}, msg.ErrRequest},
		{"fraction 0", &msg.Split{Fraction: 0, Seed: 4}, msg.ErrRequest},
		{"fraction -0", &msg.Split{Fraction: math.Copysign(0, -1)}, msg.ErrRequest},
		{"fraction 1", &msg.Split{Fraction: 1}, msg.ErrRequest},
		{"fraction 1.5", &msg.Split{Fraction: 1.5}, msg.ErrRequest},
		{"negative fraction", &msg.Split{Fraction: -0.1}, msg.ErrRequest},
		{"NaN fraction", &msg.Split{Fraction: math.NaN()}, msg.ErrRequest},
		{"Inf fraction", &msg.Split{Fraction: math.Inf(1)}, msg.ErrRequest},
		{"negative from", &msg.Split{From: -1, Fraction: 0.5}, msg.ErrRequest},
		{"very negative from", &msg.Split{From: math.MinInt, Fraction: 0.5}, msg.ErrRequest},
	} {
		reqs := map[string]msg.Request{
			"stats":     &msg.StatsRequest{D: 3, Signs: []float64{1}, U: filled(3, 0.1), Split: c.split},
			"deep":      &msg.DeepRequest{Net: netOf(3, 2), Layers: []int{1}, Split: c.split},
			"moments12": &msg.Moments12Request{D: 3, Order: 1, Split: c.split},
			"moment4":   &msg.Moment4Request{D: 3, K: 1, V: filled(3, 0.1), Split: c.split},
			"summary":   &msg.SummaryRequest{D: 3, Samples: 2, Split: c.split},
		}
		for kind, r := range reqs {
			err := r.Validate()
			wantErr(t, kind+" request: "+c.name, err, c.want)
			if errors.Is(err, msg.ErrTooLarge) {
				t.Errorf("%s request: %s: %v is ErrTooLarge", kind, c.name, err)
			}
		}
	}
}

// TestEvalAddCheck checks the validation sums: Add adds every field, Check
// refuses a negative count and non-finite sums.
func TestEvalAddCheck(t *testing.T) {
	e := msg.Eval{Rows: 3, SSE: 1.5, YY: 10, SumY: -4}
	e.Add(msg.Eval{Rows: 2, SSE: 0.25, YY: 6, SumY: 1})
	if want := (msg.Eval{Rows: 5, SSE: 1.75, YY: 16, SumY: -3}); e != want {
		t.Errorf("Add: %+v, want %+v", e, want)
	}
	e.Add(msg.Eval{})
	if want := (msg.Eval{Rows: 5, SSE: 1.75, YY: 16, SumY: -3}); e != want {
		t.Errorf("Add of nothing: %+v, want %+v", e, want)
	}
	var z msg.Eval
	z.Add(e)
	if z != e {
		t.Errorf("Add to zero: %+v, want %+v", z, e)
	}
	// Partition by partition, the sums of the whole.
	rng := rand.New(rand.NewPCG(11, 0))
	var total, parts msg.Eval
	for p := 0; p < 5; p++ {
		var part msg.Eval
		for i := 0; i < 10+p; i++ {
			y, r := float64(rng.IntN(21)-10), float64(rng.IntN(7)-3) // integers: the sums are exact
			part.Rows++
			part.SSE += r * r
			part.YY += y * y
			part.SumY += y
			total.Rows++
			total.SSE += r * r
			total.YY += y * y
			total.SumY += y
		}
		parts.Add(part)
	}
	if parts != total {
		t.Errorf("the partitions' sums %+v, the whole's %+v", parts, total)
	}

	for _, c := range []struct {
		name string
		e    msg.Eval
		want error
	}{
		{"zero", msg.Eval{}, nil},
		{"some rows", msg.Eval{Rows: 4, SSE: 1, YY: 2, SumY: -1}, nil},
		{"extreme values", msg.Eval{Rows: math.MaxInt, SSE: math.MaxFloat64, YY: 5e-324, SumY: -math.MaxFloat64}, nil},
		{"negative rows", msg.Eval{Rows: -1}, msg.ErrInvalid},
		{"NaN SSE", msg.Eval{Rows: 1, SSE: math.NaN()}, msg.ErrInvalid},
		{"Inf SSE", msg.Eval{Rows: 1, SSE: math.Inf(1)}, msg.ErrInvalid},
		{"NaN YY", msg.Eval{Rows: 1, YY: math.NaN()}, msg.ErrInvalid},
		{"Inf YY", msg.Eval{Rows: 1, YY: math.Inf(1)}, msg.ErrInvalid},
		{"NaN sum", msg.Eval{Rows: 1, SumY: math.NaN()}, msg.ErrInvalid},
		{"-Inf sum", msg.Eval{Rows: 1, SumY: math.Inf(-1)}, msg.ErrInvalid},
	} {
		wantErr(t, "Eval "+c.name, c.e.Check(), c.want)
	}
}

// TestPartialsVal checks the new fields of the statistics partials: the
// validation sums are checked even in statistics marked finite, and the
// sum of the labels like the other sums.
func TestPartialsVal(t *testing.T) {
	stats := func(f func(s *msg.Stats)) *msg.Stats {
		s := goodStats(3)
		s.SumY, s.Val = -2.5, msg.Eval{Rows: 2, SSE: 0.5, YY: 3, SumY: 1}
		f(s)
		return s
	}
	marked := func(s *msg.Stats) *msg.Stats { s.MarkFiniteChecked(); return s }
	deep := func(f func(p *msg.DeepStats)) *msg.DeepStats {
		p := goodDeep(true, true)
		p.SumY, p.Val = 4, msg.Eval{Rows: 1, SSE: 2, YY: 9, SumY: 3}
		f(p)
		return p
	}
	markedDeep := func(p *msg.DeepStats) *msg.DeepStats { p.MarkFiniteChecked(); return p }
	none := func(*msg.Stats) {}
	noneDeep := func(*msg.DeepStats) {}
	runChecks(t, []checkCase{
		{"stats with validation sums", stats(none), statsReq(3), nil},
		{"stats, no validation rows", stats(func(s *msg.Stats) { s.Val = msg.Eval{} }), statsReq(3), nil},
		{"stats, NaN sum of labels", stats(func(s *msg.Stats) { s.SumY = math.NaN() }), statsReq(3), msg.ErrInvalid},
		{"stats, Inf sum of labels", stats(func(s *msg.Stats) { s.SumY = math.Inf(-1) }), statsReq(3), msg.ErrInvalid},
		{"stats, negative validation rows", stats(func(s *msg.Stats) { s.Val.Rows = -1 }), statsReq(3), msg.ErrInvalid},
		{"stats, NaN validation SSE", stats(func(s *msg.Stats) { s.Val.SSE = math.NaN() }), statsReq(3), msg.ErrInvalid},
		{"stats, Inf validation YY", stats(func(s *msg.Stats) { s.Val.YY = math.Inf(1) }), statsReq(3), msg.ErrInvalid},
		{"stats, NaN validation sum", stats(func(s *msg.Stats) { s.Val.SumY = math.NaN() }), statsReq(3), msg.ErrInvalid},
		// Marking skips the finiteness of the statistics, never the
		// check of the validation sums.
		{"stats marked, negative validation rows", marked(stats(func(s *msg.Stats) { s.Val.Rows = -3 })), statsReq(3), msg.ErrInvalid},
		{"stats marked, NaN validation SSE", marked(stats(func(s *msg.Stats) { s.Val.SSE = math.NaN() })), statsReq(3), msg.ErrInvalid},
		{"stats marked, good", marked(stats(none)), statsReq(3), nil},

		{"deep with validation sums", deep(noneDeep), deepReq(true, true), nil},
		{"deep, NaN sum of labels", deep(func(p *msg.DeepStats) { p.SumY = math.NaN() }), deepReq(true, true), msg.ErrInvalid},
		{"deep marked, NaN sum of labels", markedDeep(deep(func(p *msg.DeepStats) { p.SumY = math.NaN() })), deepReq(true, true), msg.ErrInvalid},
		{"deep, negative validation rows", deep(func(p *msg.DeepStats) { p.Val.Rows = -1 }), deepReq(true, true), msg.ErrInvalid},
		{"deep, Inf validation SSE", deep(func(p *msg.DeepStats) { p.Val.SSE = math.Inf(1) }), deepReq(true, true), msg.ErrInvalid},
		{"deep marked, NaN validation sum", markedDeep(deep(func(p *msg.DeepStats) { p.Val.SumY = math.NaN() })), deepReq(true, true), msg.ErrInvalid},
		{"deep marked, good", markedDeep(deep(noneDeep)), deepReq(true, true), nil},
	})
}

// TestR2 checks R2 = 1 - SSE / sum (y - mean y)^2 from the sums, NaN
// without rows or spread.
func TestR2(t *testing.T) {
	// y = 1, 2, 3: sum 6, sum of squares 14, spread 14 - 36/3 = 2.
	for _, c := range []struct {
		name          string
		rows          int
		sse, yy, sumY float64
		want          float64 // NaN: want NaN
	}{
		{name: "perfect fit", rows: 3, sse: 0, yy: 14, sumY: 6, want: 1},
		{name: "quarter of the spread", rows: 3, sse: 0.5, yy: 14, sumY: 6, want: 0.75},
		{name: "as good as the mean", rows: 3, sse: 2, yy: 14, sumY: 6, want: 0},
		{name: "worse than the mean", rows: 3, sse: 4, yy: 14, sumY: 6, want: -1},
		{name: "one row", rows: 1, sse: 0, yy: 4, sumY: 2, want: math.NaN()},
		{name: "no rows", rows: 0, sse: 0, yy: 0, sumY: 0, want: math.NaN()},
		{name: "no rows, stray sums", rows: 0, sse: 1, yy: 5, sumY: 1, want: math.NaN()},
		{name: "constant labels", rows: 3, sse: 1, yy: 12, sumY: 6, want: math.NaN()},
		{name: "negative spread (rounding)", rows: 2, sse: 1, yy: 1.9999999, sumY: 2, want: math.NaN()},
		{name: "NaN sums", rows: 2, sse: 1, yy: math.NaN(), sumY: 2, want: math.NaN()},
	} {
		got := msg.R2(c.rows, c.sse, c.yy, c.sumY)
		switch {
		case math.IsNaN(c.want):
			if !math.IsNaN(got) {
				t.Errorf("%s: R2 = %v, want NaN", c.name, got)
			}
		case got != c.want:
			t.Errorf("%s: R2 = %v, want %v", c.name, got, c.want)
		}
	}

	// From random data: the sums give the R^2 computed directly, and the
	// sums of partitions added give that of the whole.
	rng := rand.New(rand.NewPCG(3, 0))
	const n = 1000
	y, f := make([]float64, n), make([]float64, n)
	var mean float64
	for i := range y {
		y[i] = 5 + 2*rng.NormFloat64()
		f[i] = y[i] + 0.5*rng.NormFloat64()
		mean += y[i] / n
	}
	var ss, sse float64
	var parts [4]msg.Eval
	for i := range y {
		ss += (y[i] - mean) * (y[i] - mean)
		sse += (f[i] - y[i]) * (f[i] - y[i])
		p := &parts[i%4]
		p.Rows++
		p.SSE += (f[i] - y[i]) * (f[i] - y[i])
		p.YY += y[i] * y[i]
		p.SumY += y[i]
	}
	want := 1 - sse/ss
	var e msg.Eval
	for _, p := range parts {
		e.Add(p)
	}
	if e.Rows != n {
		t.Fatalf("%d rows, want %d", e.Rows, n)
	}
	if got := msg.R2(e.Rows, e.SSE, e.YY, e.SumY); math.Abs(got-want) > 1e-9 || !(got > 0.9 && got < 0.97) {
		t.Errorf("R2 from the sums = %v, directly %v (about 1 - 0.25/4 = 0.9375)", got, want)
	}
}

// goodSummaryReq is a summary request of rows of 3 features (4 values with
// the label) that samples 2 rows.
func goodSummaryReq() *msg.SummaryRequest {
	return &msg.SummaryRequest{D: 3, Samples: 2, Seed: 8, Split: &msg.Split{Fraction: 0.2, Seed: 1}}
}

// goodSummary answers goodSummaryReq for partition 4.
func goodSummary() *msg.Summary {
	return &msg.Summary{Partition: 4, Rows: 5, Mean: []float64{0.5, -1, 2, 3}, M2: []float64{1, 0, 2.5, 4},
		Index: []float64{17, 3}, Sample: filled(8, 0.5)}
}

func TestSummaryRequestValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(r *msg.SummaryRequest)
		want error
	}{
		{"good", func(*msg.SummaryRequest) {}, nil},
		{"no split", func(r *msg.SummaryRequest) { r.Split = nil }, nil},
		{"no samples", func(r *msg.SummaryRequest) { r.Samples = 0 }, nil},
		{"MaxSamples", func(r *msg.SummaryRequest) { r.Samples = msg.MaxSamples }, nil},
		{"one feature", func(r *msg.SummaryRequest) { r.D = 1 }, nil},
		{"MaxMomentD features", func(r *msg.SummaryRequest) { r.D = msg.MaxMomentD }, nil},
		{"any seed", func(r *msg.SummaryRequest) { r.Seed = math.MaxUint64 }, nil},
		{"no features", func(r *msg.SummaryRequest) { r.D = 0 }, msg.ErrRequest},
		{"negative features", func(r *msg.SummaryRequest) { r.D = -3 }, msg.ErrRequest},
		{"too many features", func(r *msg.SummaryRequest) { r.D = msg.MaxMomentD + 1 }, msg.ErrTooLarge},
		{"negative samples", func(r *msg.SummaryRequest) { r.Samples = -1 }, msg.ErrRequest},
		{"too many samples", func(r *msg.SummaryRequest) { r.Samples = msg.MaxSamples + 1 }, msg.ErrTooLarge},
		{"huge samples", func(r *msg.SummaryRequest) { r.Samples = math.MaxInt }, msg.ErrTooLarge},
		{"bad split", func(r *msg.SummaryRequest) { r.Split.Fraction = 1 }, msg.ErrRequest},
	} {
		r := goodSummaryReq()
		c.edit(r)
		err := r.Validate()
		wantErr(t, c.name, err, c.want)
		if c.want == msg.ErrRequest && errors.Is(err, msg.ErrTooLarge) || c.want == msg.ErrTooLarge && errors.Is(err, msg.ErrRequest) {
			t.Errorf("%s: %v wraps both ErrRequest and ErrTooLarge", c.name, err)
		}
	}
	r := goodSummaryReq()
	if r.Kind() != msg.KindSummary || r.Round() != 0 || r.Features() != 3 || msg.KindSummary.String() != "summary" {
		t.Errorf("kind %v, round %d, features %d; want summary, 0, 3", r.Kind(), r.Round(), r.Features())
	}
}

func TestSummaryCheck(t *testing.T) {
	edit := func(f func(s *msg.Summary)) *msg.Summary {
		s := goodSummary()
		f(s)
		return s
	}
	req := goodSummaryReq()
	runChecks(t, []checkCase{
		{"good", goodSummary(), req, nil},
		{"one sample", edit(func(s *msg.Summary) { s.Index, s.Sample = s.Index[:1], s.Sample[:4] }), req, nil},
		{"no samples", edit(func(s *msg.Summary) { s.Index, s.Sample = nil, nil }), req, nil},
		{"no rows", edit(func(s *msg.Summary) { s.Rows, s.Index, s.Sample = 0, nil, nil }), req, nil},
		{"as many rows as samples", edit(func(s *msg.Summary) { s.Rows = 2 }), req, nil},
		{"no samples requested", edit(func(s *msg.Summary) { s.Index, s.Sample = nil, nil }), &msg.SummaryRequest{D: 3}, nil},
		{"zero deviations", edit(func(s *msg.Summary) { clear(s.M2) }), req, nil},

		{"no request", goodSummary(), nil, msg.ErrInvalid},
		{"answer to a stats request", goodSummary(), statsReq(0), msg.ErrInvalid},
		{"answer to a moments request", goodSummary(), &msg.Moments12Request{D: 3, Order: 1}, msg.ErrInvalid},
		{"means for d = 2", goodSummary(), &msg.SummaryRequest{D: 2, Samples: 2}, msg.ErrInvalid},
		{"means for d = 4", goodSummary(), &msg.SummaryRequest{D: 4, Samples: 2}, msg.ErrInvalid},
		{"short means", edit(func(s *msg.Summary) { s.Mean = s.Mean[:3] }), req, msg.ErrInvalid},
		{"long means", edit(func(s *msg.Summary) { s.Mean = append(s.Mean, 1) }), req, msg.ErrInvalid},
		{"short deviations", edit(func(s *msg.Summary) { s.M2 = s.M2[1:] }), req, msg.ErrInvalid},
		{"no deviations", edit(func(s *msg.Summary) { s.M2 = nil }), req, msg.ErrInvalid},
		{"negative rows", edit(func(s *msg.Summary) { s.Rows = -1 }), req, msg.ErrInvalid},
		{"negative rows, no samples", edit(func(s *msg.Summary) { s.Rows, s.Index, s.Sample = -1, nil, nil }), req, msg.ErrInvalid},
		{"more samples than requested", edit(func(s *msg.Summary) { s.Index, s.Sample = []float64{1, 2, 3}, filled(12, 1) }), req, msg.ErrInvalid},
		{"samples when none were requested", goodSummary(), &msg.SummaryRequest{D: 3}, msg.ErrInvalid},
		{"more samples than rows", edit(func(s *msg.Summary) { s.Rows = 1 }), req, msg.ErrInvalid},
		{"negative row index", edit(func(s *msg.Summary) { s.Index[0] = -1 }), req, msg.ErrInvalid},
		{"fractional row index", edit(func(s *msg.Summary) { s.Index[0] = 0.5 }), req, msg.ErrInvalid},
		{"row index 2^53", edit(func(s *msg.Summary) { s.Index[0] = 1 << 53 }), req, msg.ErrInvalid},
		{"duplicate row index", edit(func(s *msg.Summary) { s.Index[1] = s.Index[0] }), req, msg.ErrInvalid},
		{"samples without rows", edit(func(s *msg.Summary) { s.Rows = 0 }), req, msg.ErrInvalid},
		{"short sample", edit(func(s *msg.Summary) { s.Sample = s.Sample[:7] }), req, msg.ErrInvalid},
		{"long sample", edit(func(s *msg.Summary) { s.Sample = append(s.Sample, 1) }), req, msg.ErrInvalid},
		{"sample of the features only", edit(func(s *msg.Summary) { s.Sample = s.Sample[:6] }), req, msg.ErrInvalid},
		{"indices without values", edit(func(s *msg.Summary) { s.Sample = nil }), req, msg.ErrInvalid},
		{"values without indices", edit(func(s *msg.Summary) { s.Index = nil }), req, msg.ErrInvalid},
		{"NaN mean", edit(func(s *msg.Summary) { s.Mean[3] = math.NaN() }), req, msg.ErrInvalid},
		{"Inf mean", edit(func(s *msg.Summary) { s.Mean[0] = math.Inf(-1) }), req, msg.ErrInvalid},
		{"Inf deviation", edit(func(s *msg.Summary) { s.M2[2] = math.Inf(1) }), req, msg.ErrInvalid},
		{"NaN deviation", edit(func(s *msg.Summary) { s.M2[0] = math.NaN() }), req, msg.ErrInvalid},
		{"negative deviation", edit(func(s *msg.Summary) { s.M2[1] = -1e-300 }), req, msg.ErrInvalid},
		{"NaN index", edit(func(s *msg.Summary) { s.Index[1] = math.NaN() }), req, msg.ErrInvalid},
		{"Inf index", edit(func(s *msg.Summary) { s.Index[0] = math.Inf(1) }), req, msg.ErrInvalid},
		{"NaN sample value", edit(func(s *msg.Summary) { s.Sample[7] = math.NaN() }), req, msg.ErrInvalid},
		{"Inf sample value", edit(func(s *msg.Summary) { s.Sample[0] = math.Inf(-1) }), req, msg.ErrInvalid},
	})

	s := goodSummary()
	if s.Kind() != msg.KindSummary || s.Round() != 0 || s.Span() != msg.Leaf(4) {
		t.Errorf("kind %v, round %d, span %v", s.Kind(), s.Round(), s.Span())
	}
	// Summaries are not pooled: Release keeps every slice.
	pool := msg.NewPool()
	s.Release(pool)
	s.Release(nil)
	if n, _ := pool.Idle(); n != 0 || s.Mean == nil || s.M2 == nil || s.Index == nil || s.Sample == nil {
		t.Errorf("Release: %d idle buffers, summary %+v", n, s)
	}
}

// TestRequestsNewFields checks the Validate of the new fields of the
// statistics requests: the linear unit's sign, and transforms and splits
// of the wrong size or values.
func TestRequestsNewFields(t *testing.T) {
	stats := func(f func(r *msg.StatsRequest)) *msg.StatsRequest {
		r := &msg.StatsRequest{Iter: 1, D: 3, Signs: []float64{-1, 1}, U: filled(6, 0.1), Prev: filled(6, 0.2),
			Linear: true, Transform: goodAffine(2), Split: &msg.Split{Fraction: 0.1, Seed: 3}}
		f(r)
		return r
	}
	deep := func(f func(r *msg.DeepRequest)) *msg.DeepRequest {
		r := &msg.DeepRequest{Step: 1, Net: netOf(3, 4, 2), Layers: []int{1, 2}, Transform: goodAffine(3), Split: &msg.Split{From: 100}}
		f(r)
		return r
	}
	for _, c := range []struct {
		name string
		req  msg.Request
		want error
	}{
		{"stats, all new fields", stats(func(*msg.StatsRequest) {}), nil},
		{"stats, not linear", stats(func(r *msg.StatsRequest) { r.Linear = false }), nil},
		{"stats, not linear with sign -1 last", stats(func(r *msg.StatsRequest) { r.Linear, r.Signs = false, []float64{1, -1} }), nil},
		{"stats, linear unit of sign -1", stats(func(r *msg.StatsRequest) { r.Signs = []float64{1, -1} }), msg.ErrRequest},
		{"stats, one linear unit", stats(func(r *msg.StatsRequest) {
			r.Signs, r.U, r.Prev = []float64{1}, filled(3, 0.1), filled(3, 0.2)
		}), nil},
		{"stats, one linear unit of sign -1", stats(func(r *msg.StatsRequest) {
			r.Signs, r.U, r.Prev = []float64{-1}, filled(3, 0.1), filled(3, 0.2)
		}), msg.ErrRequest},
		{"stats, transform of every feature", stats(func(r *msg.StatsRequest) { r.Transform = goodAffine(3) }), nil},
		{"stats, transform wider than the rows", stats(func(r *msg.StatsRequest) { r.Transform = goodAffine(4) }), msg.ErrRequest},
		{"stats, transform of mismatched sizes", stats(func(r *msg.StatsRequest) { r.Transform.XScale = filled(3, 1) }), msg.ErrRequest},
		{"stats, NaN transform", stats(func(r *msg.StatsRequest) { r.Transform.XShift[1] = math.NaN() }), msg.ErrRequest},
		{"stats, zero label scale", stats(func(r *msg.StatsRequest) { r.Transform.YScale = 0 }), msg.ErrRequest},
		{"stats, split fraction 0", stats(func(r *msg.StatsRequest) { r.Split.Fraction = 0 }), msg.ErrRequest},
		{"stats, split from -1", stats(func(r *msg.StatsRequest) { r.Split.From = -1 }), msg.ErrRequest},
		// The older checks still come first: a bad transform does not
		// hide a size beyond the limits.
		{"stats, too large with a bad transform", stats(func(r *msg.StatsRequest) {
			r.D, r.Signs, r.U, r.Prev, r.Transform = msg.MaxM+1, []float64{1}, nil, nil, goodAffine(msg.MaxM+2)
		}), msg.ErrTooLarge},

		{"deep, all new fields", deep(func(*msg.DeepRequest) {}), nil},
		{"deep, transform wider than the input", deep(func(r *msg.DeepRequest) { r.Transform = goodAffine(4) }), msg.ErrRequest},
		{"deep, transform of mismatched sizes", deep(func(r *msg.DeepRequest) { r.Transform.XShift = r.Transform.XShift[:2] }), msg.ErrRequest},
		{"deep, Inf transform", deep(func(r *msg.DeepRequest) { r.Transform.YShift = math.Inf(1) }), msg.ErrRequest},
		{"deep, negative scale", deep(func(r *msg.DeepRequest) { r.Transform.XScale[0] = -1 }), msg.ErrRequest},
		{"deep, split fraction 1", deep(func(r *msg.DeepRequest) { r.Split = &msg.Split{Fraction: 1} }), msg.ErrRequest},
		{"deep, linear term with transform and split", deep(func(r *msg.DeepRequest) {
			r.Net.Skip = filled(3, 0.1)
			r.Joint = true
		}), nil},
		{"deep, no network, with transform", deep(func(r *msg.DeepRequest) { r.Net = nil }), msg.ErrRequest},

		{"moments12, transform and split", &msg.Moments12Request{D: 4, Order: 2, Transform: goodAffine(4), Split: &msg.Split{Fraction: 0.5}}, nil},
		{"moments12, transform wider than the rows", &msg.Moments12Request{D: 4, Order: 2, Transform: goodAffine(5)}, msg.ErrRequest},
		{"moments12, bad split", &msg.Moments12Request{D: 4, Order: 1, Split: &msg.Split{Fraction: math.NaN()}}, msg.ErrRequest},
		{"moment4, transform and split", &msg.Moment4Request{D: 4, K: 1, V: filled(4, 1), Transform: goodAffine(1), Split: &msg.Split{From: 3}}, nil},
		{"moment4, transform wider than the rows", &msg.Moment4Request{D: 4, K: 1, V: filled(4, 1), Transform: goodAffine(5)}, msg.ErrRequest},
		{"moment4, bad split", &msg.Moment4Request{D: 4, K: 1, V: filled(4, 1), Split: &msg.Split{From: -2}}, msg.ErrRequest},
	} {
		wantErr(t, c.name, c.req.Validate(), c.want)
	}
	// Features of a deep request is its input width, as the transform's
	// check uses.
	if n := model.NewNet(5, 2); (&msg.DeepRequest{Net: n}).Features() != 5 {
		t.Error("deep request features")
	}
}
