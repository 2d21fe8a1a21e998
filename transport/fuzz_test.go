package transport

import (
	"encoding/binary"
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"

	"altmin/msg"
	pb "altmin/proto/altminpb"
)

// The fuzz targets of the wire's conversions, on both sides: a request as
// the shard decodes it, the chunks of a reply as the coordinator
// reassembles them, and a shard's Info reply. None may panic or allocate
// beyond the limits of package msg; what is accepted converts back to the
// same message.

// FuzzRequestFromProto: a Compute request, whatever its bytes, is either
// refused or converted to a valid request that converts back (to the wire
// and again) to the same request.
func FuzzRequestFromProto(f *testing.F) {
	for _, nr := range sampleRequests(newRand(7)) {
		for _, sp := range []msg.Span{msg.Leaf(3), {Lo: 4, N: 4}} {
			w, err := requestToProto(nr.req, sp, "s1")
			if err != nil {
				f.Fatal(err)
			}
			b, err := proto.Marshal(w)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var w pb.ComputeRequest
		if proto.Unmarshal(b, &w) != nil {
			return
		}
		r, part, err := requestFromProto(&w)
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("accepted an invalid request: %v", err)
		}
		w2, err := requestToProto(r, part, w.GetShardId())
		if err != nil {
			t.Fatalf("converted back: %v", err)
		}
		r2, part2, err := requestFromProto(w2)
		if err != nil || part2 != part || !reflect.DeepEqual(r2, r) {
			t.Fatalf("round trip: %+v, %v, %v; want %+v, %v", r2, part2, err, r, part)
		}
	})
}

// FuzzChunks: the chunks of a reply, whatever their bytes (each a
// serialized pb.Chunk behind a 2-byte length), are reassembled against a
// stats request without a panic; a partial accepted passes the core's
// check, and streamed again it is reassembled to the same bits.
func FuzzChunks(f *testing.F) {
	req := statsRequest(newRand(3), 2, 3, 2)
	framed := func(cs []*pb.Chunk) []byte {
		var out []byte
		for _, c := range cs {
			b, err := proto.Marshal(c)
			if err != nil {
				f.Fatal(err)
			}
			out = binary.LittleEndian.AppendUint16(out, uint16(len(b)))
			out = append(out, b...)
		}
		return out
	}
	p := randPartial(newRand(4), req, 1)
	h, vs, err := encodePartial(p, "s1")
	if err != nil {
		f.Fatal(err)
	}
	for _, per := range []int{1, 2, 5, 1000} {
		f.Add(framed(toChunks(h, vs, msg.Leaf(1), int64(req.Round()), per)))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		pool := msg.NewPool()
		a := &assembler{req: req, span: msg.Leaf(1), shardID: "s1", pool: pool}
		for len(b) >= 2 {
			n := int(binary.LittleEndian.Uint16(b))
			b = b[2:]
			if n > len(b) {
				return
			}
			var c pb.Chunk
			if proto.Unmarshal(b[:n], &c) != nil {
				a.release()
				return
			}
			b = b[n:]
			if err := a.add(&c); err != nil {
				a.release()
				return
			}
		}
		got, err := a.finish()
		if err != nil {
			a.release()
			return
		}
		if err := got.Check(req); err != nil {
			t.Fatalf("reassembled a partial the core refuses: %v", err)
		}
		h, vs, err := encodePartial(got, "s1")
		if err != nil {
			t.Fatal(err)
		}
		a2 := &assembler{req: req, span: msg.Leaf(1), shardID: "s1", pool: pool}
		for _, c := range toChunks(h, vs, msg.Leaf(1), int64(req.Round()), 2) {
			if err := a2.add(onWireChunk(t, c)); err != nil {
				t.Fatalf("streamed again: %v", err)
			}
		}
		again, err := a2.finish()
		if err != nil || !reflect.DeepEqual(anatomize(again), anatomize(got)) {
			t.Fatalf("streamed again: %v", err)
		}
	})
}

// onWireChunk returns c as the receiver decodes it.
func onWireChunk(t *testing.T, c *pb.Chunk) *pb.Chunk {
	b, err := proto.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var out pb.Chunk
	if err := proto.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

// FuzzInfo: a shard's Info reply, whatever its bytes, is refused or
// converted to a description that converts back to the same one.
func FuzzInfo(f *testing.F) {
	for _, info := range []ShardInfo{
		{ID: "s1", Schema: Schema{P: 4, D: 3, N: 100, Rows: map[int]int{0: 25, 3: 25}}},
		{ID: "shard-2", Schema: Schema{P: 1, D: 1, N: 1, Rows: map[int]int{0: 1}, Bias: true}},
	} {
		b, err := proto.Marshal(infoToProto(info))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r pb.InfoReply
		if proto.Unmarshal(b, &r) != nil {
			return
		}
		info, err := infoFromProto(&r)
		if err != nil {
			return
		}
		again, err := infoFromProto(infoToProto(info))
		if err != nil || !reflect.DeepEqual(again, info) {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, info)
		}
	})
}
