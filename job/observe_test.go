package job_test

import (
	"bufio"
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap/zaptest"

	"altmin/internal/metrics"
	"altmin/internal/metrics/metricstest"
	"altmin/job"
)

// observedOptions is a small planted problem trained through two local
// shards over gRPC.
func observedOptions(t *testing.T) job.Options {
	o := job.DefaultOptions()
	o.Synthetic, o.Partitions, o.LocalShards, o.Iters = "model=sum,d=6,k=2,n=2000,seed=3,signs=alternate", 4, 2, 30
	o.Init, o.Out = "perturb:0.3", t.TempDir()
	return o
}

// lines counts the lines of a file.
func lines(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for s := bufio.NewScanner(f); s.Scan(); {
		n++
	}
	return n
}

// TestMetricsOfARun trains through two local shards with the metrics served
// on a free loopback port, scrapes /metrics after the run and parses it
// with the official parser: every family of the coordinator is there with
// its type, the gauges hold the last iteration's values, every span of
// every round was timed under the shard that answered it, bytes were
// received, and nothing failed over or was refused. The weights are the
// bits of the same run without metrics or progress.
func TestMetricsOfARun(t *testing.T) {
	o := observedOptions(t)
	reg := metrics.NewRegistry()
	o.Metrics = metrics.NewCoordinator(reg)
	var progress bytes.Buffer
	o.Progress = &progress
	srv, err := metrics.Serve("127.0.0.1:0", reg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var out strings.Builder
	res, err := job.Train(context.Background(), o, &out, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	fs, text := metricstest.Scrape(t, srv.URL())
	for name, want := range map[string]dto.MetricType{
		"altmin_coordinator_iteration":              dto.MetricType_GAUGE,
		"altmin_coordinator_training_loss":          dto.MetricType_GAUGE,
		"altmin_coordinator_validation_loss":        dto.MetricType_GAUGE,
		"altmin_coordinator_rows_per_second":        dto.MetricType_GAUGE,
		"altmin_coordinator_partial_seconds":        dto.MetricType_HISTOGRAM,
		"altmin_coordinator_failovers_total":        dto.MetricType_COUNTER,
		"altmin_coordinator_hedges_total":           dto.MetricType_COUNTER,
		"altmin_coordinator_rejoin_waits_total":     dto.MetricType_COUNTER,
		"altmin_coordinator_refused_partials_total": dto.MetricType_COUNTER,
		"altmin_coordinator_received_bytes_total":   dto.MetricType_COUNTER,
		"go_memstats_heap_alloc_bytes":              dto.MetricType_GAUGE,
		"process_cpu_seconds_total":                 dto.MetricType_COUNTER,
	} {
		if got := fs.Type(t, name); got != want {
			t.Errorf("%s is a %v, want a %v", name, got, want)
		}
	}
	if v, _ := fs.Value("altmin_coordinator_iteration"); v != float64(res.Final.Iter) {
		t.Errorf("iteration gauge %v, the run ended at iteration %d", v, res.Final.Iter)
	}
	if v, _ := fs.Value("altmin_coordinator_training_loss"); v != res.Final.Loss {
		t.Errorf("training loss gauge %v, the run's last loss %v", v, res.Final.Loss)
	}
	if v, _ := fs.Value("altmin_coordinator_validation_loss"); !math.IsNaN(v) {
		t.Errorf("validation loss gauge %v without validation rows, want NaN", v)
	}
	if v, _ := fs.Value("altmin_coordinator_rows_per_second"); !(v > 0) {
		t.Errorf("rows per second %v", v)
	}
	if got := fs.Labels("altmin_coordinator_partial_seconds", "shard"); !slices.Equal(got, []string{"local-0", "local-1"}) {
		t.Errorf("partials timed for shards %v, want local-0 and local-1", got)
	}
	a, _ := fs.Value("altmin_coordinator_partial_seconds", "shard", "local-0")
	b, _ := fs.Value("altmin_coordinator_partial_seconds", "shard", "local-1")
	rounds := lines(t, filepath.Join(o.Out, "metrics.jsonl"))
	// A round is planned as spans of the reduction tree, one per shard
	// (each holds every partition here): each shard answered one span's
	// partial a round.
	if a != float64(rounds) || b != float64(rounds) {
		t.Errorf("%v and %v partials timed for local-0 and local-1, want one span per shard in each of %d rounds", a, b, rounds)
	}
	if v, _ := fs.Value("altmin_coordinator_received_bytes_total"); !(v > 0) {
		t.Errorf("received bytes %v", v)
	}
	for _, name := range []string{"altmin_coordinator_failovers_total", "altmin_coordinator_hedges_total", "altmin_coordinator_rejoin_waits_total"} {
		if v, _ := fs.Value(name); v != 0 {
			t.Errorf("%s = %v in a run without faults", name, v)
		}
	}
	for _, r := range fs.Labels("altmin_coordinator_refused_partials_total", "reason") {
		if v, _ := fs.Value("altmin_coordinator_refused_partials_total", "reason", r); v != 0 {
			t.Errorf("%v partials refused for %s in a run without faults", v, r)
		}
	}
	for _, bar := range []string{"loading partitions", "stats round 1: partitions"} {
		if !strings.Contains(progress.String(), bar) {
			t.Errorf("no %q progress bar drawn:\n%q", bar, progress.String())
		}
	}

	plain := observedOptions(t)
	ref, err := job.Train(context.Background(), plain, &strings.Builder{}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if !netsEqual(res.Net, ref.Net) || res.Final.Iter != ref.Final.Iter {
		t.Errorf("observed: %d iterations; plain: %d; weights equal: %v", res.Final.Iter, ref.Final.Iter, netsEqual(res.Net, ref.Net))
	}
	metricstest.Promtool(t, text)
}

// TestQuietRun: with Quiet the run prints its final summary and nothing
// of the header or the table, and trains the same weights.
func TestQuietRun(t *testing.T) {
	o := observedOptions(t)
	o.LocalShards = 0
	var loud, quiet strings.Builder
	ref, err := job.Train(context.Background(), o, &loud, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	loudOut := o.Out
	o.Quiet, o.Out = true, t.TempDir()
	res, err := job.Train(context.Background(), o, &quiet, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if !netsEqual(res.Net, ref.Net) {
		t.Error("the quiet run trained other weights")
	}
	summary := strings.ReplaceAll(loud.String()[strings.Index(loud.String(), "stopped: "):], loudOut, o.Out)
	if quiet.String() != summary {
		t.Errorf("quiet output:\n%s\nwant the summary of the loud run only:\n%s", quiet.String(), summary)
	}
	if !strings.Contains(loud.String(), "rel_res") {
		t.Errorf("the loud run has no table:\n%s", loud.String())
	}
}
