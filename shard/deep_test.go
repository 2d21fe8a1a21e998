package shard_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"

	"altmin/data"
	"altmin/linalg"
	"altmin/model"
	"altmin/msg"
	"altmin/shard"
)

// The statistics of a deep network's step (msg.DeepRequest), computed by
// the engine's deep kernel.

// naiveDeepOut is the dense reference of one partition's deep statistics.
type naiveDeepOut struct {
	g, r    [][]float64 // per system: the full m x m Gram matrix, B^T (y - f)
	yy, sse float64
	flips   int64
}

// naiveDeep computes the statistics of rows x (n x d) and labels y for
// net with its patterns held, as dense matrix products: with P_l the 0/1
// diagonal pattern matrix of layer l at row i, f = V^T P_L W_L ... P_1 W_1 x
// is linear in each W_l, and its gradient there is a_l (x) h_{l-1}, with
// a_l^T = V^T P_L W_L P_{L-1} ... W_{l+1} P_l and h_{l-1} = P_{l-1} W_{l-1}
// ... P_1 W_1 x. Row i of B for a system over the layers S concatenates
// them over S; G = B^T B, R = B^T (y - f). Flips counts the pattern bits
// that differ between net and prev (nil: -1).
func naiveDeep(x, y []float64, net, prev *model.Net, systems [][]int) naiveDeepOut {
	d, L, n := net.In(), net.Layers(), len(y)
	out := naiveDeepOut{flips: -1}
	if prev != nil {
		out.flips = 0
	}
	// patterns returns the pattern matrices of nt at x and the layers'
	// outputs h_0..h_L.
	patterns := func(nt *model.Net, x []float64) ([]*mat.DiagDense, []*mat.VecDense) {
		hs := []*mat.VecDense{mat.NewVecDense(d, append([]float64(nil), x...))}
		ps := []*mat.DiagDense{nil}
		for l := 1; l <= L; l++ {
			w := mat.NewDense(nt.Dims[l], nt.Dims[l-1], nt.W[l-1])
			var z mat.VecDense
			z.MulVec(w, hs[l-1])
			p := mat.NewDiagDense(nt.Dims[l], nil)
			for q := 0; q < nt.Dims[l]; q++ {
				if z.AtVec(q) > 0 {
					p.SetDiag(q, 1)
				}
			}
			var h mat.VecDense
			h.MulVec(p, &z)
			ps, hs = append(ps, p), append(hs, &h)
		}
		return ps, hs
	}
	var ms []int
	bs := make([]*mat.Dense, len(systems))
	for s, sy := range systems {
		ms = append(ms, net.UnknownsOf(sy))
		bs[s] = mat.NewDense(max(n, 1), ms[s], nil)
	}
	e := mat.NewVecDense(max(n, 1), nil)
	for i := 0; i < n; i++ {
		xi := x[i*d : (i+1)*d]
		ps, hs := patterns(net, xi)
		f := mat.Dot(mat.NewVecDense(len(net.V), net.V), hs[L])
		e.SetVec(i, y[i]-f)
		out.yy += y[i] * y[i]
		out.sse += (f - y[i]) * (f - y[i])
		if prev != nil {
			pp, _ := patterns(prev, xi)
			for l := 1; l <= L; l++ {
				for q := 0; q < net.Dims[l]; q++ {
					if ps[l].At(q, q) != pp[l].At(q, q) {
						out.flips++
					}
				}
			}
		}
		// a[l] = V^T P_L W_L ... W_{l+1} P_l, as 1 x n_l matrices.
		a := make([]*mat.Dense, L+1)
		a[L] = mat.NewDense(1, net.Dims[L], nil)
		a[L].Mul(mat.NewDense(1, len(net.V), net.V), ps[L])
		for l := L - 1; l >= 1; l-- {
			var t, u mat.Dense
			t.Mul(a[l+1], mat.NewDense(net.Dims[l+1], net.Dims[l], net.W[l]))
			u.Mul(&t, ps[l])
			a[l] = &u
		}
		for s, sy := range systems {
			col := 0
			for _, l := range sy {
				for q := 0; q < net.Dims[l]; q++ {
					for j := 0; j < net.Dims[l-1]; j++ {
						bs[s].Set(i, col, a[l].At(0, q)*hs[l-1].AtVec(j))
						col++
					}
				}
			}
		}
	}
	for s := range systems {
		var g mat.Dense
		g.Mul(bs[s].T(), bs[s])
		r := mat.NewVecDense(ms[s], nil)
		r.MulVec(bs[s].T(), e)
		out.g = append(out.g, g.RawMatrix().Data)
		out.r = append(out.r, r.RawVector().Data)
	}
	return out
}

