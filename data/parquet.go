package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sync"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// valueBatch is the number of values decoded at once by Parquet.Read.
const valueBatch = 4096

// Parquet is a data set stored in an Apache Parquet file: one flat column
// per feature and, unless opened with Table.Unlabeled, one for the label.
// FLOAT, DOUBLE, INT32 and INT64 columns (signed or unsigned integers),
// required or optional, are read and converted to float64.
//
// Only the footer is read when the file is opened. Read decodes the row
// groups overlapping its row range only, and in each seeks to its first
// row through the file's page index when it has one (otherwise the pages
// before it are decoded and skipped). A Parquet is safe for concurrent
// use by multiple goroutines, except Close.
type Parquet struct {
	ctx     context.Context // reads stop once it is done
	file    *os.File
	pf      *parquet.File
	path    string
	cols    []pqColumn // the features, in feature order
	label   *pqColumn  // nil without labels
	starts  []int      // starts[g] is the first row of row group g; starts[len] = N
	info    Info
	scratch sync.Pool // *scratch
}

var _ Source = (*Parquet)(nil)

// pqColumn is a column of a Parquet file that is read.
type pqColumn struct {
	name     string
	leaf     int          // index of its column chunk in a row group
	kind     parquet.Kind // physical type: Float, Double, Int32 or Int64
	unsigned bool         // an integer column annotated as unsigned
	maxDef   byte         // definition level of a non-null value; 0 for a required column
}

// OpenParquet opens the Parquet file t.Path with the columns t chooses
// (see Table; t.Labels is not used). Only the file's footer is read: its
// magic numbers, its metadata (row groups and their sizes, every column
// chunk lying inside the file) and the types of the chosen columns are
// checked. Values are checked when they are read: a null, a NaN or ±Inf,
// or an INT64 without an exact float64 value is an error naming the
// column, the row and its row group. The caller must Close the Parquet.
func OpenParquet(t Table) (*Parquet, error) {
	return openParquetContext(context.Background(), t)
}

// openParquetContext is OpenParquet whose reads stop once ctx is done.
func openParquetContext(ctx context.Context, t Table) (*Parquet, error) {
	f, err := openRegular(t.Path)
	if err != nil {
		return nil, err
	}
	s, err := openParquet(f, t)
	if err != nil {
		f.Close()
		return nil, err
	}
	s.ctx = ctx
	return s, nil
}

func openParquet(f *os.File, t Table) (s *Parquet, err error) {
	path := t.Path
	defer recoverParquet(path, "", &err)
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if err := checkParquetEnvelope(f, path, size); err != nil {
		return nil, err
	}
	// The footer only, with nothing the library would size from it
	// unchecked: the page index is read below, once its extent is known
	// to lie inside the file.
	pf, err := parquet.OpenFile(f, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, fileError(path, "", ErrParquet, "%v", err)
	}
	starts, indexed, err := checkParquetMeta(path, pf.Metadata(), size)
	if err != nil {
		return nil, err
	}
	top := pf.Root().Columns()
	names := make([]string, len(top))
	for j, c := range top {
		names[j] = c.Name()
	}
	sel, err := t.selectColumns(path, names)
	if err != nil {
		return nil, err
	}
	s = &Parquet{file: f, path: path, starts: starts}
	s.scratch.New = func() any {
		return &scratch{vals: make([]parquet.Value, valueBatch), f64: make([]float64, valueBatch),
			f32: make([]float32, valueBatch), i32: make([]int32, valueBatch), i64: make([]int64, valueBatch)}
	}
	for _, j := range sel.features {
		c, err := parquetColumn(path, top[j])
		if err != nil {
			return nil, err
		}
		s.cols = append(s.cols, c)
	}
	if !t.Unlabeled {
		c, err := parquetColumn(path, top[sel.label])
		if err != nil {
			return nil, err
		}
		s.label = &c
	}
	// A flat column has a value (or a null) per row in every row group:
	// the row counts the reads are sized by agree with the chunks'.
	read := slices.Clone(s.cols)
	if s.label != nil {
		read = append(read, *s.label)
	}
	for _, c := range read {
		for g := range pf.Metadata().RowGroups {
			rg := &pf.Metadata().RowGroups[g]
			if c.leaf < 0 || c.leaf >= len(rg.Columns) {
				return nil, fileError(path, fmt.Sprintf("row group %d, column %q", g, c.name), ErrParquet, "no column chunk %d among %d: corrupt metadata", c.leaf, len(rg.Columns))
			}
			if nv := rg.Columns[c.leaf].MetaData.NumValues; nv != rg.NumRows {
				return nil, fileError(path, fmt.Sprintf("row group %d, column %q", g, c.name), ErrParquet, "%d values for %d rows: corrupt metadata", nv, rg.NumRows)
			}
		}
	}
	s.pf = pf
	if indexed {
		// Open again with the page index, to seek to a row inside a row
		// group. An index the library cannot read is not needed: rows
		// are then found by decoding the pages before them.
		if px, err := openIndexed(f, size); err == nil {
			s.pf = px
		}
	}
	n, d := starts[len(starts)-1], len(s.cols)
	if n == 0 {
		return nil, fileError(path, "", ErrShape, "no data rows")
	}
	groups := len(starts) - 1
	desc := fmt.Sprintf("parquet %s (%dx%d, %d row groups, label=%s%s)", path, n, d, groups, t.Label, featureNote(t.Features))
	if t.Unlabeled {
		desc = fmt.Sprintf("parquet %s (%dx%d, %d row groups, features only%s)", path, n, d, groups, featureNote(t.Features))
	}
	s.info = Info{N: n, D: d, Desc: desc, Features: slices.Clone(t.Features)}
	return s, nil
}

