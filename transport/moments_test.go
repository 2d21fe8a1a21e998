package transport

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"altmin/linalg"
	pb "altmin/proto/altminpb"
	"altmin/shard"
)

// randBaseline returns a seeded random baseline for d features of rank r.
func randBaseline(rng *rand.Rand, d, r int) *shard.Baseline {
	b := &shard.Baseline{C: rng.NormFloat64(), B: make([]float64, d), L: make([]float64, d*r), S: make([]float64, r)}
	for _, v := range [][]float64{b.B, b.L, b.S} {
		for i := range v {
			v[i] = rng.NormFloat64()
		}
	}
	return b
}

func sameMoments12(t *testing.T, what string, a, b *shard.Moments12) {
	t.Helper()
	if a.Partition != b.Partition || a.Order != b.Order || a.Rows != b.Rows || a.D != b.D {
		t.Fatalf("%s: (partition %d, order %d, rows %d, d %d), want (%d, %d, %d, %d)", what, a.Partition, a.Order, a.Rows, a.D, b.Partition, b.Order, b.Rows, b.D)
	}
	if !bitsEqual([]float64{a.SumY}, []float64{b.SumY}) || !bitsEqual(a.SumYX, b.SumYX) || !bitsEqual(a.SumX, b.SumX) || !bitsEqual(a.SumYXX, b.SumYXX) {
		t.Fatalf("%s: sums differ", what)
	}
}

func sameMoment4(t *testing.T, what string, a, b *shard.Moment4) {
	t.Helper()
	if a.Partition != b.Partition || a.Rows != b.Rows || a.K != b.K || !bitsEqual(a.Sum, b.Sum) {
		t.Fatalf("%s: (partition %d, rows %d, k %d) or sums differ from (%d, %d, %d)", what, a.Partition, a.Rows, a.K, b.Partition, b.Rows, b.K)
	}
}

// TestMomentsBitIdentical serves the moment passes over gRPC at d = 500
// (125,250 second-order values: two chunks) and compares them bit for bit
// with the engine's methods called directly.
func TestMomentsBitIdentical(t *testing.T) {
	const seed = 23
	t.Logf("seed %d", seed)
	pr := newProblem(t, "model=sum,d=499,k=3,n=60,seed=4", 2, true) // d = 500 with bias
	served, direct := pr.engine(t, 0, 1), pr.engine(t, 0, 1)
	c, _, sizes := serveEngine(t, served, ShardInfo{ID: "s1", Schema: pr.schema()})
	rng := rand.New(rand.NewPCG(seed, 0))
	ctx := context.Background()
	d := pr.features()
	bases := []*shard.Baseline{nil, {C: 0.5, B: randBaseline(rng, d, 0).B}, randBaseline(rng, d, 3)}
	for part := 0; part < 2; part++ {
		for bi, base := range bases {
			for order := 1; order <= 2; order++ {
				got, err := c.Moments12(ctx, "s1", part, d, base, order)
				if err != nil {
					t.Fatal(err)
				}
				want, err := direct.Moments12(part, base, order)
				if err != nil {
					t.Fatal(err)
				}
				sameMoments12(t, "moments12", got, want)
				sz := sizes.take()
				wantChunks := 1
				if order == 2 {
					wantChunks = (linalg.PackedLen(d) + 2*d + ChunkDoubles - 1) / ChunkDoubles
				}
				if len(sz) != wantChunks {
					t.Errorf("partition %d baseline %d order %d: %d chunks, want %d", part, bi, order, len(sz), wantChunks)
				}
				for i, n := range sz {
					if n > ChunkBytes {
						t.Errorf("chunk %d is %d bytes, more than %d", i, n, ChunkBytes)
					}
				}
			}
			const k = 32 // d*k = 16000 <= MaxProjection
			v := randBaseline(rng, d*k, 0).B
			got, err := c.Moment4(ctx, "s1", part, d, v, k, base)
			if err != nil {
				t.Fatal(err)
			}
			want, err := direct.Moment4(part, v, k, base)
			if err != nil {
				t.Fatal(err)
			}
			sameMoment4(t, "moment4", got, want)
			sizes.take()
		}
	}
}

