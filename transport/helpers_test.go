package transport

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	"altmin/data"
	"altmin/linalg"
	"altmin/model"
	"altmin/msg"
	pb "altmin/proto/altminpb"
	"altmin/shard"
)

// dialBuf serves the services registered by register on an in-memory
// listener (no ports) and returns a client of it that takes the Gram
// buffers of the partials it assembles from pool. Both end with the test.
func dialBuf(t *testing.T, pool *msg.Pool, register func(*grpc.Server), sopts ...grpc.ServerOption) *Client {
	t.Helper()
	return dialBufOpts(t, pool, register, sopts, nil)
}

func dialBufOpts(t *testing.T, pool *msg.Pool, register func(*grpc.Server), sopts []grpc.ServerOption, dopts []grpc.DialOption) *Client {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer(sopts...)
	register(gs)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	opts := append([]grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	}, dopts...)
	c, err := Dial(context.Background(), "passthrough:///bufconn", pool, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// dataset is planted data split into partitions: a 1-hidden-layer teacher
// (signs) or a deep one (hidden).
type dataset struct {
	src    data.Source
	desc   string
	parts  int
	bias   bool
	signs  []float64 // output signs of a 1-hidden-layer teacher
	hidden []int     // hidden widths of a deep teacher
}

func synthetic(t *testing.T, spec string, parts int, bias bool) *dataset {
	t.Helper()
	g, err := data.ParseSynthetic(spec)
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := g.Teacher()
	return &dataset{src: g, desc: g.String(), parts: parts, bias: bias, signs: ms.Signs}
}

func deepTeacher(t *testing.T, spec string, parts int, bias bool) *dataset {
	t.Helper()
	g, err := data.ParseDeepTeacher(spec)
	if err != nil {
		t.Fatal(err)
	}
	return &dataset{src: g, desc: g.String(), parts: parts, bias: bias, hidden: g.Dims[1:]}
}

// engine loads the given partitions into a fresh in-memory engine.
func (ds *dataset) engine(t *testing.T, st shard.Storage, ids ...int) *shard.Engine {
	t.Helper()
	var ps []*shard.Partition
	for _, id := range ids {
		p, err := shard.LoadAs(ds.src, ds.parts, id, ds.bias, st)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	eng, err := shard.NewEngine(ps...)
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// info describes shard id holding partitions ids in storage st.
func (ds *dataset) info(id string, st shard.Storage, ids ...int) ShardInfo {
	n := ds.src.Info()
	s := Schema{N: n.N, D: n.D, P: ds.parts, Bias: ds.bias, DType: string(st), Fingerprint: ds.desc, Protocol: ProtocolVersion}
	if len(ids) > 0 {
		s.Rows = make(map[int]int)
	}
	for _, p := range ids {
		lo, hi := data.Bounds(n.N, ds.parts, p)
		s.Rows[p] = hi - lo
	}
	return ShardInfo{ID: id, Schema: s}
}

// features returns the features per row of a request, bias included.
func (ds *dataset) features() int {
	if ds.bias {
		return ds.src.Info().D + 1
	}
	return ds.src.Info().D
}

// weights returns seeded random effective weights of a 1-hidden-layer
// model, k x d.
func (ds *dataset) weights(rng *rand.Rand) []float64 {
	d := ds.features()
	u := make([]float64, len(ds.signs)*d)
	for i := range u {
		u[i] = rng.NormFloat64() / float64(d)
	}
	return u
}

// net returns a seeded random network for a deep teacher's data.
func (ds *dataset) net(seed uint64) *model.Net {
	n := data.RandomNet(model.NewNet(append([]int{ds.features()}, ds.hidden...)...), seed)
	for q := range n.V {
		n.V[q] = float64(1 - 2*(q%2))
	}
	return n
}

// awkward are values whose bits are easily lost on the way.
var awkward = []float64{0, math.Copysign(0, -1), 5e-324, -5e-324, 0x1p-1022, -math.MaxFloat64, math.MaxFloat64, 1.0 / 3, math.Nextafter(1, 2)}

// fill sets v to seeded random values, a quarter of them awkward.
func fill(rng *rand.Rand, v []float64) {
	for i := range v {
		v[i] = rng.NormFloat64()
		if rng.IntN(4) == 0 {
			v[i] = awkward[rng.IntN(len(awkward))]
		}
	}
}

func randVec(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	fill(rng, v)
	return v
}

func randSigns(rng *rand.Rand, k int) []float64 {
	s := make([]float64, k)
	for i := range s {
		s[i] = float64(1 - 2*rng.IntN(2))
	}
	return s
}

// statsRequest returns a seeded random request of iteration iter with
// previous weights exactly when iter > 0.
func statsRequest(rng *rand.Rand, iter, d, k int) *msg.StatsRequest {
	r := &msg.StatsRequest{Iter: iter, D: d, Signs: randSigns(rng, k), U: randVec(rng, d*k)}
	if iter > 0 {
		r.Prev = randVec(rng, d*k)
	}
	return r
}

func randNet(rng *rand.Rand, dims ...int) *model.Net {
	n := model.NewNet(dims...)
	for _, w := range n.W {
		fill(rng, w)
	}
	n.V = randSigns(rng, dims[len(dims)-1])
	return n
}

// deepRequests returns the deep requests of every shape for net at step:
// evaluation only, the last layer, every layer, joint; with and without
// previous weights.
func deepRequests(rng *rand.Rand, net *model.Net, step int) []*msg.DeepRequest {
	prev := net.Clone()
	for _, w := range prev.W {
		fill(rng, w)
	}
	all := make([]int, net.Layers())
	for l := range all {
		all[l] = l + 1
	}
	return []*msg.DeepRequest{
		{Step: step, Net: net},
		{Step: step, Net: net, Layers: []int{net.Layers()}, Prev: prev},
		{Step: step, Net: net, Layers: all, Prev: prev},
		{Step: step, Net: net, Layers: all, Joint: true, Prev: prev},
		{Step: step, Net: net, Layers: all, Joint: true},
	}
}

func randBaseline(rng *rand.Rand, d, r int) *msg.Baseline {
	return &msg.Baseline{C: rng.NormFloat64(), B: randVec(rng, d), L: randVec(rng, d*r), S: randVec(rng, r)}
}

// namedRequest is a request of a table.
type namedRequest struct {
	name string
	req  msg.Request
}

// sampleRequests returns small seeded random requests of every kind and
// shape.
func sampleRequests(rng *rand.Rand) []namedRequest {
	out := []namedRequest{
		{"stats iter 0", statsRequest(rng, 0, 4, 3)},
		{"stats iter 5", statsRequest(rng, 5, 3, 2)},
		{"stats m 1", statsRequest(rng, 1, 1, 1)},
	}
	for i, r := range deepRequests(rng, randNet(rng, 3, 2, 2), 4) {
		out = append(out, namedRequest{fmt.Sprintf("deep %d", i), r})
	}
	for i, r := range deepRequests(rng, randNet(rng, 2, 3, 1, 2), 0) {
		out = append(out, namedRequest{fmt.Sprintf("deep 3 layers %d", i), r})
	}
	linear := statsRequest(rng, 2, 4, 3)
	linear.Signs[2], linear.Linear, linear.Transform, linear.Split = 1, true, randAffine(rng, 4, 3), &msg.Split{Fraction: 0.2, Seed: rng.Uint64()}
	revived := statsRequest(rng, 3, 4, 3)
	revived.Revive, revived.ReviveW = []int{0, 2}, randVec(rng, 8)
	standardized := deepRequests(rng, randNet(rng, 3, 2, 2), 6)[3]
	standardized.Transform, standardized.Split = randAffine(rng, 3, 3), &msg.Split{From: 1 + rng.IntN(1000)}
	skip := randNet(rng, 4, 3, 1)
	skip.Skip = randVec(rng, 4)
	return append(out,
		namedRequest{"stats linear, transform, split", linear},
		namedRequest{"stats revived units", revived},
		namedRequest{"stats transform only", &msg.StatsRequest{D: 2, Signs: randSigns(rng, 2), U: randVec(rng, 4), Transform: randAffine(rng, 2, 0)}},
		namedRequest{"deep transform, split", standardized},
		namedRequest{"deep linear term", &msg.DeepRequest{Step: 1, Net: skip, Layers: []int{1, 2}, Joint: true, Split: &msg.Split{Fraction: 0.5}}},
		namedRequest{"moments12 order 1", &msg.Moments12Request{D: 5, Order: 1}},
		namedRequest{"moments12 order 2", &msg.Moments12Request{D: 6, Order: 2, Base: randBaseline(rng, 6, 2)}},
		namedRequest{"moments12 linear baseline", &msg.Moments12Request{D: 3, Order: 2, Base: &msg.Baseline{C: 0.5, B: randVec(rng, 3)}}},
		namedRequest{"moments12 transform, split", &msg.Moments12Request{D: 4, Order: 2, Transform: randAffine(rng, 4, 2), Split: randSplit(rng)}},
		namedRequest{"moment4", &msg.Moment4Request{D: 6, K: 3, V: randVec(rng, 18)}},
		namedRequest{"moment4 baseline", &msg.Moment4Request{D: 4, K: 4, V: randVec(rng, 16), Base: randBaseline(rng, 4, 1)}},
		namedRequest{"moment4 transform, split", &msg.Moment4Request{D: 4, K: 2, V: randVec(rng, 8), Transform: randAffine(rng, 4, 4), Split: randSplit(rng)}},
		namedRequest{"summary", &msg.SummaryRequest{D: 3, Samples: 4, Seed: rng.Uint64(), Split: &msg.Split{Fraction: 0.1, Seed: rng.Uint64()}}},
		namedRequest{"summary without samples", &msg.SummaryRequest{D: 5}},
		namedRequest{"summary of one feature", &msg.SummaryRequest{D: 1, Samples: 1, Seed: 1, Split: &msg.Split{From: 40}}},
	)
}

// positive are awkward positive values: valid scales.
var positive = []float64{5e-324, 0x1p-1022, math.MaxFloat64, 1.0 / 3, math.Nextafter(1, 2)}

// randAffine returns a seeded random valid transform of n of d features
// (n <= d), awkward values included.
func randAffine(rng *rand.Rand, d, n int) *msg.Affine {
	if n > d {
		panic("randAffine: n > d")
	}
	scale := func() float64 {
		if rng.IntN(4) == 0 {
			return positive[rng.IntN(len(positive))]
		}
		return 0.01 + math.Abs(rng.NormFloat64())
	}
	a := &msg.Affine{XShift: randVec(rng, n), XScale: make([]float64, n), YShift: randVec(rng, 1)[0], YScale: scale()}
	for j := range a.XScale {
		a.XScale[j] = scale()
	}
	return a
}

// randSplit returns a seeded random valid split: by a fraction in (0, 1)
// or from a row on.
func randSplit(rng *rand.Rand) *msg.Split {
	if rng.IntN(2) == 0 {
		return &msg.Split{From: 1 + rng.IntN(1<<40), Seed: rng.Uint64()}
	}
	return &msg.Split{Fraction: max(rng.Float64(), 1e-9), Seed: rng.Uint64()}
}

// randPartial returns a seeded random partial of partition part answering
// req, awkward values included.
func randPartial(rng *rand.Rand, req msg.Request, part int) msg.Partial {
	switch r := req.(type) {
	case *msg.StatsRequest:
		m := len(r.U)
		s := &msg.Stats{Iter: r.Iter, Partition: part, Rows: rng.IntN(100), M: m, YY: rng.Float64(), SSE: rng.Float64(), Flips: -1,
			R: randVec(rng, m), Gram: randVec(rng, linalg.PackedLen(m)), SumY: randVec(rng, 1)[0], Val: randEval(rng)}
		if r.Prev != nil {
			s.Flips = rng.Int64N(50)
		}
		return s
	case *msg.DeepRequest:
		p := &msg.DeepStats{Step: r.Step, Partition: part, Rows: rng.IntN(100), YY: rng.NormFloat64(), SSE: rng.Float64(), Flips: -1,
			SumY: randVec(rng, 1)[0], Val: randEval(rng)}
		if r.Prev != nil {
			p.Flips = rng.Int64N(50)
		}
		for _, layers := range r.Systems() {
			m := r.Unknowns(layers)
			p.Systems = append(p.Systems, msg.System{Layers: layers, M: m, R: randVec(rng, m), Gram: randVec(rng, linalg.PackedLen(m))})
		}
		return p
	case *msg.SummaryRequest:
		// Every sample asked for; the deviations >= 0.
		c, n := r.D+1, r.Samples
		s := &msg.Summary{Partition: part, Rows: n + rng.IntN(100), Mean: randVec(rng, c), M2: randVec(rng, c), Index: make([]float64, n), Sample: randVec(rng, n*c)}
		for j, v := range s.M2 {
			s.M2[j] = math.Abs(v)
		}
		for i := range s.Index {
			s.Index[i] = float64(rng.Int64N(1 << 53))
		}
		return s
	case *msg.Moments12Request:
		m := &msg.Moments12{Partition: part, Order: r.Order, Rows: rng.IntN(100), D: r.D, SumY: rng.NormFloat64(),
			SumYX: randVec(rng, r.D), SumX: randVec(rng, r.D)}
		if r.Order == 2 {
			m.SumYXX = randVec(rng, linalg.PackedLen(r.D))
		}
		return m
	case *msg.Moment4Request:
		return &msg.Moment4{Partition: part, Rows: rng.IntN(100), K: r.K, Sum: randVec(rng, msg.Sym4Len(r.K))}
	}
	panic(fmt.Sprintf("randPartial: %T", req))
}

// randEval returns seeded random validation sums, awkward values included.
func randEval(rng *rand.Rand) msg.Eval {
	v := randVec(rng, 3)
	return msg.Eval{Rows: rng.IntN(50), SSE: v[0], YY: v[1], SumY: v[2]}
}

// anatomy is a partial taken apart without the codec: its integers (kind,
// round, span, rows, shapes, counts), its scalars, and its vectors in
// the order of the wire format (proto/altmin/v1/altmin.proto).
type anatomy struct {
	ints    []int64
	scalars []float64
	payload [][]float64
}

func anatomize(p msg.Partial) anatomy {
	switch q := p.(type) {
	case *msg.Stats:
		return anatomy{
			ints:    []int64{int64(q.Kind()), int64(q.Iter), int64(q.Span().Lo), int64(q.Span().N), int64(q.Rows), int64(q.M), q.Flips, int64(q.Val.Rows)},
			scalars: []float64{q.YY, q.SSE, q.SumY, q.Val.SSE, q.Val.YY, q.Val.SumY},
			payload: [][]float64{q.R, q.Gram},
		}
	case *msg.DeepStats:
		a := anatomy{
			ints:    []int64{int64(q.Kind()), int64(q.Step), int64(q.Span().Lo), int64(q.Span().N), int64(q.Rows), q.Flips, int64(len(q.Systems)), int64(q.Val.Rows)},
			scalars: []float64{q.YY, q.SSE, q.SumY, q.Val.SSE, q.Val.YY, q.Val.SumY},
		}
		for _, sy := range q.Systems {
			a.ints = append(a.ints, int64(sy.M), int64(len(sy.Layers)))
			for _, l := range sy.Layers {
				a.ints = append(a.ints, int64(l))
			}
			a.payload = append(a.payload, sy.R, sy.Gram)
		}
		return a
	case *msg.Moments12:
		return anatomy{
			ints:    []int64{int64(q.Kind()), int64(q.Span().Lo), int64(q.Span().N), int64(q.Order), int64(q.Rows), int64(q.D)},
			scalars: []float64{q.SumY},
			payload: [][]float64{q.SumYX, q.SumX, q.SumYXX},
		}
	case *msg.Moment4:
		return anatomy{
			ints:    []int64{int64(q.Kind()), int64(q.Span().Lo), int64(q.Span().N), int64(q.Rows), int64(q.K)},
			payload: [][]float64{q.Sum},
		}
	case *msg.Summary:
		return anatomy{
			ints:    []int64{int64(q.Kind()), int64(q.Span().Lo), int64(q.Span().N), int64(q.Rows), int64(len(q.Mean)), int64(len(q.M2)), int64(len(q.Index)), int64(len(q.Sample))},
			payload: [][]float64{q.Mean, q.M2, q.Index, q.Sample},
		}
	}
	panic(fmt.Sprintf("anatomize: %T", p))
}

// payloadLen is the number of payload values of a partial.
func payloadLen(p msg.Partial) int {
	n := 0
	for _, v := range anatomize(p).payload {
		n += len(v)
	}
	return n
}

// sameBits fails unless got and want are partials of the same kind with
// equal integers and bit-identical values (every float64 compared by its
// bits).
func sameBits(t *testing.T, what string, got, want msg.Partial) {
	t.Helper()
	if got == nil || want == nil {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
	a, b := anatomize(got), anatomize(want)
	if !slices.Equal(a.ints, b.ints) {
		t.Fatalf("%s: %T with (kind, round/span, rows, shapes, counts) %v, want %T with %v", what, got, a.ints, want, b.ints)
	}
	if i := firstDiff(a.scalars, b.scalars); i >= 0 {
		t.Fatalf("%s: scalar %d differs: %v, want %v", what, i, a.scalars, b.scalars)
	}
	for j := range a.payload {
		x, y := a.payload[j], b.payload[j]
		if len(x) != len(y) {
			t.Fatalf("%s: vector %d has %d values, want %d", what, j, len(x), len(y))
		}
		if i := firstDiff(x, y); i >= 0 {
			t.Fatalf("%s: vector %d, value %d is %v (%#x), want %v (%#x)", what, j, i, x[i], math.Float64bits(x[i]), y[i], math.Float64bits(y[i]))
		}
	}
}

// firstDiff returns the first index where a and b differ in bits, -1 if
// none, len of the shorter if only the lengths differ.
func firstDiff(a, b []float64) int {
	for i := range min(len(a), len(b)) {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

func bitsEqual(a, b []float64) bool { return len(a) == len(b) && firstDiff(a, b) < 0 }

// chunksOf returns the chunks of a reply with partial p computed by shard
// id, as a server sends them, at most per values a chunk.
func chunksOf(t *testing.T, p msg.Partial, id string, per int) []*pb.Chunk {
	t.Helper()
	h, vs, err := encodePartial(p, id)
	if err != nil {
		t.Fatal(err)
	}
	return toChunks(h, vs, p.Span(), int64(p.Round()), per)
}

// onWire marshals and unmarshals m, as the network would.
func onWire[T proto.Message](t *testing.T, m T, fresh T) T {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(b, fresh); err != nil {
		t.Fatal(err)
	}
	return fresh
}

// fakeShard is a hostile Shard server: it answers Compute with whatever
// chunks and final error its script returns, and Info with info.
type fakeShard struct {
	pb.UnimplementedShardServer
	script func(req *pb.ComputeRequest) ([]*pb.Chunk, error)
	info   *pb.InfoReply
	calls  atomic.Int64
	last   atomic.Pointer[pb.ComputeRequest]
}

func (f *fakeShard) Compute(req *pb.ComputeRequest, stream grpc.ServerStreamingServer[pb.Chunk]) error {
	f.calls.Add(1)
	f.last.Store(req)
	chunks, err := f.script(req)
	for _, c := range chunks {
		if err := stream.Send(c); err != nil {
			return err
		}
	}
	return err
}

func (f *fakeShard) Info(context.Context, *pb.InfoRequest) (*pb.InfoReply, error) {
	return f.info, nil
}

func serveFake(t *testing.T, f *fakeShard, pool *msg.Pool) *Client {
	t.Helper()
	return dialBuf(t, pool, func(gs *grpc.Server) { pb.RegisterShardServer(gs, f) })
}

// served is a Server over bufconn and a client of it.
type served struct {
	c          *Client
	srv        *Server
	sizes      *sizeLog
	serverPool *msg.Pool // the server's and, for an engine, the engine's
	clientPool *msg.Pool
}

// serve serves f as the shard info.ID; an engine takes its Gram buffers
// from the server's pool, as a shard node's does.
func serve(t *testing.T, f msg.Fetcher, info ShardInfo, sopts ...grpc.ServerOption) *served {
	t.Helper()
	return serveOpts(t, f, info, sopts, nil)
}

func serveOpts(t *testing.T, f msg.Fetcher, info ShardInfo, sopts []grpc.ServerOption, dopts []grpc.DialOption) *served {
	t.Helper()
	s := &served{sizes: &sizeLog{}, serverPool: msg.NewPool(), clientPool: msg.NewPool()}
	if eng, ok := f.(*shard.Engine); ok {
		eng.SetPool(s.serverPool)
	}
	s.srv = NewServer(f, s.serverPool, info, zaptest.NewLogger(t))
	sopts = append(sopts, grpc.ChainStreamInterceptor(s.sizes.intercept))
	s.c = dialBufOpts(t, s.clientPool, func(gs *grpc.Server) { Register(gs, s.srv) }, sopts, dopts)
	return s
}

// sizeLog records the serialized sizes of the messages a server streams.
type sizeLog struct {
	mu    sync.Mutex
	sizes []int
}

func (l *sizeLog) intercept(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	return h(srv, &sizedStream{ServerStream: ss, log: l})
}

// take returns the sizes recorded since the last take.
func (l *sizeLog) take() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.sizes
	l.sizes = nil
	return s
}

type sizedStream struct {
	grpc.ServerStream
	log *sizeLog
}

func (s *sizedStream) SendMsg(m any) error {
	if pm, ok := m.(proto.Message); ok {
		s.log.mu.Lock()
		s.log.sizes = append(s.log.sizes, proto.Size(pm))
		s.log.mu.Unlock()
	}
	return s.ServerStream.SendMsg(m)
}

// fetcherFunc adapts a function to msg.Fetcher.
type fetcherFunc func(ctx context.Context, req msg.Request, sp msg.Span) (msg.Partial, error)

func (f fetcherFunc) Fetch(ctx context.Context, req msg.Request, sp msg.Span) (msg.Partial, error) {
	return f(ctx, req, sp)
}

// wantChunks is the number of chunks of a reply with partial p at most
// per values a chunk: one run per per values of each vector (a chunk
// holds values of one vector only), the first in the header's chunk.
func wantChunks(p msg.Partial, per int) int {
	n := 0
	for _, v := range anatomize(p).payload {
		n += (len(v) + per - 1) / per
	}
	return max(n, 1)
}

// newRand returns a seeded source of randomness.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0)) }

// normVec returns n seeded normal values times scale: data an engine
// computes finite statistics from.
func normVec(rng *rand.Rand, n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = scale * rng.NormFloat64()
	}
	return v
}
