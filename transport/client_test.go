package transport

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"altmin/linalg"
	pb "altmin/proto/altminpb"
	"altmin/shard"
)

// fakeShard is a hostile Shard server: it answers Step with whatever chunks
// and final error its script returns.
type fakeShard struct {
	pb.UnimplementedShardServer
	script func(req *pb.StepRequest) ([]*pb.StepChunk, error)
	info   *pb.InfoReply
	calls  atomic.Int64
	last   atomic.Pointer[pb.StepRequest]
}

func (f *fakeShard) Step(req *pb.StepRequest, stream grpc.ServerStreamingServer[pb.StepChunk]) error {
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

func serveFake(t *testing.T, f *fakeShard) *Client {
	t.Helper()
	return dialBuf(t, func(gs *grpc.Server) { pb.RegisterShardServer(gs, f) })
}

// fakeStats returns seeded random statistics answering req for partition.
func fakeStats(req *pb.StepRequest, seed uint64) *shard.Stats {
	rng := rand.New(rand.NewPCG(seed, 1))
	m := len(req.GetU())
	st := &shard.Stats{
		Iter: int(req.GetIter()), Partition: int(req.GetPartition()), Rows: 5, M: m,
		Gram: make([]float64, linalg.PackedLen(m)), R: make([]float64, m),
		YY: rng.Float64(), SSE: rng.Float64(), Flips: -1,
	}
	if req.GetHasPrev() {
		st.Flips = 3
	}
	for i := range st.Gram {
		st.Gram[i] = rng.NormFloat64()
	}
	for i := range st.R {
		st.R[i] = rng.NormFloat64()
	}
	return st
}

// TestClientRejectsHostileReplies checks that every kind of malformed,
// stale or foreign reply is rejected with the right sentinel.
func TestClientRejectsHostileReplies(t *testing.T) {
	const seed = 17
	t.Logf("seed %d", seed)
	// d = 4, k = 3: m = 12, 78 Gram values in chunks of 20 doubles: the
	// first carries 8 Gram values after the 12 rhs values, then 20, 20, 20, 10.
	req := &shard.Request{Iter: 4, D: 4, Signs: []float64{1, -1, 1}, U: make([]float64, 12), Prev: make([]float64, 12)}
	const part = 2
	valid := func(r *pb.StepRequest) []*pb.StepChunk {
		return splitStats(fakeStats(r, seed), "s1", r.GetProtocolVersion(), 20)
	}
	// cases edit the valid chunks of a request with previous weights.
	cases := []struct {
		name string
		edit func(cs []*pb.StepChunk) ([]*pb.StepChunk, error)
		want error
	}{
		{"no header", func(cs []*pb.StepChunk) ([]*pb.StepChunk, error) {
			cs[0].Header = nil
			return cs, nil
		}, ErrBadReply},
		{"second header", func(cs []*pb.StepChunk) ([]*pb.StepChunk, error) {
			cs[2].Header = cs[0].Header
			return cs, nil
		}, ErrBadReply},
		{"m too large", func(cs []*pb.StepChunk) ([]*pb.StepChunk, error) {
			cs[0].Header.M = 13
			return cs, nil
		}, ErrBadReply},
		{"m huge", func(cs []*pb.StepChunk) ([]*pb.StepChunk, error) {
			cs[0].Header.M, cs[0].Header.GramLen = math.MaxInt32, math.MaxInt64
			return cs, nil
		}, ErrBadReply},
		{"wrong Gram length", func(cs []*pb.StepChunk) ([]*pb.StepChunk, error) {
			cs[0].Header.GramLen = 77
			return cs, nil
		}, ErrBadReply},
		{"short rhs", func(cs []*pb.StepChunk) ([]*pb.StepChunk, error) {
			cs[0].Header.R = cs[0].Header.R[:11]
			return cs, nil
		}, ErrBadReply},
		{"negative rows", func(cs []*pb.StepChunk) ([]*pb.StepChunk, error) {
			cs[0].Header.Rows = -1
			return cs, nil
		}, ErrBadReply},
		{"no flips with prev", func(cs []*pb.StepChunk) ([]*pb.StepChunk, error) {
			cs[0].Header.Flips = -1
			return cs, nil
		}, ErrBadReply},
		{"NaN Gram", func(cs []*pb.StepChunk) ([]*pb.StepChunk, error) {
			cs[2].Gram[5] = math.NaN()
			return cs, nil
		}, ErrBadReply},
		{"Inf rhs", func(cs []*pb.StepChunk) ([]*pb.StepChunk, error) {
			cs[0].Header.R[3] = math.Inf(-1)
			return cs, nil
		}, ErrBadReply},
		{"NaN SSE", func(cs []*pb.StepChunk) ([]*pb.StepChunk, error) {
			cs[0].Header.Sse = math.NaN()
			return cs, nil
		}, ErrBadReply},
		{"gap", func(cs []*pb.StepChunk) ([]*pb.StepChunk, error) {
			return append(cs[:2], cs[3:]...), nil
		}, ErrBadReply},
		{"overlap", func(cs []*pb.StepChunk) ([]*pb.StepChunk, error) {
			cs[2].Offset--
			return cs, nil
		}, ErrBadReply},
		{"repeated chunk", func(cs []*pb.StepChunk) ([]*pb.StepChunk, error) {
			return append(cs[:3], cs[2:]...), nil
		}, ErrBadReply},
		{"out of order", func(cs []*pb.StepChunk) ([]*pb.StepChunk, error) {
			cs[1], cs[2] = cs[2], cs[1]
			return cs, nil
		}, ErrBadReply},
		{"empty chunk", func(cs []*pb.StepChunk) ([]*pb.StepChunk, error) {
			e := &pb.StepChunk{Iter: cs[0].Iter, Partition: cs[0].Partition, Offset: cs[1].Offset}
			return append(cs[:1], append([]*pb.StepChunk{e}, cs[1:]...)...), nil
		}, ErrBadReply},
		{"overrun", func(cs []*pb.StepChunk) ([]*pb.StepChunk, error) {
			last := cs[len(cs)-1]
			last.Gram = append(last.Gram, 1)
			return cs, nil
		}, ErrBadReply},
		{"ends early", func(cs []*pb.StepChunk) ([]*pb.StepChunk, error) {
			return cs[:len(cs)-1], nil
		}, ErrBadReply},
		{"header only", func(cs []*pb.StepChunk) ([]*pb.StepChunk, error) {
			return cs[:1], nil
		}, ErrBadReply},
		{"empty stream", func(cs []*pb.StepChunk) ([]*pb.StepChunk, error) {
			return nil, nil
		}, ErrBadReply},
		{"stale iter", func(cs []*pb.StepChunk) ([]*pb.StepChunk, error) {
			for _, c := range cs {
				c.Iter--
			}
			return cs, nil
		}, ErrStale},
		{"future iter in a later chunk", func(cs []*pb.StepChunk) ([]*pb.StepChunk, error) {
			cs[3].Iter++
			return cs, nil
		}, ErrStale},
		{"wrong partition", func(cs []*pb.StepChunk) ([]*pb.StepChunk, error) {
			for _, c := range cs {
				c.Partition = part + 1
			}
			return cs, nil
		}, ErrStale},
		{"other shard", func(cs []*pb.StepChunk) ([]*pb.StepChunk, error) {
			cs[0].Header.ShardId = "s2"
			return cs, nil
		}, ErrWrongShard},
		{"version 3", func(cs []*pb.StepChunk) ([]*pb.StepChunk, error) {
			cs[0].Header.ProtocolVersion = MaxProtocolVersion + 1
			return cs, nil
		}, ErrVersion},
		{"version 0", func(cs []*pb.StepChunk) ([]*pb.StepChunk, error) {
			cs[0].Header.ProtocolVersion = 0
			return cs, nil
		}, ErrVersion},
		{"refused version after a chunk", func(cs []*pb.StepChunk) ([]*pb.StepChunk, error) {
			return cs[:1], statusWithReason(codes.FailedPrecondition, reasonVersion, "no")
		}, ErrVersion},
	}
	f := &fakeShard{}
	c := serveFake(t, f)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.script = func(r *pb.StepRequest) ([]*pb.StepChunk, error) { return tc.edit(valid(r)) }
			st, err := c.Step(context.Background(), "s1", req, part)
			if !errors.Is(err, tc.want) || st != nil {
				t.Fatalf("got %v, %v; want error %v", st, err, tc.want)
			}
			t.Log(err)
		})
	}

	// The unedited reply is accepted and equals the statistics sent.
	f.script = func(r *pb.StepRequest) ([]*pb.StepChunk, error) { return valid(r), nil }
	got, err := c.Step(context.Background(), "s1", req, part)
	if err != nil {
		t.Fatal(err)
	}
	sent := f.last.Load()
	if sent.GetShardId() != "s1" || sent.GetProtocolVersion() != ProtocolVersion || sent.GetIter() != 4 ||
		sent.GetPartition() != part || !sent.GetHasPrev() || sent.GetD() != 4 {
		t.Fatalf("server received %v", sent)
	}
	sameBits(t, "valid", got, fakeStats(sent, seed))

	// Without previous weights, flips must be -1.
	noPrev := *req
	noPrev.Prev = nil
	f.script = func(r *pb.StepRequest) ([]*pb.StepChunk, error) {
		cs := valid(r)
		cs[0].Header.Flips = 0
		return cs, nil
	}
	if _, err := c.Step(context.Background(), "s1", &noPrev, part); !errors.Is(err, ErrBadReply) {
		t.Fatalf("flips 0 without prev: %v, want ErrBadReply", err)
	}

	// A failed call keeps its status code.
	f.script = func(*pb.StepRequest) ([]*pb.StepChunk, error) {
		return nil, status.Error(codes.Unavailable, "going away")
	}
	if _, err := c.Step(context.Background(), "s1", req, part); status.Code(err) != codes.Unavailable {
		t.Fatalf("got %v, want code Unavailable", err)
	}
}

