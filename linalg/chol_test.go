package linalg

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/lapack/gonum"
	"gonum.org/v1/gonum/mat"
)

// randomSPD returns a random m x m row-major symmetric positive definite
// matrix B^T B / n + shift I with B of n rows.
func randomSPD(rng *rand.Rand, m, n int, shift float64) []float64 {
	b := make([]float64, n*m)
	for i := range b {
		b[i] = rng.NormFloat64()
	}
	a := make([]float64, m*m)
	for i := 0; i < m; i++ {
		for j := i; j < m; j++ {
			var s float64
			for r := 0; r < n; r++ {
				s += b[r*m+i] * b[r*m+j]
			}
			s /= float64(n)
			if i == j {
				s += shift
			}
			a[i*m+j], a[j*m+i] = s, s
		}
	}
	return a
}

// padded returns the m x m row-major a in the layout cholesky takes: row
// stride cholLd(m), that many rows, the padding filled with NaN (never read).
func padded(a []float64, m int) []float64 {
	lda := cholLd(m)
	p := make([]float64, lda*lda)
	for i := range p {
		p[i] = math.NaN()
	}
	for i := 0; i < m; i++ {
		copy(p[i*lda:i*lda+m], a[i*m:(i+1)*m])
	}
	return p
}

// upperOf returns the upper triangle of the padded matrix p as an m x m
// row-major matrix with zeros below the diagonal.
func upperOf(p []float64, m int) []float64 {
	lda := cholLd(m)
	u := make([]float64, m*m)
	for i := 0; i < m; i++ {
		copy(u[i*m+i:(i+1)*m], p[i*lda+i:i*lda+m])
	}
	return u
}

// cholRef is the blocked factorization of cholesky written as plain loops
// on an m x m matrix: the same panel height and, for every element, the
// same operations in the same order (the unblocked right-looking steps in
// the panel; in the trailing matrix, one subtraction per panel of the
// panel's products summed by a chain of fused multiply-adds from +0).
func cholRef(a []float64, m int) bool {
	for j0 := 0; j0 < m; j0 += cholBlock {
		t0 := min(j0+cholBlock, m)
		for i := j0; i < t0; i++ {
			p := a[i*m+i]
			if !(p > 0) || math.IsInf(p, 1) {
				return false
			}
			p = math.Sqrt(p)
			a[i*m+i] = p
			inv := 1 / p
			for c := i + 1; c < m; c++ {
				a[i*m+c] *= inv
			}
			for r := i + 1; r < t0; r++ {
				for c := r; c < m; c++ {
					a[r*m+c] = math.FMA(-a[i*m+r], a[i*m+c], a[r*m+c])
				}
			}
		}
		for j := t0; j < m; j++ {
			for l := j; l < m; l++ {
				var acc float64
				for r := j0; r < t0; r++ {
					acc = math.FMA(a[r*m+j], a[r*m+l], acc)
				}
				a[j*m+l] -= acc
			}
		}
	}
	return true
}

// The factor is the same bits as the plain loops of cholRef, on the
// assembly and on the portable kernels (this file runs under both builds).
func TestCholeskyMatchesReferenceBits(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	var ws cholWorkspace
	for _, m := range []int{1, 5, 47, 48, 49, 96, 101, 193, 250, 403} {
		a := randomSPD(rng, m, m+7, 0.05)
		got := padded(a, m)
		if !cholesky(got, m, cholLd(m), &ws) {
			t.Fatalf("m=%d: not positive definite", m)
		}
		want := upperOf(padded(a, m), m)
		for i := 0; i < m; i++ { // cholRef reads the upper triangle only
			for j := 0; j < i; j++ {
				want[i*m+j] = a[i*m+j]
			}
		}
		if !cholRef(want, m) {
			t.Fatalf("m=%d: reference: not positive definite", m)
		}
		g := upperOf(got, m)
		for i := 0; i < m; i++ {
			for j := i; j < m; j++ {
				if math.Float64bits(g[i*m+j]) != math.Float64bits(want[i*m+j]) {
					t.Fatalf("m=%d: U[%d][%d] = %v, reference %v", m, i, j, g[i*m+j], want[i*m+j])
				}
			}
		}
	}
}

