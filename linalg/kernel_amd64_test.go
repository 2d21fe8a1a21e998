//go:build amd64 && !purego

package linalg

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestStatsSameBitsWithoutAssembly runs Stats and ComputePatterns with the
// assembly kernels and with the portable ones and requires identical bits,
// so a partition's statistics do not depend on which CPU computed them.
func TestStatsSameBitsWithoutAssembly(t *testing.T) {
	if !useAVX {
		t.Skip("CPU without AVX2 and FMA: only the portable kernels run")
	}
	defer func() { useAVX = true }()
	const seed = 105
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for _, c := range []sfCase{
		{500, 13, 10, "random"}, {300, 6, 3, "sparse"}, {200, 5, 30, "random"}, {150, 3, 65, "dense"},
	} {
		x, y, signs, pat := sfInput(rng, c)
		u := make([]float64, c.k*c.d)
		for i := range u {
			u[i] = rng.NormFloat64()
		}
		m := c.d * c.k
		var g, r, pred [2][]float64
		var pats [2]*Patterns
		for v, on := range []bool{true, false} {
			useAVX = on
			pats[v] = NewPatterns(c.n, c.k)
			pred[v] = make([]float64, c.n)
			ComputePatterns(pats[v], pred[v], x, c.d, u, signs)
			g[v], r[v] = make([]float64, PackedLen(m)), make([]float64, m)
			var ws StatsWorkspace
			Stats(&ws, g[v], r[v], x, y, c.d, pat, signs)
		}
		if !slices.Equal(pats[0].Bits, pats[1].Bits) || !slices.Equal(pred[0], pred[1]) {
			t.Fatalf("%v: ComputePatterns differs without assembly", c)
		}
		if !slices.Equal(g[0], g[1]) || !slices.Equal(r[0], r[1]) {
			t.Fatalf("%v: Stats differs without assembly", c)
		}
	}
}
