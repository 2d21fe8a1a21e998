package linalg

// Feature rows held in float32. A partition of a very large data set may
// store its features as float32 to halve their memory. The kernels still
// compute in float64: they read rows only through features.rows4 (pattern
// evaluation) and features.gather (the statistics pass), which convert a
// few rows at a time into float64 scratch (gather32: VCVTPS2PD assembly
// where AVX2 is available, rows_amd64.s, else gather32Go). Conversion from
// float32 to float64 is exact, and everything after it is the float64 code,
// so rows held as float32 give the same bits as the same values held as
// float64, with or without assembly.

// Rows is a row-major matrix of feature rows, len/D rows of D values,
// held as float64 or as float32: exactly one of F64 and F32 is used (F32
// when it is non-nil). The kernels read the rows through an optional
// affine map of their leading columns: x_j becomes
// (x_j - Shift[j]) * Scale[j] for j < len(Shift) (a standardization; the
// other columns, such as a constant-1 bias feature, are kept), applied in
// float64 after the conversion from float32, so the same rows and map
// give the same bits in either storage.
type Rows struct {
	F64          []float64
	F32          []float32
	D            int
	Shift, Scale []float64
}

// transform applies the rows' affine map to n rows of dst, row stride ldx.
func (x Rows) transform(dst []float64, ldx, n int) {
	for i := 0; i < n; i++ {
		row := dst[i*ldx : i*ldx+len(x.Shift)]
		for j, s := range x.Shift {
			row[j] = (row[j] - s) * x.Scale[j]
		}
	}
}

// len returns the number of values held.
func (x Rows) len() int {
	if x.F32 != nil {
		return len(x.F32)
	}
	return len(x.F64)
}

// rows4 returns rows i0..i0+nr-1 (nr <= 4) as float64 with row stride d,
// followed by zero rows up to four: a slice of x itself when x is float64
// and holds four rows from i0, else buf (grown to 4d and returned for reuse)
// holding the converted rows.
func (x Rows) rows4(i0, nr int, buf []float64) (rows, newBuf []float64) {
	d := x.D
	if x.F32 == nil && nr == 4 && x.Shift == nil {
		return x.F64[i0*d:], buf
	}
	if cap(buf) < 4*d {
		buf = make([]float64, 4*d)
	}
	buf = buf[:4*d]
	if x.F32 == nil {
		copy(buf, x.F64[i0*d:(i0+nr)*d])
	} else {
		idx := [4]int32{int32(i0), int32(i0 + 1), int32(i0 + 2), int32(i0 + 3)}
		gather32(buf, d, x.F32, d, idx[:nr], nr)
	}
	x.transform(buf, d, nr)
	clear(buf[nr*d:])
	return buf, buf
}

// gather copies rows idx[:n] to dst with row stride ldx, prefetching rows
// of idx[n:], converting float32 rows to float64 (gather32).
func (x Rows) gather(dst []float64, ldx int, idx []int32, n int) {
	if x.F32 == nil {
		gather(dst, ldx, x.F64, x.D, idx, n)
	} else {
		gather32(dst, ldx, x.F32, x.D, idx, n)
	}
	x.transform(dst, ldx, n)
}

// gather32Go copies row idx[t] of x (rows of d float32 values) to
// dst[t*ldx:], converted to float64.
func gather32Go(dst []float64, ldx int, x []float32, d int, idx []int32) {
	for t, i := range idx {
		src := x[int(i)*d : int(i+1)*d]
		row := dst[t*ldx : t*ldx+len(src)]
		for j, v := range src {
			row[j] = float64(v)
		}
	}
}

// ComputePatterns32 is ComputePatterns for feature rows held as float32
// (x: rows x d, row-major). The rows are converted to float64 four at a
// time, so the patterns and predictions have the same bits as
// ComputePatterns on the same values held as float64.
func ComputePatterns32(pat *Patterns, pred []float64, x []float32, d int, u, signs []float64) {
	Rows{F32: x, D: d}.Patterns(pat, pred, u, signs, 0)
}

// Stats32 is Stats for feature rows held as float32 (x: rows x d,
// row-major; the labels y stay float64). Rows are converted to float64 as
// they are gathered, so g and r have the same bits as Stats on the same
// values held as float64.
func Stats32(ws *StatsWorkspace, g, r []float64, x []float32, y []float64, d int, pat *Patterns, signs []float64) {
	Rows{F32: x, D: d}.Stats(ws, g, r, y, pat, signs)
}
