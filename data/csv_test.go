package data

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"
)

func writeCSV(t *testing.T, text string) string {
	t.Helper()
	return writeFile(t, "d.csv", []byte(text))
}

// readAll reads every row of s, checking that all sub-ranges agree with it.
func readAll(t *testing.T, s Source) (x, y []float64) {
	t.Helper()
	info := s.Info()
	n, d := info.N, info.D
	x, y = make([]float64, n*d), make([]float64, n)
	if err := s.Read(0, n, x, y); err != nil {
		t.Fatal(err)
	}
	for lo := 0; lo <= n; lo++ {
		for hi := lo; hi <= n; hi++ {
			xs, ys := make([]float64, (hi-lo)*d), make([]float64, hi-lo)
			if err := s.Read(lo, hi, xs, ys); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(xs, ys) != fmt.Sprint(x[lo*d:hi*d], y[lo:hi]) {
				t.Fatalf("Read(%d, %d) = %v %v, want %v %v", lo, hi, xs, ys, x[lo*d:hi*d], y[lo:hi])
			}
		}
	}
	return x, y
}

func TestCSV(t *testing.T) {
	text := "\ufeffa, y ,b\r\n" +
		"1,10,2\r\n" +
		"\r\n" + // blank lines are skipped
		" 3 , 30 , \"4\"\n" +
		"-5e-1,  0x1p-2, 6\n"
	path := writeCSV(t, text)
	s, err := OpenCSV(path, "y")
	if err != nil {
		t.Fatal(err)
	}
	info := s.Info()
	if info.N != 3 || info.D != 2 || info.Desc != "csv "+path+" (3x2, label=y)" {
		t.Errorf("Info() = %+v", info)
	}
	x, y := readAll(t, s)
	if got, want := fmt.Sprint(x, y), "[1 2 3 4 -0.5 6] [10 30 0.25]"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if err := s.Read(1, 2, make([]float64, 2), nil); err != nil {
		t.Errorf("nil y: %v", err)
	}

	// Feature-only: the label column is dropped if present.
	for _, tc := range []struct {
		label, want string
		d           int
	}{
		{"y", "[1 2 3 4 -0.5 6]", 2},
		{"", "[1 10 2 3 30 4 -0.5 0.25 6]", 3},
		{"absent", "[1 10 2 3 30 4 -0.5 0.25 6]", 3},
	} {
		f, err := OpenCSVFeatures(path, tc.label)
		if err != nil {
			t.Fatal(err)
		}
		if info := f.Info(); info.N != 3 || info.D != tc.d || info.Desc != fmt.Sprintf("csv %s (3x%d, features only)", path, tc.d) {
			t.Errorf("label %q: Info() = %+v", tc.label, info)
		}
		x := make([]float64, 3*tc.d)
		y := []float64{-1} // ignored, even with the wrong length
		if err := f.Read(0, 3, x, y); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(x) != tc.want || y[0] != -1 {
			t.Errorf("label %q: got %v, y %v; want %s", tc.label, x, y, tc.want)
		}
	}
}

func TestCSVReadPanics(t *testing.T) {
	s, err := OpenCSV(writeCSV(t, "a,b,y\n1,2,3\n4,5,6\n"), "y")
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range []func(){
		func() { s.Read(0, 3, make([]float64, 6), nil) },
		func() { s.Read(-1, 1, make([]float64, 4), nil) },
		func() { s.Read(0, 1, make([]float64, 3), nil) },
		func() { s.Read(0, 1, make([]float64, 2), make([]float64, 2)) },
	} {
		if !panics(f) {
			t.Errorf("case %d did not panic", i)
		}
	}
}

func TestCSVErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		features   bool // OpenCSVFeatures instead of OpenCSV
		target     error
		subs       []string
	}{
		{"missing label", "a,b,c\n1,2,3\n", false, ErrColumns, []string{`no label column "y"`, `"a", "b", "c"`}},
		{"non-numeric", "a,y\n1,2\n\n3,abc\n", false, ErrParse, []string{"line 4", `column "y"`, `"abc"`}},
		{"non-numeric feature", "a,y\n1,2\n\"x\ny\",3\n", true, ErrParse, []string{"line 3", `column "a"`, `"x\ny"`}},
		{"empty cell", "a,y\n1,\n", false, ErrParse, []string{"line 2", `column "y"`, `cell ""`}},
		{"NaN", "a,b,y\n1,2,3\n4,NaN,6\n", false, ErrNonFinite, []string{"line 3", `column "b"`, `"NaN"`}},
		{"Inf", "a,b,y\n1,2,3\n4,5,-inf\n", false, ErrNonFinite, []string{"line 3", `column "y"`, `"-inf"`}},
		{"overflow", "a,y\n1e400,1\n", false, ErrNonFinite, []string{"line 2", `column "a"`, `"1e400"`}},
		{"short row", "a,b,y\n1,2,3\n4,5\n", false, ErrColumns, []string{"line 3", "2 fields", "header has 3"}},
		{"long row", "a,b,y\n1,2,3,4\n", true, ErrColumns, []string{"line 2", "4 fields", "header has 3"}},
		{"empty file", "", false, ErrShape, []string{"empty file"}},
		{"header only", "a,b,y\n", false, ErrShape, []string{"no data rows"}},
		{"header only features", "a,b\n\n", true, ErrShape, []string{"no data rows"}},
		{"duplicate", "a,b,a,y\n1,2,3,4\n", false, ErrColumns, []string{"line 1", `duplicate column name "a"`, "columns 1 and 3"}},
		{"duplicate spaced", "a, y,y\n1,2,3\n", true, ErrColumns, []string{`duplicate column name "y"`}},
		{"label only", "y\n1\n", false, ErrShape, []string{"no feature columns"}},
		{"syntax", "a,y\n1,\"2\"x\n", false, ErrParse, []string{"line 2", "CSV syntax"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeCSV(t, tc.text)
			var err error
			if tc.features {
				_, err = OpenCSVFeatures(path, "y")
			} else {
				_, err = OpenCSV(path, "y")
			}
			wantErr(t, err, tc.target, append(tc.subs, path)...)
		})
	}
	missing := filepath.Join(t.TempDir(), "nope.csv")
	_, err := OpenCSV(missing, "y")
	wantErr(t, err, fs.ErrNotExist, missing)
	_, err = OpenCSVFeatures(missing, "")
	wantErr(t, err, fs.ErrNotExist, missing)
}

// TestCSVFeatures chooses and orders the feature columns by name; the
// cells of other columns are not parsed.
func TestCSVFeatures(t *testing.T) {
	path := writeCSV(t, "id,a,name,b,y\n1,2,foo,3,4\n5,6,bar,7,8\n")
	s, err := Open(Table{Path: path, Label: "y", Features: []string{"b", "a"}})
	if err != nil {
		t.Fatal(err)
	}
	info := s.Info()
	if info.N != 2 || info.D != 2 || info.Desc != "csv "+path+" (2x2, label=y, features=b,a)" || fmt.Sprint(info.Features) != "[b a]" {
		t.Errorf("Info() = %+v", info)
	}
	x, y := readAll(t, s)
	if got, want := fmt.Sprint(x, y), "[3 2 7 6] [4 8]"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	// Features only, with a label column absent from the file.
	f, err := Open(Table{Path: path, Label: "price", Features: []string{"id"}, Unlabeled: true})
	if err != nil {
		t.Fatal(err)
	}
	xf := make([]float64, 2)
	if err := f.Read(0, 2, xf, nil); err != nil || fmt.Sprint(xf) != "[1 5]" {
		t.Errorf("features only: %v, %v", xf, err)
	}
	// By default every column but the label is read, "name" too.
	_, err = Open(Table{Path: path, Label: "y"})
	wantErr(t, err, ErrParse, path, "line 2", `column "name"`, `"foo"`)
	_, err = Open(Table{Path: path, Label: "y", Features: []string{"a", "nope"}})
	wantErr(t, err, ErrColumns, path, `no feature column "nope"`)
	_, err = Open(Table{Path: path, Label: "y", Features: []string{"a", "y"}})
	wantErr(t, err, ErrColumns, path, `"y" is the label`)
	_, err = Open(Table{Path: path, Label: "y", Features: []string{"b", "b"}})
	wantErr(t, err, ErrColumns, path, `"b" chosen twice`)
}
