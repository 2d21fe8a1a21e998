package data

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestCSVSyntaxErrorNamesTheLineTheFieldBegins: a CSV syntax error inside
// a quoted field is reported at the line where that field begins, not at
// the line where encoding/csv gave up (the end of the file for a quote
// that is never closed).
func TestCSVSyntaxErrorNamesTheLineTheFieldBegins(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		line       string
	}{
		// The quote opened on line 3 is never closed: the parser stops at
		// the end of the file, line 6.
		{"unclosed", "a,b,y\n1,2,3\n4,\"5,6\n7,8,9\n1,2,3\n", "line 3:"},
		// The record begins on line 2, its first field spans lines 2-3,
		// the bad field (an unclosed quote) begins on line 3.
		{"second field of a long record", "a,b,y\n\"1\n1\",\"2\n3\n", "line 3:"},
		// A quoted field opened on line 2 with a stray character after
		// its closing quote on line 4.
		{"extraneous quote", "a,y\n\"1\n\n1\"x,2\n", "line 2:"},
		{"bare quote", "a,y\n1,2\n3,4\"\n", "line 3:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, fast := range []bool{true, false} {
				csvFast = fast
				_, err := OpenCSV(writeCSV(t, tc.text), "y")
				csvFast = true
				wantErr(t, err, ErrParse, tc.line, "CSV syntax")
			}
		})
	}
}

// TestRepeatedSyntheticKey: a key given twice in a planted-data
// specification is an error naming it, for every kind, instead of the
// last value silently winning.
func TestRepeatedSyntheticKey(t *testing.T) {
	for _, spec := range []string{
		"model=sum,d=2,k=2,n=10,k=3",
		"model=deep,d=3,hidden=2-2,n=10,n=20",
		"model=friedman1,n=10,seed=1,seed=2",
		"model=wide,d=3,k=2,n=10,noise=0.1,noise=0.2",
		"model=sum,model=relu,d=2,n=10",
	} {
		_, err := ParsePlanted(spec)
		wantErr(t, err, ErrSynthetic, "given twice", spec)
	}
}

// TestUnknownPlantedModelListsEveryKind: the error for an unknown planted
// model lists every kind --synthetic accepts, deep included.
func TestUnknownPlantedModelListsEveryKind(t *testing.T) {
	_, err := ParsePlanted("model=mlp,d=2,n=10")
	wantErr(t, err, ErrSynthetic, `"mlp"`, "relu", "sum", "resnet", "deep", "friedman1", "wide")
}

