package data

import (
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// writeParquet writes rows to a Parquet file in t.TempDir(), one row
// group per entry of groups (their sizes add up to len(rows)), one row per
// write and with small pages, so that a row group holds many pages.
func writeParquet[T any](t *testing.T, name string, rows []T, groups ...int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[T](f, parquet.PageBufferSize(64))
	if len(groups) == 0 {
		groups = []int{len(rows)}
	}
	i := 0
	for _, g := range groups {
		for _, r := range rows[i : i+g] {
			if _, err := w.Write([]T{r}); err != nil {
				t.Fatal(err)
			}
		}
		i += g
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if i != len(rows) {
		t.Fatalf("row groups hold %d rows, want %d", i, len(rows))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// mixedRow has a column of every type read, the label last.
type mixedRow struct {
	A float64  `parquet:"a"`
	B *float32 `parquet:"b,optional"`
	C int32    `parquet:"c"`
	D int64    `parquet:"d,dict"`
	U uint32   `parquet:"u"`
	V uint64   `parquet:"v"`
	E *int32   `parquet:"e,optional"`
	Y float64  `parquet:"y"`
}

// mixedGroups are the row groups of the mixed table: 1000 rows.
var mixedGroups = []int{300, 250, 1, 449}

// mixedTable returns the rows of the mixed table and their features and
// labels as float64.
func mixedTable() (rows []mixedRow, x, y []float64) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 1000 {
		b, e := float32(rng.NormFloat64()), int32(i%5-2)
		r := mixedRow{
			A: rng.NormFloat64() * 1e3,
			B: &b,
			C: int32(rng.Uint32()),
			D: int64(i%7-3) << 40,
			U: 3_000_000_000 + uint32(i),
			V: 1<<63 + uint64(i)<<11, // multiples of 2^11 above 2^63 are exact float64 values
			E: &e,
			Y: rng.NormFloat64(),
		}
		rows = append(rows, r)
		x = append(x, r.A, float64(*r.B), float64(r.C), float64(r.D), float64(r.U), float64(r.V), float64(*r.E))
		y = append(y, r.Y)
	}
	return rows, x, y
}

// checkRanges reads the row ranges between every two of the cut points
// and compares them with x and y, bit for bit.
func checkRanges(t *testing.T, s Source, x, y []float64, cuts []int) {
	t.Helper()
	d := s.Info().D
	for _, lo := range cuts {
		for _, hi := range cuts {
			if hi < lo {
				continue
			}
			xs, ys := make([]float64, (hi-lo)*d), make([]float64, hi-lo)
			if err := s.Read(lo, hi, xs, ys); err != nil {
				t.Fatalf("Read(%d, %d): %v", lo, hi, err)
			}
			if !sameBits(xs, x[lo*d:hi*d]) || (y != nil && !sameBits(ys, y[lo:hi])) {
				t.Fatalf("Read(%d, %d) differs from the table", lo, hi)
			}
		}
	}
}

func sameBits(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(u, v float64) bool { return math.Float64bits(u) == math.Float64bits(v) })
}

// TestParquetRead reads row ranges within and across row groups of a
// table of FLOAT, DOUBLE, INT32, INT64 (dictionary-encoded), UINT32 and
// UINT64 columns, two of them optional.
func TestParquetRead(t *testing.T) {
	rows, x, y := mixedTable()
	path := writeParquet(t, "mixed.parquet", rows, mixedGroups...)
	s, err := OpenParquet(Table{Path: path, Label: "y"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	info := s.Info()
	if want := fmt.Sprintf("parquet %s (1000x7, 4 row groups, label=y)", path); info.N != 1000 || info.D != 7 || info.Desc != want || info.Features != nil {
		t.Errorf("Info() = %+v, want 1000x7 and Desc %q", info, want)
	}
	// Row group boundaries at 300, 550 and 551, and rows inside groups.
	cuts := []int{0, 1, 17, 299, 300, 301, 420, 549, 550, 551, 552, 700, 998, 999, 1000}
	checkRanges(t, s, x, y, cuts)
	// Without labels.
	xs := make([]float64, 400*7)
	if err := s.Read(200, 600, xs, nil); err != nil || !sameBits(xs, x[200*7:600*7]) {
		t.Errorf("Read(200, 600) without labels: %v", err)
	}
	// Features only: the label column is left out when named.
	f, err := OpenParquet(Table{Path: path, Label: "y", Unlabeled: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.Info().Desc; got != fmt.Sprintf("parquet %s (1000x7, 4 row groups, features only)", path) {
		t.Errorf("features only: Desc %q", got)
	}
	checkRanges(t, f, x, nil, []int{0, 299, 301, 1000})

	// A file read without its page index: rows inside a row group are
	// found by decoding the pages before them.
	if len(s.pf.OffsetIndexes()) == 0 {
		t.Fatal("the file was opened without its page index")
	}
	pf, err := parquet.OpenFile(s.file, s.pf.Size(), parquet.SkipPageIndex(true))
	if err != nil {
		t.Fatal(err)
	}
	s.pf = pf
	checkRanges(t, s, x, y, cuts)
}

// TestParquetFeatures chooses and orders the feature columns by name.
func TestParquetFeatures(t *testing.T) {
	rows, x, y := mixedTable()
	path := writeParquet(t, "mixed.parquet", rows, mixedGroups...)
	s, err := Open(Table{Path: path, Label: "y", Features: []string{"v", "a", "d"}})
	if err != nil {
		t.Fatal(err)
	}
	defer closeIf(s)
	info := s.Info()
	if !slices.Equal(info.Features, []string{"v", "a", "d"}) || info.D != 3 || info.Desc != fmt.Sprintf("parquet %s (1000x3, 4 row groups, label=y, features=v,a,d)", path) {
		t.Errorf("Info() = %+v", info)
	}
	want := make([]float64, 0, 3000)
	for i := range 1000 {
		want = append(want, x[i*7+5], x[i*7], x[i*7+3])
	}
	checkRanges(t, s, want, y, []int{0, 5, 299, 300, 550, 551, 1000})

	for _, tc := range []struct {
		name  string
		table Table
		err   error
		subs  []string
	}{
		{"missing", Table{Label: "y", Features: []string{"a", "zz"}}, ErrColumns, []string{`no feature column "zz"`, `"a", "b", "c"`}},
		{"twice", Table{Label: "y", Features: []string{"a", "b", "a"}}, ErrColumns, []string{`"a" chosen twice`}},
		{"label", Table{Label: "y", Features: []string{"a", "y"}}, ErrColumns, []string{`"y" is the label`}},
		{"empty", Table{Label: "y", Features: []string{}}, ErrShape, []string{"empty"}},
		{"no label", Table{Label: "price"}, ErrColumns, []string{`no label column "price"`}},
		{"label only", Table{Label: "y", Features: nil, Unlabeled: false}, nil, nil},
	} {
		tc.table.Path = path
		src, err := Open(tc.table)
		if tc.err == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			closeIf(src)
			continue
		}
		wantErr(t, err, tc.err, append(tc.subs, path)...)
	}
}

func closeIf(s Source) {
	if c, ok := s.(interface{ Close() error }); ok {
		c.Close()
	}
}

// TestParquetReadsOnlyItsRowGroups zeroes the bytes of the first row
// group's column chunks, and of the first pages of the last row group:
// rows elsewhere still read, so Read decodes only the row groups
// overlapping its range and seeks inside a row group through the page
// index; rows in the damaged pages fail, naming the row group.
func TestParquetReadsOnlyItsRowGroups(t *testing.T) {
	rows, x, y := mixedTable()
	path := writeParquet(t, "mixed.parquet", rows, mixedGroups...)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	zero := func(off, n int64) { clear(b[off : off+n]) }
	for _, c := range pf.Metadata().RowGroups[0].Columns {
		off := c.MetaData.DataPageOffset
		if c.MetaData.DictionaryPageOffset > 0 {
			off = min(off, c.MetaData.DictionaryPageOffset)
		}
		zero(off, c.MetaData.TotalCompressedSize)
	}
	// The last row group (rows 551-999): its first two data pages, in
	// every column.
	const last = 3
	ncol := len(pf.Metadata().RowGroups[0].Columns)
	var firstIntact int64 // the first row of the group intact in every column
	for j := range ncol {
		pages := pf.OffsetIndexes()[last*ncol+j].PageLocations
		if len(pages) < 4 {
			t.Fatalf("column %d of row group %d has %d pages, want several", j, last, len(pages))
		}
		for _, p := range pages[:2] {
			zero(p.Offset, int64(p.CompressedPageSize))
		}
		firstIntact = max(firstIntact, pages[2].FirstRowIndex)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := OpenParquet(Table{Path: path, Label: "y"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	from := 551 + int(firstIntact)
	checkRanges(t, s, x, y, []int{300, 301, 549, 550, 551})
	checkRanges(t, s, x, y, []int{from, from + 1, 999, 1000})
	err = s.Read(299, 301, make([]float64, 14), make([]float64, 2))
	wantErr(t, err, ErrParquet, path, "row group 0", "row 299")
	err = s.Read(551, 552, make([]float64, 7), make([]float64, 1))
	wantErr(t, err, ErrParquet, path, "row group 3", "row 551")
}

// TestParquetNull refuses a null value, naming its column, row and row
// group, unless the column is not read.
func TestParquetNull(t *testing.T) {
	type row struct {
		A float64  `parquet:"a"`
		B *float64 `parquet:"b,optional"`
		Y *float64 `parquet:"y,optional"`
	}
	var rows []row
	var x []float64
	for i := range 120 {
		a, b, y := float64(i), float64(-i), float64(2*i)
		r := row{A: a, B: &b, Y: &y}
		switch i {
		case 95:
			r.B = nil
		case 13:
			r.Y = nil
		}
		rows = append(rows, r)
		x = append(x, a)
	}
	path := writeParquet(t, "null.parquet", rows, 40, 40, 40)
	s, err := OpenParquet(Table{Path: path, Label: "y"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Read(80, 120, make([]float64, 80), make([]float64, 40))
	wantErr(t, err, ErrNull, path, "row group 2", "row 95", `column "b"`)
	err = s.Read(0, 40, make([]float64, 80), make([]float64, 40))
	wantErr(t, err, ErrNull, path, "row group 0", "row 13", `column "y"`)
	// Rows around the nulls read; without labels the label's null is not read.
	for _, r := range [][2]int{{14, 95}, {96, 120}} {
		if err := s.Read(r[0], r[1], make([]float64, 2*(r[1]-r[0])), make([]float64, r[1]-r[0])); err != nil {
			t.Errorf("Read(%d, %d): %v", r[0], r[1], err)
		}
	}
	if err := s.Read(0, 95, make([]float64, 190), nil); err != nil {
		t.Errorf("Read(0, 95) without labels: %v", err)
	}
	// Column b left out.
	a, err := OpenParquet(Table{Path: path, Features: []string{"a"}, Unlabeled: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	checkRanges(t, a, x, nil, []int{0, 40, 95, 96, 120})
}

// TestParquetColumnTypes refuses columns that are not flat numbers,
// naming them, unless they are left out of the features.
func TestParquetColumnTypes(t *testing.T) {
	type inner struct {
		P float64 `parquet:"p"`
	}
	type row struct {
		A float64   `parquet:"a"`
		S string    `parquet:"s"`
		T bool      `parquet:"t"`
		L []float64 `parquet:"l"`
		G inner     `parquet:"g"`
		M int32     `parquet:"m,decimal(2:9)"`
		Y float64   `parquet:"y"`
	}
	rows := []row{{A: 1, S: "x", T: true, L: []float64{1, 2}, M: 314, Y: 2}, {A: 3, S: "y", Y: 4}}
	path := writeParquet(t, "types.parquet", rows)
	_, err := OpenParquet(Table{Path: path, Label: "y"})
	wantErr(t, err, ErrColumnType, path, `column "s"`, "BYTE_ARRAY")
	for _, tc := range []struct{ col, what string }{
		{"s", "STRING"}, {"t", "BOOLEAN"}, {"l", "repeated"}, {"g", "nested"}, {"m", "DECIMAL"},
	} {
		_, err := OpenParquet(Table{Path: path, Label: "y", Features: []string{"a", tc.col}})
		wantErr(t, err, ErrColumnType, path, fmt.Sprintf("column %q", tc.col), tc.what)
		_, err = OpenParquet(Table{Path: path, Label: tc.col, Features: []string{"a"}})
		wantErr(t, err, ErrColumnType, path, fmt.Sprintf("column %q", tc.col))
	}
	s, err := OpenParquet(Table{Path: path, Label: "y", Features: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkRanges(t, s, []float64{1, 3}, []float64{2, 4}, []int{0, 1, 2})
}

// TestParquetValues refuses NaN, ±Inf and INT64 values without an exact
// float64 value, naming the row.
func TestParquetValues(t *testing.T) {
	type row struct {
		I int64   `parquet:"i"`
		F float32 `parquet:"f"`
		Y float64 `parquet:"y"`
	}
	rows := []row{
		{I: 1 << 53, Y: 1},
		{I: -(1 << 60), Y: 2},     // exact
		{I: 1<<53 + 1, Y: 3},      // inexact
		{I: -(1 << 53) - 1, Y: 4}, // inexact
		{I: math.MaxInt64, Y: 5},  // rounds to 2^63, beyond int64
		{F: float32(math.Inf(-1)), Y: 6},
		{Y: math.NaN()},
	}
	path := writeParquet(t, "values.parquet", rows, 3, 4)
	s, err := OpenParquet(Table{Path: path, Label: "y"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	x := make([]float64, 4)
	if err := s.Read(0, 2, x, make([]float64, 2)); err != nil || !slices.Equal(x, []float64{1 << 53, 0, -(1 << 60), 0}) {
		t.Errorf("Read(0, 2) = %v, %v", x, err)
	}
	for _, tc := range []struct {
		row  int
		err  error
		subs []string
	}{
		{2, ErrInexact, []string{"row group 0", "row 2", `column "i"`, "9007199254740993"}},
		{3, ErrInexact, []string{"row group 1", "row 3", `column "i"`, "-9007199254740993"}},
		{4, ErrInexact, []string{"row group 1", "row 4", `column "i"`, "9223372036854775807"}},
		{5, ErrNonFinite, []string{"row group 1", "row 5", `column "f"`, "-Inf"}},
		{6, ErrNonFinite, []string{"row group 1", "row 6", `column "y"`, "NaN"}},
	} {
		err := s.Read(tc.row, tc.row+1, make([]float64, 2), make([]float64, 1))
		wantErr(t, err, tc.err, append(tc.subs, path)...)
	}
}

// TestParquetBadFiles refuses files that are not Parquet, truncated or
// corrupt with an error naming the file, at Open or, for a file truncated
// after it was opened, at Read.
func TestParquetBadFiles(t *testing.T) {
	rows, _, _ := mixedTable()
	good := writeParquet(t, "good.parquet", rows, mixedGroups...)
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	footer := b[len(b)-8:]
	for _, tc := range []struct {
		name string
		data []byte
		subs []string
	}{
		{"empty", nil, []string{"too short"}},
		{"csv", []byte("a,b,y\n1,2,3\n4,5,6\n"), []string{"not a Parquet file"}},
		{"npy", append([]byte("\x93NUMPY\x01\x00"), make([]byte, 100)...), []string{"not a Parquet file"}},
		{"half", b[:len(b)/2], []string{"truncated"}},
		{"last byte cut", b[:len(b)-1], []string{"truncated"}},
		{"footer too long", append(append([]byte("PAR1"), 0xff, 0xff, 0xff, 0x0f), []byte("PAR1")...), []string{"does not fit", "truncated"}},
		{"garbage footer", append(append([]byte("PAR1"), slices.Repeat([]byte{0xee}, 64)...), 64, 0, 0, 0, 'P', 'A', 'R', '1'), nil},
		{"data cut", append(slices.Clone(b[:len(b)/3]), b[len(b)/2:]...), []string{"outside the file"}},
		{"footer only", append(append([]byte("PAR1"), b[len(b)-8-int(footer[0])-int(footer[1])<<8:len(b)-8]...), footer...), []string{"outside the file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "bad.parquet", tc.data)
			s, err := Open(Table{Path: path, Label: "y"})
			if err == nil {
				closeIf(s)
			}
			wantErr(t, err, ErrParquet, append(tc.subs, path)...)
		})
	}
	// A footer claiming more rows than the column chunks hold, consistently
	// in the row group and the file: refused before any row is sized by it.
	var meta format.FileMetaData
	flen := int(footer[0]) | int(footer[1])<<8 | int(footer[2])<<16
	if err := thrift.Unmarshal(new(thrift.CompactProtocol), b[len(b)-8-flen:len(b)-8], &meta); err != nil {
		t.Fatal(err)
	}
	meta.RowGroups[1].NumRows += 1 << 40
	meta.NumRows += 1 << 40
	fb, err := thrift.Marshal(new(thrift.CompactProtocol), &meta)
	if err != nil {
		t.Fatal(err)
	}
	inflated := append(slices.Clone(b[:len(b)-8-flen]), fb...)
	inflated = append(inflated, byte(len(fb)), byte(len(fb)>>8), byte(len(fb)>>16), 0, 'P', 'A', 'R', '1')
	path := writeFile(t, "inflated.parquet", inflated)
	_, err = Open(Table{Path: path, Label: "y"})
	wantErr(t, err, ErrParquet, path, "row group 1", "values for 1099511628026 rows")

	missing := filepath.Join(t.TempDir(), "nope.parquet")
	_, err = Open(Table{Path: missing, Label: "y"})
	wantErr(t, err, fs.ErrNotExist, missing)

	// Truncated after it was opened: the rows beyond the cut fail to read.
	path = writeFile(t, "shrinks.parquet", b)
	s, err := OpenParquet(Table{Path: path, Label: "y"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := os.Truncate(path, int64(len(b)/2)); err != nil {
		t.Fatal(err)
	}
	err = s.Read(900, 1000, make([]float64, 700), make([]float64, 100))
	wantErr(t, err, ErrParquet, path, "row group 3")
}

// TestParquetConcurrent reads random row ranges from several goroutines
// at once (run with -race).
func TestParquetConcurrent(t *testing.T) {
	rows, x, y := mixedTable()
	path := writeParquet(t, "mixed.parquet", rows, mixedGroups...)
	s, err := OpenParquet(Table{Path: path, Label: "y"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for range 50 {
				lo := rng.IntN(1000)
				hi := lo + rng.IntN(1000-lo+1)
				xs, ys := make([]float64, (hi-lo)*7), make([]float64, hi-lo)
				if err := s.Read(lo, hi, xs, ys); err != nil {
					errs <- err
					return
				}
				if !sameBits(xs, x[lo*7:hi*7]) || !sameBits(ys, y[lo:hi]) {
					errs <- fmt.Errorf("Read(%d, %d) differs from the table", lo, hi)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestParquetReadPanics checks the programmer errors Read panics on.
func TestParquetReadPanics(t *testing.T) {
	rows, _, _ := mixedTable()
	s, err := OpenParquet(Table{Path: writeParquet(t, "m.parquet", rows[:10]), Label: "y"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, f := range []func(){
		func() { s.Read(0, 11, make([]float64, 77), nil) },
		func() { s.Read(-1, 1, make([]float64, 14), nil) },
		func() { s.Read(0, 1, make([]float64, 6), nil) },
		func() { s.Read(0, 1, make([]float64, 7), make([]float64, 2)) },
	} {
		if !panics(f) {
			t.Errorf("case %d did not panic", i)
		}
	}
}

// TestFormatOf checks the one dispatch by file name.
func TestFormatOf(t *testing.T) {
	for path, want := range map[string]Format{
		"a.csv": FormatCSV, "dir.x/A.CSV": FormatCSV, "t.parquet": FormatParquet, "T.Parquet": FormatParquet,
		"x.npy": FormatNPY, "x": FormatNPY, "parquet": FormatNPY, "x.csv.npy": FormatNPY,
	} {
		if got := FormatOf(path); got != want {
			t.Errorf("FormatOf(%q) = %s, want %s", path, got, want)
		}
	}
	if FormatNPY.Named() || !FormatCSV.Named() || !FormatParquet.Named() {
		t.Error("Named: only CSV and Parquet name their columns")
	}
	_, err := Open(Table{Path: "X.npy", Labels: "y.npy", Features: []string{"a"}})
	wantErr(t, err, ErrColumns, "X.npy", "no column names")
	if FeaturesDigest(nil) != "" || FeaturesDigest([]string{"a", "b"}) == FeaturesDigest([]string{"b", "a"}) ||
		FeaturesDigest([]string{"ab"}) == FeaturesDigest([]string{"a", "b"}) {
		t.Error("FeaturesDigest does not tell lists apart")
	}
}
