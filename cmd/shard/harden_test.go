package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestShardStopsWhileLoading: a shard whose context is cancelled (SIGINT,
// SIGTERM) while it reads its data stops with context.Canceled, naming
// the data file, and never reports serving.
func TestShardStopsWhileLoading(t *testing.T) {
	var b strings.Builder
	b.WriteString("a,b,y\n")
	for i := range 5000 {
		fmt.Fprintf(&b, "%d,%d,%d\n", i, i%7, i%3)
	}
	csv := filepath.Join(t.TempDir(), "d.csv")
	if err := os.WriteFile(csv, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out, errb bytes.Buffer
	err := run(ctx, []string{"--id", "s1", "--partitions", "0-1", "--num-partitions", "2", "--data", csv, "--label", "y",
		"--grpc-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0", "--insecure", "--log-level", "error"}, &out, &errb)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), csv) {
		t.Errorf("err = %v, want context.Canceled naming %s", err, csv)
	}
	if strings.Contains(out.String(), "serving") {
		t.Errorf("the cancelled shard reported serving: %q", out.String())
	}
}

// TestDuplicateShardIDFails: a shard started with the ID of a live member
// of the cluster it joins fails, once its --join-timeout has passed
// (retrying in case that member were a dead predecessor), with an error
// naming the ID and that member, and never reports serving; the first
// shard keeps serving.
func TestDuplicateShardIDFails(t *testing.T) {
	args := []string{"--num-partitions", "2", "--synthetic", "model=sum,d=3,k=1,n=200,seed=1",
		"--grpc-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0", "--insecure", "--log-level", "error"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	first := make(chan error, 1)
	go func() {
		first <- run(ctx, append([]string{"--id", "s1", "--partitions", "0"}, args...), pw, io.Discard)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() {
		t.Fatalf("the first shard stopped before serving: %v", <-first)
	}
	go io.Copy(io.Discard, pr)
	m := regexp.MustCompile(`\(gossip (\S+)\)`).FindStringSubmatch(lines.Text())
	if m == nil {
		t.Fatalf("no gossip address in %q", lines.Text())
	}
	// The second shard runs until it fails, or, wrongly serving, until
	// its first line is read and it is stopped.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	pr2, pw2 := io.Pipe()
	second := make(chan error, 1)
	go func() {
		second <- run(ctx2, append([]string{"--id", "s1", "--partitions", "1", "--join", m[1], "--join-timeout", "1s"}, args...), pw2, io.Discard)
		pw2.Close()
	}()
	out, _ := bufio.NewReader(pr2).ReadString('\n') // "" when it stops without a line
	cancel2()
	go io.Copy(io.Discard, pr2)
	err := <-second
	if strings.Contains(out, "serving") {
		t.Errorf("the second shard s1 reported serving: %q", out)
	}
	if err == nil || !strings.Contains(err.Error(), `"s1"`) || !strings.Contains(err.Error(), m[1]) {
		t.Errorf("second shard s1: %v, want an error naming s1 and %s", err, m[1])
	}
	select {
	case err := <-first:
		t.Errorf("the first shard stopped: %v", err)
	default:
	}
	cancel()
	if err := <-first; err != nil {
		t.Errorf("first shard: %v", err)
	}
}
