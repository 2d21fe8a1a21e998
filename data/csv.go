package data

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// CSV is a data set parsed from a CSV file with a header row. The whole
// file is parsed and held in memory when it is opened, so CSV suits small
// data sets; use .npy files for large ones. A CSV is safe for concurrent
// use by multiple goroutines.
type CSV struct {
	x, y    []float64 // row-major features; labels (nil if feature-only)
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
	return openCSV(path, label, true)
}

// OpenCSVFeatures reads a CSV with a header where every column is a feature
// (for prediction); if label != "" and present, that column is dropped.
// Read ignores its y argument, which may be nil. Otherwise it behaves as
// OpenCSV.
func OpenCSVFeatures(path, label string) (*CSV, error) {
	return openCSV(path, label, false)
}

func openCSV(path, label string, labeled bool) (*CSV, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *fs.PathError names the file
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
	li, ok := where[label]
	switch {
	case labeled && !ok:
		return nil, fileError(path, "", ErrColumns, "no label column %q; available columns: %s", label, quoteList(names))
	case !labeled && (label == "" || !ok):
		li = -1 // every column is a feature
	}
	d := len(names)
	if li >= 0 {
		d--
	}
	if d == 0 {
		return nil, fileError(path, "", ErrShape, "no feature columns (columns: %s)", quoteList(names))
	}

	s := &CSV{labeled: labeled}
	for {
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
			v, what, err := parseCell(cell)
			if err != nil {
				line, _ := r.FieldPos(j)
				return nil, fileError(path, fmt.Sprintf("line %d, column %q", line, names[j]), err, "cell %q %s", cell, what)
			}
			if j == li {
				if labeled {
					s.y = append(s.y, v)
				}
				continue
			}
			s.x = append(s.x, v)
		}
	}
	n := len(s.x) / d
	if n == 0 {
		return nil, fileError(path, "", ErrShape, "no data rows (header only)")
	}
	desc := fmt.Sprintf("csv %s (%dx%d, label=%s)", path, n, d, label)
	if !labeled {
		desc = fmt.Sprintf("csv %s (%dx%d, features only)", path, n, d)
	}
	s.info = Info{N: n, D: d, Desc: desc}
	return s, nil
}

// parseCell parses a finite float64. On failure it returns ErrParse or
// ErrNonFinite and what is wrong with the cell.
func parseCell(cell string) (v float64, what string, err error) {
	v, err = strconv.ParseFloat(strings.TrimSpace(cell), 64)
	switch {
	case errors.Is(err, strconv.ErrRange) && math.IsInf(v, 0):
		return 0, "overflows float64", ErrNonFinite
	case err != nil && !errors.Is(err, strconv.ErrRange): // underflow is fine
		return 0, "is not a number", ErrParse
	case math.IsNaN(v) || math.IsInf(v, 0):
		return 0, "is NaN or infinite", ErrNonFinite
	}
	return v, "", nil
}

// csvSyntaxError reports a CSV syntax error (such as a stray quote) with
// its line number.
func csvSyntaxError(path string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fileError(path, fmt.Sprintf("line %d", pe.Line), ErrParse, "CSV syntax: %v", pe.Err)
	}
	return fmt.Errorf("%s: reading CSV: %w", path, err)
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
	copy(x, s.x[lo*d:hi*d])
	if s.labeled && y != nil {
		copy(y, s.y[lo:hi])
	}
	return nil
}
