package tensorinit_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"altmin/data"
	"altmin/model"
	"altmin/msg"
	"altmin/round"
	"altmin/shard"
	"altmin/tensorinit"
)

// hermite returns He_n(g), the probabilists' Hermite polynomial.
func hermite(n int, g float64) float64 {
	switch n {
	case 0:
		return 1
	case 1:
		return g
	case 2:
		return g*g - 1
	case 3:
		return g*g*g - 3*g
	case 4:
		return g*g*g*g - 6*g*g + 3
	}
	panic("hermite: order")
}

// TestHermiteCoefficients checks c_n = E[relu(g) He_n(g)] for n = 1..4 by
// Simpson quadrature of the integral over g > 0 (tight) and by seeded Monte
// Carlo (within five standard errors).
func TestHermiteCoefficients(t *testing.T) {
	want := []float64{tensorinit.C1, tensorinit.C2, tensorinit.C3, tensorinit.C4}
	if want[0] != 0.5 || math.Abs(want[1]-1/math.Sqrt(2*math.Pi)) > 1e-16 || want[2] != 0 || want[3] != -want[1] {
		t.Fatalf("constants %v are not 1/2, 1/sqrt(2pi), 0, -1/sqrt(2pi)", want)
	}
	const steps, top = 20000, 16.0 // the Gaussian tail beyond 16 is < 1e-50
	h := top / steps
	for n := 1; n <= 4; n++ {
		f := func(g float64) float64 { return g * hermite(n, g) * math.Exp(-g*g/2) / math.Sqrt(2*math.Pi) }
		s := f(0) + f(top)
		for i := 1; i < steps; i++ {
			w := 2.0
			if i%2 == 1 {
				w = 4
			}
			s += w * f(float64(i)*h)
		}
		if got := s * h / 3; math.Abs(got-want[n-1]) > 1e-12 {
			t.Errorf("quadrature c%d = %.15f, want %.15f", n, got, want[n-1])
		}
	}
	const seed, samples = 7, 400000
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	var sum, sq [5]float64
	for i := 0; i < samples; i++ {
		g := rng.NormFloat64()
		if g <= 0 {
			continue
		}
		for n := 1; n <= 4; n++ {
			v := g * hermite(n, g)
			sum[n] += v
			sq[n] += v * v
		}
	}
	for n := 1; n <= 4; n++ {
		mean := sum[n] / samples
		se := math.Sqrt((sq[n]/samples - mean*mean) / samples)
		if math.Abs(mean-want[n-1]) > 5*se {
			t.Errorf("Monte Carlo c%d = %.5f +- %.5f, want %.5f", n, mean, se, want[n-1])
		}
	}
}