// TestClientRefusesBadRequests checks that the client refuses requests
// locally, without calling the shard.
func TestClientRefusesBadRequests(t *testing.T) {
	f := &fakeShard{script: func(*pb.StepRequest) ([]*pb.StepChunk, error) { return nil, nil }}
	c := serveFake(t, f)
	big := &shard.Request{D: MaxM/2 + 1, Signs: []float64{1, 1}, U: make([]float64, MaxM+2)}
	ok := &shard.Request{D: 2, Signs: []float64{1}, U: []float64{1, 2}}
	nan := &shard.Request{D: 2, Signs: []float64{1}, U: []float64{1, math.NaN()}}
	cases := []struct {
		name string
		id   string
		req  *shard.Request
		part int
		want error
	}{
		{"too large", "s", big, 0, ErrTooLarge},
		{"NaN weights", "s", nan, 0, shard.ErrRequest},
		{"nil request", "s", nil, 0, shard.ErrRequest},
		{"negative partition", "s", ok, -1, shard.ErrRequest},
		{"partition beyond int32", "s", ok, math.MaxInt32 + 1, shard.ErrRequest},
		{"no shard id", "", ok, 0, shard.ErrRequest},
	}
	for _, tc := range cases {
		if _, err := c.Step(context.Background(), tc.id, tc.req, tc.part); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if n := f.calls.Load(); n != 0 {
		t.Fatalf("shard called %d times", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Step(ctx, "s", ok, 0); status.Code(err) != codes.Canceled {
		t.Fatalf("cancelled context: %v, want code Canceled", err)
	}
}

func TestClientInfoRejects(t *testing.T) {
	good := func() *pb.InfoReply {
		return &pb.InfoReply{
			ShardId: "s", MinProtocolVersion: 1, MaxProtocolVersion: 1,
			Schema:     &pb.Schema{N: 10, D: 3, Partitions: 2, Dtype: "float64", Fingerprint: "f"},
			Partitions: []*pb.HeldPartition{{Partition: 1, Rows: 5}},
		}
	}
	cases := []struct {
		name string
		edit func(r *pb.InfoReply)
		want error
	}{
		{"ok", func(*pb.InfoReply) {}, nil},
		{"version 2 only", func(r *pb.InfoReply) { r.MinProtocolVersion, r.MaxProtocolVersion = 2, 2 }, nil},
		{"versions 1..3", func(r *pb.InfoReply) { r.MaxProtocolVersion = 3 }, nil},
		{"newer versions only", func(r *pb.InfoReply) { r.MinProtocolVersion, r.MaxProtocolVersion = 3, 4 }, ErrVersion},
		{"version 0 only", func(r *pb.InfoReply) { r.MinProtocolVersion, r.MaxProtocolVersion = 0, 0 }, ErrVersion},
		{"empty range", func(r *pb.InfoReply) { r.MinProtocolVersion = 2 }, ErrBadReply},
		{"no schema", func(r *pb.InfoReply) { r.Schema = nil }, ErrBadReply},
		{"no id", func(r *pb.InfoReply) { r.ShardId = "" }, ErrBadReply},
		{"partition twice", func(r *pb.InfoReply) { r.Partitions = append(r.Partitions, r.Partitions[0]) }, ErrBadReply},
		{"partition out of range", func(r *pb.InfoReply) { r.Partitions[0].Partition = 2 }, ErrSchema},
		{"wrong rows", func(r *pb.InfoReply) { r.Partitions[0].Rows = 6 }, ErrSchema},
		{"no rows", func(r *pb.InfoReply) { r.Schema.N = 0 }, ErrSchema},
	}
	f := &fakeShard{}
	c := serveFake(t, f)
	for _, tc := range cases {
		r := good()
		tc.edit(r)
		f.info = r
		info, err := c.Info(context.Background())
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		if tc.want == nil && (info.ID != "s" || info.Schema.Rows[1] != 5 || info.Schema.Fingerprint != "f") {
			t.Errorf("%s: info %+v", tc.name, info)
		}
	}
}
