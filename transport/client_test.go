package transport

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"altmin/linalg"
	"altmin/model"
	"altmin/msg"
	pb "altmin/proto/altminpb"
)

// TestClientRejectsHostileReplies runs the table of malformed, stale and
// foreign replies (chunks_test.go) against the Client over gRPC, for every
// kind: each is rejected with the right sentinel, nothing is returned, and
// the error names the kind, shard, partition and round. The valid reply is
// accepted, bit for bit, and the shard received the request as sent.
func TestClientRejectsHostileReplies(t *testing.T) {
	f := &fakeShard{}
	pool := msg.NewPool()
	c := serveFake(t, f, pool)
	ctx := context.Background()
	for _, fx := range hostileFixtures() {
		where := fmt.Sprintf("%s request on shard %q, partition %d, round %d", fx.kind, "s1", hostilePart, fx.req.Round())
		for _, tc := range hostileCases() {
			if tc.kind != "" && tc.kind != fx.kind {
				continue
			}
			t.Run(fx.kind+"/"+tc.name, func(t *testing.T) {
				f.script = func(*pb.ComputeRequest) ([]*pb.Chunk, error) {
					_, cs := fx.valid(t)
					return tc.edit(cs), nil
				}
				p, err := c.Call(ctx, "s1", fx.req, msg.Leaf(hostilePart))
				if !errors.Is(err, tc.want) || p != nil {
					t.Fatalf("got %v, %v; want %v", p, err, tc.want)
				}
				if !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), where) {
					t.Fatalf("%q does not say %q and %q", err, tc.says, where)
				}
			})
		}

		want, _ := fx.valid(t)
		f.script = func(*pb.ComputeRequest) ([]*pb.Chunk, error) { _, cs := fx.valid(t); return cs, nil }
		got, err := c.Call(ctx, "s1", fx.req, msg.Leaf(hostilePart))
		if err != nil {
			t.Fatalf("%s: the valid reply: %v", fx.kind, err)
		}
		sameBits(t, fx.kind, got, want)
		sent := f.last.Load()
		if sent.GetProtocolVersion() != ProtocolVersion || sent.GetShardId() != "s1" || sent.GetPartition() != hostilePart {
			t.Fatalf("%s: the shard received version %d, shard %q, partition %d", fx.kind, sent.GetProtocolVersion(), sent.GetShardId(), sent.GetPartition())
		}
		back, _, err := requestFromProto(sent)
		if err != nil {
			t.Fatal(err)
		}
		sameRequest(t, fx.kind+" as received", back, fx.req)
	}
}

