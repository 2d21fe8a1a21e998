package data

import (
	"errors"
	"fmt"
	"math/bits"
)

// Info describes a data set.
type Info struct {
	N    int    // rows
	D    int    // features (without any bias column)
	Desc string // human-readable description, e.g. "npy X=/p/x.npy (float32, 1000x20) y=/p/y.npy"
}

// Source is a data set readable by row range, so a partition reads only its
// own rows.
type Source interface {
	Info() Info
	// Read fills x (row-major, (hi-lo)*D values) and y (hi-lo values) with
	// rows [lo, hi). It returns an error naming the file and the row for
	// NaN/Inf values, short reads, etc.
	Read(lo, hi int, x, y []float64) error
}

// Sentinel errors. Errors returned by this package wrap exactly one of these
// (or an *fs.PathError from the operating system, e.g. for a missing file)
// together with the file name and position; test for them with errors.Is.
var (
	// ErrNotNPY: the file does not start with the .npy magic "\x93NUMPY".
	ErrNotNPY = errors.New("data: not an npy file")
	// ErrVersion: the .npy format version is not 1.0, 2.0 or 3.0.
	ErrVersion = errors.New("data: unsupported npy format version")
	// ErrHeader: the .npy header dictionary cannot be parsed.
	ErrHeader = errors.New("data: malformed npy header")
	// ErrFortran: the .npy array is stored in Fortran (column-major) order.
	ErrFortran = errors.New("data: Fortran order not supported; save with np.ascontiguousarray")
	// ErrDType: the .npy element type is not '<f4' or '<f8'.
	ErrDType = errors.New("data: unsupported dtype")
	// ErrSize: the .npy file is shorter or longer than its header implies,
	// or became shorter after it was opened.
	ErrSize = errors.New("data: npy file size does not match header")
	// ErrShape: an array has the wrong rank, X and y disagree on the number
	// of rows, or a data set has no rows or no features.
	ErrShape = errors.New("data: shape mismatch")
	// ErrNonFinite: a value is NaN or ±Inf.
	ErrNonFinite = errors.New("data: non-finite value")
	// ErrParse: a CSV cell is not a number, or the CSV syntax is broken
	// (for example a stray quote).
	ErrParse = errors.New("data: cannot parse CSV")
	// ErrColumns: a CSV header is missing the label column or repeats a
	// column name, or a row has the wrong number of fields.
	ErrColumns = errors.New("data: bad CSV columns")
)

// fileError returns an error reading "<path>: <where>: <sentinel>: <detail>";
// where and detail are omitted when empty.
func fileError(path, where string, sentinel error, format string, args ...any) error {
	loc := path
	if where != "" {
		loc += ": " + where
	}
	if format == "" {
		return fmt.Errorf("%s: %w", loc, sentinel)
	}
	return fmt.Errorf("%s: %w: %s", loc, sentinel, fmt.Sprintf(format, args...))
}

// Bounds returns the row range [lo, hi) of partition p of P over n rows:
// lo = p*n/P and hi = (p+1)*n/P in exact integer arithmetic (the products
// cannot overflow). The P partitions cover [0, n) exactly, are disjoint and
// in order, and their sizes differ by at most one; when P > n some are empty.
//
// Bounds panics if n < 0, P < 1 or p is not in [0, P).
func Bounds(n, P, p int) (lo, hi int) {
	if n < 0 || P < 1 || p < 0 || p >= P {
		panic(fmt.Sprintf("data: Bounds(n=%d, P=%d, p=%d) out of range", n, P, p))
	}
	return mulDiv(p, n, P), mulDiv(p+1, n, P)
}

// mulDiv returns a*b/c for 0 <= a <= c, b >= 0, c > 0 using a 128-bit
// intermediate product; the result is at most b, so it fits in an int.
func mulDiv(a, b, c int) int {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	q, _ := bits.Div64(hi, lo, uint64(c)) // hi < c because a <= c and b < 2^64
	return int(q)
}
