package msg_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"altmin/msg"
)

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
		if got := msg.Sym4Len(k); got != n {
			t.Errorf("Sym4Len(%d) = %d, want %d", k, got, n)
		}
	}
}

// TestSym4Unpack: entry (a, b, c, e) of the unpacked tensor is the packed
// entry of the sorted indices, for every ordering (checked against a
// lookup of the lexicographic position, built independently).
func TestSym4Unpack(t *testing.T) {
	for k := 1; k <= 4; k++ {
		pos := map[[4]int]int{}
		for i := 0; i < k; i++ {
			for j := i; j < k; j++ {
				for l := j; l < k; l++ {
					for m := l; m < k; m++ {
						pos[[4]int{i, j, l, m}] = len(pos)
					}
				}
			}
		}
		p := filled(msg.Sym4Len(k), 1)
		full := make([]float64, k*k*k*k)
		msg.Sym4Unpack(full, p, k)
		for idx, v := range full {
			t4 := []int{idx / (k * k * k), idx / (k * k) % k, idx / k % k, idx % k}
			slices.Sort(t4)
			if want := p[pos[[4]int(t4)]]; v != want {
				t.Fatalf("k = %d: entry %d is %v, want %v", k, idx, v, want)
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("Sym4Unpack with a short destination did not panic")
		}
	}()
	msg.Sym4Unpack(make([]float64, 15), make([]float64, 5), 2)
}

// TestBaselineEval compares Eval with the full quadratic form
// C + B.x + x^T L diag(S) L^T x on seeded random inputs, with a scratch
// that starts empty, too small, and too large.
func TestBaselineEval(t *testing.T) {
	const seed = 5
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	norm := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = rng.NormFloat64()
		}
		return v
	}
	const d = 5
	bases := []*msg.Baseline{
		nil,
		{C: 0.7},
		{C: -1, B: norm(d)},
		{L: norm(d * 2), S: norm(2)},
		{C: 0.3, B: norm(d), L: norm(d * d), S: norm(d)},
	}
	scratches := [][]float64{nil, make([]float64, 1), make([]float64, 9)}
	for bi, b := range bases {
		for si, s := range scratches {
			scratch := slices.Clone(s)
			for trial := 0; trial < 5; trial++ {
				x := norm(d)
				var want float64
				if b != nil {
					want = b.C
					r := len(b.S)
					for a := 0; a < d; a++ {
						if b.B != nil {
							want += b.B[a] * x[a]
						}
						for e := 0; e < d; e++ {
							var q float64
							for c := 0; c < r; c++ {
								q += b.L[a*r+c] * b.S[c] * b.L[e*r+c]
							}
							want += x[a] * q * x[e]
						}
					}
				}
				got := b.Eval(x, &scratch)
				if math.Abs(got-want) > 1e-12*math.Max(1, math.Abs(want)) {
					t.Errorf("baseline %d, scratch %d: Eval = %v, want %v", bi, si, got, want)
				}
			}
		}
	}
}
