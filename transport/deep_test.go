package transport

import (
	"context"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"altmin/data"
	"altmin/deep"
	"altmin/linalg"
	"altmin/model"
	pb "altmin/proto/altminpb"
	"altmin/shard"
)

func samePartial(t *testing.T, what string, a, b *deep.Partial) {
	t.Helper()
	if a.Step != b.Step || a.Partition != b.Partition || a.Rows != b.Rows || a.Flips != b.Flips ||
		!bitsEqual([]float64{a.YY, a.SSE}, []float64{b.YY, b.SSE}) || len(a.Systems) != len(b.Systems) {
		t.Fatalf("%s: (step %d, partition %d, rows %d, flips %d, %d systems) differ from (%d, %d, %d, %d, %d) or the sums differ",
			what, a.Step, a.Partition, a.Rows, a.Flips, len(a.Systems), b.Step, b.Partition, b.Rows, b.Flips, len(b.Systems))
	}
	for i := range a.Systems {
		x, y := a.Systems[i], b.Systems[i]
		if x.M != y.M || len(x.Layers) != len(y.Layers) || !bitsEqual(x.Gram, y.Gram) || !bitsEqual(x.R, y.R) {
			t.Fatalf("%s: system %d differs", what, i)
		}
	}
}

// deepRequests returns the requests of every kind for a network of the
// given widths: evaluation only, one layer, per-layer, joint; with and
// without previous weights.
func deepRequests(n *model.Net, step int) []*deep.Request {
	prev := data.PerturbNet(n, 0.1, 9)
	all := make([]int, n.Layers())
	for l := range all {
		all[l] = l + 1
	}
	return []*deep.Request{
		{Step: step, Net: n},
		{Step: step, Net: n, Layers: []int{n.Layers()}, Prev: prev},
		{Step: step, Net: n, Layers: all, Prev: prev},
		{Step: step, Net: n, Layers: all, Joint: true, Prev: prev},
		{Step: step, Net: n, Layers: all, Joint: true},
	}
}

// TestDeepStepBitIdentical serves deep statistics over gRPC and compares
// them bit for bit with deep.PartitionStats called directly: every kind of
// request, float64 and float32 partitions, with the bias feature, and a
// joint Gram matrix of 131,328 values (two chunks, each within ChunkBytes).
func TestDeepStepBitIdentical(t *testing.T) {
	tch, err := data.NewDeepTeacher(90, []int{59, 8, 4}, 3, "alternate")
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []shard.Storage{shard.Float64, shard.Float32} {
		var parts []*shard.Partition
		for id := 0; id < 3; id++ {
			p, err := shard.LoadAs(tch, 3, id, true, st) // d = 60 with the bias feature
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, p)
		}
		eng, err := shard.NewEngine(parts[0], parts[2])
		if err != nil {
			t.Fatal(err)
		}
		c, _, sizes := serveEngine(t, eng, ShardInfo{ID: "s1", Schema: Schema{N: 90, D: 59, P: 3, Bias: true, DType: string(st), Fingerprint: "x"}})
		net := data.RandomNet(model.NewNet(60, 8, 4), 5)
		net.V = []float64{1, -1, 1, -1}
		for _, part := range []int{0, 2} {
			for i, req := range deepRequests(net, 7) {
				got, err := c.DeepStep(context.Background(), "s1", req, part)
				if err != nil {
					t.Fatal(err)
				}
				var ws deep.Workspace
				want, err := deep.PartitionStats(&ws, parts[part], req)
				if err != nil {
					t.Fatal(err)
				}
				samePartial(t, string(st)+" request "+string(rune('0'+i)), got, want)
				sz := sizes.take()
				wantChunks := 1
				if req.Joint {
					wantChunks = 2 // 512 unknowns: 131,328 Gram values
				}
				if len(sz) != wantChunks {
					t.Errorf("%s partition %d request %d: %d chunks, want %d", st, part, i, len(sz), wantChunks)
				}
				for j, n := range sz {
					if n > ChunkBytes {
						t.Errorf("chunk %d is %d bytes, more than %d", j, n, ChunkBytes)
					}
				}
			}
		}
	}
}

