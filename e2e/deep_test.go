package e2e

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeepBitIdenticalAcrossShards trains a planted 2-hidden-layer network
// (--model deep, implied by the teacher) on a secure cluster of two shard
// processes with overlapping partitions, over the Compute call, and
// compares both weight files byte for byte with the single-process run.
func TestDeepBitIdenticalAcrossShards(t *testing.T) {
	const deepData = "model=deep,d=10,hidden=6-3,n=4000,seed=5"
	c := newCluster(t)
	ref := filepath.Join(c.dir, "ref")
	if o, err := c.coordinator("train", "--synthetic", deepData, "--init", "perturb:0.1", "--local-shards", "0", "--out", ref); err != nil {
		t.Fatalf("reference run: %v\n%s", err, o)
	}
	certs := c.certs("coordinator", "s1", "s2")
	key := c.key()
	for _, s := range [][2]string{{"s1", "0-4"}, {"s2", "3-7"}} {
		if _, err := c.startShard("--id", s[0], "--partitions", s[1], "--synthetic", deepData, "--tls-dir", certs, "--cluster-key", key); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(c.dir, "model")
	o, err := c.coordinator("train", "--join", c.seed, "--gossip-addr", "127.0.0.1:0", "--synthetic", deepData, "--init", "perturb:0.1",
		"--tls-dir", certs, "--cluster-key", key, "--out", out, "--join-timeout", "20s")
	if err != nil {
		t.Fatalf("coordinator: %v\n%s", err, o)
	}
	if !strings.Contains(o, "stopped: fit") && !strings.Contains(o, "stopped: tolerance") {
		t.Errorf("the cluster run did not converge:\n%s", o)
	}
	for _, name := range []string{"weights_1.npy", "weights_2.npy"} {
		if !bytes.Equal(readFile(t, filepath.Join(out, name)), readFile(t, filepath.Join(ref, name))) {
			t.Fatalf("%s differs from the single-process run\n%s", name, o)
		}
	}
}