// TestHugeValuesRefused: a finite value beyond MaxAbs in magnitude, whose
// square overflows the sums of a partition, is refused when read, in
// every format, with an error naming the file, the row and the column.
func TestHugeValuesRefused(t *testing.T) {
	csv := writeCSV(t, "a,b,y\n1,2,3\n4,-1e308,6\n")
	_, err := OpenCSV(csv, "y")
	wantErr(t, err, ErrTooLarge, csv, "line 3", `column "b"`, "-1e308", "1e+100")
	csvY := writeCSV(t, "a,y\n1,2e101\n")
	_, err = OpenCSV(csvY, "y")
	wantErr(t, err, ErrTooLarge, csvY, "line 2", `column "y"`)

	x := writeRawNPY(t, "x.npy", 1, 0, npyDict("<f8", false, "(2, 2)"), f64Bytes([]float64{1, 2, 3, 1e308}))
	y := writeRawNPY(t, "y.npy", 1, 0, npyDict("<f8", false, "(2,)"), f64Bytes([]float64{1, -1e300}))
	s, err := OpenNPY(x, y)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Read(0, 2, make([]float64, 4), make([]float64, 2))
	wantErr(t, err, ErrTooLarge, x, "row 1, column 1", "1e+308")
	err = s.Read(0, 1, make([]float64, 2), make([]float64, 1))
	if err != nil {
		t.Errorf("row 0 is within the bound: %v", err)
	}
	x2 := writeRawNPY(t, "x2.npy", 1, 0, npyDict("<f8", false, "(2, 2)"), f64Bytes([]float64{1, 2, 3, 4}))
	s2, err := OpenNPY(x2, y)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	err = s2.Read(0, 2, make([]float64, 4), make([]float64, 2))
	wantErr(t, err, ErrTooLarge, y, "row 1")

	type row struct {
		A float64 `parquet:"a"`
		Y float64 `parquet:"y"`
	}
	pq := writeParquet(t, "big.parquet", []row{{1, 2}, {3, 4}, {1e200, 5}})
	p, err := OpenParquet(Table{Path: pq, Label: "y"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	err = p.Read(0, 3, make([]float64, 3), make([]float64, 3))
	wantErr(t, err, ErrTooLarge, pq, "row 2", `column "a"`)
}

// countdown is a context whose Err reports cancellation from its n-th
// call on: a deterministic cancellation in the middle of a long read.
type countdown struct {
	context.Context
	n atomic.Int64
}

func newCountdown(n int64) *countdown {
	c := &countdown{Context: context.Background()}
	c.n.Store(n)
	return c
}

func (c *countdown) Err() error {
	if c.n.Add(-1) <= 0 {
		return context.Canceled
	}
	return nil
}

// TestOpenContextCancelled: opening and reading data honour the context:
// a context cancelled before, or in the middle of, a CSV parse or the
// reads of a partition's rows stops them with an error wrapping
// context.Canceled and naming the file.
func TestOpenContextCancelled(t *testing.T) {
	var b strings.Builder
	b.WriteString("a,b,y\n")
	for i := range 20000 {
		fmt.Fprintf(&b, "%d,%d,%d\n", i, 2*i, 3*i)
	}
	csv := writeCSV(t, b.String())
	old := csvChunk
	csvChunk = 4096 // many chunks
	defer func() { csvChunk = old }()
	for _, fast := range []bool{true, false} {
		csvFast = fast
		for _, after := range []int64{1, 3} {
			_, err := OpenContext(newCountdown(after), Table{Path: csv, Label: "y"})
			wantErr(t, err, context.Canceled, csv)
		}
		csvFast = true
	}

	n, d := 300000, 4 // 9.6 MB of features: three chunks
	xs := make([]float64, n*d)
	ys := make([]float64, n)
	x := writeRawNPY(t, "x.npy", 1, 0, npyDict("<f8", false, fmt.Sprintf("(%d, %d)", n, d)), f64Bytes(xs))
	y := writeRawNPY(t, "y.npy", 1, 0, npyDict("<f8", false, fmt.Sprintf("(%d,)", n)), f64Bytes(ys))
	ctx, cancel := context.WithCancel(context.Background())
	s, err := OpenContext(ctx, Table{Path: x, Labels: y})
	if err != nil {
		t.Fatal(err)
	}
	defer closeIf(s)
	if err := s.Read(0, n, make([]float64, n*d), make([]float64, n)); err != nil {
		t.Fatal(err)
	}
	cancel()
	err = s.Read(0, n, make([]float64, n*d), make([]float64, n))
	wantErr(t, err, context.Canceled, x)
	// In the middle of one long read: the read is cut into chunks of a
	// few MiB, and the context is asked before each.
	s2, err := OpenContext(newCountdown(3), Table{Path: x, Labels: y})
	if err != nil {
		t.Fatal(err)
	}
	defer closeIf(s2)
	err = s2.Read(0, n, make([]float64, n*d), make([]float64, n))
	wantErr(t, err, context.Canceled, x)

	type row struct {
		A float64 `parquet:"a"`
		Y float64 `parquet:"y"`
	}
	pq := writeParquet(t, "c.parquet", []row{{1, 2}, {3, 4}, {5, 6}, {7, 8}}, 2, 2)
	pctx, pcancel := context.WithCancel(context.Background())
	p, err := OpenContext(pctx, Table{Path: pq, Label: "y"})
	if err != nil {
		t.Fatal(err)
	}
	defer closeIf(p)
	pcancel()
	err = p.Read(0, 4, make([]float64, 4), make([]float64, 4))
	wantErr(t, err, context.Canceled, pq)
}

// TestWriteSourceCancelled: writing planted data stops at a cancelled
// context, leaving no file behind.
func TestWriteSourceCancelled(t *testing.T) {
	src, err := ParseSynthetic("model=sum,d=3,k=2,n=200000,seed=3")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	xp, yp := filepath.Join(dir, "X.npy"), filepath.Join(dir, "y.npy")
	err = WriteSourceContext(newCountdown(2), xp, yp, src, false)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("WriteSourceContext: %v, want context.Canceled", err)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 0 {
		t.Errorf("files left behind: %v", left)
	}
}
