package bench

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"

	"altmin/linalg"
)

// DenseStats is the baseline: it forms B (rows x dk) block by block and
// accumulates B^T B with gonum's SYRK and B^T y with GEMV, costing about
// rows (dk)^2 / 2 multiply-adds instead of about rows d^2 / 2.
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
		bm := blas64.General{Rows: nb, Cols: m, Stride: m, Data: b[:nb*m]}
		blas64.Syrk(blas.Trans, 1, bm, 1, blas64.Symmetric{Uplo: blas.Upper, N: m, Stride: m, Data: full})
		blas64.Gemv(blas.Trans, 1, bm, blas64.Vector{N: nb, Inc: 1, Data: yb[:nb]}, 1, blas64.Vector{N: m, Inc: 1, Data: r})
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
