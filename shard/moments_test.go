package shard_test

import (
	"errors"
	"math/rand/v2"
	"testing"

	"altmin/linalg"
	"altmin/msg"
	"altmin/shard"
)

func delta(a, b int) float64 {
	if a == b {
		return 1
	}
	return 0
}

// naiveHe4 returns sum_r (y_r - base(x_r)) He4(V^T x_r) as a full k^4
// tensor, straight from the definition, entry by entry.
func naiveHe4(x, y, v []float64, d, k int, base *msg.Baseline) []float64 {
	out := make([]float64, k*k*k*k)
	z := make([]float64, k)
	for r := range y {
		yr := residual(x[r*d:(r+1)*d], y[r], base)
		for c := 0; c < k; c++ {
			z[c] = 0
			for j := 0; j < d; j++ {
				z[c] += v[j*k+c] * x[r*d+j]
			}
		}
		for i := 0; i < k; i++ {
			for j := 0; j < k; j++ {
				for l := 0; l < k; l++ {
					for m := 0; m < k; m++ {
						h := z[i]*z[j]*z[l]*z[m] -
							(delta(i, j)*z[l]*z[m] + delta(i, l)*z[j]*z[m] + delta(i, m)*z[j]*z[l] +
								delta(j, l)*z[i]*z[m] + delta(j, m)*z[i]*z[l] + delta(l, m)*z[i]*z[j]) +
							(delta(i, j)*delta(l, m) + delta(i, l)*delta(j, m) + delta(i, m)*delta(j, l))
						out[((i*k+j)*k+l)*k+m] += yr * h
					}
				}
			}
		}
	}
	return out
}

// residual returns y - base(x) from the definition, with the quadratic
// term as the full form x^T L diag(S) L^T x.
func residual(x []float64, y float64, base *msg.Baseline) float64 {
	if base == nil {
		return y
	}
	d, r := len(x), len(base.S)
	y -= base.C
	for a := 0; a < d; a++ {
		if base.B != nil {
			y -= base.B[a] * x[a]
		}
		for b := 0; b < d; b++ {
			var q float64
			for c := 0; c < r; c++ {
				q += base.L[a*r+c] * base.S[c] * base.L[b*r+c]
			}
			y -= x[a] * q * x[b]
		}
	}
	return y
}

// TestMomentsMatchNaive compares both moment functions with dense
// definitions on seeded random partitions, including an empty one, for
// several k, non-orthonormal projections and baselines of degree 0 to 2.
func TestMomentsMatchNaive(t *testing.T) {
	const seed = 53
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	d := 5
	var parts []*shard.Partition
	for id, rows := range []int{37, 0, 11} {
		parts = append(parts, &shard.Partition{ID: id, Rows: rows, D: d, X: randNormal(rng, rows*d), Y: randNormal(rng, rows)})
	}
	eng, err := shard.NewEngine(parts...)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range parts {
		bases := []*msg.Baseline{nil, {C: 0.3}, {C: -1, B: randNormal(rng, d)},
			{C: 0.5, B: randNormal(rng, d), L: randNormal(rng, d*2), S: randNormal(rng, 2)},
			{L: randNormal(rng, d*d), S: randNormal(rng, d)}}
		for bi, base := range bases {
			for _, order := range []int{1, 2} {
				m := fetch[*msg.Moments12](t, eng, &msg.Moments12Request{D: d, Order: order, Base: base}, p.ID)
				if m.Partition != p.ID || m.Rows != p.Rows || m.D != d || m.Order != order {
					t.Fatalf("partition %d: header %d %d %d %d", p.ID, m.Partition, m.Rows, m.D, m.Order)
				}
				var sy float64
				syx, sx := make([]float64, d), make([]float64, d)
				syxx := make([]float64, d*d)
				for r := 0; r < p.Rows; r++ {
					xr := p.X[r*d : (r+1)*d]
					yr := residual(xr, p.Y[r], base)
					sy += yr
					for a := 0; a < d; a++ {
						syx[a] += yr * xr[a]
						sx[a] += xr[a]
						for b := 0; b < d; b++ {
							syxx[a*d+b] += yr * xr[a] * xr[b]
						}
					}
				}
				if p.Rows > 0 && (!relClose(m.SumY, sy, 1e-12) || relDiff(m.SumYX, syx) > 1e-12 || relDiff(m.SumX, sx) > 1e-12) {
					t.Errorf("partition %d baseline %d order %d: first-order sums differ from naive", p.ID, bi, order)
				}
				if p.Rows == 0 && (m.SumY != 0 || relDiff(m.SumYX, syx) != 0 || relDiff(m.SumX, sx) != 0) {
					t.Errorf("empty partition has nonzero moments")
				}
				if order == 1 {
					continue
				}
				full := make([]float64, d*d)
				linalg.Unpack(full, m.SumYXX, d)
				if e := relDiff(full, syxx); (p.Rows > 0 && e > 1e-12) || (p.Rows == 0 && e != 0) {
					t.Errorf("partition %d baseline %d: second-order sums differ from naive by %.3g", p.ID, bi, e)
				}
			}
		}
		for ki, k := range []int{1, 2, 3, 4, 5} {
			base := bases[ki]
			v := randNormal(rng, d*k)
			m4 := fetch[*msg.Moment4](t, eng, &msg.Moment4Request{D: d, K: k, V: v, Base: base}, p.ID)
			if m4.Partition != p.ID || m4.Rows != p.Rows || m4.K != k {
				t.Fatalf("partition %d: header %d %d %d", p.ID, m4.Partition, m4.Rows, m4.K)
			}
			got := make([]float64, k*k*k*k)
			msg.Sym4Unpack(got, m4.Sum, k)
			want := naiveHe4(p.X, p.Y, v, d, k, base)
			if e := relDiff(got, want); p.Rows > 0 && e > 1e-11 {
				t.Errorf("partition %d k %d: Moment4 differs from naive by %.3g relative", p.ID, k, e)
			}
			if p.Rows == 0 {
				for _, x := range got {
					if x != 0 {
						t.Fatalf("empty partition has nonzero fourth moment")
					}
				}
			}
		}
	}
}

