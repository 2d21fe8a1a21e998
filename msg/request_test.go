package msg_test

import (
	"errors"
	"math"
	"slices"
	"testing"

	"altmin/model"
	"altmin/msg"
)

// filled returns n values i+1 scaled by s: finite, distinct, nonzero.
func filled(n int, s float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = s * float64(i+1)
	}
	return v
}

// with returns a copy of v with v[i] = x.
func with(v []float64, i int, x float64) []float64 {
	c := slices.Clone(v)
	c[i] = x
	return c
}

// netOf returns a network of the given widths with finite nonzero weights
// and alternating output signs.
func netOf(dims ...int) *model.Net {
	n := model.NewNet(dims...)
	for l := range n.W {
		copy(n.W[l], filled(len(n.W[l]), 0.01*float64(l+1)))
	}
	for q := range n.V {
		if q%2 == 1 {
			n.V[q] = -1
		}
	}
	return n
}

// wantErr checks that err wraps want (nil: no error).
func wantErr(t *testing.T, name string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Errorf("%s: %v, want no error", name, err)
	case want != nil && !errors.Is(err, want):
		t.Errorf("%s: %v, want %v", name, err, want)
	}
}

func TestStatsRequestValidate(t *testing.T) {
	good := func() *msg.StatsRequest {
		return &msg.StatsRequest{Iter: 1, D: 3, Signs: []float64{1, -1}, U: filled(6, 0.1), Prev: filled(6, 0.2)}
	}
	big := msg.MaxM/2 + 1 // d = big, k = 2: d*k = MaxM + 2
	for _, c := range []struct {
		name string
		edit func(r *msg.StatsRequest)
		want error
	}{
		{"good", func(r *msg.StatsRequest) {}, nil},
		{"iteration 0 without Prev", func(r *msg.StatsRequest) { r.Iter, r.Prev = 0, nil }, nil},
		{"d*k = MaxM", func(r *msg.StatsRequest) {
			r.D, r.U, r.Prev = msg.MaxM/2, filled(msg.MaxM, 1e-3), filled(msg.MaxM, 2e-3)
		}, nil},
		{"negative iteration", func(r *msg.StatsRequest) { r.Iter = -1 }, msg.ErrRequest},
		{"no signs", func(r *msg.StatsRequest) { r.Signs, r.U, r.Prev = nil, nil, nil }, msg.ErrRequest},
		{"d = 0", func(r *msg.StatsRequest) { r.D, r.U, r.Prev = 0, nil, nil }, msg.ErrRequest},
		{"d > MaxM", func(r *msg.StatsRequest) { r.D, r.Signs = msg.MaxM+1, []float64{1} }, msg.ErrTooLarge},
		// Refused before the weights' sizes are looked at: nothing of
		// the request's size need exist.
		{"d*k > MaxM", func(r *msg.StatsRequest) { r.D, r.U, r.Prev = big, nil, nil }, msg.ErrTooLarge},
		{"huge d", func(r *msg.StatsRequest) { r.D, r.Signs = 1<<31, []float64{1, 1, 1} }, msg.ErrTooLarge},
		{"short U", func(r *msg.StatsRequest) { r.U = r.U[:5] }, msg.ErrRequest},
		{"long U", func(r *msg.StatsRequest) { r.U = filled(7, 1) }, msg.ErrRequest},
		{"short Prev", func(r *msg.StatsRequest) { r.Prev = r.Prev[:5] }, msg.ErrRequest},
		{"Prev at iteration 0", func(r *msg.StatsRequest) { r.Iter = 0 }, msg.ErrRequest},
		{"no Prev after iteration 0", func(r *msg.StatsRequest) { r.Prev = nil }, msg.ErrRequest},
		{"sign 0.5", func(r *msg.StatsRequest) { r.Signs[1] = 0.5 }, msg.ErrRequest},
		{"sign 0", func(r *msg.StatsRequest) { r.Signs[0] = 0 }, msg.ErrRequest},
		{"sign NaN", func(r *msg.StatsRequest) { r.Signs[0] = math.NaN() }, msg.ErrRequest},
		{"NaN U", func(r *msg.StatsRequest) { r.U = with(r.U, 2, math.NaN()) }, msg.ErrRequest},
		{"Inf U", func(r *msg.StatsRequest) { r.U = with(r.U, 0, math.Inf(1)) }, msg.ErrRequest},
		{"-Inf Prev", func(r *msg.StatsRequest) { r.Prev = with(r.Prev, 5, math.Inf(-1)) }, msg.ErrRequest},
		{"revive both units", func(r *msg.StatsRequest) { r.Revive, r.ReviveW = []int{0, 1}, filled(6, 0.3) }, nil},
		{"revive unit 2 of 2", func(r *msg.StatsRequest) { r.Revive, r.ReviveW = []int{2}, filled(3, 0.3) }, msg.ErrRequest},
		{"revive the linear unit", func(r *msg.StatsRequest) {
			r.Linear, r.Signs[1], r.Revive, r.ReviveW = true, 1, []int{1}, filled(3, 0.3)
		}, msg.ErrRequest},
		{"revive units out of order", func(r *msg.StatsRequest) { r.Revive, r.ReviveW = []int{1, 0}, filled(6, 0.3) }, msg.ErrRequest},
		{"revive a unit twice", func(r *msg.StatsRequest) { r.Revive, r.ReviveW = []int{0, 0}, filled(6, 0.3) }, msg.ErrRequest},
		{"revive 3 units of 2", func(r *msg.StatsRequest) { r.Revive, r.ReviveW = []int{0, 1, 2}, filled(9, 0.3) }, msg.ErrRequest},
		{"revival weights short", func(r *msg.StatsRequest) { r.Revive, r.ReviveW = []int{0}, filled(2, 0.3) }, msg.ErrRequest},
		{"revival weights without units", func(r *msg.StatsRequest) { r.ReviveW = filled(3, 0.3) }, msg.ErrRequest},
		{"revival weights NaN", func(r *msg.StatsRequest) { r.Revive, r.ReviveW = []int{1}, with(filled(3, 0.3), 1, math.NaN()) }, msg.ErrRequest},
	} {
		r := good()
		c.edit(r)
		err := r.Validate()
		wantErr(t, c.name, err, c.want)
		if c.want == msg.ErrRequest && errors.Is(err, msg.ErrTooLarge) || c.want == msg.ErrTooLarge && errors.Is(err, msg.ErrRequest) {
			t.Errorf("%s: %v wraps both ErrRequest and ErrTooLarge", c.name, err)
		}
	}
	r := good()
	if r.Kind() != msg.KindStats || r.Round() != 1 || r.Features() != 3 {
		t.Errorf("kind %v, round %d, features %d; want stats, 1, 3", r.Kind(), r.Round(), r.Features())
	}
}

