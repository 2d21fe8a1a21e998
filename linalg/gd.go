package linalg

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/lapack"
	"gonum.org/v1/gonum/lapack/gonum"
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
	packedMul(gu, g, u, m)
	f := eta / float64(n)
	for i := range next {
		next[i] = u[i] + f*(r[i]-gu[i])
	}
}

// packedMul writes G u into dst (zeroed first) for G held as its packed
// upper triangle. The order of the operations is fixed.
func packedMul(dst, g, u []float64, m int) {
	clear(dst)
	k := 0
	for i := 0; i < m; i++ {
		ui := u[i]
		s := dst[i] + g[k]*ui
		k++
		row := g[k : k+m-i-1]
		for jj, v := range row {
			j := i + 1 + jj
			s += v * u[j]
			dst[j] += v * ui
		}
		dst[i] = s
		k += m - i - 1
	}
}

// Parameters of the step-rule estimate (StepRule).
const (
	// StepRuleTol is the accuracy the Lanczos estimate of the step rule
	// aims at, relative to s_min^2 + s_max^2 and so to the step (see
	// EstimateStep for the stopping tests).
	StepRuleTol = 1e-4
	// StepRuleMaxSteps is the largest number of Lanczos steps before the
	// estimate gives up and falls back to the full eigendecomposition.
	StepRuleMaxSteps = 160
	// stepRuleCheck: the Ritz values are computed every stepRuleCheck
	// Lanczos steps (and at the last).
	stepRuleCheck = 4
)

// StepEstimate is the papers' step rule and how it was obtained.
type StepEstimate struct {
	Eta    float64 // 2 / (Lo + Hi)
	Lo, Hi float64 // s_min^2 (clamped at 0) and s_max^2: extreme eigenvalues of G / n
	// Steps is the number of Lanczos steps (matrix-vector products with G);
	// 0 when the eigendecomposition was used.
	Steps int
	// Exact is true when the eigenvalues came from the full symmetric
	// eigendecomposition: the Lanczos estimate did not meet StepRuleTol
	// within StepRuleMaxSteps (or m steps), or its Krylov space became
	// invariant before reaching the extreme eigenvalues for certain.
	Exact bool
	// Bound is the residual bound (r_lo + r_hi) / (theta_lo + theta_hi) of
	// the Lanczos estimate, a first-order bound on the relative error of
	// Eta; 0 when exact.
	Bound float64
}

// StepRule returns the papers' gradient-descent step 2 / (s_min^2 + s_max^2),
// where s are the extreme singular values of B / sqrt(n), i.e. s^2 are the
// extreme eigenvalues of G / n. See EstimateStep.
func StepRule(g []float64, m, n int) (float64, error) {
	est, err := EstimateStep(g, m, n)
	return est.Eta, err
}

// EstimateStep computes the step rule from the extreme eigenvalues of G
// by the Lanczos method with full reorthogonalization, started from a fixed
// pseudo-random vector (a SplitMix64 sequence: no seed, no state), with the
// Ritz values computed every 4 steps (the eigenvalues of the tridiagonal
// T_k, O(k^2); the last row of its eigenvectors, O(k^3), only once the first
// test below holds). Ritz values lie inside the spectrum, so s_max^2 is
// estimated from below and s_min^2 from above. It stops at the first check
// where both
//
//   - the extreme Ritz values moved by at most StepRuleTol (theta_lo +
//     theta_hi) in total since the previous check, and
//   - the residual bounds r_lo, r_hi of the extreme Ritz pairs (each Ritz
//     value has an eigenvalue of G within r = beta_k |s_k|) satisfy
//     r_lo + r_hi <= StepRuleTol (theta_lo + theta_hi).
//
// The residual bound alone is not a guarantee for s_min^2: near a dense
// lower edge of the spectrum a Ritz value can sit, with a small residual,
// on the second or third eigenvalue before the Krylov space resolves the
// first. The first test guards against that; the measured error of the
// step (linalg/gd_test.go, 98 seeded random Gram matrices) is at most 2.7e-4
// relative, on a square Gaussian B whose smallest eigenvalues crowd at 0, and
// 1e-5 on the skip model's Gram matrices (d = 20, n = 700 and 1700).
//
// Every operation runs in a fixed order in the calling goroutine, so the
// result is the same bits whatever the machine's thread count. A step costs
// one product with G (2 m^2 flops) and the reorthogonalization (8 m j flops
// at step j); on the skip model's Gram matrices at d = 20 (m = 400) it stops
// after 64 steps (n = 1700) to 96 (n = 700), in a seventh to a sixteenth of
// the time of the symmetric eigendecomposition (about 4/3 m^3 flops;
// BenchmarkStepRule). When the tests are
// not met within StepRuleMaxSteps steps, or the Krylov space becomes
// invariant (a breakdown, possible for matrices with few distinct
// eigenvalues) before m steps, it falls back to the full eigendecomposition
// (Exact).
func EstimateStep(g []float64, m, n int) (StepEstimate, error) {
	return estimateStep(g, m, n, StepRuleTol, StepRuleMaxSteps)
}

