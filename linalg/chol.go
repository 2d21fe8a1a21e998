package linalg

import (
	"math"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/blas"
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

// The trailing matrix starts at a multiple of 4 (the Gram kernel's strips
// and the matrix's padding rely on it): cholBlock must be one.
var _ = [1]struct{}{}[cholBlock%4]

// cholParallelMin is the smallest trailing order whose update is split among
// goroutines.
const cholParallelMin = 192

// cholWorkspace holds the scratch memory of cholesky.
type cholWorkspace struct {
	panel []float64 // the panel's off-diagonal rows, padded: cholBlock x ldt
	cuts  []int
}

// cholLd returns the row stride cholesky needs for order m: m rounded up to
// a multiple of 4. The matrix must have cholLd(m) rows of that stride.
func cholLd(m int) int { return padTo4(m) }

// cholesky overwrites the upper triangle of the m x m row-major symmetric
// matrix a (row stride lda = cholLd(m), lda rows) with the upper triangular
// U such that A = U^T U, reading only the upper triangle of A. The elements
// below the diagonal and those of the padding rows and columns (m..lda-1)
// are overwritten with values of no meaning. It reports false, leaving a
// partly overwritten, when A is not positive definite in floating point (a
// pivot is not positive, or NaN).
func cholesky(a []float64, m, lda int, ws *cholWorkspace) bool {
	if lda != cholLd(m) || len(a) < lda*lda {
		panic("linalg: bad dimensions in cholesky")
	}
	for j0 := 0; j0 < m; j0 += cholBlock {
		jb := min(cholBlock, m-j0)
		t0 := j0 + jb
		// Factor the panel rows j0..t0-1: first the diagonal block U11,
		// then U12 = U11^-T A12 by columns, split among goroutines. Every
		// element sees the operations of the unblocked right-looking
		// algorithm in the same order: scaled by 1/u_ii at step i, updated
		// by fma(-u_ir, u_ic, a_rc) at the steps i < r.
		for i := j0; i < t0; i++ {
			row := a[i*lda : i*lda+m]
			p := row[i]
			if !(p > 0) || math.IsInf(p, 1) {
				return false
			}
			p = math.Sqrt(p)
			row[i] = p
			inv := 1 / p
			for c := i + 1; c < t0; c++ {
				row[c] *= inv
			}
			for r := i + 1; r < t0; r++ {
				axpy(-row[r], row[r:t0], a[r*lda+r:r*lda+t0])
			}
		}
		if t0 < m {
			ws.parallel(m-t0, func(c0, c1 int) { panelColumns(a, lda, j0, t0, t0+c0, t0+c1) })
			ws.trailing(a, m, lda, j0, jb)
		}
	}
	return true
}

// panelColumns computes the columns c0..c1-1 of U12 = U11^-T A12 for the
// panel rows j0..t0-1, U11 being already in place.
func panelColumns(a []float64, lda, j0, t0, c0, c1 int) {
	for i := j0; i < t0; i++ {
		row := a[i*lda : i*lda+c1]
		inv := 1 / row[i]
		for c := c0; c < c1; c++ {
			row[c] *= inv
		}
		for r := i + 1; r < t0; r++ {
			axpy(-row[r], row[c0:c1], a[r*lda+c0:r*lda+c1])
		}
	}
}

// parallel splits 0..n-1 into runs of about equal length, one per goroutine
// (up to GOMAXPROCS; one when n < cholParallelMin), and calls f on each,
// returning when all have returned.
func (ws *cholWorkspace) parallel(n int, f func(lo, hi int)) {
	workers := 1
	if n >= cholParallelMin {
		workers = min(runtime.GOMAXPROCS(0), n/4)
	}
	if workers == 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(w*n/workers, (w+1)*n/workers)
		}()
	}
	f(0, n/workers)
	wg.Wait()
}

