package data

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

// CSV is a data set parsed from a CSV file with a header row. The whole
// file is parsed and held in memory when it is opened, so CSV suits small
// data sets; use .npy or Parquet files for large ones. A CSV is safe for concurrent
// use by multiple goroutines.
type CSV struct {
	// blocks hold the rows in file order (labels nil if feature-only),
	// block i's first row is row start[i].
	blocks  []csvBlock
	start   []int
	fast    bool // parsed by the fast path (fastCSV)
	labeled bool
	info    Info
}

var _ Source = (*CSV)(nil)

// OpenCSV reads a CSV file with a header row; column label is y and every
// other column is a feature, in file order.
//
// The whole file is parsed here. Column names and cells may be surrounded
// by spaces, and blank lines are skipped. It is an error if the label column
// is missing, a column name is repeated, a row has a different number of
// fields than the header, a cell is not a finite float64, or there are no
// data rows or no feature columns; the error names the file, the 1-based
// line number and the column.
func OpenCSV(path, label string) (*CSV, error) {
	return openCSV(context.Background(), Table{Path: path, Label: label})
}

// OpenCSVFeatures reads a CSV with a header where every column is a feature
// (for prediction); if label != "" and present, that column is dropped.
// Read ignores its y argument, which may be nil. Otherwise it behaves as
// OpenCSV.
func OpenCSVFeatures(path, label string) (*CSV, error) {
	return openCSV(context.Background(), Table{Path: path, Label: label, Unlabeled: true})
}

// openCSV reads the CSV file t.Path with the columns t chooses (see Table):
// only the cells of the chosen columns are parsed. The parse stops once
// ctx is done, with an error wrapping ctx.Err().
func openCSV(ctx context.Context, t Table) (*CSV, error) {
	path := t.Path
	f, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReaderSize(f, 1<<20))
	r.FieldsPerRecord = -1 // checked here, for a better message
	r.TrimLeadingSpace = true
	r.ReuseRecord = true

	rec, err := r.Read()
	if err == io.EOF {
		return nil, fileError(path, "", ErrShape, "empty file: no header row and no data rows")
	}
	if err != nil {
		return nil, csvSyntaxError(path, err)
	}
	names := make([]string, len(rec))
	where := make(map[string]int, len(rec))
	for j, s := range rec {
		if j == 0 {
			s = strings.TrimPrefix(s, "\ufeff") // byte order mark
		}
		names[j] = strings.TrimSpace(s)
		if k, dup := where[names[j]]; dup {
			line, _ := r.FieldPos(j)
			return nil, fileError(path, fmt.Sprintf("line %d", line), ErrColumns,
				"duplicate column name %q (columns %d and %d)", names[j], k+1, j+1)
		}
		where[names[j]] = j
	}
	sel, err := t.selectColumns(path, names)
	if err != nil {
		return nil, err
	}
	d := len(sel.features)
	// slot[j] is where column j goes: its feature index, -1 for the label,
	// -2 for a column not read.
	slot := make([]int, len(names))
	for j := range slot {
		slot[j] = -2
	}
	for i, j := range sel.features {
		slot[j] = i
	}
	labeled := !t.Unlabeled
	if labeled {
		slot[sel.label] = -1
	}

	s := &CSV{labeled: labeled}
	blocks, fast, err := fastCSV(ctx, path, r.InputOffset(), len(names), slot, d, labeled)
	if err != nil {
		return nil, err
	}
	if fast {
		s.blocks, s.fast = blocks, true
	}
	// The general path: the rows into blocks of csvBlockRows.
	const csvBlockRows = 1 << 16
	row := make([]float64, d)
	var cur csvBlock
	for rows := 0; !fast; rows++ {
		if rows%csvCheckRows == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
		}
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, csvSyntaxError(path, err)
		}
		if len(rec) != len(names) {
			line, _ := r.FieldPos(0)
			return nil, fileError(path, fmt.Sprintf("line %d", line), ErrColumns,
				"row has %d fields, header has %d", len(rec), len(names))
		}
		for j, cell := range rec {
			if slot[j] == -2 {
				continue
			}
			v, what, err := parseCell(cell)
			if err != nil {
				line, _ := r.FieldPos(j)
				return nil, fileError(path, fmt.Sprintf("line %d, column %q", line, names[j]), err, "cell %q %s", cell, what)
			}
			if slot[j] == -1 {
				cur.y = append(cur.y, v)
				continue
			}
			row[slot[j]] = v
		}
		if cur.x == nil {
			cur.x = make([]float64, 0, csvBlockRows*d)
		}
		cur.x = append(cur.x, row...)
		if len(cur.x) == csvBlockRows*d {
			s.blocks, cur = append(s.blocks, cur), csvBlock{}
		}
	}
	if len(cur.x) > 0 {
		s.blocks = append(s.blocks, cur)
	}
	n := 0
	for _, b := range s.blocks {
		s.start = append(s.start, n)
		n += len(b.x) / d
	}
	if n == 0 {
		return nil, fileError(path, "", ErrShape, "no data rows (header only)")
	}
	desc := fmt.Sprintf("csv %s (%dx%d, label=%s%s)", path, n, d, t.Label, featureNote(t.Features))
	if !labeled {
		desc = fmt.Sprintf("csv %s (%dx%d, features only%s)", path, n, d, featureNote(t.Features))
	}
	s.info = Info{N: n, D: d, Desc: desc, Features: slices.Clone(t.Features)}
	return s, nil
}

