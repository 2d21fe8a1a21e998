package data

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// chunkBytes is the largest single ReadAt issued by NPY.Read and ReadNPY.
const chunkBytes = 4 << 20

// npyFile is an open .npy file whose header has been validated.
type npyFile struct {
	f    *os.File
	path string
	h    *npyHeader
	ctx  context.Context // reads stop once it is done
	// limit is the largest magnitude read: MaxAbs for data rows,
	// math.MaxFloat64 (any finite value) for whole arrays.
	limit float64
}

// openNPYFile opens path, a regular file, and reads its header; its reads
// stop once ctx is done, and refuse values beyond limit in magnitude.
func openNPYFile(ctx context.Context, path string, limit float64) (*npyFile, error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	h, err := readNPYHeader(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &npyFile{f: f, path: path, h: h, ctx: ctx, limit: limit}, nil
}

// read reads elements [lo, lo+len(dst)) into dst, converting to float64 and
// stopping at the first value that is not finite or beyond the file's
// limit in magnitude, which it reports with bad(i, v) for its flat element
// index i. buf is scratch space; it is grown if needed and returned for
// reuse.
func (nf *npyFile) read(lo int64, dst []float64, buf []byte, bad func(i int64, v float64) error) ([]byte, error) {
	return readElems(nf, lo, dst, buf, bad)
}

// readElems is npyFile.read into float64 or, from a float32 file only,
// float32 values. It asks the file's context before every chunk.
func readElems[T float32 | float64](nf *npyFile, lo int64, dst []T, buf []byte, bad func(i int64, v float64) error) ([]byte, error) {
	size := nf.h.itemSize
	chunk := chunkBytes / size
	if need := min(len(dst), chunk) * size; cap(buf) < need {
		buf = make([]byte, need)
	}
	for done := 0; done < len(dst); {
		if err := nf.ctx.Err(); err != nil {
			return buf, fmt.Errorf("%s: %w", nf.path, err)
		}
		n := min(chunk, len(dst)-done)
		b := buf[:n*size]
		off := nf.h.offset + (lo+int64(done))*int64(size)
		if k, err := nf.f.ReadAt(b, off); k < len(b) {
			return buf, fileError(nf.path, "", ErrSize, "short read of %d bytes at offset %d, got %d (file changed since it was opened?): %v", len(b), off, k, err)
		}
		if i := decodeTo(dst[done:done+n], b, size, nf.limit); i >= 0 {
			return buf, bad(lo+int64(done+i), float64(dst[done+i]))
		}
		done += n
	}
	return buf, nil
}

// decodeTo is decode into float64, or into float32 from float32 values
// (size 4) only. float32 values are all within MaxAbs: only their
// finiteness is checked.
func decodeTo[T float32 | float64](dst []T, b []byte, size int, limit float64) int {
	switch d := any(dst).(type) {
	case []float64:
		return decode(d, b, size, limit)
	case []float32:
		if size != 4 {
			panic("data: float64 values decoded into float32")
		}
		b = b[:4*len(d)]
		for i := range d {
			u := binary.LittleEndian.Uint32(b[4*i:])
			d[i] = math.Float32frombits(u)
			if u&0x7f800000 == 0x7f800000 { // all exponent bits: NaN or ±Inf
				return i
			}
		}
		return -1
	}
	panic("unreachable")
}

// decode converts little-endian float32 (size 4) or float64 (size 8) values
// from b into dst. It returns the index of the first NaN, ±Inf or value
// beyond limit in magnitude, or -1.
func decode(dst []float64, b []byte, size int, limit float64) int {
	if size == 4 {
		b = b[:4*len(dst)]
		for i := range dst {
			v := float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
			dst[i] = v
			if v-v != 0 { // NaN or ±Inf
				return i
			}
		}
		return -1
	}
	b = b[:8*len(dst)]
	for i := range dst {
		v := math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		dst[i] = v
		if !(math.Abs(v) <= limit) { // NaN, ±Inf or too large
			return i
		}
	}
	return -1
}

// NPY is a data set stored as .npy files: features X of shape (n, d) and,
// unless opened with OpenNPYFeatures, labels y of shape (n,) or (n, 1).
// Rows are read on demand, so opening is cheap whatever the file size.
// An NPY is safe for concurrent use by multiple goroutines, except Close.
type NPY struct {
	x, y *npyFile // y is nil for a feature-only source
	info Info
	bufs sync.Pool // *[]byte read buffers: a streaming shard reads every iteration
}

var _ Source = (*NPY)(nil)

// OpenNPY opens X (n x d) and y (n) .npy files (float32 or float64,
// little-endian, C order; y may be shape (n,) or (n,1)). The two files may
// have different dtypes.
//
// Only the headers are read here, and each file's size is checked against
// its header; Read seeks to the row range, converts to float64 and checks
// finiteness. The caller must Close the NPY.
func OpenNPY(xPath, yPath string) (*NPY, error) {
	return openNPY(context.Background(), xPath, yPath)
}

// openNPY is OpenNPY whose reads stop once ctx is done.
func openNPY(ctx context.Context, xPath, yPath string) (*NPY, error) {
	s, err := openNPYFeatures(ctx, xPath)
	if err != nil {
		return nil, err
	}
	y, err := openNPYFile(ctx, yPath, MaxAbs)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.y = y
	if err := s.checkY(); err != nil {
		s.Close()
		return nil, err
	}
	s.info.Desc += " y=" + yPath
	return s, nil
}

// checkY checks that y is (n,) or (n, 1) for the n rows of X.
func (s *NPY) checkY() error {
	shape := s.y.h.shape
	if len(shape) != 1 && !(len(shape) == 2 && shape[1] == 1) {
		return fileError(s.y.path, "", ErrShape, "labels y must be 1-D (n,) or (n, 1), got shape %s", shapeString(shape))
	}
	if shape[0] != s.info.N {
		return fileError(s.y.path, "", ErrShape, "y has %d labels but X %s has %d rows", shape[0], s.x.path, s.info.N)
	}
	return nil
}

// OpenNPYFeatures opens a single X.npy (n x d) without labels, for
// prediction. Read ignores its y argument, which may be nil. As for OpenNPY,
// only the header is read here and the caller must Close the NPY.
func OpenNPYFeatures(xPath string) (*NPY, error) {
	return openNPYFeatures(context.Background(), xPath)
}

// openNPYFeatures is OpenNPYFeatures whose reads stop once ctx is done.
func openNPYFeatures(ctx context.Context, xPath string) (*NPY, error) {
	x, err := openNPYFile(ctx, xPath, MaxAbs)
	if err != nil {
		return nil, err
	}
	shape := x.h.shape
	var msg string
	switch {
	case len(shape) != 2:
		msg = "features X must be 2-D (n, d), got shape %s"
	case shape[0] == 0:
		msg = "features X have no rows: shape %s"
	case shape[1] == 0:
		msg = "features X have no columns: shape %s"
	}
	if msg != "" {
		x.f.Close()
		return nil, fileError(xPath, "", ErrShape, msg, shapeString(shape))
	}
	return &NPY{
		x: x,
		info: Info{
			N:    shape[0],
			D:    shape[1],
			Desc: fmt.Sprintf("npy X=%s (%s, %dx%d)", xPath, x.h.typeName(), shape[0], shape[1]),
		},
	}, nil
}

// Info returns the size and a description of the data set.
func (s *NPY) Info() Info { return s.info }

// Read fills x (row-major, (hi-lo)*D values) and y (hi-lo values) with rows
// [lo, hi), reading each file with positioned reads of at most a few MiB.
// y may be nil to skip the labels; for a source opened with
// OpenNPYFeatures, y is ignored.
//
// A NaN or ±Inf value is reported as an error naming the file, the 0-based
// row and, for X, the 0-based column; the contents of x and y are then
// unspecified. Read panics if not 0 <= lo <= hi <= N, if len(x) != (hi-lo)*D
// or if y is not nil, the source has labels and len(y) != hi-lo.
func (s *NPY) Read(lo, hi int, x, y []float64) error {
	checkRead(s.info, lo, hi, len(x), y, s.y != nil)
	return readRows(s, lo, hi, x, y)
}

// Float32Rows reports whether the features are stored as float32, so that
// ReadFloat32 can read them.
func (s *NPY) Float32Rows() bool { return s.x.h.itemSize == 4 }

// ReadFloat32 is Read for features stored as float32 (Float32Rows), into
// float32 without a conversion: the values are those Read gives, and the
// same errors are reported. It panics for float64 features.
func (s *NPY) ReadFloat32(lo, hi int, x []float32, y []float64) error {
	if !s.Float32Rows() {
		panic("data: ReadFloat32 of float64 features")
	}
	checkRead(s.info, lo, hi, len(x), y, s.y != nil)
	return readRows(s, lo, hi, x, y)
}

// readRows is Read into float64 or float32 features, for arguments
// checkRead accepted.
func readRows[T float32 | float64](s *NPY, lo, hi int, x []T, y []float64) error {
	d := s.info.D
	var buf []byte
	if b, ok := s.bufs.Get().(*[]byte); ok {
		buf = *b
	}
	defer func() { s.bufs.Put(&buf) }()
	buf, err := readElems(s.x, int64(lo)*int64(d), x, buf, func(i int64, v float64) error {
		return valueError(s.x.path, fmt.Sprintf("row %d, column %d", i/int64(d), i%int64(d)), v)
	})
	if err != nil || s.y == nil || y == nil {
		return err
	}
	buf, err = s.y.read(int64(lo), y, buf, func(i int64, v float64) error {
		return valueError(s.y.path, fmt.Sprintf("row %d", i), v)
	})
	return err
}

// checkRead panics on a row range or buffer sizes that do not fit info.
func checkRead(info Info, lo, hi, nx int, y []float64, labeled bool) {
	if lo < 0 || hi < lo || hi > info.N {
		panic(fmt.Sprintf("data: Read rows [%d, %d) out of range [0, %d)", lo, hi, info.N))
	}
	if nx != (hi-lo)*info.D {
		panic(fmt.Sprintf("data: Read x has length %d, want %d rows x %d features = %d", nx, hi-lo, info.D, (hi-lo)*info.D))
	}
	if labeled && y != nil && len(y) != hi-lo {
		panic(fmt.Sprintf("data: Read y has length %d, want %d", len(y), hi-lo))
	}
}

// Close closes the underlying files.
func (s *NPY) Close() error {
	err := s.x.f.Close()
	if s.y != nil {
		err = errors.Join(err, s.y.f.Close())
	}
	return err
}

// ReadNPY reads a whole .npy file (float32 or float64, little-endian,
// C order, any shape) into float64, returning the data in C order and the
// shape. A NaN or ±Inf value is an error naming the file and its position.
func ReadNPY(path string) ([]float64, []int, error) {
	return ReadNPYShape(path, nil)
}

// ReadNPYShape is ReadNPY checking the shape of the file's header with
// check, when not nil, before anything of the file's size is allocated or
// read: a file of another shape is refused with check's error however
// large it claims to be.
func ReadNPYShape(path string, check func(shape []int) error) ([]float64, []int, error) {
	nf, err := openNPYFile(context.Background(), path, math.MaxFloat64)
	if err != nil {
		return nil, nil, err
	}
	defer nf.f.Close()
	shape := nf.h.shape
	if check != nil {
		if err := check(shape); err != nil {
			return nil, nil, err
		}
	}
	data := make([]float64, nf.h.count)
	_, err = nf.read(0, data, nil, func(i int64, v float64) error {
		return fileError(path, elementName(shape, i), ErrNonFinite, "%v", v)
	})
	if err != nil {
		return nil, nil, err
	}
	return data, shape, nil
}

// elementName describes flat index i of an array of the given shape:
// "row 3" (1-D), "row 3, column 4" (2-D) or "element (1, 2, 3)".
func elementName(shape []int, i int64) string {
	idx := make([]int, len(shape))
	for k := len(shape) - 1; k >= 0; k-- {
		idx[k] = int(i % int64(shape[k]))
		i /= int64(shape[k])
	}
	switch len(idx) {
	case 1:
		return fmt.Sprintf("row %d", idx[0])
	case 2:
		return fmt.Sprintf("row %d, column %d", idx[0], idx[1])
	}
	return "element " + shapeString(idx)
}

// WriteNPY writes data as a float64 little-endian C-order .npy file (format
// version 1.0) of the given shape; no shape means a 0-d array of one value.
// The file is written to a temporary file in the same directory, synced and
// renamed over path, so readers see either the old or the new file.
// Non-finite values are written as they are.
func WriteNPY(path string, data []float64, shape ...int) error {
	count, err := shapeCount(path, shape, 8)
	if err != nil {
		return err
	}
	if count != len(data) {
		return fileError(path, "", ErrShape, "shape %s needs %d values, data has %d", shapeString(shape), count, len(data))
	}
	f, err := createNPY(path, "<f8", shape)
	if err != nil {
		return err
	}
	buf := make([]byte, 8*min(len(data), 1<<16))
	for len(data) > 0 {
		n := min(len(data), len(buf)/8)
		if err := f.write(encodeF8(buf, data[:n])); err != nil {
			return f.abort(err)
		}
		data = data[n:]
	}
	return f.commit()
}

// shapeCount returns the number of values of shape, checking that they fit
// in memory at size bytes each.
func shapeCount(path string, shape []int, size int) (int, error) {
	count := 1
	for _, s := range shape {
		if s < 0 || (s > 0 && count > math.MaxInt64/size/s) {
			return 0, fileError(path, "", ErrShape, "invalid shape %s", shapeString(shape))
		}
		count *= s
	}
	return count, nil
}

func encodeF8(buf []byte, v []float64) []byte {
	buf = buf[:8*len(v)]
	for i, x := range v {
		binary.LittleEndian.PutUint64(buf[8*i:], math.Float64bits(x))
	}
	return buf
}

// encodeF4 encodes v as float32; the caller has checked that every value is
// a float32 value.
func encodeF4(buf []byte, v []float64) []byte {
	buf = buf[:4*len(v)]
	for i, x := range v {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(float32(x)))
	}
	return buf
}

