package linalg

import "math"

// This file holds the portable (pure Go) versions of the three inner kernels
// of the statistics pass, and the "strip" layout of the symmetric d x d blocks
// they produce. On amd64 with AVX2 and FMA, kernel_amd64.s implements the same
// kernels with vector instructions (see kernel_amd64.go for the dispatch).
//
// Every kernel is written as chains of fused multiply-adds, one chain per
// output element, each chain running over its input rows (or features) in
// ascending order and starting from the output's previous value. A vector
// lane performs exactly the same chain as the scalar loop below, so the
// assembly and the portable kernels return the same bits on every input
// (stats_fast_test.go checks this). The result therefore does not depend on
// which machine of a cluster computed a partition.

// Strip layout. A symmetric ldx x ldx matrix (ldx a multiple of 4) is held as
// ldx/4 horizontal strips of its upper triangle: strip s holds rows 4s..4s+3
// and columns 4s..ldx-1, row-major with row stride ldx-4s. The 4 x 4 block on
// the diagonal is held whole (its lower part duplicates its upper part).

// stripLen returns the number of floats of a strip-layout matrix of order ldx.
func stripLen(ldx int) int {
	nb := ldx / 4
	return 4 * (nb*ldx - 2*nb*(nb-1))
}

// stripOff returns the offset of strip s of a strip-layout matrix of order ldx.
func stripOff(ldx, s int) int {
	return 4 * (s*ldx - 2*s*(s-1))
}

// padTo4 rounds n up to a multiple of 4.
func padTo4(n int) int { return (n + 3) &^ 3 }

// gramGo adds X^T X to c (strip layout of order ldx), where X is the m x ldx
// row-major matrix x. Element (j, l) of c is updated as the chain
// c = fma(x[i][j], x[i][l], c) for i = 0, 1, ..., m-1.
func gramGo(x []float64, m, ldx int, c []float64) {
	x = x[:m*ldx]
	for s := 0; s < ldx/4; s++ {
		j0, w := 4*s, ldx-4*s
		cs := c[stripOff(ldx, s) : stripOff(ldx, s)+4*w]
		for l := j0; l < ldx; l += 4 {
			o := l - j0
			c0 := cs[o : o+4 : o+4]
			c1 := cs[w+o : w+o+4 : w+o+4]
			c2 := cs[2*w+o : 2*w+o+4 : 2*w+o+4]
			c3 := cs[3*w+o : 3*w+o+4 : 3*w+o+4]
			c00, c01, c02, c03 := c0[0], c0[1], c0[2], c0[3]
			c10, c11, c12, c13 := c1[0], c1[1], c1[2], c1[3]
			c20, c21, c22, c23 := c2[0], c2[1], c2[2], c2[3]
			c30, c31, c32, c33 := c3[0], c3[1], c3[2], c3[3]
			for i := 0; i < m; i++ {
				row := x[i*ldx : (i+1)*ldx]
				a := row[j0 : j0+4 : j0+4]
				b := row[l : l+4 : l+4]
				a0, a1, a2, a3 := a[0], a[1], a[2], a[3]
				b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
				c00 = math.FMA(a0, b0, c00)
				c01 = math.FMA(a0, b1, c01)
				c02 = math.FMA(a0, b2, c02)
				c03 = math.FMA(a0, b3, c03)
				c10 = math.FMA(a1, b0, c10)
				c11 = math.FMA(a1, b1, c11)
				c12 = math.FMA(a1, b2, c12)
				c13 = math.FMA(a1, b3, c13)
				c20 = math.FMA(a2, b0, c20)
				c21 = math.FMA(a2, b1, c21)
				c22 = math.FMA(a2, b2, c22)
				c23 = math.FMA(a2, b3, c23)
				c30 = math.FMA(a3, b0, c30)
				c31 = math.FMA(a3, b1, c31)
				c32 = math.FMA(a3, b2, c32)
				c33 = math.FMA(a3, b3, c33)
			}
			c0[0], c0[1], c0[2], c0[3] = c00, c01, c02, c03
			c1[0], c1[1], c1[2], c1[3] = c10, c11, c12, c13
			c2[0], c2[1], c2[2], c2[3] = c20, c21, c22, c23
			c3[0], c3[1], c3[2], c3[3] = c30, c31, c32, c33
		}
	}
}

