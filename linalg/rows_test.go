package linalg

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// toFloat32 rounds x to float32 in place and returns the float32 copy, so
// that x and the copy hold the same values.
func toFloat32(x []float64) []float32 {
	x32 := make([]float32, len(x))
	for i, v := range x {
		x32[i] = float32(v)
		x[i] = float64(x32[i])
	}
	return x32
}

// TestFloat32RowsSameBits checks the property float32 storage relies on:
// for values exactly representable in float32, the float32 entry points
// give the same bits as the float64 ones (patterns, predictions, Gram
// matrix and X^T y), for every block size of the plan and for the planned
// one, and the result is still right against the dense reference.
func TestFloat32RowsSameBits(t *testing.T) {
	const seed = 201
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	var ws, ws32 StatsWorkspace
	for _, c := range []sfCase{
		{0, 3, 2, "random"}, {1, 1, 1, "random"}, {7, 5, 2, "random"}, {200, 4, 3, "dense"},
		{301, 7, 5, "sparse"}, {300, 20, 4, "random"}, {257, 13, 10, "random"}, {90, 2, 13, "random"},
		{60, 9, 4, "dead"}, {70, 2, 65, "random"}, {1000, 21, 4, "random"},
	} {
		x, y, signs, pat := sfInput(rng, c)
		x32 := toFloat32(x)
		u := make([]float64, c.k*c.d)
		for i := range u {
			u[i] = rng.NormFloat64()
		}

		p64, p32 := NewPatterns(c.n, c.k), NewPatterns(c.n, c.k)
		pr64, pr32 := make([]float64, c.n), make([]float64, c.n)
		ComputePatterns(p64, pr64, x, c.d, u, signs)
		ComputePatterns32(p32, pr32, x32, c.d, u, signs)
		if !slices.Equal(p64.Bits, p32.Bits) || !slices.Equal(pr64, pr32) {
			t.Fatalf("%v: ComputePatterns32 differs from ComputePatterns", c)
		}

		m := c.d * c.k
		g64, r64 := make([]float64, PackedLen(m)), make([]float64, m)
		g32, r32 := make([]float64, PackedLen(m)), make([]float64, m)
		Stats(&ws, g64, r64, x, y, c.d, pat, signs)
		Stats32(&ws32, g32, r32, x32, y, c.d, pat, signs)
		if !slices.Equal(g64, g32) || !slices.Equal(r64, r32) {
			t.Fatalf("%v: Stats32 differs from Stats", c)
		}
		sfCheck(t, c.String()+",float32", g32, r32, x, y, c.d, pat, signs)
		if c.n == 0 {
			continue
		}
		for b := 1; b <= min(c.k, maxBlockBits); b++ {
			if c.k > 20 && b%4 != 0 && b != 1 {
				continue // keep the test short
			}
			ws.stats(g64, r64, x, y, c.d, pat, signs, b)
			ws32.statsOf(g32, r32, Rows{F32: x32, D: c.d}, y, pat, signs, b)
			if !slices.Equal(g64, g32) || !slices.Equal(r64, r32) {
				t.Fatalf("%v, b=%d: float32 rows differ from float64 rows", c, b)
			}
		}
	}
}

// TestGather32 compares the converting gather (assembly where available)
// and its portable version with a plain loop, for row lengths with and
// without a vector tail, repeated and unordered indices, prefetch indices
// beyond n, and padding columns left alone.
func TestGather32(t *testing.T) {
	rng := rand.New(rand.NewPCG(202, 0))
	const rows = 50
	for _, d := range []int{1, 3, 4, 7, 8, 20, 21} {
		ldx := padTo4(d)
		x := make([]float32, rows*d)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		idx := []int32{3, 3, 49, 0, 17, 2, 11, 40, 5, 9, 30, 1}
		n := len(idx) - 2 // the last two are only prefetched
		for _, kernel := range []string{"dispatch", "portable"} {
			dst := make([]float64, len(idx)*ldx)
			for i := range dst {
				dst[i] = -1
			}
			if kernel == "dispatch" {
				Rows{F32: x, D: d}.gather(dst, ldx, idx, n)
			} else {
				gather32Go(dst, ldx, x, d, idx[:n])
			}
			for t2, i := range idx {
				for j := 0; j < ldx; j++ {
					want := -1.0
					if t2 < n && j < d {
						want = float64(x[int(i)*d+j])
					}
					if dst[t2*ldx+j] != want {
						t.Fatalf("%s, d=%d: row %d col %d: %v, want %v", kernel, d, t2, j, dst[t2*ldx+j], want)
					}
				}
			}
		}
	}
}

func TestFloat32PanicsOnBadDimensions(t *testing.T) {
	panics := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	var ws StatsWorkspace
	pat := NewPatterns(2, 2)
	panics("Stats32 short x", func() {
		Stats32(&ws, make([]float64, PackedLen(6)), make([]float64, 6), make([]float32, 5), make([]float64, 2), 3, pat, []float64{1, 1})
	})
	panics("ComputePatterns32 long x", func() {
		ComputePatterns32(pat, nil, make([]float32, 7), 3, make([]float64, 6), []float64{1, 1})
	})
	panics("gather32 bad index", func() {
		Rows{F32: make([]float32, 6), D: 3}.gather(make([]float64, 8), 4, []int32{2}, 1)
	})
}

// BenchmarkStatsFloat32 compares an iteration's kernels (patterns with
// predictions, then statistics) on rows held as float64 and as float32, at
// the shape of the very-large-n run (d = 20, k = 4).
func BenchmarkStatsFloat32(b *testing.B) {
	const n, d, k = 1000000, 20, 4
	in := newBenchInput(n, d, k)
	x32 := toFloat32(in.x)
	m := d * k
	g, r := make([]float64, PackedLen(m)), make([]float64, m)
	pred := make([]float64, n)
	for _, st := range []string{"float64", "float32"} {
		var ws StatsWorkspace
		b.Run(fmt.Sprintf("patterns/n=%d,d=%d,k=%d,%s", n, d, k, st), func(b *testing.B) {
			for b.Loop() {
				if st == "float32" {
					ComputePatterns32(in.pat, pred, x32, d, in.u, in.signs)
				} else {
					ComputePatterns(in.pat, pred, in.x, d, in.u, in.signs)
				}
			}
			reportMulAdds(b, float64(n)*float64(d*k))
		})
		b.Run(fmt.Sprintf("stats/n=%d,d=%d,k=%d,%s", n, d, k, st), func(b *testing.B) {
			for b.Loop() {
				if st == "float32" {
					Stats32(&ws, g, r, x32, in.y, d, in.pat, in.signs)
				} else {
					Stats(&ws, g, r, in.x, in.y, d, in.pat, in.signs)
				}
			}
			reportMulAdds(b, float64(n)*float64(d*d)/2)
		})
	}
}