// TestMomentChunksRoundTrip splits seeded random moment sums into chunks of
// many sizes, sends them through the wire encoding and reassembles them.
func TestMomentChunksRoundTrip(t *testing.T) {
	const seed = 29
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	fill := func(v []float64) {
		for i := range v {
			v[i] = rng.NormFloat64()
		}
		if len(v) > 0 {
			v[rng.IntN(len(v))] = awkward[rng.IntN(len(awkward))]
		}
	}
	for trial := 0; trial < 40; trial++ {
		d, order, part := 1+rng.IntN(30), 1+trial%2, rng.IntN(9)
		m := &shard.Moments12{Partition: part, Order: order, Rows: rng.IntN(100), D: d, SumY: rng.NormFloat64(),
			SumYX: make([]float64, d), SumX: make([]float64, d)}
		if order == 2 {
			m.SumYXX = make([]float64, linalg.PackedLen(d))
		}
		fill(m.SumYX)
		fill(m.SumX)
		fill(m.SumYXX)
		per := 1 + rng.IntN(len(m.SumYXX)+2*d+2)
		a := &moments12Assembler{shardID: "x", args: moments12Args{partition: part, d: d, order: order}}
		for i, c := range splitMoments12(m, "x", ProtocolVersion, per) {
			if n := len(c.GetSumYxx()) + len(c.GetHeader().GetSumYx()) + len(c.GetHeader().GetSumX()); n > max(per, 2*d) {
				t.Fatalf("chunk %d has %d doubles, budget %d", i, n, per)
			}
			if err := a.add(wire(t, c, &pb.Moments12Chunk{})); err != nil {
				t.Fatalf("trial %d (d %d, order %d, per %d) chunk %d: %v", trial, d, order, per, i, err)
			}
		}
		got, err := a.finish()
		if err != nil {
			t.Fatal(err)
		}
		sameMoments12(t, "round trip", got, m)

		k := 1 + rng.IntN(6)
		m4 := &shard.Moment4{Partition: part, Rows: rng.IntN(100), K: k, Sum: make([]float64, shard.Sym4Len(k))}
		fill(m4.Sum)
		per = 1 + rng.IntN(len(m4.Sum)+1)
		a4 := &moment4Assembler{shardID: "x", args: moment4Args{partition: part, d: k, k: k}}
		for i, c := range splitMoment4(m4, "x", ProtocolVersion, per) {
			if n := len(c.GetSum()); n > per {
				t.Fatalf("chunk %d has %d doubles, budget %d", i, n, per)
			}
			if err := a4.add(wire(t, c, &pb.Moment4Chunk{})); err != nil {
				t.Fatalf("trial %d (k %d, per %d) chunk %d: %v", trial, k, per, i, err)
			}
		}
		got4, err := a4.finish()
		if err != nil {
			t.Fatal(err)
		}
		sameMoment4(t, "round trip", got4, m4)
	}
}