// TestClientMapsStatus checks the errors of a call the shard refuses or
// that fails, after some chunks or none: the status code is kept, and the
// reasons of this package map to their sentinels (and only those of its
// domain).
func TestClientMapsStatus(t *testing.T) {
	fx := hostileFixtures()[0]
	foreign := func() error {
		st, err := status.New(codes.InvalidArgument, "not ours").WithDetails(&errdetails.ErrorInfo{Reason: reasonTooLarge, Domain: "example.com"})
		if err != nil {
			t.Fatal(err)
		}
		return st.Err()
	}()
	cases := []struct {
		name   string
		chunks int // valid chunks sent before the error
		err    error
		code   codes.Code
		want   []error
		absent []error
	}{
		{"version refused", 0, statusWithReason(codes.FailedPrecondition, reasonVersion, "no"), codes.FailedPrecondition, []error{ErrVersion}, nil},
		{"version refused after a chunk", 1, statusWithReason(codes.FailedPrecondition, reasonVersion, "no"), codes.FailedPrecondition, []error{ErrVersion}, nil},
		{"wrong shard", 0, statusWithReason(codes.FailedPrecondition, reasonWrongShard, "no"), codes.FailedPrecondition, []error{ErrWrongShard}, nil},
		{"too large", 0, statusWithReason(codes.InvalidArgument, reasonTooLarge, "no"), codes.InvalidArgument, []error{msg.ErrTooLarge}, nil},
		{"data unreadable", 0, statusWithReason(codes.DataLoss, reasonData, "no"), codes.DataLoss, []error{msg.ErrData}, nil},
		{"data unreadable after two chunks", 2, statusWithReason(codes.DataLoss, reasonData, "no"), codes.DataLoss, []error{msg.ErrData}, nil},
		{"unavailable midway", 3, status.Error(codes.Unavailable, "going away"), codes.Unavailable, nil, []error{ErrBadReply, ErrVersion}},
		{"reason of another domain", 0, foreign, codes.InvalidArgument, nil, []error{msg.ErrTooLarge}},
		{"not found", 0, status.Error(codes.NotFound, "no partition"), codes.NotFound, nil, []error{ErrVersion}},
		{"unimplemented", 0, status.Error(codes.Unimplemented, "unknown method"), codes.Unimplemented, []error{ErrVersion, errors.ErrUnsupported}, nil},
	}
	f := &fakeShard{}
	c := serveFake(t, f, nil)
	for _, tc := range cases {
		f.script = func(*pb.ComputeRequest) ([]*pb.Chunk, error) { _, cs := fx.valid(t); return cs[:tc.chunks], tc.err }
		p, err := c.Call(context.Background(), "s1", fx.req, msg.Leaf(hostilePart))
		if p != nil || status.Code(err) != tc.code {
			t.Errorf("%s: %v, %v (code %v); want code %v", tc.name, p, err, status.Code(err), tc.code)
		}
		for _, w := range tc.want {
			if !errors.Is(err, w) {
				t.Errorf("%s: %v, want %v", tc.name, err, w)
			}
		}
		for _, w := range tc.absent {
			if errors.Is(err, w) {
				t.Errorf("%s: %v is %v", tc.name, err, w)
			}
		}
	}
}

// TestClientPool checks that the client takes the Gram buffers of the
// partials it assembles from its pool and gives back those of a reply it
// rejects; a client without a pool allocates.
func TestClientPool(t *testing.T) {
	fx := hostileFixtures()[0] // stats, m = 12
	n := linalg.PackedLen(12)
	f := &fakeShard{}
	pool := msg.NewPool()
	c := serveFake(t, f, pool)
	ctx := context.Background()

	buf := make([]float64, n)
	pool.Put(buf)
	f.script = func(*pb.ComputeRequest) ([]*pb.Chunk, error) { _, cs := fx.valid(t); return cs, nil }
	p, err := c.Call(ctx, "s1", fx.req, msg.Leaf(hostilePart))
	if err != nil {
		t.Fatal(err)
	}
	if g := p.(*msg.Stats).Gram; &g[0] != &buf[0] {
		t.Fatal("the partial's Gram buffer is not the pool's")
	}
	want, _ := fx.valid(t)
	sameBits(t, "from the pool", p, want)
	p.Release(pool)

	// A NaN in the last chunk: the partial was begun, and its buffer goes
	// back to the pool.
	f.script = func(*pb.ComputeRequest) ([]*pb.Chunk, error) {
		_, cs := fx.valid(t)
		setValue(cs[len(cs)-1], 0, 0x7ff8000000000000)
		return cs, nil
	}
	if _, err := c.Call(ctx, "s1", fx.req, msg.Leaf(hostilePart)); !errors.Is(err, ErrBadReply) {
		t.Fatalf("NaN: %v", err)
	}
	if k, bytes := pool.Idle(); k != 1 || bytes != 8*int64(n) {
		t.Fatalf("after a rejected reply the pool holds %d buffers of %d bytes, want the Gram buffer", k, bytes)
	}
	if g := pool.Get(n); &g[0] != &buf[0] {
		t.Fatal("the rejected reply's buffer is not the one it took")
	}

	// Without a pool.
	f.script = func(*pb.ComputeRequest) ([]*pb.Chunk, error) { _, cs := fx.valid(t); return cs, nil }
	c0 := serveFake(t, f, nil)
	p, err = c0.Call(ctx, "s1", fx.req, msg.Leaf(hostilePart))
	if err != nil {
		t.Fatal(err)
	}
	sameBits(t, "without a pool", p, want)
}