// The factor agrees with LAPACK's (gonum's Dpotrf) and reproduces A, for
// orders around the panel height, the strip width and the parallel cutoff.
func TestCholeskyMatchesDpotrf(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var ws cholWorkspace
	for _, m := range []int{1, 2, 3, 4, 5, 31, 32, 33, 64, 67, 100, 193, 230, 261} {
		a := randomSPD(rng, m, m+5, 0.1)
		p := padded(a, m)
		if !cholesky(p, m, cholLd(m), &ws) {
			t.Fatalf("m=%d: cholesky reported not positive definite", m)
		}
		got := upperOf(p, m)
		want := slices.Clone(a)
		if !(gonum.Implementation{}).Dpotrf(blas.Upper, m, want, m) {
			t.Fatalf("m=%d: Dpotrf failed", m)
		}
		var scale float64
		for i := 0; i < m; i++ {
			scale = max(scale, math.Abs(want[i*m+i]))
		}
		for i := 0; i < m; i++ {
			for j := i; j < m; j++ {
				if d := math.Abs(got[i*m+j] - want[i*m+j]); d > 1e-10*scale {
					t.Fatalf("m=%d: U[%d][%d] = %v, Dpotrf %v", m, i, j, got[i*m+j], want[i*m+j])
				}
			}
		}
		// U^T U = A.
		for i := 0; i < m; i++ {
			for j := i; j < m; j++ {
				var s float64
				for r := 0; r <= i; r++ {
					s += got[r*m+i] * got[r*m+j]
				}
				if d := math.Abs(s - a[i*m+j]); d > 1e-12*(1+math.Abs(a[i*m+j]))*float64(m) {
					t.Fatalf("m=%d: (U^T U)[%d][%d] = %v, A has %v", m, i, j, s, a[i*m+j])
				}
			}
		}
	}
}

// The factor is the same bits whatever the number of goroutines.
func TestCholeskyDeterministicAcrossThreads(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	m := 2*cholParallelMin + 37
	a := randomSPD(rng, m, m/2+m, 0.01)
	prev := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(prev)
	var ref []float64
	for _, procs := range []int{1, 2, 3, 5} {
		runtime.GOMAXPROCS(procs)
		var ws cholWorkspace
		got := padded(a, m)
		if !cholesky(got, m, cholLd(m), &ws) {
			t.Fatalf("procs=%d: not positive definite", procs)
		}
		got = upperOf(got, m)
		if ref == nil {
			ref = got
			continue
		}
		if !slices.Equal(got, ref) {
			t.Fatalf("factor with GOMAXPROCS=%d differs from GOMAXPROCS=1", procs)
		}
	}
}

func TestCholeskyRefusesIndefinite(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var ws cholWorkspace
	for _, m := range []int{1, 7, 70} {
		a := randomSPD(rng, m, m+3, 0)
		// A negative pivot deep in the matrix.
		a[(m-1)*m+m-1] = -1
		if cholesky(padded(a, m), m, cholLd(m), &ws) {
			t.Errorf("m=%d: indefinite matrix factored", m)
		}
		a[(m-1)*m+m-1] = math.NaN()
		if cholesky(padded(a, m), m, cholLd(m), &ws) {
			t.Errorf("m=%d: matrix with NaN factored", m)
		}
		// Rank deficient: a zero row and column.
		b := randomSPD(rng, m, m+3, 0)
		for j := 0; j < m; j++ {
			b[(m/2)*m+j], b[j*m+m/2] = 0, 0
		}
		if cholesky(padded(b, m), m, cholLd(m), &ws) {
			t.Errorf("m=%d: singular matrix factored", m)
		}
	}
}

