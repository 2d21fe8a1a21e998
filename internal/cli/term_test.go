package cli

import (
	"bytes"
	"os"
	"testing"
)

// TestProgressNotOnPipes: progress is drawn on no writer that is not a
// terminal: a buffer, a pipe, a regular file, /dev/null.
func TestProgressNotOnPipes(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	file, err := os.Create(t.TempDir() + "/log")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	for name, out := range map[string]*os.File{"pipe": w, "file": file, "null": null} {
		if Terminal(out) || Progress(out, false) != nil {
			t.Errorf("%s: taken for a terminal", name)
		}
	}
	if Terminal(&bytes.Buffer{}) || Progress(&bytes.Buffer{}, false) != nil {
		t.Error("a buffer is taken for a terminal")
	}
	var nilFile *os.File
	if Terminal(nilFile) {
		t.Error("a nil file is taken for a terminal")
	}
}
