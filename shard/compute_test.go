package shard_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"gonum.org/v1/gonum/mat"

	"altmin/data"
	"altmin/linalg"
	"altmin/model"
	"altmin/msg"
	"altmin/shard"
)

// fetch returns eng's partial of partition id for req as its concrete type
// T, after checking that it is a valid answer to req (msg.Partial.Check):
// every partial an engine computes must pass the check a core makes.
func fetch[T msg.Partial](t testing.TB, eng *shard.Engine, req msg.Request, id int) T {
	t.Helper()
	p, err := eng.Fetch(context.Background(), req, msg.Leaf(id))
	if err != nil {
		t.Fatalf("%s request of round %d, partition %d: %v", req.Kind(), req.Round(), id, err)
	}
	if err := p.Check(req); err != nil {
		t.Fatalf("%s request of round %d, partition %d: the engine's answer fails its check: %v", req.Kind(), req.Round(), id, err)
	}
	if p.Span() != msg.Leaf(id) {
		t.Fatalf("%s request, partition %d: answer for %v", req.Kind(), id, p.Span())
	}
	v, ok := p.(T)
	if !ok {
		t.Fatalf("%s request: answer of type %T", req.Kind(), p)
	}
	return v
}

// fetchErr returns the error of eng's Fetch (and fails the test when it
// returns a partial with an error, or neither).
func fetchErr(t testing.TB, eng *shard.Engine, req msg.Request, id int) error {
	t.Helper()
	p, err := eng.Fetch(context.Background(), req, msg.Leaf(id))
	if (p == nil) == (err == nil) {
		t.Fatalf("Fetch returned partial %v with error %v", p, err)
	}
	return err
}

func bitsEqual(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) })
}

// samePartial reports whether two partials of the same kind hold the same
// bits.
func samePartial(a, b msg.Partial) bool {
	f := func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) }
	if a.Kind() != b.Kind() || a.Round() != b.Round() || a.Span() != b.Span() {
		return false
	}
	switch a := a.(type) {
	case *msg.Stats:
		b := b.(*msg.Stats)
		return a.Rows == b.Rows && a.M == b.M && a.Flips == b.Flips && f(a.YY, b.YY) && f(a.SSE, b.SSE) && bitsEqual(a.Gram, b.Gram) && bitsEqual(a.R, b.R)
	case *msg.DeepStats:
		b := b.(*msg.DeepStats)
		same := a.Rows == b.Rows && a.Flips == b.Flips && f(a.YY, b.YY) && f(a.SSE, b.SSE) && len(a.Systems) == len(b.Systems)
		for i := 0; same && i < len(a.Systems); i++ {
			x, y := a.Systems[i], b.Systems[i]
			same = slices.Equal(x.Layers, y.Layers) && x.M == y.M && bitsEqual(x.Gram, y.Gram) && bitsEqual(x.R, y.R)
		}
		return same
	case *msg.Moments12:
		b := b.(*msg.Moments12)
		return a.Order == b.Order && a.Rows == b.Rows && a.D == b.D && f(a.SumY, b.SumY) && bitsEqual(a.SumYX, b.SumYX) && bitsEqual(a.SumX, b.SumX) && bitsEqual(a.SumYXX, b.SumYXX)
	case *msg.Moment4:
		b := b.(*msg.Moment4)
		return a.Rows == b.Rows && a.K == b.K && bitsEqual(a.Sum, b.Sum)
	}
	return false
}

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

