package transport

import (
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"altmin/data"
	"altmin/linalg"
	pb "altmin/proto/altminpb"
	"altmin/shard"
)

// sameBits fails unless a and b are bit-identical statistics.
func sameBits(t *testing.T, what string, a, b *shard.Stats) {
	t.Helper()
	if a.Iter != b.Iter || a.Partition != b.Partition || a.Rows != b.Rows || a.M != b.M || a.Flips != b.Flips {
		t.Fatalf("%s: header (iter %d, part %d, rows %d, m %d, flips %d), want (%d, %d, %d, %d, %d)",
			what, a.Iter, a.Partition, a.Rows, a.M, a.Flips, b.Iter, b.Partition, b.Rows, b.M, b.Flips)
	}
	eq := func(name string, x, y []float64) {
		if len(x) != len(y) {
			t.Fatalf("%s: %s has %d values, want %d", what, name, len(x), len(y))
		}
		for i := range x {
			if math.Float64bits(x[i]) != math.Float64bits(y[i]) {
				t.Fatalf("%s: %s[%d] = %v, want %v", what, name, i, x[i], y[i])
			}
		}
	}
	eq("gram", a.Gram, b.Gram)
	eq("r", a.R, b.R)
	eq("yy, sse", []float64{a.YY, a.SSE}, []float64{b.YY, b.SSE})
}

// TestStepChunkedBitIdentical streams the statistics of m = d*k = 1500
// (1,125,750 Gram values, 10 chunks) and compares them bit for bit with
// Engine.Compute called directly on the same partitions.
func TestStepChunkedBitIdentical(t *testing.T) {
	const seed = 11
	t.Logf("seed %d", seed)
	pr := newProblem(t, "model=sum,d=149,k=10,n=90,seed=5", 2, true) // d = 150 with bias
	served, direct := pr.engine(t, 0, 1), pr.engine(t, 0, 1)
	c, _, sizes := serveEngine(t, served, ShardInfo{ID: "s1", Schema: pr.schema()})
	rng := rand.New(rand.NewPCG(seed, 0))
	ctx := context.Background()

	var prev []float64
	for iter := 0; iter < 2; iter++ {
		req := &shard.Request{Iter: iter, D: pr.features(), Signs: pr.signs, U: pr.weights(rng), Prev: prev}
		if m := len(req.U); m != 1500 {
			t.Fatalf("m = %d, want 1500", m)
		}
		for part := 0; part < 2; part++ {
			got, err := c.Step(ctx, "s1", req, part)
			if err != nil {
				t.Fatal(err)
			}
			want, err := direct.Compute(req, part)
			if err != nil {
				t.Fatal(err)
			}
			sameBits(t, "step", got, want)
			sz := sizes.take()
			wantChunks := (linalg.PackedLen(1500) + 1500 + ChunkDoubles - 1) / ChunkDoubles
			if len(sz) != wantChunks {
				t.Errorf("iter %d partition %d: %d chunks, want %d", iter, part, len(sz), wantChunks)
			}
			for i, n := range sz {
				if n > ChunkBytes {
					t.Errorf("chunk %d is %d bytes, more than %d", i, n, ChunkBytes)
				}
			}
			if iter == 0 && part == 0 {
				t.Logf("chunk sizes (bytes): %v", sz)
			}
		}
		prev = req.U
	}
}

func TestInfo(t *testing.T) {
	pr := newProblem(t, "model=sum,d=4,k=2,n=10,seed=1", 3, false)
	c, srv, _ := serveEngine(t, pr.engine(t, 0, 2), ShardInfo{ID: "s7", Schema: pr.schema()})
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := pr.schema()
	want.Rows = map[int]int{0: 3, 2: 4} // data.Bounds(10, 3, p)
	if info.ID != "s7" || !info.Schema.Equal(want) {
		t.Fatalf("info = %+v, want id s7, schema %+v", info, want)
	}
	if got := srv.ShardInfo(); !got.Schema.Equal(want) {
		t.Fatalf("ShardInfo() = %+v", got)
	}
}

func TestHealth(t *testing.T) {
	pr := newProblem(t, "model=sum,d=4,k=2,n=10,seed=1", 1, false)
	c, srv, _ := serveEngine(t, pr.engine(t, 0), ShardInfo{ID: "h", Schema: pr.schema()})
	hc := healthpb.NewHealthClient(c.conn)
	check := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		for _, svc := range []string{"", ServiceName} {
			r, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: svc})
			if err != nil {
				t.Fatal(err)
			}
			if r.GetStatus() != want {
				t.Fatalf("health of %q = %v, want %v", svc, r.GetStatus(), want)
			}
		}
	}
	check(healthpb.HealthCheckResponse_SERVING)
	srv.SetServing(false)
	check(healthpb.HealthCheckResponse_NOT_SERVING)
}

