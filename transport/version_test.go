package transport

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"altmin/data"
	"altmin/deep"
	"altmin/linalg"
	"altmin/model"
	pb "altmin/proto/altminpb"
	"altmin/shard"
)

// The Gram values as raw little-endian bytes (StepChunk.gram_le, protocol
// version 2) and the interoperation of versions 1 and 2.

// putGramLE overwrites value i of a chunk's gram_le with x.
func putGramLE(c *pb.StepChunk, i int, x float64) {
	binary.LittleEndian.PutUint64(c.GramLe[8*i:], math.Float64bits(x))
}

// TestClientRejectsHostileGramBytes checks that malformed gram_le chunks
// are rejected with ErrBadReply and a message naming the problem.
func TestClientRejectsHostileGramBytes(t *testing.T) {
	const seed = 19
	t.Logf("seed %d", seed)
	// m = 12: 78 Gram values in chunks of 20 doubles: the first carries 8
	// Gram values after the 12 rhs values, then 20, 20, 20, 10.
	req := &shard.Request{Iter: 4, D: 4, Signs: []float64{1, -1, 1}, U: make([]float64, 12), Prev: make([]float64, 12)}
	const part = 2
	valid := func(r *pb.StepRequest) []*pb.StepChunk {
		return encodeStats(fakeStats(r, seed), "s1", r.GetProtocolVersion(), 20)
	}
	type edit func(cs []*pb.StepChunk) []*pb.StepChunk
	cases := []struct {
		name string
		edit edit
		msg  string // in the error
	}{
		{"length not a multiple of 8", func(cs []*pb.StepChunk) []*pb.StepChunk {
			cs[2].GramLe = cs[2].GramLe[:len(cs[2].GramLe)-3]
			return cs
		}, "chunk at Gram offset 28 has 157 bytes of gram_le, not a multiple of 8"},
		{"one byte too many", func(cs []*pb.StepChunk) []*pb.StepChunk {
			cs[4].GramLe = append(cs[4].GramLe, 0)
			return cs
		}, "81 bytes of gram_le, not a multiple of 8"},
		{"first chunk not a multiple of 8", func(cs []*pb.StepChunk) []*pb.StepChunk {
			cs[0].GramLe = cs[0].GramLe[:7]
			return cs
		}, "chunk at Gram offset 0 has 7 bytes of gram_le"},
		{"both fields", func(cs []*pb.StepChunk) []*pb.StepChunk {
			cs[2].Gram = []float64{1}
			return cs
		}, "chunk at Gram offset 28 has both gram (1 values) and gram_le (160 bytes)"},
		{"both fields in the first chunk", func(cs []*pb.StepChunk) []*pb.StepChunk {
			cs[0].Gram = []float64{1, 2}
			return cs
		}, "has both gram"},
		{"NaN", func(cs []*pb.StepChunk) []*pb.StepChunk {
			putGramLE(cs[2], 5, math.NaN())
			return cs
		}, "Gram value NaN at offset 33"},
		{"NaN with a payload", func(cs []*pb.StepChunk) []*pb.StepChunk {
			putGramLE(cs[1], 0, math.Float64frombits(0xfff0000000000001))
			return cs
		}, "Gram value NaN at offset 8"},
		{"+Inf", func(cs []*pb.StepChunk) []*pb.StepChunk {
			putGramLE(cs[4], 9, math.Inf(1))
			return cs
		}, "Gram value +Inf at offset 77"},
		{"-Inf in the first chunk", func(cs []*pb.StepChunk) []*pb.StepChunk {
			putGramLE(cs[0], 0, math.Inf(-1))
			return cs
		}, "Gram value -Inf at offset 0"},
		{"overrun", func(cs []*pb.StepChunk) []*pb.StepChunk {
			cs[4].GramLe = binary.LittleEndian.AppendUint64(cs[4].GramLe, math.Float64bits(1))
			return cs
		}, "chunk of 11 values at Gram offset 68 overruns the 78 values"},
		{"gap", func(cs []*pb.StepChunk) []*pb.StepChunk {
			return append(cs[:2], cs[3:]...)
		}, "gap: chunk at Gram offset 48 after 28 values"},
		{"overlap", func(cs []*pb.StepChunk) []*pb.StepChunk {
			cs[2].Offset--
			return cs
		}, "overlap: chunk at Gram offset 27 after 28 values"},
		{"repeated chunk", func(cs []*pb.StepChunk) []*pb.StepChunk {
			return append(cs[:3], cs[2:]...)
		}, "overlap: chunk at Gram offset 28 after 48 values"},
		{"short chunk", func(cs []*pb.StepChunk) []*pb.StepChunk {
			cs[2].GramLe = cs[2].GramLe[:8*19]
			return cs
		}, "gap: chunk at Gram offset 48 after 47 values"},
		{"empty chunk", func(cs []*pb.StepChunk) []*pb.StepChunk {
			e := &pb.StepChunk{Iter: cs[0].Iter, Partition: cs[0].Partition, Offset: cs[1].Offset, GramLe: []byte{}}
			return append(cs[:1], append([]*pb.StepChunk{e}, cs[1:]...)...)
		}, "empty chunk at Gram offset 8"},
		{"ends early", func(cs []*pb.StepChunk) []*pb.StepChunk {
			return cs[:len(cs)-1]
		}, "stream ended after 68 of 78 Gram values"},
	}
	f := &fakeShard{}
	c := serveFake(t, f)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.script = func(r *pb.StepRequest) ([]*pb.StepChunk, error) {
				cs := valid(r)
				if len(cs) != 5 || len(cs[1].GetGramLe()) != 160 {
					t.Fatalf("valid reply: %d chunks, %d bytes in the second", len(cs), len(cs[1].GetGramLe()))
				}
				return tc.edit(cs), nil
			}
			st, err := c.Step(context.Background(), "s1", req, part)
			if !errors.Is(err, ErrBadReply) || st != nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, %v; want ErrBadReply with %q", st, err, tc.msg)
			}
			t.Log(err)
		})
	}

	// The unedited reply is accepted, and a reply that mixes the two
	// encodings chunk by chunk (each chunk in one of them) too.
	for _, mixed := range []bool{false, true} {
		f.script = func(r *pb.StepRequest) ([]*pb.StepChunk, error) {
			cs := valid(r)
			if mixed {
				plain := splitStats(fakeStats(r, seed), "s1", r.GetProtocolVersion(), 20)
				cs[1], cs[3] = plain[1], plain[3]
			}
			return cs, nil
		}
		got, err := c.Step(context.Background(), "s1", req, part)
		if err != nil {
			t.Fatalf("mixed %v: %v", mixed, err)
		}
		sent := f.last.Load()
		if sent.GetProtocolVersion() != ProtocolVersion {
			t.Fatalf("sent version %d", sent.GetProtocolVersion())
		}
		sameBits(t, fmt.Sprintf("mixed %v", mixed), got, fakeStats(sent, seed))
		// The client checked every value, so Validate does not read them
		// again: a value changed afterwards goes unnoticed by it.
		got.Gram[3] = math.NaN()
		if err := got.Validate(got.M); err != nil {
			t.Fatalf("received statistics not marked as checked: %v", err)
		}
	}
}