// openIndexed opens a Parquet file with its page index.
func openIndexed(f *os.File, size int64) (pf *parquet.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			pf, err = nil, fmt.Errorf("%v", r)
		}
	}()
	return parquet.OpenFile(f, size, parquet.SkipBloomFilters(true))
}

// recoverParquet turns a panic of the Parquet library on malformed data
// into an error wrapping ErrParquet that names the file and where.
func recoverParquet(path, where string, err *error) {
	if r := recover(); r != nil {
		*err = fileError(path, where, ErrParquet, "malformed file: %v", r)
	}
}

// checkParquetEnvelope checks the magic numbers at both ends of a Parquet
// file of size bytes and that its footer fits inside it.
func checkParquetEnvelope(f *os.File, path string, size int64) error {
	const magic = "PAR1"
	if size < 12 {
		return fileError(path, "", ErrParquet, "%d bytes: too short for a Parquet file (at least 12 bytes), truncated or not Parquet", size)
	}
	var head, tail [8]byte
	if _, err := f.ReadAt(head[:4], 0); err != nil {
		return fileError(path, "", ErrParquet, "reading the header: %v", err)
	}
	if _, err := f.ReadAt(tail[:], size-8); err != nil {
		return fileError(path, "", ErrParquet, "reading the footer: %v", err)
	}
	switch {
	case string(head[:4]) == "PARE" || string(tail[4:]) == "PARE":
		return fileError(path, "", ErrParquet, "encrypted Parquet files are not supported")
	case string(head[:4]) != magic:
		return fileError(path, "", ErrParquet, "does not start with the Parquet magic number %q: not a Parquet file", magic)
	case string(tail[4:]) != magic:
		return fileError(path, "", ErrParquet, "does not end with the Parquet magic number %q: truncated, or not a Parquet file", magic)
	}
	footer := int64(tail[0]) | int64(tail[1])<<8 | int64(tail[2])<<16 | int64(tail[3])<<24
	if footer > size-12 {
		return fileError(path, "", ErrParquet, "footer of %d bytes does not fit in the file of %d bytes: truncated?", footer, size)
	}
	return nil
}

