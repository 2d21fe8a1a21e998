package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"altmin/msg"
	pb "altmin/proto/altminpb"
)

// Protocol version 3 is the only one spoken: every other is refused, on
// both sides, with an error naming both versions. (The header's version is
// checked by the assembler: see hostileCases.)

// errorInfo returns the ErrorInfo detail of a status error, or nil.
func errorInfo(err error) *errdetails.ErrorInfo {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok {
			return ei
		}
	}
	return nil
}

// drain reads a Compute stream to its end and returns its chunks and the
// final error, nil at the end of a stream.
func drain(stream grpc.ServerStreamingClient[pb.Chunk], err error) ([]*pb.Chunk, error) {
	var cs []*pb.Chunk
	for err == nil {
		var c *pb.Chunk
		if c, err = stream.Recv(); err == nil {
			cs = append(cs, c)
		}
	}
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return cs, err
}

// TestServerRefusesOtherVersions sends requests of other versions: each is
// refused before the fetcher is called with FailedPrecondition, a reason
// the client maps to ErrVersion, and a message naming both versions. The
// version is checked before the shard id.
func TestServerRefusesOtherVersions(t *testing.T) {
	fetch := fetcherFunc(func(context.Context, msg.Request, msg.Span) (msg.Partial, error) {
		t.Error("the fetcher was called")
		return nil, errors.New("called")
	})
	s := serve(t, fetch, ShardInfo{ID: "s", Schema: Schema{N: 4, D: 3, P: 1, Protocol: ProtocolVersion}})
	for kind, r := range validWire() {
		for _, v := range []uint32{0, 1, 2, ProtocolVersion + 1, math.MaxUint32} {
			for _, id := range []string{"s", "other"} {
				r.ProtocolVersion, r.ShardId = v, id
				_, err := drain(s.c.rpc.Compute(context.Background(), r))
				what := fmt.Sprintf("%s, version %d, shard %q", kind, v, id)
				if status.Code(err) != codes.FailedPrecondition || !errors.Is(fromStatus(err), ErrVersion) {
					t.Fatalf("%s: %v, want FailedPrecondition mapped to ErrVersion", what, err)
				}
				if ei := errorInfo(err); ei.GetReason() != reasonVersion || ei.GetDomain() != errDomain || ei.GetMetadata()["protocol_version"] != fmt.Sprint(ProtocolVersion) {
					t.Fatalf("%s: detail %v", what, ei)
				}
				if says := fmt.Sprintf("speaks protocol version %d, the request has version %d", ProtocolVersion, v); !strings.Contains(err.Error(), says) {
					t.Fatalf("%s: %q does not say %q", what, err, says)
				}
			}
		}
	}
}

// unimplemented is a Shard server of a build without the Compute call of
// version 3 (and without Info).
type unimplemented struct{ pb.UnimplementedShardServer }

// TestShardWithoutCompute checks the answer of a shard that does not
// implement Compute (a build of protocol version 1 or 2, whose calls were
// Step, Moments12, Moment4 and DeepStep) or serves no Shard service at all:
// ErrVersion and errors.ErrUnsupported, the status code Unimplemented,
// and a message naming the shard and the version needed.
func TestShardWithoutCompute(t *testing.T) {
	servers := map[string]func(gs *grpc.Server){
		"no Compute":       func(gs *grpc.Server) { pb.RegisterShardServer(gs, unimplemented{}) },
		"no Shard service": func(*grpc.Server) {},
	}
	for name, register := range servers {
		c := dialBuf(t, nil, register)
		for _, nr := range sampleRequests(newRand(3)) {
			_, err := c.Call(context.Background(), "old-shard", nr.req, msg.Leaf(3))
			if !errors.Is(err, ErrVersion) || !errors.Is(err, errors.ErrUnsupported) || status.Code(err) != codes.Unimplemented {
				t.Fatalf("%s, %s: %v (code %v)", name, nr.name, err, status.Code(err))
			}
			if !strings.Contains(err.Error(), `shard "old-shard"`) || !strings.Contains(err.Error(), fmt.Sprintf("does not implement the Compute call of protocol version %d", ProtocolVersion)) {
				t.Fatalf("%s, %s: %q", name, nr.name, err)
			}
		}
		if _, err := c.Info(context.Background()); !errors.Is(err, ErrVersion) || !errors.Is(err, errors.ErrUnsupported) {
			t.Fatalf("%s: Info: %v", name, err)
		}
	}
}

func TestVersionError(t *testing.T) {
	err := versionError("shard x", 7)
	if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), fmt.Sprintf("shard x speaks protocol version 7, this node %d", ProtocolVersion)) {
		t.Fatalf("%v", err)
	}
}

// TestFromStatus checks the mapping of errors that carry no reason of this
// package: they are returned as they are.
func TestFromStatus(t *testing.T) {
	plain := errors.New("not a status")
	for _, err := range []error{nil, plain, status.Error(codes.Internal, "x"), context.Canceled} {
		if got := fromStatus(err); got != err {
			t.Errorf("fromStatus(%v) = %v", err, got)
		}
	}
}

// TestDialRefuses checks that Dial reports a client it cannot make
// (here: without transport credentials) naming the address.
func TestDialRefuses(t *testing.T) {
	c, err := Dial(context.Background(), "shard-9:7000", nil)
	if err == nil || c != nil || !strings.Contains(err.Error(), "transport: dial shard-9:7000") {
		t.Fatalf("got %v, %v", c, err)
	}
}