func estimateStep(g []float64, m, n int, tol float64, maxSteps int) (StepEstimate, error) {
	if len(g) != PackedLen(m) || m < 1 || n < 1 {
		panic("linalg: bad dimensions in StepRule")
	}
	for _, v := range g {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return StepEstimate{}, fmt.Errorf("%w: Gram matrix has non-finite entries, no gradient step size", ErrSolve)
		}
	}
	lo, hi, steps, bound, ok := lanczosExtremes(g, m, tol, min(maxSteps, m))
	if !ok {
		var err error
		if lo, hi, err = exactExtremes(g, m); err != nil {
			return StepEstimate{}, err
		}
		steps, bound = 0, 0
	}
	est := StepEstimate{Lo: max(lo/float64(n), 0), Hi: hi / float64(n), Steps: steps, Exact: !ok, Bound: bound}
	if !(est.Hi > 0) {
		return StepEstimate{}, fmt.Errorf("%w: Gram matrix is zero, no gradient step size", ErrSolve)
	}
	est.Eta = 2 / (est.Lo + est.Hi)
	return est, nil
}

// exactExtremes returns the smallest and largest eigenvalues of G by a
// symmetric eigendecomposition, O(m^3).
func exactExtremes(g []float64, m int) (lo, hi float64, err error) {
	full := make([]float64, m*m)
	Unpack(full, g, m)
	var es mat.EigenSym
	if !es.Factorize(mat.NewSymDense(m, full), false) {
		return 0, 0, fmt.Errorf("%w: eigendecomposition for the step size failed", ErrSolve)
	}
	vals := es.Values(nil) // ascending
	return vals[0], vals[m-1], nil
}

// lanczosStart writes the fixed start vector: entries uniform in (-1, 1)
// from SplitMix64 of the index, normalized.
func lanczosStart(q []float64) {
	var s float64
	for i := range q {
		x := uint64(i) + 0x2545f4914f6cdd1d
		x += 0x9e3779b97f4a7c15
		x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
		x = (x ^ (x >> 27)) * 0x94d049bb133111eb
		x ^= x >> 31
		q[i] = float64(x>>11)/(1<<52) - 1 // in [-1, 1)
		s += q[i] * q[i]
	}
	s = 1 / math.Sqrt(s)
	for i := range q {
		q[i] *= s
	}
}

