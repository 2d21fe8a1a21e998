package msg_test

import (
	"math"
	"slices"
	"testing"

	"altmin/linalg"
	"altmin/msg"
)

// checkCase is a partial checked against a request.
type checkCase struct {
	name string
	p    msg.Partial
	req  msg.Request
	want error // nil or msg.ErrInvalid
}

func runChecks(t *testing.T, cases []checkCase) {
	t.Helper()
	for _, c := range cases {
		wantErr(t, c.name, c.p.Check(c.req), c.want)
	}
}

func statsReq(iter int) *msg.StatsRequest {
	r := &msg.StatsRequest{Iter: iter, D: 3, Signs: []float64{1, -1}, U: filled(6, 0.1)}
	if iter > 0 {
		r.Prev = filled(6, 0.2)
	}
	return r
}

// goodStats returns statistics that answer statsReq(iter) for partition 1.
func goodStats(iter int) *msg.Stats {
	s := &msg.Stats{Iter: iter, Partition: 1, Rows: 5, M: 6, Gram: filled(linalg.PackedLen(6), 1), R: filled(6, 1), YY: 2, SSE: 1, Flips: 3}
	if iter == 0 {
		s.Flips = -1
	}
	return s
}

func TestStatsCheck(t *testing.T) {
	edit := func(iter int, f func(s *msg.Stats)) *msg.Stats {
		s := goodStats(iter)
		f(s)
		return s
	}
	cases := []checkCase{
		{"good, iteration 0", goodStats(0), statsReq(0), nil},
		{"good, iteration 3", goodStats(3), statsReq(3), nil},
		{"no rows, no flips", edit(2, func(s *msg.Stats) { s.Rows, s.Flips = 0, 0 }), statsReq(2), nil},
		{"no request", goodStats(0), nil, msg.ErrInvalid},
		{"answer to a deep request", goodStats(0), &msg.DeepRequest{Net: netOf(3, 2)}, msg.ErrInvalid},
		{"answer to a moments request", goodStats(0), &msg.Moments12Request{D: 3, Order: 1}, msg.ErrInvalid},
		{"another iteration", goodStats(2), statsReq(3), msg.ErrInvalid},
		{"m", edit(3, func(s *msg.Stats) { s.M = 5 }), statsReq(3), msg.ErrInvalid},
		{"short Gram", edit(3, func(s *msg.Stats) { s.Gram = s.Gram[1:] }), statsReq(3), msg.ErrInvalid},
		{"long R", edit(3, func(s *msg.Stats) { s.R = filled(7, 1) }), statsReq(3), msg.ErrInvalid},
		{"negative rows", edit(3, func(s *msg.Stats) { s.Rows = -1 }), statsReq(3), msg.ErrInvalid},
		{"no flip count with Prev", edit(3, func(s *msg.Stats) { s.Flips = -1 }), statsReq(3), msg.ErrInvalid},
		{"flip count without Prev", edit(0, func(s *msg.Stats) { s.Flips = 0 }), statsReq(0), msg.ErrInvalid},
		{"flips -2", edit(0, func(s *msg.Stats) { s.Flips = -2 }), statsReq(0), msg.ErrInvalid},
	}
	// Values: refused, unless the producer marked them checked.
	values := map[string]func(s *msg.Stats){
		"NaN Gram": func(s *msg.Stats) { s.Gram[4] = math.NaN() },
		"Inf R":    func(s *msg.Stats) { s.R[0] = math.Inf(1) },
		"NaN YY":   func(s *msg.Stats) { s.YY = math.NaN() },
		"Inf SSE":  func(s *msg.Stats) { s.SSE = math.Inf(-1) },
	}
	for name, f := range values {
		cases = append(cases, checkCase{name, edit(3, f), statsReq(3), msg.ErrInvalid})
		marked := edit(3, f)
		marked.MarkFiniteChecked()
		cases = append(cases, checkCase{name + ", marked finite", marked, statsReq(3), nil})
	}
	// Marking skips the values only: shapes and counts are still checked.
	for _, c := range slices.Clone(cases) {
		s, ok := c.p.(*msg.Stats)
		if !ok || c.want == nil || c.req == nil {
			continue
		}
		m := *s
		m.Gram, m.R = slices.Clone(s.Gram), slices.Clone(s.R)
		m.MarkFiniteChecked()
		if _, isValue := values[c.name]; !isValue {
			cases = append(cases, checkCase{c.name + ", marked finite", &m, c.req, msg.ErrInvalid})
		}
	}
	runChecks(t, cases)

	s := goodStats(4)
	if s.Kind() != msg.KindStats || s.Round() != 4 || s.Span() != msg.Leaf(1) {
		t.Errorf("kind %v, round %d, span %v", s.Kind(), s.Round(), s.Span())
	}
}

func deepReq(joint bool, prev bool) *msg.DeepRequest {
	r := &msg.DeepRequest{Step: 2, Net: netOf(3, 4, 2), Layers: []int{1, 2}, Joint: joint}
	if prev {
		r.Prev = netOf(3, 4, 2)
	}
	return r
}

