package transport

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"altmin/msg"
	pb "altmin/proto/altminpb"
	"altmin/shard"
)

// withSpan sets the span of partial p (its Partition and Parts).
func withSpan(p msg.Partial, s msg.Span) msg.Partial {
	switch q := p.(type) {
	case *msg.Stats:
		q.Partition, q.Parts = s.Lo, s.N
	case *msg.DeepStats:
		q.Partition, q.Parts = s.Lo, s.N
	case *msg.Moments12:
		q.Partition, q.Parts = s.Lo, s.N
	case *msg.Moment4:
		q.Partition, q.Parts = s.Lo, s.N
	case *msg.Summary:
		q.Partition, q.Parts = s.Lo, s.N
	default:
		panic(fmt.Sprintf("withSpan: %T", p))
	}
	return p
}

// TestSpanRequestRoundTrip: a request for a span of several partitions
// goes through requestToProto, the protobuf encoding and requestFromProto
// with its span and request unchanged, for every kind; a span the
// reduction tree has no node for (a size not a power of two, a first
// partition not a multiple of the size, a negative first partition, one
// beyond int32) is refused on either side with msg.ErrRequest.
func TestSpanRequestRoundTrip(t *testing.T) {
	spans := []msg.Span{msg.Leaf(0), msg.Leaf(7), {Lo: 4, N: 4}, {Lo: 0, N: 8}, {Lo: 6, N: 2}, {Lo: 1 << 30, N: 1 << 30}}
	for _, nr := range sampleRequests(newRand(11)) {
		for _, sp := range spans {
			what := fmt.Sprintf("%s, %v", nr.name, sp)
			w, err := requestToProto(nr.req, sp, "s1")
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			w = onWire(t, w, &pb.ComputeRequest{})
			if w.GetPartition() != int32(sp.Lo) || max(w.GetSpan(), 1) != int32(sp.N) {
				t.Fatalf("%s: on the wire partition %d, span %d", what, w.GetPartition(), w.GetSpan())
			}
			got, gotSpan, err := requestFromProto(w)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if gotSpan != sp {
				t.Fatalf("%s: came back as %v", what, gotSpan)
			}
			sameRequest(t, what, got, nr.req)
		}
	}

	req := statsRequest(newRand(1), 0, 2, 1)
	for _, sp := range []msg.Span{{Lo: 0, N: 3}, {Lo: 6, N: 3}, {Lo: 2, N: 4}, {Lo: 1, N: 2}, {Lo: -4, N: 4}, {Lo: -1, N: 1},
		{Lo: math.MinInt32, N: 1}, {Lo: 1 << 31, N: 1 << 31}, {Lo: math.MaxInt32 + 1, N: 1}} {
		if w, err := requestToProto(req, sp, "s1"); !errors.Is(err, msg.ErrRequest) || w != nil {
			t.Errorf("requestToProto of span (%d, %d): %v, %v; want msg.ErrRequest", sp.Lo, sp.N, w, err)
		}
	}
	valid, err := requestToProto(req, msg.Leaf(0), "s1")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ lo, n int32 }{{0, 3}, {4, 3}, {2, 4}, {6, 4}, {1, 2}, {-4, 4}, {-1, 0}, {-1, 1}, {0, math.MaxInt32}, {0, 3 << 29}} {
		w := onWire(t, valid, &pb.ComputeRequest{})
		w.Partition, w.Span = c.lo, c.n
		if r, sp, err := requestFromProto(w); !errors.Is(err, msg.ErrRequest) || r != nil {
			t.Errorf("requestFromProto of partition %d, span %d: %v, %v, %v; want msg.ErrRequest", c.lo, c.n, r, sp, err)
		}
	}
}

