package e2e

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlacementAuto runs shard processes as a StatefulSet starts them: the
// same flags for every shard (--partitions auto, --shard-index auto from
// the ID shard-I, --shards 4, --replication 2), certificates from one
// brace range, and a coordinator told --replication 2. With the four
// shards, the weights are those of the single-process run and nothing is
// under-replicated; with shard-3 missing, the coordinator still trains to
// the same bits and warns that partitions 0-1 and 6-7 have one holder.
func TestPlacementAuto(t *testing.T) {
	want := reference(t, t.TempDir())
	for _, shards := range []int{4, 3} {
		t.Run(fmt.Sprintf("%d of 4 shards", shards), func(t *testing.T) {
			c := newCluster(t)
			certs := filepath.Join(c.dir, "certs")
			if out, err := c.coordinator("certs", "--out", certs, "--nodes", "shard-{0..3},coordinator"); err != nil {
				t.Fatalf("certs: %v\n%s", err, out)
			}
			key := c.key()
			for i := 0; i < shards; i++ {
				if _, err := c.startShard("--id", fmt.Sprintf("shard-%d", i), "--partitions", "auto", "--shard-index", "auto", "--shards", "4", "--replication", "2",
					"--synthetic", data, "--tls-dir", certs, "--cluster-key", key); err != nil {
					t.Fatal(err)
				}
			}
			out := filepath.Join(c.dir, "model")
			o, err := c.coordinator("train", "--join", c.seed, "--gossip-addr", "127.0.0.1:0", "--synthetic", data, "--replication", "2",
				"--tls-dir", certs, "--cluster-key", key, "--out", out, "--join-timeout", "3s")
			if err != nil {
				t.Fatalf("coordinator: %v\n%s", err, o)
			}
			if got := readFile(t, filepath.Join(out, "weights.npy")); !bytes.Equal(got, want) {
				t.Fatalf("weights.npy differs from the single-process run\n%s", o)
			}
			warned := strings.Contains(o, "WARNING: under-replicated")
			if shards == 4 && warned {
				t.Errorf("warned with every shard up:\n%s", o)
			}
			if shards == 3 && (!warned || !strings.Contains(o, "partitions 0-1,6-7 have fewer than --replication 2 live holders")) {
				t.Errorf("no warning naming partitions 0-1,6-7 with shard-3 missing:\n%s", o)
			}
		})
	}
}
