package main

import (
	"bytes"
	"context"
	"errors"
	"os"
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
		if !strings.HasPrefix(out.String(), "shard "+job.Version+" (") {
			t.Errorf("%s printed %q, want shard %s (...)", arg, out.String(), job.Version)
		}
	}
}

func TestDefaultGRPCAdvertise(t *testing.T) {
	for _, tc := range []struct{ listen, gossip, want string }{
		{"0.0.0.0:7000", "10.0.1.4:7946", "10.0.1.4:7000"},
		{":7000", "10.0.1.4:7946", "10.0.1.4:7000"},
		{"[::]:7000", "10.0.1.4:7946", "10.0.1.4:7000"},
		{"0.0.0.0:7000", "", ""},
		{"127.0.0.1:7000", "10.0.1.4:7946", ""},
		{"s1:7000", "10.0.1.4:7946", ""},
	} {
		if got := defaultGRPCAdvertise(tc.listen, tc.gossip); got != tc.want {
			t.Errorf("defaultGRPCAdvertise(%q, %q) = %q, want %q", tc.listen, tc.gossip, got, tc.want)
		}
	}
}

// TestClusterKeyFile: the key is read from --cluster-key-file (then the
// certificates are missing next), and both flags at once are refused.
func TestClusterKeyFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(file, []byte("AAAAAAAAAAAAAAAAAAAAAA==\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--id", "s1", "--partitions", "0", "--synthetic", "model=sum,d=3,k=1,n=10", "--grpc-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0"}
	var out, errb bytes.Buffer
	err := run(context.Background(), append(args, "--cluster-key-file", file), &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "TLS certificates are required") {
		t.Errorf("err = %v, want the key of the file accepted and certificates required", err)
	}
	err = run(context.Background(), append(args, "--cluster-key-file", file, "--cluster-key", "AAAAAAAAAAAAAAAAAAAAAA=="), &out, &errb)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "not both") {
		t.Errorf("err = %v, want both flags refused", err)
	}
}