// goodDeep returns the statistics that answer deepReq(joint, prev) for
// partition 0.
func goodDeep(joint, prev bool) *msg.DeepStats {
	p := &msg.DeepStats{Step: 2, Partition: 0, Rows: 7, YY: 3, SSE: 1, Flips: -1}
	if prev {
		p.Flips = 5
	}
	systems := [][]int{{1}, {2}}
	if joint {
		systems = [][]int{{1, 2}}
	}
	for _, ls := range systems {
		m := 0
		for _, l := range ls {
			m += map[int]int{1: 12, 2: 8}[l]
		}
		p.Systems = append(p.Systems, msg.System{Layers: ls, M: m, Gram: filled(linalg.PackedLen(m), 1), R: filled(m, 1)})
	}
	return p
}

func TestDeepStatsCheck(t *testing.T) {
	edit := func(joint, prev bool, f func(p *msg.DeepStats)) *msg.DeepStats {
		p := goodDeep(joint, prev)
		f(p)
		return p
	}
	runChecks(t, []checkCase{
		{"good, per layer", goodDeep(false, false), deepReq(false, false), nil},
		{"good, joint with Prev", goodDeep(true, true), deepReq(true, true), nil},
		{"evaluation only", edit(false, true, func(p *msg.DeepStats) { p.Systems = nil }), &msg.DeepRequest{Step: 2, Net: netOf(3, 4, 2), Prev: netOf(3, 4, 2)}, nil},
		{"no request", goodDeep(false, false), nil, msg.ErrInvalid},
		{"answer to a stats request", goodDeep(false, false), statsReq(2), msg.ErrInvalid},
		{"another step", edit(false, false, func(p *msg.DeepStats) { p.Step = 1 }), deepReq(false, false), msg.ErrInvalid},
		{"negative rows", edit(false, false, func(p *msg.DeepStats) { p.Rows = -1 }), deepReq(false, false), msg.ErrInvalid},
		{"per-layer systems for a joint request", goodDeep(false, false), deepReq(true, false), msg.ErrInvalid},
		{"a joint system for per-layer ones", goodDeep(true, false), deepReq(false, false), msg.ErrInvalid},
		{"no systems", edit(false, false, func(p *msg.DeepStats) { p.Systems = nil }), deepReq(false, false), msg.ErrInvalid},
		{"systems swapped", edit(false, false, func(p *msg.DeepStats) { p.Systems[0], p.Systems[1] = p.Systems[1], p.Systems[0] }), deepReq(false, false), msg.ErrInvalid},
		{"system's m", edit(false, false, func(p *msg.DeepStats) { p.Systems[1].M = 7 }), deepReq(false, false), msg.ErrInvalid},
		{"short Gram", edit(true, false, func(p *msg.DeepStats) { p.Systems[0].Gram = p.Systems[0].Gram[1:] }), deepReq(true, false), msg.ErrInvalid},
		{"short R", edit(false, false, func(p *msg.DeepStats) { p.Systems[1].R = p.Systems[1].R[1:] }), deepReq(false, false), msg.ErrInvalid},
		{"no flip count with Prev", edit(false, true, func(p *msg.DeepStats) { p.Flips = -1 }), deepReq(false, true), msg.ErrInvalid},
		{"flip count without Prev", edit(false, false, func(p *msg.DeepStats) { p.Flips = 0 }), deepReq(false, false), msg.ErrInvalid},
		{"NaN YY", edit(false, false, func(p *msg.DeepStats) { p.YY = math.NaN() }), deepReq(false, false), msg.ErrInvalid},
		{"Inf SSE", edit(false, false, func(p *msg.DeepStats) { p.SSE = math.Inf(1) }), deepReq(false, false), msg.ErrInvalid},
		{"NaN Gram", edit(false, false, func(p *msg.DeepStats) { p.Systems[1].Gram[3] = math.NaN() }), deepReq(false, false), msg.ErrInvalid},
		{"Inf R", edit(true, false, func(p *msg.DeepStats) { p.Systems[0].R[19] = math.Inf(-1) }), deepReq(true, false), msg.ErrInvalid},
	})
	p := goodDeep(false, false)
	if p.Kind() != msg.KindDeep || p.Round() != 2 || p.Span() != msg.Leaf(0) {
		t.Errorf("kind %v, round %d, span %v", p.Kind(), p.Round(), p.Span())
	}
}

func goodM12(order int) *msg.Moments12 {
	m := &msg.Moments12{Partition: 2, Order: order, Rows: 9, D: 3, SumY: 1, SumYX: filled(3, 1), SumX: filled(3, 2)}
	if order == 2 {
		m.SumYXX = filled(linalg.PackedLen(3), 1)
	}
	return m
}

func goodM4() *msg.Moment4 {
	return &msg.Moment4{Partition: 3, Rows: 9, K: 2, Sum: filled(msg.Sym4Len(2), 1)}
}