// maxGroupTargets bounds the targets of gramGroup: the accumulators a
// group's Gram matrix is added to (at most 2 + 6 in a block pass, 12 in
// the cross blocks; see kernel_block.go).
const maxGroupTargets = 16

// gramGroupGo adds one chunk of a group's rows, the m x ldx row-major x,
// to the Gram matrix of the group (strip layout of order ldx) and, after
// the last chunk, the matrix to its targets. With a single target the
// chunks accumulate into it directly (dst is not used): its elements'
// chains run on over the group's rows. With several, they accumulate into
// dst, cleared at the first chunk, and after the last every target t gets
// t + dst, as axpy(1, dst, t) computes it.
func gramGroupGo(x []float64, m, ldx int, dst []float64, tg [][]float64, first, last bool) {
	if len(tg) == 1 {
		gram(x, m, ldx, tg[0])
		return
	}
	if first {
		clear(dst)
	}
	gram(x, m, ldx, dst)
	if last {
		for _, t := range tg {
			axpy(1, dst, t)
		}
	}
}

func checkGramGroup(x []float64, m, ldx int, dst []float64, tg [][]float64) {
	checkGram(x, m, ldx, dst)
	if len(tg) > maxGroupTargets {
		panic("linalg: too many targets in gramGroup")
	}
	for _, t := range tg {
		if len(t) < stripLen(ldx) {
			panic("linalg: bad dimensions in gramGroup")
		}
	}
}

// gramSubGo subtracts the strips s0..s1-1 of X^T X (X: the m x ldx
// row-major x) from the matrix out of row stride ldo: for every row j of
// the strips and column l = 4*(j/4)..ldx-1, out[j*ldo+l] -= acc, acc being
// the chain acc = fma(x[i][j], x[i][l], acc) over i = 0..m-1 from +0. This
// is the trailing update of the blocked Cholesky factorization (chol.go):
// each tile's sums go from registers into the matrix, with no scratch. The
// 4 x 4 tiles on the diagonal are written whole, so the three elements
// below the diagonal of each are overwritten too, as are the columns and
// rows from ldx to the next multiple of 4 of the caller's matrix.
func gramSubGo(x []float64, m, ldx, s0, s1 int, out []float64, ldo int) {
	x = x[:m*ldx]
	for s := s0; s < s1; s++ {
		j0 := 4 * s
		for l := j0; l < ldx; l += 4 {
			var acc [4][4]float64
			for i := 0; i < m; i++ {
				row := x[i*ldx : (i+1)*ldx]
				a := row[j0 : j0+4 : j0+4]
				b := row[l : l+4 : l+4]
				for r := range 4 {
					for c := range 4 {
						acc[r][c] = math.FMA(a[r], b[c], acc[r][c])
					}
				}
			}
			for r := range 4 {
				o := out[(j0+r)*ldo+l : (j0+r)*ldo+l+4 : (j0+r)*ldo+l+4]
				for c := range 4 {
					o[c] -= acc[r][c]
				}
			}
		}
	}
}

