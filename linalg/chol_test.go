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

// The factor agrees with LAPACK's (gonum's Dpotrf) and reproduces A, for
// orders around the panel height, the strip width and the parallel cutoff.
func TestCholeskyMatchesDpotrf(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var ws cholWorkspace
	for _, m := range []int{1, 2, 3, 4, 5, 31, 32, 33, 64, 67, 100, 193, 230, 261} {
		a := randomSPD(rng, m, m+5, 0.1)
		got := slices.Clone(a)
		if !cholesky(got, m, &ws) {
			t.Fatalf("m=%d: cholesky reported not positive definite", m)
		}
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
		// The strictly lower triangle is not touched.
		for i := 1; i < m; i++ {
			for j := 0; j < i; j++ {
				if got[i*m+j] != a[i*m+j] {
					t.Fatalf("m=%d: lower element (%d, %d) changed", m, i, j)
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
		got := slices.Clone(a)
		if !cholesky(got, m, &ws) {
			t.Fatalf("procs=%d: not positive definite", procs)
		}
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
		if cholesky(slices.Clone(a), m, &ws) {
			t.Errorf("m=%d: indefinite matrix factored", m)
		}
		a[(m-1)*m+m-1] = math.NaN()
		if cholesky(slices.Clone(a), m, &ws) {
			t.Errorf("m=%d: matrix with NaN factored", m)
		}
		// Rank deficient: a zero row and column.
		b := randomSPD(rng, m, m+3, 0)
		for j := 0; j < m; j++ {
			b[(m/2)*m+j], b[j*m+m/2] = 0, 0
		}
		if cholesky(b, m, &ws) {
			t.Errorf("m=%d: singular matrix factored", m)
		}
	}
}

// gramStrips computes exactly the first nb strips of gram.
func TestGramStrips(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, ldx := range []int{4, 8, 12, 20, 52, 100} {
		rows := 9
		x := make([]float64, rows*ldx)
		for i := range x {
			x[i] = rng.NormFloat64()
		}
		full := make([]float64, stripLen(ldx))
		for i := range full {
			full[i] = -7
		}
		gram(x, rows, ldx, full)
		for nb := 0; nb <= ldx/4; nb++ {
			c := make([]float64, stripLen(ldx))
			for i := range c {
				c[i] = -7
			}
			gramStrips(x, rows, ldx, nb, c)
			o := stripOff(ldx, nb)
			for i := range c {
				if i < o && c[i] != full[i] || i >= o && c[i] != -7 {
					t.Fatalf("ldx=%d nb=%d: element %d = %v", ldx, nb, i, c[i])
				}
			}
			g := make([]float64, stripLen(ldx))
			gramStripsGo(x, rows, ldx, nb, g)
			h := make([]float64, stripLen(ldx))
			gramStrips(x, rows, ldx, nb, h)
			if !slices.Equal(g, h) {
				t.Fatalf("ldx=%d nb=%d: gramStrips differs from gramStripsGo", ldx, nb)
			}
		}
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
