package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"altmin/job"
)

func TestVersion(t *testing.T) {
	for _, arg := range []string{"--version", "-version", "version"} {
		var out, errb bytes.Buffer
		if err := run(context.Background(), []string{arg}, &out, &errb); err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		if !strings.HasPrefix(out.String(), "coordinator "+job.Version+" (") {
			t.Errorf("%s printed %q, want coordinator %s (...)", arg, out.String(), job.Version)
		}
	}
}

// TestClusterKeyFileAndFlag: train refuses --cluster-key with
// --cluster-key-file, and names an unreadable file.
func TestClusterKeyFileAndFlag(t *testing.T) {
	var out, errb bytes.Buffer
	missing := filepath.Join(t.TempDir(), "missing")
	err := run(context.Background(), []string{"train", "--join", "127.0.0.1:1", "--cluster-key", "K", "--cluster-key-file", missing}, &out, &errb)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "not both") {
		t.Errorf("both: err = %v", err)
	}
	err = run(context.Background(), []string{"train", "--join", "127.0.0.1:1", "--cluster-key-file", missing}, &out, &errb)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: err = %v", err)
	}
}

// TestReplicationFlag: a negative --replication is refused before joining.
func TestReplicationFlag(t *testing.T) {
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"train", "--join", "127.0.0.1:1", "--insecure", "--replication", "-1"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "--replication -1") {
		t.Errorf("err = %v, want --replication -1 refused", err)
	}
}
