package shard_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"altmin/data"
	"altmin/linalg"
	"altmin/model"
	"altmin/msg"
	"altmin/shard"
)

// float32Rows draws rows as randRows does and rounds them to float32
// values, so that float64 and float32 storage hold the same values.
func float32Rows(rng *rand.Rand, n, d int, ws ...[]float64) []float64 {
	x := randRows(rng, n, d, ws...)
	for i, v := range x {
		x[i] = float64(float32(v))
	}
	return x
}

func toX32(x []float64) []float32 {
	x32 := make([]float32, len(x))
	for i, v := range x {
		x32[i] = float32(v)
	}
	return x32
}

// TestFloat32StorageSameBits checks that a partition stored as float32
// gives the same bits as the same float32-exact values stored as float64:
// the statistics of a sequence of iterations (with and without cached
// previous patterns, several chunks of predictions), the moment sums of the
// tensor initialization, and that both agree with the dense reference.
func TestFloat32StorageSameBits(t *testing.T) {
	const seed = 61
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	const n, d, k = 9001, 5, 3 // more rows than one chunk of predictions
	signs := randSigns(rng, k)
	us := [][]float64{randNormal(rng, k*d), randNormal(rng, k*d), randNormal(rng, k*d)}
	x := float32Rows(rng, n, d, us...)
	y := randNormal(rng, n)
	p64 := &shard.Partition{ID: 4, Rows: n, D: d, X: x, Y: y}
	p32 := &shard.Partition{ID: 4, Rows: n, D: d, X32: toX32(x), Y: y}
	if p64.Storage() != shard.Float64 || p32.Storage() != shard.Float32 {
		t.Fatalf("storages %q, %q", p64.Storage(), p32.Storage())
	}
	e64, err := shard.NewEngine(p64)
	if err != nil {
		t.Fatal(err)
	}
	e32, err := shard.NewEngine(p32)
	if err != nil {
		t.Fatal(err)
	}
	reqs := []*msg.StatsRequest{
		{Iter: 0, D: d, Signs: signs, U: us[0]},
		{Iter: 1, D: d, Signs: signs, U: us[1], Prev: us[0]},
		{Iter: 2, D: d, Signs: signs, U: us[2], Prev: us[0]}, // Prev not cached
	}
	for _, req := range reqs {
		a := fetch[*msg.Stats](t, e64, req, 4)
		b := fetch[*msg.Stats](t, e32, req, 4)
		if !samePartial(a, b) {
			t.Fatalf("iteration %d: float32 storage differs from float64 (SSE %v / %v, flips %d / %d)", req.Iter, a.SSE, b.SSE, a.Flips, b.Flips)
		}
		var flips int64 = -1
		want := naiveStats(x, y, d, req.U, signs)
		if req.Prev != nil {
			flips = naiveFlips(want, naiveStats(x, y, d, req.Prev, signs))
		}
		checkStats(t, "float32", b, req, p32, want, flips)

		// The residual sum, accumulated over chunks of rows, has the bits
		// of the plain sum over all rows in order.
		pat := linalg.NewPatterns(n, k)
		pred := make([]float64, n)
		linalg.ComputePatterns(pat, pred, x, d, req.U, signs)
		var sse, yy float64
		for i, yi := range y {
			yy += yi * yi
			r := pred[i] - yi
			sse += r * r
		}
		if b.SSE != sse || b.YY != yy {
			t.Fatalf("iteration %d: SSE %v, YY %v; the sum over all rows gives %v, %v", req.Iter, b.SSE, b.YY, sse, yy)
		}
	}

	// The moment sums of the tensor initialization and the statistics of
	// a deep network: the same bits in both storages.
	base := &msg.Baseline{C: 0.5, B: randNormal(rng, d), L: randNormal(rng, 2*d), S: []float64{1, -0.5}}
	net := data.RandomNet(model.NewNet(d, 4, 2), seed)
	others := []msg.Request{
		&msg.Moments12Request{D: d, Order: 1, Base: base},
		&msg.Moments12Request{D: d, Order: 2, Base: base},
		&msg.Moment4Request{D: d, K: 2, V: randNormal(rng, d*2), Base: base},
		&msg.DeepRequest{Step: 1, Net: net, Layers: []int{1, 2}, Joint: true, Prev: data.PerturbNet(net, 0.1, 2)},
	}
	for _, req := range others {
		if a, b := fetch[msg.Partial](t, e64, req, 4), fetch[msg.Partial](t, e32, req, 4); !samePartial(a, b) {
			t.Fatalf("%s request: float32 storage differs from float64", req.Kind())
		}
	}
}