func TestDeepRequestValidate(t *testing.T) {
	good := func() *msg.DeepRequest {
		return &msg.DeepRequest{Step: 2, Net: netOf(3, 4, 2), Layers: []int{1, 2}, Prev: netOf(3, 4, 2)}
	}
	wide := msg.MaxM/64 + 1 // 64 x wide weights > MaxM
	for _, c := range []struct {
		name string
		edit func(r *msg.DeepRequest)
		want error
	}{
		{"good", func(r *msg.DeepRequest) {}, nil},
		{"joint", func(r *msg.DeepRequest) { r.Joint = true }, nil},
		{"evaluation only", func(r *msg.DeepRequest) { r.Layers = nil }, nil},
		{"one layer", func(r *msg.DeepRequest) { r.Layers = []int{2} }, nil},
		{"no Prev", func(r *msg.DeepRequest) { r.Prev = nil }, nil},
		{"MaxLayers hidden layers", func(r *msg.DeepRequest) {
			dims := slices.Repeat([]int{2}, msg.MaxLayers+1)
			r.Net, r.Prev, r.Layers = netOf(dims...), nil, []int{1, msg.MaxLayers}
		}, nil},
		{"MaxM weights", func(r *msg.DeepRequest) { r.Net, r.Prev, r.Layers = netOf(64, msg.MaxM/64), nil, []int{1} }, nil},
		{"negative step", func(r *msg.DeepRequest) { r.Step = -1 }, msg.ErrRequest},
		{"no network", func(r *msg.DeepRequest) { r.Net = nil }, msg.ErrRequest},
		{"no hidden layer", func(r *msg.DeepRequest) { r.Net, r.Prev, r.Layers = &model.Net{Dims: []int{3}}, nil, nil }, msg.ErrRequest},
		// Size limits are checked on the widths alone, before the
		// weights: W is left nil.
		{"too many layers", func(r *msg.DeepRequest) {
			r.Net, r.Prev, r.Layers = &model.Net{Dims: slices.Repeat([]int{2}, msg.MaxLayers+2)}, nil, nil
		}, msg.ErrTooLarge},
		{"width > MaxM", func(r *msg.DeepRequest) { r.Net, r.Prev, r.Layers = &model.Net{Dims: []int{1, msg.MaxM + 1}}, nil, nil }, msg.ErrTooLarge},
		{"weights > MaxM", func(r *msg.DeepRequest) { r.Net, r.Prev, r.Layers = &model.Net{Dims: []int{64, wide}}, nil, nil }, msg.ErrTooLarge},
		{"weights far beyond MaxM", func(r *msg.DeepRequest) {
			r.Net, r.Prev, r.Layers = &model.Net{Dims: []int{msg.MaxM, msg.MaxM, msg.MaxM}}, nil, nil
		}, msg.ErrTooLarge},
		{"width 0", func(r *msg.DeepRequest) { r.Net, r.Prev, r.Layers = &model.Net{Dims: []int{3, 0, 2}}, nil, nil }, msg.ErrRequest},
		{"short weights", func(r *msg.DeepRequest) { r.Net.W[1] = r.Net.W[1][:7] }, msg.ErrRequest},
		{"NaN weight", func(r *msg.DeepRequest) { r.Net.W[0][3] = math.NaN() }, msg.ErrRequest},
		{"sign 2", func(r *msg.DeepRequest) { r.Net.V[0] = 2 }, msg.ErrRequest},
		{"Prev of another shape", func(r *msg.DeepRequest) { r.Prev = netOf(3, 5, 2) }, msg.ErrRequest},
		{"Prev of other signs", func(r *msg.DeepRequest) { r.Prev.V[1] = 1 }, msg.ErrRequest},
		{"Inf in Prev", func(r *msg.DeepRequest) { r.Prev.W[1][0] = math.Inf(1) }, msg.ErrRequest},
		{"layer 0", func(r *msg.DeepRequest) { r.Layers = []int{0, 1} }, msg.ErrRequest},
		{"layer L+1", func(r *msg.DeepRequest) { r.Layers = []int{3} }, msg.ErrRequest},
		{"descending layers", func(r *msg.DeepRequest) { r.Layers = []int{2, 1} }, msg.ErrRequest},
		{"repeated layer", func(r *msg.DeepRequest) { r.Layers = []int{1, 1} }, msg.ErrRequest},
	} {
		r := good()
		c.edit(r)
		wantErr(t, c.name, r.Validate(), c.want)
	}
	if err := msg.CheckDims([]int{3, 4, 2}); err != nil {
		t.Errorf("CheckDims(3, 4, 2): %v", err)
	}

	r := good()
	if r.Kind() != msg.KindDeep || r.Round() != 2 || r.Features() != 3 || (&msg.DeepRequest{}).Features() != 0 {
		t.Errorf("kind %v, round %d, features %d; want deep, 2, 3", r.Kind(), r.Round(), r.Features())
	}
	for _, c := range []struct {
		layers []int
		joint  bool
		want   [][]int
	}{
		{nil, false, nil},
		{nil, true, nil},
		{[]int{2}, false, [][]int{{2}}},
		{[]int{1, 2, 3}, false, [][]int{{1}, {2}, {3}}},
		{[]int{1, 2, 3}, true, [][]int{{1, 2, 3}}},
	} {
		r := &msg.DeepRequest{Layers: c.layers, Joint: c.joint}
		got := r.Systems()
		if !slices.EqualFunc(got, c.want, slices.Equal[[]int]) {
			t.Errorf("Systems of layers %v, joint %v: %v, want %v", c.layers, c.joint, got, c.want)
		}
		if c.joint && len(got) == 1 {
			got[0][0] = 99
			if r.Layers[0] == 99 {
				t.Error("a joint system shares the request's Layers")
			}
		}
	}
}

