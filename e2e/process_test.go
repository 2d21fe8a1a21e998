package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var bin string // directory holding the built binaries

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "altmin-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, c := range []string{"coordinator", "shard"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, c), "altmin/cmd/"+c).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", c, err, out)
			os.Exit(1)
		}
	}
	bin = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const data = "model=sum,d=12,k=3,n=6000,seed=11"

// cluster is a set of shard processes started by a test.
type cluster struct {
	t      *testing.T
	dir    string
	seed   string // gossip address of the first shard
	shards []*exec.Cmd
}

func newCluster(t *testing.T) *cluster {
	return &cluster{t: t, dir: t.TempDir()}
}

var serving = regexp.MustCompile(`serving partitions .* on (\S+) \(gossip (\S+)\)`)

// startShard starts a shard process and waits until it prints that it is
// serving; it returns the process's error output if it exits first.
func (c *cluster) startShard(args ...string) (string, error) {
	c.t.Helper()
	args = append([]string{"--grpc-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0", "--log-level", "warn", "--join-timeout", "10s"}, args...)
	if c.seed != "" {
		args = append(args, "--join", c.seed)
	}
	cmd := exec.Command(filepath.Join(bin, "shard"), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := serving.FindStringSubmatch(sc.Text()); m != nil {
				line <- m[2]
			}
		}
		close(line)
	}()
	select {
	case g, ok := <-line:
		if !ok {
			cmd.Wait()
			return "", fmt.Errorf("shard exited: %s", stderr.String())
		}
		if c.seed == "" {
			c.seed = g
		}
		c.shards = append(c.shards, cmd)
		return g, nil
	case <-time.After(30 * time.Second):
		return "", fmt.Errorf("shard did not start within 30 s: %s", stderr.String())
	}
}

// coordinator runs a coordinator process to completion.
func (c *cluster) coordinator(args ...string) (string, error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "coordinator"), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (c *cluster) certs(nodes ...string) string {
	c.t.Helper()
	dir := filepath.Join(c.dir, "certs")
	if out, err := c.coordinator("certs", "--out", dir, "--force", "--nodes", strings.Join(nodes, ",")); err != nil {
		c.t.Fatalf("certs: %v\n%s", err, out)
	}
	return dir
}

func (c *cluster) key() string {
	c.t.Helper()
	out, err := c.coordinator("keygen")
	if err != nil {
		c.t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// reference trains in a single process without any network.
func reference(t *testing.T, dir string) []byte {
	c := newCluster(t)
	out := filepath.Join(dir, "ref")
	if o, err := c.coordinator("train", "--synthetic", data, "--local-shards", "0", "--out", out); err != nil {
		t.Fatalf("reference run: %v\n%s", err, o)
	}
	return readFile(t, filepath.Join(out, "weights.npy"))
}

// TestBitIdenticalAcrossShards runs secure clusters of 1 and 3 shards, with
// two partition assignments, and compares weights.npy byte for byte with the
// single-process run.
func TestBitIdenticalAcrossShards(t *testing.T) {
	want := reference(t, t.TempDir())
	layouts := map[string][][]string{
		"1 shard":               {{"0-7"}},
		"3 shards":              {{"0-2"}, {"3-5"}, {"6,7"}},
		"3 shards, reassigned":  {{"1,4,7"}, {"0,2,5"}, {"3,6"}},
		"3 shards, overlapping": {{"0-4"}, {"3-7"}, {"0,7"}},
	}
	for name, layout := range layouts {
		t.Run(name, func(t *testing.T) {
			c := newCluster(t)
			ids := []string{"coordinator"}
			for i := range layout {
				ids = append(ids, fmt.Sprintf("s%d", i+1))
			}
			certs := c.certs(ids...)
			key := c.key()
			for i, parts := range layout {
				if _, err := c.startShard("--id", ids[i+1], "--partitions", parts[0], "--synthetic", data, "--tls-dir", certs, "--cluster-key", key); err != nil {
					t.Fatal(err)
				}
			}
			out := filepath.Join(c.dir, "model")
			o, err := c.coordinator("train", "--join", c.seed, "--gossip-addr", "127.0.0.1:0", "--synthetic", data,
				"--tls-dir", certs, "--cluster-key", key, "--out", out, "--join-timeout", "20s")
			if err != nil {
				t.Fatalf("coordinator: %v\n%s", err, o)
			}
			if got := readFile(t, filepath.Join(out, "weights.npy")); !bytes.Equal(got, want) {
				t.Fatalf("weights.npy differs from the single-process run\n%s", o)
			}
		})
	}
}