// checkParquetMeta checks a Parquet file's metadata against its size:
// non-negative row counts that add up, the same number of column chunks in
// every row group, every column chunk's pages and indexes inside the file,
// stored in it (not in another file). It returns the first row of every
// row group followed by the number of rows, and whether the file has a
// page index.
func checkParquetMeta(path string, m *format.FileMetaData, size int64) (starts []int, indexed bool, err error) {
	inside := func(off, n int64) bool { return off >= 0 && n >= 0 && off <= size && n <= size-off }
	starts = make([]int, 0, len(m.RowGroups)+1)
	var n, ci, oi int64 // rows; bytes of the column and offset indexes
	for g := range m.RowGroups {
		rg := &m.RowGroups[g]
		where := fmt.Sprintf("row group %d", g)
		if rg.NumRows < 0 || rg.NumRows > math.MaxInt-n {
			return nil, false, fileError(path, where, ErrParquet, "invalid row count %d", rg.NumRows)
		}
		if len(rg.Columns) != len(m.RowGroups[0].Columns) {
			return nil, false, fileError(path, where, ErrParquet, "%d column chunks, row group 0 has %d", len(rg.Columns), len(m.RowGroups[0].Columns))
		}
		starts = append(starts, int(n))
		n += rg.NumRows
		for j := range rg.Columns {
			c := &rg.Columns[j]
			md := &c.MetaData
			first := md.DataPageOffset
			if md.DictionaryPageOffset > 0 {
				first = min(first, md.DictionaryPageOffset)
			}
			switch {
			case c.FilePath != "":
				return nil, false, fileError(path, where, ErrParquet, "column chunk %d is stored in another file (%q), which is not supported", j, c.FilePath)
			case !inside(first, md.TotalCompressedSize) || !inside(md.DataPageOffset, 0):
				return nil, false, fileError(path, where, ErrParquet, "column chunk %d (%d bytes at offset %d) lies outside the file of %d bytes: truncated or corrupt", j, md.TotalCompressedSize, first, size)
			case !inside(c.ColumnIndexOffset, int64(c.ColumnIndexLength)) || !inside(c.OffsetIndexOffset, int64(c.OffsetIndexLength)):
				return nil, false, fileError(path, where, ErrParquet, "the page index of column chunk %d lies outside the file of %d bytes: truncated or corrupt", j, size)
			}
			indexed = indexed || c.OffsetIndexOffset > 0
			ci, oi = ci+int64(c.ColumnIndexLength), oi+int64(c.OffsetIndexLength)
		}
	}
	if ci > size || oi > size {
		return nil, false, fileError(path, "", ErrParquet, "page indexes of %d and %d bytes in a file of %d bytes: corrupt", ci, oi, size)
	}
	if n != m.NumRows {
		return nil, false, fileError(path, "", ErrParquet, "the row groups hold %d rows, the file says %d", n, m.NumRows)
	}
	return append(starts, int(n)), indexed, nil
}

// parquetColumn returns the column c of a Parquet file's schema to read,
// or an error wrapping ErrColumnType for a column that is not a flat
// column of numbers.
func parquetColumn(path string, c *parquet.Column) (pqColumn, error) {
	where := fmt.Sprintf("column %q", c.Name())
	bad := func(what string) (pqColumn, error) {
		return pqColumn{}, fileError(path, where, ErrColumnType, "%s; only FLOAT, DOUBLE, INT32 and INT64 columns of numbers are read (leave it out by choosing the feature columns)", what)
	}
	switch {
	case !c.Leaf():
		return bad("a nested (group) column")
	case c.Repeated():
		return bad("a repeated column")
	}
	col := pqColumn{name: c.Name(), leaf: c.Index(), kind: c.Type().Kind()}
	if c.Optional() {
		col.maxDef = byte(c.MaxDefinitionLevel())
	}
	var logical format.LogicalTypeValue
	if lt := c.Type().LogicalType(); lt != nil {
		logical = lt.Value
	}
	switch col.kind {
	case parquet.Float, parquet.Double:
		if logical != nil {
			return bad(fmt.Sprintf("%s annotated %s", col.kind, logical))
		}
	case parquet.Int32, parquet.Int64:
		switch lt := logical.(type) {
		case nil:
		case *format.IntType:
			col.unsigned = !lt.IsSigned
		default:
			return bad(fmt.Sprintf("%s annotated %s", col.kind, logical))
		}
	default:
		what := col.kind.String()
		if logical != nil {
			what += " " + logical.String()
		}
		return bad("of type " + what)
	}
	return col, nil
}

// Info returns the size and a description of the data set.
func (s *Parquet) Info() Info { return s.info }

