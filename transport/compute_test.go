package transport

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"altmin/data"
	"altmin/linalg"
	"altmin/model"
	"altmin/msg"
	pb "altmin/proto/altminpb"
	"altmin/shard"
)

// Replies of real engines over gRPC: bit for bit those of the engine in
// process, for every kind, storage and size; and what the server does with
// a fetcher's wrong partial or unreadable data.

// tameBaseline returns a seeded random baseline for d features of rank r
// whose values keep an engine's sums finite.
func tameBaseline(rng *rand.Rand, d, r int) *msg.Baseline {
	s := 1 / math.Sqrt(float64(d))
	return &msg.Baseline{C: 0.1, B: normVec(rng, d, 0.1*s), L: normVec(rng, d*r, s), S: normVec(rng, r, 0.1)}
}

// engineRequests returns a sequence of requests of every kind an engine
// holding ds serves: for a 1-hidden-layer teacher, three iterations (the
// later two with their previous weights) and moment passes (a fourth
// moment of k values, k = bigK or 3); for a deep teacher, steps of every
// shape.
func engineRequests(ds *dataset, rng *rand.Rand, bigK int) []namedRequest {
	d := ds.features()
	if ds.hidden != nil {
		net := ds.net(rng.Uint64())
		prev := data.PerturbNet(net, 0.1, rng.Uint64())
		all := make([]int, net.Layers())
		for l := range all {
			all[l] = l + 1
		}
		return []namedRequest{
			{"deep evaluation", &msg.DeepRequest{Step: 0, Net: net}},
			{"deep last layer", &msg.DeepRequest{Step: 1, Net: net, Layers: []int{net.Layers()}, Prev: prev}},
			{"deep per layer", &msg.DeepRequest{Step: 2, Net: net, Layers: all, Prev: prev}},
			{"deep joint", &msg.DeepRequest{Step: 3, Net: net, Layers: all, Joint: true, Prev: prev}},
			{"deep joint, no previous", &msg.DeepRequest{Step: 4, Net: net, Layers: all, Joint: true}},
		}
	}
	var out []namedRequest
	var prev []float64
	for iter := 0; iter < 3; iter++ {
		r := &msg.StatsRequest{Iter: iter, D: d, Signs: ds.signs, U: ds.weights(rng), Prev: prev}
		out = append(out, namedRequest{fmt.Sprintf("stats iter %d", iter), r})
		prev = r.U
	}
	k := max(bigK, 3)
	return append(out,
		namedRequest{"moments12 order 1", &msg.Moments12Request{D: d, Order: 1}},
		namedRequest{"moments12 order 2", &msg.Moments12Request{D: d, Order: 2, Base: tameBaseline(rng, d, 2)}},
		namedRequest{"moments12 linear baseline", &msg.Moments12Request{D: d, Order: 2, Base: &msg.Baseline{C: 1, B: normVec(rng, d, 0.1)}}},
		namedRequest{"moment4", &msg.Moment4Request{D: d, K: k, V: normVec(rng, d*k, 1/math.Sqrt(float64(d))), Base: tameBaseline(rng, d, 1)}},
		namedRequest{"moment4 k 2", &msg.Moment4Request{D: d, K: 2, V: normVec(rng, 2*d, 1)}},
	)
}

