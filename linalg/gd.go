package linalg

import (
	"fmt"

	"gonum.org/v1/gonum/mat"
)

// GradientStep writes into next the gradient-descent step on the loss
// (1/2n) ||B u - y||^2 from u, using the packed Gram matrix g = B^T B and
// r = B^T y of n rows:
//
//	next = u + (eta/n) (r - G u).
func GradientStep(next, g, r, u []float64, m, n int, eta float64) {
	if len(next) != m || len(g) != PackedLen(m) || len(r) != m || len(u) != m {
		panic("linalg: bad dimensions in GradientStep")
	}
	gu := make([]float64, m)
	k := 0
	for i := 0; i < m; i++ {
		gu[i] += g[k] * u[i]
		k++
		for j := i + 1; j < m; j++ {
			gu[i] += g[k] * u[j]
			gu[j] += g[k] * u[i]
			k++
		}
	}
	f := eta / float64(n)
	for i := range next {
		next[i] = u[i] + f*(r[i]-gu[i])
	}
}

// StepRule returns the papers' gradient-descent step 2 / (s_min^2 + s_max^2),
// where s are the extreme singular values of B / sqrt(n), i.e. s^2 are the
// extreme eigenvalues of G / n. It costs a symmetric eigendecomposition,
// O(m^3).
func StepRule(g []float64, m, n int) (float64, error) {
	full := make([]float64, m*m)
	Unpack(full, g, m)
	var es mat.EigenSym
	if !es.Factorize(mat.NewSymDense(m, full), false) {
		return 0, fmt.Errorf("%w: eigendecomposition for the step size failed", ErrSolve)
	}
	vals := es.Values(nil) // ascending
	lo, hi := vals[0]/float64(n), vals[m-1]/float64(n)
	if lo < 0 {
		lo = 0
	}
	if !(hi > 0) {
		return 0, fmt.Errorf("%w: Gram matrix is zero, no gradient step size", ErrSolve)
	}
	return 2 / (lo + hi), nil
}
