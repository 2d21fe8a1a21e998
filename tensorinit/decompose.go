package tensorinit

import (
	"cmp"
	"fmt"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/mat"
)

// maxCond is the largest condition number accepted for the small matrices
// inverted here.
const maxCond = 1e12

// decompose writes the symmetric k x k x k x k tensor t (full, row-major)
// as sum_q lambda_q a_q^(x)4 with unit a_q, returned as the columns of the
// k x k matrix a, by Jennrich's simultaneous diagonalization: with
// M_x = T(., ., x, y) = A diag(lambda_q (a_q.x)(a_q.y)) A^T for random
// unit x, y and a second matrix M_ref = A D A^T with the same A, the
// eigenvectors of M_x M_ref^{-1} = A (diag / D) A^{-1} are the columns of A.
// M_ref is ref when given (the projected second moment, which has the same
// components and far less noise), else another random contraction of t.
//
// Each of trials random draws gives a candidate A (for a complex pair of
// eigenvalues, two ratios too close for the noise, the real and imaginary
// parts of its eigenvectors); candidates with singular systems are dropped;
// lambda is fitted by least squares, and the candidate with the smallest
// residual is kept. Jennrich uses only two slices of t; sweeps rounds of
// deflated power iteration on the whole tensor (refine) then polish the
// candidate, kept if they reduce the residual. fit is the final residual
// relative to ||t||_F.
func decompose(t []float64, k int, ref []float64, rng *rand.Rand, trials, sweeps int) (a, lambda []float64, fit float64, err error) {
	best := math.Inf(1)
	for trial := 0; trial < trials; trial++ {
		mx := contract(t, k, randUnit(rng, k), randUnit(rng, k))
		mref := ref
		if mref == nil {
			mref = contract(t, k, randUnit(rng, k), randUnit(rng, k))
		}
		cand, ok := jennrich(mx, mref, k)
		if !ok {
			continue
		}
		l, res, ok := fitWeights(t, k, cand)
		if !ok || !(res < best) {
			continue
		}
		best, a, lambda = res, cand, l
	}
	if a == nil {
		return nil, nil, 0, fmt.Errorf("%w: none of %d random contractions gave a well-conditioned eigenproblem", ErrDecompose, trials)
	}
	if sweeps > 0 {
		if ra, rl, res, ok := refine(t, k, a, lambda, sweeps); ok && res < best {
			a, lambda, best = ra, rl, res
		}
	}
	tn := math.Sqrt(dot(t, t))
	if tn == 0 {
		return nil, nil, 0, fmt.Errorf("%w: the fourth moment is zero", ErrDecompose)
	}
	return a, lambda, best / tn, nil
}

// jennrich returns the unit eigenvectors of mx mref^{-1} as the columns of a
// k x k matrix, or false if mref is ill-conditioned.
func jennrich(mx, mref []float64, k int) ([]float64, bool) {
	var inv mat.Dense
	if err := inv.Inverse(mat.NewDense(k, k, slices.Clone(mref))); err != nil {
		return nil, false // singular, or a Condition error beyond what LAPACK accepts
	}
	if c := mat.Cond(mat.NewDense(k, k, slices.Clone(mref)), 1); c > maxCond {
		return nil, false
	}
	var x mat.Dense
	x.Mul(mat.NewDense(k, k, slices.Clone(mx)), &inv)
	var eig mat.Eigen
	if !eig.Factorize(&x, mat.EigenRight) {
		return nil, false
	}
	vals := eig.Values(nil)
	var vecs mat.CDense
	eig.VectorsTo(&vecs)
	a := make([]float64, k*k)
	for q := 0; q < k; q++ {
		part := func(c complex128) float64 { return real(c) }
		if imag(vals[q]) != 0 {
			// A complex pair: two ratios too close for the noise. Its real
			// and imaginary parts span the pair's plane; keep them and let
			// the fit judge the candidate.
			if q > 0 && vals[q-1] == cmplx.Conj(vals[q]) && imag(vals[q-1]) != 0 {
				part = func(c complex128) float64 { return imag(c) }
			}
		}
		var n float64
		for i := 0; i < k; i++ {
			v := part(vecs.At(i, q))
			a[i*k+q] = v
			n += v * v
		}
		if n == 0 {
			return nil, false
		}
		n = math.Sqrt(n)
		for i := 0; i < k; i++ {
			a[i*k+q] /= n
		}
	}
	return a, true
}

// fitWeights fits lambda in t ~ sum_q lambda_q a_q^(x)4 by least squares
// and returns it with the Frobenius norm of the residual.
func fitWeights(t []float64, k int, a []float64) ([]float64, float64, bool) {
	col := func(q int) []float64 {
		c := make([]float64, k)
		for i := range c {
			c[i] = a[i*k+q]
		}
		return c
	}
	cols := make([][]float64, k)
	for q := range cols {
		cols[q] = col(q)
	}
	g := make([]float64, k*k)
	r := make([]float64, k)
	for p := 0; p < k; p++ {
		for q := 0; q < k; q++ {
			c := dot(cols[p], cols[q])
			g[p*k+q] = c * c * c * c
		}
		r[p] = eval4(t, k, cols[p])
	}
	lambda, err := solve(g, r, k)
	if err != nil {
		return nil, 0, false
	}
	res := slices.Clone(t)
	for q := 0; q < k; q++ {
		c := cols[q]
		for i := 0; i < k; i++ {
			for j := 0; j < k; j++ {
				for l := 0; l < k; l++ {
					f := lambda[q] * c[i] * c[j] * c[l]
					row := res[((i*k+j)*k+l)*k : ((i*k+j)*k+l+1)*k]
					for m := range row {
						row[m] -= f * c[m]
					}
				}
			}
		}
	}
	return lambda, math.Sqrt(dot(res, res)), true
}

