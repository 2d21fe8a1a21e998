package transport

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"altmin/msg"
	pb "altmin/proto/altminpb"
)

// The chunks of a Compute reply, the same for every kind: the first chunk
// carries the header, and the payload (the partial's vectors in the order
// of the wire format, see codec.go) travels as raw little-endian doubles in
// runs at explicit offsets.

// toChunks returns the chunks of a reply with header h and payload vs to
// a request for span sp and round, at most per values a chunk (at least
// 1). A chunk's values lie within one vector, so on a little-endian machine
// they are a view of the vector's memory (no copy): the chunks share vs.
func toChunks(h *pb.Header, vs [][]float64, sp msg.Span, round int64, per int) []*pb.Chunk {
	per = max(per, 1)
	partition, span := int32(sp.Lo), int32(sp.N)
	chunks := []*pb.Chunk{{Partition: partition, Span: span, Round: round, Header: h}}
	var off int64
	for _, v := range vs {
		for lo := 0; lo < len(v); lo += per {
			hi := min(lo+per, len(v))
			c := chunks[len(chunks)-1]
			if c.Header == nil || len(c.Values) > 0 {
				c = &pb.Chunk{Partition: partition, Span: span, Round: round}
				chunks = append(chunks, c)
			}
			c.Offset, c.Values = off, float64Bytes(v[lo:hi])
			off += int64(hi - lo)
		}
	}
	return chunks
}

// nativeLittleEndian reports whether float64 values are stored in memory as
// their little-endian bytes.
var nativeLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// float64Bytes returns v as raw little-endian IEEE-754 doubles, 8 bytes
// each: a view of v's memory where that is their layout, else a copy.
func float64Bytes(v []float64) []byte {
	if nativeLittleEndian {
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 8*len(v))
	}
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return b
}

// assembler rebuilds the partial of one Compute reply from its chunks and
// checks it against the request, allocating from the request's sizes
// only. Errors wrap ErrBadReply, ErrStale, ErrWrongShard or ErrVersion.
type assembler struct {
	req     msg.Request
	span    msg.Span
	shardID string
	pool    *msg.Pool

	p     msg.Partial // nil until the header
	dst   [][]float64 // the payload's vectors still to fill; dst[0] from cur on
	cur   int
	next  int64 // values received
	total int64
}

// add takes the next chunk of the stream. Its values are decoded straight
// into the partial and checked finite as they are stored.
func (a *assembler) add(c *pb.Chunk) error {
	if c.GetPartition() != int32(a.span.Lo) || max(c.GetSpan(), 1) != int32(a.span.N) || c.GetRound() != int64(a.req.Round()) {
		return fmt.Errorf("%w: chunk for %s, round %d", ErrStale, msg.Span{Lo: int(c.GetPartition()), N: max(int(c.GetSpan()), 1)}, c.GetRound())
	}
	le := c.GetValues()
	if len(le)%8 != 0 {
		return fmt.Errorf("%w: chunk at offset %d has %d bytes of values, not a multiple of 8", ErrBadReply, c.GetOffset(), len(le))
	}
	n := int64(len(le) / 8)
	switch h := c.GetHeader(); {
	case a.p == nil && h == nil:
		return fmt.Errorf("%w: first chunk has no header", ErrBadReply)
	case a.p == nil:
		if err := a.header(h); err != nil {
			return err
		}
	case h != nil:
		return fmt.Errorf("%w: second header at offset %d", ErrBadReply, a.next)
	case n == 0:
		return fmt.Errorf("%w: empty chunk at offset %d", ErrBadReply, a.next)
	}
	switch off := c.GetOffset(); {
	case off > a.next:
		return fmt.Errorf("%w: gap: chunk at offset %d after %d values", ErrBadReply, off, a.next)
	case off < a.next:
		return fmt.Errorf("%w: overlap: chunk at offset %d after %d values", ErrBadReply, off, a.next)
	case n > a.total-a.next:
		return fmt.Errorf("%w: chunk of %d values at offset %d overruns the %d values", ErrBadReply, n, off, a.total)
	}
	for len(le) > 0 {
		for len(a.dst[0])-a.cur == 0 {
			a.dst, a.cur = a.dst[1:], 0
		}
		v := a.dst[0][a.cur:]
		k := min(len(v), len(le)/8)
		if i := decodeFinite(v[:k], le[:8*k]); i >= 0 {
			return fmt.Errorf("%w: value %v at offset %d", ErrBadReply, v[i], a.next+int64(i))
		}
		le = le[8*k:]
		a.cur += k
		a.next += int64(k)
	}
	return nil
}

// header checks the header of the first chunk and allocates the partial.
func (a *assembler) header(h *pb.Header) error {
	if v := h.GetProtocolVersion(); v != ProtocolVersion {
		return versionError("the reply", v)
	}
	if h.GetShardId() != a.shardID {
		return fmt.Errorf("%w: reply from shard %q, expected %q", ErrWrongShard, clip(h.GetShardId()), a.shardID)
	}
	p, vs, err := newPartial(a.req, a.span, h, a.pool)
	if err != nil {
		return err
	}
	a.p, a.dst, a.total = p, vs, h.GetPayload()
	return nil
}

// finish returns the partial once the stream has ended, checked against
// the request (msg.Partial.Check: kind, round, shapes, counts; the values
// were checked finite as they were decoded).
func (a *assembler) finish() (msg.Partial, error) {
	if a.p == nil {
		return nil, fmt.Errorf("%w: stream ended before the header", ErrBadReply)
	}
	if a.next != a.total {
		return nil, fmt.Errorf("%w: stream ended after %d of %d values", ErrBadReply, a.next, a.total)
	}
	if f, ok := a.p.(interface{ MarkFiniteChecked() }); ok {
		f.MarkFiniteChecked()
	}
	if err := a.p.Check(a.req); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadReply, err)
	}
	return a.p, nil
}

// release gives the buffers of a partial not handed out back to the pool.
func (a *assembler) release() {
	if a.p != nil {
		a.p.Release(a.pool)
		a.p = nil
	}
}

// decodeFinite decodes the raw little-endian doubles of src, 8 bytes each,
// into dst (len(src) == 8*len(dst)) and checks them in the same pass: it
// returns the index of the first NaN or Inf, which is stored in dst, or -1.
func decodeFinite(dst []float64, src []byte) int {
	const exp = 0x7ff << 52 // all exponent bits set: Inf or NaN
	if len(src) != 8*len(dst) {
		panic("transport: decodeFinite: length mismatch")
	}
	// Written so that the compiler proves every index in bounds.
	for i := range dst {
		if len(src) < 8 {
			break
		}
		u := binary.LittleEndian.Uint64(src)
		src = src[8:]
		dst[i] = math.Float64frombits(u)
		if u&exp == exp {
			return i
		}
	}
	return -1
}
