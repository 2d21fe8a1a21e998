package linalg

import (
	"math"
	"math/bits"
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

// Slice returns the patterns of rows lo..hi-1 of p, sharing p's memory.
func (p *Patterns) Slice(lo, hi int) *Patterns {
	if lo < 0 || hi < lo || hi > p.Rows {
		panic("linalg: pattern rows out of range in Slice")
	}
	return &Patterns{Rows: hi - lo, K: p.K, Words: p.Words, Bits: p.Bits[lo*p.Words : hi*p.Words]}
}

// Clear clears row i's bits.
func (p *Patterns) Clear(i int) { clear(p.Bits[i*p.Words : (i+1)*p.Words]) }

// CopyUnit sets neuron q's bit of every row of p to neuron j's of o, which
// has as many rows.
func (p *Patterns) CopyUnit(q int, o *Patterns, j int) {
	if o.Rows != p.Rows || q < 0 || q >= p.K || j < 0 || j >= o.K {
		panic("linalg: pattern sizes mismatch in CopyUnit")
	}
	wq, bq := q/64, uint(q)%64
	wj, bj := j/64, uint(j)%64
	for i := 0; i < p.Rows; i++ {
		w := &p.Bits[i*p.Words+wq]
		*w = *w&^(1<<bq) | (o.Bits[i*o.Words+wj]>>bj&1)<<bq
	}
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
// sum_q signs[q] relu(z_iq).
//
// Each z_iq is the chain of fused multiply-adds s = fma(x_ij, u_qj, s) over
// j = 0..d-1 from s = 0, the same bits with the assembly and the portable
// kernels. The rows are taken four at a time against blocks of up to twelve
// neurons (a 4 x 12 register tile); it allocates O(d*k) scratch per call.
func ComputePatterns(pat *Patterns, pred, x []float64, d int, u, signs []float64) {
	Rows{F64: x, D: d}.Patterns(pat, pred, u, signs, 0)
}

// Patterns is ComputePatterns for the rows x, whose last linear units are
// linear: such a unit's bit is set on every row (its design row is
// signs[q] x_i, unconditionally) and it adds signs[q] z_iq to the
// prediction, instead of signs[q] relu(z_iq).
func (x Rows) Patterns(pat *Patterns, pred, u, signs []float64, linear int) {
	k, d := len(signs), x.D
	rows := pat.Rows
	if d < 0 || x.len() != rows*d || len(u) != k*d || pat.K != k || pred != nil && len(pred) < rows || linear < 0 || linear > k {
		panic("linalg: bad dimensions in ComputePatterns")
	}
	kr := k - linear // the ReLU units
	clear(pat.Bits)
	if pred != nil {
		clear(pred[:rows])
	}
	if rows == 0 || k == 0 || d == 0 {
		return
	}
	kp := padTo4(k)
	ut := make([]float64, d*kp+4*kp)
	zb := ut[d*kp:] // 4 x kp block of z
	for q := 0; q < k; q++ {
		for j, v := range u[q*d : (q+1)*d] {
			ut[j*kp+q] = v
		}
	}
	var buf []float64 // 4 rows converted from float32, or the zero-padded tail
	for i0 := 0; i0 < rows; i0 += 4 {
		nr := min(4, rows-i0)
		var xb []float64
		xb, buf = x.rows4(i0, nr, buf)
		for q0 := 0; q0 < kp; q0 += 12 {
			zBlock(xb, d, d, ut[q0:d*kp], kp, min(12, kp-q0), zb[q0:], kp)
		}
		for r := 0; r < nr; r++ {
			i := i0 + r
			row := pat.Bits[i*pat.Words : (i+1)*pat.Words]
			var out float64
			var w uint64
			for q, s := range zb[r*kp : r*kp+k] {
				// Branch-free, as about half the bits are set at random:
				// s > 0 exactly when its bits, less one, are below those of
				// +Inf (NaN and the negatives are above, +0 wraps around).
				b := math.Float64bits(s)
				_, on := bits.Sub64(b-1, 0x7ff0000000000000, 0)
				if q >= kr { // a linear unit
					on, b = 1, math.Float64bits(s)
				}
				w |= on << (uint(q) % 64)
				// relu(s); adding signs[q] * +0 leaves out unchanged.
				out += signs[q] * math.Float64frombits(b&-on)
				if q%64 == 63 || q == k-1 {
					row[q/64] = w
					w = 0
				}
			}
			if pred != nil {
				pred[i] = out
			}
		}
	}
}

// StatsWorkspace holds the scratch memory of Stats. The zero value is ready
// to use. It grows to O(rows) indices plus O(d^2 k^2) floats (the per-pair
// sums, about (dk)^2/4, and at most about as many accumulators) plus a block
// of rows packed for the Gram kernel, and is reused.
type StatsWorkspace struct {
	key, key2 []uint32  // block patterns of the rows of a pass
	idx, idx2 []int32   // their row indices, sorted by pattern
	cnt       []int     // radix sort histogram
	ys        []float64 // labels of the sorted rows of a pass

	piece []float64 // rows of a group gathered for the Gram kernel, piece x ldx
	pack  []float64 // rows of a subgroup gathered from piece, chunk x ldx
	hkey  []uint32  // patterns of the rows of piece on a later block
	hidx  []int32   // rows of piece sorted by hkey
	hcnt  []int     // counting sort of hkey
	hsort []uint32  // comparison sort of hkey

	s     []float64   // one group's Gram matrix, strip layout
	cs    []float64   // one subgroup's Gram matrix, strip layout
	rg    []float64   // one group's X^T y
	t     []float64   // per neuron pair q <= q', unsigned sums, strip layout
	r     []float64   // per neuron, unsigned X^T y sums, k x d
	a, ra []float64   // accumulators A and their X^T y, per low sub-pattern
	b, rb []float64   // accumulator B and its X^T y
	v     []float64   // accumulators V, per neuron of the low half
	w     []float64   // accumulators W, per neuron after the block
	aUsed []bool      // A[l] is non-zero
	vUsed []bool      // V[q] is non-zero
	wUsed []bool      // W[q] is non-zero
	bUsed bool        // B is non-zero
	tgt   [][]float64 // accumulators of the current group
	ctgt  [][]float64 // accumulators of the current subgroup
	full  []float64   // d x d scratch for unpacking a pair's block
	ldx   int         // row stride of pack and piece when last sized
}

// Stats computes the packed Gram matrix g = B^T B (length PackedLen(d*k))
// and r = B^T y (length d*k) of the rows of x (rows x d, row-major) with
// labels y, under the activation patterns pat and output signs (each +1 or
// -1). g and r are overwritten.
//
// B is never formed: rows are grouped by activation pattern and each group's
// d x d Gram matrix is computed once and added to every block of G it
// belongs to (see kernel_plan.go for the passes and their cost model). The
// work is about n d^2/2 multiply-adds per pass instead of n (dk)^2/2 for
// B^T B; rows with no active neuron cost nothing. The result is a
// deterministic function of the inputs.
func Stats(ws *StatsWorkspace, g, r, x, y []float64, d int, pat *Patterns, signs []float64) {
	Rows{F64: x, D: d}.Stats(ws, g, r, y, pat, signs)
}

// Stats is Stats for the rows x.
func (x Rows) Stats(ws *StatsWorkspace, g, r, y []float64, pat *Patterns, signs []float64) {
	k, d := len(signs), x.D
	m := d * k
	rows := pat.Rows
	if d < 0 || x.len() != rows*d || len(y) != rows || len(g) != PackedLen(m) || len(r) != m || pat.K != k {
		panic("linalg: bad dimensions in Stats")
	}
	if rows > math.MaxInt32 {
		panic("linalg: too many rows in Stats")
	}
	if m == 0 || rows == 0 {
		clear(g)
		clear(r)
		return
	}
	ws.statsOf(g, r, x, y, pat, signs, planBlock(rows, k, d))
}

// stats is Stats with block size b, 1 <= b <= min(k, maxBlockBits), for
// non-empty inputs whose dimensions Stats has checked.
func (ws *StatsWorkspace) stats(g, r, x, y []float64, d int, pat *Patterns, signs []float64, b int) {
	ws.statsOf(g, r, Rows{F64: x, D: d}, y, pat, signs, b)
}

// statsOf is stats for rows held as float64 or float32.
func (ws *StatsWorkspace) statsOf(g, r []float64, x Rows, y []float64, pat *Patterns, signs []float64, b int) {
	k, d := len(signs), x.D
	ldx := padTo4(d)
	dp := stripLen(ldx)
	j := &statsJob{x: x, y: y, d: d, ldx: ldx, dp: dp, k: k, b: b, pat: pat,
		chunk: max(16, min(512, 3072/ldx)), piece: max(64, min(1<<16, 32768/ldx))}
	nlMax := (b + 1) / 2
	ws.t = growF(ws.t, PackedLen(k)*dp)
	ws.r = growF(ws.r, k*d)
	ws.a = growF(ws.a, (1<<uint(nlMax))*dp)
	ws.ra = growF(ws.ra, (1<<uint(nlMax))*d)
	ws.b = growF(ws.b, dp)
	ws.rb = growF(ws.rb, d)
	ws.v = growF(ws.v, nlMax*dp)
	ws.w = growF(ws.w, k*dp)
	ws.s = growF(ws.s, dp)
	ws.cs = growF(ws.cs, dp)
	ws.rg = growF(ws.rg, d)
	ws.aUsed = growBool(ws.aUsed, 1<<uint(nlMax))
	ws.vUsed = growBool(ws.vUsed, nlMax)
	ws.wUsed = growBool(ws.wUsed, k)
	ws.hkey = growU32(ws.hkey, j.piece)
	ws.hidx = growI32(ws.hidx, j.piece)
	ws.hcnt = growInt(ws.hcnt, 1<<uint(b)+1)
	ws.hsort = growU32(ws.hsort, j.piece)
	ws.full = growF(ws.full, d*d)
	if ws.ldx != ldx || len(ws.pack) < j.chunk*ldx || len(ws.piece) < j.piece*ldx {
		// The padding columns of pack and piece must be zero.
		ws.pack = make([]float64, j.chunk*ldx)
		ws.piece = make([]float64, j.piece*ldx)
		ws.ldx = ldx
	}
	for _, s := range [][]float64{ws.t, ws.r, ws.a, ws.ra, ws.b, ws.rb, ws.v, ws.w} {
		clear(s)
	}
	clear(ws.aUsed)
	clear(ws.vUsed)
	clear(ws.wUsed)
	ws.bUsed = false
	for s0 := 0; s0 < k; s0 += b {
		ws.runBlock(j, s0, min(b, k-s0))
	}
	ws.expand(j, g, r, signs)
}

// expand writes the signed blocks of ws.t and ws.r into g and r: every value
// of both, so that their previous contents do not matter.
func (ws *StatsWorkspace) expand(j *statsJob, g, r []float64, signs []float64) {
	d, ldx, dp, k := j.d, j.ldx, j.dp, j.k
	m := d * k
	full := ws.full[:d*d]
	for q := 0; q < k; q++ {
		for q2 := q; q2 < k; q2++ {
			o := j.pairOff(q, q2)
			unstrip(full, ws.t[o:o+dp], d, ldx)
			sg := signs[q] * signs[q2]
			for jj := 0; jj < d; jj++ {
				i := q*d + jj
				var src []float64
				var at int
				if q == q2 {
					src, at = full[jj*d+jj:(jj+1)*d], PackedIndex(m, i, i)
				} else {
					src, at = full[jj*d:(jj+1)*d], PackedIndex(m, i, q2*d)
				}
				dst := g[at : at+len(src)]
				for t, v := range src {
					dst[t] = sg * v
				}
			}
		}
		for jj, v := range ws.r[q*d : (q+1)*d] {
			r[q*d+jj] = signs[q] * v
		}
	}
}

// unstrip writes the symmetric d x d matrix held in strip layout of order
// ldx in t into full (row-major).
func unstrip(full, t []float64, d, ldx int) {
	for s := 0; s < ldx/4; s++ {
		w, so := ldx-4*s, stripOff(ldx, s)
		for rr := 0; rr < 4; rr++ {
			jj := 4*s + rr
			if jj >= d {
				return
			}
			row := t[so+rr*w : so+(rr+1)*w]
			for c := jj; c < d; c++ {
				v := row[c-4*s]
				full[jj*d+c] = v
				full[c*d+jj] = v
			}
		}
	}
}

func growF(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}