// TestSpanSizeNotPositiveRefused: a span of no partitions or of a negative
// size is no node of the reduction tree (msg.Span.Check): it is refused
// with msg.ErrRequest by requestToProto, not sent as a single partition,
// and a wire request of a negative span size is refused by
// requestFromProto (0 on the wire means 1).
func TestSpanSizeNotPositiveRefused(t *testing.T) {
	req := statsRequest(newRand(1), 0, 2, 1)
	for _, sp := range []msg.Span{{Lo: 4, N: 0}, {Lo: 4, N: -4}, {Lo: 4, N: -1}, {Lo: 0, N: 0}} {
		if w, err := requestToProto(req, sp, "s1"); !errors.Is(err, msg.ErrRequest) || w != nil {
			t.Errorf("requestToProto of span (%d, %d): sent partition %d, span %d (err %v); want msg.ErrRequest", sp.Lo, sp.N, w.GetPartition(), w.GetSpan(), err)
		}
	}
	valid, err := requestToProto(req, msg.Leaf(0), "s1")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ lo, n int32 }{{4, -4}, {4, -1}, {0, -1}, {0, math.MinInt32}} {
		w := onWire(t, valid, &pb.ComputeRequest{})
		w.Partition, w.Span = c.lo, c.n
		if r, sp, err := requestFromProto(w); !errors.Is(err, msg.ErrRequest) || r != nil {
			t.Errorf("requestFromProto of partition %d, span %d: %v, %v; want msg.ErrRequest", c.lo, c.n, sp, err)
		}
	}
}

// TestAssemblerSpan: an assembler for span (4, 4) takes the chunks of a
// partial of that span, and refuses as ErrStale the chunks of another
// node: a half of it, the single partition 4, the span of the same size
// from partition 0.
func TestAssemblerSpan(t *testing.T) {
	want := msg.Span{Lo: 4, N: 4}
	for _, nr := range sampleRequests(newRand(12)) {
		for _, sp := range []msg.Span{want, {Lo: 4, N: 2}, msg.Leaf(4), {Lo: 0, N: 4}, msg.Leaf(0), {Lo: 0, N: 8}} {
			what := fmt.Sprintf("%s, chunks of %v", nr.name, sp)
			p := withSpan(randPartial(newRand(3), nr.req, 0), sp)
			cs := chunksOf(t, p, "s1", 3)
			pool := msg.NewPool()
			a := &assembler{req: nr.req, span: want, shardID: "s1", pool: pool}
			var err error
			for _, c := range cs {
				if err = a.add(onWire(t, c, &pb.Chunk{})); err != nil {
					break
				}
			}
			var got msg.Partial
			if err == nil {
				got, err = a.finish()
			}
			if err != nil {
				a.release()
			}
			if sp != want {
				if !errors.Is(err, ErrStale) || got != nil {
					t.Fatalf("%s: %v, %v; want ErrStale", what, got, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if got.Span() != want {
				t.Fatalf("%s: assembled a partial of %v", what, got.Span())
			}
			sameBits(t, what, got, p)
		}
	}
}

// TestCallSpan: a span's partial asked of a shard over gRPC is the bits of
// the engine's own partial of the span, and names the span; a span the
// shard does not hold whole is NotFound.
func TestCallSpan(t *testing.T) {
	ds := synthetic(t, "model=sum,d=4,k=2,n=300,seed=7", 8, false)
	eng := ds.engine(t, shard.Float64, 0, 1, 2, 3, 4, 5)
	eng.SetPartitionCount(8)
	direct := ds.engine(t, shard.Float64, 0, 1, 2, 3, 4, 5)
	direct.SetPartitionCount(8)
	s := serve(t, eng, ds.info("s1", shard.Float64, 0, 1, 2, 3, 4, 5))
	ctx := context.Background()
	for _, nr := range engineRequests(ds, newRand(8), 0) {
		for _, sp := range []msg.Span{{Lo: 0, N: 4}, {Lo: 4, N: 2}, {Lo: 2, N: 2}, msg.Leaf(5)} {
			what := fmt.Sprintf("%s, %v", nr.name, sp)
			got, err := s.c.Call(ctx, "s1", nr.req, sp)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			want, err := direct.Fetch(ctx, nr.req, sp)
			if err != nil {
				t.Fatalf("%s: in process: %v", what, err)
			}
			if got.Span() != sp {
				t.Fatalf("%s: partial of %v", what, got.Span())
			}
			sameBits(t, what, got, want)
		}
		if _, err := s.c.Call(ctx, "s1", nr.req, msg.Span{Lo: 4, N: 4}); status.Code(err) != codes.NotFound {
			t.Fatalf("%s, partitions 4-7 (6 and 7 not held): %v, want NotFound", nr.name, err)
		}
	}
}
