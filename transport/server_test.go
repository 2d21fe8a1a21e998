package transport

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"altmin/msg"
	pb "altmin/proto/altminpb"
	"altmin/shard"
)

// The server's side of Compute: refusals, error statuses, panics,
// cancellation, the release of buffers, health and Info.

// TestServerRefuses sends requests the client would refuse, and requests
// a shard cannot serve, straight to the server: each gets its status code,
// and the ones with a reason map back to their sentinel.
func TestServerRefuses(t *testing.T) {
	ds := synthetic(t, "model=sum,d=3,k=2,n=20,seed=2", 2, false)
	s := serve(t, ds.engine(t, shard.Float64, 0), ds.info("s", shard.Float64, 0))
	// validWire's requests are for partition 1 of 3 or 4 features.
	wire := func(kind string) *pb.ComputeRequest {
		r := validWire()[kind]
		r.Partition = 0
		if m := r.GetMoments12(); m != nil {
			m.D, m.Baseline = 3, &pb.Baseline{C: 1, B: []float64{1, 2, 3}, L: []float64{1, 0, 1}, S: []float64{0.5}}
		}
		if m := r.GetMoment4(); m != nil {
			m.D, m.V = 3, m.V[:6]
		}
		return r
	}
	cases := []struct {
		kind string
		name string
		edit func(r *pb.ComputeRequest)
		code codes.Code
		want error // the sentinel the client maps the status to, or nil
	}{
		{"stats", "ok", func(*pb.ComputeRequest) {}, codes.OK, nil},
		{"stats", "ok at iteration 0", func(r *pb.ComputeRequest) { s := r.GetStats(); s.Iter, s.HasPrev, s.Prev = 0, false, nil }, codes.OK, nil},
		{"deep", "ok", func(*pb.ComputeRequest) {}, codes.OK, nil},
		{"moments12", "ok", func(*pb.ComputeRequest) {}, codes.OK, nil},
		{"moment4", "ok", func(*pb.ComputeRequest) {}, codes.OK, nil},
		{"stats", "empty request", func(r *pb.ComputeRequest) { proto.Reset(r) }, codes.FailedPrecondition, ErrVersion},
		{"stats", "other shard", func(r *pb.ComputeRequest) { r.ShardId = "t" }, codes.FailedPrecondition, ErrWrongShard},
		{"moment4", "no shard id", func(r *pb.ComputeRequest) { r.ShardId = "" }, codes.FailedPrecondition, ErrWrongShard},
		{"stats", "no kind", func(r *pb.ComputeRequest) { r.Kind = nil }, codes.InvalidArgument, nil},
		{"stats", "partition not held", func(r *pb.ComputeRequest) { r.Partition = 1 }, codes.NotFound, nil},
		{"deep", "partition not held", func(r *pb.ComputeRequest) { r.Partition = 1 }, codes.NotFound, nil},
		{"moments12", "huge partition", func(r *pb.ComputeRequest) { r.Partition = math.MaxInt32 }, codes.NotFound, nil},
		{"stats", "negative partition", func(r *pb.ComputeRequest) { r.Partition = -1 }, codes.InvalidArgument, nil},
		{"stats", "other d", func(r *pb.ComputeRequest) { s := r.GetStats(); s.D, s.U, s.Prev = 2, s.U[:4], s.Prev[:4] }, codes.InvalidArgument, nil},
		{"deep", "other d", func(r *pb.ComputeRequest) {
			d := r.GetDeep()
			d.Net.Dims, d.Net.W, d.Prev = []int32{4, 2, 2}, make([]float64, 12), nil
		}, codes.InvalidArgument, nil},
		{"moments12", "other d", func(r *pb.ComputeRequest) { m := r.GetMoments12(); m.D, m.Baseline = 5, nil }, codes.InvalidArgument, nil},
		{"moment4", "other d", func(r *pb.ComputeRequest) { m := r.GetMoment4(); m.D, m.V = 4, make([]float64, 8) }, codes.InvalidArgument, nil},
		{"stats", "m over MaxM", func(r *pb.ComputeRequest) {
			s := r.GetStats()
			s.D, s.Signs, s.U, s.Prev = msg.MaxM+1, []float64{1}, make([]float64, msg.MaxM+1), make([]float64, msg.MaxM+1)
		}, codes.InvalidArgument, msg.ErrTooLarge},
		{"stats", "huge d, no weights", func(r *pb.ComputeRequest) { r.GetStats().D = math.MaxInt32 }, codes.InvalidArgument, msg.ErrTooLarge},
		{"stats", "huge k", func(r *pb.ComputeRequest) { r.GetStats().Signs = make([]float64, 5000) }, codes.InvalidArgument, msg.ErrTooLarge},
		{"deep", "too many weights", func(r *pb.ComputeRequest) { r.GetDeep().Net.Dims = []int32{3, 3000, 2} }, codes.InvalidArgument, msg.ErrTooLarge},
		{"deep", "too many layers", func(r *pb.ComputeRequest) { r.GetDeep().Net.Dims = make([]int32, msg.MaxLayers+2) }, codes.InvalidArgument, msg.ErrTooLarge},
		{"moments12", "d over MaxMomentD", func(r *pb.ComputeRequest) {
			r.GetMoments12().D, r.GetMoments12().Baseline = msg.MaxMomentD+1, nil
		}, codes.InvalidArgument, msg.ErrTooLarge},
		{"moment4", "projection too large", func(r *pb.ComputeRequest) {
			m := r.GetMoment4()
			m.D, m.K, m.V = 200, 100, make([]float64, 20000)
		}, codes.InvalidArgument, msg.ErrTooLarge},
		{"stats", "prev without has_prev", func(r *pb.ComputeRequest) { r.GetStats().HasPrev = false }, codes.InvalidArgument, nil},
		{"stats", "has_prev without prev", func(r *pb.ComputeRequest) { r.GetStats().Prev = nil }, codes.InvalidArgument, nil},
		{"stats", "short u", func(r *pb.ComputeRequest) { r.GetStats().U = r.GetStats().U[:5] }, codes.InvalidArgument, nil},
		{"stats", "sign 2", func(r *pb.ComputeRequest) { r.GetStats().Signs[1] = 2 }, codes.InvalidArgument, nil},
		{"stats", "NaN weight", func(r *pb.ComputeRequest) { r.GetStats().U[2] = math.NaN() }, codes.InvalidArgument, nil},
		{"stats", "negative iteration", func(r *pb.ComputeRequest) { r.GetStats().Iter = -1 }, codes.InvalidArgument, nil},
		{"deep", "no net", func(r *pb.ComputeRequest) { r.GetDeep().Net = nil }, codes.InvalidArgument, nil},
		{"deep", "short weights", func(r *pb.ComputeRequest) { r.GetDeep().Net.W = r.GetDeep().Net.W[:5] }, codes.InvalidArgument, nil},
		{"deep", "layer 3", func(r *pb.ComputeRequest) { r.GetDeep().Layers = []int32{1, 3} }, codes.InvalidArgument, nil},
		{"deep", "negative step", func(r *pb.ComputeRequest) { r.GetDeep().Step = -1 }, codes.InvalidArgument, nil},
		{"deep", "previous of another shape", func(r *pb.ComputeRequest) {
			r.GetDeep().Prev = &pb.DeepNet{Dims: []int32{3, 1, 2}, W: make([]float64, 5), Signs: []float64{1, -1}}
		}, codes.InvalidArgument, nil},
		{"moments12", "order 0", func(r *pb.ComputeRequest) { r.GetMoments12().Order = 0 }, codes.InvalidArgument, nil},
		{"moments12", "bad baseline", func(r *pb.ComputeRequest) { r.GetMoments12().Baseline.B = []float64{1} }, codes.InvalidArgument, nil},
		{"moment4", "k above d", func(r *pb.ComputeRequest) { m := r.GetMoment4(); m.K, m.V = 4, make([]float64, 12) }, codes.InvalidArgument, nil},
		{"moment4", "NaN projection", func(r *pb.ComputeRequest) { r.GetMoment4().V[3] = math.NaN() }, codes.InvalidArgument, nil},
	}
	for _, tc := range cases {
		t.Run(tc.kind+"/"+tc.name, func(t *testing.T) {
			r := wire(tc.kind)
			tc.edit(r)
			cs, err := drain(s.c.rpc.Compute(context.Background(), r))
			if status.Code(err) != tc.code {
				t.Fatalf("code %v (%v), want %v", status.Code(err), err, tc.code)
			}
			if tc.code == codes.OK && len(cs) == 0 {
				t.Fatal("stream ended without a chunk")
			}
			if err != nil && !strings.Contains(err.Error(), `shard "s"`) {
				t.Fatalf("%q does not name the shard", err)
			}
			mapped := fromStatus(err)
			for _, sentinel := range []error{ErrVersion, ErrWrongShard, msg.ErrTooLarge, msg.ErrData} {
				if errors.Is(mapped, sentinel) != (sentinel == tc.want) {
					t.Fatalf("%v maps to %v, want %v", err, mapped, tc.want)
				}
			}
			if tc.want == msg.ErrTooLarge {
				if ei := errorInfo(err); ei.GetReason() != reasonTooLarge || ei.GetDomain() != errDomain {
					t.Fatalf("detail %v", ei)
				}
			}
		})
	}

	// The Client maps the refusals it cannot foresee and keeps the code.
	req := &msg.StatsRequest{Iter: 0, D: 3, Signs: []float64{1, -1}, U: []float64{1, 2, 3, 4, 5, 6}}
	ctx := context.Background()
	if _, err := s.c.Call(ctx, "not-s", req, msg.Leaf(0)); !errors.Is(err, ErrWrongShard) || status.Code(err) != codes.FailedPrecondition ||
		!strings.Contains(err.Error(), `request for shard "not-s" reached shard "s"`) {
		t.Fatalf("wrong shard: %v (code %v)", err, status.Code(err))
	}
	if _, err := s.c.Call(ctx, "s", req, msg.Leaf(1)); status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "partition") {
		t.Fatalf("partition not held: %v (code %v)", err, status.Code(err))
	}
	other := &msg.Moments12Request{D: 4, Order: 1}
	if _, err := s.c.Call(ctx, "s", other, msg.Leaf(0)); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "d = 4") {
		t.Fatalf("another d: %v (code %v)", err, status.Code(err))
	}
}