// Read fills x (row-major, (hi-lo)*D values) and, when y is not nil and
// the source has labels, y (hi-lo values) with rows [lo, hi), decoding
// only the row groups that overlap them. It returns an error naming the
// file, the column, the row and its row group for a null, NaN, ±Inf or
// inexact value, or for pages that cannot be decoded. It panics if not
// 0 <= lo <= hi <= N or if x or y has the wrong length.
func (s *Parquet) Read(lo, hi int, x, y []float64) error {
	checkRead(s.info, lo, hi, len(x), y, s.label != nil)
	if s.label == nil {
		y = nil
	}
	d := len(s.cols)
	groups := s.pf.RowGroups()
	// g is the row group holding row lo: the last one starting at or
	// before it.
	g, _ := slices.BinarySearch(s.starts, lo+1)
	for g--; lo < hi; g++ {
		if err := s.ctx.Err(); err != nil {
			return fmt.Errorf("%s: %w", s.path, err)
		}
		a, b := lo-s.starts[g], min(hi, s.starts[g+1])-s.starts[g]
		if a >= b {
			continue // an empty row group
		}
		chunks := groups[g].ColumnChunks()
		for j := range s.cols {
			if err := s.readColumn(chunks, g, &s.cols[j], a, b, x[j:], d); err != nil {
				return err
			}
		}
		x = x[(b-a)*d:]
		if y != nil {
			if err := s.readColumn(chunks, g, s.label, a, b, y, 1); err != nil {
				return err
			}
			y = y[b-a:]
		}
		lo += b - a
	}
	return nil
}

// readColumn reads rows [a, b) of row group g of column c from its chunk
// into dst[0], dst[stride], ....
func (s *Parquet) readColumn(chunks []parquet.ColumnChunk, g int, c *pqColumn, a, b int, dst []float64, stride int) (err error) {
	row := a // the next row of the group to read
	where := func() string {
		return fmt.Sprintf("row group %d, row %d, column %q", g, s.starts[g]+row, c.name)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fileError(s.path, where(), ErrParquet, "malformed page: %v", r)
		}
	}()
	pages := chunks[c.leaf].Pages()
	defer pages.Close()
	if a > 0 {
		if err := pages.SeekToRow(int64(a)); err != nil {
			return fileError(s.path, where(), ErrParquet, "seeking to the row: %v", err)
		}
	}
	sc := s.scratch.Get().(*scratch)
	defer s.scratch.Put(sc)
	for row < b {
		p, err := pages.ReadPage()
		if err == io.EOF {
			return fileError(s.path, where(), ErrParquet, "the column chunk ends before the row group's %d rows", s.starts[g+1]-s.starts[g])
		}
		if err != nil {
			return fileError(s.path, where(), ErrParquet, "%v", err)
		}
		take := int(min(p.NumRows(), int64(b-row)))
		if levels := p.DefinitionLevels(); c.maxDef > 0 && len(levels) > 0 {
			if len(levels) < take {
				parquet.Release(p)
				return fileError(s.path, where(), ErrParquet, "a page of %d rows has %d definition levels", take, len(levels))
			}
			for i, l := range levels[:take] {
				if l != c.maxDef {
					parquet.Release(p)
					row += i
					return fileError(s.path, where(), ErrNull, "%s", nullAdvice)
				}
			}
		}
		r := p.Values()
		for done := 0; done < take; {
			out := sc.f64[:min(valueBatch, take-done)]
			k, err, bad := c.decode(r, sc, out)
			if bad != nil {
				parquet.Release(p)
				row += bad.index
				return fileError(s.path, where(), bad.err, "%s", bad.what)
			}
			for i, f := range out[:k] {
				dst[(row+i-a)*stride] = f
			}
			done, row = done+k, row+k
			switch {
			case done == take:
			case errors.Is(err, io.EOF) || (err == nil && k == 0):
				parquet.Release(p)
				return fileError(s.path, where(), ErrParquet, "a page of %d rows holds %d values", take, done)
			case err != nil:
				parquet.Release(p)
				return fileError(s.path, where(), ErrParquet, "%v", err)
			}
		}
		parquet.Release(p)
	}
	return nil
}

// scratch is the decoding space of one Read of a column: a batch of
// values of each type, valueBatch long.
type scratch struct {
	vals []parquet.Value
	f64  []float64
	f32  []float32
	i32  []int32
	i64  []int64
}

// badValue is a value decode cannot read as float64: its index in the
// batch, the sentinel error and what is wrong with it.
type badValue struct {
	index int
	err   error
	what  string
}