// gramSub subtracts exactly the strips s0..s1-1 of gram's result, tile by
// tile, from a matrix of any row stride, leaving the rest alone; the
// assembly and portable kernels give the same bits.
func TestGramSub(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, ldx := range []int{4, 8, 12, 20, 52, 100} {
		for _, rows := range []int{1, 9, 48} {
			x := make([]float64, rows*ldx)
			for i := range x {
				x[i] = rng.NormFloat64()
			}
			full := make([]float64, stripLen(ldx))
			gram(x, rows, ldx, full)
			for _, ldo := range []int{ldx, ldx + 5} {
				nst := ldx / 4
				for s0 := 0; s0 <= nst; s0++ {
					for s1 := s0; s1 <= nst; s1++ {
						// A guard of NaNs after the matrix catches writes past its end.
						buf := make([]float64, ldx*ldo+16)
						for i := range buf {
							buf[i] = rng.NormFloat64()
						}
						for i := ldx * ldo; i < len(buf); i++ {
							buf[i] = math.NaN()
						}
						out := buf[: ldx*ldo : ldx*ldo]
						orig := slices.Clone(out)
						want := slices.Clone(out)
						for s := s0; s < s1; s++ {
							w := ldx - 4*s
							for r := 0; r < 4; r++ {
								for c := 0; c < w; c++ {
									want[(4*s+r)*ldo+4*s+c] -= full[stripOff(ldx, s)+r*w+c]
								}
							}
						}
						gramSub(x, rows, ldx, s0, s1, out, ldo)
						if !slices.Equal(out, want) {
							t.Fatalf("ldx=%d rows=%d ldo=%d strips %d..%d: differs from gram", ldx, rows, ldo, s0, s1)
						}
						for i, v := range buf[ldx*ldo:] {
							if !math.IsNaN(v) {
								t.Fatalf("ldx=%d rows=%d ldo=%d strips %d..%d: wrote %v past the matrix at +%d", ldx, rows, ldo, s0, s1, v, i)
							}
						}
						got := slices.Clone(orig)
						gramSubGo(x, rows, ldx, s0, s1, got, ldo)
						if !slices.Equal(got, want) {
							t.Fatalf("ldx=%d rows=%d ldo=%d strips %d..%d: gramSubGo differs", ldx, rows, ldo, s0, s1)
						}
					}
				}
			}
		}
	}
}

// The kernel wrappers refuse dimensions that would read or write out of
// bounds, before any assembly runs.
func TestGramSubRefusesBadDimensions(t *testing.T) {
	x := make([]float64, 3*8)
	out := make([]float64, 8*8)
	for _, c := range []struct {
		name                string
		m, ldx, s0, s1, ldo int
		outLen              int
	}{
		{"ldx not a multiple of 4", 3, 6, 0, 1, 8, 64},
		{"s1 beyond the strips", 3, 8, 0, 3, 8, 64},
		{"s0 after s1", 3, 8, 2, 1, 8, 64},
		{"ldo below ldx", 3, 8, 0, 1, 7, 64},
		{"out too short", 3, 8, 0, 2, 8, 8*7 + 7},
		{"x too short", 4, 8, 0, 1, 8, 64},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", c.name)
				}
			}()
			gramSub(x, c.m, c.ldx, c.s0, c.s1, out[:c.outLen], c.ldo)
		}()
	}
}

// BenchmarkSolveNormal times the whole solve (unpack, factor, condition
// estimate, triangular solves) at the orders of the performance goals,
// against gonum's mat.Cholesky.
func BenchmarkSolveNormal(b *testing.B) {
	for _, m := range []int{250, 500, 1000, 2000} {
		rng := rand.New(rand.NewPCG(9, uint64(m)))
		a := randomSPD(rng, m, 8, 1)
		g := make([]float64, PackedLen(m))
		PackUpper(g, a, m)
		r := make([]float64, m)
		for i := range r {
			r[i] = rng.NormFloat64()
		}
		u := make([]float64, m)
		b.Run(fmt.Sprintf("altmin/m=%d", m), func(b *testing.B) {
			for b.Loop() {
				if _, err := SolveNormal(u, g, r, m, u); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("gonum/m=%d", m), func(b *testing.B) {
			for b.Loop() {
				var ch mat.Cholesky
				if !ch.Factorize(mat.NewSymDense(m, slices.Clone(a))) {
					b.Fatal("not positive definite")
				}
				_ = ch.Cond()
				if err := ch.SolveVecTo(mat.NewVecDense(m, u), mat.NewVecDense(m, r)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