// TestServerRandomRequests sends seeded random, mostly malformed requests
// of every kind: the server answers each with a chunk stream or a refusal,
// never an internal error, and never panics.
func TestServerRandomRequests(t *testing.T) {
	const seed = 3
	t.Logf("seed %d", seed)
	ds := synthetic(t, "model=sum,d=3,k=2,n=20,seed=2", 2, false)
	s := serve(t, ds.engine(t, shard.Float64, 0, 1), ds.info("s", shard.Float64, 0, 1))
	rng := newRand(seed)
	vals := []float64{0, 1, -1, 2, math.NaN(), math.Inf(-1), 1e308, -0.5}
	vec := func(v []float64) []float64 {
		if rng.IntN(4) == 0 {
			return nil
		}
		if rng.IntN(2) == 0 {
			v = make([]float64, rng.IntN(13))
		}
		for i := range v {
			if rng.IntN(3) == 0 {
				v[i] = vals[rng.IntN(len(vals))]
			}
		}
		return v
	}
	ints := func(v []int32) []int32 {
		v = append([]int32(nil), v...)
		for i := range v {
			if rng.IntN(3) == 0 {
				v[i] = int32(rng.IntN(6) - 1)
			}
		}
		return v
	}
	kinds := []string{"stats", "deep", "moments12", "moment4"}
	ok := 0
	for i := 0; i < 400; i++ {
		r := validWire()[kinds[i%4]]
		bad := func() bool { return rng.IntN(5) == 0 }
		if bad() {
			r.ProtocolVersion = uint32(rng.IntN(ProtocolVersion + 2))
		}
		if bad() {
			r.ShardId = []string{"s", "", "x"}[rng.IntN(3)]
		}
		if bad() {
			r.Partition = int32(rng.IntN(4) - 1)
		}
		switch k := r.GetKind().(type) {
		case *pb.ComputeRequest_Stats:
			s := k.Stats
			if bad() {
				s.Iter = rng.Int64N(5) - 1
			}
			if bad() {
				s.D = int32(rng.IntN(6) - 1)
			}
			if bad() {
				s.Signs = vec(s.Signs)
			}
			if bad() {
				s.U = vec(s.U)
			}
			if bad() {
				s.Prev = vec(s.Prev)
			}
			if bad() {
				s.HasPrev = false
			}
		case *pb.ComputeRequest_Deep:
			d := k.Deep
			if bad() {
				d.Step = rng.Int64N(5) - 1
			}
			if bad() {
				d.Net.Dims = ints(d.Net.Dims)
			}
			if bad() {
				d.Net.W = vec(d.Net.W)
			}
			if bad() {
				d.Net.Signs = vec(d.Net.Signs)
			}
			if bad() {
				d.Prev = nil
			}
			if bad() {
				d.Layers = ints(d.Layers)
			}
			if bad() {
				d.Joint = !d.Joint
			}
		case *pb.ComputeRequest_Moments12:
			m := k.Moments12
			if bad() {
				m.D = int32(rng.IntN(6) - 1)
			}
			if bad() {
				m.Order = int32(rng.IntN(4))
			}
			if bad() {
				m.Baseline.B = vec(m.Baseline.B)
			}
			if bad() {
				m.Baseline.L = vec(m.Baseline.L)
			}
			if bad() {
				m.Baseline = nil
			}
		case *pb.ComputeRequest_Moment4:
			m := k.Moment4
			if bad() {
				m.D = int32(rng.IntN(6) - 1)
			}
			if bad() {
				m.K = int32(rng.IntN(5) - 1)
			}
			if bad() {
				m.V = vec(m.V)
			}
		}
		if bad() {
			r.Kind = nil
		}
		_, err := drain(s.c.rpc.Compute(context.Background(), r))
		switch code := status.Code(err); code {
		case codes.OK:
			ok++
		case codes.FailedPrecondition, codes.InvalidArgument, codes.NotFound:
		default:
			t.Fatalf("request %d (%v): code %v: %v", i, r, code, err)
		}
	}
	t.Logf("%d of 400 random requests served", ok)
	if ok == 0 {
		t.Fatal("no random request was served: the mutations are too many")
	}
}

