package linalg

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// Benchmarks of the statistics pass. Throughput is reported as
// Gmuladd/s = n * d^2/2 / time: the multiply-adds of one d x d Gram matrix
// over all n rows, the least work the grouped pass can do (whatever the
// number of passes, rows skipped for having no active neuron, or padding of
// d to a multiple of 4). The dense baseline does n (dk)^2/2.
//
// Inputs are Gaussian rows and weights; patterns come from ComputePatterns,
// so each bit is on for about half the rows, as in training from a random
// start.

type benchInput struct {
	x, y, u, signs []float64
	pat            *Patterns
}

func newBenchInput(n, d, k int) *benchInput {
	rng := rand.New(rand.NewPCG(uint64(n), uint64(d*1000+k)))
	in := &benchInput{
		x: make([]float64, n*d), y: make([]float64, n),
		u: make([]float64, k*d), signs: make([]float64, k),
		pat: NewPatterns(n, k),
	}
	for i := range in.x {
		in.x[i] = rng.NormFloat64()
	}
	for i := range in.y {
		in.y[i] = rng.NormFloat64()
	}
	for i := range in.u {
		in.u[i] = rng.NormFloat64()
	}
	for q := range in.signs {
		in.signs[q] = float64(1 - 2*(q%2))
	}
	ComputePatterns(in.pat, nil, in.x, d, in.u, in.signs)
	return in
}

func reportMulAdds(b *testing.B, perOp float64) {
	s := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(s*1e3, "ms/op")
	b.ReportMetric(perOp/s/1e9, "Gmuladd/s")
}

var benchStatsSizes = []struct{ n, d, k int }{
	{100000, 100, 10}, {100000, 50, 5},
	{20000, 50, 1}, {20000, 50, 2}, {20000, 50, 4}, {20000, 50, 8},
	{20000, 50, 16}, {20000, 50, 32}, {20000, 50, 64},
}

func BenchmarkStats(b *testing.B) {
	for _, c := range benchStatsSizes {
		b.Run(fmt.Sprintf("n=%d,d=%d,k=%d", c.n, c.d, c.k), func(b *testing.B) {
			in := newBenchInput(c.n, c.d, c.k)
			m := c.d * c.k
			g, r := make([]float64, PackedLen(m)), make([]float64, m)
			var ws StatsWorkspace
			Stats(&ws, g, r, in.x, in.y, c.d, in.pat, in.signs) // size the workspace
			b.ResetTimer()
			for b.Loop() {
				Stats(&ws, g, r, in.x, in.y, c.d, in.pat, in.signs)
			}
			reportMulAdds(b, float64(c.n)*float64(c.d*c.d)/2)
			b.ReportMetric(float64(planBlock(c.n, c.k, c.d)), "blockbits")
		})
	}
}

// BenchmarkStatsTwoPartitions runs two partitions of n/2 rows concurrently,
// one goroutine each, as shard.Engine does for partitions it holds.
func BenchmarkStatsTwoPartitions(b *testing.B) {
	const n, d, k = 100000, 100, 10
	in := newBenchInput(n, d, k)
	m := d * k
	type part struct {
		ws   StatsWorkspace
		g, r []float64
		pat  *Patterns
		x, y []float64
	}
	parts := make([]*part, 2)
	for p := range parts {
		lo, hi := p*n/2, (p+1)*n/2
		pt := &part{g: make([]float64, PackedLen(m)), r: make([]float64, m),
			pat: NewPatterns(hi-lo, k), x: in.x[lo*d : hi*d], y: in.y[lo:hi]}
		copy(pt.pat.Bits, in.pat.Bits[lo*in.pat.Words:hi*in.pat.Words])
		Stats(&pt.ws, pt.g, pt.r, pt.x, pt.y, d, pt.pat, in.signs)
		parts[p] = pt
	}
	b.ResetTimer()
	for b.Loop() {
		var wg sync.WaitGroup
		for _, pt := range parts {
			wg.Go(func() { Stats(&pt.ws, pt.g, pt.r, pt.x, pt.y, d, pt.pat, in.signs) })
		}
		wg.Wait()
	}
	reportMulAdds(b, float64(n)*float64(d*d)/2)
}