// patGo writes z[r*ldz+q] = sum_j x[r*ldx+j] * ut[j*ldu+q] for the four rows
// r = 0..3 and the nq columns q = 0..nq-1 (nq a multiple of 4), each sum
// being the chain s = fma(x[r][j], ut[j][q], s) from s = 0 over ascending j.
func patGo(x []float64, ldx, d int, ut []float64, ldu, nq int, z []float64, ldz int) {
	x0 := x[:d]
	x1 := x[ldx : ldx+d]
	x2 := x[2*ldx : 2*ldx+d]
	x3 := x[3*ldx : 3*ldx+d]
	for q := 0; q < nq; q += 2 {
		var s00, s01, s10, s11, s20, s21, s30, s31 float64
		for j := 0; j < d; j++ {
			u := ut[j*ldu+q : j*ldu+q+2 : j*ldu+q+2]
			u0, u1 := u[0], u[1]
			s00 = math.FMA(x0[j], u0, s00)
			s01 = math.FMA(x0[j], u1, s01)
			s10 = math.FMA(x1[j], u0, s10)
			s11 = math.FMA(x1[j], u1, s11)
			s20 = math.FMA(x2[j], u0, s20)
			s21 = math.FMA(x2[j], u1, s21)
			s30 = math.FMA(x3[j], u0, s30)
			s31 = math.FMA(x3[j], u1, s31)
		}
		z[q], z[q+1] = s00, s01
		z[ldz+q], z[ldz+q+1] = s10, s11
		z[2*ldz+q], z[2*ldz+q+1] = s20, s21
		z[3*ldz+q], z[3*ldz+q+1] = s30, s31
	}
}

// axpyGo sets y[i] = fma(a, x[i], y[i]). With a = 1 this is the correctly
// rounded sum y[i] + x[i].
func axpyGo(a float64, x, y []float64) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = math.FMA(a, v, y[i])
	}
}

// gatherAhead is how many rows ahead the assembly gather prefetches.
const gatherAhead = 8

// gatherGo copies row idx[t] of x (rows of d floats) to dst[t*ldx:].
func gatherGo(dst []float64, ldx int, x []float64, d int, idx []int32) {
	for t, i := range idx {
		copy(dst[t*ldx:t*ldx+d], x[int(i)*d:int(i+1)*d])
	}
}

// The dispatching wrappers gram, zBlock and axpy (kernel_amd64.go,
// kernel_noasm.go) check their arguments here, so that the assembly never
// reads or writes out of bounds.

func checkGram(x []float64, m, ldx int, c []float64) {
	if m < 0 || ldx < 0 || ldx%4 != 0 || len(x) < m*ldx || len(c) < stripLen(ldx) {
		panic("linalg: bad dimensions in gram kernel")
	}
}

func checkGramSub(x []float64, m, ldx, s0, s1 int, out []float64, ldo int) {
	if m < 0 || ldx < 0 || ldx%4 != 0 || s0 < 0 || s1 < s0 || 4*s1 > ldx || len(x) < m*ldx || ldo < ldx ||
		s1 > s0 && len(out) < (4*s1-1)*ldo+ldx {
		panic("linalg: bad dimensions in gramSub kernel")
	}
}

func checkPat(x []float64, ldx, d int, ut []float64, ldu, nq int, z []float64, ldz int) {
	if d < 1 || ldx < d || len(x) < 3*ldx+d || nq < 4 || nq > 12 || nq%4 != 0 ||
		ldu < nq || len(ut) < (d-1)*ldu+nq || ldz < nq || len(z) < 3*ldz+nq {
		panic("linalg: bad dimensions in pattern kernel")
	}
}

// checkGather checks the arguments of a gather of float64 or float32 rows,
// so that the assembly never reads or writes out of bounds.
func checkGather[T float32 | float64](dst []float64, ldx int, x []T, d int, idx []int32, n int) {
	if d < 0 || ldx < d || n < 0 || n > len(idx) || n > 0 && len(dst) < (n-1)*ldx+d {
		panic("linalg: bad dimensions in gather kernel")
	}
	rows := 0
	if d > 0 {
		rows = len(x) / d
	}
	for _, i := range idx[:n] {
		if i < 0 || int(i) >= rows {
			panic("linalg: row index out of range in gather kernel")
		}
	}
}
