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

// loadInto is LoadAs reading into the memory of reuse (which may be nil)
// where it is large enough, and allocating room for at least capRows rows
// where it is not: a streaming engine reads each partition into the memory
// of the one it gives up. reuse must not be used afterwards. buf, when not
// nil, is the float64 scratch of the read, grown as needed.
func loadInto(reuse *Partition, capRows int, buf *[]float64, src data.Source, parts, id int, bias bool, st Storage) (*Partition, error) {
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
	c := max(rows, capRows)
	p := &Partition{ID: id, Rows: rows, D: dd, Y: reuseF64(reuse.Y, rows, c)}
	if st == Float32 {
		p.X32 = reuseF32(reuse.X32, rows*dd, c*dd)
		src = data.Float32(src)
	} else {
		p.X = reuseF64(reuse.X, rows*dd, c*dd)
	}
	direct := st == Float64 && !bias // read straight into the storage
	var scratch []float64
	if !direct {
		if buf == nil {
			buf = new([]float64)
		}
		if n := min(rows, loadChunk) * d; cap(*buf) < n {
			*buf = make([]float64, n)
		}
		scratch = (*buf)[:cap(*buf)]
	}
	for a := 0; a < rows; a += loadChunk {
		b := min(rows, a+loadChunk)
		var x []float64
		if direct {
			x = p.X[a*d : b*d]
		} else {
			x = scratch[:(b-a)*d]
		}
		if err := src.Read(lo+a, lo+b, x, p.Y[a:b]); err != nil {
			return nil, fmt.Errorf("shard: loading partition %d (rows %d..%d): %w", id, lo, hi, err)
		}
		if direct {
			continue
		}
		for i := a; i < b; i++ {
			row := x[(i-a)*d : (i-a+1)*d]
			if st == Float32 {
				out := p.X32[i*dd : (i+1)*dd]
				for j, v := range row {
					out[j] = float32(v) // exact: rounded by data.Float32
				}
				if bias {
					out[d] = 1
				}
			} else {
				out := p.X[i*dd : (i+1)*dd]
				copy(out, row)
				if bias {
					out[d] = 1
				}
			}
		}
	}
	return p, nil
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
