package linalg

import (
	"math"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack/gonum"
)

// This file holds the Cholesky factorization of the coordinator's solve. The
// m x m normal matrix of a step has m = d k up to a few thousand; gonum's
// pure-Go Dpotrf takes 0.1-0.2 s at m = 1000 on the reference machine. The
// factorization here is the same blocked right-looking algorithm (LAPACK's
// Dpotrf with uplo = Upper on a row-major matrix), with its O(m^3) part, the
// update of the trailing matrix, done by the Gram kernel of the statistics
// pass (AVX2 and FMA where available) on up to GOMAXPROCS goroutines.
//
// Determinism: every element of the factor is computed by the same chain of
// operations whatever the number of goroutines, which only decides who
// computes which strip of the trailing update.

// cholBlock is the panel height: rows of U factored together, whose
// off-diagonal part (cholBlock x m floats) the Gram kernel reads once per
// tile of the trailing update.
const cholBlock = 48

// cholParallelMin is the smallest trailing order whose update is split among
// goroutines.
const cholParallelMin = 192

// cholWorkspace holds the scratch memory of cholesky.
type cholWorkspace struct {
	panel []float64   // the panel's off-diagonal rows, padded: cholBlock x ldt
	sub   [][]float64 // per worker: a copy of the panel's columns of its strips
	trail []float64   // X^T X of the panel, strip layout of order ldt
}

// cholesky overwrites the upper triangle of the m x m row-major symmetric
// matrix a with the upper triangular U such that A = U^T U, reading only
// the upper triangle of A. It reports false, leaving a partly overwritten,
// when A is not positive definite in floating point (a pivot is not
// positive, or NaN).
func cholesky(a []float64, m int, ws *cholWorkspace) bool {
	if len(a) != m*m {
		panic("linalg: bad dimensions in cholesky")
	}
	for j0 := 0; j0 < m; j0 += cholBlock {
		jb := min(cholBlock, m-j0)
		// Factor the panel rows j0..j0+jb-1, all columns to the right:
		// U11 and U12 = U11^-T A12 together (unblocked right-looking).
		for i := j0; i < j0+jb; i++ {
			row := a[i*m : (i+1)*m]
			p := row[i]
			if !(p > 0) || math.IsInf(p, 1) {
				return false
			}
			p = math.Sqrt(p)
			row[i] = p
			inv := 1 / p
			for c := i + 1; c < m; c++ {
				row[c] *= inv
			}
			for r := i + 1; r < j0+jb; r++ {
				axpy(-row[r], row[r:], a[r*m+r:(r+1)*m])
			}
		}
		if j0+jb < m {
			ws.trailing(a, m, j0, jb)
		}
	}
	return true
}