// TestLoadAs loads planted float32 data in both storages, with and without
// the bias feature, and checks the rows against the source.
func TestLoadAs(t *testing.T) {
	src, err := data.ParseSynthetic("model=sum,d=3,k=2,n=70000,seed=5,dtype=float32")
	if err != nil {
		t.Fatal(err)
	}
	const n, P = 70000, 1 // one partition of more rows than a load chunk
	allX := make([]float64, n*3)
	allY := make([]float64, n)
	if err := src.Read(0, n, allX, allY); err != nil {
		t.Fatal(err)
	}
	// The same rows from .npy files: float32 features are read into
	// float32 storage without a conversion (data.Float32Reader).
	sources := map[string]data.Source{"synthetic": src}
	for _, f32 := range []bool{false, true} {
		dir := t.TempDir()
		xp, yp := dir+"/x.npy", dir+"/y.npy"
		if err := data.WriteSource(xp, yp, src, f32); err != nil {
			t.Fatal(err)
		}
		s, err := data.OpenNPY(xp, yp)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		sources[fmt.Sprintf("npy float32=%v", f32)] = s
	}
	for name, src := range sources {
		for _, bias := range []bool{false, true} {
			checkLoadAs(t, fmt.Sprintf("%s, bias=%v", name, bias), src, bias, allX, allY)
		}
	}
	if _, err := shard.LoadAs(src, P, 0, false, "float16"); !errors.Is(err, shard.ErrStorage) {
		t.Errorf("storage float16: %v, want ErrStorage", err)
	}
	if _, err := shard.ParseStorage("double"); !errors.Is(err, shard.ErrStorage) {
		t.Errorf("ParseStorage(double): %v, want ErrStorage", err)
	}
}

// checkLoadAs loads the one partition of src in both storages and checks
// the rows and labels against allX, allY (3 features per row).
func checkLoadAs(t *testing.T, name string, src data.Source, bias bool, allX, allY []float64) {
	t.Helper()
	const P = 1
	n := len(allY)
	p64, err := shard.LoadAs(src, P, 0, bias, shard.Float64)
	if err != nil {
		t.Fatal(err)
	}
	p32, err := shard.LoadAs(src, P, 0, bias, shard.Float32)
	if err != nil {
		t.Fatal(err)
	}
	dd := 3
	if bias {
		dd = 4
	}
	if p32.X != nil || len(p32.X32) != n*dd || p64.X32 != nil || len(p64.X) != n*dd || p32.D != dd {
		t.Fatalf("%s: float32 partition holds %d/%d values, float64 %d/%d", name, len(p32.X), len(p32.X32), len(p64.X), len(p64.X32))
	}
	if got, want := p32.Bytes(), int64(n*dd*4+n*8); got != want {
		t.Errorf("%s: float32 partition holds %d bytes, want %d", name, got, want)
	}
	row := make([]float64, dd)
	for i := 0; i < n; i++ {
		r32, r64 := p32.Row(i, row), p64.Row(i, nil)
		if !slices.Equal(r32, r64) || !slices.Equal(r64[:3], allX[i*3:(i+1)*3]) || bias && r64[3] != 1 {
			t.Fatalf("%s, row %d: float32 %v, float64 %v, source %v", name, i, r32, r64, allX[i*3:(i+1)*3])
		}
	}
	if !slices.Equal(p32.Y, allY) || !slices.Equal(p64.Y, allY) {
		t.Fatalf("%s: labels differ from the source", name)
	}
}

// bigSource is a one-feature source with a value beyond the float32 range
// at row 5.
type bigSource struct{ n int }

