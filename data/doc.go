// Package data reads training and prediction data sets for altmin.
//
// A data set is n rows of d float64 features plus, for training, one float64
// label per row. It is exposed as a Source, which reads any row range
// [lo, hi) into caller-owned buffers, so a partition (see Bounds) reads only
// its own rows and a shard never holds the whole set.
//
// Two formats are supported:
//
//   - NumPy .npy (OpenNPY, OpenNPYFeatures): float32 ('<f4') or float64
//     ('<f8'), little-endian, C order, format versions 1.0, 2.0 and 3.0. Only
//     the headers are read when a file is opened; Read seeks to its rows with
//     a few large positioned reads and converts them to float64.
//   - CSV with a header row (OpenCSV, OpenCSVFeatures). The whole file is
//     parsed when it is opened, so CSV is meant for small data sets.
//
// ReadNPY and WriteNPY read and write whole arrays (for example weights or
// predictions); WriteNPY replaces its target atomically.
//
// # Errors
//
// Anything wrong with a file (missing, not .npy, unsupported dtype or order,
// wrong shape, truncated, unparsable or non-finite values) is returned as an
// error, never a panic. Every such error names the file and, where it
// applies, the place: the 0-based data row (and column) for .npy, the 1-based
// line number in the file and the column name for CSV. Each wraps one of the
// sentinel errors below, so callers test with errors.Is, never by matching
// text; the message reads "<path>: <place>: data: <what>: <detail>".
//
// Calling Read with a row range outside [0, N] or with buffers of the wrong
// length is a programmer error and panics, as gonum does for dimension
// mismatches; so do Bounds with invalid arguments.
package data