// TestStepEncodingByVersion checks the server's side: a Step request of
// version 1 (a coordinator built before version 2) is answered with the
// Gram values in gram and a header of version 1, exactly as a shard of
// version 1 would; a request of version 2 with gram_le and a header of
// version 2; both with the same bits as Engine.Compute. The moment passes
// and DeepStep echo the request's version too.
func TestStepEncodingByVersion(t *testing.T) {
	pr := newProblem(t, "model=sum,d=99,k=5,n=40,seed=3", 2, true) // d = 100 with bias, m = 500
	served, direct := pr.engine(t, 0, 1), pr.engine(t, 0, 1)
	c, _, sizes := serveEngine(t, served, ShardInfo{ID: "s1", Schema: pr.schema()})
	raw := pb.NewShardClient(c.conn)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 0))
	req := &shard.Request{Iter: 1, D: pr.features(), Signs: pr.signs, U: pr.weights(rng), Prev: pr.weights(rng)}
	m := len(req.U)
	want, err := direct.Compute(req, 1)
	if err != nil {
		t.Fatal(err)
	}
	for v := uint32(MinProtocolVersion); v <= MaxProtocolVersion; v++ {
		stream, err := raw.Step(ctx, requestToProto(req, 1, "s1", v))
		if err != nil {
			t.Fatal(err)
		}
		a := newAssembler("s1", req, 1)
		var chunks, plain, le int
		for {
			ch, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if h := ch.GetHeader(); h != nil && h.GetProtocolVersion() != v {
				t.Fatalf("request of version %d answered with version %d", v, h.GetProtocolVersion())
			}
			chunks++
			plain += len(ch.GetGram())
			le += len(ch.GetGramLe())
			if err := a.add(ch); err != nil {
				t.Fatal(err)
			}
		}
		got, err := a.finish()
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, fmt.Sprintf("version %d", v), got, want)
		n := linalg.PackedLen(m)
		wantPlain, wantLE := n, 0 // version 1: packed doubles only
		if v >= GramBytesVersion {
			wantPlain, wantLE = 0, 8*n
		}
		if plain != wantPlain || le != wantLE {
			t.Fatalf("version %d: %d values in gram, %d bytes in gram_le; want %d and %d", v, plain, le, wantPlain, wantLE)
		}
		sz := sizes.take()
		if wantChunks := (n + m + ChunkDoubles - 1) / ChunkDoubles; chunks != wantChunks || len(sz) != chunks {
			t.Fatalf("version %d: %d chunks (%d sent), want %d", v, chunks, len(sz), wantChunks)
		}
		for i, b := range sz {
			if b > ChunkBytes {
				t.Errorf("version %d: chunk %d is %d bytes, more than %d", v, i, b, ChunkBytes)
			}
		}
		t.Logf("version %d: chunk sizes %v", v, sz)
	}

	// The other calls answer in the request's version, with the same
	// content in both.
	d := pr.features()
	net := data.RandomNet(model.NewNet(d, 3, 2), 1)
	for v := uint32(MinProtocolVersion); v <= MaxProtocolVersion; v++ {
		s12, err := raw.Moments12(ctx, (&moments12Args{partition: 0, d: d, order: 2}).toProto("s1", v))
		if err != nil {
			t.Fatal(err)
		}
		c12, err := s12.Recv()
		if err != nil || c12.GetHeader().GetProtocolVersion() != v {
			t.Fatalf("Moments12 at version %d: header version %d, %v", v, c12.GetHeader().GetProtocolVersion(), err)
		}
		s4, err := raw.Moment4(ctx, (&moment4Args{partition: 0, d: d, k: 1, v: make([]float64, d)}).toProto("s1", v))
		if err != nil {
			t.Fatal(err)
		}
		c4, err := s4.Recv()
		if err != nil || c4.GetHeader().GetProtocolVersion() != v {
			t.Fatalf("Moment4 at version %d: header version %d, %v", v, c4.GetHeader().GetProtocolVersion(), err)
		}
		sd, err := raw.DeepStep(ctx, deepRequestToProto(&deep.Request{Step: 0, Net: net, Layers: []int{1, 2}}, 0, "s1", v))
		if err != nil {
			t.Fatal(err)
		}
		cd, err := sd.Recv()
		if err != nil || cd.GetHeader().GetProtocolVersion() != v {
			t.Fatalf("DeepStep at version %d: header version %d, %v", v, cd.GetHeader().GetProtocolVersion(), err)
		}
	}
	sizes.take()
}