// npyWriter writes a .npy file to a temporary file in the destination's
// directory; commit syncs it and renames it over the destination, abort
// removes it.
type npyWriter struct {
	path, dir, tmp string
	f              *os.File
}

// createNPY starts a C-order .npy file of dtype descr ("<f8", "<f4") and
// the given shape, its header written.
func createNPY(path, descr string, shape []int) (*npyWriter, error) {
	header := npyHeaderV1(descr, shape)
	if header == nil {
		return nil, fileError(path, "", ErrShape, "shape %s too long for an npy 1.0 header", shapeString(shape))
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("%s: writing npy: %w", path, err)
	}
	w := &npyWriter{path: path, dir: dir, tmp: f.Name(), f: f}
	if err := w.write(header); err != nil {
		return nil, w.abort(err)
	}
	return w, nil
}

func (w *npyWriter) write(b []byte) error {
	_, err := w.f.Write(b)
	return err
}

// abort removes the temporary file and returns err naming the file.
func (w *npyWriter) abort(err error) error {
	w.f.Close()
	os.Remove(w.tmp)
	return fmt.Errorf("%s: writing npy: %w", w.path, err)
}

// commit makes the file durable and puts it in place.
func (w *npyWriter) commit() error {
	if err := w.finish(); err != nil {
		return err
	}
	return w.place()
}

