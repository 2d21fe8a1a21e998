package e2e

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// secureCluster starts two shards holding partitions 0-3 and 4-7 with the
// given certificates and key.
func secureCluster(t *testing.T) (c *cluster, certs, key string) {
	c = newCluster(t)
	certs = c.certs("coordinator", "s1", "s2", "s3")
	key = c.key()
	for _, s := range [][2]string{{"s1", "0-3"}, {"s2", "4-7"}} {
		if _, err := c.startShard("--id", s[0], "--partitions", s[1], "--synthetic", data, "--tls-dir", certs, "--cluster-key", key); err != nil {
			t.Fatal(err)
		}
	}
	return c, certs, key
}

func expectFailure(t *testing.T, out string, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("succeeded, want a failure mentioning %q\n%s", want, out)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output does not mention %q:\n%s", w, out)
		}
	}
	t.Logf("refused as expected: %s", lastLine(out))
}

func TestRefusals(t *testing.T) {
	c, certs, key := secureCluster(t)
	other := newCluster(t)
	foreign := other.certs("coordinator", "s1", "s2", "s3", "foreign") // same names, another CA
	wrongKey := other.key()
	train := func(extra ...string) (string, error) {
		args := append([]string{"train", "--join", c.seed, "--gossip-addr", "127.0.0.1:0", "--synthetic", data,
			"--out", filepath.Join(t.TempDir(), "m"), "--join-timeout", "3s", "--rejoin-timeout", "2s", "--step-timeout", "5s"}, extra...)
		return c.coordinator(args...)
	}

	t.Run("shard with a wrong cluster key cannot join", func(t *testing.T) {
		_, err := c.startShard("--id", "s3", "--partitions", "0", "--synthetic", data, "--tls-dir", certs, "--cluster-key", wrongKey, "--join-timeout", "2s")
		if err == nil || !strings.Contains(err.Error(), "could not join") {
			t.Fatalf("err = %v, want a failure to join", err)
		}
	})
	t.Run("plaintext shard cannot join an encrypted cluster", func(t *testing.T) {
		_, err := c.startShard("--id", "s3", "--partitions", "0", "--synthetic", data, "--insecure", "--join-timeout", "2s")
		if err == nil || !strings.Contains(err.Error(), "could not join") {
			t.Fatalf("err = %v, want a failure to join", err)
		}
	})
	t.Run("coordinator with a wrong cluster key cannot join", func(t *testing.T) {
		out, err := train("--tls-dir", certs, "--cluster-key", wrongKey)
		expectFailure(t, out, err, "could not join")
	})
	t.Run("coordinator without certificates is refused before starting", func(t *testing.T) {
		out, err := train("--cluster-key", key)
		expectFailure(t, out, err, "TLS certificates are required")
	})
	t.Run("coordinator without a cluster key is refused before starting", func(t *testing.T) {
		out, err := train("--tls-dir", certs, "--cluster-key", "")
		expectFailure(t, out, err, "cluster key is required")
	})
	t.Run("coordinator with a foreign certificate cannot fetch statistics", func(t *testing.T) {
		// A refusal no retry can change: the run stops at once, not after
		// --rejoin-timeout. (Under another ID: the node, shut down at once,
		// may still be listed live when the next coordinator joins.)
		out, err := train("--tls-dir", foreign, "--cluster-key", key, "--id", "foreign")
		expectFailure(t, out, err, "partition", "refused the call permanently", "certificate")
	})
	t.Run("shards disagreeing on the data are refused", func(t *testing.T) {
		if _, err := c.startShard("--id", "s3", "--partitions", "0", "--synthetic", strings.Replace(data, "d=12", "d=13", 1), "--tls-dir", certs, "--cluster-key", key); err != nil {
			t.Fatal(err)
		}
		out, err := train("--tls-dir", certs, "--cluster-key", key)
		expectFailure(t, out, err, "hold different data", "d = 12", "13")
	})
}

func TestShardWithForeignCertificate(t *testing.T) {
	c := newCluster(t)
	certs := c.certs("coordinator", "s1", "s2")
	foreign := newCluster(t).certs("s2")
	key := c.key()
	if _, err := c.startShard("--id", "s1", "--partitions", "0-5", "--synthetic", data, "--tls-dir", certs, "--cluster-key", key); err != nil {
		t.Fatal(err)
	}
	// s2 has the key (it joins the membership) but a certificate from
	// another CA: the coordinator must not accept its statistics.
	if _, err := c.startShard("--id", "s2", "--partitions", "6,7", "--synthetic", data, "--tls-dir", foreign, "--cluster-key", key); err != nil {
		t.Fatal(err)
	}
	out, err := c.coordinator("train", "--join", c.seed, "--gossip-addr", "127.0.0.1:0", "--synthetic", data, "--tls-dir", certs, "--cluster-key", key,
		"--out", filepath.Join(t.TempDir(), "m"), "--join-timeout", "10s", "--rejoin-timeout", "2s", "--step-timeout", "5s")
	expectFailure(t, out, err, "s2", "certificate", "refused the call permanently")
	// The coordinator asks s2 for its span 6-7, then for each half: the
	// error names whichever of s2's partitions failed last.
	if !regexp.MustCompile(`partition [67]\b`).MatchString(out) {
		t.Errorf("output names neither partition 6 nor 7 of s2:\n%s", out)
	}
}

func TestMissingPartition(t *testing.T) {
	c := newCluster(t)
	if _, err := c.startShard("--id", "s1", "--partitions", "0-5", "--synthetic", data, "--insecure"); err != nil {
		t.Fatal(err)
	}
	out, err := c.coordinator("train", "--join", c.seed, "--gossip-addr", "127.0.0.1:0", "--synthetic", data, "--insecure",
		"--out", filepath.Join(t.TempDir(), "m"), "--join-timeout", "2s")
	expectFailure(t, out, err, "partitions 6-7", "no live shard")
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
