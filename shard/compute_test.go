package shard_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"gonum.org/v1/gonum/mat"

	"altmin/data"
	"altmin/linalg"
	"altmin/shard"
)

// tieGap is the smallest |u_q . x_i| in the random test data (rows that are
// exactly zero aside), so patterns do not depend on summation order.
const tieGap = 1e-6

func dot(a, b []float64) float64 {
	var s float64
	for j := range a {
		s += a[j] * b[j]
	}
	return s
}

func randNormal(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

func randSigns(rng *rand.Rand, k int) []float64 {
	s := make([]float64, k)
	for q := range s {
		s[q] = float64(1 - 2*rng.IntN(2))
	}
	return s
}

// randRows draws n rows of d features, each with |u_q . x_i| > tieGap for
// every neuron of every weight matrix in ws (each k_w x d, any k_w); every
// 6th row has no active neuron under ws[0] (rejection sampling; a zero row
// if that fails), and row 1 is zero.
func randRows(rng *rand.Rand, n, d int, ws ...[]float64) []float64 {
	x := make([]float64, n*d)
	for i := 0; i < n; i++ {
		xi := x[i*d : (i+1)*d]
		if i == 1 {
			continue
		}
		dead := i%6 == 0
		found := false
		for try := 0; try < 50000 && !found; try++ {
			for j := range xi {
				xi[j] = rng.NormFloat64()
			}
			found = true
			for wi, u := range ws {
				for q := 0; q < len(u)/d && found; q++ {
					z := dot(u[q*d:(q+1)*d], xi)
					found = math.Abs(z) > tieGap && !(dead && wi == 0 && z > 0)
				}
			}
		}
		if !found {
			clear(xi)
		}
	}
	return x
}

// naive is the dense reference for one partition and one weight matrix.
type naive struct {
	gram   []float64 // full m x m
	r      []float64
	yy     float64
	sse    float64
	active [][]bool
}

func naiveStats(x, y []float64, d int, u, signs []float64) naive {
	n, k := len(y), len(signs)
	m := d * k
	nv := naive{active: make([][]bool, n)}
	b := mat.NewDense(max(n, 1), m, nil)
	for i := 0; i < n; i++ {
		xi := x[i*d : (i+1)*d]
		nv.active[i] = make([]bool, k)
		var f float64
		for q := 0; q < k; q++ {
			z := dot(u[q*d:(q+1)*d], xi)
			if z <= 0 {
				continue
			}
			nv.active[i][q] = true
			f += signs[q] * z
			for j := 0; j < d; j++ {
				b.Set(i, q*d+j, signs[q]*xi[j])
			}
		}
		nv.yy += y[i] * y[i]
		nv.sse += (f - y[i]) * (f - y[i])
	}
	yv := make([]float64, max(n, 1))
	copy(yv, y)
	var g mat.Dense
	g.Mul(b.T(), b)
	nv.gram = g.RawMatrix().Data
	rv := mat.NewVecDense(m, nil)
	rv.MulVec(b.T(), mat.NewVecDense(len(yv), yv))
	nv.r = rv.RawVector().Data
	return nv
}

func naiveFlips(a, b naive) int64 {
	var n int64
	for i := range a.active {
		for q := range a.active[i] {
			if a.active[i][q] != b.active[i][q] {
				n++
			}
		}
	}
	return n
}

func relDiff(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var num, den float64
	for i := range a {
		t := a[i] - b[i]
		num += t * t
		den += b[i] * b[i]
	}
	if den == 0 {
		if num == 0 {
			return 0
		}
		return math.Inf(1)
	}
	return math.Sqrt(num / den)
}

func relClose(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*max(math.Abs(b), 1e-300)
}

func checkStats(t *testing.T, name string, st *shard.Stats, req *shard.Request, part *shard.Partition, want naive, flips int64) {
	t.Helper()
	m := part.D * len(req.Signs)
	if st.Iter != req.Iter || st.Partition != part.ID || st.Rows != part.Rows || st.M != m {
		t.Fatalf("%s: header iter %d partition %d rows %d m %d, want %d %d %d %d", name, st.Iter, st.Partition, st.Rows, st.M, req.Iter, part.ID, part.Rows, m)
	}
	if err := st.Validate(m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	full := make([]float64, m*m)
	linalg.Unpack(full, st.Gram, m)
	if e := relDiff(full, want.gram); e > 1e-12 {
		t.Errorf("%s: Gram differs from naive by %.3g relative", name, e)
	}
	if e := relDiff(st.R, want.r); e > 1e-12 {
		t.Errorf("%s: B^T y differs from naive by %.3g relative", name, e)
	}
	if !relClose(st.YY, want.yy, 1e-12) {
		t.Errorf("%s: YY = %v, want %v", name, st.YY, want.yy)
	}
	if !relClose(st.SSE, want.sse, 1e-12) {
		t.Errorf("%s: SSE = %v, want %v", name, st.SSE, want.sse)
	}
	if st.Flips != flips {
		t.Errorf("%s: Flips = %d, want %d", name, st.Flips, flips)
	}
}

// TestComputeMatchesNaive runs a sequence of requests through one engine
// (first iteration, the next ones with Prev the last request's weights, a
// request whose Prev is older, a repeated request, and different k on the
// same partitions) and compares every statistic with the dense reference.
func TestComputeMatchesNaive(t *testing.T) {
	const seed = 41
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	d := 4
	ks := []int{3, 1, 9, 3}
	// Draw all weight sequences first so the data avoid ties for all of them.
	type seq struct {
		signs []float64
		us    [][]float64
	}
	var seqs []seq
	var all [][]float64
	for _, k := range ks {
		s := seq{signs: randSigns(rng, k)}
		u := randNormal(rng, k*d)
		for step := 0; step < 4; step++ {
			s.us = append(s.us, u)
			next := make([]float64, len(u))
			for i := range u {
				next[i] = u[i] + 0.4*rng.NormFloat64()
			}
			u = next
		}
		seqs = append(seqs, s)
		all = append(all, s.us...)
	}
	rows := []int{300, 0, 129, 7}
	var parts []*shard.Partition
	for id, n := range rows {
		// Dead rows for the first weights of one sequence per partition.
		ws := append([][]float64{seqs[id%len(seqs)].us[0]}, all...)
		parts = append(parts, &shard.Partition{ID: id + 10, Rows: n, D: d, X: randRows(rng, n, d, ws...), Y: randNormal(rng, n)})
	}
	eng, err := shard.NewEngine(parts[2], parts[0], parts[3], parts[1])
	if err != nil {
		t.Fatal(err)
	}
	if got := eng.Partitions(); !slices.Equal(got, []int{10, 11, 12, 13}) {
		t.Fatalf("Partitions = %v", got)
	}
	deadSeen := false
	for si, s := range seqs {
		type step struct {
			iter    int
			u, prev []float64
		}
		steps := []step{
			{0, s.us[0], nil},
			{1, s.us[1], s.us[0]},
			{2, s.us[2], s.us[1]},
			{3, s.us[3], s.us[0]}, // Prev is not the last request's weights
			{3, s.us[3], s.us[0]}, // repeated
			{4, s.us[1], s.us[3]},
		}
		for _, sp := range steps {
			req := &shard.Request{Iter: sp.iter, D: d, Signs: s.signs, U: sp.u, Prev: sp.prev}
			for _, p := range parts {
				name := fmt.Sprintf("seq %d (k=%d) iter %d partition %d", si, len(s.signs), sp.iter, p.ID)
				st, err := eng.Compute(req, p.ID)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				want := naiveStats(p.X, p.Y, d, sp.u, s.signs)
				flips := int64(-1)
				if sp.prev != nil {
					flips = naiveFlips(want, naiveStats(p.X, p.Y, d, sp.prev, s.signs))
				}
				checkStats(t, name, st, req, p, want, flips)
				for i := range want.active {
					if !slices.Contains(want.active[i], true) && dot(p.X[i*d:(i+1)*d], p.X[i*d:(i+1)*d]) > 0 {
						deadSeen = true
					}
				}
			}
		}
	}
	if !deadSeen {
		t.Error("test data has no nonzero row without an active neuron")
	}
}

func TestComputeDeterministicAndConcurrent(t *testing.T) {
	const seed = 42
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	d, k, P := 5, 3, 6
	signs := []float64{1, -1, 1}
	u0, u1 := randNormal(rng, k*d), randNormal(rng, k*d)
	var parts []*shard.Partition
	for id := 0; id < P; id++ {
		n := 50 + 13*id
		parts = append(parts, &shard.Partition{ID: id, Rows: n, D: d, X: randRows(rng, n, d, u0, u1), Y: randNormal(rng, n)})
	}
	req := &shard.Request{Iter: 1, D: d, Signs: signs, U: u1, Prev: u0}
	seqEng, _ := shard.NewEngine(parts...)
	want := make([]*shard.Stats, P)
	for id := range want {
		var err error
		if want[id], err = seqEng.Compute(req, id); err != nil {
			t.Fatal(err)
		}
	}
	for _, par := range []int{0, 1, 2} { // 0: NewEngine's default
		conEng, _ := shard.NewEngine(parts...)
		if par > 0 {
			conEng.SetParallel(par)
		}
		checkConcurrent(t, conEng, req, want)
	}
}

// checkConcurrent computes every partition of want twice at once with eng
// and checks the results are the same bits as want.
func checkConcurrent(t *testing.T, conEng *shard.Engine, req *shard.Request, want []*shard.Stats) {
	t.Helper()
	P := len(want)
	got := make([]*shard.Stats, 2*P)
	errs := make([]error, 2*P)
	var wg sync.WaitGroup
	for j := 0; j < 2*P; j++ { // every partition twice at once
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[j], errs[j] = conEng.Compute(req, j%P)
		}()
	}
	wg.Wait()
	for j := range got {
		if errs[j] != nil {
			t.Fatal(errs[j])
		}
		w := want[j%P]
		g := got[j]
		same := g.YY == w.YY && g.SSE == w.SSE && g.Flips == w.Flips && g.Rows == w.Rows
		for i := range w.Gram {
			same = same && math.Float64bits(g.Gram[i]) == math.Float64bits(w.Gram[i])
		}
		for i := range w.R {
			same = same && math.Float64bits(g.R[i]) == math.Float64bits(w.R[i])
		}
		if !same {
			t.Errorf("partition %d: concurrent statistics not bit-identical to sequential ones", j%P)
		}
	}
	// The next call's statistics reuse these buffers, holding other
	// partitions' values: they must not leak into its results.
	for _, g := range got {
		g.Release()
	}
}

func TestComputeErrors(t *testing.T) {
	d := 3
	p := &shard.Partition{ID: 2, Rows: 2, D: d, X: []float64{1, 2, 3, 4, 5, 6}, Y: []float64{1, 2}}
	eng, err := shard.NewEngine(p)
	if err != nil {
		t.Fatal(err)
	}
	if eng.Partition(2) != p || eng.Partition(0) != nil {
		t.Error("Partition lookup wrong")
	}
	good := shard.Request{Iter: 0, D: d, Signs: []float64{1, -1}, U: make([]float64, 6)}
	if _, err := eng.Compute(&good, 2); err != nil {
		t.Fatalf("good request: %v", err)
	}
	if _, err := eng.Compute(&good, 3); !errors.Is(err, shard.ErrNoPartition) {
		t.Errorf("unknown partition: err = %v, want ErrNoPartition", err)
	}
	bad := map[string]func(r *shard.Request){
		"negative iteration": func(r *shard.Request) { r.Iter = -1 },
		"no signs":           func(r *shard.Request) { r.Signs = nil; r.U = nil },
		"sign 0.5":           func(r *shard.Request) { r.Signs = []float64{1, 0.5} },
		"short U":            func(r *shard.Request) { r.U = r.U[:5] },
		"short Prev":         func(r *shard.Request) { r.Prev = make([]float64, 5) },
		"NaN U":              func(r *shard.Request) { r.U = []float64{0, 0, math.NaN(), 0, 0, 0} },
		"Inf Prev":           func(r *shard.Request) { r.Prev = []float64{0, 0, math.Inf(-1), 0, 0, 0} },
		"d mismatch":         func(r *shard.Request) { r.D = 2; r.U = make([]float64, 4) },
		"d zero":             func(r *shard.Request) { r.D = 0; r.U = nil },
	}
	for name, f := range bad {
		r := good
		r.Signs = slices.Clone(good.Signs)
		r.U = slices.Clone(good.U)
		f(&r)
		if _, err := eng.Compute(&r, 2); !errors.Is(err, shard.ErrRequest) {
			t.Errorf("%s: err = %v, want ErrRequest", name, err)
		}
	}
	if _, err := shard.NewEngine(p, &shard.Partition{ID: 2}); err == nil {
		t.Error("NewEngine accepted a repeated partition ID")
	}
}

func TestStatsValidate(t *testing.T) {
	m := 2
	mk := func() *shard.Stats {
		return &shard.Stats{Iter: 1, Partition: 0, Rows: 3, M: m, Gram: make([]float64, 3), R: make([]float64, 2), Flips: 0}
	}
	if err := mk().Validate(m); err != nil {
		t.Fatalf("good stats: %v", err)
	}
	bad := map[string]func(s *shard.Stats){
		"m":          func(s *shard.Stats) { s.M = 3 },
		"short Gram": func(s *shard.Stats) { s.Gram = s.Gram[:2] },
		"long R":     func(s *shard.Stats) { s.R = make([]float64, 3) },
		"rows":       func(s *shard.Stats) { s.Rows = -1 },
		"NaN Gram":   func(s *shard.Stats) { s.Gram[1] = math.NaN() },
		"Inf R":      func(s *shard.Stats) { s.R[0] = math.Inf(1) },
		"NaN YY":     func(s *shard.Stats) { s.YY = math.NaN() },
		"Inf SSE":    func(s *shard.Stats) { s.SSE = math.Inf(1) },
		"flips":      func(s *shard.Stats) { s.Flips = -2 },
	}
	for name, f := range bad {
		s := mk()
		f(s)
		if err := s.Validate(m); err == nil {
			t.Errorf("%s: Validate accepted bad stats", name)
		}
		// ValidateShape checks everything but the values; statistics
		// marked as checked by their producer are not read again.
		values := strings.HasPrefix(name, "NaN") || strings.HasPrefix(name, "Inf")
		if err := s.ValidateShape(m); (err == nil) != values {
			t.Errorf("%s: ValidateShape: %v", name, err)
		}
		s.MarkFiniteChecked()
		if err := s.Validate(m); (err == nil) != values {
			t.Errorf("%s: Validate of checked stats: %v", name, err)
		}
	}
}

func TestLoad(t *testing.T) {
	src, err := data.ParseSynthetic("model=sum,d=3,k=2,n=10,seed=5")
	if err != nil {
		t.Fatal(err)
	}
	allX := make([]float64, 10*3)
	allY := make([]float64, 10)
	if err := src.Read(0, 10, allX, allY); err != nil {
		t.Fatal(err)
	}
	for _, bias := range []bool{false, true} {
		covered := 0
		for id := 0; id < 3; id++ {
			p, err := shard.Load(src, 3, id, bias)
			if err != nil {
				t.Fatal(err)
			}
			lo, hi := data.Bounds(10, 3, id)
			wantD := 3
			if bias {
				wantD = 4
			}
			if p.ID != id || p.Rows != hi-lo || p.D != wantD || len(p.X) != p.Rows*p.D || len(p.Y) != p.Rows {
				t.Fatalf("bias=%v partition %d: %+v", bias, id, p)
			}
			for i := 0; i < p.Rows; i++ {
				for j := 0; j < 3; j++ {
					if p.X[i*p.D+j] != allX[(lo+i)*3+j] {
						t.Fatalf("bias=%v partition %d row %d: wrong features", bias, id, i)
					}
				}
				if bias && p.X[i*p.D+3] != 1 {
					t.Fatalf("partition %d row %d: bias feature %v", id, i, p.X[i*p.D+3])
				}
				if p.Y[i] != allY[lo+i] {
					t.Fatalf("partition %d row %d: wrong label", id, i)
				}
			}
			covered += p.Rows
		}
		if covered != 10 {
			t.Errorf("partitions cover %d rows, want 10", covered)
		}
	}
	for _, c := range [][2]int{{0, 0}, {3, 3}, {3, -1}} {
		if _, err := shard.Load(src, c[0], c[1], false); err == nil {
			t.Errorf("Load(parts=%d, id=%d) accepted", c[0], c[1])
		}
	}
}

// TestPreviousPatternsMissSameBits computes iteration-1 statistics with the
// previous patterns cached (the engine computed iteration 0) and without
// (a fresh engine, as a streaming engine always is): the same bits, for
// pattern words of one and two words.
func TestPreviousPatternsMissSameBits(t *testing.T) {
	const seed = 61
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for _, k := range []int{1, 5, 32, 33} {
		d, n := 6, 700
		u0, u1 := randNormal(rng, k*d), randNormal(rng, k*d)
		p := &shard.Partition{ID: 0, Rows: n, D: d, X: randRows(rng, n, d, u0, u1), Y: randNormal(rng, n)}
		signs := randSigns(rng, k)
		warm, _ := shard.NewEngine(p)
		if _, err := warm.Compute(&shard.Request{Iter: 0, D: d, Signs: signs, U: u0}, 0); err != nil {
			t.Fatal(err)
		}
		req := &shard.Request{Iter: 1, D: d, Signs: signs, U: u1, Prev: u0}
		hit, err := warm.Compute(req, 0)
		if err != nil {
			t.Fatal(err)
		}
		cold, _ := shard.NewEngine(p)
		miss, err := cold.Compute(req, 0)
		if err != nil {
			t.Fatal(err)
		}
		same := hit.Flips == miss.Flips && math.Float64bits(hit.SSE) == math.Float64bits(miss.SSE) &&
			slices.EqualFunc(hit.Gram, miss.Gram, func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) })
		if !same || hit.Flips <= 0 {
			t.Fatalf("k=%d: cached previous patterns give flips %d, SSE %v; recomputed %d, %v; Gram equal %v",
				k, hit.Flips, hit.SSE, miss.Flips, miss.SSE, slices.Equal(hit.Gram, miss.Gram))
		}
	}
}
