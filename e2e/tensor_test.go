package e2e

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestTensorInitCluster runs --init tensor on a cluster of shard processes
// (the moment passes over gRPC, partitions 3 and 4 on both shards) and
// compares weights.npy byte for byte with the single-process run.
func TestTensorInitCluster(t *testing.T) {
	c := newCluster(t)
	ref := filepath.Join(c.dir, "ref")
	if o, err := c.coordinator("train", "--synthetic", data, "--init", "tensor", "--local-shards", "0", "--out", ref); err != nil {
		t.Fatalf("reference run: %v\n%s", err, o)
	}
	want := readFile(t, filepath.Join(ref, "weights.npy"))
	for _, parts := range []string{"0-4", "3-7"} {
		if _, err := c.startShard("--id", "s"+parts[:1], "--partitions", parts, "--synthetic", data, "--insecure"); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(c.dir, "model")
	o, err := c.coordinator("train", "--join", c.seed, "--gossip-addr", "127.0.0.1:0", "--synthetic", data, "--insecure",
		"--init", "tensor", "--out", out, "--join-timeout", "20s")
	if err != nil {
		t.Fatalf("coordinator: %v\n%s", err, o)
	}
	if !strings.Contains(o, "moments of 8 partitions from the shards") {
		t.Errorf("the moments did not come from the shards:\n%s", o)
	}
	if got := readFile(t, filepath.Join(out, "weights.npy")); !bytes.Equal(got, want) {
		t.Fatalf("weights.npy differs from the single-process run\n%s", o)
	}
}