// TestMomentIdentities checks, on planted data, that the partition sums
// estimate the population moments the method rests on:
// E[y x] = C1 sum t_q wbar_q, E[y (x x^T - I)] = C2 sum t_q wbar_q wbar_q^T and
// E[(y - b(x)) He4(V^T x)] = C4 sum t_q (V^T wbar_q)^(x)4 for an orthonormal
// V and a quadratic baseline b.
func TestMomentIdentities(t *testing.T) {
	const d, k, n, seed = 4, 2, 400000, 11
	t.Logf("seed %d", seed)
	spec := model.Spec{Kind: model.Sum, D: d, K: k, Signs: []float64{1, -1}}
	w := []float64{0.9, 0.3, -0.2, 0.1, -0.1, 0.8, 0.4, -0.5}
	pl := load(t, teacherSource{spec: spec, w: w, n: n, seed: seed}, spec, w, 1)
	tq := make([]float64, k)
	wbar := make([]float64, k*d)
	for q := 0; q < k; q++ {
		var s float64
		for j := 0; j < d; j++ {
			s += w[q*d+j] * w[q*d+j]
		}
		tq[q] = spec.Signs[q] * math.Sqrt(s)
		for j := 0; j < d; j++ {
			wbar[q*d+j] = w[q*d+j] / math.Sqrt(s)
		}
	}
	m := fetch[*msg.Moments12](t, pl.eng, &msg.Moments12Request{D: d, Order: 2}, 0)
	full := make([]float64, d*d)
	for a := 0; a < d; a++ {
		for b := a; b < d; b++ {
			v := m.SumYXX[a*d-a*(a-1)/2+b-a] / n
			full[a*d+b], full[b*d+a] = v, v
		}
		full[a*d+a] -= m.SumY / n
	}
	m1, want1 := make([]float64, d), make([]float64, d)
	want2 := make([]float64, d*d)
	for a := 0; a < d; a++ {
		m1[a] = m.SumYX[a] / n
		for q := 0; q < k; q++ {
			want1[a] += tensorinit.C1 * tq[q] * wbar[q*d+a]
			for b := 0; b < d; b++ {
				want2[a*d+b] += tensorinit.C2 * tq[q] * wbar[q*d+a] * wbar[q*d+b]
			}
		}
	}
	// Tolerances: about three Monte Carlo standard errors.
	e1, e2 := relDiff(m1, want1), relDiff(full, want2)
	t.Logf("relative deviations: first moment %.4f, second %.4f", e1, e2)
	if e1 > 0.02 {
		t.Errorf("E[y x] off by %.3g relative", e1)
	}
	if e2 > 0.03 {
		t.Errorf("E[y (x x^T - I)] off by %.3g relative", e2)
	}
	// V: an orthonormal basis of the teacher's span (Gram-Schmidt), so
	// that the tensor is large against the Monte Carlo noise.
	v := make([]float64, d*2)
	var h, nn float64
	for j := 0; j < d; j++ {
		h += wbar[j] * wbar[d+j]
	}
	for j := 0; j < d; j++ {
		u := wbar[d+j] - h*wbar[j]
		v[j*2], v[j*2+1] = wbar[j], u
		nn += u * u
	}
	for j := 0; j < d; j++ {
		v[j*2+1] /= math.Sqrt(nn)
	}
	// Population baseline: the Hermite expansion of y up to degree two,
	// sum_q t_q (C0 + C1 wbar_q . x + C2 ((wbar_q . x)^2 - 1) / 2) with
	// C0 = E[relu(g)] = 1/sqrt(2 pi), the quadratic part as L diag(S) L^T
	// with L = [wbar_1 wbar_2].
	base := &msg.Baseline{B: want1, L: make([]float64, d*k), S: make([]float64, k)}
	for q := 0; q < k; q++ {
		base.C += tq[q]/math.Sqrt(2*math.Pi) - tensorinit.C2*tq[q]/2
		base.S[q] = tensorinit.C2 * tq[q] / 2
		for j := 0; j < d; j++ {
			base.L[j*k+q] = wbar[q*d+j]
		}
	}
	m4 := fetch[*msg.Moment4](t, pl.eng, &msg.Moment4Request{D: d, K: 2, V: v, Base: base}, 0)
	got := make([]float64, 16)
	msg.Sym4Unpack(got, m4.Sum, 2)
	want4 := make([]float64, 16)
	for q := 0; q < k; q++ {
		var z [2]float64
		for c := 0; c < 2; c++ {
			for j := 0; j < d; j++ {
				z[c] += v[j*2+c] * wbar[q*d+j]
			}
		}
		for i := 0; i < 16; i++ {
			want4[i] += tensorinit.C4 * tq[q] * z[i>>3&1] * z[i>>2&1] * z[i>>1&1] * z[i&1]
		}
	}
	for i := range got {
		got[i] /= n
	}
	e4 := relDiff(got, want4)
	t.Logf("relative deviation: fourth moment %.4f", e4)
	if e4 > 0.06 {
		t.Errorf("E[(y - b) He4(V^T x)] off by %.3g relative:\n got %.4f\nwant %.4f", e4, got, want4)
	}
}

func relDiff(a, b []float64) float64 {
	var num, den float64
	for i := range a {
		num += (a[i] - b[i]) * (a[i] - b[i])
		den += b[i] * b[i]
	}
	return math.Sqrt(num / den)
}

// fetch returns eng's partial of partition p for req as its concrete type.
func fetch[T msg.Partial](t testing.TB, eng *shard.Engine, req msg.Request, p int) T {
	t.Helper()
	v, err := eng.Fetch(context.Background(), req, msg.Leaf(p))
	if err != nil {
		t.Fatal(err)
	}
	return v.(T)
}

// router is a msg.Fetcher over several engines, each holding some
// partitions.
type router struct{ engines []*shard.Engine }

func (r router) Fetch(ctx context.Context, req msg.Request, s msg.Span) (msg.Partial, error) {
	for _, e := range r.engines {
		if _, _, ok := e.Shape(s.Lo); ok {
			return e.Fetch(ctx, req, s)
		}
	}
	return nil, fmt.Errorf("%w: %v", msg.ErrNoPartition, s)
}

