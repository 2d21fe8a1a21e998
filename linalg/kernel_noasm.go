//go:build !amd64 || purego

package linalg

// useAVX is false: this build has no assembly kernels.
const useAVX = false

// gram adds X^T X to c; see gramGo.
func gram(x []float64, m, ldx int, c []float64) {
	checkGram(x, m, ldx, c)
	gramGo(x, m, ldx, c)
}

// gramSub subtracts the strips s0..s1-1 of X^T X from out; see gramSubGo.
func gramSub(x []float64, m, ldx, s0, s1 int, out []float64, ldo int) {
	checkGramSub(x, m, ldx, s0, s1, out, ldo)
	gramSubGo(x, m, ldx, s0, s1, out, ldo)
}

// gramGroup adds one chunk of a group's rows to the group's Gram matrix;
// see gramGroupGo.
func gramGroup(x []float64, m, ldx int, dst []float64, tg [][]float64, first, last bool) {
	checkGramGroup(x, m, ldx, dst, tg)
	gramGroupGo(x, m, ldx, dst, tg, first, last)
}

// zBlock computes a 4 x nq block of X U^T; see patGo.
func zBlock(x []float64, ldx, d int, ut []float64, ldu, nq int, z []float64, ldz int) {
	checkPat(x, ldx, d, ut, ldu, nq, z, ldz)
	patGo(x, ldx, d, ut, ldu, nq, z, ldz)
}

// axpy sets y[i] = fma(a, x[i], y[i]); see axpyGo.
func axpy(a float64, x, y []float64) {
	if len(y) < len(x) {
		panic("linalg: bad dimensions in axpy kernel")
	}
	axpyGo(a, x, y)
}

// gather copies the rows idx[:n] of x (rows of d floats) to dst with row
// stride ldx; see gatherGo.
func gather(dst []float64, ldx int, x []float64, d int, idx []int32, n int) {
	checkGather(dst, ldx, x, d, idx, n)
	gatherGo(dst, ldx, x, d, idx[:n])
}
