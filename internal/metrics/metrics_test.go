package metrics_test

import (
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"altmin/internal/metrics"
	"altmin/internal/metrics/metricstest"
)

// serve serves a registry with both sets of metrics on a free loopback
// port until the test ends.
func serve(t *testing.T) (*metrics.Coordinator, *metrics.Shard, *metrics.Server) {
	t.Helper()
	reg := metrics.NewRegistry()
	c, s := metrics.NewCoordinator(reg), metrics.NewShard(reg)
	srv, err := metrics.Serve("127.0.0.1:0", reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	return c, s, srv
}

// TestExposition: every metric is exposed at /metrics with its type, the
// Go runtime and process collectors too, and what was recorded reads back
// through the official parser.
func TestExposition(t *testing.T) {
	c, s, srv := serve(t)
	c.Iteration(3, 0.25, math.NaN(), 1000, 2*time.Second)
	c.Partial("s1", 3*time.Millisecond)
	c.Partial("s1", time.Second)
	c.Failover()
	c.Hedge()
	c.RejoinWait()
	c.RejoinWait()
	c.Refused(metrics.ReasonStale)
	c.Received(4096)
	s.Holds(3, func() int { return 2 })
	s.Served("stats", "OK")
	s.Computed("stats", 5*time.Millisecond)
	s.Sent(1000)

	fs, _ := metricstest.Scrape(t, srv.URL())
	types := map[string]dto.MetricType{
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
		"altmin_shard_requests_total":               dto.MetricType_COUNTER,
		"altmin_shard_sent_bytes_total":             dto.MetricType_COUNTER,
		"altmin_shard_compute_seconds":              dto.MetricType_HISTOGRAM,
		"altmin_shard_partitions":                   dto.MetricType_GAUGE,
		"altmin_shard_resident_partitions":          dto.MetricType_GAUGE,
		"go_goroutines":                             dto.MetricType_GAUGE,
		"go_memstats_heap_alloc_bytes":              dto.MetricType_GAUGE,
		"process_resident_memory_bytes":             dto.MetricType_GAUGE,
	}
	for name, want := range types {
		if got := fs.Type(t, name); got != want {
			t.Errorf("%s is a %v, want a %v", name, got, want)
		}
	}
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"altmin_coordinator_iteration", nil, 3},
		{"altmin_coordinator_training_loss", nil, 0.25},
		{"altmin_coordinator_rows_per_second", nil, 500},
		{"altmin_coordinator_partial_seconds", []string{"shard", "s1"}, 2},
		{"altmin_coordinator_failovers_total", nil, 1},
		{"altmin_coordinator_hedges_total", nil, 1},
		{"altmin_coordinator_rejoin_waits_total", nil, 2},
		{"altmin_coordinator_refused_partials_total", []string{"reason", "stale"}, 1},
		{"altmin_coordinator_refused_partials_total", []string{"reason", "malformed"}, 0},
		{"altmin_coordinator_received_bytes_total", nil, 4096},
		{"altmin_shard_requests_total", []string{"kind", "stats", "code", "OK"}, 1},
		{"altmin_shard_sent_bytes_total", nil, 1000},
		{"altmin_shard_compute_seconds", []string{"kind", "stats"}, 1},
		{"altmin_shard_partitions", nil, 3},
		{"altmin_shard_resident_partitions", nil, 2},
	} {
		if got, ok := fs.Value(tc.name, tc.labels...); !ok || got != tc.want {
			t.Errorf("%s%v = %v (present %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	if v, ok := fs.Value("altmin_coordinator_validation_loss"); !ok || !math.IsNaN(v) {
		t.Errorf("validation loss without validation rows = %v, want NaN", v)
	}
	// Every refusal reason is a series from the start.
	if got := fs.Labels("altmin_coordinator_refused_partials_total", "reason"); len(got) != 7 {
		t.Errorf("refusal reasons %v, want the 7 of the package", got)
	}
}

// TestConventions lints the exposition by Prometheus' naming and help
// conventions: with the client library's linter (what promtool runs), and
// with promtool itself when it is installed.
func TestConventions(t *testing.T) {
	_, _, srv := serve(t)
	_, text := metricstest.Scrape(t, srv.URL())
	resp, err := http.Get(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	problems, err := promlint.New(resp.Body).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	metricstest.Promtool(t, text)
}

// TestNil: a nil set of metrics observes nothing and does not fail, so
// the packages that take one work without it.
func TestNil(t *testing.T) {
	var c *metrics.Coordinator
	c.Iteration(1, 1, 1, 1, time.Second)
	c.Partial("s", time.Second)
	c.Failover()
	c.Hedge()
	c.RejoinWait()
	c.Refused(metrics.ReasonInvalid)
	c.Received(1)
	var s *metrics.Shard
	s.Holds(1, nil)
	s.Served("stats", "OK")
	s.Computed("stats", time.Second)
	s.Sent(1)
}

// TestServeErrors: an address that cannot be bound is an error naming the
// flag, and a closed server refuses connections.
func TestServeErrors(t *testing.T) {
	if _, err := metrics.Serve("256.0.0.1:x", metrics.NewRegistry()); err == nil {
		t.Fatal("Serve on a bad address succeeded")
	} else if want := "--metrics-addr"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
	srv, err := metrics.Serve("127.0.0.1:0", metrics.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get(srv.URL()); err == nil {
		resp.Body.Close()
		t.Error("the closed server still answers")
	}
}