// TestServerRefuses sends malformed requests with the raw generated client
// and checks the status codes.
func TestServerRefuses(t *testing.T) {
	pr := newProblem(t, "model=sum,d=3,k=2,n=20,seed=2", 2, false)
	c, _, _ := serveEngine(t, pr.engine(t, 0), ShardInfo{ID: "s", Schema: pr.schema()})
	raw := pb.NewShardClient(c.conn)
	good := func() *pb.StepRequest {
		return &pb.StepRequest{
			ProtocolVersion: ProtocolVersion, ShardId: "s", Iter: 3, Partition: 0, D: 3,
			Signs: []float64{1, -1}, U: []float64{1, 2, 3, 4, 5, 6},
		}
	}
	cases := []struct {
		name  string
		edit  func(r *pb.StepRequest)
		code  codes.Code
		sentl error // sentinel the Client maps the status to, or nil
	}{
		{"ok", func(*pb.StepRequest) {}, codes.OK, nil},
		{"ok with prev", func(r *pb.StepRequest) { r.HasPrev, r.Prev = true, []float64{1, 1, 1, 1, 1, 1} }, codes.OK, nil},
		{"version 0", func(r *pb.StepRequest) { r.ProtocolVersion = 0 }, codes.FailedPrecondition, ErrVersion},
		{"version 1", func(r *pb.StepRequest) { r.ProtocolVersion = 1 }, codes.OK, nil},
		{"version 3", func(r *pb.StepRequest) { r.ProtocolVersion = MaxProtocolVersion + 1 }, codes.FailedPrecondition, ErrVersion},
		{"empty request", func(r *pb.StepRequest) { *r = pb.StepRequest{} }, codes.FailedPrecondition, ErrVersion},
		{"other shard", func(r *pb.StepRequest) { r.ShardId = "t" }, codes.FailedPrecondition, ErrWrongShard},
		{"no shard id", func(r *pb.StepRequest) { r.ShardId = "" }, codes.FailedPrecondition, ErrWrongShard},
		{"unknown partition", func(r *pb.StepRequest) { r.Partition = 1 }, codes.NotFound, nil},
		{"huge partition", func(r *pb.StepRequest) { r.Partition = math.MaxInt32 }, codes.NotFound, nil},
		{"negative partition", func(r *pb.StepRequest) { r.Partition = -1 }, codes.InvalidArgument, nil},
		{"negative iter", func(r *pb.StepRequest) { r.Iter = -1 }, codes.InvalidArgument, nil},
		{"m over MaxM", func(r *pb.StepRequest) {
			r.D, r.Signs, r.U = MaxM+1, []float64{1}, make([]float64, MaxM+1)
		}, codes.InvalidArgument, ErrTooLarge},
		{"huge d, no weights", func(r *pb.StepRequest) { r.D = math.MaxInt32 }, codes.InvalidArgument, ErrTooLarge},
		{"huge k", func(r *pb.StepRequest) { r.Signs = make([]float64, 5000) }, codes.InvalidArgument, ErrTooLarge},
		{"negative d", func(r *pb.StepRequest) { r.D = -3 }, codes.InvalidArgument, nil},
		{"d of another data set", func(r *pb.StepRequest) { r.D, r.U = 2, []float64{1, 2, 3, 4} }, codes.InvalidArgument, nil},
		{"short u", func(r *pb.StepRequest) { r.U = r.U[:5] }, codes.InvalidArgument, nil},
		{"nil u", func(r *pb.StepRequest) { r.U = nil }, codes.InvalidArgument, nil},
		{"no signs", func(r *pb.StepRequest) { r.Signs = nil }, codes.InvalidArgument, nil},
		{"sign 2", func(r *pb.StepRequest) { r.Signs[1] = 2 }, codes.InvalidArgument, nil},
		{"NaN weight", func(r *pb.StepRequest) { r.U[2] = math.NaN() }, codes.InvalidArgument, nil},
		{"Inf prev", func(r *pb.StepRequest) { r.HasPrev, r.Prev = true, []float64{1, 1, math.Inf(1), 1, 1, 1} }, codes.InvalidArgument, nil},
		{"short prev", func(r *pb.StepRequest) { r.HasPrev, r.Prev = true, []float64{1} }, codes.InvalidArgument, nil},
		{"has_prev, empty prev", func(r *pb.StepRequest) { r.HasPrev = true }, codes.InvalidArgument, nil},
		{"prev without has_prev", func(r *pb.StepRequest) { r.Prev = []float64{1, 1, 1, 1, 1, 1} }, codes.InvalidArgument, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := good()
			tc.edit(r)
			stream, err := raw.Step(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			var n int
			for err == nil {
				_, err = stream.Recv()
				n++
			}
			code := status.Code(err)
			if errors.Is(err, io.EOF) {
				if n < 2 {
					t.Fatal("stream ended without a chunk")
				}
				code = codes.OK
			}
			if code != tc.code {
				t.Fatalf("code %v (%v), want %v", code, err, tc.code)
			}
			if tc.sentl != nil && !errors.Is(fromStatus(err), tc.sentl) {
				t.Fatalf("%v does not map to %v", err, tc.sentl)
			}
		})
	}

	// The Client maps a refusal to a sentinel and keeps the status code.
	req := &shard.Request{Iter: 1, D: 3, Signs: []float64{1, -1}, U: []float64{1, 2, 3, 4, 5, 6}}
	_, err := c.Step(context.Background(), "not-s", req, 0)
	if !errors.Is(err, ErrWrongShard) || status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("wrong shard: %v (code %v), want ErrWrongShard and FailedPrecondition", err, status.Code(err))
	}
	_, err = c.Step(context.Background(), "s", req, 1)
	if status.Code(err) != codes.NotFound {
		t.Fatalf("unknown partition: %v (code %v), want NotFound", err, status.Code(err))
	}
}