func checkStats(t *testing.T, name string, st *msg.Stats, req *msg.StatsRequest, part *shard.Partition, want naive, flips int64) {
	t.Helper()
	m := part.D * len(req.Signs)
	if st.Iter != req.Iter || st.Partition != part.ID || st.Rows != part.Rows || st.M != m {
		t.Fatalf("%s: header iter %d partition %d rows %d m %d, want %d %d %d %d", name, st.Iter, st.Partition, st.Rows, st.M, req.Iter, part.ID, part.Rows, m)
	}
	if err := st.Check(req); err != nil {
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
			req := &msg.StatsRequest{Iter: sp.iter, D: d, Signs: s.signs, U: sp.u, Prev: sp.prev}
			for _, p := range parts {
				name := fmt.Sprintf("seq %d (k=%d) iter %d partition %d", si, len(s.signs), sp.iter, p.ID)
				st := fetch[*msg.Stats](t, eng, req, p.ID)
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

// TestComputeDeterministicAndConcurrent computes every kind of partial of
// every partition with one engine, one request at a time, then with fresh
// engines every partition twice at once, at several parallelisms: the same
// bits. The concurrent engines take their Gram buffers from one pool that
// each round's partials go back to, so buffers holding other partitions'
// values are reused: they must not leak into results.
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
	net := data.RandomNet(model.NewNet(d, 4, 3), seed)
	reqs := []msg.Request{
		&msg.StatsRequest{Iter: 1, D: d, Signs: signs, U: u1, Prev: u0},
		&msg.DeepRequest{Step: 1, Net: net, Layers: []int{1, 2}, Joint: true, Prev: data.PerturbNet(net, 0.2, 1)},
		&msg.DeepRequest{Step: 1, Net: net, Layers: []int{1, 2}},
		&msg.Moments12Request{D: d, Order: 2, Base: &msg.Baseline{C: 0.5, B: randNormal(rng, d)}},
		&msg.Moment4Request{D: d, K: 2, V: randNormal(rng, 2*d)},
	}
	seqEng, _ := shard.NewEngine(parts...)
	want := make([][]msg.Partial, len(reqs))
	for r, req := range reqs {
		for id := 0; id < P; id++ {
			want[r] = append(want[r], fetch[msg.Partial](t, seqEng, req, id))
		}
	}
	pool := msg.NewPool()
	for _, par := range []int{0, 1, 2} { // 0: NewEngine's default
		conEng, _ := shard.NewEngine(parts...)
		if par > 0 {
			conEng.SetParallel(par)
		}
		conEng.SetPool(pool)
		checkConcurrent(t, conEng, reqs, want)
	}
	if n, _ := pool.Idle(); n == 0 {
		t.Error("no buffer went back to the pool")
	}
}

// checkConcurrent computes every partition of want twice at once with eng,
// for every request, and checks the results are the same bits as want.
func checkConcurrent(t *testing.T, conEng *shard.Engine, reqs []msg.Request, want [][]msg.Partial) {
	t.Helper()
	P := len(want[0])
	type job struct{ r, p int }
	var jobs []job
	for r := range reqs {
		for j := 0; j < 2*P; j++ { // every partition twice at once
			jobs = append(jobs, job{r, j % P})
		}
	}
	got := make([]msg.Partial, len(jobs))
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, jb := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = conEng.Fetch(context.Background(), reqs[jb.r], msg.Leaf(jb.p))
		}()
	}
	wg.Wait()
	for i, jb := range jobs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !samePartial(got[i], want[jb.r][jb.p]) {
			t.Errorf("%s request, partition %d: concurrent partial not bit-identical to the sequential one", reqs[jb.r].Kind(), jb.p)
		}
	}
	// The next call's statistics reuse these buffers, holding other
	// partitions' values: they must not leak into its results.
	for _, g := range got {
		g.Release(conEng.Pool())
	}
}