// recordingFetcher fetches with an engine and keeps the last partial and
// its Gram buffers as fetched.
type recordingFetcher struct {
	eng   *shard.Engine
	last  atomic.Pointer[msg.Partial]
	grams atomic.Pointer[[][]float64]
}

func (f *recordingFetcher) Fetch(ctx context.Context, req msg.Request, sp msg.Span) (msg.Partial, error) {
	p, err := f.eng.Fetch(ctx, req, sp)
	if err == nil {
		gs := grams(p)
		f.last.Store(&p)
		f.grams.Store(&gs)
	}
	return p, err
}

// inPool fails unless the pool holds exactly the buffers gs (taking them
// out).
func inPool(t *testing.T, what string, pool *msg.Pool, gs [][]float64) {
	t.Helper()
	if n, _ := pool.Idle(); n != len(gs) {
		t.Errorf("%s: the pool holds %d buffers, want %d", what, n, len(gs))
	}
	for i, g := range gs {
		if b := pool.Get(len(g)); &b[0] != &g[0] {
			t.Errorf("%s: Gram buffer %d is not in the pool", what, i)
		}
	}
}

// grams returns the Gram buffers of a partial.
func grams(p msg.Partial) [][]float64 {
	switch q := p.(type) {
	case *msg.Stats:
		return [][]float64{q.Gram}
	case *msg.DeepStats:
		var out [][]float64
		for _, sy := range q.Systems {
			out = append(out, sy.Gram)
		}
		return out
	}
	return nil
}

