package data

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// The fuzz targets of the parsers of outside input: .npy headers and
// files, CSV (the fast and the general path), Parquet, and the planted-data
// specification. Each must never panic, never allocate beyond the file's
// or the limits' sizes, and give back what it was given where a round trip
// exists. scripts/fuzz.sh runs each for a bounded time.

// fuzzMaxValues bounds the values a target reads, so that a valid file
// claiming many rows is opened (headers only) but not read whole.
const fuzzMaxValues = 1 << 16

// fuzzFile writes b to the file named name in dir (one per target,
// rewritten by each input: the inputs of a worker run one at a time).
func fuzzFile(t *testing.T, dir, name string, b []byte) string {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// fuzzRead reads every row of src when it has at most fuzzMaxValues values;
// ok is false when it has more.
func fuzzRead(t *testing.T, src Source) (x, y []float64, ok bool, err error) {
	info := src.Info()
	if info.N < 0 || info.D < 0 {
		t.Fatalf("info %+v", info)
	}
	if int64(info.N)*int64(info.D+1) > fuzzMaxValues {
		return nil, nil, false, nil
	}
	x, y = make([]float64, info.N*info.D), make([]float64, info.N)
	return x, y, true, src.Read(0, info.N, x, y)
}

func sameFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

// FuzzNPYHeader: the header dictionary parser never panics, and a header
// it accepts is written back (npyHeaderV1) to one parsed to the same type
// and shape.
func FuzzNPYHeader(f *testing.F) {
	for _, s := range []string{
		"{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }",
		"{'shape': (5,), 'descr': '<f4', 'fortran_order': False}",
		"{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
		"{'descr': '<f8', 'fortran_order': True, 'shape': (3, 4), }",
		"{'descr': '<i8', 'fortran_order': False, 'shape': (9223372036854775807, 9223372036854775807), }",
		"{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2, 3, 4, 5, 6), 'x': 1}",
		"{", "", "{'descr': \"<f8\", 'fortran_order': False, 'shape': (0, 0)}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parseHeaderDict(s)
		if err != nil {
			return
		}
		if h.count < 0 {
			t.Fatalf("%q: count %d", s, h.count)
		}
		descr := "<f8"
		if h.itemSize == 4 {
			descr = "<f4"
		}
		b := npyHeaderV1(descr, h.shape)
		h2, err := parseHeaderDict(string(b[10:]))
		if err != nil || h2.count != h.count || h2.itemSize != h.itemSize || fmt.Sprint(h2.shape) != fmt.Sprint(h.shape) {
			t.Fatalf("%q: written back as %q: %+v, %v; want %+v", s, b[10:], h2, err, h)
		}
	})
}

// FuzzNPY: a whole .npy file, opened as features (headers only, checked
// against the file's size) and read, and read whole (ReadNPY), never
// panics; values read are written back (WriteNPY) to a file read to the
// same bits.
func FuzzNPY(f *testing.F) {
	f.Add(npyHeaderBytes("<f8", "(2, 3)", f64Bytes([]float64{1, 2, 3, 4, 5, 6})))
	f.Add(npyHeaderBytes("<f4", "(3,)", f32Bytes([]float32{1, -2, 3})))
	f.Add(npyHeaderBytes("<f8", "(2, 2)", f64Bytes([]float64{1, math.NaN(), 3, 4})))
	f.Add(npyHeaderBytes("<f8", "(1000000000, 1000000000)", f64Bytes([]float64{1})))
	f.Add(npyHeaderBytes("<f8", "(2, 3)", f64Bytes([]float64{1, 2})))
	f.Add([]byte("\x93NUMPY\x02\x00\x10\x00\x00\x00{}"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := fuzzFile(t, dir, "x.npy", b)
		if src, err := OpenNPYFeatures(path); err == nil {
			fuzzRead(t, src)
			src.Close()
		}
		if len(b) > 8*fuzzMaxValues {
			return
		}
		v, shape, err := ReadNPY(path)
		if err != nil {
			return
		}
		out := filepath.Join(dir, "y.npy")
		if err := WriteNPY(out, v, shape...); err != nil {
			t.Fatalf("write back %v: %v", shape, err)
		}
		v2, shape2, err := ReadNPY(out)
		if err != nil || fmt.Sprint(shape2) != fmt.Sprint(shape) || !sameFloats(v, v2) {
			t.Fatalf("round trip of shape %v: %v, %v", shape, shape2, err)
		}
	})
}

// npyHeaderBytes returns a version 1.0 .npy file of the given dtype and
// shape tuple text, followed by payload.
func npyHeaderBytes(descr, shape string, payload []byte) []byte {
	return writeRawNPYBytes(1, 0, npyDict(descr, false, shape), payload)
}