// TestComputeBitIdentical serves every kind of request over gRPC and
// compares the replies bit for bit with the same engine's Fetch called in
// process, with float64 and float32 storage: a Gram matrix of m = 800
// (320,400 values, in three runs of at most ChunkDoubles), a fourth moment of k =
// 40 (123,410 values, two), a joint deep system of 512 unknowns (two).
// The in-process partials are also cut into runs of a few values (one
// value for the small ones) and reassembled.
func TestComputeBitIdentical(t *testing.T) {
	const seed = 11
	t.Logf("seed %d", seed)
	sets := []*dataset{
		synthetic(t, "model=sum,d=399,k=2,n=40,seed=5", 2, true),          // d = 400 with the bias: m = 800
		deepTeacher(t, "model=deep,d=59,hidden=8-4,n=40,seed=3", 2, true), // d = 60: 512 weights
	}
	ctx := context.Background()
	for _, st := range []shard.Storage{shard.Float64, shard.Float32} {
		for _, ds := range sets {
			rng := newRand(seed)
			s := serve(t, ds.engine(t, st, 0, 1), ds.info("s1", st, 0, 1))
			direct := ds.engine(t, st, 0, 1)
			bigK := 0
			if st == shard.Float64 {
				bigK = 40 // d*k = 16,000 <= msg.MaxProjection
			}
			for _, nr := range engineRequests(ds, rng, bigK) {
				for part := 0; part < 2; part++ {
					what := fmt.Sprintf("%s, %s, partition %d", st, nr.name, part)
					got, err := s.c.Call(ctx, "s1", nr.req, msg.Leaf(part))
					if err != nil {
						t.Fatalf("%s: %v", what, err)
					}
					want, err := direct.Fetch(ctx, nr.req, msg.Leaf(part))
					if err != nil {
						t.Fatalf("%s: %v", what, err)
					}
					if err := want.Check(nr.req); err != nil {
						t.Fatalf("%s: in process: %v", what, err)
					}
					sameBits(t, what, got, want)
					sizes := s.sizes.take()
					if len(sizes) != wantChunks(want, ChunkDoubles) {
						t.Errorf("%s: %d chunks, want %d", what, len(sizes), wantChunks(want, ChunkDoubles))
					}
					for i, n := range sizes {
						if n > ChunkBytes {
							t.Errorf("%s: chunk %d of %d bytes > %d", what, i, n, ChunkBytes)
						}
					}
					per := 1
					if payloadLen(want) > 2000 {
						per = 4099
					}
					small, err := assemble(t, nr.req, part, "s1", s.clientPool, chunksOf(t, want, "s1", per))
					if err != nil {
						t.Fatalf("%s, per %d: %v", what, per, err)
					}
					sameBits(t, what+fmt.Sprintf(", per %d", per), small, want)
					// The client's buffers go back to its pool: the next
					// replies overwrite reused memory.
					got.Release(s.clientPool)
					small.Release(s.clientPool)
				}
			}
		}
	}
}

// TestLargeGramChunks streams a Gram matrix of m = 2400 (2,881,200 values,
// 23 MB) with the flow-control options of StreamServerOptions and
// StreamDialOptions: 26 chunks, each at most ChunkBytes serialized, all but
// the last run of the Gram matrix exactly ChunkDoubles values; the reply is
// the engine's, bit for bit.
func TestLargeGramChunks(t *testing.T) {
	const seed = 17
	t.Logf("seed %d", seed)
	ds := synthetic(t, "model=sum,d=299,k=8,n=12,seed=2", 2, true) // d = 300 with the bias
	// The chunks as sent, to measure each.
	var sent []*pb.Chunk
	keep := grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return h(srv, &keepStream{ServerStream: ss, keep: &sent})
	})
	s := serveOpts(t, ds.engine(t, shard.Float64, 0), ds.info("big", shard.Float64, 0), append(StreamServerOptions(), keep), StreamDialOptions())
	req := &msg.StatsRequest{Iter: 0, D: ds.features(), Signs: ds.signs, U: ds.weights(newRand(seed))}
	m := len(req.U)
	if m != 2400 {
		t.Fatalf("m = %d", m)
	}
	got, err := s.c.Call(context.Background(), "big", req, msg.Leaf(0))
	if err != nil {
		t.Fatal(err)
	}
	want, err := ds.engine(t, shard.Float64, 0).Fetch(context.Background(), req, msg.Leaf(0))
	if err != nil {
		t.Fatal(err)
	}
	sameBits(t, "m = 2400", got, want)

	n := linalg.PackedLen(m)
	gramChunks := (n + ChunkDoubles - 1) / ChunkDoubles
	sizes := s.sizes.take()
	if len(sizes) != 1+gramChunks || len(sent) != len(sizes) {
		t.Fatalf("%d chunks (%d kept), want %d", len(sizes), len(sent), 1+gramChunks)
	}
	largest := 0
	for i, c := range sent {
		size := proto.Size(c)
		if size != sizes[i] || size > ChunkBytes {
			t.Errorf("chunk %d: %d bytes (%d as sent), at most %d allowed", i, size, sizes[i], ChunkBytes)
		}
		largest = max(largest, size)
		vals := len(c.GetValues()) / 8
		switch {
		case i == 0 && vals != m:
			t.Errorf("first chunk has %d values, want the %d of r", vals, m)
		case i > 0 && i < len(sent)-1 && vals != ChunkDoubles:
			t.Errorf("chunk %d has %d values, want %d", i, vals, ChunkDoubles)
		}
	}
	t.Logf("%d chunks, the largest %d bytes (bound %d)", len(sent), largest, ChunkBytes)
	if largest < 8*ChunkDoubles {
		t.Errorf("largest chunk %d bytes: the runs are not full", largest)
	}
}

// keepStream keeps a copy of every chunk a server sends.
type keepStream struct {
	grpc.ServerStream
	keep *[]*pb.Chunk
}