// TestClientRefusesBadRequests checks that the client refuses bad requests
// of every kind locally, without calling the shard.
func TestClientRefusesBadRequests(t *testing.T) {
	f := &fakeShard{script: func(*pb.ComputeRequest) ([]*pb.Chunk, error) { return nil, nil }}
	c := serveFake(t, f, nil)
	ok := &msg.StatsRequest{D: 2, Signs: []float64{1}, U: []float64{1, 2}}
	good := model.NewNet(4, 3, 2)
	nanNet := good.Clone()
	nanNet.W[1][0] = math.NaN()
	tooDeep := model.NewNet(make([]int, msg.MaxLayers+2)...)
	for l := range tooDeep.Dims {
		tooDeep.Dims[l] = 1
	}
	cases := []struct {
		name string
		id   string
		req  msg.Request
		part int
		want error
	}{
		{"nil request", "s", nil, 0, msg.ErrRequest},
		{"no shard id", "", ok, 0, msg.ErrRequest},
		{"negative partition", "s", ok, -1, msg.ErrRequest},
		{"partition beyond int32", "s", ok, math.MaxInt32 + 1, msg.ErrRequest},
		{"stats m over MaxM", "s", &msg.StatsRequest{D: msg.MaxM/2 + 1, Signs: []float64{1, 1}, U: make([]float64, msg.MaxM+2)}, 0, msg.ErrTooLarge},
		{"stats NaN weights", "s", &msg.StatsRequest{D: 2, Signs: []float64{1}, U: []float64{1, math.NaN()}}, 0, msg.ErrRequest},
		{"stats prev at iteration 0", "s", &msg.StatsRequest{D: 1, Signs: []float64{1}, U: []float64{1}, Prev: []float64{1}}, 0, msg.ErrRequest},
		{"stats no prev at iteration 1", "s", &msg.StatsRequest{Iter: 1, D: 1, Signs: []float64{1}, U: []float64{1}}, 0, msg.ErrRequest},
		{"deep too many layers", "s", &msg.DeepRequest{Net: tooDeep}, 0, msg.ErrTooLarge},
		{"deep width over MaxM", "s", &msg.DeepRequest{Net: model.NewNet(1, msg.MaxM+1)}, 0, msg.ErrTooLarge},
		{"deep too many weights", "s", &msg.DeepRequest{Net: model.NewNet(100, 90)}, 0, msg.ErrTooLarge},
		{"deep NaN weight", "s", &msg.DeepRequest{Net: nanNet}, 0, msg.ErrRequest},
		{"deep layers out of order", "s", &msg.DeepRequest{Net: good, Layers: []int{2, 1}}, 0, msg.ErrRequest},
		{"deep previous of another shape", "s", &msg.DeepRequest{Net: good, Prev: model.NewNet(4, 2, 2)}, 0, msg.ErrRequest},
		{"deep no weights", "s", &msg.DeepRequest{}, 0, msg.ErrRequest},
		{"moments12 d over MaxMomentD", "s", &msg.Moments12Request{D: msg.MaxMomentD + 1, Order: 1}, 0, msg.ErrTooLarge},
		{"moments12 no features", "s", &msg.Moments12Request{Order: 1}, 0, msg.ErrRequest},
		{"moments12 order 3", "s", &msg.Moments12Request{D: 2, Order: 3}, 0, msg.ErrRequest},
		{"moments12 short baseline", "s", &msg.Moments12Request{D: 3, Order: 2, Base: &msg.Baseline{B: []float64{1, 2}}}, 0, msg.ErrRequest},
		{"moments12 NaN baseline", "s", &msg.Moments12Request{D: 2, Order: 2, Base: &msg.Baseline{C: math.NaN()}}, 0, msg.ErrRequest},
		{"moments12 baseline rank too large", "s", &msg.Moments12Request{D: 2, Order: 2,
			Base: &msg.Baseline{L: make([]float64, 2*(msg.MaxProjection/2+1)), S: make([]float64, msg.MaxProjection/2+1)}}, 0, msg.ErrTooLarge},
		{"moment4 k above d", "s", &msg.Moment4Request{D: 2, K: 3, V: make([]float64, 6)}, 0, msg.ErrRequest},
		{"moment4 k 0", "s", &msg.Moment4Request{D: 2}, 0, msg.ErrRequest},
		{"moment4 projection too large", "s", &msg.Moment4Request{D: 200, K: 100, V: make([]float64, 20000)}, 0, msg.ErrTooLarge},
		{"moment4 short projection", "s", &msg.Moment4Request{D: 3, K: 2, V: make([]float64, 5)}, 0, msg.ErrRequest},
		{"moment4 Inf projection", "s", &msg.Moment4Request{D: 1, K: 1, V: []float64{math.Inf(1)}}, 0, msg.ErrRequest},
	}
	for _, tc := range cases {
		p, err := c.Call(context.Background(), tc.id, tc.req, msg.Leaf(tc.part))
		if !errors.Is(err, tc.want) || p != nil {
			t.Errorf("%s: %v, %v; want %v", tc.name, p, err, tc.want)
		}
	}
	if n := f.calls.Load(); n != 0 {
		t.Fatalf("shard called %d times", n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Call(ctx, "s", ok, msg.Leaf(0)); status.Code(err) != codes.Canceled {
		t.Fatalf("cancelled context: %v, want code Canceled", err)
	}
	if _, err := Dial(ctx, "passthrough:///x", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Dial with a cancelled context: %v", err)
	}
}

// TestClientInfo checks Info over gRPC: the reply's checks (infoFromProto,
// codec_test.go) apply to what a shard sends.
func TestClientInfo(t *testing.T) {
	f := &fakeShard{info: &pb.InfoReply{
		ShardId: "s", MinProtocolVersion: ProtocolVersion, MaxProtocolVersion: ProtocolVersion,
		Schema:     &pb.Schema{N: 10, D: 3, Partitions: 2, Bias: true, Dtype: "float32", Fingerprint: "f", Arith: "amd64/v1"},
		Partitions: []*pb.HeldPartition{{Partition: 1, Rows: 5}},
	}}
	c := serveFake(t, f, nil)
	info, err := c.Info(context.Background())
	want := Schema{N: 10, D: 3, P: 2, Bias: true, DType: "float32", Fingerprint: "f", Arith: "amd64/v1", Protocol: ProtocolVersion, Rows: map[int]int{1: 5}}
	if err != nil || info.ID != "s" || !info.Schema.Equal(want) {
		t.Fatalf("got %+v, %v; want %+v", info, err, want)
	}
	f.info.MinProtocolVersion, f.info.MaxProtocolVersion = 1, 2
	if _, err := c.Info(context.Background()); !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), fmt.Sprintf("1..2, this node %d", ProtocolVersion)) {
		t.Fatalf("versions 1..2: %v", err)
	}
}

