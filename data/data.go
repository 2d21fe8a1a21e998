package data

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// Info describes a data set.
type Info struct {
	N    int    // rows
	D    int    // features (without any bias column)
	Desc string // human-readable description, e.g. "npy X=/p/x.npy (float32, 1000x20) y=/p/y.npy"
	// Features are the names of the feature columns when they were chosen
	// by name (Table.Features), in feature order; nil when every column
	// but the label is a feature, or the format has no column names.
	Features []string
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
	// ErrColumns: a file lacks the label column or a chosen feature
	// column, repeats a column name, or a CSV row has the wrong number of
	// fields; or feature columns were chosen by name in a file without
	// column names.
	ErrColumns = errors.New("data: bad columns")
	// ErrParquet: a file named .parquet is not a Parquet file, is
	// truncated, or has metadata or pages that cannot be decoded.
	ErrParquet = errors.New("data: bad Parquet file")
	// ErrColumnType: a Parquet column to be read is not a flat FLOAT,
	// DOUBLE, INT32 or INT64 column of numbers (a string, boolean,
	// decimal, date or time column, a nested group or a repeated field).
	ErrColumnType = errors.New("data: unsupported column type")
	// ErrNull: a Parquet value to be read is null.
	ErrNull = errors.New("data: null value")
	// ErrInexact: a Parquet INT64 value has no exact float64
	// representation (beyond 2^53 in magnitude and not a multiple of a
	// large enough power of two).
	ErrInexact = errors.New("data: integer not exactly representable as float64")
	// ErrTooLarge: a feature or label is finite but beyond MaxAbs in
	// magnitude.
	ErrTooLarge = errors.New("data: value too large")
	// ErrNotRegular: a data file is not a regular file (a named pipe, a
	// device, a directory, a socket).
	ErrNotRegular = errors.New("data: not a regular file")
)

// MaxAbs is the largest magnitude of a feature or a label that is read:
// a finite value beyond it is refused (ErrTooLarge) with the file, row and
// column, as NaN and ±Inf are (ErrNonFinite). A partition's statistics add
// up squares and products of the values, which overflow float64 for
// values of magnitude beyond about 1e154 (their squares) and, summed over
// many rows, sooner: below 1e100, squares summed over any number of rows
// stay finite.
const MaxAbs = 1e100

// valueError returns the error of a value v of a data file that is not
// finite or beyond MaxAbs in magnitude, at place where of path.
func valueError(path, where string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fileError(path, where, ErrNonFinite, "%v", v)
	}
	return fileError(path, where, ErrTooLarge, "%v is beyond %v in magnitude (data.MaxAbs: the sums of squares of such values overflow)", v, MaxAbs)
}

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