// oldShard serves like a shard built before protocol version 2: it
// refuses every other version as that build's admit did (a status naming
// the supported range 1..1) and otherwise lets a current Server answer,
// which answers a request of version 1 exactly as the old build did.
type oldShard struct {
	pb.UnimplementedShardServer
	srv *Server

	mu       sync.Mutex
	versions []string // "Step 2", ... in the order received
}

func (o *oldShard) admit(call string, v uint32) error {
	o.mu.Lock()
	o.versions = append(o.versions, fmt.Sprintf("%s %d", call, v))
	o.mu.Unlock()
	if v == 1 {
		return nil
	}
	st := status.New(codes.FailedPrecondition, fmt.Sprintf("shard %q: protocol version %d not supported (supported: 1..1)", o.srv.info.ID, v))
	st, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reasonVersion, Domain: errDomain,
		Metadata: map[string]string{"min_protocol_version": "1", "max_protocol_version": "1"}})
	if err != nil {
		panic(err)
	}
	return st.Err()
}

func (o *oldShard) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	v := o.versions
	o.versions = nil
	return v
}

func (o *oldShard) Info(ctx context.Context, r *pb.InfoRequest) (*pb.InfoReply, error) {
	rep, err := o.srv.Info(ctx, r)
	if err == nil {
		rep.MinProtocolVersion, rep.MaxProtocolVersion = 1, 1
	}
	return rep, err
}

