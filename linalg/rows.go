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

// features is a row-major matrix of feature rows, len/d rows of d values,
// held as float64 or as float32: exactly one of f64 and f32 is used (f32
// when it is non-nil).
type features struct {
	f64 []float64
	f32 []float32
	d   int
}

// len returns the number of values held.
func (x features) len() int {
	if x.f32 != nil {
		return len(x.f32)
	}
	return len(x.f64)
}

// rows4 returns rows i0..i0+nr-1 (nr <= 4) as float64 with row stride d,
// followed by zero rows up to four: a slice of x itself when x is float64
// and holds four rows from i0, else buf (grown to 4d and returned for reuse)
// holding the converted rows.
func (x features) rows4(i0, nr int, buf []float64) (rows, newBuf []float64) {
	d := x.d
	if x.f32 == nil && nr == 4 {
		return x.f64[i0*d:], buf
	}
	if cap(buf) < 4*d {
		buf = make([]float64, 4*d)
	}
	buf = buf[:4*d]
	if x.f32 == nil {
		copy(buf, x.f64[i0*d:(i0+nr)*d])
	} else {
		idx := [4]int32{int32(i0), int32(i0 + 1), int32(i0 + 2), int32(i0 + 3)}
		gather32(buf, d, x.f32, d, idx[:nr], nr)
	}
	clear(buf[nr*d:])
	return buf, buf
}

// gather copies rows idx[:n] to dst with row stride ldx, prefetching rows
// of idx[n:], converting float32 rows to float64 (gather32).
func (x features) gather(dst []float64, ldx int, idx []int32, n int) {
	if x.f32 == nil {
		gather(dst, ldx, x.f64, x.d, idx, n)
		return
	}
	gather32(dst, ldx, x.f32, x.d, idx, n)
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
	computePatterns(pat, pred, features{f32: x, d: d}, u, signs)
}

// Stats32 is Stats for feature rows held as float32 (x: rows x d,
// row-major; the labels y stay float64). Rows are converted to float64 as
// they are gathered, so g and r have the same bits as Stats on the same
// values held as float64.
func Stats32(ws *StatsWorkspace, g, r []float64, x []float32, y []float64, d int, pat *Patterns, signs []float64) {
	statsRows(ws, g, r, features{f32: x, d: d}, y, pat, signs)
}
