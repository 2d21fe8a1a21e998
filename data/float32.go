package data

import (
	"errors"
	"fmt"
	"io"
	"math"
)

// ErrFloat32Range: a feature is finite but too large in magnitude to be
// stored as float32 (beyond about 3.4e38).
var ErrFloat32Range = errors.New("data: value out of float32 range")

// Float32Reader is implemented by sources that can hold their features as
// float32 (an NPY whose X file is float32): when Float32Rows reports true,
// ReadFloat32 reads rows into float32 without a conversion, with the values
// and errors of Read. A partition stored as float32 is read through it.
type Float32Reader interface {
	Float32Rows() bool
	ReadFloat32(lo, hi int, x []float32, y []float64) error
}

// AsFloat32Reader returns src's Float32Reader when src holds its features
// as float32, and false otherwise.
func AsFloat32Reader(src Source) (Float32Reader, bool) {
	r, ok := src.(Float32Reader)
	if !ok || !r.Float32Rows() {
		return nil, false
	}
	return r, true
}

// Float32 returns a view of src whose features are rounded to the nearest
// float32 value, as a partition stored as float32 holds them; the labels
// are unchanged. Data whose features are float32 values (a float32 .npy
// file, planted data with dtype=float32) are unchanged by it, and
// Fingerprint of the view equals that of src; other data change, and so
// does the fingerprint. Read fails with ErrFloat32Range, naming the row, for
// a feature beyond the float32 range. Close closes src when it is an
// io.Closer.
func Float32(src Source) Source {
	if v, ok := src.(float32View); ok {
		return v
	}
	return float32View{src}
}

type float32View struct{ src Source }

// Info implements Source.
func (v float32View) Info() Info {
	info := v.src.Info()
	info.Desc += " (features rounded to float32)"
	return info
}

// Read implements Source.
func (v float32View) Read(lo, hi int, x, y []float64) error {
	if err := v.src.Read(lo, hi, x, y); err != nil {
		return err
	}
	return RoundFloat32(x, v.src.Info().D, lo)
}

// Float32Rows implements Float32Reader: the view of float32 features is
// the features themselves.
func (v float32View) Float32Rows() bool {
	_, ok := AsFloat32Reader(v.src)
	return ok
}

// ReadFloat32 implements Float32Reader.
func (v float32View) ReadFloat32(lo, hi int, x []float32, y []float64) error {
	r, ok := AsFloat32Reader(v.src)
	if !ok {
		panic("data: ReadFloat32 of a source without float32 features")
	}
	return r.ReadFloat32(lo, hi, x, y)
}

// Close closes the underlying source, if it holds files.
func (v float32View) Close() error {
	if c, ok := v.src.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// RoundFloat32 rounds the values of x (rows of d features, the first being
// row lo of its data set) to the nearest float32 in place. It returns an
// error wrapping ErrFloat32Range, naming the row and column, for a finite
// value beyond the float32 range (x is then partly rounded).
func RoundFloat32(x []float64, d, lo int) error {
	for i, v := range x {
		f := float32(v)
		if math.IsInf(float64(f), 0) && !math.IsInf(v, 0) {
			return fmt.Errorf("%w: feature %d of row %d is %g", ErrFloat32Range, i%max(d, 1), lo+i/max(d, 1), v)
		}
		x[i] = float64(f)
	}
	return nil
}