func (o *oldShard) Step(r *pb.StepRequest, s grpc.ServerStreamingServer[pb.StepChunk]) error {
	if err := o.admit("Step", r.GetProtocolVersion()); err != nil {
		return err
	}
	return o.srv.Step(r, s)
}

func (o *oldShard) Moments12(r *pb.Moments12Request, s grpc.ServerStreamingServer[pb.Moments12Chunk]) error {
	if err := o.admit("Moments12", r.GetProtocolVersion()); err != nil {
		return err
	}
	return o.srv.Moments12(r, s)
}

func (o *oldShard) Moment4(r *pb.Moment4Request, s grpc.ServerStreamingServer[pb.Moment4Chunk]) error {
	if err := o.admit("Moment4", r.GetProtocolVersion()); err != nil {
		return err
	}
	return o.srv.Moment4(r, s)
}

func (o *oldShard) DeepStep(r *pb.DeepStepRequest, s grpc.ServerStreamingServer[pb.DeepStepChunk]) error {
	if err := o.admit("DeepStep", r.GetProtocolVersion()); err != nil {
		return err
	}
	return o.srv.DeepStep(r, s)
}

// TestClientWithVersion1Shard checks that a client of version 2 works with
// a shard of version 1: its first call is refused and made again at
// version 1, every later call is made at version 1 at once, and the
// results are those of the engine, bit for bit.
func TestClientWithVersion1Shard(t *testing.T) {
	pr := newProblem(t, "model=sum,d=99,k=5,n=40,seed=3", 2, true) // m = 500: two chunks
	served, direct := pr.engine(t, 0, 1), pr.engine(t, 0, 1)
	old := &oldShard{srv: NewServer(served, ShardInfo{ID: "s1", Schema: pr.schema()}, nil)}
	dial := func() *Client { return dialBuf(t, func(gs *grpc.Server) { pb.RegisterShardServer(gs, old) }) }
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(8, 0))
	req := &shard.Request{Iter: 1, D: pr.features(), Signs: pr.signs, U: pr.weights(rng), Prev: pr.weights(rng)}
	want, err := direct.Compute(req, 0)
	if err != nil {
		t.Fatal(err)
	}
	expect := func(what string, want ...string) {
		t.Helper()
		if got := old.take(); !slices.Equal(got, want) {
			t.Fatalf("%s: the shard received %q, want %q", what, got, want)
		}
	}

	c := dial()
	for i := 0; i < 2; i++ {
		got, err := c.Step(ctx, "s1", req, 0)
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, "step", got, want)
	}
	expect("two Steps", "Step 2", "Step 1", "Step 1")
	d := pr.features()
	if _, err := c.Moments12(ctx, "s1", 0, d, nil, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Moment4(ctx, "s1", 0, d, make([]float64, d), 1, nil); err != nil {
		t.Fatal(err)
	}
	net := data.RandomNet(model.NewNet(d, 3, 2), 1)
	if _, err := c.DeepStep(ctx, "s1", &deep.Request{Net: net, Layers: []int{2}}, 0); err != nil {
		t.Fatal(err)
	}
	expect("the other calls", "Moments12 1", "Moment4 1", "DeepStep 1")

	// A fresh client whose first call is a moment pass learns it there.
	c = dial()
	if _, err := c.Moments12(ctx, "s1", 1, d, nil, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Step(ctx, "s1", req, 0); err != nil {
		t.Fatal(err)
	}
	expect("moment pass first", "Moments12 2", "Moments12 1", "Step 1")

	// Info tells a client the shard's versions before any call.
	c = dial()
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != "s1" {
		t.Fatalf("info %+v", info)
	}
	got, err := c.Step(ctx, "s1", req, 0)
	if err != nil {
		t.Fatal(err)
	}
	sameBits(t, "step after Info", got, want)
	expect("after Info", "Step 1")
}

// TestClientVersionRefusals checks refusals of a version that do not lead
// to another try: a shard that names no older version this package speaks,
// or names the version refused, is reported with ErrVersion after one call.
func TestClientVersionRefusals(t *testing.T) {
	req := &shard.Request{Iter: 0, D: 2, Signs: []float64{1}, U: []float64{1, 2}}
	refusal := func(max string) error {
		st := status.New(codes.FailedPrecondition, "version refused")
		md := map[string]string{"min_protocol_version": max, "max_protocol_version": max}
		if max == "" {
			md = nil
		}
		st, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reasonVersion, Domain: errDomain, Metadata: md})
		if err != nil {
			t.Fatal(err)
		}
		return st.Err()
	}
	for _, max := range []string{"", "0", "2", "3", "x"} {
		f := &fakeShard{script: func(*pb.StepRequest) ([]*pb.StepChunk, error) { return nil, refusal(max) }}
		c := serveFake(t, f)
		for i := 0; i < 2; i++ {
			if _, err := c.Step(context.Background(), "s", req, 0); !errors.Is(err, ErrVersion) || status.Code(err) != codes.FailedPrecondition {
				t.Fatalf("max %q: %v, want ErrVersion", max, err)
			}
		}
		if n := f.calls.Load(); n != 2 {
			t.Fatalf("max %q: %d calls for 2 Steps", max, n)
		}
		if v := f.last.Load().GetProtocolVersion(); v != ProtocolVersion {
			t.Fatalf("max %q: the client went on with version %d", max, v)
		}
	}
	// A shard that answers the older version it named is asked once more.
	f := &fakeShard{script: func(r *pb.StepRequest) ([]*pb.StepChunk, error) {
		if r.GetProtocolVersion() != 1 {
			return nil, refusal("1")
		}
		return splitStats(fakeStats(r, 1), "s", 1, ChunkDoubles), nil
	}}
	c := serveFake(t, f)
	got, err := c.Step(context.Background(), "s", req, 0)
	if err != nil {
		t.Fatal(err)
	}
	sameBits(t, "after a refusal", got, fakeStats(f.last.Load(), 1))
	if n := f.calls.Load(); n != 2 {
		t.Fatalf("%d calls, want 2", n)
	}
}

// TestGramBytesChunkWire checks that a gram_le chunk survives the protobuf
// encoding with its bytes, at the cost of the packed doubles: one tag and
// one length before the 8 bytes per value.
func TestGramBytesChunkWire(t *testing.T) {
	vals := []float64{1, math.Copysign(0, -1), 5e-324}
	c := &pb.StepChunk{Iter: 1, Partition: 2, Offset: 3, Gram: slices.Clone(vals)}
	packed := proto.Size(c)
	gramToBytes(c)
	back := wire(t, c, &pb.StepChunk{})
	if !proto.Equal(back, c) || len(back.GetGram()) != 0 || len(back.GetGramLe()) != 24 {
		t.Fatalf("got %v, want %v", back, c)
	}
	if n := proto.Size(c); n != packed {
		t.Fatalf("%d bytes with gram_le, %d with gram", n, packed)
	}
	dst := make([]float64, len(vals))
	if decodeFinite(dst, back.GetGramLe()) >= 0 || !bitsEqual(dst, vals) {
		t.Fatalf("decoded %v, want %v", dst, vals)
	}
}
