package data

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// npyDict returns a header dictionary as numpy writes it.
func npyDict(descr string, fortran bool, shape string) string {
	f := "False"
	if fortran {
		f = "True"
	}
	return fmt.Sprintf("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr, f, shape)
}

// writeRawNPY writes an .npy file by hand: magic, version major.minor, the
// header length (2 bytes for major 1, else 4), dict padded with spaces and a
// newline to a multiple of 64 bytes, then payload. It returns the path.
func writeRawNPY(t *testing.T, name string, major, minor byte, dict string, payload []byte) string {
	t.Helper()
	return writeFile(t, name, writeRawNPYBytes(major, minor, dict, payload))
}

func writeRawNPYBytes(major, minor byte, dict string, payload []byte) []byte {
	lenBytes := 2
	if major != 1 {
		lenBytes = 4
	}
	pre := 8 + lenBytes
	total := (pre + len(dict) + 1 + 63) / 64 * 64
	hdr := dict + strings.Repeat(" ", total-pre-len(dict)-1) + "\n"
	b := append([]byte(npyMagic), major, minor)
	if lenBytes == 2 {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(hdr)))
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(hdr)))
	}
	b = append(b, hdr...)
	return append(b, payload...)
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func f64Bytes(v []float64) []byte {
	b := make([]byte, 0, 8*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	return b
}

func f32Bytes(v []float32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// randF32 returns n seeded float32 values in [-10, 10).
func randF32(seed uint64, n int) []float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(20*rng.Float64() - 10)
	}
	return v
}

// wantErr checks that err wraps target and its message contains each of
// the substrings.
func wantErr(t *testing.T, err, target error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", target)
	}
	t.Logf("error: %v", err)
	if target != nil && !errors.Is(err, target) {
		t.Errorf("error %q does not wrap %q", err, target)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
}

func panics(f func()) (p bool) {
	defer func() { p = recover() != nil }()
	f()
	return false
}

func TestWriteReadNPYRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, shape := range [][]int{{}, {0}, {5}, {3, 4}, {2, 3, 4}, {1, 0, 2}, {70000}} {
		n := 1
		for _, s := range shape {
			n *= s
		}
		data := make([]float64, n)
		for i := range data {
			data[i] = rng.NormFloat64() * 1e3
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "a.npy")
		if err := os.WriteFile(path, []byte("old contents"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := WriteNPY(path, data, shape...); err != nil {
			t.Fatalf("shape %v: %v", shape, err)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		hlen := int(binary.LittleEndian.Uint16(raw[8:]))
		if string(raw[:8]) != npyMagic+"\x01\x00" || (10+hlen)%64 != 0 || raw[10+hlen-1] != '\n' || len(raw) != 10+hlen+8*n {
			t.Errorf("shape %v: bad layout: header %q, %d bytes", shape, raw[:min(len(raw), 10+hlen)], len(raw))
		}
		if want := "'shape': " + shapeString(shape) + ","; !strings.Contains(string(raw[10:10+hlen]), want) {
			t.Errorf("shape %v: header %q lacks %q", shape, raw[10:10+hlen], want)
		}
		got, gotShape, err := ReadNPY(path)
		if err != nil {
			t.Fatalf("shape %v: %v", shape, err)
		}
		if fmt.Sprint(gotShape) != fmt.Sprint(shape) || len(got) != n {
			t.Fatalf("shape %v: got shape %v, %d values", shape, gotShape, len(got))
		}
		for i := range data {
			if got[i] != data[i] {
				t.Fatalf("shape %v: element %d = %v, want %v", shape, i, got[i], data[i])
			}
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Errorf("shape %v: temporary files left behind: %v", shape, ents)
		}
	}
}

func TestWriteNPYErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.npy")
	wantErr(t, WriteNPY(path, make([]float64, 5), 2, 3), ErrShape, path, "(2, 3)", "6", "5")
	wantErr(t, WriteNPY(path, nil, -1), ErrShape, path, "(-1,)")
	wantErr(t, WriteNPY(path, nil), ErrShape, path, "()")
	missing := filepath.Join(dir, "no", "such", "w.npy")
	wantErr(t, WriteNPY(missing, []float64{1}, 1), fs.ErrNotExist, missing)
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("files left behind: %v", ents)
	}
}