func (s bigSource) Info() data.Info { return data.Info{N: s.n, D: 1, Desc: "big"} }

func (s bigSource) Read(lo, hi int, x, y []float64) error {
	for i := lo; i < hi; i++ {
		x[i-lo], y[i-lo] = float64(i), 1
		if i == 5 {
			x[i-lo] = 1e300
		}
	}
	return nil
}

// TestLoadFloat32Range rounds features to float32 when loading (the data
// change) and refuses features beyond the float32 range, naming the row.
func TestLoadFloat32Range(t *testing.T) {
	_, err := shard.LoadAs(bigSource{10}, 1, 0, false, shard.Float32)
	if !errors.Is(err, data.ErrFloat32Range) {
		t.Fatalf("value 1e300: %v, want ErrFloat32Range", err)
	}
	t.Log(err)
	if p, err := shard.LoadAs(bigSource{5}, 1, 0, false, shard.Float32); err != nil || p.Rows != 5 {
		t.Fatalf("rows 0..4: %v", err)
	}
	src, err := data.ParseSynthetic("model=relu,d=2,n=10,seed=1")
	if err != nil {
		t.Fatal(err)
	}
	p, err := shard.LoadAs(src, 1, 0, false, shard.Float32)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float64, 20)
	if err := src.Read(0, 10, x, make([]float64, 10)); err != nil {
		t.Fatal(err)
	}
	changed := 0
	for i, v := range x {
		if p.X32[i] != float32(v) {
			t.Fatalf("feature %d: stored %v for %v", i, p.X32[i], v)
		}
		if float64(p.X32[i]) != v {
			changed++
		}
	}
	if changed == 0 {
		t.Error("float64 normal draws unchanged by float32 storage")
	}
}

// TestNewEngineChecksPartitions refuses partitions with both storages or
// sizes that disagree.
func TestNewEngineChecksPartitions(t *testing.T) {
	for _, p := range []*shard.Partition{
		{ID: 1, Rows: 1, D: 2, X: []float64{1, 2}, X32: []float32{1, 2}, Y: []float64{1}},
		{ID: 1, Rows: 2, D: 2, X32: []float32{1, 2}, Y: []float64{1, 2}},
		{ID: 1, Rows: 1, D: 2, X: []float64{1, 2}, Y: nil},
		{ID: 1, Rows: -1, D: 2},
	} {
		if _, err := shard.NewEngine(p); err == nil {
			t.Errorf("partition %+v accepted", p)
		}
	}
}

// BenchmarkComputeStorage times one iteration of a partition (patterns,
// residuals, flips against cached patterns, statistics) with float64 and
// float32 storage of the same float32-exact rows, at the shape of the
// very-large-n run: n = 1e6, d = 20, k = 4.
func BenchmarkComputeStorage(b *testing.B) {
	const n, d, k = 1000000, 20, 4
	rng := rand.New(rand.NewPCG(7, 0))
	x := make([]float64, n*d)
	for i := range x {
		x[i] = float64(float32(rng.NormFloat64()))
	}
	y := randNormal(rng, n)
	signs := randSigns(rng, k)
	u0, u1 := randNormal(rng, k*d), randNormal(rng, k*d)
	for _, st := range []shard.Storage{shard.Float64, shard.Float32} {
		p := &shard.Partition{ID: 0, Rows: n, D: d, X: x, Y: y}
		if st == shard.Float32 {
			p = &shard.Partition{ID: 0, Rows: n, D: d, X32: toX32(x), Y: y}
		}
		e, err := shard.NewEngine(p)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("n=%d,d=%d,k=%d,%s", n, d, k, st), func(b *testing.B) {
			us := [2][]float64{u0, u1}
			it := 0
			for b.Loop() {
				req := &msg.StatsRequest{Iter: it, D: d, Signs: signs, U: us[it%2]}
				if it > 0 {
					req.Prev = us[(it+1)%2]
				}
				p, err := e.Fetch(context.Background(), req, msg.Leaf(0))
				if err != nil {
					b.Fatal(err)
				}
				p.Release(nil)
				it++
			}
		})
	}
}