// randPartial returns a seeded random partial answering req.
func randPartial(rng *rand.Rand, req *deep.Request, part int) *deep.Partial {
	p := &deep.Partial{Step: req.Step, Partition: part, Rows: rng.IntN(100), YY: rng.NormFloat64(), SSE: rng.Float64(), Flips: -1}
	if req.Prev != nil {
		p.Flips = int64(rng.IntN(50))
	}
	for _, sy := range req.Systems() {
		m := 0
		for _, l := range sy {
			m += req.Net.Unknowns(l)
		}
		s := deep.System{Layers: sy, M: m, Gram: make([]float64, linalg.PackedLen(m)), R: make([]float64, m)}
		for _, v := range [][]float64{s.Gram, s.R} {
			for i := range v {
				v[i] = rng.NormFloat64()
			}
			v[rng.IntN(len(v))] = awkward[rng.IntN(len(awkward))]
		}
		p.Systems = append(p.Systems, s)
	}
	return p
}

// TestDeepChunksRoundTrip splits seeded random partials of every request
// kind into chunks of many sizes, sends them through the wire encoding and
// reassembles them; requests round-trip too.
func TestDeepChunksRoundTrip(t *testing.T) {
	const seed = 41
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for trial := 0; trial < 30; trial++ {
		dims := []int{1 + rng.IntN(6)}
		for l := 0; l < 1+rng.IntN(3); l++ {
			dims = append(dims, 1+rng.IntN(4))
		}
		net := data.RandomNet(model.NewNet(dims...), uint64(trial))
		for _, req := range deepRequests(net, trial) {
			part := rng.IntN(9)
			back, p2, err := deepRequestFromProto(wire(t, deepRequestToProto(req, part, "x", ProtocolVersion), &pb.DeepStepRequest{}))
			if err != nil || p2 != part || back.Step != req.Step || back.Joint != req.Joint || len(back.Layers) != len(req.Layers) ||
				(back.Prev == nil) != (req.Prev == nil) || relNetDiff(back.Net, req.Net) || (req.Prev != nil && relNetDiff(back.Prev, req.Prev)) {
				t.Fatalf("trial %d: request round trip: %v", trial, err)
			}
			p := randPartial(rng, req, part)
			total := 0
			for _, s := range p.Systems {
				total += len(s.Gram) + len(s.R)
			}
			per := 1 + rng.IntN(total+2)
			a := &deepAssembler{shardID: "x", req: req, partition: part}
			for i, c := range splitPartial(p, "x", ProtocolVersion, per) {
				if err := a.add(wire(t, c, &pb.DeepStepChunk{})); err != nil {
					t.Fatalf("trial %d (dims %v, per %d) chunk %d: %v", trial, dims, per, i, err)
				}
			}
			got, err := a.finish()
			if err != nil {
				t.Fatal(err)
			}
			samePartial(t, "round trip", got, p)
		}
	}
}

func relNetDiff(a, b *model.Net) bool {
	if !a.SameShape(b) {
		return true
	}
	for l := range a.W {
		if !bitsEqual(a.W[l], b.W[l]) {
			return true
		}
	}
	return false
}

// fakeDeep is a hostile Shard server for DeepStep: it answers with
// whatever chunks and final error its script returns.
type fakeDeep struct {
	pb.UnimplementedShardServer
	script func(req *pb.DeepStepRequest) ([]*pb.DeepStepChunk, error)
	calls  atomic.Int64
}

func (f *fakeDeep) DeepStep(req *pb.DeepStepRequest, stream grpc.ServerStreamingServer[pb.DeepStepChunk]) error {
	f.calls.Add(1)
	chunks, err := f.script(req)
	for _, c := range chunks {
		if err := stream.Send(c); err != nil {
			return err
		}
	}
	return err
}

