package bench

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"

	"altmin/linalg"
)

// denseBLAS computes the dense baseline's SYRK and GEMV: gonum's pure-Go
// BLAS, or OpenBLAS in a build with the tags openblas and cgo
// (dense_openblas.go). Only the baseline uses it; the trainer's own
// kernels and solve do not depend on the tag.
var (
	denseBLAS blas.Float64 = gonum.Implementation{}
	// DenseBLAS names the BLAS of the dense baseline.
	DenseBLAS = "gonum (pure Go)"
)

// DenseStats is the baseline: it forms B (rows x dk) block by block and
// accumulates B^T B with a BLAS SYRK and B^T y with GEMV (DenseBLAS),
// costing about rows (dk)^2 / 2 multiply-adds instead of about rows d^2 / 2.
func DenseStats(g, r, x, y []float64, d int, pat *linalg.Patterns, signs []float64) {
	k := len(signs)
	m := d * k
	const block = 256
	b := make([]float64, block*m)
	yb := make([]float64, block)
	full := make([]float64, m*m)
	clear(r)
	nb := 0
	flush := func() {
		if nb == 0 {
			return
		}
		denseBLAS.Dsyrk(blas.Upper, blas.Trans, m, nb, 1, b[:nb*m], m, 1, full, m)
		denseBLAS.Dgemv(blas.Trans, nb, m, 1, b[:nb*m], m, yb[:nb], 1, 1, r, 1)
		nb = 0
	}
	for i := 0; i < pat.Rows; i++ {
		dst := b[nb*m : (nb+1)*m]
		xi := x[i*d : (i+1)*d]
		for q := 0; q < k; q++ {
			seg := dst[q*d : (q+1)*d]
			if !pat.Active(i, q) {
				clear(seg)
				continue
			}
			for j, v := range xi {
				seg[j] = signs[q] * v
			}
		}
		yb[nb] = y[i]
		nb++
		if nb == block {
			flush()
		}
	}
	flush()
	linalg.PackUpper(g, full, m)
}
