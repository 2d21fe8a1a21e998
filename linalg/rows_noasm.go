//go:build !amd64 || purego

package linalg

// gather32 copies the rows idx[:n] of x (rows of d float32 values) to dst
// with row stride ldx, converted to float64; see gather32Go.
func gather32(dst []float64, ldx int, x []float32, d int, idx []int32, n int) {
	checkGather(dst, ldx, x, d, idx, n)
	gather32Go(dst, ldx, x, d, idx[:n])
}