// trailing subtracts U12^T U12 from the trailing matrix A22 (rows and
// columns j0+jb..m-1), where U12 is rows j0..j0+jb-1 of a right of the
// panel. The Gram kernel reads U12 from a zero-padded copy and subtracts
// each 4 x 12 tile of the product from A22 as it completes; the strips of
// A22 are split among goroutines in runs of about equal cost.
func (ws *cholWorkspace) trailing(a []float64, m, lda, j0, jb int) {
	t0 := j0 + jb    // a multiple of 4: only the last panel is short
	n := m - t0      // order of the trailing matrix
	ldt := padTo4(n) // its padded order; t0 + ldt = lda
	nst := ldt / 4   // strips
	ws.panel = growF(ws.panel, cholBlock*ldt)
	for r := 0; r < jb; r++ {
		dst := ws.panel[r*ldt : (r+1)*ldt]
		copy(dst, a[(j0+r)*lda+t0:(j0+r)*lda+m])
		clear(dst[n:])
	}
	workers := 1
	if n >= cholParallelMin {
		workers = min(runtime.GOMAXPROCS(0), nst)
	}
	// Strip s costs about ldt - 4s; cut the strips into runs of equal cost.
	if cap(ws.cuts) < workers+1 {
		ws.cuts = make([]int, workers+1)
	}
	cuts := ws.cuts[:workers+1]
	clear(cuts)
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
	out := a[t0*lda+t0:]
	run := func(wk int) { gramSub(ws.panel, jb, ldt, cuts[wk], cuts[wk+1], out, lda) }
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
// row-major a (row stride lda) holds the factor U of A = U^T U: U^T z = b by forward
// substitution (an axpy along each row of U), then U x = z by back
// substitution (a dot product along each row). Both read U row by row.
func cholSolve(a []float64, m, lda int, b []float64) {
	for i := 0; i < m; i++ {
		b[i] /= a[i*lda+i]
		if i+1 < m {
			axpy(-b[i], a[i*lda+i+1:i*lda+m], b[i+1:m])
		}
	}
	bl := blas64.Implementation()
	for i := m - 1; i >= 0; i-- {
		if i+1 < m {
			b[i] -= bl.Ddot(m-i-1, a[i*lda+i+1:i*lda+m], 1, b[i+1:m], 1)
		}
		b[i] /= a[i*lda+i]
	}
}

// cholRcond estimates the reciprocal condition number in the 1-norm of A =
// U^T U, given the factor in the upper triangle of a and anorm = ||A||_1:
// LAPACK's Dpocon (Higham's estimate of ||A^-1||_1 by Dlacn2) with the
// triangular solves of cholSolve, which skip Dpocon's scaling against
// overflow (a factor of a positive definite matrix with finite entries).
// A non-finite intermediate gives 0: infinitely ill-conditioned. work must
// hold 2m floats and isgn m ints.
func cholRcond(a []float64, m, lda int, anorm float64, work []float64, isgn []int) float64 {
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
		cholSolve(a, m, lda, x)
		for _, t := range x {
			if math.IsNaN(t) || math.IsInf(t, 0) {
				return 0
			}
		}
	}
}

// Factor is the Cholesky factorization A = U^T U of a symmetric positive
// definite matrix, by the blocked algorithm of this file.
type Factor struct {
	a     []float64 // U in the upper triangle, row stride lda
	m, ld int
	ws    cholWorkspace
}

// FactorPacked factors the m x m symmetric matrix whose packed upper
// triangle is g, with diag added to its diagonal (nil: nothing), into f,
// reusing f's memory. It reports false when the matrix is not positive
// definite in floating point.
func (f *Factor) FactorPacked(g []float64, m int, diag []float64) bool {
	if len(g) != PackedLen(m) || diag != nil && len(diag) != m {
		panic("linalg: bad dimensions in FactorPacked")
	}
	f.m, f.ld = m, cholLd(m)
	f.a = growF(f.a, f.ld*f.ld)
	for i, k := 0, 0; i < m; i++ {
		copy(f.a[i*f.ld+i:i*f.ld+m], g[k:k+m-i])
		k += m - i
		if diag != nil {
			f.a[i*f.ld+i] += diag[i]
		}
	}
	return cholesky(f.a, m, f.ld, &f.ws)
}

// Solve overwrites b (m values) with A^-1 b.
func (f *Factor) Solve(b []float64) {
	if len(b) != f.m {
		panic("linalg: bad dimensions in Factor.Solve")
	}
	cholSolve(f.a, f.m, f.ld, b)
}

// InvDiag returns the sum of the diagonal elements of A^-1 at the indices
// sel marks (len m): the squared norms of those rows of U^-1. It
// overwrites the factor (the triangle is inverted in place); false when U
// is singular.
func (f *Factor) InvDiag(sel []bool) (float64, bool) {
	if len(sel) != f.m {
		panic("linalg: bad dimensions in Factor.InvDiag")
	}
	var impl gonum.Implementation
	if !impl.Dtrtri(blas.Upper, blas.NonUnit, f.m, f.a, f.ld) {
		return 0, false
	}
	var s float64
	for i, on := range sel {
		if !on {
			continue
		}
		for _, v := range f.a[i*f.ld+i : i*f.ld+f.m] {
			s += v * v
		}
	}
	return s, true
}
