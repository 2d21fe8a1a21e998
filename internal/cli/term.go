package cli

import (
	"io"
	"os"

	"golang.org/x/term"
)

// Terminal reports whether w is a terminal: an *os.File whose descriptor
// is one. Pipes, regular files, buffers and /dev/null are not, so what is
// drawn only on terminals (progress bars) never reaches logs and CI.
func Terminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && f != nil && term.IsTerminal(int(f.Fd()))
}

// Progress returns where a command draws its progress bars: stderr when
// it is a terminal and quiet is off, else nil (none).
func Progress(stderr io.Writer, quiet bool) io.Writer {
	if quiet || !Terminal(stderr) {
		return nil
	}
	return stderr
}