// spanRouter is a router that plans (round.Planner) the largest spans each
// engine holds whole, which its engines sum themselves.
type spanRouter struct {
	router
	parts int
}

func (r spanRouter) Plan(missing []int, parts int) []msg.Span {
	var out []msg.Span
	for _, e := range r.engines {
		out = append(out, msg.Cover(parts, func(p int) bool {
			_, _, ok := e.Shape(p)
			return ok && slices.Contains(missing, p)
		})...)
	}
	return out
}

// TestReductionBitIdentical runs the initialization with the same
// partitions held by engines grouped in different ways, fetched with
// different parallelism, and read on demand by streaming engines: the
// weights must agree to the bit.
func TestReductionBitIdentical(t *testing.T) {
	const P = 6
	g, err := data.ParseSynthetic("model=sum,d=8,k=3,n=3000,seed=5,signs=alternate")
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := g.Teacher()
	parts := make([]*shard.Partition, P)
	for p := range parts {
		if parts[p], err = shard.Load(g, P, p, false); err != nil {
			t.Fatal(err)
		}
	}
	groupings := [][][]int{{{0, 1, 2, 3, 4, 5}}, {{0, 3}, {1, 4}, {2, 5}}, {{5}, {4}, {3}, {2}, {1}, {0}}, {{2, 3, 4}, {0, 1, 5}}}
	var ref []float64
	check := func(name string, f msg.Fetcher, parallel int) {
		cfg := tensorinit.DefaultConfig()
		cfg.Parallel = parallel
		res, err := tensorinit.Run(context.Background(), f, spec, P, cfg, msg.NewPool())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ref == nil {
			ref = res.W
			return
		}
		for i := range ref {
			if math.Float64bits(ref[i]) != math.Float64bits(res.W[i]) {
				t.Fatalf("%s: weight %d is %v, want %v bit for bit", name, i, res.W[i], ref[i])
			}
		}
	}
	for gi, grouping := range groupings {
		var r router
		for _, ids := range grouping {
			var ps []*shard.Partition
			for _, id := range ids {
				ps = append(ps, parts[id])
			}
			e, err := shard.NewEngine(ps...)
			if err != nil {
				t.Fatal(err)
			}
			e.SetPartitionCount(P) // for the spans below
			r.engines = append(r.engines, e)
		}
		for _, par := range []int{1, 4} {
			check(fmt.Sprintf("grouping %d, parallel %d", gi, par), r, par)
		}
		// The same engines asked for the spans they hold whole, which
		// they sum themselves.
		for _, par := range []int{1, 4} {
			check(fmt.Sprintf("grouping %d in spans, parallel %d", gi, par), spanRouter{r, P}, par)
		}
	}
	// Partitions read from the source when asked for (as LoadSource did),
	// holding one or two at a time.
	for _, resident := range []int{1, 2} {
		e, err := shard.NewStreamingEngine(shard.StreamConfig{Source: g, Partitions: P, IDs: []int{0, 1, 2, 3, 4, 5}, Storage: shard.Float64, Resident: resident})
		if err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("streaming, %d resident", resident), e, 3)
	}
}

// TestPlantedRecovery: on planted data the start is close to the teacher
// and alternating minimization from it recovers the teacher exactly.
func TestPlantedRecovery(t *testing.T) {
	cases := []struct {
		synth   string
		bias    bool
		maxInit float64 // measured: 0.07 to 0.09 for these seeds (k = 3), 0.01 for relu
	}{
		{"model=sum,d=20,k=3,n=20000,seed=1,signs=ones", false, 0.2},
		{"model=sum,d=20,k=3,n=20000,seed=2,signs=alternate", false, 0.2},
		{"model=sum,d=20,k=3,n=20000,seed=3,signs=ones", true, 0.2},
		{"model=relu,d=20,n=5000,seed=4", false, 0.1},
	}
	for _, c := range cases {
		g, err := data.ParseSynthetic(c.synth)
		if err != nil {
			t.Fatal(err)
		}
		spec, wstar := g.Teacher()
		if c.bias {
			spec.Bias, spec.D = true, spec.D+1
			wide := make([]float64, spec.K*spec.D)
			for q := 0; q < spec.K; q++ {
				copy(wide[q*spec.D:], wstar[q*(spec.D-1):(q+1)*(spec.D-1)])
			}
			wstar = wide
		}
		pl := load(t, g, spec, wstar, 4)
		cfg := tensorinit.DefaultConfig()
		res, err := tensorinit.Run(context.Background(), pl.eng, spec, 4, cfg, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.synth, err)
		}
		if c.bias {
			for q := 0; q < spec.K; q++ {
				if b := res.W[q*spec.D+spec.D-1]; b != 0 {
					t.Errorf("%s: bias weight %d is %v, want 0", c.synth, q, b)
				}
			}
		}
		e0 := spec.RelErr(res.W, wstar)
		e, iters := pl.am(t, res.W, 50)
		t.Logf("%s bias=%v: start rel err %.3f (gap %.2f, fit %.3f), after %d solves %.2e",
			c.synth, c.bias, e0, res.Gap, res.Fit, iters, e)
		if !(e0 < c.maxInit) || res.Mismatched != 0 || res.Degenerate {
			t.Errorf("%s: start rel err %.3f (want < %g), %d mismatched, degenerate %v", c.synth, e0, c.maxInit, res.Mismatched, res.Degenerate)
		}
		if !(e <= 1e-8) {
			t.Errorf("%s: AM from the tensor start ends at rel err %.3g", c.synth, e)
		}
	}
}