// finish makes the temporary file durable and closes it; on an error it
// is removed.
func (w *npyWriter) finish() error {
	if err := w.f.Chmod(0o644); err != nil {
		return w.abort(err)
	}
	if err := w.f.Sync(); err != nil {
		return w.abort(err)
	}
	if err := w.f.Close(); err != nil {
		os.Remove(w.tmp)
		return fmt.Errorf("%s: writing npy: %w", w.path, err)
	}
	return nil
}

// place renames the finished temporary file over the destination.
func (w *npyWriter) place() error {
	if err := os.Rename(w.tmp, w.path); err != nil {
		os.Remove(w.tmp)
		return fmt.Errorf("%s: writing npy: %w", w.path, err)
	}
	// Make the rename durable. Not every platform can sync a directory, and
	// the data itself is already safe, so a failure here is not reported.
	if d, err := os.Open(w.dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// WriteSource writes the rows of src as .npy files: the features to xPath
// (n x d) as float64, or with f32 as float32 values (every feature must
// be a float32 value already, as with data.Float32 or planted data of dtype
// float32: one that is not is an error naming its row), and the labels to
// yPath (n) as float64; a source without labels is refused. Rows are read
// up to 8 MB of float64 features at a time, so memory does not grow with
// n; each file is written as WriteNPY writes one, and both are put in
// place only once both are complete.
func WriteSource(xPath, yPath string, src Source, f32 bool) error {
	return WriteSourceContext(context.Background(), xPath, yPath, src, f32)
}

// WriteSourceContext is WriteSource stopping once ctx is done, with an
// error wrapping ctx.Err() and without leaving either file behind.
func WriteSourceContext(ctx context.Context, xPath, yPath string, src Source, f32 bool) error {
	info := src.Info()
	n, d := info.N, info.D
	if l, ok := src.(interface{ hasLabels() bool }); ok && !l.hasLabels() {
		return fmt.Errorf("data: %s has no labels to write to %s", info.Desc, yPath)
	}
	descr, size := "<f8", 8
	if f32 {
		descr, size = "<f4", 4
	}
	if _, err := shapeCount(xPath, []int{n, d}, size); err != nil {
		return err
	}
	xw, err := createNPY(xPath, descr, []int{n, d})
	if err != nil {
		return err
	}
	yw, err := createNPY(yPath, "<f8", []int{n})
	if err != nil {
		return xw.abort(err)
	}
	fail := func(err error) error {
		yw.abort(err)
		return xw.abort(err)
	}
	chunk := max(1, min(1<<16, (8<<20)/(8*max(d, 1))))
	x := make([]float64, min(n, chunk)*d)
	y := make([]float64, min(n, chunk))
	buf := make([]byte, 8*len(x))
	for lo := 0; lo < n; lo += chunk {
		if err := ctx.Err(); err != nil {
			return fail(err) // names xPath
		}
		hi := min(n, lo+chunk)
		xs, ys := x[:(hi-lo)*d], y[:hi-lo]
		if err := src.Read(lo, hi, xs, ys); err != nil {
			return fail(err)
		}
		var b []byte
		if f32 {
			for i, v := range xs {
				if float64(float32(v)) != v {
					return fail(fileError(xPath, fmt.Sprintf("row %d, feature %d", lo+i/d, i%d), ErrDType, "%v is not a float32 value", v))
				}
			}
			b = encodeF4(buf, xs)
		} else {
			b = encodeF8(buf, xs)
		}
		if err := xw.write(b); err != nil {
			return fail(err)
		}
		if err := yw.write(encodeF8(buf, ys)); err != nil {
			return fail(err)
		}
	}
	if err := xw.finish(); err != nil {
		yw.abort(err)
		return err
	}
	if err := yw.finish(); err != nil {
		os.Remove(xw.tmp)
		return err
	}
	if err := xw.place(); err != nil {
		os.Remove(yw.tmp)
		return err
	}
	return yw.place()
}

func (s *NPY) hasLabels() bool { return s.y != nil }

// npyHeaderV1 returns the magic, version 1.0, header length and header
// dictionary for a C-order array of dtype descr, padded with spaces and a
// final newline to a multiple of 64 bytes, or nil if the header is too long.
func npyHeaderV1(descr string, shape []int) []byte {
	dict := "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shapeString(shape) + ", }"
	const pre = len(npyMagic) + 2 + 2
	total := (pre + len(dict) + 1 + 63) / 64 * 64
	hlen := total - pre
	if hlen > math.MaxUint16 {
		return nil
	}
	b := make([]byte, 0, total)
	b = append(b, npyMagic...)
	b = append(b, 1, 0)
	b = binary.LittleEndian.AppendUint16(b, uint16(hlen))
	b = append(b, dict...)
	b = append(b, strings.Repeat(" ", hlen-len(dict)-1)...)
	b = append(b, '\n')
	return b
}
