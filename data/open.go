package data

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Format is the format of a data file, given by its name's extension.
type Format string

// The data file formats.
const (
	// FormatNPY is NumPy .npy: features X (n x d) and labels y in separate
	// files, without column names. It is the format of any file whose name
	// ends neither in .csv nor in .parquet.
	FormatNPY Format = "npy"
	// FormatCSV is CSV with a header row naming the columns (.csv).
	FormatCSV Format = "csv"
	// FormatParquet is Apache Parquet, one column per feature (.parquet).
	FormatParquet Format = "parquet"
)

// FormatOf returns the format of the file at path by its extension,
// compared without regard to case: .csv is CSV, .parquet is Parquet, any
// other name is .npy. It is the one place a data file's format is decided.
func FormatOf(path string) Format {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return FormatCSV
	case ".parquet":
		return FormatParquet
	}
	return FormatNPY
}

// Named reports whether files of the format name their columns, so that
// the label and the features are chosen by name.
func (f Format) Named() bool { return f == FormatCSV || f == FormatParquet }

// Table names a data file and the columns to read from it.
type Table struct {
	// Path is the data file: X.npy, FILE.csv or FILE.parquet (FormatOf).
	Path string
	// Labels is the y.npy file of the labels of an .npy Path.
	Labels string
	// Label is the label column of a file with column names. Without
	// Unlabeled it must be present; with Unlabeled it is left out of the
	// features when present.
	Label string
	// Features are the feature columns of a file with column names, in
	// the order the features take; nil selects every column but the
	// label, in file order. Columns not selected are not read, whatever
	// their type or content.
	Features []string
	// Unlabeled opens the features only, for prediction: Labels is not
	// read, and Read ignores its y argument.
	Unlabeled bool
}

// Open opens the data set t names as a Source, in the format of its Path
// (FormatOf): OpenNPY or OpenNPYFeatures, a CSV or a Parquet file. Every
// command that reads data opens it here. The caller closes the source
// when it is an io.Closer.
//
// Features given for an .npy file are an error wrapping ErrColumns: its
// columns have no names. A file that is not a regular file (a named pipe,
// a device, a directory) is an error wrapping ErrNotRegular; it is never
// opened, so a named pipe without a writer does not block.
func Open(t Table) (Source, error) { return OpenContext(context.Background(), t) }

// OpenContext is Open under a context: a CSV file is parsed, and the rows
// of every format are read by Source.Read, only while ctx is not done;
// then they stop with an error naming the file and wrapping ctx.Err().
// The source keeps ctx for its reads for as long as it is open.
func OpenContext(ctx context.Context, t Table) (Source, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", t.Path, err)
	}
	switch FormatOf(t.Path) {
	case FormatCSV:
		return openCSV(ctx, t)
	case FormatParquet:
		return openParquetContext(ctx, t)
	}
	if t.Features != nil {
		return nil, fileError(t.Path, "", ErrColumns, "feature columns are chosen by name, and an .npy file has no column names")
	}
	if t.Unlabeled {
		return openNPYFeatures(ctx, t.Path)
	}
	return openNPY(ctx, t.Path, t.Labels)
}

// openRegular opens the file at path for reading after checking, without
// opening it, that it is a regular file (or a link to one): a named pipe
// would block until a writer comes, a device or a directory never holds a
// data set. Errors wrap ErrNotRegular and name the file, or are the
// *fs.PathError of os.Stat or os.Open.
func openRegular(path string) (*os.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err // *fs.PathError names the file
	}
	if err := regular(path, st.Mode()); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	// The file opened is the one checked, not one put in its place since.
	if now, err := f.Stat(); err != nil || !os.SameFile(st, now) {
		f.Close()
		return nil, fileError(path, "", ErrNotRegular, "the file was replaced while it was opened")
	}
	return f, nil
}

// regular returns an error naming path and what it is when mode is not
// that of a regular file.
func regular(path string, mode fs.FileMode) error {
	var what string
	switch {
	case mode.IsRegular():
		return nil
	case mode.IsDir():
		what = "a directory"
	case mode&fs.ModeNamedPipe != 0:
		what = "a named pipe (FIFO)"
	case mode&fs.ModeDevice != 0:
		what = "a device"
	case mode&fs.ModeSocket != 0:
		what = "a socket"
	default:
		what = "not a regular file (mode " + mode.String() + ")"
	}
	return fileError(path, "", ErrNotRegular, "it is %s; data are read from regular files only", what)
}

// selection is the columns a Table chooses among a file's columns.
type selection struct {
	features []int // positions of the feature columns, in feature order
	label    int   // position of the label column; -1 for none
}

// selectColumns returns the positions among names (a file's columns, in
// file order) of the feature columns and the label t chooses. Errors wrap
// ErrColumns (a missing, repeated or doubly used column) or ErrShape (no
// feature columns) and name path.
func (t Table) selectColumns(path string, names []string) (selection, error) {
	where := make(map[string]int, len(names))
	for j, s := range names {
		if k, dup := where[s]; dup {
			return selection{}, fileError(path, "", ErrColumns, "duplicate column name %q (columns %d and %d)", s, k+1, j+1)
		}
		where[s] = j
	}
	sel := selection{label: -1}
	li, ok := where[t.Label]
	switch {
	case !t.Unlabeled && !ok:
		return selection{}, fileError(path, "", ErrColumns, "no label column %q; available columns: %s", t.Label, quoteList(names))
	case ok && t.Label != "":
		sel.label = li
	}
	if t.Features == nil {
		for j := range names {
			if j != sel.label {
				sel.features = append(sel.features, j)
			}
		}
		if len(sel.features) == 0 {
			return selection{}, fileError(path, "", ErrShape, "no feature columns (columns: %s)", quoteList(names))
		}
		return sel, nil
	}
	if len(t.Features) == 0 {
		return selection{}, fileError(path, "", ErrShape, "the list of feature columns is empty")
	}
	chosen := make(map[string]bool, len(t.Features))
	for _, s := range t.Features {
		j, ok := where[s]
		switch {
		case !ok:
			return selection{}, fileError(path, "", ErrColumns, "no feature column %q; available columns: %s", s, quoteList(names))
		case chosen[s]:
			return selection{}, fileError(path, "", ErrColumns, "feature column %q chosen twice", s)
		case j == sel.label && !t.Unlabeled:
			return selection{}, fileError(path, "", ErrColumns, "column %q is the label and cannot also be a feature", s)
		}
		chosen[s] = true
		sel.features = append(sel.features, j)
	}
	if t.Unlabeled {
		sel.label = -1 // the features are named; the label plays no part
	}
	return sel, nil
}

// featureNote describes an explicit choice of features for Info.Desc:
// ", features=a,b" or "".
func featureNote(features []string) string {
	if features == nil {
		return ""
	}
	return ", features=" + strings.Join(features, ",")
}

// FeaturesDigest returns a short hex digest of a list of feature column
// names (Info.Features), "" for nil: nodes that must read the same
// columns compare it instead of the names.
func FeaturesDigest(features []string) string {
	if features == nil {
		return ""
	}
	h := sha256.New()
	for _, s := range features {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}
