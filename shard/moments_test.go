package shard_test

import (
	"errors"
	"math/rand/v2"
	"testing"

	"altmin/linalg"
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
func naiveHe4(x, y, v []float64, d, k int, base *shard.Baseline) []float64 {
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
func residual(x []float64, y float64, base *shard.Baseline) float64 {
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

func TestSym4Len(t *testing.T) {
	for k := 1; k <= 7; k++ {
		n := 0
		for i := 0; i < k; i++ {
			for j := i; j < k; j++ {
				for l := j; l < k; l++ {
					n += k - l
				}
			}
		}
		if got := shard.Sym4Len(k); got != n {
			t.Errorf("Sym4Len(%d) = %d, want %d", k, got, n)
		}
	}
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
		bases := []*shard.Baseline{nil, {C: 0.3}, {C: -1, B: randNormal(rng, d)},
			{C: 0.5, B: randNormal(rng, d), L: randNormal(rng, d*2), S: randNormal(rng, 2)},
			{L: randNormal(rng, d*d), S: randNormal(rng, d)}}
		for bi, base := range bases {
			for _, order := range []int{1, 2} {
				m, err := eng.Moments12(p.ID, base, order)
				if err != nil {
					t.Fatal(err)
				}
				if err := m.Validate(d, order); err != nil {
					t.Fatal(err)
				}
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
			m4, err := eng.Moment4(p.ID, v, k, base)
			if err != nil {
				t.Fatal(err)
			}
			if err := m4.Validate(k); err != nil {
				t.Fatal(err)
			}
			got := make([]float64, k*k*k*k)
			shard.Sym4Unpack(got, m4.Sum, k)
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

func TestMomentErrors(t *testing.T) {
	p := &shard.Partition{ID: 3, Rows: 1, D: 2, X: []float64{1, 2}, Y: []float64{1}}
	eng, err := shard.NewEngine(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Moments12(0, nil, 2); !errors.Is(err, shard.ErrNoPartition) {
		t.Errorf("Moments12 of a missing partition: %v", err)
	}
	if _, err := eng.Moment4(0, []float64{1, 0}, 1, nil); !errors.Is(err, shard.ErrNoPartition) {
		t.Errorf("Moment4 of a missing partition: %v", err)
	}
	if _, err := eng.Moment4(3, []float64{1, 0, 0}, 1, nil); !errors.Is(err, shard.ErrRequest) {
		t.Errorf("Moment4 with a bad projection size: %v", err)
	}
	if _, err := eng.Moment4(3, []float64{1, 0}, 0, nil); !errors.Is(err, shard.ErrRequest) {
		t.Errorf("Moment4 with k = 0: %v", err)
	}
	nan := []float64{1, 0}
	nan[1] = nan[1] / nan[1]
	if _, err := eng.Moment4(3, nan, 1, nil); !errors.Is(err, shard.ErrRequest) {
		t.Errorf("Moment4 with NaN projection: %v", err)
	}
	if _, err := eng.Moment4(3, []float64{1, 0}, 1, &shard.Baseline{B: []float64{1}}); !errors.Is(err, shard.ErrRequest) {
		t.Errorf("Moment4 with a bad baseline size: %v", err)
	}
	if _, err := eng.Moment4(3, []float64{1, 0}, 1, &shard.Baseline{C: nan[1]}); !errors.Is(err, shard.ErrRequest) {
		t.Errorf("Moment4 with a NaN baseline: %v", err)
	}
	if _, err := eng.Moments12(3, &shard.Baseline{L: []float64{1}, S: []float64{1}}, 2); !errors.Is(err, shard.ErrRequest) {
		t.Errorf("Moments12 with a bad baseline size: %v", err)
	}
	if _, err := eng.Moments12(3, nil, 3); !errors.Is(err, shard.ErrRequest) {
		t.Errorf("Moments12 of order 3: %v", err)
	}
	m, _ := eng.Moments12(3, nil, 2)
	if err := m.Validate(3, 2); !errors.Is(err, shard.ErrRequest) {
		t.Errorf("Validate with the wrong d: %v", err)
	}
	if err := m.Validate(2, 1); !errors.Is(err, shard.ErrRequest) {
		t.Errorf("Validate with the wrong order: %v", err)
	}
	m4, _ := eng.Moment4(3, []float64{1, 0}, 1, nil)
	if err := m4.Validate(2); !errors.Is(err, shard.ErrRequest) {
		t.Errorf("Validate with the wrong k: %v", err)
	}
}
