package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"altmin/internal/metrics/metricstest"
	"altmin/msg"
	"altmin/transport"
)

// TestMetricsServed starts the shard with --metrics-addr on a free
// loopback port, learns the port from what it prints, scrapes /metrics
// while it serves, and parses the exposition: the partitions held and
// resident, the memory of the runtime and process collectors, and after
// one Compute call the request counted by kind and code, its computation
// timed and the bytes it sent.
func TestMetricsServed(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--id", "s1", "--partitions", "0-1", "--num-partitions", "2", "--synthetic", "model=sum,d=4,k=2,n=200,seed=1",
			"--grpc-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0", "--insecure", "--metrics-addr", "127.0.0.1:0", "--log-level", "error"}, pw, io.Discard)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	next := func() string {
		if !lines.Scan() {
			cancel()
			t.Fatalf("the shard stopped before it said where it serves: %v", <-done)
		}
		return lines.Text()
	}
	url, ok := strings.CutPrefix(next(), "shard s1: metrics at ")
	if !ok || !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("the first line does not give the metrics' address: %q", url)
	}
	serving := next()
	_, addr, _ := strings.Cut(serving, " on ")
	addr, _, _ = strings.Cut(addr, " ")
	go io.Copy(io.Discard, pr)

	fs, _ := metricstest.Scrape(t, url)
	for name, want := range map[string]float64{"altmin_shard_partitions": 2, "altmin_shard_resident_partitions": 2} {
		if got, _ := fs.Value(name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	for _, name := range []string{"go_memstats_heap_alloc_bytes", "process_resident_memory_bytes"} {
		if v, _ := fs.Value(name); !(v > 0) {
			t.Errorf("%s = %v", name, v)
		}
	}
	if _, ok := fs.Value("altmin_shard_requests_total"); ok {
		t.Error("requests counted before any")
	}

	cl, err := transport.Dial(ctx, addr, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := &msg.StatsRequest{Iter: 0, D: 4, Signs: []float64{1, -1}, U: []float64{0.5, -0.25, 0.125, 1, -1, 0.75, 0.3, -0.2}}
	if _, err := cl.Call(ctx, "s1", req, msg.Leaf(1)); err != nil {
		t.Fatalf("Compute on %s (%q): %v", addr, serving, err)
	}
	fs, text := metricstest.Scrape(t, url)
	if v, _ := fs.Value("altmin_shard_requests_total", "kind", "stats", "code", "OK"); v != 1 {
		t.Errorf("%v stats requests served, want 1", v)
	}
	if v, _ := fs.Value("altmin_shard_compute_seconds", "kind", "stats"); v != 1 {
		t.Errorf("%v stats computations timed, want 1", v)
	}
	if v, _ := fs.Value("altmin_shard_sent_bytes_total"); !(v > 0) {
		t.Errorf("sent bytes %v", v)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("the shard stopped with %v", err)
	}
	metricstest.Promtool(t, text)
}