// contract returns the k x k matrix T(., ., x, y).
func contract(t []float64, k int, x, y []float64) []float64 {
	out := make([]float64, k*k)
	for ij := 0; ij < k*k; ij++ {
		var s float64
		for l := 0; l < k; l++ {
			s += x[l] * dot(t[(ij*k+l)*k:(ij*k+l+1)*k], y)
		}
		out[ij] = s
	}
	return out
}

// eval4 returns T(x, x, x, x).
func eval4(t []float64, k int, x []float64) float64 {
	m := contract(t, k, x, x)
	var s float64
	for i := 0; i < k; i++ {
		s += x[i] * dot(m[i*k:(i+1)*k], x)
	}
	return s
}

// topSpan returns the kk x k matrix (row-major) whose columns
// are the top-k left singular vectors of the mode-1 unfolding of t (kk x
// kk^3): an orthonormal basis of the span of the tensor's components.
func topSpan(t []float64, kk, k int) []float64 {
	r := kk * kk * kk
	f := mat.NewSymDense(kk, nil)
	for i := 0; i < kk; i++ {
		for j := i; j < kk; j++ {
			f.SetSym(i, j, dot(t[i*r:(i+1)*r], t[j*r:(j+1)*r]))
		}
	}
	var es mat.EigenSym
	if !es.Factorize(f, true) {
		// The unfolding's Gram matrix is symmetric and tiny; if LAPACK
		// fails, keep the second moment's leading directions.
		u := make([]float64, kk*k)
		for c := 0; c < k; c++ {
			u[c*k+c] = 1
		}
		return u
	}
	vals := es.Values(nil)
	var vecs mat.Dense
	es.VectorsTo(&vecs)
	order := make([]int, kk)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(vals[b], vals[a]) })
	u := make([]float64, kk*k)
	for c := 0; c < k; c++ {
		for i := 0; i < kk; i++ {
			u[i*k+c] = vecs.At(i, order[c])
		}
	}
	return u
}

// project4 returns T(U, U, U, U) for the kk^4 tensor t and the kk x k
// matrix u, a k^4 tensor.
func project4(t []float64, kk int, u []float64, k int) []float64 {
	// Contract one mode at a time; the tensor is symmetric, so contracting
	// the last mode and rotating the modes four times projects them all.
	cur, dims := t, [4]int{kk, kk, kk, kk}
	for step := 0; step < 4; step++ {
		// cur has dims (d0, d1, d2, d3); produce (k, d0, d1, d2) by
		// contracting d3 with u and moving the new mode to the front.
		d0, d1, d2, d3 := dims[0], dims[1], dims[2], dims[3]
		next := make([]float64, k*d0*d1*d2)
		pre := d0 * d1 * d2
		for p := 0; p < pre; p++ {
			src := cur[p*d3 : (p+1)*d3]
			for c := 0; c < k; c++ {
				var s float64
				for e, v := range src {
					s += v * u[e*k+c]
				}
				next[c*pre+p] = s
			}
		}
		cur, dims = next, [4]int{k, d0, d1, d2}
	}
	return cur
}

// solve solves the k x k system g x = r, failing if g is singular or its
// condition number exceeds maxCond.
func solve(g, r []float64, k int) ([]float64, error) {
	a := mat.NewDense(k, k, slices.Clone(g))
	if c := mat.Cond(a, 1); c > maxCond {
		return nil, fmt.Errorf("condition number %.3g", c)
	}
	var x mat.VecDense
	if err := x.SolveVec(a, mat.NewVecDense(k, slices.Clone(r))); err != nil {
		return nil, err
	}
	return x.RawVector().Data, nil
}

func randUnit(rng *rand.Rand, k int) []float64 {
	x := make([]float64, k)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	normalize(x)
	return x
}

// refine improves a decomposition by sweeps of deflated power iteration:
// a_q <- T_q(I, a_q, a_q, a_q) normalized, with T_q = t minus the other
// components, then refits the weights.
func refine(t []float64, k int, a, lambda []float64, sweeps int) ([]float64, []float64, float64, bool) {
	a, lambda = slices.Clone(a), slices.Clone(lambda)
	cols := make([][]float64, k)
	for q := range cols {
		cols[q] = make([]float64, k)
		for i := range cols[q] {
			cols[q][i] = a[i*k+q]
		}
	}
	for sweep := 0; sweep < sweeps; sweep++ {
		for q := 0; q < k; q++ {
			c := cols[q]
			// u = T(I, c, c, c) - sum_{p != q} lambda_p (a_p . c)^3 a_p
			m := contract(t, k, c, c)
			u := make([]float64, k)
			for i := 0; i < k; i++ {
				u[i] = dot(m[i*k:(i+1)*k], c)
			}
			for p := 0; p < k; p++ {
				if p == q {
					continue
				}
				h := dot(cols[p], c)
				f := lambda[p] * h * h * h
				for i := range u {
					u[i] -= f * cols[p][i]
				}
			}
			normalize(u)
			cols[q] = u
			lambda[q] = eval4(t, k, u)
			for p := 0; p < k; p++ {
				if p != q {
					h := dot(cols[p], u)
					lambda[q] -= lambda[p] * h * h * h * h
				}
			}
		}
	}
	for q := range cols {
		for i := range cols[q] {
			a[i*k+q] = cols[q][i]
		}
	}
	l, res, ok := fitWeights(t, k, a)
	return a, l, res, ok
}
