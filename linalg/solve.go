package linalg

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/lapack"
	"gonum.org/v1/gonum/lapack/gonum"
)

// MaxCond is the largest condition number (1-norm estimate) of the normal
// matrix that SolveNormal accepts without regularization.
const MaxCond = 1e12

// ErrSolve is returned when the normal equations cannot be solved even with
// the largest ridge.
var ErrSolve = errors.New("linalg: normal equations could not be solved")

// SolveResult reports how the normal equations were solved.
type SolveResult struct {
	// Ridge is the lambda added to the diagonal; 0 when G was factorized as is.
	Ridge float64
	// Cond is the condition number estimate of the matrix that was factorized
	// (G, or G + Ridge*I).
	Cond float64
	// Attempts is the number of Cholesky factorizations tried.
	Attempts int
}

// solveBuf is the memory of one SolveNormal call, kept for the next: at
// m = 1000 the matrix is 8 MB, and fresh memory costs more than the copy.
type solveBuf struct {
	a  []float64
	ws cholWorkspace
}

var solvePool = sync.Pool{New: func() any { return new(solveBuf) }}

// SolveNormal solves the normal equations G u = r, with G given as its packed
// upper triangle (m x m), by Cholesky factorization (chol.go), writing the
// solution to u.
//
// When G is not positive definite or its condition number exceeds MaxCond (a
// neuron inactive on every sample, fewer samples than unknowns), it applies
// the smallest ridge from an escalating sequence that brings the condition
// number under MaxCond, solving the proximal problem
//
//	(G + lambda I) u = r + lambda center,
//
// i.e. min ||B u - y||^2 + lambda ||u - center||^2. With center the current
// weights, directions the data do not determine (a dead neuron's weights)
// stay where they are instead of collapsing to zero. The sequence starts at
// lambda = 1e-10 * max(mean diagonal of G, tiny) and grows tenfold per
// attempt, up to twenty attempts. The result reports lambda (zero when no
// ridge was needed) so callers can log and record it.
func SolveNormal(u, g, r []float64, m int, center []float64) (SolveResult, error) {
	if len(g) != PackedLen(m) || len(r) != m || len(u) != m || len(center) != m {
		panic("linalg: bad dimensions in SolveNormal")
	}
	var trace float64
	for i := 0; i < m; i++ {
		trace += g[PackedIndex(m, i, i)]
	}
	if math.IsNaN(trace) || math.IsInf(trace, 0) {
		return SolveResult{}, fmt.Errorf("%w: Gram matrix has non-finite diagonal", ErrSolve)
	}
	scale := trace / float64(m)
	if scale <= 0 {
		scale = 1
	}
	var res SolveResult
	var impl gonum.Implementation
	buf := solvePool.Get().(*solveBuf)
	defer solvePool.Put(buf)
	ws := &buf.ws
	lda := cholLd(m)
	buf.a = growF(buf.a, lda*lda)
	a := buf.a // upper triangle: G (+ ridge), then its factor; the rest unread
	work := make([]float64, 2*m)
	isgn := make([]int, m)
	lambda := 0.0
	for attempt := 0; attempt <= 20; attempt++ {
		res.Attempts++
		for i, k := 0, 0; i < m; i++ {
			copy(a[i*lda+i:i*lda+m], g[k:k+m-i])
			k += m - i
			a[i*lda+i] += lambda
		}
		anorm := impl.Dlansy(lapack.MaxColumnSum, blas.Upper, m, a, lda, work)
		if cholesky(a, m, lda, ws) {
			// The 1-norm condition estimate of LAPACK's Dpocon, which
			// gonum's mat.Cholesky.Cond also reports.
			if cond := 1 / cholRcond(a, m, lda, anorm, work, isgn); cond <= MaxCond {
				for i := range u {
					u[i] = r[i] + lambda*center[i]
				}
				cholSolve(a, m, lda, u)
				res.Ridge, res.Cond = lambda, cond
				return res, nil
			}
		}
		if lambda == 0 {
			lambda = 1e-10 * scale
		} else {
			lambda *= 10
		}
	}
	return res, fmt.Errorf("%w: still singular with ridge %g", ErrSolve, lambda)
}