// chunkStream is the server's side of a Compute stream without gRPC: it
// keeps a copy of every chunk sent and calls onSend first.
type chunkStream struct {
	grpc.ServerStream // nil: only Context and Send are used
	ctx               context.Context
	sent              []*pb.Chunk
	onSend            func()
}

func (s *chunkStream) Context() context.Context { return s.ctx }

func (s *chunkStream) Send(c *pb.Chunk) error {
	if s.onSend != nil {
		s.onSend()
	}
	s.sent = append(s.sent, proto.Clone(c).(*pb.Chunk))
	return nil
}

// TestServerReleasesAfterSending checks that the server gives the
// partial's Gram buffers to its pool once the last chunk is sent, not
// before, and that the engine computes the next statistics in them.
func TestServerReleasesAfterSending(t *testing.T) {
	ds := synthetic(t, "model=sum,d=29,k=2,n=20,seed=2", 2, true) // m = 60
	rng := newRand(21)
	reqs := []msg.Request{
		&msg.StatsRequest{Iter: 0, D: ds.features(), Signs: ds.signs, U: ds.weights(rng)},
		&msg.DeepRequest{Step: 0, Net: randNetFor(rng, ds.features(), 3, 2), Layers: []int{1, 2}},
		&msg.Moments12Request{D: ds.features(), Order: 2},
	}
	f := &recordingFetcher{eng: ds.engine(t, shard.Float64, 1)}
	for _, req := range reqs {
		pool := msg.NewPool()
		f.eng.SetPool(pool)
		srv := NewServer(f, pool, ds.info("s", shard.Float64, 1), zaptest.NewLogger(t))
		wire, err := requestToProto(req, msg.Leaf(1), "s")
		if err != nil {
			t.Fatal(err)
		}
		// Twice: the second statistics are computed in the buffer the
		// first gave back.
		var before [][]float64
		for round := 0; round < 2; round++ {
			what := fmt.Sprintf("%s, round %d", req.Kind(), round)
			var p msg.Partial
			var gs [][]float64
			stream := &chunkStream{ctx: context.Background()}
			stream.onSend = func() {
				if p == nil {
					p, gs = *f.last.Load(), *f.grams.Load()
				}
				for i, g := range grams(p) {
					if g == nil {
						t.Fatalf("%s: Gram buffer %d released before chunk %d was sent", what, i, len(stream.sent))
					}
				}
			}
			if err := srv.Compute(wire, stream); err != nil {
				t.Fatal(err)
			}
			want, err := ds.engine(t, shard.Float64, 1).Fetch(context.Background(), req, msg.Leaf(1))
			if err != nil {
				t.Fatal(err)
			}
			got, err := assemble(t, req, 1, "s", nil, stream.sent)
			if err != nil {
				t.Fatal(err)
			}
			sameBits(t, what, got, want)
			for i, g := range grams(p) {
				if g != nil {
					t.Errorf("%s: Gram buffer %d not released after the reply", what, i)
				}
			}
			inPool(t, what, pool, gs)
			if _, ok := req.(*msg.StatsRequest); ok {
				if round == 1 && &gs[0][0] != &before[0][0] {
					t.Errorf("%s: the engine did not reuse the buffer given back", what)
				}
				pool.Put(gs[0]) // for the engine's next statistics
			}
			before = gs
		}
	}

	// Over gRPC: the buffers are back by the time the client has the reply.
	s := serve(t, f, ds.info("s", shard.Float64, 1))
	f.eng.SetPool(s.serverPool)
	for _, req := range reqs {
		if _, err := s.c.Call(context.Background(), "s", req, msg.Leaf(1)); err != nil {
			t.Fatal(err)
		}
		inPool(t, req.Kind().String()+" over gRPC", s.serverPool, *f.grams.Load())
	}
}