// holdingShard sends its chunks and then holds the stream open until the
// client ends it.
type holdingShard struct {
	pb.UnimplementedShardServer
	chunks []*pb.Chunk
	ended  chan error
}

func (h *holdingShard) Compute(_ *pb.ComputeRequest, stream grpc.ServerStreamingServer[pb.Chunk]) error {
	for _, c := range h.chunks {
		if err := stream.Send(c); err != nil {
			h.ended <- err
			return err
		}
	}
	<-stream.Context().Done()
	h.ended <- stream.Context().Err()
	return nil
}

// TestClientEndsRejectedStream checks that a client rejecting a reply
// before its end ends the stream, so the shard stops sending.
func TestClientEndsRejectedStream(t *testing.T) {
	fx := hostileFixtures()[0]
	_, cs := fx.valid(t)
	setValue(cs[1], 0, 0x7ff8000000000000)
	h := &holdingShard{chunks: cs, ended: make(chan error, 1)}
	c := dialBuf(t, nil, func(gs *grpc.Server) { pb.RegisterShardServer(gs, h) })
	if _, err := c.Call(context.Background(), "s1", fx.req, msg.Leaf(hostilePart)); !errors.Is(err, ErrBadReply) {
		t.Fatalf("NaN: %v", err)
	}
	// A guard only: the stream ends as soon as the cancellation arrives.
	guard, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	select {
	case err := <-h.ended:
		t.Logf("the shard's stream ended: %v", err)
	case <-guard.Done():
		t.Fatal("the client did not end the stream of a rejected reply")
	}
}
