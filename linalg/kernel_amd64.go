//go:build amd64 && !purego

package linalg

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// useAVX reports whether the assembly kernels can run: they need AVX2 and
// FMA (x86-64-v3) and an OS that saves the YMM registers, which cpu.X86
// checks. It is read-only after package initialization. Build with the tag
// purego to use the portable kernels only.
var useAVX = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func gramTilesAVX(x *float64, m, ldx, s0, s1 int, out *float64, ldo, shrink, zero, fin int, tgt *unsafe.Pointer)

//go:noescape
func patAVX(x *float64, ldx, d int, ut *float64, ldu, nq4 int, z *float64, ldz int)

//go:noescape
func gatherAVX(dst *float64, ldx int, x *float64, d int, idx *int32, n, nidx, ahead int)

//go:noescape
func axpyAVX(a float64, x, y *float64, n int)

// gram adds X^T X to c; see gramGo.
func gram(x []float64, m, ldx int, c []float64) {
	checkGram(x, m, ldx, c)
	if m == 0 || ldx == 0 {
		return
	}
	if useAVX {
		gramTilesAVX(&x[0], m, ldx, 0, ldx/4, &c[0], ldx, 1, 0, 0, nil)
		return
	}
	gramGo(x, m, ldx, c)
}

// gramSub subtracts the strips s0..s1-1 of X^T X from out; see gramSubGo.
func gramSub(x []float64, m, ldx, s0, s1 int, out []float64, ldo int) {
	checkGramSub(x, m, ldx, s0, s1, out, ldo)
	if m == 0 || s0 == s1 {
		return
	}
	if useAVX {
		gramTilesAVX(&x[0], m, ldx, s0, s1, &out[4*s0*ldo+4*s0], ldo, 0, 1, 1, nil)
		return
	}
	gramSubGo(x, m, ldx, s0, s1, out, ldo)
}

// gramGroup adds one chunk of a group's rows to the group's Gram matrix;
// see gramGroupGo. The last chunk's tiles go from registers into every
// target, without a pass over a scratch matrix.
func gramGroup(x []float64, m, ldx int, dst []float64, tg [][]float64, first, last bool) {
	if len(tg) == 1 || !useAVX || m == 0 {
		gramGroupGo(x, m, ldx, dst, tg, first, last)
		return
	}
	checkGramGroup(x, m, ldx, dst, tg)
	var ptrs [maxGroupTargets + 1]unsafe.Pointer // nil-terminated
	for i, t := range tg {
		ptrs[i] = unsafe.Pointer(&t[0])
	}
	zero, fin := 0, 0
	if first {
		zero = 1
	}
	if last {
		fin = 2
	}
	gramTilesAVX(&x[0], m, ldx, 0, ldx/4, &dst[0], ldx, 1, zero, fin, &ptrs[0])
}

// zBlock computes a 4 x nq block of X U^T; see patGo.
func zBlock(x []float64, ldx, d int, ut []float64, ldu, nq int, z []float64, ldz int) {
	checkPat(x, ldx, d, ut, ldu, nq, z, ldz)
	if useAVX {
		patAVX(&x[0], ldx, d, &ut[0], ldu, nq/4, &z[0], ldz)
		return
	}
	patGo(x, ldx, d, ut, ldu, nq, z, ldz)
}

// axpy sets y[i] = fma(a, x[i], y[i]); see axpyGo.
func axpy(a float64, x, y []float64) {
	if len(y) < len(x) {
		panic("linalg: bad dimensions in axpy kernel")
	}
	if len(x) == 0 {
		return
	}
	if useAVX {
		axpyAVX(a, &x[0], &y[0], len(x))
		return
	}
	axpyGo(a, x, y)
}

// gather copies the rows idx[:n] of x (rows of d floats) to dst with row
// stride ldx, prefetching rows of idx[n:]; see gatherGo.
func gather(dst []float64, ldx int, x []float64, d int, idx []int32, n int) {
	checkGather(dst, ldx, x, d, idx, n)
	if n == 0 || d == 0 {
		return
	}
	if useAVX {
		gatherAVX(&dst[0], ldx, &x[0], d, &idx[0], n, len(idx), gatherAhead)
		return
	}
	gatherGo(dst, ldx, x, d, idx[:n])
}
