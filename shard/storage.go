package shard

import (
	"errors"
	"fmt"

	"altmin/data"
)

// Storage is the precision a partition holds its features in. Labels are
// always float64.
type Storage string

const (
	// Float64 holds features as float64, 8 bytes each: the data as read.
	Float64 Storage = "float64"
	// Float32 holds features as float32, 4 bytes each. Features are rounded
	// to the nearest float32 when loaded (data.Float32); the kernels convert
	// them back to float64 exactly, so data whose features are float32
	// values give the same bits in either storage, and other data are
	// changed by the rounding.
	Float32 Storage = "float32"
)

// ErrStorage is wrapped by errors naming an unknown storage.
var ErrStorage = errors.New("shard: bad storage")

// ParseStorage returns the storage named s: float64 or float32.
func ParseStorage(s string) (Storage, error) {
	switch st := Storage(s); st {
	case Float64, Float32:
		return st, nil
	}
	return "", fmt.Errorf("%w: %q, want float64 or float32", ErrStorage, s)
}

// loadChunk is the number of rows read from the data source at a time while
// loading a partition, so that loading needs the partition's storage plus
// O(loadChunk * d) float64 scratch, whatever the storage.
const loadChunk = 65536

// Load reads partition id of parts from src into float64 storage,
// appending a constant-1 feature to every row when bias is set.
func Load(src data.Source, parts, id int, bias bool) (*Partition, error) {
	return LoadAs(src, parts, id, bias, Float64)
}

// LoadAs reads partition id of parts from src into the given storage,
// appending a constant-1 feature to every row when bias is set. Rows are
// read loadChunk at a time into float64 scratch and copied or rounded into
// the storage, so the partition is never held in float64 as a whole when
// st is Float32. A feature beyond the float32 range is an error
// (data.ErrFloat32Range) with Float32.
func LoadAs(src data.Source, parts, id int, bias bool, st Storage) (*Partition, error) {
	return loadInto(nil, 0, nil, src, parts, id, bias, st)
}

// loadBuf is the scratch of a partition's read: rows as the source gives
// them, before the bias feature is added or they are rounded to float32.
type loadBuf struct {
	f64 []float64
	f32 []float32
}

// loadInto is LoadAs reading into the memory of reuse (which may be nil)
// where it is large enough, and allocating room for at least capRows rows
// where it is not: a streaming engine reads each partition into the memory
// of the one it gives up. reuse must not be used afterwards. buf, when not
// nil, is the scratch of the read, grown as needed. Float32 storage of a
// source holding float32 features (data.AsFloat32Reader) reads them as
// they are, without a conversion to float64 and back.
func loadInto(reuse *Partition, capRows int, buf *loadBuf, src data.Source, parts, id int, bias bool, st Storage) (*Partition, error) {
	if _, err := ParseStorage(string(st)); err != nil {
		return nil, err
	}
	info := src.Info()
	if parts < 1 || id < 0 || id >= parts {
		return nil, fmt.Errorf("shard: partition %d out of range [0, %d)", id, parts)
	}
	lo, hi := data.Bounds(info.N, parts, id)
	rows, d := hi-lo, info.D
	dd := d
	if bias {
		dd++
	}
	if reuse == nil {
		reuse = new(Partition)
	}
	if buf == nil {
		buf = new(loadBuf)
	}
	c := max(rows, capRows)
	p := &Partition{ID: id, Lo: lo, Rows: rows, D: dd, Y: reuseF64(reuse.Y, rows, c)}
	var err error
	switch r, native := data.AsFloat32Reader(src); {
	case st == Float32 && native:
		p.X32 = reuseF32(reuse.X32, rows*dd, c*dd)
		err = fill(p.X32, p.Y, d, bias, lo, &buf.f32, r.ReadFloat32)
	case st == Float32:
		p.X32 = reuseF32(reuse.X32, rows*dd, c*dd)
		err = fill(p.X32, p.Y, d, bias, lo, &buf.f64, data.Float32(src).Read) // exact: rounded by data.Float32
	default:
		p.X = reuseF64(reuse.X, rows*dd, c*dd)
		err = fill(p.X, p.Y, d, bias, lo, &buf.f64, src.Read)
	}
	if err != nil {
		return nil, fmt.Errorf("shard: loading partition %d (rows %d..%d): %w", id, lo, hi, err)
	}
	return p, nil
}

// fill reads len(y) rows of d features from row lo on with read into out
// (rows of d features, plus a constant-1 feature with bias), loadChunk rows
// at a time: straight into out when the source's values are out's type and
// there is no bias feature, else through scratch, converted.
func fill[T, S float32 | float64](out []T, y []float64, d int, bias bool, lo int, scratch *[]S, read func(lo, hi int, x []S, y []float64) error) error {
	rows, dd := len(y), d
	if bias {
		dd++
	}
	direct, same := any(out).([]S)
	for a := 0; a < rows; a += loadChunk {
		b := min(rows, a+loadChunk)
		if same && !bias {
			if err := read(lo+a, lo+b, direct[a*d:b*d], y[a:b]); err != nil {
				return err
			}
			continue
		}
		if n := min(rows, loadChunk) * d; cap(*scratch) < n {
			*scratch = make([]S, n)
		}
		x := (*scratch)[:(b-a)*d]
		if err := read(lo+a, lo+b, x, y[a:b]); err != nil {
			return err
		}
		for i := a; i < b; i++ {
			o := out[i*dd : (i+1)*dd]
			for j, v := range x[(i-a)*d : (i-a+1)*d] {
				o[j] = T(v)
			}
			if bias {
				o[d] = 1
			}
		}
	}
	return nil
}

// reuseF64 returns s[:n] when s has room for n values, else a new slice of
// n values and capacity c >= n; the values are unspecified.
func reuseF64(s []float64, n, c int) []float64 {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]float64, n, c)
}

func reuseF32(s []float32, n, c int) []float32 {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]float32, n, c)
}

// Storage returns the precision the partition's features are held in.
func (p *Partition) Storage() Storage {
	if p.X32 != nil {
		return Float32
	}
	return Float64
}

// Row returns the features of row i as float64: a slice of X, or with
// float32 storage buf[:D] holding the converted row (buf must have room for
// D values). The result must not be modified.
func (p *Partition) Row(i int, buf []float64) []float64 {
	d := p.D
	if p.X32 == nil {
		return p.X[i*d : (i+1)*d]
	}
	buf = buf[:d]
	for j, v := range p.X32[i*d : (i+1)*d] {
		buf[j] = float64(v)
	}
	return buf
}

// Bytes returns the memory held by the partition's rows and labels.
func (p *Partition) Bytes() int64 {
	return int64(len(p.X))*8 + int64(len(p.X32))*4 + int64(len(p.Y))*8
}

// validate checks that the partition's sizes agree and that exactly one
// storage holds its features.
func (p *Partition) validate() error {
	n := p.Rows * p.D
	switch {
	case p.Rows < 0 || p.D < 0:
		return fmt.Errorf("shard: partition %d has %d rows of %d features", p.ID, p.Rows, p.D)
	case p.X != nil && p.X32 != nil:
		return fmt.Errorf("shard: partition %d holds its features both as float64 and as float32", p.ID)
	case len(p.X)+len(p.X32) != n || len(p.Y) != p.Rows:
		return fmt.Errorf("shard: partition %d has %d float64 and %d float32 feature values and %d labels for %d rows of %d features",
			p.ID, len(p.X), len(p.X32), len(p.Y), p.Rows, p.D)
	}
	return nil
}
