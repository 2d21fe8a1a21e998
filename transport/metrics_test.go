package transport

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"altmin/internal/metrics"
	"altmin/internal/metrics/metricstest"
	"altmin/msg"
	pb "altmin/proto/altminpb"
	"altmin/shard"
)

// TestClientMetrics: every reply of the hostile table is counted once as
// refused, under the reason of its sentinel; a call the shard fails is not
// a refusal; a valid reply adds the bytes of its messages.
func TestClientMetrics(t *testing.T) {
	f := &fakeShard{}
	c := serveFake(t, f, nil)
	reg := prometheus.NewRegistry()
	c.SetMetrics(metrics.NewCoordinator(reg))
	fx := hostileFixtures()[0]
	reasons := map[error]string{ErrBadReply: metrics.ReasonMalformed, ErrStale: metrics.ReasonStale, ErrWrongShard: metrics.ReasonWrongShard, ErrVersion: metrics.ReasonVersion}
	want := map[string]float64{}
	for _, tc := range hostileCases() {
		if tc.kind != "" && tc.kind != fx.kind {
			continue
		}
		f.script = func(*pb.ComputeRequest) ([]*pb.Chunk, error) { _, cs := fx.valid(t); return tc.edit(cs), nil }
		if _, err := c.Call(context.Background(), "s1", fx.req, msg.Leaf(hostilePart)); !errors.Is(err, tc.want) {
			t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
		}
		want[reasons[tc.want]]++
	}
	f.script = func(*pb.ComputeRequest) ([]*pb.Chunk, error) {
		_, cs := fx.valid(t)
		return cs[:1], status.Error(codes.Unavailable, "going away")
	}
	if _, err := c.Call(context.Background(), "s1", fx.req, msg.Leaf(hostilePart)); status.Code(err) != codes.Unavailable {
		t.Fatalf("failed call: %v", err)
	}
	fs := metricstest.Gather(t, reg)
	for _, r := range []string{metrics.ReasonMalformed, metrics.ReasonStale, metrics.ReasonWrongShard, metrics.ReasonVersion, metrics.ReasonInvalid} {
		if got, _ := fs.Value("altmin_coordinator_refused_partials_total", "reason", r); got != want[r] {
			t.Errorf("refused for %s: %v, want %v", r, got, want[r])
		}
	}
	if want[metrics.ReasonMalformed] == 0 || want[metrics.ReasonStale] == 0 || want[metrics.ReasonWrongShard] == 0 || want[metrics.ReasonVersion] == 0 {
		t.Fatalf("the hostile table misses a reason: %v", want)
	}

	before, _ := fs.Value("altmin_coordinator_received_bytes_total")
	_, cs := fx.valid(t)
	size := 0
	for _, ch := range cs {
		size += proto.Size(ch)
	}
	f.script = func(*pb.ComputeRequest) ([]*pb.Chunk, error) { _, cs := fx.valid(t); return cs, nil }
	if _, err := c.Call(context.Background(), "s1", fx.req, msg.Leaf(hostilePart)); err != nil {
		t.Fatal(err)
	}
	after, _ := metricstest.Gather(t, reg).Value("altmin_coordinator_received_bytes_total")
	if after-before != float64(size) {
		t.Errorf("a valid reply of %d bytes added %v received bytes", size, after-before)
	}
}

// TestServerMetrics: the server counts its requests by kind and code,
// times the computations it runs (not the requests it refuses first), and
// sends the bytes its client receives.
func TestServerMetrics(t *testing.T) {
	ds := synthetic(t, "model=sum,d=4,k=2,n=300,seed=1", 3, false)
	s := serve(t, ds.engine(t, shard.Float64, 0, 1), ds.info("s1", shard.Float64, 0, 1))
	reg := prometheus.NewRegistry()
	s.srv.SetMetrics(metrics.NewShard(reg))
	s.c.SetMetrics(metrics.NewCoordinator(reg))
	req := statsRequest(newRand(5), 0, 4, 2)
	ctx := context.Background()
	for _, p := range []int{0, 1} {
		if _, err := s.c.Call(ctx, "s1", req, msg.Leaf(p)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.c.Call(ctx, "s1", req, msg.Leaf(2)); status.Code(err) != codes.NotFound {
		t.Fatalf("partition not held: %v, want NotFound", err)
	}
	if _, err := s.c.Call(ctx, "s2", req, msg.Leaf(0)); !errors.Is(err, ErrWrongShard) {
		t.Fatalf("request for another shard: %v, want ErrWrongShard", err)
	}
	sent := 0
	for _, n := range s.sizes.take() {
		sent += n
	}
	fs := metricstest.Gather(t, reg)
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"altmin_shard_requests_total", []string{"kind", "stats", "code", "OK"}, 2},
		{"altmin_shard_requests_total", []string{"kind", "stats", "code", "NotFound"}, 1},
		{"altmin_shard_requests_total", []string{"kind", "unknown", "code", "FailedPrecondition"}, 1},
		{"altmin_shard_compute_seconds", []string{"kind", "stats"}, 3},
		{"altmin_shard_sent_bytes_total", nil, float64(sent)},
		{"altmin_coordinator_received_bytes_total", nil, float64(sent)},
	} {
		if got, _ := fs.Value(tc.name, tc.labels...); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	if sent == 0 {
		t.Error("no bytes sent")
	}
}