// TestClientRejectsHostileDeep checks that malformed, stale or foreign
// DeepStep replies are rejected with the right sentinel, and nothing of
// them is returned.
func TestClientRejectsHostileDeep(t *testing.T) {
	const seed = 43
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	net := data.RandomNet(model.NewNet(3, 2, 2), 1) // 10 unknowns, per-layer systems of 6 and 4
	req := &deep.Request{Step: 4, Net: net, Layers: []int{1, 2}, Prev: data.PerturbNet(net, 0.1, 1)}
	const part = 2
	valid := func() []*pb.DeepStepChunk {
		// 21 + 10 Gram values, 10 rhs; 12 doubles per chunk: the first
		// chunk has the rhs and 2 Gram values, then 12, 12, 5.
		return splitPartial(randPartial(rng, req, part), "s1", ProtocolVersion, 12)
	}
	type edit func(cs []*pb.DeepStepChunk) []*pb.DeepStepChunk
	cases := []struct {
		name string
		edit edit
		want error
	}{
		{"no header", func(cs []*pb.DeepStepChunk) []*pb.DeepStepChunk { cs[0].Header = nil; return cs }, ErrBadReply},
		{"second header", func(cs []*pb.DeepStepChunk) []*pb.DeepStepChunk { cs[1].Header = cs[0].Header; return cs }, ErrBadReply},
		{"old step", func(cs []*pb.DeepStepChunk) []*pb.DeepStepChunk { cs[1].Step = 3; return cs }, ErrStale},
		{"other partition", func(cs []*pb.DeepStepChunk) []*pb.DeepStepChunk { cs[0].Partition = 1; return cs }, ErrStale},
		{"other shard", func(cs []*pb.DeepStepChunk) []*pb.DeepStepChunk { cs[0].Header.ShardId = "s2"; return cs }, ErrWrongShard},
		{"version 0", func(cs []*pb.DeepStepChunk) []*pb.DeepStepChunk { cs[0].Header.ProtocolVersion = 0; return cs }, ErrVersion},
		{"one system", func(cs []*pb.DeepStepChunk) []*pb.DeepStepChunk {
			cs[0].Header.Systems = cs[0].Header.Systems[:1]
			return cs
		}, ErrBadReply},
		{"other layers", func(cs []*pb.DeepStepChunk) []*pb.DeepStepChunk {
			cs[0].Header.Systems[1].Layers = []int32{1}
			return cs
		}, ErrBadReply},
		{"other m", func(cs []*pb.DeepStepChunk) []*pb.DeepStepChunk { cs[0].Header.Systems[0].M = 7; return cs }, ErrBadReply},
		{"huge announced length", func(cs []*pb.DeepStepChunk) []*pb.DeepStepChunk {
			cs[0].Header.Systems[0].GramLen = math.MaxInt64
			return cs
		}, ErrBadReply},
		{"short rhs", func(cs []*pb.DeepStepChunk) []*pb.DeepStepChunk {
			cs[0].Header.Systems[1].R = cs[0].Header.Systems[1].R[:3]
			return cs
		}, ErrBadReply},
		{"NaN rhs", func(cs []*pb.DeepStepChunk) []*pb.DeepStepChunk {
			cs[0].Header.Systems[0].R[1] = math.NaN()
			return cs
		}, ErrBadReply},
		{"Inf Gram", func(cs []*pb.DeepStepChunk) []*pb.DeepStepChunk { cs[2].Gram[5] = math.Inf(-1); return cs }, ErrBadReply},
		{"NaN SSE", func(cs []*pb.DeepStepChunk) []*pb.DeepStepChunk { cs[0].Header.Sse = math.NaN(); return cs }, ErrBadReply},
		{"negative rows", func(cs []*pb.DeepStepChunk) []*pb.DeepStepChunk { cs[0].Header.Rows = -1; return cs }, ErrBadReply},
		{"no flip count", func(cs []*pb.DeepStepChunk) []*pb.DeepStepChunk { cs[0].Header.Flips = -1; return cs }, ErrBadReply},
		{"gap", func(cs []*pb.DeepStepChunk) []*pb.DeepStepChunk { cs[2].Offset++; return cs }, ErrBadReply},
		{"overlap", func(cs []*pb.DeepStepChunk) []*pb.DeepStepChunk { cs[2].Offset--; return cs }, ErrBadReply},
		{"overrun", func(cs []*pb.DeepStepChunk) []*pb.DeepStepChunk { cs[3].Gram = append(cs[3].Gram, 1); return cs }, ErrBadReply},
		{"empty chunk", func(cs []*pb.DeepStepChunk) []*pb.DeepStepChunk {
			return append(cs[:2], append([]*pb.DeepStepChunk{{Step: 4, Partition: part, Offset: 14}}, cs[2:]...)...)
		}, ErrBadReply},
		{"ends early", func(cs []*pb.DeepStepChunk) []*pb.DeepStepChunk { return cs[:3] }, ErrBadReply},
		{"no chunk", func([]*pb.DeepStepChunk) []*pb.DeepStepChunk { return nil }, ErrBadReply},
	}
	f := &fakeDeep{}
	c := dialBuf(t, func(gs *grpc.Server) { pb.RegisterShardServer(gs, f) })
	for _, tc := range cases {
		f.script = func(*pb.DeepStepRequest) ([]*pb.DeepStepChunk, error) { return tc.edit(valid()), nil }
		p, err := c.DeepStep(context.Background(), "s1", req, part)
		if p != nil || !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if !strings.Contains(err.Error(), `"s1", partition 2, step 4`) {
			t.Errorf("%s: error %q does not name the shard, partition and step", tc.name, err)
		}
	}
	f.script = func(*pb.DeepStepRequest) ([]*pb.DeepStepChunk, error) { return valid(), nil }
	if _, err := c.DeepStep(context.Background(), "s1", req, part); err != nil {
		t.Fatalf("the valid reply was refused: %v", err)
	}
}