// TestMomentErrors: the moment requests Fetch refuses (partition not held,
// malformed projection or baseline, bad order, other width, beyond the
// limits), and partials checked against another request.
func TestMomentErrors(t *testing.T) {
	p := &shard.Partition{ID: 3, Rows: 1, D: 2, X: []float64{1, 2}, Y: []float64{1}}
	eng, err := shard.NewEngine(p)
	if err != nil {
		t.Fatal(err)
	}
	nan := []float64{1, 0}
	nan[1] = nan[1] / nan[1]
	m12 := func(base *msg.Baseline, order int) *msg.Moments12Request {
		return &msg.Moments12Request{D: 2, Order: order, Base: base}
	}
	m4 := func(v []float64, k int, base *msg.Baseline) *msg.Moment4Request {
		return &msg.Moment4Request{D: 2, K: k, V: v, Base: base}
	}
	for _, c := range []struct {
		name string
		req  msg.Request
		id   int
		want error
	}{
		{"Moments12 of a missing partition", m12(nil, 2), 0, msg.ErrNoPartition},
		{"Moment4 of a missing partition", m4([]float64{1, 0}, 1, nil), 0, msg.ErrNoPartition},
		{"Moment4 with a bad projection size", m4([]float64{1, 0, 0}, 1, nil), 3, msg.ErrRequest},
		{"Moment4 with k = 0", m4([]float64{1, 0}, 0, nil), 3, msg.ErrRequest},
		{"Moment4 with k > d", m4(make([]float64, 6), 3, nil), 3, msg.ErrRequest},
		{"Moment4 with NaN projection", m4(nan, 1, nil), 3, msg.ErrRequest},
		{"Moment4 with a bad baseline size", m4([]float64{1, 0}, 1, &msg.Baseline{B: []float64{1}}), 3, msg.ErrRequest},
		{"Moment4 with a NaN baseline", m4([]float64{1, 0}, 1, &msg.Baseline{C: nan[1]}), 3, msg.ErrRequest},
		{"Moment4 for another width", &msg.Moment4Request{D: 3, K: 1, V: make([]float64, 3)}, 3, msg.ErrRequest},
		{"Moment4 beyond MaxMomentD", &msg.Moment4Request{D: msg.MaxMomentD + 1, K: 1}, 3, msg.ErrTooLarge},
		{"Moments12 with a bad baseline size", m12(&msg.Baseline{L: []float64{1}, S: []float64{1}}, 2), 3, msg.ErrRequest},
		{"Moments12 of order 3", m12(nil, 3), 3, msg.ErrRequest},
		{"Moments12 for another width", &msg.Moments12Request{D: 1, Order: 1}, 3, msg.ErrRequest},
		{"Moments12 beyond MaxMomentD", &msg.Moments12Request{D: msg.MaxMomentD + 1, Order: 2}, 3, msg.ErrTooLarge},
	} {
		if err := fetchErr(t, eng, c.req, c.id); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	m := fetch[*msg.Moments12](t, eng, m12(nil, 2), 3)
	if err := m.Check(&msg.Moments12Request{D: 3, Order: 2}); !errors.Is(err, msg.ErrInvalid) {
		t.Errorf("Check with the wrong d: %v", err)
	}
	if err := m.Check(m12(nil, 1)); !errors.Is(err, msg.ErrInvalid) {
		t.Errorf("Check with the wrong order: %v", err)
	}
	m4p := fetch[*msg.Moment4](t, eng, m4([]float64{1, 0}, 1, nil), 3)
	if err := m4p.Check(m4(make([]float64, 4), 2, nil)); !errors.Is(err, msg.ErrInvalid) {
		t.Errorf("Check with the wrong k: %v", err)
	}
}