func TestReadNPYHeaderForms(t *testing.T) {
	want := []float64{1, 2, 3, 4, 5, 6}
	payload := f64Bytes(want)
	for i, tc := range []struct {
		major byte
		dict  string
	}{
		{1, npyDict("<f8", false, "(2, 3)")},
		{2, npyDict("<f8", false, "(2, 3)")},
		{3, npyDict("<f8", false, "(2, 3)")},
		{1, "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f8'}"},
		{1, `{"descr":"<f8","fortran_order":False,"shape":(2,3)}`},
		{1, "{ 'descr' : '<f8' ,\t'fortran_order' : False , 'shape' : ( 2 , 3 , ) , }"},
		{1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2L, 3L), }"},
	} {
		path := writeRawNPY(t, fmt.Sprintf("h%d.npy", i), tc.major, 0, tc.dict, payload)
		got, shape, err := ReadNPY(path)
		if err != nil {
			t.Errorf("case %d %q: %v", i, tc.dict, err)
			continue
		}
		if fmt.Sprint(shape, got) != fmt.Sprint([]int{2, 3}, want) {
			t.Errorf("case %d: got %v %v", i, shape, got)
		}
	}
	// 1-D and 0-d shapes.
	path := writeRawNPY(t, "s.npy", 1, 0, npyDict("<f4", false, "(3,)"), f32Bytes([]float32{1, 2, 3}))
	if got, shape, err := ReadNPY(path); err != nil || fmt.Sprint(shape, got) != "[3] [1 2 3]" {
		t.Errorf("1-D: got %v %v %v", shape, got, err)
	}
	path = writeRawNPY(t, "z.npy", 1, 0, npyDict("<f8", false, "()"), f64Bytes([]float64{7}))
	if got, shape, err := ReadNPY(path); err != nil || fmt.Sprint(shape, got) != "[] [7]" {
		t.Errorf("0-d: got %v %v %v", shape, got, err)
	}
}

// writeXY writes X (n x d, float32) and y (n, float64, shape yShape) and
// returns their paths and values.
func writeXY(t *testing.T, n, d int, yShape string) (xPath, yPath string, x32 []float32, y []float64) {
	t.Helper()
	x32 = randF32(3, n*d)
	y = make([]float64, n)
	for i := range y {
		y[i] = float64(i)*0.5 - 3
	}
	xPath = writeRawNPY(t, "x.npy", 1, 0, npyDict("<f4", false, fmt.Sprintf("(%d, %d)", n, d)), f32Bytes(x32))
	yPath = writeRawNPY(t, "y.npy", 1, 0, npyDict("<f8", false, yShape), f64Bytes(y))
	return xPath, yPath, x32, y
}