func (s *keepStream) SendMsg(m any) error {
	if c, ok := m.(*pb.Chunk); ok {
		*s.keep = append(*s.keep, proto.Clone(c).(*pb.Chunk))
	}
	return s.ServerStream.SendMsg(m)
}

// randNetFor returns a seeded random network of the given widths, drawn
// as a teacher's, whose statistics are finite.
func randNetFor(rng *rand.Rand, dims ...int) *model.Net {
	return data.RandomNet(model.NewNet(dims...), rng.Uint64())
}

// TestServerWrongPartial checks that a partial the fetcher gets wrong (of
// another partition or span, round or kind than asked) is not passed off as the
// one asked for: the client rejects it.
func TestServerWrongPartial(t *testing.T) {
	ds := synthetic(t, "model=sum,d=3,k=2,n=20,seed=2", 2, false)
	eng := ds.engine(t, shard.Float64, 0, 1)
	eng.SetPartitionCount(2)
	var mode atomic.Int64
	fetch := fetcherFunc(func(ctx context.Context, req msg.Request, sp msg.Span) (msg.Partial, error) {
		switch mode.Load() {
		case 1: // another partition's
			return eng.Fetch(ctx, req, msg.Leaf(1-sp.Lo))
		case 2: // another round's
			p, err := eng.Fetch(ctx, req, sp)
			if err == nil {
				p.(*msg.Stats).Iter++
			}
			return p, err
		case 3: // another kind's
			return eng.Fetch(ctx, &msg.Moments12Request{D: 3, Order: 1}, sp)
		case 4: // a wider span's, of the same first partition
			return eng.Fetch(ctx, req, msg.Span{Lo: sp.Lo, N: 2})
		}
		return eng.Fetch(ctx, req, sp)
	})
	s := serve(t, fetch, ds.info("s", shard.Float64, 0, 1))
	req := &msg.StatsRequest{Iter: 0, D: 3, Signs: ds.signs, U: ds.weights(newRand(1))}
	for m, want := range map[int64]error{0: nil, 1: ErrStale, 2: ErrStale, 3: ErrBadReply, 4: ErrStale} {
		mode.Store(m)
		p, err := s.c.Call(context.Background(), "s", req, msg.Leaf(0))
		if want == nil && err != nil || want != nil && (!errors.Is(err, want) || p != nil) {
			t.Errorf("mode %d: %v, %v; want %v", m, p, err, want)
		}
	}
}

// TestUnreadableData: a streaming shard whose file is truncated after it
// started answers DataLoss with a reason the client maps to msg.ErrData,
// naming the partition and the file; until then it serves the same bits
// as an in-memory engine.
func TestUnreadableData(t *testing.T) {
	ds := synthetic(t, "model=sum,d=4,k=2,n=300,seed=3", 3, false)
	dir := t.TempDir()
	xPath, yPath := filepath.Join(dir, "x.npy"), filepath.Join(dir, "y.npy")
	if err := data.WriteSource(xPath, yPath, ds.src, false); err != nil {
		t.Fatal(err)
	}
	src, err := data.OpenNPY(xPath, yPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	eng, err := shard.NewStreamingEngine(shard.StreamConfig{Source: src, Partitions: 3, IDs: []int{0, 2}, Storage: shard.Float64, Resident: 1})
	if err != nil {
		t.Fatal(err)
	}
	s := serve(t, eng, ds.info("s1", shard.Float64, 0, 2))
	ctx := context.Background()
	reqs := []msg.Request{
		&msg.StatsRequest{D: ds.features(), Signs: ds.signs, U: ds.weights(newRand(1))},
		&msg.Moments12Request{D: ds.features(), Order: 2},
	}
	for _, req := range reqs {
		got, err := s.c.Call(ctx, "s1", req, msg.Leaf(2))
		if err != nil {
			t.Fatal(err)
		}
		want, err := ds.engine(t, shard.Float64, 2).Fetch(ctx, req, msg.Leaf(2))
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, "streamed", got, want)
	}
	if err := os.Truncate(xPath, 0); err != nil {
		t.Fatal(err)
	}
	for _, req := range reqs {
		// Partition 2 is held; partition 0 must be read, and cannot be.
		_, err := s.c.Call(ctx, "s1", req, msg.Leaf(0))
		if !errors.Is(err, msg.ErrData) || status.Code(err) != codes.DataLoss ||
			!strings.Contains(err.Error(), "partition 0") || !strings.Contains(err.Error(), "x.npy") {
			t.Fatalf("%s of an unreadable partition: %v (code %v), want DataLoss wrapping msg.ErrData", req.Kind(), err, status.Code(err))
		}
	}
}
