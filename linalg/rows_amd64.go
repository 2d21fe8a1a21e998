//go:build amd64 && !purego

package linalg

//go:noescape
func gather32AVX(dst *float64, ldx int, x *float32, d int, idx *int32, n, nidx, ahead int)

// gather32 copies the rows idx[:n] of x (rows of d float32 values) to dst
// with row stride ldx, converted to float64, prefetching rows of idx[n:];
// see gather32Go.
func gather32(dst []float64, ldx int, x []float32, d int, idx []int32, n int) {
	checkGather(dst, ldx, x, d, idx, n)
	if n == 0 || d == 0 {
		return
	}
	if useAVX {
		gather32AVX(&dst[0], ldx, &x[0], d, &idx[0], n, len(idx), gatherAhead)
		return
	}
	gather32Go(dst, ldx, x, d, idx[:n])
}
