package cli

import (
	"fmt"
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY returns the two ends of a new pseudo-terminal, skipping t when
// the system has none to give.
func openPTY(t *testing.T) (primary, tty *os.File) {
	t.Helper()
	primary, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { primary.Close() })
	fd := int(primary.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("cannot unlock the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Skipf("cannot name the pseudo-terminal: %v", err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("cannot open the pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { tty.Close() })
	return primary, tty
}

// TestProgressOnTerminal: progress is drawn on a terminal, unless quiet.
func TestProgressOnTerminal(t *testing.T) {
	_, tty := openPTY(t)
	if !Terminal(tty) {
		t.Fatal("a pseudo-terminal is not taken for a terminal")
	}
	if Progress(tty, false) != tty {
		t.Error("no progress on a terminal")
	}
	if Progress(tty, true) != nil {
		t.Error("progress on a terminal despite quiet")
	}
}