// TestMomentChunkSizeBound checks the worst cases of ChunkBytes: a
// Moments12 header chunk at d = MaxMomentD with the longest shard id, and
// full Moment4 chunks; and that the split fills the first chunk exactly.
func TestMomentChunkSizeBound(t *testing.T) {
	d := MaxMomentD
	g := make([]float64, ChunkDoubles)
	for i := range g {
		g[i] = -math.MaxFloat64
	}
	h12 := &pb.Moments12Header{ProtocolVersion: math.MaxUint32, ShardId: strings.Repeat("x", MaxShardIDLen), Rows: math.MinInt64,
		Order: math.MinInt32, D: math.MinInt32, SumY: 1, SumYx: g[:d], SumX: g[:d], SumYxxLen: math.MinInt64}
	h4 := &pb.Moment4Header{ProtocolVersion: math.MaxUint32, ShardId: strings.Repeat("x", MaxShardIDLen), Rows: math.MinInt64,
		K: math.MinInt32, SumLen: math.MinInt64}
	for name, c := range map[string]proto.Message{
		"moments12 first": &pb.Moments12Chunk{Partition: math.MinInt32, Header: h12, SumYxx: g[:ChunkDoubles-2*d]},
		"moments12 later": &pb.Moments12Chunk{Partition: math.MinInt32, Offset: math.MinInt64, SumYxx: g},
		"moment4 first":   &pb.Moment4Chunk{Partition: math.MinInt32, Header: h4, Sum: g},
		"moment4 later":   &pb.Moment4Chunk{Partition: math.MinInt32, Offset: math.MinInt64, Sum: g},
	} {
		if n := proto.Size(c); n > ChunkBytes {
			t.Errorf("%s chunk: %d bytes > %d", name, n, ChunkBytes)
		}
	}
	m := &shard.Moments12{Order: 2, D: 600, SumYX: make([]float64, 600), SumX: make([]float64, 600), SumYXX: make([]float64, linalg.PackedLen(600))}
	cs := moments12ToChunks(m, "x", ProtocolVersion)
	if n := len(cs[0].GetSumYxx()) + 1200; n != ChunkDoubles || len(cs) != 2 {
		t.Fatalf("%d chunks, first with %d doubles", len(cs), n)
	}
	// The largest fourth moment and second-order sum the limits allow.
	kmax := 0
	for k := 1; k <= MaxMomentD && k*k <= MaxProjection; k++ {
		kmax = k
	}
	t.Logf("largest k: %d, %d fourth-moment values (%d MB); second order at d = %d: %d MB",
		kmax, shard.Sym4Len(kmax), 8*shard.Sym4Len(kmax)>>20, MaxMomentD, 8*linalg.PackedLen(MaxMomentD)>>20)
	if kmax != 128 {
		t.Errorf("largest k = %d, the proto comments say 128", kmax)
	}
}

// fakeMoments is a hostile Shard server for the moment passes: it answers
// with whatever chunks and final error its scripts return.
type fakeMoments struct {
	pb.UnimplementedShardServer
	script12 func(req *pb.Moments12Request) ([]*pb.Moments12Chunk, error)
	script4  func(req *pb.Moment4Request) ([]*pb.Moment4Chunk, error)
	calls    atomic.Int64
}

func (f *fakeMoments) Moments12(req *pb.Moments12Request, stream grpc.ServerStreamingServer[pb.Moments12Chunk]) error {
	f.calls.Add(1)
	chunks, err := f.script12(req)
	for _, c := range chunks {
		if err := stream.Send(c); err != nil {
			return err
		}
	}
	return err
}

func (f *fakeMoments) Moment4(req *pb.Moment4Request, stream grpc.ServerStreamingServer[pb.Moment4Chunk]) error {
	f.calls.Add(1)
	chunks, err := f.script4(req)
	for _, c := range chunks {
		if err := stream.Send(c); err != nil {
			return err
		}
	}
	return err
}

