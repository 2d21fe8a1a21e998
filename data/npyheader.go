package data

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"strconv"
	"strings"
)

// npyMagic starts every .npy file; it is followed by the major and minor
// format version bytes and the little-endian header length (2 bytes in
// version 1, 4 bytes in versions 2 and 3).
const npyMagic = "\x93NUMPY"

// maxHeaderLen bounds the header dictionary we are willing to read; real
// headers are well under a kilobyte.
const maxHeaderLen = 1 << 20

// npyHeader is the parsed preamble of a .npy file.
type npyHeader struct {
	descr    string // '<f4' or '<f8'
	itemSize int    // 4 or 8
	shape    []int
	offset   int64 // byte offset of the first element
	count    int64 // number of elements, product of shape
}

// dataBytes returns the number of data bytes after the header.
func (h *npyHeader) dataBytes() int64 { return h.count * int64(h.itemSize) }

// typeName returns "float32" or "float64".
func (h *npyHeader) typeName() string {
	if h.itemSize == 4 {
		return "float32"
	}
	return "float64"
}

// shapeString formats a shape as Python does, e.g. "()", "(3,)", "(3, 4)".
func shapeString(shape []int) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, s := range shape {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(s))
	}
	if len(shape) == 1 {
		b.WriteByte(',')
	}
	b.WriteByte(')')
	return b.String()
}

// readNPYHeader reads and validates the preamble of the .npy file f at path
// and checks that the file size matches the header exactly.
func readNPYHeader(f *os.File, path string) (*npyHeader, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()

	var pre [12]byte
	n, err := f.ReadAt(pre[:8], 0)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("%s: reading npy preamble: %w", path, err)
	}
	if n < len(npyMagic) || string(pre[:len(npyMagic)]) != npyMagic {
		return nil, fileError(path, "", ErrNotNPY, "file does not start with %q (starts with %q)", npyMagic, pre[:n])
	}
	if n < 8 {
		return nil, fileError(path, "", ErrHeader, "file ends inside the preamble (%d bytes): %v", size, err)
	}
	major, minor := pre[6], pre[7]
	var lenBytes int
	switch {
	case major == 1 && minor == 0:
		lenBytes = 2
	case (major == 2 || major == 3) && minor == 0:
		lenBytes = 4
	default:
		return nil, fileError(path, "", ErrVersion, "version %d.%d (supported: 1.0, 2.0, 3.0)", major, minor)
	}
	if n, err := f.ReadAt(pre[8:8+lenBytes], 8); n < lenBytes {
		return nil, fileError(path, "", ErrHeader, "file ends inside the header length (%d bytes): %v", size, err)
	}
	var hlen int64
	if lenBytes == 2 {
		hlen = int64(binary.LittleEndian.Uint16(pre[8:]))
	} else {
		hlen = int64(binary.LittleEndian.Uint32(pre[8:]))
	}
	start := int64(8 + lenBytes)
	if hlen > maxHeaderLen || start+hlen > size {
		return nil, fileError(path, "", ErrHeader, "header length %d does not fit in file of %d bytes", hlen, size)
	}
	buf := make([]byte, hlen)
	if _, err := f.ReadAt(buf, start); err != nil && err != io.EOF {
		return nil, fileError(path, "", ErrHeader, "reading header: %v", err)
	}
	h, err := parseHeaderDict(string(buf))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	h.offset = start + hlen
	want := h.offset + h.dataBytes()
	if size != want {
		what := "truncated"
		if size > want {
			what = "trailing bytes after the data"
		}
		return nil, fileError(path, "", ErrSize, "%s: expected %d bytes (%d header + %d data for shape %s '%s'), file has %d bytes",
			what, want, h.offset, h.dataBytes(), shapeString(h.shape), h.descr, size)
	}
	return h, nil
}