// loadParts reads the P partitions of src (no bias feature).
func loadParts(t *testing.T, src data.Source, P int) []*shard.Partition {
	t.Helper()
	ps := make([]*shard.Partition, P)
	for id := range ps {
		p, err := shard.Load(src, P, id, false)
		if err != nil {
			t.Fatal(err)
		}
		ps[id] = p
	}
	return ps
}

// TestDeepMatchesNaive compares the engine's deep statistics with the
// dense reference for requests of one system per layer, joint systems,
// subsets of the layers and an evaluation alone, with and without previous
// weights, on the partitions of a 3-hidden-layer teacher and an empty one.
func TestDeepMatchesNaive(t *testing.T) {
	tch, err := data.NewDeepTeacher(300, []int{6, 5, 4, 2}, 3, "alternate")
	if err != nil {
		t.Fatal(err)
	}
	parts := append(loadParts(t, tch, 3), &shard.Partition{ID: 3, Rows: 0, D: 6})
	eng, err := shard.NewEngine(parts...)
	if err != nil {
		t.Fatal(err)
	}
	net := data.PerturbNet(tch.Net(), 0.3, 11)
	prev := data.PerturbNet(net, 0.05, 12)
	flipsSeen := false
	for ri, req := range []*msg.DeepRequest{
		{Step: 4, Net: net, Layers: []int{1, 2, 3}, Prev: prev},
		{Step: 4, Net: net, Layers: []int{1, 2, 3}, Joint: true, Prev: prev},
		{Step: 0, Net: net, Layers: []int{2, 3}, Joint: true},
		{Step: 0, Net: net, Layers: []int{1, 3}},
		{Step: 2, Net: net, Layers: []int{2}, Prev: prev},
		{Step: 2, Net: net, Prev: prev}, // evaluation only
	} {
		for _, p := range parts {
			name := fmt.Sprintf("request %d (layers %v, joint %v), partition %d", ri, req.Layers, req.Joint, p.ID)
			got := fetch[*msg.DeepStats](t, eng, req, p.ID)
			want := naiveDeep(p.X, p.Y, req.Net, req.Prev, req.Systems())
			if got.Step != req.Step || got.Partition != p.ID || got.Rows != p.Rows || len(got.Systems) != len(req.Systems()) {
				t.Fatalf("%s: header step %d partition %d rows %d, %d systems", name, got.Step, got.Partition, got.Rows, len(got.Systems))
			}
			if !relClose(got.YY, want.yy, 1e-12) || !relClose(got.SSE, want.sse, 1e-12) || got.Flips != want.flips {
				t.Errorf("%s: YY %v, SSE %v, flips %d; naive %v, %v, %d", name, got.YY, got.SSE, got.Flips, want.yy, want.sse, want.flips)
			}
			flipsSeen = flipsSeen || got.Flips > 0
			for s, sy := range got.Systems {
				full := make([]float64, sy.M*sy.M)
				linalg.Unpack(full, sy.Gram, sy.M)
				if e := relDiff(full, want.g[s]); e > 1e-12 {
					t.Errorf("%s: layers %v: Gram differs from naive by %.3g relative", name, sy.Layers, e)
				}
				if e := relDiff(sy.R, want.r[s]); e > 1e-12 {
					t.Errorf("%s: layers %v: B^T (y - f) differs from naive by %.3g relative", name, sy.Layers, e)
				}
			}
		}
	}
	if !flipsSeen {
		t.Error("no pattern changed between the test's weights: the flip count is untested")
	}
}