func TestMomentsCheck(t *testing.T) {
	req1, req2 := &msg.Moments12Request{D: 3, Order: 1}, &msg.Moments12Request{D: 3, Order: 2}
	req4 := &msg.Moment4Request{D: 3, K: 2, V: filled(6, 1)}
	e12 := func(order int, f func(m *msg.Moments12)) *msg.Moments12 {
		m := goodM12(order)
		f(m)
		return m
	}
	e4 := func(f func(m *msg.Moment4)) *msg.Moment4 {
		m := goodM4()
		f(m)
		return m
	}
	runChecks(t, []checkCase{
		{"order 1", goodM12(1), req1, nil},
		{"order 2", goodM12(2), req2, nil},
		{"empty partition", e12(2, func(m *msg.Moments12) { m.Rows = 0 }), req2, nil},
		{"no request", goodM12(1), nil, msg.ErrInvalid},
		{"answer to a Moment4 request", goodM12(1), req4, msg.ErrInvalid},
		{"order 1 for order 2", goodM12(1), req2, msg.ErrInvalid},
		{"order 2 for order 1", goodM12(2), req1, msg.ErrInvalid},
		{"order 1 with second-order sums", e12(1, func(m *msg.Moments12) { m.SumYXX = filled(6, 1) }), req1, msg.ErrInvalid},
		{"d", e12(2, func(m *msg.Moments12) { m.D = 4 }), req2, msg.ErrInvalid},
		{"short SumYX", e12(1, func(m *msg.Moments12) { m.SumYX = m.SumYX[:2] }), req1, msg.ErrInvalid},
		{"long SumX", e12(1, func(m *msg.Moments12) { m.SumX = filled(4, 1) }), req1, msg.ErrInvalid},
		{"short SumYXX", e12(2, func(m *msg.Moments12) { m.SumYXX = m.SumYXX[1:] }), req2, msg.ErrInvalid},
		{"negative rows", e12(1, func(m *msg.Moments12) { m.Rows = -1 }), req1, msg.ErrInvalid},
		{"NaN SumY", e12(1, func(m *msg.Moments12) { m.SumY = math.NaN() }), req1, msg.ErrInvalid},
		{"Inf SumYX", e12(1, func(m *msg.Moments12) { m.SumYX[2] = math.Inf(1) }), req1, msg.ErrInvalid},
		{"NaN SumX", e12(2, func(m *msg.Moments12) { m.SumX[0] = math.NaN() }), req2, msg.ErrInvalid},
		{"Inf SumYXX", e12(2, func(m *msg.Moments12) { m.SumYXX[5] = math.Inf(-1) }), req2, msg.ErrInvalid},

		{"fourth moment", goodM4(), req4, nil},
		{"fourth moment, no request", goodM4(), nil, msg.ErrInvalid},
		{"fourth moment for a Moments12 request", goodM4(), req2, msg.ErrInvalid},
		{"k", e4(func(m *msg.Moment4) { m.K = 1 }), req4, msg.ErrInvalid},
		{"short sum", e4(func(m *msg.Moment4) { m.Sum = m.Sum[1:] }), req4, msg.ErrInvalid},
		{"fourth moment, negative rows", e4(func(m *msg.Moment4) { m.Rows = -2 }), req4, msg.ErrInvalid},
		{"NaN sum", e4(func(m *msg.Moment4) { m.Sum[4] = math.NaN() }), req4, msg.ErrInvalid},
	})
	m, m4 := goodM12(1), goodM4()
	if m.Kind() != msg.KindMoments12 || m.Round() != 0 || m.Span() != msg.Leaf(2) || m4.Kind() != msg.KindMoment4 || m4.Round() != 0 || m4.Span() != msg.Leaf(3) {
		t.Errorf("moments: kinds %v %v, rounds %d %d, spans %v %v", m.Kind(), m4.Kind(), m.Round(), m4.Round(), m.Span(), m4.Span())
	}
}

// Release gives every Gram buffer of a partial to the pool, once; moment
// sums are not pooled.
func TestRelease(t *testing.T) {
	pool := msg.NewPool()
	p := goodDeep(false, false)
	g0, g1 := p.Systems[0].Gram, p.Systems[1].Gram
	p.Release(pool)
	if p.Systems[0].Gram != nil || p.Systems[1].Gram != nil {
		t.Fatal("Release left a system's Gram set")
	}
	p.Release(pool)
	(*msg.DeepStats)(nil).Release(pool)
	if n, _ := pool.Idle(); n != 2 {
		t.Fatalf("%d idle buffers after releasing two systems, want 2", n)
	}
	for _, g := range [][]float64{g0, g1} {
		if b := pool.Get(len(g)); &b[0] != &g[0] {
			t.Error("a released system's Gram buffer was not reused")
		}
	}
	m, m4 := goodM12(2), goodM4()
	m.Release(pool)
	m4.Release(pool)
	if n, _ := pool.Idle(); n != 0 || m.SumYXX == nil || m4.Sum == nil {
		t.Errorf("moment sums released: %d idle buffers", n)
	}
	goodDeep(true, false).Release(nil) // a nil pool drops the buffers
}