// lanczosExtremes runs at most maxSteps (<= m) Lanczos steps with full
// reorthogonalization on G and returns its extreme Ritz values once they
// have converged (see EstimateStep), with the number of steps and the
// relative residual bound. ok is false when tol was not met, or on a
// breakdown before m steps.
func lanczosExtremes(g []float64, m int, tol float64, maxSteps int) (lo, hi float64, steps int, bound float64, ok bool) {
	if maxSteps < 1 {
		return 0, 0, 0, 0, false
	}
	a := blas64.General{Rows: m, Cols: m, Stride: m, Data: make([]float64, m*m)}
	Unpack(a.Data, g, m)
	// The Lanczos vectors, row j is q_j.
	q := blas64.General{Rows: maxSteps, Cols: m, Stride: m, Data: make([]float64, maxSteps*m)}
	alpha := make([]float64, maxSteps)
	beta := make([]float64, maxSteps) // beta[j] links q_j and q_{j+1}
	w := make([]float64, m)
	c := make([]float64, maxSteps)
	var impl gonum.Implementation
	d := make([]float64, maxSteps)
	e := make([]float64, maxSteps)
	z := make([]float64, maxSteps*maxSteps)
	work := make([]float64, max(1, 2*maxSteps-2))
	lanczosStart(q.Data[:m])
	wv := blas64.Vector{N: m, Inc: 1, Data: w}
	prevLo, prevHi := math.NaN(), math.NaN()
	for j := 0; j < maxSteps; j++ {
		qj := blas64.Vector{N: m, Inc: 1, Data: q.Data[j*m : (j+1)*m]}
		blas64.Gemv(blas.NoTrans, 1, a, qj, 0, wv)
		alpha[j] = blas64.Dot(qj, wv)
		// Full reorthogonalization against q_0..q_j (classical
		// Gram-Schmidt, twice) also removes the three-term recurrence's
		// components alpha_j q_j + beta_{j-1} q_{j-1}.
		qs := blas64.General{Rows: j + 1, Cols: m, Stride: m, Data: q.Data[:(j+1)*m]}
		cv := blas64.Vector{N: j + 1, Inc: 1, Data: c[:j+1]}
		for pass := 0; pass < 2; pass++ {
			blas64.Gemv(blas.NoTrans, 1, qs, wv, 0, cv)
			blas64.Gemv(blas.Trans, -1, qs, cv, 1, wv)
		}
		beta[j] = blas64.Nrm2(wv)
		k := j + 1
		// Scale of the spectrum seen so far, for the breakdown test.
		scale := math.Abs(alpha[0])
		for i := 0; i < k; i++ {
			scale = math.Max(scale, math.Abs(alpha[i])+beta[i])
		}
		breakdown := !(beta[j] > 1e-12*scale)
		if breakdown && k < m {
			// The Krylov space is invariant: its Ritz values are exact
			// eigenvalues, but not necessarily the extreme ones.
			return 0, 0, k, 0, false
		}
		if j+1 < maxSteps && !breakdown {
			next := q.Data[(j+1)*m : (j+2)*m]
			f := 1 / beta[j]
			for t, v := range w {
				next[t] = v * f
			}
		}
		if k%stepRuleCheck == 0 || k == maxSteps || breakdown {
			// The Ritz values (eigenvalues of T_k, ascending) cost O(k^2);
			// the residuals need the last row of T_k's eigenvectors, O(k^3),
			// and are computed only once the Ritz values have settled.
			copy(d, alpha[:k])
			copy(e, beta[:k-1])
			if !impl.Dsterf(k, d[:k], e[:max(k-1, 0)]) {
				return 0, 0, k, 0, false
			}
			lo, hi = d[0], d[k-1]
			if breakdown || k == m {
				return lo, hi, k, 0, true // exact in exact arithmetic
			}
			den := max(lo, 0) + hi
			moved := math.Abs(lo-prevLo) + math.Abs(hi-prevHi) // NaN at the first check
			prevLo, prevHi = lo, hi
			if !(den > 0 && moved <= tol*den) {
				continue
			}
			copy(d, alpha[:k])
			copy(e, beta[:k-1])
			if !impl.Dsteqr(lapack.EVTridiag, k, d[:k], e[:k-1], z[:k*k], k, work) {
				return 0, 0, k, 0, false
			}
			// Row k-1 of z holds the last components of the eigenvectors.
			rlo := math.Abs(beta[j] * z[(k-1)*k])
			rhi := math.Abs(beta[j] * z[(k-1)*k+k-1])
			if rlo+rhi <= tol*den {
				return d[0], d[k-1], k, (rlo + rhi) / den, true
			}
		}
	}
	return 0, 0, maxSteps, 0, false
}