func TestMomentRequestsValidate(t *testing.T) {
	const d = 4
	base := func() *msg.Baseline {
		return &msg.Baseline{C: 0.5, B: filled(d, 0.1), L: filled(2*d, 0.01), S: []float64{1, -1}}
	}
	badBases := []struct {
		name string
		edit func(b *msg.Baseline)
		want error
	}{
		{"constant only", func(b *msg.Baseline) { b.B, b.L, b.S = nil, nil, nil }, nil},
		{"no linear term", func(b *msg.Baseline) { b.B = nil }, nil},
		{"no quadratic term", func(b *msg.Baseline) { b.L, b.S = nil, nil }, nil},
		{"short B", func(b *msg.Baseline) { b.B = b.B[:d-1] }, msg.ErrRequest},
		{"short L", func(b *msg.Baseline) { b.L = b.L[:2*d-1] }, msg.ErrRequest},
		{"L without S", func(b *msg.Baseline) { b.S = nil }, msg.ErrRequest},
		{"rank beyond MaxProjection", func(b *msg.Baseline) { b.S, b.L = make([]float64, msg.MaxProjection/d+1), nil }, msg.ErrTooLarge},
		{"NaN C", func(b *msg.Baseline) { b.C = math.NaN() }, msg.ErrRequest},
		{"Inf B", func(b *msg.Baseline) { b.B[1] = math.Inf(1) }, msg.ErrRequest},
		{"NaN L", func(b *msg.Baseline) { b.L[7] = math.NaN() }, msg.ErrRequest},
		{"Inf S", func(b *msg.Baseline) { b.S[1] = math.Inf(-1) }, msg.ErrRequest},
	}

	m12 := []struct {
		name string
		req  *msg.Moments12Request
		want error
	}{
		{"order 1", &msg.Moments12Request{D: d, Order: 1}, nil},
		{"order 2 with a baseline", &msg.Moments12Request{D: d, Order: 2, Base: base()}, nil},
		{"d = MaxMomentD", &msg.Moments12Request{D: msg.MaxMomentD, Order: 2}, nil},
		{"d = 0", &msg.Moments12Request{D: 0, Order: 1}, msg.ErrRequest},
		{"d > MaxMomentD", &msg.Moments12Request{D: msg.MaxMomentD + 1, Order: 2}, msg.ErrTooLarge},
		{"order 0", &msg.Moments12Request{D: d, Order: 0}, msg.ErrRequest},
		{"order 3", &msg.Moments12Request{D: d, Order: 3}, msg.ErrRequest},
	}
	for _, bb := range badBases {
		b := base()
		bb.edit(b)
		m12 = append(m12, struct {
			name string
			req  *msg.Moments12Request
			want error
		}{"baseline: " + bb.name, &msg.Moments12Request{D: d, Order: 2, Base: b}, bb.want})
	}
	for _, c := range m12 {
		wantErr(t, "Moments12Request "+c.name, c.req.Validate(), c.want)
	}

	m4 := []struct {
		name string
		req  *msg.Moment4Request
		want error
	}{
		{"k = 1", &msg.Moment4Request{D: d, K: 1, V: filled(d, 0.1)}, nil},
		{"k = d with a baseline", &msg.Moment4Request{D: d, K: d, V: filled(d*d, 0.1), Base: base()}, nil},
		{"d*k = MaxProjection", &msg.Moment4Request{D: msg.MaxMomentD, K: msg.MaxProjection / msg.MaxMomentD, V: filled(msg.MaxProjection, 1e-4)}, nil},
		{"d = 0", &msg.Moment4Request{D: 0, K: 1}, msg.ErrRequest},
		{"d > MaxMomentD", &msg.Moment4Request{D: msg.MaxMomentD + 1, K: 1}, msg.ErrTooLarge},
		{"k = 0", &msg.Moment4Request{D: d, K: 0}, msg.ErrRequest},
		{"k > d", &msg.Moment4Request{D: d, K: d + 1, V: filled(d*(d+1), 1)}, msg.ErrRequest},
		// Refused before V's size is looked at.
		{"d*k > MaxProjection", &msg.Moment4Request{D: msg.MaxMomentD, K: msg.MaxProjection/msg.MaxMomentD + 1}, msg.ErrTooLarge},
		{"short V", &msg.Moment4Request{D: d, K: 2, V: filled(2*d-1, 1)}, msg.ErrRequest},
		{"long V", &msg.Moment4Request{D: d, K: 1, V: filled(d+1, 1)}, msg.ErrRequest},
		{"NaN V", &msg.Moment4Request{D: d, K: 1, V: with(filled(d, 1), 0, math.NaN())}, msg.ErrRequest},
	}
	for _, bb := range badBases {
		b := base()
		bb.edit(b)
		m4 = append(m4, struct {
			name string
			req  *msg.Moment4Request
			want error
		}{"baseline: " + bb.name, &msg.Moment4Request{D: d, K: 2, V: filled(2*d, 0.1), Base: b}, bb.want})
	}
	for _, c := range m4 {
		wantErr(t, "Moment4Request "+c.name, c.req.Validate(), c.want)
	}

	a, b := &msg.Moments12Request{D: 7, Order: 2}, &msg.Moment4Request{D: 6, K: 2}
	if a.Kind() != msg.KindMoments12 || a.Round() != 0 || a.Features() != 7 || b.Kind() != msg.KindMoment4 || b.Round() != 0 || b.Features() != 6 {
		t.Errorf("moment requests: kinds %v %v, rounds %d %d, features %d %d", a.Kind(), b.Kind(), a.Round(), b.Round(), a.Features(), b.Features())
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[msg.Kind]string{
		msg.KindStats: "stats", msg.KindDeep: "deep", msg.KindMoments12: "moments12", msg.KindMoment4: "moment4", 0: "kind(0)", 9: "kind(9)",
	} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", uint8(k), got, want)
		}
	}
}