// nullAdvice is the detail of a null value's error.
const nullAdvice = "missing values are not read: fill them in, or leave the column out"

// decode reads up to len(out) values of column c from the page values r
// into out, as float64, through the page's typed reader when it has one
// (a page of plain values) and as parquet.Values otherwise (dictionary
// pages, optional columns). It returns the number of values read and the
// reader's error, or the first value that has no float64 value: a null,
// a NaN or ±Inf, an INT64 without an exact float64.
func (c *pqColumn) decode(r parquet.ValueReader, sc *scratch, out []float64) (int, error, *badValue) {
	var k int
	var err error
	switch tr := r.(type) {
	case parquet.DoubleReader:
		if c.kind != parquet.Double {
			break
		}
		k, err = tr.ReadDoubles(out)
		return k, err, checkFinite(out[:k])
	case parquet.FloatReader:
		if c.kind != parquet.Float {
			break
		}
		buf := sc.f32[:len(out)]
		k, err = tr.ReadFloats(buf)
		for i, v := range buf[:k] {
			out[i] = float64(v)
		}
		return k, err, checkFinite(out[:k])
	case parquet.Int32Reader:
		if c.kind != parquet.Int32 {
			break
		}
		buf := sc.i32[:len(out)]
		k, err = tr.ReadInt32s(buf)
		for i, v := range buf[:k] {
			out[i] = c.int32Value(v)
		}
		return k, err, nil
	case parquet.Int64Reader:
		if c.kind != parquet.Int64 {
			break
		}
		buf := sc.i64[:len(out)]
		k, err = tr.ReadInt64s(buf)
		for i, v := range buf[:k] {
			var ok bool
			if out[i], ok = c.int64Value(v); !ok {
				return k, err, c.inexact(i, v)
			}
		}
		return k, err, nil
	}
	vals := sc.vals[:len(out)]
	k, err = r.ReadValues(vals)
	for i, v := range vals[:k] {
		var ok bool
		switch {
		case v.IsNull():
			return k, err, &badValue{i, ErrNull, nullAdvice}
		case c.kind == parquet.Double:
			out[i] = v.Double()
		case c.kind == parquet.Float:
			out[i] = float64(v.Float())
		case c.kind == parquet.Int32:
			out[i] = c.int32Value(v.Int32())
		default:
			if out[i], ok = c.int64Value(v.Int64()); !ok {
				return k, err, c.inexact(i, v.Int64())
			}
		}
	}
	return k, err, checkFinite(out[:k])
}

// int32Value is the value of an INT32 of column c.
func (c *pqColumn) int32Value(v int32) float64 {
	if c.unsigned {
		return float64(uint32(v))
	}
	return float64(v)
}

// int64Value is the value of an INT64 of column c, and whether float64
// holds it exactly.
func (c *pqColumn) int64Value(v int64) (float64, bool) {
	if c.unsigned {
		u := uint64(v)
		f := float64(u)
		return f, f < 0x1p64 && uint64(f) == u
	}
	f := float64(v)
	return f, f < 0x1p63 && int64(f) == v
}

// inexact describes the INT64 v of column c, index i of its batch, that
// float64 cannot hold exactly.
func (c *pqColumn) inexact(i int, v int64) *badValue {
	if c.unsigned {
		return &badValue{i, ErrInexact, fmt.Sprintf("the UINT64 value %d is beyond 2^53 and has no exact float64 value", uint64(v))}
	}
	return &badValue{i, ErrInexact, fmt.Sprintf("the INT64 value %d is beyond 2^53 in magnitude and has no exact float64 value", v)}
}

// checkFinite returns the first NaN, ±Inf or value beyond MaxAbs in
// magnitude of out, or nil.
func checkFinite(out []float64) *badValue {
	for i, v := range out {
		switch {
		case v-v != 0: // NaN or ±Inf
			return &badValue{i, ErrNonFinite, fmt.Sprintf("the value is %v", v)}
		case math.Abs(v) > MaxAbs:
			return &badValue{i, ErrTooLarge, fmt.Sprintf("the value %v is beyond %v in magnitude (data.MaxAbs: the sums of squares of such values overflow)", v, MaxAbs)}
		}
	}
	return nil
}

// Close closes the file.
func (s *Parquet) Close() error { return s.file.Close() }
