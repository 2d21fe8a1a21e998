package data

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCSVFastPathSameAsGeneral: the fast path accepts the files the general
// parser (encoding/csv) accepts with the same values, and leaves every file
// it does not accept to it, so that errors are the general path's; over
// chunk sizes that cut lines anywhere, and lines longer than a chunk.
func TestCSVFastPathSameAsGeneral(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var plain strings.Builder
	plain.WriteString("a,b,y,c\n")
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&plain, "%v,%v,%v,%d\n", rng.NormFloat64(), rng.Float64()*1e-300, rng.NormFloat64()*1e6, rng.IntN(1000)-500)
	}
	p := plain.String()
	long := "a,b,y,c\n1,2,3," + strings.Repeat("0", 300) + "4\n5,6,7,8\n"
	// fast marks the files the fast path parses itself when every column
	// is read.
	cases := []struct {
		name, content string
		fast          bool
	}{
		{"plain", p, true},
		{"no final line break", strings.TrimSuffix(p, "\n"), true},
		{"CRLF", strings.ReplaceAll(p, "\n", "\r\n"), true},
		{"blank lines", strings.Replace(strings.Replace(p, "\n", "\n\n", 5), "\n", "\n\r\n", 2) + "\n\n", true},
		{"spaces around cells", strings.ReplaceAll(p, ",", " ,  "), true},
		{"tabs before cells", strings.ReplaceAll(p, ",", ",\t"), true},
		{"quoted cells", "a,b,y,c\n\"1.5\",2,3,4\n5,6,7,8\n", false},
		{"quoted header", "\"a\",\"b\",y,c\n1,2,3,4\n5,6,7,8\n", true},
		{"long line", long, true},
		{"bare carriage return", "a,b,y,c\n1,2,3,4\r5,6,7,8\n", false},
		{"a cell not a number", strings.Replace(p, ",", ",x", 40), false},
		{"an empty cell", "a,b,y,c\n1,,3,4\n", false},
		{"a NaN", "a,b,y,c\n1,NaN,3,4\n", false},
		{"an overflow", "a,b,y,c\n1,1e400,3,4\n", false},
		{"a short row", "a,b,y,c\n1,2,3,4\n1,2,3\n", false},
		{"a long row", "a,b,y,c\n1,2,3,4\n1,2,3,4,5\n", false},
		{"a trailing comma", "a,b,y,c\n1,2,3,4,\n", false},
		{"spaces only line", "a,b,y,c\n1,2,3,4\n   \n5,6,7,8\n", false},
		{"header only", "a,b,y,c\n", false},
	}
	tables := []Table{{Label: "y"}, {Label: "y", Features: []string{"c", "a"}}, {Label: "y", Unlabeled: true}, {Label: "zz", Unlabeled: true}}
	dir := t.TempDir()
	defer func(c int, f bool) { csvChunk, csvFast = c, f }(csvChunk, csvFast)
	for ci, c := range cases {
		path := filepath.Join(dir, fmt.Sprintf("c%d.csv", ci))
		if err := os.WriteFile(path, []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		for ti, tb := range tables {
			tb.Path = path
			csvFast = false
			want, wantErr := openCSV(context.Background(), tb)
			csvFast = true
			for _, chunk := range []int{1, 7, 64, 1000, 4 << 20} {
				csvChunk = chunk
				name := fmt.Sprintf("%s, table %d, chunk %d", c.name, ti, chunk)

				got, err := openCSV(context.Background(), tb)
				if fmt.Sprint(err) != fmt.Sprint(wantErr) {
					t.Fatalf("%s: error %v, the general path's %v", name, err, wantErr)
				}
				if err != nil {
					continue
				}
				if ti == 0 && got.fast != c.fast { // every column read

					t.Fatalf("%s: parsed by the fast path: %v, want %v", name, got.fast, c.fast)
				}
				sameCSV(t, name, got, want)
			}
		}
	}
}

// sameCSV compares two sources' information and rows bit for bit, read
// whole and in ranges that cross blocks.
func sameCSV(t *testing.T, name string, got, want *CSV) {
	t.Helper()
	gi, wi := got.Info(), want.Info()
	if gi.N != wi.N || gi.D != wi.D || gi.Desc != wi.Desc {
		t.Fatalf("%s: info %+v, want %+v", name, gi, wi)
	}
	n, d := wi.N, wi.D
	for _, r := range [][2]int{{0, n}, {0, 0}, {n / 3, n - n/5}, {n - 1, n}} {
		lo, hi := r[0], r[1]
		gx, wx := make([]float64, (hi-lo)*d), make([]float64, (hi-lo)*d)
		var gy, wy []float64
		if want.labeled {
			gy, wy = make([]float64, hi-lo), make([]float64, hi-lo)
		}
		if err := got.Read(lo, hi, gx, gy); err != nil {
			t.Fatal(err)
		}
		if err := want.Read(lo, hi, wx, wy); err != nil {
			t.Fatal(err)
		}
		for i := range wx {
			if math.Float64bits(gx[i]) != math.Float64bits(wx[i]) {
				t.Fatalf("%s: rows %d..%d: feature %d is %v, want %v", name, lo, hi, i, gx[i], wx[i])
			}
		}
		for i := range wy {
			if math.Float64bits(gy[i]) != math.Float64bits(wy[i]) {
				t.Fatalf("%s: rows %d..%d: label %d is %v, want %v", name, lo, hi, i, gy[i], wy[i])
			}
		}
	}
}

// TestCSVBlocks: the general path's blocks of 65536 rows read back across
// their boundaries as one table.
func TestCSVBlocks(t *testing.T) {
	const n = 1<<16*2 + 17
	var b strings.Builder
	b.WriteString("x,y\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%d,%d\n", i, -i)
	}
	path := filepath.Join(t.TempDir(), "big.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	defer func(f bool) { csvFast = f }(csvFast)
	for _, fast := range []bool{false, true} {
		csvFast = fast
		s, err := OpenCSV(path, "y")
		if err != nil {
			t.Fatal(err)
		}
		if fast == false && len(s.blocks) != 3 {
			t.Fatalf("general path: %d blocks, want 3", len(s.blocks))
		}
		lo, hi := 1<<16-5, 1<<17+3
		x, y := make([]float64, hi-lo), make([]float64, hi-lo)
		if err := s.Read(lo, hi, x, y); err != nil {
			t.Fatal(err)
		}
		for i := range x {
			if x[i] != float64(lo+i) || y[i] != -float64(lo+i) {
				t.Fatalf("fast %v: row %d is %v, %v", fast, lo+i, x[i], y[i])
			}
		}
	}
}