// TestServerRandomRequests sends seeded random, mostly malformed requests:
// the server answers every one with a status and never panics.
func TestServerRandomRequests(t *testing.T) {
	const seed = 3
	t.Logf("seed %d", seed)
	pr := newProblem(t, "model=sum,d=3,k=2,n=20,seed=2", 2, false)
	c, _, _ := serveEngine(t, pr.engine(t, 0, 1), ShardInfo{ID: "s", Schema: pr.schema()})
	raw := pb.NewShardClient(c.conn)
	rng := rand.New(rand.NewPCG(seed, 0))
	vals := []float64{0, 1, -1, 2, math.NaN(), math.Inf(-1), 1e308, -0.5}
	vec := func() []float64 {
		if rng.IntN(4) == 0 {
			return nil
		}
		v := make([]float64, rng.IntN(9))
		for i := range v {
			v[i] = vals[rng.IntN(len(vals))]
		}
		return v
	}
	ok := 0
	for i := 0; i < 300; i++ {
		// A valid request with each field replaced at random, a quarter of
		// the time.
		r := &pb.StepRequest{
			ProtocolVersion: ProtocolVersion, ShardId: "s", Iter: 2, Partition: 1, D: 3,
			Signs: []float64{1, -1}, U: []float64{1, 2, 3, 4, 5, 6},
			HasPrev: true, Prev: []float64{6, 5, 4, 3, 2, 1},
		}
		bad := func() bool { return rng.IntN(4) == 0 }
		if bad() {
			r.ProtocolVersion = uint32(rng.IntN(MaxProtocolVersion + 2))
		}
		if bad() {
			r.ShardId = []string{"s", "", "x"}[rng.IntN(3)]
		}
		if bad() {
			r.Iter = rng.Int64N(5) - 1
		}
		if bad() {
			r.Partition = int32(rng.IntN(4) - 1)
		}
		if bad() {
			r.D = int32(rng.IntN(6) - 1)
		}
		if bad() {
			r.Signs = vec()
		}
		if bad() {
			r.U = vec()
		}
		if bad() {
			r.Prev = vec()
		}
		if bad() {
			r.HasPrev = false
		}
		stream, err := raw.Step(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		for err == nil {
			_, err = stream.Recv()
		}
		if errors.Is(err, io.EOF) {
			ok++
			continue
		}
		switch code := status.Code(err); code {
		case codes.FailedPrecondition, codes.InvalidArgument, codes.NotFound:
		default:
			t.Fatalf("request %d (%v): code %v: %v", i, r, code, err)
		}
	}
	t.Logf("%d of 300 random requests succeeded", ok)
}

// flaky fails every read once broken is set.
type flaky struct {
	*data.Synthetic
	broken bool
}

func (f *flaky) Read(lo, hi int, x, y []float64) error {
	if f.broken {
		return errors.New("disk gone")
	}
	return f.Synthetic.Read(lo, hi, x, y)
}

// TestStepUnreadableData: a streaming shard that cannot read a partition's
// rows answers DataLoss with a reason the client maps to shard.ErrData,
// naming the partition; the streaming shard otherwise serves the same
// statistics as an in-memory one.
func TestStepUnreadableData(t *testing.T) {
	p := newProblem(t, "model=sum,d=4,k=2,n=300,seed=3", 3, false)
	src := &flaky{Synthetic: p.src}
	eng, err := shard.NewStreamingEngine(shard.StreamConfig{Source: src, Partitions: 3, IDs: []int{0, 2}, Storage: shard.Float64, Resident: 1})
	if err != nil {
		t.Fatal(err)
	}
	c, _, _ := serveEngine(t, eng, ShardInfo{ID: "s1", Schema: p.schema()})
	req := &shard.Request{D: p.features(), Signs: p.signs, U: p.weights(rand.New(rand.NewPCG(1, 0)))}
	got, err := c.Step(context.Background(), "s1", req, 2)
	if err != nil {
		t.Fatal(err)
	}
	want, err := p.engine(t, 2).Compute(req, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Gram, want.Gram) || !slices.Equal(got.R, want.R) || got.SSE != want.SSE {
		t.Fatal("streamed partition's statistics differ from the in-memory engine's")
	}
	src.broken = true
	_, err = c.Step(context.Background(), "s1", req, 0)
	if !errors.Is(err, shard.ErrData) || status.Code(err) != codes.DataLoss || !strings.Contains(err.Error(), "partition 0") || !strings.Contains(err.Error(), "disk gone") {
		t.Fatalf("Step of an unreadable partition: %v (code %s), want DataLoss wrapping shard.ErrData", err, status.Code(err))
	}
}