// BenchmarkStatsDense is the former implementation (B formed 128 rows at a
// time, gonum Syrk and Gemv) for the speed-up ratio; see BenchmarkStats at
// the same size.
func BenchmarkStatsDense(b *testing.B) {
	const n, d, k = 20000, 50, 4
	in := newBenchInput(n, d, k)
	m := d * k
	g, r := make([]float64, PackedLen(m)), make([]float64, m)
	b.Run(fmt.Sprintf("n=%d,d=%d,k=%d", n, d, k), func(b *testing.B) {
		for b.Loop() {
			statsDense(g, r, in.x, in.y, d, in.pat, in.signs)
		}
		reportMulAdds(b, float64(n)*float64(d*d)/2)
		b.ReportMetric(float64(n)*float64(m*m)/2/(b.Elapsed().Seconds()/float64(b.N))/1e9, "dense-Gmuladd/s")
	})
}

func BenchmarkComputePatterns(b *testing.B) {
	for _, c := range []struct{ n, d, k int }{{100000, 100, 10}, {20000, 50, 64}} {
		b.Run(fmt.Sprintf("n=%d,d=%d,k=%d", c.n, c.d, c.k), func(b *testing.B) {
			in := newBenchInput(c.n, c.d, c.k)
			pred := make([]float64, c.n)
			for b.Loop() {
				ComputePatterns(in.pat, pred, in.x, c.d, in.u, in.signs)
			}
			reportMulAdds(b, float64(c.n)*float64(c.d*c.k))
		})
	}
}

// statsDense is the former Stats: B formed statsBlock rows at a time, then
// blas64.Syrk and Gemv into a full m x m matrix.
func statsDense(g, r, x, y []float64, d int, pat *Patterns, signs []float64) {
	const statsBlock = 128
	k := len(signs)
	m := d * k
	blk := make([]float64, statsBlock*m)
	yb := make([]float64, statsBlock)
	full := make([]float64, m*m)
	clear(r)
	nb := 0
	flush := func() {
		if nb == 0 {
			return
		}
		bm := blas64.General{Rows: nb, Cols: m, Stride: m, Data: blk[:nb*m]}
		c := blas64.Symmetric{Uplo: blas.Upper, N: m, Stride: m, Data: full}
		blas64.Syrk(blas.Trans, 1, bm, 1, c)
		blas64.Gemv(blas.Trans, 1, bm, blas64.Vector{N: nb, Inc: 1, Data: yb[:nb]}, 1, blas64.Vector{N: m, Inc: 1, Data: r})
		nb = 0
	}
	for i := 0; i < pat.Rows; i++ {
		row := pat.Bits[i*pat.Words : (i+1)*pat.Words]
		xi := x[i*d : (i+1)*d]
		dst := blk[nb*m : (nb+1)*m]
		any := false
		for q := 0; q < k; q++ {
			seg := dst[q*d : (q+1)*d]
			if row[q/64]>>(uint(q)%64)&1 == 0 {
				clear(seg)
				continue
			}
			any = true
			for j, v := range xi {
				seg[j] = signs[q] * v
			}
		}
		if !any {
			continue
		}
		yb[nb] = y[i]
		nb++
		if nb == statsBlock {
			flush()
		}
	}
	flush()
	PackUpper(g, full, m)
}

// BenchmarkStatsBlockSize times every block size of the plan at one shape,
// to check the cost model's choice (reported as blockbits by BenchmarkStats).
func BenchmarkStatsBlockSize(b *testing.B) {
	const n, d, k = 20000, 50, 16
	in := newBenchInput(n, d, k)
	m := d * k
	g, r := make([]float64, PackedLen(m)), make([]float64, m)
	for bb := 1; bb <= min(k, maxBlockBits); bb++ {
		b.Run(fmt.Sprintf("n=%d,d=%d,k=%d,b=%d", n, d, k, bb), func(b *testing.B) {
			var ws StatsWorkspace
			for b.Loop() {
				ws.stats(g, r, in.x, in.y, d, in.pat, in.signs, bb)
			}
			reportMulAdds(b, float64(n)*float64(d*d)/2)
			b.ReportMetric(planCost(n, k, d, bb)*float64(stripLen(padTo4(d)))/1e6, "model-Mmuladd")
		})
	}
}

// BenchmarkGramKernelPeak measures the Gram kernel on data that stay in the
// L1 cache, one goroutine (see GramPeak): the multiply-add rate the
// statistics pass and the solve can at best reach on one core.
func BenchmarkGramKernelPeak(b *testing.B) {
	x, m, ldx, c, madds := peakInput()
	for b.Loop() {
		gram(x, m, ldx, c)
	}
	b.ReportMetric(madds*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gmuladd/s")
}