// TestDeepStepRequestLimits checks that bad or oversized deep requests are
// refused by the client without calling the shard, and by the server when
// sent anyway.
func TestDeepStepRequestLimits(t *testing.T) {
	f := &fakeDeep{script: func(*pb.DeepStepRequest) ([]*pb.DeepStepChunk, error) { return nil, nil }}
	fc := dialBuf(t, func(gs *grpc.Server) { pb.RegisterShardServer(gs, f) })
	ctx := context.Background()
	good := data.RandomNet(model.NewNet(4, 3, 2), 1)
	nan := good.Clone()
	nan.W[1][0] = math.NaN()
	deepNet := model.NewNet(append([]int{2}, make([]int, MaxDeepLayers+1)...)...)
	for l := range deepNet.Dims {
		deepNet.Dims[l] = 1
	}
	cases := []struct {
		name string
		id   string
		part int
		req  *deep.Request
		want error
	}{
		{"too many layers", "s", 0, &deep.Request{Net: deepNet}, ErrTooLarge},
		{"width beyond MaxM", "s", 0, &deep.Request{Net: model.NewNet(1, MaxM+1)}, ErrTooLarge},
		{"too many weights", "s", 0, &deep.Request{Net: model.NewNet(100, 90)}, ErrTooLarge},
		{"NaN weight", "s", 0, &deep.Request{Net: nan}, shard.ErrRequest},
		{"layers out of order", "s", 0, &deep.Request{Net: good, Layers: []int{2, 1}}, shard.ErrRequest},
		{"previous of another shape", "s", 0, &deep.Request{Net: good, Prev: model.NewNet(4, 2, 2)}, shard.ErrRequest},
		{"no weights", "s", 0, &deep.Request{}, shard.ErrRequest},
		{"negative partition", "s", -1, &deep.Request{Net: good}, shard.ErrRequest},
		{"no shard id", "", 0, &deep.Request{Net: good}, shard.ErrRequest},
	}
	for _, tc := range cases {
		if _, err := fc.DeepStep(ctx, tc.id, tc.req, tc.part); !errors.Is(err, tc.want) {
			t.Errorf("client, %s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if n := f.calls.Load(); n != 0 {
		t.Fatalf("shard called %d times", n)
	}

	// The server, sent requests the client would refuse.
	tch, err := data.NewDeepTeacher(20, []int{4, 3, 2}, 1, "alternate")
	if err != nil {
		t.Fatal(err)
	}
	p1, err := shard.Load(tch, 2, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := shard.NewEngine(p1)
	if err != nil {
		t.Fatal(err)
	}
	c, _, _ := serveEngine(t, eng, ShardInfo{ID: "s1", Schema: Schema{N: 20, D: 4, P: 2, DType: "float64", Fingerprint: "x"}})
	send := func(edit func(r *pb.DeepStepRequest)) error {
		r := deepRequestToProto(&deep.Request{Step: 1, Net: good, Layers: []int{1, 2}, Joint: true}, 1, "s1", ProtocolVersion)
		edit(r)
		st, err := c.rpc.DeepStep(ctx, r)
		for err == nil { // to the end of the stream: the handler has returned
			_, err = st.Recv()
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		return fromStatus(err)
	}
	scases := []struct {
		name string
		edit func(r *pb.DeepStepRequest)
		code codes.Code
		want error
	}{
		{"ok", func(*pb.DeepStepRequest) {}, codes.OK, nil},
		{"version 3", func(r *pb.DeepStepRequest) { r.ProtocolVersion = MaxProtocolVersion + 1 }, codes.FailedPrecondition, ErrVersion},
		{"other shard", func(r *pb.DeepStepRequest) { r.ShardId = "s9" }, codes.FailedPrecondition, ErrWrongShard},
		{"not held", func(r *pb.DeepStepRequest) { r.Partition = 0 }, codes.NotFound, nil},
		{"other d", func(r *pb.DeepStepRequest) { r.Net = deepNetToProto(model.NewNet(5, 3, 2)) }, codes.InvalidArgument, nil},
		{"no net", func(r *pb.DeepStepRequest) { r.Net = nil }, codes.InvalidArgument, nil},
		{"short weights", func(r *pb.DeepStepRequest) { r.Net.W = r.Net.W[:5] }, codes.InvalidArgument, nil},
		{"long weights", func(r *pb.DeepStepRequest) { r.Net.W = append(r.Net.W, 1) }, codes.InvalidArgument, nil},
		{"NaN weight", func(r *pb.DeepStepRequest) { r.Net.W = append([]float64(nil), r.Net.W...); r.Net.W[2] = math.NaN() }, codes.InvalidArgument, nil},
		{"sign 2", func(r *pb.DeepStepRequest) { r.Net.Signs = []float64{1, 2} }, codes.InvalidArgument, nil},
		{"too many weights", func(r *pb.DeepStepRequest) { r.Net.Dims = []int32{4, 3000, 2} }, codes.InvalidArgument, ErrTooLarge},
		{"negative width", func(r *pb.DeepStepRequest) { r.Net.Dims = []int32{4, -3, 2} }, codes.InvalidArgument, nil},
		{"layer 3", func(r *pb.DeepStepRequest) { r.Layers = []int32{1, 3} }, codes.InvalidArgument, nil},
		{"negative step", func(r *pb.DeepStepRequest) { r.Step = -1 }, codes.InvalidArgument, nil},
		{"previous of another shape", func(r *pb.DeepStepRequest) { r.Prev = deepNetToProto(model.NewNet(4, 2, 2)) }, codes.InvalidArgument, nil},
	}
	for _, tc := range scases {
		err := send(tc.edit)
		if status.Code(err) != tc.code || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("server, %s: %v, want code %v and %v", tc.name, err, tc.code, tc.want)
		}
	}
}

// TestDeepStepUnimplemented checks the answer of a shard built before
// DeepStep: an error naming the shard that wraps errors.ErrUnsupported.
func TestDeepStepUnimplemented(t *testing.T) {
	old := pb.Shard_ServiceDesc
	old.Streams = nil
	for _, sd := range pb.Shard_ServiceDesc.Streams {
		if sd.StreamName != "DeepStep" {
			old.Streams = append(old.Streams, sd)
		}
	}
	c := dialBuf(t, func(gs *grpc.Server) { gs.RegisterService(&old, &fakeShard{}) })
	_, err := c.DeepStep(context.Background(), "old-shard", &deep.Request{Net: model.NewNet(3, 2, 1)}, 0)
	if !errors.Is(err, errors.ErrUnsupported) || status.Code(err) != codes.Unimplemented ||
		!strings.Contains(err.Error(), `"old-shard"`) || !strings.Contains(err.Error(), "does not implement DeepStep") {
		t.Fatalf("err = %v", err)
	}
}