// TestServerMapsErrors checks the status of each error a fetcher returns,
// and the sentinel the client maps it back to: the message names the shard
// and the error.
func TestServerMapsErrors(t *testing.T) {
	var next atomic.Pointer[error]
	fetch := fetcherFunc(func(context.Context, msg.Request, msg.Span) (msg.Partial, error) { return nil, *next.Load() })
	s := serve(t, fetch, ShardInfo{ID: "s7", Schema: Schema{N: 4, D: 2, P: 1, Protocol: ProtocolVersion}})
	req := &msg.Moments12Request{D: 2, Order: 1}
	cases := []struct {
		name string
		err  error
		code codes.Code
		want error
	}{
		{"data unreadable", fmt.Errorf("%w: x.npy: short read", msg.ErrData), codes.DataLoss, msg.ErrData},
		{"too large", fmt.Errorf("%w: m = 9000", msg.ErrTooLarge), codes.InvalidArgument, msg.ErrTooLarge},
		{"partition not held", fmt.Errorf("%w: 3", msg.ErrNoPartition), codes.NotFound, nil},
		{"bad request", fmt.Errorf("%w: request for d = 2, partition 0 has d = 3", msg.ErrRequest), codes.InvalidArgument, nil},
		{"deadline while waiting", fmt.Errorf("waiting for a token: %w", context.DeadlineExceeded), codes.DeadlineExceeded, nil},
		{"cancelled while waiting", context.Canceled, codes.Canceled, nil},
		{"anything else", errors.New("disk on fire"), codes.Internal, nil},
	}
	for _, tc := range cases {
		next.Store(&tc.err)
		p, err := s.c.Call(context.Background(), "s7", req, msg.Leaf(0))
		if p != nil || status.Code(err) != tc.code || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, %v (code %v); want code %v and %v", tc.name, p, err, status.Code(err), tc.code, tc.want)
			continue
		}
		if tc.code != codes.Canceled && tc.code != codes.DeadlineExceeded && (!strings.Contains(err.Error(), `shard "s7"`) || !strings.Contains(err.Error(), tc.err.Error())) {
			t.Errorf("%s: %q does not name the shard and %q", tc.name, err, tc.err)
		}
	}
}