// FuzzCSV: a CSV file with a label column y is parsed by the fast path
// (in small chunks, to cross chunk boundaries) and by the general path
// alone: neither panics, both accept the same files, and they give the
// same rows, bit for bit.
func FuzzCSV(f *testing.F) {
	for _, s := range []string{
		"a,b,y\n1,2,3\n4,5,6\n",
		"a,y\n1,2\n3,4",
		"\ufeffa, y\r\n1, 2\r\n",
		"a,b,y\n\"1\",2,3\n",
		"a,b,y\n1,2\n",
		"a,b,y\n1,NaN,3\n",
		"a,a,y\n1,2,3\n",
		"y\n1e308\n-0\n0x1p-2\n",
		"a,y\n1,\"2\n\"\n",
		"",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := fuzzFile(t, dir, "d.csv", b)
		open := func(fast bool) (*CSV, error) {
			oldFast, oldChunk := csvFast, csvChunk
			csvFast, csvChunk = fast, 64
			defer func() { csvFast, csvChunk = oldFast, oldChunk }()
			return OpenCSV(path, "y")
		}
		fs, ferr := open(true)
		gs, gerr := open(false)
		if (ferr == nil) != (gerr == nil) {
			t.Fatalf("fast path: %v; general path: %v", ferr, gerr)
		}
		if ferr != nil {
			return
		}
		if fs.Info().N != gs.Info().N || fs.Info().D != gs.Info().D {
			t.Fatalf("fast path %+v, general %+v", fs.Info(), gs.Info())
		}
		fx, fy, ok, err1 := fuzzRead(t, fs)
		gx, gy, _, err2 := fuzzRead(t, gs)
		if ok && (err1 != nil || err2 != nil || !sameFloats(fx, gx) || !sameFloats(fy, gy)) {
			t.Fatalf("fast path %v %v (%v), general %v %v (%v)", fx, fy, err1, gx, gy, err2)
		}
	})
}

// fuzzRow is the row type of the Parquet seeds.
type fuzzRow struct {
	A float64  `parquet:"a"`
	B *float32 `parquet:"b,optional"`
	C int64    `parquet:"c,dict"`
	Y float64  `parquet:"y"`
}

// FuzzParquet: a Parquet file with a label column y is opened (footer and
// envelope checked) and read without a panic, whatever its bytes.
func FuzzParquet(f *testing.F) {
	one := float32(1.5)
	for _, rows := range [][]fuzzRow{
		{{A: 1, B: &one, C: 2, Y: 3}, {A: 4, B: &one, C: 5, Y: 6}},
		{{A: 1, C: 2, Y: 3}},
		{{A: math.Inf(1), B: &one, C: 1 << 60, Y: 0}},
	} {
		var buf bytes.Buffer
		w := parquet.NewGenericWriter[fuzzRow](&buf, parquet.PageBufferSize(64))
		if _, err := w.Write(rows); err != nil {
			f.Fatal(err)
		}
		if err := w.Close(); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add([]byte("PAR1PAR1"))
	f.Add([]byte("PAR1\x00\x00\x00\x00\x04\x00\x00\x00PAR1"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := fuzzFile(t, dir, "d.parquet", b)
		src, err := Open(Table{Path: path, Label: "y"})
		if err != nil {
			return
		}
		defer closeIf(src)
		fuzzRead(t, src)
	})
}

// FuzzParsePlanted: the planted-data specification (--synthetic) never
// panics nor allocates beyond its limits, and a specification it accepts
// is written (String, a specification for all but the deep teacher) to
// one parsed to the same data set.
func FuzzParsePlanted(f *testing.F) {
	for _, s := range []string{
		"model=sum,d=50,k=5,n=50000,seed=1",
		"model=relu,d=3,n=10",
		"model=resnet,d=4,n=10,wnorm=2,dtype=float32",
		"model=deep,d=20,hidden=8-4,n=20000,seed=1,signs=alternate",
		"model=friedman,n=100,seed=2",
		"model=wide,d=30,n=100",
		"model=sum,d=1000000,k=5,n=50",
		"model=sum,d=50,k=5,n=1000000000000",
		"model=sum,d=,k=5", "n=-1", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		src, err := ParsePlanted(s)
		if err != nil {
			return
		}
		info := src.Info()
		if info.N < 1 || info.D < 1 {
			t.Fatalf("%q: info %+v", s, info)
		}
		st, ok := src.(fmt.Stringer)
		if !ok || !strings.HasPrefix(st.String(), "model=") { // a deep teacher's String describes it
			return
		}
		again, err := ParsePlanted(st.String())
		if err != nil {
			t.Fatalf("%q written as %q: %v", s, st.String(), err)
		}
		if again.(fmt.Stringer).String() != st.String() || again.Info().N != info.N || again.Info().D != info.D {
			t.Fatalf("%q written as %q, read back as %q", s, st.String(), again.(fmt.Stringer).String())
		}
		if info.N <= 4 && info.D <= 64 {
			x1, y1, _, err1 := fuzzRead(t, src)
			x2, y2, _, err2 := fuzzRead(t, again)
			if err1 != nil || err2 != nil || !sameFloats(x1, x2) || !sameFloats(y1, y2) {
				t.Fatalf("%q: rows differ after the round trip (%v, %v)", s, err1, err2)
			}
		}
	})
}