// TestFetchErrors: Fetch refuses, for every kind, a partition it does not
// hold, a request for rows of another width and a done context, and for
// the statistics of a 1-hidden-layer model every malformed request (wrapping
// msg.ErrRequest, or msg.ErrTooLarge for sizes beyond the limits).
func TestFetchErrors(t *testing.T) {
	d := 3
	p := &shard.Partition{ID: 2, Rows: 2, D: d, X: []float64{1, 2, 3, 4, 5, 6}, Y: []float64{1, 2}}
	eng, err := shard.NewEngine(p)
	if err != nil {
		t.Fatal(err)
	}
	if eng.Partition(2) != p || eng.Partition(0) != nil {
		t.Error("Partition lookup wrong")
	}
	good := msg.StatsRequest{Iter: 0, D: d, Signs: []float64{1, -1}, U: make([]float64, 6)}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []struct {
		good, wide msg.Request
	}{
		{&good, &msg.StatsRequest{Iter: 0, D: d + 1, Signs: []float64{1}, U: make([]float64, d+1)}},
		{&msg.DeepRequest{Net: data.RandomNet(model.NewNet(d, 2), 1), Layers: []int{1}}, &msg.DeepRequest{Net: data.RandomNet(model.NewNet(d-1, 2), 1)}},
		{&msg.Moments12Request{D: d, Order: 2}, &msg.Moments12Request{D: d - 1, Order: 1}},
		{&msg.Moment4Request{D: d, K: 2, V: make([]float64, 2*d)}, &msg.Moment4Request{D: d + 1, K: 1, V: make([]float64, d+1)}},
	} {
		kind := c.good.Kind()
		fetch[msg.Partial](t, eng, c.good, 2)
		if err := fetchErr(t, eng, c.good, 3); !errors.Is(err, msg.ErrNoPartition) {
			t.Errorf("%s: unknown partition: err = %v, want ErrNoPartition", kind, err)
		}
		if err := fetchErr(t, eng, c.wide, 2); !errors.Is(err, msg.ErrRequest) {
			t.Errorf("%s: request for another width: err = %v, want ErrRequest", kind, err)
		}
		if _, err := eng.Fetch(cancelled, c.good, msg.Leaf(2)); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: cancelled context: err = %v, want context.Canceled", kind, err)
		}
	}
	bad := map[string]struct {
		edit func(r *msg.StatsRequest)
		want error
	}{
		"negative iteration":  {func(r *msg.StatsRequest) { r.Iter = -1 }, msg.ErrRequest},
		"no signs":            {func(r *msg.StatsRequest) { r.Signs = nil; r.U = nil }, msg.ErrRequest},
		"sign 0.5":            {func(r *msg.StatsRequest) { r.Signs = []float64{1, 0.5} }, msg.ErrRequest},
		"short U":             {func(r *msg.StatsRequest) { r.U = r.U[:5] }, msg.ErrRequest},
		"short Prev":          {func(r *msg.StatsRequest) { r.Iter, r.Prev = 1, make([]float64, 5) }, msg.ErrRequest},
		"Prev at iteration 0": {func(r *msg.StatsRequest) { r.Prev = make([]float64, 6) }, msg.ErrRequest},
		"no Prev after 0":     {func(r *msg.StatsRequest) { r.Iter = 1 }, msg.ErrRequest},
		"NaN U":               {func(r *msg.StatsRequest) { r.U = []float64{0, 0, math.NaN(), 0, 0, 0} }, msg.ErrRequest},
		"Inf Prev":            {func(r *msg.StatsRequest) { r.Iter, r.Prev = 1, []float64{0, 0, math.Inf(-1), 0, 0, 0} }, msg.ErrRequest},
		"d mismatch":          {func(r *msg.StatsRequest) { r.D = 2; r.U = make([]float64, 4) }, msg.ErrRequest},
		"d zero":              {func(r *msg.StatsRequest) { r.D = 0; r.U = nil }, msg.ErrRequest},
		"d*k > MaxM":          {func(r *msg.StatsRequest) { r.D, r.U = msg.MaxM, nil }, msg.ErrTooLarge},
	}
	for name, c := range bad {
		r := good
		r.Signs = slices.Clone(good.Signs)
		r.U = slices.Clone(good.U)
		c.edit(&r)
		if err := fetchErr(t, eng, &r, 2); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", name, err, c.want)
		}
	}
	if _, err := shard.NewEngine(p, &shard.Partition{ID: 2}); err == nil {
		t.Error("NewEngine accepted a repeated partition ID")
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
		fetch[*msg.Stats](t, warm, &msg.StatsRequest{Iter: 0, D: d, Signs: signs, U: u0}, 0)
		req := &msg.StatsRequest{Iter: 1, D: d, Signs: signs, U: u1, Prev: u0}
		hit := fetch[*msg.Stats](t, warm, req, 0)
		cold, _ := shard.NewEngine(p)
		miss := fetch[*msg.Stats](t, cold, req, 0)
		same := samePartial(hit, miss)
		if !same || hit.Flips <= 0 {
			t.Fatalf("k=%d: cached previous patterns give flips %d, SSE %v; recomputed %d, %v; Gram equal %v",
				k, hit.Flips, hit.SSE, miss.Flips, miss.SSE, slices.Equal(hit.Gram, miss.Gram))
		}
	}
}