// TestServerRecoversPanics checks that a fetcher that panics, or returns
// no partial, costs one call an Internal status (without the panic's
// text) and not the server.
func TestServerRecoversPanics(t *testing.T) {
	var calls atomic.Int64
	fetch := fetcherFunc(func(_ context.Context, _ msg.Request, sp msg.Span) (msg.Partial, error) {
		switch calls.Add(1) {
		case 1:
			panic("kernel bug")
		case 2:
			return nil, nil
		case 3:
			return (*msg.Moments12)(nil), nil
		}
		return &msg.Moments12{Partition: sp.Lo, Parts: sp.N, Order: 1, Rows: 1, D: 2, SumY: 1, SumYX: []float64{1, 2}, SumX: []float64{3, 4}}, nil
	})
	s := serve(t, fetch, ShardInfo{ID: "s", Schema: Schema{N: 4, D: 2, P: 1, Protocol: ProtocolVersion}})
	req := &msg.Moments12Request{D: 2, Order: 1}
	for i, what := range []string{"panic", "nil partial", "typed nil partial"} {
		_, err := s.c.Call(context.Background(), "s", req, msg.Leaf(0))
		if status.Code(err) != codes.Internal || strings.Contains(err.Error(), "kernel bug") || !strings.Contains(err.Error(), "internal error") {
			t.Fatalf("call %d, %s: %v (code %v), want Internal", i+1, what, err, status.Code(err))
		}
	}
	got, err := s.c.Call(context.Background(), "s", req, msg.Leaf(0))
	if err != nil {
		t.Fatalf("after the panics: %v", err)
	}
	sameBits(t, "after the panics", got, &msg.Moments12{Partition: 0, Order: 1, Rows: 1, D: 2, SumY: 1, SumYX: []float64{1, 2}, SumX: []float64{3, 4}})
}