// csvCheckRows is the number of rows the general path parses between two
// looks at the context.
const csvCheckRows = 4096

// parseCell parses a finite float64 of magnitude at most MaxAbs. On
// failure it returns ErrParse, ErrNonFinite or ErrTooLarge and what is
// wrong with the cell.
func parseCell(cell string) (v float64, what string, err error) {
	v, err = strconv.ParseFloat(strings.TrimSpace(cell), 64)
	switch {
	case errors.Is(err, strconv.ErrRange) && math.IsInf(v, 0):
		return 0, "overflows float64", ErrNonFinite
	case err != nil && !errors.Is(err, strconv.ErrRange): // underflow is fine
		return 0, "is not a number", ErrParse
	case math.IsNaN(v) || math.IsInf(v, 0):
		return 0, "is NaN or infinite", ErrNonFinite
	case math.Abs(v) > MaxAbs:
		return 0, fmt.Sprintf("is beyond %v in magnitude (data.MaxAbs: the sums of squares of such values overflow)", MaxAbs), ErrTooLarge
	}
	return v, "", nil
}

// csvSyntaxError reports a CSV syntax error (such as a stray quote) with
// the line where the field holding it begins.
func csvSyntaxError(path string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fileError(path, fmt.Sprintf("line %d", badFieldLine(path, pe)), ErrParse, "CSV syntax: %v", pe.Err)
	}
	return fmt.Errorf("%s: reading CSV: %w", path, err)
}

// badFieldLine returns the line where the field holding the syntax error
// pe begins. encoding/csv reports the line where it gave up, which for a
// quoted field is where the field ends (or the end of the file, for a
// quote never closed), and the line where the record begins, which is not
// the field's when an earlier quoted field of the record spans lines; so
// the record is scanned again from its first line, as encoding/csv splits
// it (with TrimLeadingSpace), up to the error. It returns pe.Line when the
// file cannot be read again.
func badFieldLine(path string, pe *csv.ParseError) int {
	f, err := os.Open(path) // the file openCSV checked and is parsing
	if err != nil {
		return pe.Line
	}
	defer f.Close()
	br := bufio.NewReader(f)
	line, col := 1, 0
	for line < pe.StartLine {
		b, err := br.ReadByte()
		if err != nil {
			return pe.Line
		}
		if b == '\n' {
			line++
		}
	}
	start := line                // where the current field begins
	quoted, fresh := false, true // inside quotes; nothing of the field read yet
	for line < pe.Line || (line == pe.Line && col+1 < pe.Column) {
		b, err := br.ReadByte()
		if err != nil {
			break
		}
		col++
		switch {
		case b == '\n':
			line, col = line+1, 0
			if !quoted { // a record ends here; the error is in this one
				return start
			}
		case quoted && b == '"':
			if next, err := br.Peek(1); err == nil && next[0] == '"' {
				br.ReadByte() // an escaped quote
				col++
			} else {
				quoted = false
			}
		case quoted:
		case b == ',':
			start, fresh = line, true
			continue
		case fresh && (b == ' ' || b == '\t'):
			continue // leading space, trimmed
		case fresh && b == '"':
			quoted = true
		}
		fresh = false
	}
	return start
}

// quoteList formats names as "a", "b", "c".
func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, s := range names {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// Info returns the size and a description of the data set.
func (s *CSV) Info() Info { return s.info }

func (s *CSV) hasLabels() bool { return s.labeled }

// Read copies rows [lo, hi) into x (row-major, (hi-lo)*D values) and y
// (hi-lo values). y may be nil to skip the labels; for a source opened with
// OpenCSVFeatures, y is ignored. Values were checked when the file was
// opened, so Read never returns an error. It panics if not
// 0 <= lo <= hi <= N, if len(x) != (hi-lo)*D or if y is not nil, the
// source has labels and len(y) != hi-lo.
func (s *CSV) Read(lo, hi int, x, y []float64) error {
	checkRead(s.info, lo, hi, len(x), y, s.labeled)
	d := s.info.D
	// The last block starting at or before lo, then the following ones.
	i, found := slices.BinarySearch(s.start, lo)
	if !found {
		i--
	}
	for ; lo < hi; i++ {
		b, b0 := s.blocks[i], s.start[i]
		end := min(hi, b0+len(b.x)/d)
		copy(x, b.x[(lo-b0)*d:(end-b0)*d])
		x = x[(end-lo)*d:]
		if s.labeled && y != nil {
			copy(y, b.y[lo-b0:end-b0])
			y = y[end-lo:]
		}
		lo = end
	}
	return nil
}