// TestDegenerateSpectrum: two neurons of opposite sign at a small angle
// nearly cancel in the second moment; the gap test must report it. Without
// FourthSpan the second moment's span is kept; with it (the default) the
// span comes from the fourth moment. For this seed AM recovers the teacher
// from both (not for every seed: docs/TENSOR_INIT.md).
func TestDegenerateSpectrum(t *testing.T) {
	const d, n, seed = 10, 20000, 3
	t.Logf("seed %d", seed)
	spec := model.Spec{Kind: model.Sum, D: d, K: 3, Signs: []float64{1, -1, 1}}
	w := make([]float64, 3*d)
	theta := 0.02 // radians between the cancelling pair
	w[0] = 1
	w[d], w[d+1] = math.Cos(theta), math.Sin(theta)
	w[2*d+2] = 1
	pl := load(t, teacherSource{spec: spec, w: w, n: n, seed: seed}, spec, w, 4)
	for _, fourth := range []bool{false, true} {
		cfg := tensorinit.DefaultConfig()
		cfg.FourthSpan = fourth
		res, err := tensorinit.Run(context.Background(), pl.eng, spec, 4, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		e0 := spec.RelErr(res.W, w)
		e, iters := pl.am(t, res.W, 50)
		t.Logf("FourthSpan %v: eigenvalues %.3f, gap %.2f, fallback %v, fit %.3f, start rel err %.3f, after %d solves %.2e",
			fourth, res.Eigenvalues[:5], res.Gap, res.Fallback, res.Fit, e0, iters, e)
		if !res.Degenerate || res.Fallback != fourth {
			t.Errorf("FourthSpan %v, gap %.2f: degenerate %v, fallback %v", fourth, res.Gap, res.Degenerate, res.Fallback)
		}
		if !(e <= 1e-8) {
			t.Errorf("FourthSpan %v: AM ends at rel err %.3g", fourth, e)
		}
	}
	// The fourth-moment span on a well-separated problem, forced.
	pl = loadPlanted(t, "model=sum,d=20,k=3,n=20000,seed=1,signs=alternate", 4)
	cfg := tensorinit.DefaultConfig()
	cfg.FourthSpan, cfg.MinGap = true, 1e9
	res, err := tensorinit.Run(context.Background(), pl.eng, pl.spec, 4, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	e0 := pl.spec.RelErr(res.W, pl.wstar)
	e, iters := pl.am(t, res.W, 50)
	t.Logf("forced fourth-moment span: start rel err %.3f, fit %.3f, after %d solves %.2e", e0, res.Fit, iters, e)
	if !res.Fallback || !(e0 < 0.4) || !(e <= 1e-8) {
		t.Errorf("forced fourth-moment span: fallback %v, start rel err %.3f, end %.3g", res.Fallback, e0, e)
	}
}

// failing fails the Moments12 requests of the partitions in bad.
type failing struct {
	msg.Fetcher
	bad map[int]bool
}

var errInjected = errors.New("injected")

func (f failing) Fetch(ctx context.Context, req msg.Request, s msg.Span) (msg.Partial, error) {
	if s.N != 1 {
		return nil, fmt.Errorf("%s asked of a fetcher without a plan", s)
	}
	if _, ok := req.(*msg.Moments12Request); ok && f.bad[s.Lo] {
		return nil, errInjected
	}
	return f.Fetcher.Fetch(ctx, req, s)
}

// answer replaces the answer of partition 1 to Moments12 requests.
type answer struct {
	msg.Fetcher
	with func(ctx context.Context, req msg.Request) (msg.Partial, error)
}

func (a answer) Fetch(ctx context.Context, req msg.Request, s msg.Span) (msg.Partial, error) {
	if s.N != 1 {
		return nil, fmt.Errorf("%s asked of a fetcher without a plan", s)
	}
	if _, ok := req.(*msg.Moments12Request); ok && s.Lo == 1 {
		return a.with(ctx, req)
	}
	return a.Fetcher.Fetch(ctx, req, s)
}

func TestErrors(t *testing.T) {
	pl := loadPlanted(t, "model=sum,d=5,k=2,n=200,seed=1", 3)
	src := pl.eng
	ctx := context.Background()
	cfg := tensorinit.DefaultConfig()
	resnet := model.Spec{Kind: model.ResNet, D: 5, K: 5, Signs: []float64{1, 1, 1, 1, 1}}
	if _, err := tensorinit.Run(ctx, src, resnet, 3, cfg, nil); !errors.Is(err, tensorinit.ErrModel) || !strings.Contains(err.Error(), "identity") {
		t.Errorf("resnet: %v", err)
	}
	wide := model.Spec{Kind: model.Sum, D: 5, K: 6, Signs: []float64{1, 1, 1, 1, 1, 1}}
	if _, err := tensorinit.Run(ctx, src, wide, 3, cfg, nil); !errors.Is(err, tensorinit.ErrModel) {
		t.Errorf("k > d: %v", err)
	}
	if _, err := tensorinit.Run(ctx, src, pl.spec, 0, cfg, nil); !errors.Is(err, tensorinit.ErrMoments) {
		t.Errorf("no partitions: %v", err)
	}
	// A failing partition is named. One fetch at a time, the first to
	// fail is the lowest; with more, it is either.
	one := cfg
	one.Parallel = 1
	_, err := tensorinit.Run(ctx, failing{src, map[int]bool{2: true, 1: true}}, pl.spec, 3, one, nil)
	if !errors.Is(err, errInjected) || !strings.Contains(err.Error(), "partition 1") {
		t.Errorf("failing partitions 1 and 2: %v (want the error of partition 1)", err)
	}
	_, err = tensorinit.Run(ctx, failing{src, map[int]bool{2: true, 1: true}}, pl.spec, 3, cfg, nil)
	if !errors.Is(err, errInjected) || !strings.Contains(err.Error(), "partition 1") && !strings.Contains(err.Error(), "partition 2") {
		t.Errorf("failing partitions 1 and 2, in parallel: %v (want the error of one of them)", err)
	}
	if errors.Is(err, tensorinit.ErrMoments) {
		t.Errorf("a fetch's own error is reported as bad moments: %v", err)
	}
	_, err = tensorinit.Run(ctx, failing{src, map[int]bool{0: true}}, pl.spec, 3, cfg, nil)
	if !errors.Is(err, errInjected) || !strings.Contains(err.Error(), "partition 0") {
		t.Errorf("failing partition 0: %v", err)
	}
	// Answers that are not partition 1's moments for the request: bad
	// moments, naming the partition.
	for name, with := range map[string]func(ctx context.Context, req msg.Request) (msg.Partial, error){
		"misnumbered": func(ctx context.Context, req msg.Request) (msg.Partial, error) {
			return src.Fetch(ctx, req, msg.Leaf(0))
		},
		"no answer": func(ctx context.Context, req msg.Request) (msg.Partial, error) { return nil, nil },
		"NaN": func(ctx context.Context, req msg.Request) (msg.Partial, error) {
			m, err := src.Fetch(ctx, req, msg.Leaf(1))
			m.(*msg.Moments12).SumYX[0] = math.NaN()
			return m, err
		},
		"another order": func(ctx context.Context, req msg.Request) (msg.Partial, error) {
			r := *req.(*msg.Moments12Request)
			r.Order = 3 - r.Order
			return src.Fetch(ctx, &r, msg.Leaf(1))
		},
		"another kind": func(ctx context.Context, req msg.Request) (msg.Partial, error) {
			return src.Fetch(ctx, &msg.Moment4Request{D: 5, K: 1, V: make([]float64, 5)}, msg.Leaf(1))
		},
	} {
		if _, err := tensorinit.Run(ctx, answer{src, with}, pl.spec, 3, cfg, nil); !errors.Is(err, tensorinit.ErrMoments) || !strings.Contains(err.Error(), "partition 1") {
			t.Errorf("%s partials: %v", name, err)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := tensorinit.Run(cancelled, src, pl.spec, 3, cfg, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	zero := load(t, teacherSource{spec: pl.spec, w: make([]float64, 10), n: 50, seed: 1}, pl.spec, nil, 2)
	if _, err := tensorinit.Run(ctx, zero.eng, pl.spec, 2, cfg, nil); !errors.Is(err, tensorinit.ErrMoments) {
		t.Errorf("zero labels: %v", err)
	}
	for _, bad := range []func(*tensorinit.Config){
		func(c *tensorinit.Config) { c.Trials = 0 },
		func(c *tensorinit.Config) { c.Sweeps = -1 },
		func(c *tensorinit.Config) { c.MinGap = 0.5 },
		func(c *tensorinit.Config) { c.MinGap = math.Inf(1) },
		func(c *tensorinit.Config) { c.MinGap = math.NaN() },
		func(c *tensorinit.Config) { c.Parallel = -1 },
	} {
		c := tensorinit.DefaultConfig()
		bad(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("config %+v accepted", c)
		}
		if _, err := tensorinit.Run(ctx, src, pl.spec, 3, c, nil); err == nil {
			t.Errorf("Run with config %+v accepted", c)
		}
	}
}

// TestMomentSums: a pass's moments are the sums of the partitions' moments
// in the reduction tree (round.Collect), ((0 + 1) + (2 + 3)) + 4 for five
// partitions, whichever spans they come in; the engines' partials are
// checked against the request.
func TestMomentSums(t *testing.T) {
	pl := loadPlanted(t, "model=sum,d=4,k=2,n=150,seed=2", 5)
	pl.eng.SetPartitionCount(5)
	req2 := &msg.Moments12Request{D: 4, Order: 2}
	req4 := &msg.Moment4Request{D: 4, K: 2, V: []float64{1, 0, 0, 1, 0.5, 0.5, 0, 0}}
	var m12 []*msg.Moments12
	var m4 []*msg.Moment4
	for p := 0; p < 5; p++ {
		m12 = append(m12, fetch[*msg.Moments12](t, pl.eng, req2, p))
		m4 = append(m4, fetch[*msg.Moment4](t, pl.eng, req4, p))
	}
	tree := func(f func(p int) float64) float64 { return ((f(0) + f(1)) + (f(2) + f(3))) + f(4) }
	for name, f := range map[string]msg.Fetcher{"leaves": router{[]*shard.Engine{pl.eng}}, "spans": spanRouter{router{[]*shard.Engine{pl.eng}}, 5}} {
		s12, err := round.Collect(context.Background(), f, req2, 5, 2, "test", nil)
		if err != nil {
			t.Fatal(err)
		}
		s4, err := round.Collect(context.Background(), f, req4, 5, 2, "test", nil)
		if err != nil {
			t.Fatal(err)
		}
		a, b := s12.(*msg.Moments12), s4.(*msg.Moment4)
		same := func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) }
		if a.Rows != 150 || b.Rows != 150 || a.Span() != msg.Root(5) || a.Order != 2 ||
			!same(a.SumY, tree(func(p int) float64 { return m12[p].SumY })) ||
			!same(a.SumYXX[3], tree(func(p int) float64 { return m12[p].SumYXX[3] })) ||
			!same(a.SumX[1], tree(func(p int) float64 { return m12[p].SumX[1] })) ||
			!same(a.SumYX[2], tree(func(p int) float64 { return m12[p].SumYX[2] })) ||
			!same(b.Sum[2], tree(func(p int) float64 { return m4[p].Sum[2] })) {
			t.Errorf("%s: sums differ from the reduction tree's: %+v, %+v", name, a, b)
		}
	}
}

// TestStartFromEngine is the tensor start of --init tensor on a small
// planted problem: computed from an engine over four partitions, it is
// within 0.3 of the teacher.
func TestStartFromEngine(t *testing.T) {
	pl := loadPlanted(t, "model=sum,d=10,k=2,n=8000,seed=3,signs=alternate", 4)
	res, err := tensorinit.Run(context.Background(), pl.eng, pl.spec, 4, tensorinit.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if e := pl.spec.RelErr(res.W, pl.wstar); !(e < 0.3) || res.Rows != 8000 {
		t.Errorf("start rel err %.3f over %d rows", e, res.Rows)
	}
}