// TestServerCancelled checks that the server honours its call's context:
// a call whose context is done is refused before the fetcher runs, a
// fetcher waiting for an engine's computation token gives up when the
// call is cancelled, and a client that cancels mid-call gets Canceled.
func TestServerCancelled(t *testing.T) {
	ds := synthetic(t, "model=sum,d=3,k=2,n=20,seed=2", 1, false)
	req := &msg.StatsRequest{Iter: 0, D: 3, Signs: ds.signs, U: ds.weights(newRand(1))}
	wire, err := requestToProto(req, msg.Leaf(0), "s")
	if err != nil {
		t.Fatal(err)
	}

	// Done before the call: the fetcher is not called.
	var fetched atomic.Int64
	fetch := fetcherFunc(func(context.Context, msg.Request, msg.Span) (msg.Partial, error) {
		fetched.Add(1)
		return nil, errors.New("fetched")
	})
	srv := NewServer(fetch, nil, ds.info("s", shard.Float64, 0), zaptest.NewLogger(t))
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel2()
	for _, c := range []struct {
		ctx  context.Context
		code codes.Code
	}{{cancelled, codes.Canceled}, {expired, codes.DeadlineExceeded}} {
		stream := &chunkStream{ctx: c.ctx}
		if err := srv.Compute(wire, stream); status.Code(err) != c.code || len(stream.sent) != 0 {
			t.Fatalf("context done: %v, %d chunks; want %v", err, len(stream.sent), c.code)
		}
	}
	if n := fetched.Load(); n != 0 {
		t.Fatalf("the fetcher was called %d times", n)
	}

	// Waiting for the engine's only computation token, held here: the call
	// returns once cancelled, without it.
	eng := ds.engine(t, shard.Float64, 0)
	eng.SetParallel(1)
	release, err := eng.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	srv = NewServer(eng, nil, ds.info("s", shard.Float64, 0), zaptest.NewLogger(t))
	ctx, cancel3 := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- srv.Compute(wire, &chunkStream{ctx: ctx}) }()
	cancel3()
	if err := <-done; status.Code(err) != codes.Canceled {
		t.Fatalf("cancelled while waiting for a token: %v", err)
	}
	release()

	// Over gRPC: the client cancels while the fetcher runs; the fetcher
	// sees its context cancelled.
	started, saw := make(chan struct{}), make(chan error, 1)
	block := fetcherFunc(func(ctx context.Context, _ msg.Request, _ msg.Span) (msg.Partial, error) {
		close(started)
		<-ctx.Done()
		saw <- ctx.Err()
		return nil, ctx.Err()
	})
	s := serve(t, block, ds.info("s", shard.Float64, 0))
	ctx, cancel4 := context.WithCancel(context.Background())
	go func() { <-started; cancel4() }()
	if _, err := s.c.Call(ctx, "s", req, msg.Leaf(0)); status.Code(err) != codes.Canceled {
		t.Fatalf("cancelled mid-call: %v", err)
	}
	if err := <-saw; !errors.Is(err, context.Canceled) {
		t.Fatalf("the fetcher saw %v", err)
	}
}

func TestHealth(t *testing.T) {
	ds := synthetic(t, "model=sum,d=4,k=2,n=10,seed=1", 1, false)
	s := serve(t, ds.engine(t, shard.Float64, 0), ds.info("h", shard.Float64, 0))
	hc := healthpb.NewHealthClient(s.c.conn)
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
	s.srv.SetServing(false)
	check(healthpb.HealthCheckResponse_NOT_SERVING)
	s.srv.SetServing(true)
	check(healthpb.HealthCheckResponse_SERVING)
	if ServiceName != pb.Shard_ServiceDesc.ServiceName {
		t.Fatalf("ServiceName %q, the service is %q", ServiceName, pb.Shard_ServiceDesc.ServiceName)
	}
}

func TestInfo(t *testing.T) {
	ds := synthetic(t, "model=sum,d=4,k=2,n=10,seed=1", 3, true)
	info := ds.info("s7", shard.Float32, 0, 2)
	info.Schema.Arith = "amd64/v1"
	s := serve(t, ds.engine(t, shard.Float32, 0, 2), info)
	info.Schema.Rows[1] = 3 // the server keeps its own copy
	got, err := s.c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := ds.info("s7", shard.Float32, 0, 2).Schema
	want.Arith = "amd64/v1"
	if want.Rows[0] != 3 || want.Rows[2] != 4 { // data.Bounds(10, 3, p)
		t.Fatalf("rows %v", want.Rows)
	}
	if got.ID != "s7" || !got.Schema.Equal(want) || got.Schema.Features() != 5 {
		t.Fatalf("Info = %+v, want id s7, schema %+v", got, want)
	}
	mine := s.srv.ShardInfo()
	if !mine.Schema.Equal(want) {
		t.Fatalf("ShardInfo() = %+v", mine)
	}
	mine.Schema.Rows[1] = 3
	if s.srv.ShardInfo().Schema.Rows[1] != 0 {
		t.Fatal("ShardInfo shares the server's rows")
	}
	// Without a logger the server discards its logs.
	r, err := NewServer(ds.engine(t, shard.Float32, 0, 2), nil, info, nil).Info(context.Background(), &pb.InfoRequest{})
	if err != nil || r.GetShardId() != "s7" {
		t.Fatalf("server without a logger: %v, %v", r, err)
	}
}