// TestClientRejectsHostileMoments checks that malformed, stale or foreign
// moment replies are rejected with the right sentinel.
func TestClientRejectsHostileMoments(t *testing.T) {
	const seed = 31
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	const d, k, part = 6, 3, 2
	// Order 2 at d = 6: 21 second-order values; 20 doubles per chunk: the
	// first chunk carries the 12 first-order values and 8 more, then 13.
	valid12 := func(r *pb.Moments12Request) []*pb.Moments12Chunk {
		m := &shard.Moments12{Partition: int(r.GetPartition()), Order: 2, Rows: 7, D: d, SumY: 1, SumYX: make([]float64, d), SumX: make([]float64, d), SumYXX: make([]float64, linalg.PackedLen(d))}
		for _, v := range [][]float64{m.SumYX, m.SumX, m.SumYXX} {
			for i := range v {
				v[i] = float64(i) + 0.5
			}
		}
		return splitMoments12(m, "s1", r.GetProtocolVersion(), 20)
	}
	valid4 := func(r *pb.Moment4Request) []*pb.Moment4Chunk {
		m := &shard.Moment4{Partition: int(r.GetPartition()), Rows: 7, K: k, Sum: make([]float64, shard.Sym4Len(k))}
		for i := range m.Sum {
			m.Sum[i] = float64(i) - 3
		}
		return splitMoment4(m, "s1", r.GetProtocolVersion(), 4) // 15 values: 4, 4, 4, 3
	}
	cases12 := []struct {
		name string
		edit func(cs []*pb.Moments12Chunk) ([]*pb.Moments12Chunk, error)
		want error
	}{
		{"no header", func(cs []*pb.Moments12Chunk) ([]*pb.Moments12Chunk, error) { cs[0].Header = nil; return cs, nil }, ErrBadReply},
		{"second header", func(cs []*pb.Moments12Chunk) ([]*pb.Moments12Chunk, error) {
			cs[1].Header = cs[0].Header
			return cs, nil
		}, ErrBadReply},
		{"order 1 reply", func(cs []*pb.Moments12Chunk) ([]*pb.Moments12Chunk, error) { cs[0].Header.Order = 1; return cs, nil }, ErrBadReply},
		{"other d", func(cs []*pb.Moments12Chunk) ([]*pb.Moments12Chunk, error) { cs[0].Header.D = 7; return cs, nil }, ErrBadReply},
		{"short first order", func(cs []*pb.Moments12Chunk) ([]*pb.Moments12Chunk, error) {
			cs[0].Header.SumX = cs[0].Header.SumX[:5]
			return cs, nil
		}, ErrBadReply},
		{"huge announced length", func(cs []*pb.Moments12Chunk) ([]*pb.Moments12Chunk, error) {
			cs[0].Header.SumYxxLen = math.MaxInt64
			return cs, nil
		}, ErrBadReply},
		{"negative rows", func(cs []*pb.Moments12Chunk) ([]*pb.Moments12Chunk, error) { cs[0].Header.Rows = -1; return cs, nil }, ErrBadReply},
		{"NaN sum y", func(cs []*pb.Moments12Chunk) ([]*pb.Moments12Chunk, error) {
			cs[0].Header.SumY = math.NaN()
			return cs, nil
		}, ErrBadReply},
		{"Inf first order", func(cs []*pb.Moments12Chunk) ([]*pb.Moments12Chunk, error) {
			cs[0].Header.SumYx[2] = math.Inf(1)
			return cs, nil
		}, ErrBadReply},
		{"NaN second order", func(cs []*pb.Moments12Chunk) ([]*pb.Moments12Chunk, error) {
			cs[1].SumYxx[4] = math.NaN()
			return cs, nil
		}, ErrBadReply},
		{"gap", func(cs []*pb.Moments12Chunk) ([]*pb.Moments12Chunk, error) { cs[1].Offset++; return cs, nil }, ErrBadReply},
		{"overlap", func(cs []*pb.Moments12Chunk) ([]*pb.Moments12Chunk, error) { cs[1].Offset--; return cs, nil }, ErrBadReply},
		{"overrun", func(cs []*pb.Moments12Chunk) ([]*pb.Moments12Chunk, error) {
			cs[1].SumYxx = append(cs[1].SumYxx, 1)
			return cs, nil
		}, ErrBadReply},
		{"empty chunk", func(cs []*pb.Moments12Chunk) ([]*pb.Moments12Chunk, error) {
			return append(cs, &pb.Moments12Chunk{Partition: part, Offset: 21}), nil
		}, ErrBadReply},
		{"ends early", func(cs []*pb.Moments12Chunk) ([]*pb.Moments12Chunk, error) { return cs[:1], nil }, ErrBadReply},
		{"empty stream", func([]*pb.Moments12Chunk) ([]*pb.Moments12Chunk, error) { return nil, nil }, ErrBadReply},
		{"wrong partition", func(cs []*pb.Moments12Chunk) ([]*pb.Moments12Chunk, error) {
			cs[1].Partition = part + 1
			return cs, nil
		}, ErrStale},
		{"other shard", func(cs []*pb.Moments12Chunk) ([]*pb.Moments12Chunk, error) {
			cs[0].Header.ShardId = "s2"
			return cs, nil
		}, ErrWrongShard},
		{"version 3", func(cs []*pb.Moments12Chunk) ([]*pb.Moments12Chunk, error) {
			cs[0].Header.ProtocolVersion = MaxProtocolVersion + 1
			return cs, nil
		}, ErrVersion},
		{"refused version", func(cs []*pb.Moments12Chunk) ([]*pb.Moments12Chunk, error) {
			return nil, statusWithReason(codes.FailedPrecondition, reasonVersion, "no")
		}, ErrVersion},
		{"not implemented", func(cs []*pb.Moments12Chunk) ([]*pb.Moments12Chunk, error) {
			return nil, status.Error(codes.Unimplemented, "unknown method")
		}, errors.ErrUnsupported},
	}
	cases4 := []struct {
		name string
		edit func(cs []*pb.Moment4Chunk) ([]*pb.Moment4Chunk, error)
		want error
	}{
		{"no header", func(cs []*pb.Moment4Chunk) ([]*pb.Moment4Chunk, error) { cs[0].Header = nil; return cs, nil }, ErrBadReply},
		{"other k", func(cs []*pb.Moment4Chunk) ([]*pb.Moment4Chunk, error) { cs[0].Header.K = 2; return cs, nil }, ErrBadReply},
		{"wrong length", func(cs []*pb.Moment4Chunk) ([]*pb.Moment4Chunk, error) { cs[0].Header.SumLen = 16; return cs, nil }, ErrBadReply},
		{"negative rows", func(cs []*pb.Moment4Chunk) ([]*pb.Moment4Chunk, error) { cs[0].Header.Rows = -3; return cs, nil }, ErrBadReply},
		{"NaN", func(cs []*pb.Moment4Chunk) ([]*pb.Moment4Chunk, error) { cs[2].Sum[1] = math.NaN(); return cs, nil }, ErrBadReply},
		{"out of order", func(cs []*pb.Moment4Chunk) ([]*pb.Moment4Chunk, error) { cs[1], cs[2] = cs[2], cs[1]; return cs, nil }, ErrBadReply},
		{"repeated chunk", func(cs []*pb.Moment4Chunk) ([]*pb.Moment4Chunk, error) { return append(cs[:2], cs[1:]...), nil }, ErrBadReply},
		{"ends early", func(cs []*pb.Moment4Chunk) ([]*pb.Moment4Chunk, error) { return cs[:3], nil }, ErrBadReply},
		{"wrong partition", func(cs []*pb.Moment4Chunk) ([]*pb.Moment4Chunk, error) { cs[0].Partition = 0; return cs, nil }, ErrStale},
		{"other shard", func(cs []*pb.Moment4Chunk) ([]*pb.Moment4Chunk, error) { cs[0].Header.ShardId = ""; return cs, nil }, ErrWrongShard},
		{"version 0", func(cs []*pb.Moment4Chunk) ([]*pb.Moment4Chunk, error) {
			cs[0].Header.ProtocolVersion = 0
			return cs, nil
		}, ErrVersion},
	}
	f := &fakeMoments{}
	c := dialBuf(t, func(gs *grpc.Server) { pb.RegisterShardServer(gs, f) })
	ctx := context.Background()
	base := randBaseline(rng, d, 2)
	for _, tc := range cases12 {
		t.Run("moments12/"+tc.name, func(t *testing.T) {
			f.script12 = func(r *pb.Moments12Request) ([]*pb.Moments12Chunk, error) { return tc.edit(valid12(r)) }
			m, err := c.Moments12(ctx, "s1", part, d, base, 2)
			if !errors.Is(err, tc.want) || m != nil {
				t.Fatalf("got %v, %v; want error %v", m, err, tc.want)
			}
			t.Log(err)
		})
	}
	v := randBaseline(rng, d*k, 0).B
	for _, tc := range cases4 {
		t.Run("moment4/"+tc.name, func(t *testing.T) {
			f.script4 = func(r *pb.Moment4Request) ([]*pb.Moment4Chunk, error) { return tc.edit(valid4(r)) }
			m, err := c.Moment4(ctx, "s1", part, d, v, k, base)
			if !errors.Is(err, tc.want) || m != nil {
				t.Fatalf("got %v, %v; want error %v", m, err, tc.want)
			}
			t.Log(err)
		})
	}

	// The unedited replies are accepted, and the requests carried the
	// arguments bit for bit.
	var sent12 *pb.Moments12Request
	f.script12 = func(r *pb.Moments12Request) ([]*pb.Moments12Chunk, error) { sent12 = r; return valid12(r), nil }
	if _, err := c.Moments12(ctx, "s1", part, d, base, 2); err != nil {
		t.Fatal(err)
	}
	if sent12.GetProtocolVersion() != ProtocolVersion || sent12.GetShardId() != "s1" || sent12.GetPartition() != part || sent12.GetD() != d || sent12.GetOrder() != 2 {
		t.Fatalf("server received %v", sent12)
	}
	if got := baselineFromProto(sent12.GetBaseline()); got.C != base.C || !bitsEqual(got.B, base.B) || !bitsEqual(got.L, base.L) || !bitsEqual(got.S, base.S) {
		t.Fatalf("baseline received %+v, sent %+v", got, base)
	}
	var sent4 *pb.Moment4Request
	f.script4 = func(r *pb.Moment4Request) ([]*pb.Moment4Chunk, error) { sent4 = r; return valid4(r), nil }
	if _, err := c.Moment4(ctx, "s1", part, d, v, k, nil); err != nil {
		t.Fatal(err)
	}
	if sent4.GetK() != k || !bitsEqual(sent4.GetV(), v) || sent4.GetBaseline() != nil {
		t.Fatalf("server received %v", sent4)
	}
}

