// Package data reads training and prediction data sets for altmin.
//
// A data set is n rows of d float64 features plus, for training, one float64
// label per row. It is exposed as a Source, which reads any row range
// [lo, hi) into caller-owned buffers, so a partition (see Bounds) reads only
// its own rows and a shard never holds the whole set.
//
// Open opens a file in the format its name gives (FormatOf), with the
// label and feature columns a Table names. Three formats are supported:
//
//   - NumPy .npy (OpenNPY, OpenNPYFeatures): float32 ('<f4') or float64
//     ('<f8'), little-endian, C order, format versions 1.0, 2.0 and 3.0. Only
//     the headers are read when a file is opened; Read seeks to its rows with
//     a few large positioned reads and converts them to float64.
//   - CSV with a header row (OpenCSV, OpenCSVFeatures). The whole file is
//     parsed when it is opened, so CSV is meant for small data sets.
//   - Apache Parquet (OpenParquet): flat FLOAT, DOUBLE, INT32 and INT64
//     columns, required or optional. Only the footer is read when a file
//     is opened; Read decodes the row groups holding its rows only.
//
// In CSV and Parquet files the label and the features are chosen by
// column name (Table.Label, Table.Features); columns not chosen are not
// read.
//
// OpenContext opens a file under a context: the CSV parse and every Read
// of the source stop once it is done, with an error naming the file and
// wrapping its error (context.Canceled for a command interrupted by a
// signal). Only regular files are opened: a named pipe, a device or a
// directory is refused (ErrNotRegular) before it is opened, so nothing
// blocks on a pipe without a writer.
//
// ReadNPY and WriteNPY read and write whole arrays (for example weights or
// predictions); WriteNPY replaces its target atomically.
//
// # Errors
//
// Anything wrong with a file (missing, not a regular file, not .npy or
// Parquet, unsupported dtype, order or column type, wrong shape,
// truncated, unparsable, null, inexact or non-finite values, or values
// beyond MaxAbs in magnitude) is returned as an error, never a panic.
// Every such error names the file and, where it applies, the place: the
// 0-based data row (and column) for .npy, the 1-based line number in the
// file and the column name for CSV, the row group, the 0-based data row and
// the column name for Parquet. Each wraps one of the sentinel errors below,
// so callers test with errors.Is, never by matching text; the message
// reads "<path>: <place>: data: <what>: <detail>".
//
// Calling Read with a row range outside [0, N] or with buffers of the wrong
// length is a programmer error and panics, as gonum does for dimension
// mismatches; so do Bounds with invalid arguments.
package data
