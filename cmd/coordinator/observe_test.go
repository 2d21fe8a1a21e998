package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestQuietAndPipes: run with stdout and stderr not terminals (buffers),
// train draws no progress bar: stderr stays empty. With --quiet it prints
// neither the header nor the table, only the final summary.
func TestQuietAndPipes(t *testing.T) {
	args := []string{"train", "--synthetic", synth(trainN), "--init", "perturb:0.3", "--partitions", "3", "--iters", "15"}
	err, loud, stderr := runCLI(t, append(args, "--out", filepath.Join(t.TempDir(), "loud"))...)
	if err != nil {
		t.Fatalf("train: %v\n%s", err, stderr)
	}
	if stderr != "" {
		t.Errorf("train printed to a stderr that is not a terminal:\n%q", stderr)
	}
	for _, want := range []string{"in-process shards", "model sum", "rel_res", "stopped: fixed-point"} {
		if !strings.Contains(loud, want) {
			t.Errorf("the output lacks %q:\n%s", want, loud)
		}
	}
	err, quiet, stderr := runCLI(t, append(args, "--quiet", "--out", filepath.Join(t.TempDir(), "quiet"))...)
	if err != nil {
		t.Fatalf("train --quiet: %v\n%s", err, stderr)
	}
	if stderr != "" {
		t.Errorf("train --quiet printed to stderr:\n%q", stderr)
	}
	for _, absent := range []string{"in-process shards", "model sum", "rel_res"} {
		if strings.Contains(quiet, absent) {
			t.Errorf("train --quiet printed %q:\n%s", absent, quiet)
		}
	}
	if !strings.HasPrefix(quiet, "stopped: fixed-point") || !strings.Contains(quiet, "model written to") {
		t.Errorf("train --quiet did not print the summary alone:\n%s", quiet)
	}
}

// TestMetricsAddr: --metrics-addr serves the metrics during the run and
// says where; an address that cannot be bound is an error naming the flag.
func TestMetricsAddr(t *testing.T) {
	err, stdout, stderr := runCLI(t, "train", "--synthetic", synth(trainN), "--init", "perturb:0.3", "--partitions", "3", "--iters", "15",
		"--local-shards", "0", "--metrics-addr", "127.0.0.1:0", "--out", t.TempDir())
	if err != nil {
		t.Fatalf("train: %v\n%s", err, stderr)
	}
	if !strings.HasPrefix(stdout, "metrics at http://127.0.0.1:") || !strings.Contains(stdout, "/metrics\n") {
		t.Errorf("train does not say where the metrics are:\n%s", stdout)
	}
	err, _, _ = runCLI(t, "train", "--synthetic", synth(trainN), "--local-shards", "0", "--metrics-addr", "127.0.0.1:99999", "--out", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "--metrics-addr") {
		t.Errorf("train --metrics-addr 127.0.0.1:99999: %v, want an error naming --metrics-addr", err)
	}
}