func TestNPYReadRanges(t *testing.T) {
	const n, d = 37, 5
	for _, yShape := range []string{"(37,)", "(37, 1)"} {
		xPath, yPath, x32, yWant := writeXY(t, n, d, yShape)
		s, err := OpenNPY(xPath, yPath)
		if err != nil {
			t.Fatal(err)
		}
		info := s.Info()
		if info.N != n || info.D != d || info.Desc != fmt.Sprintf("npy X=%s (float32, 37x5) y=%s", xPath, yPath) {
			t.Errorf("Info() = %+v", info)
		}
		for lo := 0; lo <= n; lo += 3 {
			for hi := lo; hi <= n; hi += 4 {
				x := make([]float64, (hi-lo)*d)
				y := make([]float64, hi-lo)
				if err := s.Read(lo, hi, x, y); err != nil {
					t.Fatalf("Read(%d, %d): %v", lo, hi, err)
				}
				for i := range x {
					if x[i] != float64(x32[lo*d+i]) {
						t.Fatalf("Read(%d, %d): x[%d] = %v, want %v", lo, hi, i, x[i], x32[lo*d+i])
					}
				}
				for i := range y {
					if y[i] != yWant[lo+i] {
						t.Fatalf("Read(%d, %d): y[%d] = %v, want %v", lo, hi, i, y[i], yWant[lo+i])
					}
				}
				if err := s.Read(lo, hi, x, nil); err != nil {
					t.Fatalf("Read(%d, %d) with nil y: %v", lo, hi, err)
				}
			}
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}
}

func TestNPYFeatures(t *testing.T) {
	xPath, _, x32, _ := writeXY(t, 6, 2, "(6,)")
	s, err := OpenNPYFeatures(xPath)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if info := s.Info(); info.N != 6 || info.D != 2 || info.Desc != "npy X="+xPath+" (float32, 6x2)" {
		t.Errorf("Info() = %+v", info)
	}
	x := make([]float64, 4)
	y := []float64{-1, -1, -1} // wrong length and ignored
	if err := s.Read(1, 3, x, y); err != nil {
		t.Fatal(err)
	}
	if err := s.Read(1, 3, x, nil); err != nil {
		t.Fatal(err)
	}
	for i := range x {
		if x[i] != float64(x32[2+i]) {
			t.Errorf("x[%d] = %v, want %v", i, x[i], x32[2+i])
		}
	}
	if y[0] != -1 {
		t.Errorf("y was written: %v", y)
	}
}

// TestNPYChunks reads ranges spanning the chunkBytes boundary, for both
// dtypes, and finds a NaN past the first chunk.
func TestNPYChunks(t *testing.T) {
	const d = 4
	n := chunkBytes/(4*d) + 1000 // more than one float32 chunk
	x32 := randF32(5, n*d)
	x64 := make([]float64, n*d)
	for i, v := range x32 {
		x64[i] = float64(v)
	}
	shape := fmt.Sprintf("(%d, %d)", n, d)
	y := make([]float64, n)
	yPath := writeRawNPY(t, "y.npy", 1, 0, npyDict("<f8", false, fmt.Sprintf("(%d,)", n)), f64Bytes(y))
	for _, xPath := range []string{
		writeRawNPY(t, "x32.npy", 1, 0, npyDict("<f4", false, shape), f32Bytes(x32)),
		writeRawNPY(t, "x64.npy", 1, 0, npyDict("<f8", false, shape), f64Bytes(x64)),
	} {
		s, err := OpenNPY(xPath, yPath)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi := 3, n-2
		x := make([]float64, (hi-lo)*d)
		if err := s.Read(lo, hi, x, make([]float64, hi-lo)); err != nil {
			t.Fatal(err)
		}
		for i := range x {
			if x[i] != x64[lo*d+i] {
				t.Fatalf("%s: x[%d] = %v, want %v", xPath, i, x[i], x64[lo*d+i])
			}
		}
		s.Close()
	}
	bad := n - 5
	x32[bad*d+3] = float32(math.NaN())
	xPath := writeRawNPY(t, "nan.npy", 1, 0, npyDict("<f4", false, shape), f32Bytes(x32))
	s, err := OpenNPYFeatures(xPath)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Read(1, n, make([]float64, (n-1)*d), nil)
	wantErr(t, err, ErrNonFinite, xPath, fmt.Sprintf("row %d, column 3", bad), "NaN")
}

func TestNPYReadPanics(t *testing.T) {
	xPath, yPath, _, _ := writeXY(t, 4, 3, "(4,)")
	s, err := OpenNPY(xPath, yPath)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, f := range []func(){
		func() { s.Read(-1, 2, make([]float64, 9), nil) },
		func() { s.Read(2, 5, make([]float64, 9), nil) },
		func() { s.Read(3, 2, nil, nil) },
		func() { s.Read(0, 2, make([]float64, 5), nil) },
		func() { s.Read(0, 2, make([]float64, 6), make([]float64, 3)) },
	} {
		if !panics(f) {
			t.Errorf("case %d did not panic", i)
		}
	}
}

func TestNPYOpenErrors(t *testing.T) {
	f8 := func(n int) []byte { return make([]byte, 8*n) }
	okY := func(t *testing.T, n int) string {
		return writeRawNPY(t, "y.npy", 1, 0, npyDict("<f8", false, fmt.Sprintf("(%d,)", n)), f8(n))
	}
	type open func(t *testing.T) (path string, err error)
	// x opens a hand-written X file with a valid y.
	x := func(major, minor byte, dict string, payload []byte) open {
		return func(t *testing.T) (string, error) {
			p := writeRawNPY(t, "x.npy", major, minor, dict, payload)
			_, err := OpenNPY(p, okY(t, 2))
			return p, err
		}
	}
	// y opens a valid 2x3 X with a hand-written y file.
	y := func(dict string, payload []byte) open {
		return func(t *testing.T) (string, error) {
			xp := writeRawNPY(t, "x.npy", 1, 0, npyDict("<f8", false, "(2, 3)"), f8(6))
			p := writeRawNPY(t, "y.npy", 1, 0, dict, payload)
			_, err := OpenNPY(xp, p)
			return p, err
		}
	}
	raw := func(b string) open {
		return func(t *testing.T) (string, error) {
			p := writeFile(t, "x.npy", []byte(b))
			_, err := OpenNPY(p, okY(t, 2))
			return p, err
		}
	}
	for _, tc := range []struct {
		name   string
		open   open
		target error
		subs   []string
	}{
		{"missing X", func(t *testing.T) (string, error) {
			p := filepath.Join(t.TempDir(), "nope.npy")
			_, err := OpenNPY(p, okY(t, 2))
			return p, err
		}, fs.ErrNotExist, nil},
		{"missing y", func(t *testing.T) (string, error) {
			xp := writeRawNPY(t, "x.npy", 1, 0, npyDict("<f8", false, "(2, 3)"), f8(6))
			p := filepath.Join(t.TempDir(), "nope.npy")
			_, err := OpenNPY(xp, p)
			return p, err
		}, fs.ErrNotExist, nil},
		{"bad magic", raw("x1,x2,y\n1,2,3\n"), ErrNotNPY, []string{`"\x93NUMPY"`, `"x1,x2,y`}},
		{"empty", raw(""), ErrNotNPY, nil},
		{"short preamble", raw(npyMagic + "\x01"), ErrHeader, []string{"preamble"}},
		{"version 4.0", x(4, 0, npyDict("<f8", false, "(2, 3)"), f8(6)), ErrVersion, []string{"4.0", "1.0, 2.0, 3.0"}},
		{"version 1.1", x(1, 1, npyDict("<f8", false, "(2, 3)"), f8(6)), ErrVersion, []string{"1.1"}},
		{"header too long", raw(npyMagic + "\x01\x00\xff\x00{'descr'"), ErrHeader, []string{"header length 255", "file of 18 bytes"}},
		{"no brace", x(1, 0, "'descr': '<f8'", nil), ErrHeader, []string{"expected '{'"}},
		{"unclosed", x(1, 0, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)", f8(6)), ErrHeader, []string{"expected ',' or '}'"}},
		{"missing key", x(1, 0, "{'descr': '<f8', 'fortran_order': False}", f8(6)), ErrHeader, []string{`missing key "shape"`}},
		{"unknown key", x(1, 0, "{'descr': '<f8', 'order': 'C'}", f8(6)), ErrHeader, []string{`unexpected key "order"`}},
		{"repeated key", x(1, 0, "{'descr': '<f8', 'descr': '<f8'}", f8(6)), ErrHeader, []string{`repeated key "descr"`}},
		{"bad shape", x(1, 0, npyDict("<f8", false, "(2, x)"), f8(6)), ErrHeader, []string{"bad 'shape'"}},
		{"negative shape", x(1, 0, npyDict("<f8", false, "(-2, 3)"), f8(6)), ErrHeader, []string{"bad 'shape'"}},
		{"huge shape", x(1, 0, npyDict("<f8", false, "(99999999999, 99999999999)"), f8(6)), ErrHeader, []string{"too large"}},
		{"bad bool", x(1, 0, "{'descr': '<f8', 'fortran_order': false, 'shape': (2, 3)}", f8(6)), ErrHeader, []string{"True or False"}},
		{"trailing text", x(1, 0, npyDict("<f8", false, "(2, 3)")+" x", f8(6)), ErrHeader, []string{"after '}'"}},
		{"fortran", x(1, 0, npyDict("<f8", true, "(2, 3)"), f8(6)), ErrFortran, []string{"Fortran order not supported; save with np.ascontiguousarray"}},
		{"dtype <i4", x(1, 0, npyDict("<i4", false, "(2, 3)"), f8(3)), ErrDType, []string{"'<i4'", "'<f4'", "'<f8'"}},
		{"dtype >f8", x(1, 0, npyDict(">f8", false, "(2, 3)"), f8(6)), ErrDType, []string{"'>f8'", "'<f4'", "'<f8'"}},
		{"dtype <f2", x(1, 0, npyDict("<f2", false, "(2, 3)"), f8(2)), ErrDType, []string{"'<f2'", "'<f4'", "'<f8'"}},
		{"dtype |b1", x(1, 0, npyDict("|b1", false, "(2, 3)"), f8(1)), ErrDType, []string{"'|b1'", "'<f4'", "'<f8'"}},
		{"structured", x(1, 0, "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (2,)}", f8(2)), ErrDType, []string{"structured", "'<f8'"}},
		{"truncated", x(1, 0, npyDict("<f8", false, "(2, 3)"), f8(5)), ErrSize, []string{"truncated", "expected 176 bytes", "file has 168 bytes", "128 header + 48 data"}},
		{"trailing bytes", x(1, 0, npyDict("<f8", false, "(2, 3)"), f8(7)), ErrSize, []string{"trailing", "expected 176 bytes", "file has 184 bytes"}},
		{"X 1-D", x(1, 0, npyDict("<f8", false, "(6,)"), f8(6)), ErrShape, []string{"2-D", "(6,)"}},
		{"X 3-D", x(3, 0, npyDict("<f8", false, "(2, 3, 1)"), f8(6)), ErrShape, []string{"2-D", "(2, 3, 1)"}},
		{"X no rows", x(1, 0, npyDict("<f8", false, "(0, 3)"), nil), ErrShape, []string{"no rows"}},
		{"X no columns", x(1, 0, npyDict("<f8", false, "(2, 0)"), nil), ErrShape, []string{"no columns"}},
		{"y 2 columns", y(npyDict("<f8", false, "(2, 2)"), f8(4)), ErrShape, []string{"(n,) or (n, 1)", "(2, 2)"}},
		{"y 0-d", y(npyDict("<f8", false, "()"), f8(1)), ErrShape, []string{"(n,) or (n, 1)", "()"}},
		{"y too short", y(npyDict("<f8", false, "(1,)"), f8(1)), ErrShape, []string{"1 labels", "2 rows"}},
		{"y too long", y(npyDict("<f8", false, "(3, 1)"), f8(3)), ErrShape, []string{"3 labels", "2 rows"}},
		{"y fortran", y(npyDict("<f8", true, "(2, 1)"), f8(2)), ErrFortran, nil},
		{"y dtype", y(npyDict("<i8", false, "(2,)"), f8(2)), ErrDType, []string{"'<i8'"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, err := tc.open(t)
			wantErr(t, err, tc.target, append(tc.subs, path)...)
		})
	}
}

func TestNPYNonFinite(t *testing.T) {
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		xv := make([]float64, 4*3)
		yv := make([]float64, 4)
		xv[2*3+1] = bad
		xPath := writeRawNPY(t, "x.npy", 1, 0, npyDict("<f8", false, "(4, 3)"), f64Bytes(xv))
		yPath := writeRawNPY(t, "y.npy", 1, 0, npyDict("<f8", false, "(4,)"), f64Bytes(yv))
		s, err := OpenNPY(xPath, yPath)
		if err != nil {
			t.Fatalf("open must not read data: %v", err)
		}
		if err := s.Read(0, 2, make([]float64, 6), make([]float64, 2)); err != nil {
			t.Errorf("rows before the bad one: %v", err)
		}
		err = s.Read(1, 4, make([]float64, 9), make([]float64, 3))
		wantErr(t, err, ErrNonFinite, xPath, "row 2, column 1", fmt.Sprint(bad))
		s.Close()

		_, _, err = ReadNPY(xPath)
		wantErr(t, err, ErrNonFinite, xPath, "row 2, column 1")

		xv[2*3+1] = 0
		yv[3] = bad
		xPath = writeRawNPY(t, "x.npy", 1, 0, npyDict("<f8", false, "(4, 3)"), f64Bytes(xv))
		yPath = writeRawNPY(t, "y.npy", 1, 0, npyDict("<f8", false, "(4, 1)"), f64Bytes(yv))
		if s, err = OpenNPY(xPath, yPath); err != nil {
			t.Fatal(err)
		}
		err = s.Read(2, 4, make([]float64, 6), make([]float64, 2))
		wantErr(t, err, ErrNonFinite, yPath, "row 3", fmt.Sprint(bad))
		if err := s.Read(2, 4, make([]float64, 6), nil); err != nil {
			t.Errorf("labels not read but: %v", err)
		}
		s.Close()
		_, _, err = ReadNPY(yPath)
		wantErr(t, err, ErrNonFinite, yPath, "row 3, column 0")
	}
	// float32 Inf, and a 3-D position.
	p := writeRawNPY(t, "f.npy", 1, 0, npyDict("<f4", false, "(2, 2, 2)"), f32Bytes([]float32{0, 0, 0, 0, 0, 0, float32(math.Inf(1)), 0}))
	_, _, err := ReadNPY(p)
	wantErr(t, err, ErrNonFinite, p, "element (1, 1, 0)", "+Inf")
}

// TestNPYShrunk reports a short read when the file shrinks after opening.
func TestNPYShrunk(t *testing.T) {
	xPath, yPath, _, _ := writeXY(t, 10, 2, "(10,)")
	s, err := OpenNPY(xPath, yPath)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := os.Truncate(xPath, 128+4*10); err != nil {
		t.Fatal(err)
	}
	err = s.Read(0, 10, make([]float64, 20), nil)
	wantErr(t, err, ErrSize, xPath, "short read")
}

func BenchmarkNPYRead(b *testing.B) {
	const n, d = 1 << 16, 32
	for _, descr := range []string{"<f4", "<f8"} {
		b.Run(descr, func(b *testing.B) {
			payload := f64Bytes(make([]float64, n*d))
			if descr == "<f4" {
				payload = f32Bytes(make([]float32, n*d))
			}
			path := filepath.Join(b.TempDir(), "x.npy")
			hdr := writeRawNPYBytes(1, 0, npyDict(descr, false, fmt.Sprintf("(%d, %d)", n, d)), payload)
			if err := os.WriteFile(path, hdr, 0o644); err != nil {
				b.Fatal(err)
			}
			s, err := OpenNPYFeatures(path)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			x := make([]float64, n*d)
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Read(0, n, x, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestNPYDirectory(t *testing.T) {
	dir := t.TempDir()
	_, err := OpenNPYFeatures(dir)
	wantErr(t, err, nil, dir, "is a directory")
}

// TestWriteSource writes planted data as .npy files in both feature dtypes
// (over several 65536-row chunks) and reads them back: the same rows, bit
// for bit; features that are not float32 values are refused for a float32
// file, naming the row, and leave no file behind.
func TestWriteSource(t *testing.T) {
	dir := t.TempDir()
	src, err := ParseSynthetic("model=sum,d=3,k=2,n=140000,seed=3,dtype=float32")
	if err != nil {
		t.Fatal(err)
	}
	n, d := src.Info().N, src.Info().D
	want := make([]float64, n*d)
	wantY := make([]float64, n)
	if err := src.Read(0, n, want, wantY); err != nil {
		t.Fatal(err)
	}
	for _, f32 := range []bool{false, true} {
		xp, yp := filepath.Join(dir, fmt.Sprintf("x%v.npy", f32)), filepath.Join(dir, fmt.Sprintf("y%v.npy", f32))
		if err := WriteSource(xp, yp, src, f32); err != nil {
			t.Fatal(err)
		}
		s, err := OpenNPY(xp, yp)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(s.Info().Desc, map[bool]string{false: "float64", true: "float32"}[f32]) {
			t.Errorf("float32 %v: written as %s", f32, s.Info().Desc)
		}
		x, y := make([]float64, n*d), make([]float64, n)
		if err := s.Read(0, n, x, y); err != nil {
			t.Fatal(err)
		}
		s.Close()
		for i := range x {
			if math.Float64bits(x[i]) != math.Float64bits(want[i]) {
				t.Fatalf("float32 %v: feature %d reads back as %v, wrote %v", f32, i, x[i], want[i])
			}
		}
		for i := range y {
			if math.Float64bits(y[i]) != math.Float64bits(wantY[i]) {
				t.Fatalf("float32 %v: label %d reads back as %v, wrote %v", f32, i, y[i], wantY[i])
			}
		}
	}

	f64, err := ParseSynthetic("model=sum,d=3,k=2,n=100,seed=3")
	if err != nil {
		t.Fatal(err)
	}
	bad := t.TempDir()
	err = WriteSource(filepath.Join(bad, "x.npy"), filepath.Join(bad, "y.npy"), f64, true)
	if !errors.Is(err, ErrDType) || !strings.Contains(err.Error(), "row 0, feature 0") {
		t.Fatalf("float64 features written as float32: %v", err)
	}
	if left, _ := os.ReadDir(bad); len(left) != 0 {
		t.Errorf("a refused write left %d files behind", len(left))
	}
}

// TestNPYReadFloat32 reads a float32 X file both ways: the same values,
// the same NaN error, through a Float32 view too; a float64 X file has no
// float32 rows.
func TestNPYReadFloat32(t *testing.T) {
	xv := []float32{1.5, -2, 3.25, 0, 1e-30, 7, -0.5, 2, 9}
	yv := []float64{1, 2, 3}
	xPath := writeRawNPY(t, "x.npy", 1, 0, npyDict("<f4", false, "(3, 3)"), f32Bytes(xv))
	yPath := writeRawNPY(t, "y.npy", 1, 0, npyDict("<f8", false, "(3,)"), f64Bytes(yv))
	s, err := OpenNPY(xPath, yPath)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, src := range []Source{s, Float32(s)} {
		r, ok := AsFloat32Reader(src)
		if !ok {
			t.Fatalf("%T: no float32 rows", src)
		}
		x32, y := make([]float32, 6), make([]float64, 2)
		if err := r.ReadFloat32(1, 3, x32, y); err != nil {
			t.Fatal(err)
		}
		x64 := make([]float64, 6)
		if err := src.Read(1, 3, x64, nil); err != nil {
			t.Fatal(err)
		}
		for i, v := range x32 {
			if v != xv[3+i] || float64(v) != x64[i] {
				t.Fatalf("%T: feature %d: ReadFloat32 %v, Read %v, file %v", src, i, v, x64[i], xv[3+i])
			}
		}
		if y[0] != 2 || y[1] != 3 {
			t.Fatalf("%T: labels %v", src, y)
		}
	}

	xv[4] = float32(math.NaN())
	bad := writeRawNPY(t, "bad.npy", 1, 0, npyDict("<f4", false, "(3, 3)"), f32Bytes(xv))
	b, err := OpenNPY(bad, yPath)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.ReadFloat32(0, 3, make([]float32, 9), make([]float64, 3))
	wantErr(t, err, ErrNonFinite, bad, "row 1, column 1", "NaN")

	f64 := writeRawNPY(t, "x64.npy", 1, 0, npyDict("<f8", false, "(3, 3)"), f64Bytes(make([]float64, 9)))
	c, err := OpenNPY(f64, yPath)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := AsFloat32Reader(c); ok {
		t.Error("a float64 X file offers float32 rows")
	}
	if _, ok := AsFloat32Reader(Float32(c)); ok {
		t.Error("a Float32 view of a float64 X file offers float32 rows")
	}
}

// TestWriteSourceNeedsLabels refuses a feature-only source (its labels
// would be zeros) and leaves no file behind.
func TestWriteSourceNeedsLabels(t *testing.T) {
	xv := make([]float64, 6)
	xp := writeRawNPY(t, "x.npy", 1, 0, npyDict("<f8", false, "(3, 2)"), f64Bytes(xv))
	s, err := OpenNPYFeatures(xp)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := t.TempDir()
	err = WriteSource(filepath.Join(out, "X.npy"), filepath.Join(out, "y.npy"), s, false)
	if err == nil || !strings.Contains(err.Error(), "no labels") {
		t.Fatalf("feature-only source: %v", err)
	}
	if left, _ := os.ReadDir(out); len(left) != 0 {
		t.Errorf("a refused write left %d files behind", len(left))
	}
}
