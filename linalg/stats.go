package linalg

import (
	"math/bits"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// Patterns holds the activation patterns of a block of rows: bit q of row i
// (word i*Words + q/64, bit q%64) is 1 when neuron q is active on sample i.
type Patterns struct {
	Rows, K int
	Words   int      // words per row, (K+63)/64
	Bits    []uint64 // Rows*Words
}

// NewPatterns returns zeroed patterns for rows samples and k neurons.
func NewPatterns(rows, k int) *Patterns {
	w := (k + 63) / 64
	return &Patterns{Rows: rows, K: k, Words: w, Bits: make([]uint64, rows*w)}
}

// Active reports whether neuron q is active on row i.
func (p *Patterns) Active(i, q int) bool {
	return p.Bits[i*p.Words+q/64]>>(uint(q)%64)&1 == 1
}

// Flips returns the number of pattern bits that differ between p and o.
func (p *Patterns) Flips(o *Patterns) int64 {
	if len(p.Bits) != len(o.Bits) {
		panic("linalg: pattern size mismatch")
	}
	var n int64
	for i, w := range p.Bits {
		n += int64(bits.OnesCount64(w ^ o.Bits[i]))
	}
	return n
}

// ComputePatterns evaluates z_iq = u_q . x_i for the rows of x (row-major,
// rows x d) and the k x d weights u, sets the activation bits of pat
// (active when z > 0), and writes into pred, when non-nil, the network output
// sum_q signs[q] relu(z_iq). z is scratch space of length k.
func ComputePatterns(pat *Patterns, pred, x []float64, d int, u, signs, z []float64) {
	k := len(signs)
	rows := pat.Rows
	if len(x) != rows*d || len(u) != k*d || len(z) < k || pat.K != k {
		panic("linalg: bad dimensions in ComputePatterns")
	}
	clear(pat.Bits)
	for i := 0; i < rows; i++ {
		xi := x[i*d : (i+1)*d]
		var out float64
		row := pat.Bits[i*pat.Words : (i+1)*pat.Words]
		for q := 0; q < k; q++ {
			uq := u[q*d : (q+1)*d]
			var s float64
			for j, v := range xi {
				s += uq[j] * v
			}
			if s > 0 {
				row[q/64] |= 1 << (uint(q) % 64)
				out += signs[q] * s
			}
		}
		if pred != nil {
			pred[i] = out
		}
	}
}

// StatsWorkspace holds the scratch memory of AccumulateStats. The zero value
// is ready to use; it grows to O(block*m + m*m) floats and is reused.
type StatsWorkspace struct {
	blk  []float64
	yb   []float64
	full []float64
}

// statsBlock is the number of rows of B formed at a time.
const statsBlock = 128

// Stats computes the packed Gram matrix g = B^T B (length PackedLen(d*k))
// and r = B^T y (length d*k) of the rows of x (rows x d, row-major) with
// labels y, under the activation patterns pat and output signs. g and r are
// overwritten. B is formed statsBlock rows at a time, never whole; rows with
// no active neuron are skipped.
func Stats(ws *StatsWorkspace, g, r, x, y []float64, d int, pat *Patterns, signs []float64) {
	k := len(signs)
	m := d * k
	rows := pat.Rows
	if len(x) != rows*d || len(y) != rows || len(g) != PackedLen(m) || len(r) != m || pat.K != k {
		panic("linalg: bad dimensions in Stats")
	}
	ws.blk = grow(ws.blk, statsBlock*m)
	ws.yb = grow(ws.yb, statsBlock)
	ws.full = grow(ws.full, m*m)
	full := ws.full
	clear(full)
	clear(r)
	nb := 0
	flush := func() {
		if nb == 0 {
			return
		}
		b := blas64.General{Rows: nb, Cols: m, Stride: m, Data: ws.blk[:nb*m]}
		c := blas64.Symmetric{Uplo: blas.Upper, N: m, Stride: m, Data: full}
		blas64.Syrk(blas.Trans, 1, b, 1, c)
		blas64.Gemv(blas.Trans, 1, b, blas64.Vector{N: nb, Inc: 1, Data: ws.yb[:nb]}, 1, blas64.Vector{N: m, Inc: 1, Data: r})
		nb = 0
	}
	for i := 0; i < rows; i++ {
		row := pat.Bits[i*pat.Words : (i+1)*pat.Words]
		any := false
		for _, w := range row {
			if w != 0 {
				any = true
				break
			}
		}
		if !any {
			continue
		}
		xi := x[i*d : (i+1)*d]
		dst := ws.blk[nb*m : (nb+1)*m]
		for q := 0; q < k; q++ {
			seg := dst[q*d : (q+1)*d]
			if row[q/64]>>(uint(q)%64)&1 == 0 {
				clear(seg)
				continue
			}
			if signs[q] >= 0 {
				copy(seg, xi)
			} else {
				for j, v := range xi {
					seg[j] = -v
				}
			}
		}
		ws.yb[nb] = y[i]
		nb++
		if nb == statsBlock {
			flush()
		}
	}
	flush()
	PackUpper(g, full, m)
}

func grow(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}