// parseHeaderDict parses the header dictionary, a Python literal such as
//
//	{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }
//
// with the keys in any order and any spacing. It rejects unknown, missing
// and repeated keys, Fortran order and dtypes other than '<f4' and '<f8'.
func parseHeaderDict(text string) (*npyHeader, error) {
	p := &pyParser{s: text}
	bad := func(format string, args ...any) error {
		quoted := strings.TrimRight(text, " \n")
		if len(quoted) > 200 {
			quoted = quoted[:200] + "..."
		}
		return fmt.Errorf("%w: %s at offset %d of header %q", ErrHeader, fmt.Sprintf(format, args...), p.i, quoted)
	}
	h := &npyHeader{}
	var fortran bool
	seen := map[string]bool{}
	if !p.consume('{') {
		return nil, bad("expected '{'")
	}
	for {
		if p.consume('}') {
			break
		}
		key, ok := p.str()
		if !ok {
			return nil, bad("expected a quoted key")
		}
		if seen[key] {
			return nil, bad("repeated key %q", key)
		}
		seen[key] = true
		if !p.consume(':') {
			return nil, bad("expected ':' after key %q", key)
		}
		switch key {
		case "descr":
			p.space()
			if p.peek() == '[' {
				return nil, fmt.Errorf("%w: structured dtype %s (supported: '<f4' float32, '<f8' float64)", ErrDType, p.list())
			}
			if h.descr, ok = p.str(); !ok {
				return nil, bad("expected a quoted string for 'descr'")
			}
		case "fortran_order":
			switch p.ident() {
			case "True":
				fortran = true
			case "False":
				fortran = false
			default:
				return nil, bad("expected True or False for 'fortran_order'")
			}
		case "shape":
			shape, err := p.tuple()
			if err != nil {
				return nil, bad("bad 'shape': %v", err)
			}
			h.shape = shape
		default:
			return nil, bad("unexpected key %q", key)
		}
		if p.consume(',') {
			continue
		}
		if p.consume('}') {
			break
		}
		return nil, bad("expected ',' or '}'")
	}
	p.space()
	if p.i != len(p.s) {
		return nil, bad("unexpected text after '}'")
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return nil, bad("missing key %q", k)
		}
	}
	switch h.descr {
	case "<f4":
		h.itemSize = 4
	case "<f8":
		h.itemSize = 8
	default:
		return nil, fmt.Errorf("%w '%s' (supported: '<f4' float32, '<f8' float64, little-endian)", ErrDType, h.descr)
	}
	if fortran {
		return nil, ErrFortran
	}
	// The element count and byte count must fit in an int64.
	var count uint64 = 1
	for _, s := range h.shape {
		hi, lo := bits.Mul64(count, uint64(s))
		if hi != 0 || lo > math.MaxInt64/8 {
			return nil, bad("shape %s too large", shapeString(h.shape))
		}
		count = lo
	}
	h.count = int64(count)
	return h, nil
}

// pyParser scans the small subset of Python literal syntax used by .npy
// headers. Every method skips leading white space.
type pyParser struct {
	s string
	i int
}

func (p *pyParser) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *pyParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

// list returns the text of the bracketed list starting at the current
// position (or the rest of the text if it is not closed), for messages.
func (p *pyParser) list() string {
	depth := 0
	for j := p.i; j < len(p.s); j++ {
		switch p.s[j] {
		case '[':
			depth++
		case ']':
			if depth--; depth == 0 {
				return p.s[p.i : j+1]
			}
		}
	}
	return strings.TrimRight(p.s[p.i:], " \n")
}

// consume skips white space and c if c is next, reporting whether it was.
func (p *pyParser) consume(c byte) bool {
	p.space()
	if p.peek() == c {
		p.i++
		return true
	}
	return false
}

// str scans a single- or double-quoted string without escapes.
func (p *pyParser) str() (string, bool) {
	p.space()
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", false
	}
	end := strings.IndexAny(p.s[p.i+1:], string(q)+"\\\n")
	if end < 0 || p.s[p.i+1+end] != q {
		return "", false
	}
	v := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return v, true
}

// ident scans a run of letters, digits and underscores.
func (p *pyParser) ident() string {
	p.space()
	j := p.i
	for j < len(p.s) && (isDigit(p.s[j]) || p.s[j] == '_' || ('a' <= p.s[j]|0x20 && p.s[j]|0x20 <= 'z')) {
		j++
	}
	v := p.s[p.i:j]
	p.i = j
	return v
}

// tuple scans a tuple of non-negative integers: "()", "(3,)", "(3, 4)",
// "(3, 4,)"; a Python 2 long suffix ("3L") is accepted.
func (p *pyParser) tuple() ([]int, error) {
	if !p.consume('(') {
		return nil, fmt.Errorf("expected '('")
	}
	shape := []int{}
	for {
		if p.consume(')') {
			return shape, nil
		}
		tok := p.ident()
		tok = strings.TrimSuffix(strings.TrimSuffix(tok, "L"), "l")
		if tok == "" || !isDigit(tok[0]) {
			return nil, fmt.Errorf("expected a non-negative integer")
		}
		v, err := strconv.ParseInt(tok, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("dimension %q: %v", tok, err)
		}
		shape = append(shape, int(v))
		if p.consume(',') {
			continue
		}
		if !p.consume(')') {
			return nil, fmt.Errorf("expected ',' or ')'")
		}
		return shape, nil
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