// trailing subtracts U12^T U12 from the trailing matrix A22 (rows and
// columns j0+jb..m-1), where U12 is rows j0..j0+jb-1 of a right of the
// panel.
func (ws *cholWorkspace) trailing(a []float64, m, j0, jb int) {
	t0 := j0 + jb
	n := m - t0      // order of the trailing matrix
	ldt := padTo4(n) // its padded order
	nst := ldt / 4   // strips
	ws.panel = growF(ws.panel, cholBlock*ldt)
	for r := 0; r < jb; r++ {
		dst := ws.panel[r*ldt : (r+1)*ldt]
		copy(dst, a[(j0+r)*m+t0:(j0+r+1)*m])
		clear(dst[n:])
	}
	ws.trail = growF(ws.trail, stripLen(ldt))
	workers := 1
	if n >= cholParallelMin {
		workers = min(runtime.GOMAXPROCS(0), nst)
	}
	// Strip s costs about ldt - 4s; cut the strips into runs of equal cost.
	cuts := make([]int, workers+1)
	total := float64(nst) * float64(ldt-2*(nst-1)) // the sum of ldt-4s
	w, acc := 1, 0.0
	for s := 0; s < nst && w < workers; s++ {
		acc += float64(ldt - 4*s)
		if acc >= total*float64(w)/float64(workers) {
			cuts[w] = s + 1
			w++
		}
	}
	for ; w <= workers; w++ {
		cuts[w] = nst
	}
	for len(ws.sub) < workers {
		ws.sub = append(ws.sub, nil)
	}
	run := func(wk int) {
		s0, s1 := cuts[wk], cuts[wk+1]
		if s0 == s1 {
			return
		}
		off := stripOff(ldt, s0)
		c := ws.trail[off:stripOff(ldt, s1)]
		clear(c)
		if s0 == 0 {
			gramStrips(ws.panel, jb, ldt, s1, c)
		} else {
			// The strips s0.. of order ldt are the strips 0.. of the
			// columns 4*s0.. taken as a matrix of order ldt-4*s0.
			lds := ldt - 4*s0
			sub := growF(ws.sub[wk], jb*lds)
			ws.sub[wk] = sub
			for r := 0; r < jb; r++ {
				copy(sub[r*lds:(r+1)*lds], ws.panel[r*ldt+4*s0:(r+1)*ldt])
			}
			gramStrips(sub, jb, lds, s1-s0, c)
		}
		// A22 -= the strips' rows, upper triangle only.
		for s := s0; s < s1; s++ {
			wd, so := ldt-4*s, stripOff(ldt, s)-off
			for rr := 0; rr < 4; rr++ {
				i := 4*s + rr
				if i >= n {
					break
				}
				src := c[so+rr*wd+rr : so+rr*wd+wd-(ldt-n)]
				dst := a[(t0+i)*m+t0+i : (t0+i+1)*m]
				for t, v := range src {
					dst[t] -= v
				}
			}
		}
	}
	if workers == 1 {
		run(0)
		return
	}
	var wg sync.WaitGroup
	for wk := 1; wk < workers; wk++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(wk)
		}()
	}
	run(0)
	wg.Wait()
}

// cholSolve overwrites b with A^-1 b, where the upper triangle of the m x m
// row-major a holds the factor U of A = U^T U: U^T z = b by forward
// substitution (an axpy along each row of U), then U x = z by back
// substitution (a dot product along each row). Both read U row by row.
func cholSolve(a []float64, m int, b []float64) {
	for i := 0; i < m; i++ {
		b[i] /= a[i*m+i]
		if i+1 < m {
			axpy(-b[i], a[i*m+i+1:(i+1)*m], b[i+1:m])
		}
	}
	bl := blas64.Implementation()
	for i := m - 1; i >= 0; i-- {
		if i+1 < m {
			b[i] -= bl.Ddot(m-i-1, a[i*m+i+1:(i+1)*m], 1, b[i+1:m], 1)
		}
		b[i] /= a[i*m+i]
	}
}

// cholRcond estimates the reciprocal condition number in the 1-norm of A =
// U^T U, given the factor in the upper triangle of a and anorm = ||A||_1:
// LAPACK's Dpocon (Higham's estimate of ||A^-1||_1 by Dlacn2) with the
// triangular solves of cholSolve, which skip Dpocon's scaling against
// overflow (a factor of a positive definite matrix with finite entries).
// A non-finite intermediate gives 0: infinitely ill-conditioned. work must
// hold 2m floats and isgn m ints.
func cholRcond(a []float64, m int, anorm float64, work []float64, isgn []int) float64 {
	if m == 0 {
		return 1
	}
	if anorm == 0 {
		return 0
	}
	var (
		impl   gonum.Implementation
		ainvnm float64
		kase   int
		isave  [3]int
	)
	x, v := work[:m], work[m:2*m]
	for {
		ainvnm, kase = impl.Dlacn2(m, v, x, isgn, ainvnm, kase, &isave)
		if kase == 0 {
			if ainvnm == 0 || math.IsNaN(ainvnm) || math.IsInf(ainvnm, 0) {
				return 0
			}
			return (1 / ainvnm) / anorm
		}
		// A is symmetric: A^-1 and A^-T are the same solve.
		cholSolve(a, m, x)
		for _, t := range x {
			if math.IsNaN(t) || math.IsInf(t, 0) {
				return 0
			}
		}
	}
}
