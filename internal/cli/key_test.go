package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClusterKey(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "key")
	if err := os.WriteFile(file, []byte("  AAAAAAAAAAAAAAAAAAAAAA==\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if k, err := ClusterKey("", file); err != nil || k != "AAAAAAAAAAAAAAAAAAAAAA==" {
		t.Errorf("from the file: %q, %v", k, err)
	}
	if k, err := ClusterKey("K", ""); err != nil || k != "K" {
		t.Errorf("from the flag: %q, %v", k, err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	for _, tc := range []struct{ key, file, want string }{
		{"K", file, "not both"},
		{"", filepath.Join(dir, "missing"), "--cluster-key-file: open " + filepath.Join(dir, "missing")},
		{"", empty, "--cluster-key-file " + empty + " is empty"},
	} {
		if _, err := ClusterKey(tc.key, tc.file); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ClusterKey(%q, %q): err = %v, want %q", tc.key, tc.file, err, tc.want)
		}
	}
}