// TestMomentsUnimplemented checks the answer of a shard built before the
// moment passes: an error naming the shard that wraps errors.ErrUnsupported.
func TestMomentsUnimplemented(t *testing.T) {
	// The service as a shard built before the moment passes registers it:
	// without the Moments12 and Moment4 methods.
	old := pb.Shard_ServiceDesc
	old.Streams = nil
	for _, sd := range pb.Shard_ServiceDesc.Streams {
		if sd.StreamName == "Step" {
			old.Streams = append(old.Streams, sd)
		}
	}
	if len(old.Streams) != 1 {
		t.Fatalf("no Step in %v", pb.Shard_ServiceDesc.Streams)
	}
	c := dialBuf(t, func(gs *grpc.Server) { gs.RegisterService(&old, &fakeShard{}) })
	_, err := c.Moments12(context.Background(), "old-shard", 3, 4, nil, 1)
	if !errors.Is(err, errors.ErrUnsupported) || status.Code(err) != codes.Unimplemented ||
		!strings.Contains(err.Error(), `"old-shard"`) || !strings.Contains(err.Error(), "does not implement Moments12") {
		t.Fatalf("err = %v", err)
	}
	t.Log(err)
	_, err = c.Moment4(context.Background(), "old-shard", 3, 4, make([]float64, 4), 1, nil)
	if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "does not implement Moment4") {
		t.Fatalf("err = %v", err)
	}
}