// TestDeepLayerSolveRecoversTruth: the weights of layer l moved away from
// the teacher's (every other layer at the truth) by as much as leaves every
// pattern as the teacher's, the solve of the layer's system alone recovers
// W_l* exactly: with the true patterns, y_i = c_li^T W_l* h_{l-1,i} is a
// linear least-squares problem in W_l with the exact solution W_l*. A
// 3-layer teacher checks a middle layer too.
func TestDeepLayerSolveRecoversTruth(t *testing.T) {
	for _, dims := range [][]int{{10, 4, 2}, {12, 6, 3}, {8, 5, 4, 2}} {
		tch, err := data.NewDeepTeacher(2000, dims, 7, "alternate")
		if err != nil {
			t.Fatal(err)
		}
		truth := tch.Net()
		eng, err := shard.NewEngine(loadParts(t, tch, 1)...)
		if err != nil {
			t.Fatal(err)
		}
		for l := 1; l <= truth.Layers(); l++ {
			rng := rand.New(rand.NewPCG(uint64(l), 0))
			noise := randNormal(rng, truth.Unknowns(l))
			wstar := truth.W[l-1]
			// The largest step away, by decades, that changes no pattern
			// (counted by the kernel against the teacher, Prev).
			var st *msg.DeepStats
			var net *model.Net
			var scale float64
			for s := 1e-1; s >= 1e-6 && scale == 0; s /= 10 {
				net = truth.Clone()
				f := s * norm(wstar) / norm(noise)
				for i := range net.W[l-1] {
					net.W[l-1][i] += f * noise[i]
				}
				st = fetch[*msg.DeepStats](t, eng, &msg.DeepRequest{Step: 1, Net: net, Layers: []int{l}, Prev: truth}, 0)
				if st.Flips == 0 {
					scale = s
				}
			}
			if scale == 0 || !(st.SSE > 0) {
				t.Fatalf("dims %v layer %d: every step of at least 1e-6 changes a pattern (SSE %v)", dims, l, st.SSE)
			}
			sy := st.Systems[0]
			delta := make([]float64, sy.M)
			sol, err := linalg.SolveNormal(delta, sy.Gram, sy.R, sy.M, make([]float64, sy.M))
			if err != nil {
				t.Fatal(err)
			}
			w := make([]float64, sy.M)
			for i := range w {
				w[i] = net.W[l-1][i] + delta[i] - wstar[i]
			}
			e := norm(w) / norm(wstar)
			t.Logf("dims %v layer %d: m = %d, start %.0e away, cond %.2g, ridge %g, relative error %.2e", dims, l, sy.M, scale, sol.Cond, sol.Ridge, e)
			if sol.Ridge != 0 || e > 1e-10 {
				t.Errorf("dims %v layer %d: relative error %.3g (ridge %g), want <= 1e-10", dims, l, e, sol.Ridge)
			}
		}
	}
}

