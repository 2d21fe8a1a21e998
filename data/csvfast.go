package data

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// The fast path of CSV parsing. Most numeric CSV files have no quotes: every
// line is a record and every comma separates two fields. For those, the rows
// after the header are read in chunks that end at a line break and parsed
// in parallel, each chunk into a block of rows, kept in file order. The
// fast path is optimistic: any line it does not accept exactly as the
// general parser (encoding/csv) would — a quote, a carriage return not
// ending a line, a line whose field count differs from the header's, a
// cell that is not a finite number — makes it give up, and the file is
// parsed by the general path, which reports the problem with its line and
// column. So both paths accept the same files and give the same values:
// each cell is parsed by parseCell from the same bytes.

// csvChunk is the size of the pieces the fast path parses in parallel;
// csvFast turns the fast path off (for the tests).
var (
	csvChunk = 4 << 20
	csvFast  = true
)

// csvMaxLine is the longest line the fast path reads; longer ones are left
// to the general path.
const csvMaxLine = 64 << 20

// csvBlock is consecutive rows of a CSV: features row-major, labels.
type csvBlock struct {
	x, y []float64
}

// fastCSV parses the rows of path after byte offset off (the end of the
// header) with ncol fields per line, slot telling where each column goes
// (see openCSV), into blocks of d features and, with labeled, a label per
// row; ok is false when the fast path does not apply or a line is not
// accepted (see above). It stops once ctx is done, with an error wrapping
// ctx.Err(), looking at it before every chunk.
func fastCSV(ctx context.Context, path string, off int64, ncol int, slot []int, d int, labeled bool) (blocks []csvBlock, ok bool, err error) {
	if !csvFast {
		return nil, false, nil
	}
	f, err := openRegular(path)
	if err != nil {
		return nil, false, nil // the general path reports it
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, false, nil
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed atomic.Bool
		out    = map[int]csvBlock{}
		sem    = make(chan struct{}, runtime.GOMAXPROCS(0))
	)
	parse := func(i int, b []byte) {
		defer func() { <-sem; wg.Done() }()
		blk, ok := parseCSVChunk(b, ncol, slot, d, labeled)
		if !ok {
			failed.Store(true)
			return
		}
		mu.Lock()
		out[i] = blk
		mu.Unlock()
	}
	var carry []byte
	n := 0
	var cancelled error
	for !failed.Load() {
		if cancelled = ctx.Err(); cancelled != nil {
			break
		}
		buf := make([]byte, len(carry)+csvChunk)
		copy(buf, carry)
		m, err := io.ReadFull(f, buf[len(carry):])
		buf = buf[:len(carry)+m]
		eof := err == io.EOF || err == io.ErrUnexpectedEOF
		if err != nil && !eof {
			failed.Store(true)
			break
		}
		cut := len(buf)
		if !eof {
			cut = bytes.LastIndexByte(buf, '\n') + 1
			if cut == 0 { // a line longer than a chunk: grow the carry
				if len(buf) > csvMaxLine {
					failed.Store(true)
					break
				}
				carry = buf
				continue
			}
		}
		carry = append([]byte(nil), buf[cut:]...)
		sem <- struct{}{}
		wg.Add(1)
		go parse(n, buf[:cut])
		n++
		if eof {
			break
		}
	}
	wg.Wait()
	if cancelled != nil {
		return nil, false, fmt.Errorf("%s: %w", path, cancelled)
	}
	if failed.Load() {
		return nil, false, nil
	}
	blocks = make([]csvBlock, 0, n)
	for i := 0; i < n; i++ {
		if b := out[i]; len(b.x) > 0 || len(b.y) > 0 {
			blocks = append(blocks, b)
		}
	}
	return blocks, true, nil
}

// parseCSVChunk parses the lines of b (see fastCSV).
func parseCSVChunk(b []byte, ncol int, slot []int, d int, labeled bool) (csvBlock, bool) {
	if bytes.IndexByte(b, '"') >= 0 {
		return csvBlock{}, false
	}
	rows := bytes.Count(b, []byte{'\n'}) + 1
	blk := csvBlock{x: make([]float64, 0, rows*d)}
	if labeled {
		blk.y = make([]float64, 0, rows)
	}
	row := make([]float64, d)
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if len(line) == 0 {
			continue // encoding/csv skips empty lines
		}
		if bytes.IndexByte(line, '\r') >= 0 {
			return csvBlock{}, false
		}
		j := 0
		for {
			field := line
			i := bytes.IndexByte(line, ',')
			if i >= 0 {
				field, line = line[:i], line[i+1:]
			}
			if j >= ncol {
				return csvBlock{}, false
			}
			if s := slot[j]; s != -2 {
				if len(field) == 0 {
					return csvBlock{}, false
				}
				v, _, err := parseCell(unsafe.String(&field[0], len(field)))
				if err != nil {
					return csvBlock{}, false
				}
				if s == -1 {
					blk.y = append(blk.y, v)
				} else {
					row[s] = v
				}
			}
			j++
			if i < 0 {
				break
			}
		}
		if j != ncol {
			return csvBlock{}, false
		}
		blk.x = append(blk.x, row...)
	}
	return blk, true
}