// TestClientRefusesBadMomentRequests checks that the client refuses bad
// moment requests locally, without calling the shard.
func TestClientRefusesBadMomentRequests(t *testing.T) {
	f := &fakeMoments{}
	c := dialBuf(t, func(gs *grpc.Server) { pb.RegisterShardServer(gs, f) })
	ctx := context.Background()
	good := &shard.Baseline{C: 1, B: []float64{1, 2}, L: []float64{1, 2}, S: []float64{3}}
	cases12 := []struct {
		name         string
		id           string
		part, d, ord int
		base         *shard.Baseline
		want         error
	}{
		{"d too large", "s", 0, MaxMomentD + 1, 1, nil, ErrTooLarge},
		{"no features", "s", 0, 0, 1, nil, shard.ErrRequest},
		{"order 3", "s", 0, 2, 3, nil, shard.ErrRequest},
		{"negative partition", "s", -1, 2, 1, nil, shard.ErrRequest},
		{"partition beyond int32", "s", math.MaxInt32 + 1, 2, 1, nil, shard.ErrRequest},
		{"no shard id", "", 0, 2, 1, nil, shard.ErrRequest},
		{"short linear baseline", "s", 0, 3, 2, good, shard.ErrRequest},
		{"NaN baseline", "s", 0, 2, 2, &shard.Baseline{C: math.NaN()}, shard.ErrRequest},
		{"baseline rank too large", "s", 0, 2, 2, &shard.Baseline{L: make([]float64, 2*(MaxProjection/2+1)), S: make([]float64, MaxProjection/2+1)}, ErrTooLarge},
	}
	for _, tc := range cases12 {
		if _, err := c.Moments12(ctx, tc.id, tc.part, tc.d, tc.base, tc.ord); !errors.Is(err, tc.want) {
			t.Errorf("moments12 %s: %v, want %v", tc.name, err, tc.want)
		}
	}
	cases4 := []struct {
		name string
		d, k int
		v    []float64
		want error
	}{
		{"k above d", 2, 3, make([]float64, 6), shard.ErrRequest},
		{"k zero", 2, 0, nil, shard.ErrRequest},
		{"projection too large", 200, 100, make([]float64, 20000), ErrTooLarge},
		{"short projection", 3, 2, make([]float64, 5), shard.ErrRequest},
		{"NaN projection", 1, 1, []float64{math.Inf(1)}, shard.ErrRequest},
	}
	for _, tc := range cases4 {
		if _, err := c.Moment4(ctx, "s", 0, tc.d, tc.v, tc.k, nil); !errors.Is(err, tc.want) {
			t.Errorf("moment4 %s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if n := f.calls.Load(); n != 0 {
		t.Fatalf("shard called %d times", n)
	}
}

// TestServerRefusesMomentRequests sends requests the client would refuse
// straight to the server, and requests it cannot serve.
func TestServerRefusesMomentRequests(t *testing.T) {
	pr := newProblem(t, "model=sum,d=4,k=2,n=20,seed=1", 4, false)
	c, _, _ := serveEngine(t, pr.engine(t, 1, 3), ShardInfo{ID: "s1", Schema: pr.schema()})
	ctx := context.Background()
	recv12 := func(r *pb.Moments12Request) error {
		st, err := c.rpc.Moments12(ctx, r)
		if err == nil {
			_, err = st.Recv()
		}
		return fromStatus(err)
	}
	recv4 := func(r *pb.Moment4Request) error {
		st, err := c.rpc.Moment4(ctx, r)
		if err == nil {
			_, err = st.Recv()
		}
		return fromStatus(err)
	}
	ok12 := func() *pb.Moments12Request {
		return &pb.Moments12Request{ProtocolVersion: 1, ShardId: "s1", Partition: 1, D: 4, Order: 2}
	}
	ok4 := func() *pb.Moment4Request {
		return &pb.Moment4Request{ProtocolVersion: 1, ShardId: "s1", Partition: 3, D: 4, K: 2, V: make([]float64, 8)}
	}
	cases := []struct {
		name string
		err  error
		code codes.Code
		want error
	}{
		{"version 0", recv12(func() *pb.Moments12Request { r := ok12(); r.ProtocolVersion = 0; return r }()), codes.FailedPrecondition, ErrVersion},
		{"other shard", recv4(func() *pb.Moment4Request { r := ok4(); r.ShardId = "s2"; return r }()), codes.FailedPrecondition, ErrWrongShard},
		{"not held", recv12(func() *pb.Moments12Request { r := ok12(); r.Partition = 0; return r }()), codes.NotFound, nil},
		{"other d", recv12(func() *pb.Moments12Request { r := ok12(); r.D = 5; return r }()), codes.InvalidArgument, nil},
		{"d too large", recv12(func() *pb.Moments12Request { r := ok12(); r.D = MaxMomentD + 1; return r }()), codes.InvalidArgument, ErrTooLarge},
		{"order 0", recv12(func() *pb.Moments12Request { r := ok12(); r.Order = 0; return r }()), codes.InvalidArgument, nil},
		{"bad baseline", recv12(func() *pb.Moments12Request { r := ok12(); r.Baseline = &pb.Baseline{B: []float64{1}}; return r }()), codes.InvalidArgument, nil},
		{"k above d", recv4(func() *pb.Moment4Request { r := ok4(); r.K, r.V = 5, make([]float64, 20); return r }()), codes.InvalidArgument, nil},
		{"NaN projection", recv4(func() *pb.Moment4Request { r := ok4(); r.V[3] = math.NaN(); return r }()), codes.InvalidArgument, nil},
		{"ok 12", recv12(ok12()), codes.OK, nil},
		{"ok 4", recv4(ok4()), codes.OK, nil},
	}
	for _, tc := range cases {
		if status.Code(tc.err) != tc.code || (tc.want != nil && !errors.Is(tc.err, tc.want)) {
			t.Errorf("%s: %v, want code %v and %v", tc.name, tc.err, tc.code, tc.want)
		}
	}
}