// TestDeepLastLayerIsOneHiddenLayer: the last layer's statistics are
// exactly the 1-hidden-layer problem on inputs h_i (the outputs of the
// layers below, computed here naively) with signs v, as the engine
// computes it for a msg.StatsRequest: the same Gram matrix, B^T (y - f) =
// B^T y - G w, and the same residual sum.
func TestDeepLastLayerIsOneHiddenLayer(t *testing.T) {
	tch, err := data.NewDeepTeacher(500, []int{6, 5, 3}, 11, "alternate")
	if err != nil {
		t.Fatal(err)
	}
	start := data.PerturbNet(tch.Net(), 0.2, 5)
	part := loadParts(t, tch, 1)[0]
	x, y := part.X, part.Y
	n, d, k1, k2 := len(y), start.In(), start.Dims[1], start.Dims[2]
	h := make([]float64, n*k1)
	for i := 0; i < n; i++ {
		for q := 0; q < k1; q++ {
			var z float64
			for j := 0; j < d; j++ {
				z += start.W[0][q*d+j] * x[i*d+j]
			}
			h[i*k1+q] = max(z, 0)
		}
	}
	deepEng, err := shard.NewEngine(part)
	if err != nil {
		t.Fatal(err)
	}
	oneEng, err := shard.NewEngine(&shard.Partition{ID: 0, Rows: n, D: k1, X: h, Y: y})
	if err != nil {
		t.Fatal(err)
	}
	deep := fetch[*msg.DeepStats](t, deepEng, &msg.DeepRequest{Net: start, Layers: []int{2}}, 0)
	one := fetch[*msg.Stats](t, oneEng, &msg.StatsRequest{D: k1, Signs: start.V, U: start.W[1]}, 0)
	sy := deep.Systems[0]
	m := k1 * k2
	if sy.M != m || one.M != m {
		t.Fatalf("m = %d and %d, want %d", sy.M, one.M, m)
	}
	for i := range one.Gram {
		if math.Abs(one.Gram[i]-sy.Gram[i]) > 1e-12*math.Max(1, math.Abs(one.Gram[i])) {
			t.Fatalf("G[%d]: deep %v, 1-hidden-layer %v", i, sy.Gram[i], one.Gram[i])
		}
	}
	full := make([]float64, m*m)
	linalg.Unpack(full, one.Gram, m)
	for a := 0; a < m; a++ {
		want, scale := one.R[a], math.Abs(one.R[a])
		for b := 0; b < m; b++ {
			gw := full[a*m+b] * start.W[1][b]
			want -= gw
			scale += math.Abs(gw)
		}
		if math.Abs(sy.R[a]-want) > 1e-12*math.Max(1, scale) {
			t.Fatalf("R[%d]: deep %v, 1-hidden-layer B^T y - G w = %v", a, sy.R[a], want)
		}
	}
	if !relClose(deep.SSE, one.SSE, 1e-12) || !relClose(deep.YY, one.YY, 1e-12) || !(deep.SSE > 0) {
		t.Errorf("SSE %v, YY %v; 1-hidden-layer %v, %v", deep.SSE, deep.YY, one.SSE, one.YY)
	}
}

// TestDeepFloat32: a partition held as float32 gives the same bits as the
// same (float32-exact) values held as float64, the bias feature included.
func TestDeepFloat32(t *testing.T) {
	tch, err := data.NewDeepTeacher(400, []int{6, 4, 2}, 8, "alternate")
	if err != nil {
		t.Fatal(err)
	}
	p64, err := shard.Load(tch, 2, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	p32, err := shard.LoadAs(tch, 2, 1, true, shard.Float32)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range p64.X { // the float32 values, held as float64
		p64.X[i] = float64(float32(v))
	}
	net := data.PerturbNet(tch.Net(), 0.1, 1)
	net.Dims[0]++
	net.W[0] = make([]float64, 4*7)
	for i := range net.W[0] {
		net.W[0][i] = math.Sin(float64(i))
	}
	req := &msg.DeepRequest{Step: 1, Net: net, Layers: []int{1, 2}, Joint: true, Prev: data.PerturbNet(net, 0.1, 2)}
	e64, err := shard.NewEngine(p64)
	if err != nil {
		t.Fatal(err)
	}
	e32, err := shard.NewEngine(p32)
	if err != nil {
		t.Fatal(err)
	}
	a, b := fetch[*msg.DeepStats](t, e64, req, 1), fetch[*msg.DeepStats](t, e32, req, 1)
	if !samePartial(a, b) || a.Flips <= 0 {
		t.Errorf("float32 storage differs from the same values as float64 (flips %d, %d)", a.Flips, b.Flips)
	}
}

func norm(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}
