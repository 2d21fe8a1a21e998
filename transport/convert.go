package transport

// This file is the only place that converts between protobuf messages and
// the types of packages shard and transport.

import (
	"encoding/binary"
	"fmt"
	"maps"
	"math"
	"slices"
	"unsafe"

	"altmin/linalg"
	pb "altmin/proto/altminpb"
	"altmin/shard"
)

// requestToProto returns the wire form of req for partition, meant for the
// shard expectShardID, at protocol version. It shares req's slices. The
// caller has checked req (checkRequest).
func requestToProto(req *shard.Request, partition int, expectShardID string, version uint32) *pb.StepRequest {
	return &pb.StepRequest{
		ProtocolVersion: version,
		ShardId:         expectShardID,
		Iter:            int64(req.Iter),
		Partition:       int32(partition),
		D:               int32(req.D),
		Signs:           req.Signs,
		U:               req.U,
		Prev:            req.Prev,
		HasPrev:         req.Prev != nil,
	}
}

// checkRequest checks a request before it is sent or computed: its size
// against MaxM, the partition's range and the request's own consistency.
// Errors wrap ErrTooLarge or shard.ErrRequest.
func checkRequest(req *shard.Request, partition int64) error {
	if req == nil {
		return fmt.Errorf("%w: nil request", shard.ErrRequest)
	}
	if partition < 0 || partition > math.MaxInt32 {
		return fmt.Errorf("%w: partition %d out of range", shard.ErrRequest, partition)
	}
	if m := int64(req.D) * int64(len(req.Signs)); m > MaxM || req.D > MaxM {
		return fmt.Errorf("%w: m = d*k = %d*%d, at most %d supported", ErrTooLarge, req.D, len(req.Signs), MaxM)
	}
	return req.Validate()
}

// requestFromProto converts a received request and checks it. Errors wrap
// ErrTooLarge or shard.ErrRequest. Version and shard id are the caller's to
// check.
func requestFromProto(p *pb.StepRequest) (*shard.Request, int, error) {
	if p == nil {
		return nil, 0, fmt.Errorf("%w: empty request", shard.ErrRequest)
	}
	if !p.GetHasPrev() && len(p.GetPrev()) > 0 {
		return nil, 0, fmt.Errorf("%w: %d previous weights without has_prev", shard.ErrRequest, len(p.GetPrev()))
	}
	req := &shard.Request{
		Iter:  int(p.GetIter()),
		D:     int(p.GetD()),
		Signs: p.GetSigns(),
		U:     p.GetU(),
	}
	if p.GetHasPrev() {
		req.Prev = p.GetPrev()
		if req.Prev == nil {
			req.Prev = []float64{} // present but empty: a length error, not "no previous weights"
		}
	}
	if err := checkRequest(req, int64(p.GetPartition())); err != nil {
		return nil, 0, err
	}
	return req, int(p.GetPartition()), nil
}

// statsToChunks returns the chunks of a Step reply from shard shardID to a
// request of protocol version (a supported one), each at most ChunkBytes
// serialized, in that version's encoding: the Gram values in gram (version
// 1) or in gram_le (GramBytesVersion and later). The chunks share st's
// slices; gram_le is a view of the values' memory on a little-endian
// machine (elsewhere an encoded copy).
func statsToChunks(st *shard.Stats, shardID string, version uint32) []*pb.StepChunk {
	return encodeStats(st, shardID, version, ChunkDoubles)
}

// encodeStats is statsToChunks with per doubles (Gram values, plus the rhs
// in the first chunk) per chunk (at least 1).
func encodeStats(st *shard.Stats, shardID string, version uint32, per int) []*pb.StepChunk {
	cs := splitStats(st, shardID, version, per)
	if version >= GramBytesVersion {
		for _, c := range cs {
			gramToBytes(c)
		}
	}
	return cs
}

// gramToBytes moves the Gram values of c from gram to gram_le, as raw
// little-endian IEEE-754 doubles: on a little-endian machine the memory of
// the values themselves (no copy, no allocation; the chunk already shares
// the statistics' slice), elsewhere an encoded copy.
func gramToBytes(c *pb.StepChunk) {
	if len(c.Gram) == 0 {
		return
	}
	c.GramLe, c.Gram = float64Bytes(c.Gram), nil
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
	return encodeLE(v)
}

// encodeLE returns a copy of v as raw little-endian IEEE-754 doubles.
func encodeLE(v []float64) []byte {
	b := make([]byte, 8*len(v))
	rest := b
	for _, x := range v {
		if len(rest) < 8 { // never: lets the compiler drop the bounds checks
			break
		}
		binary.LittleEndian.PutUint64(rest, math.Float64bits(x))
		rest = rest[8:]
	}
	return b
}

// splitStats splits st into the chunks of a Step reply with the header of
// version, the Gram values in gram (version 1's encoding), per doubles per
// chunk as in encodeStats. The chunks share st's slices.
func splitStats(st *shard.Stats, shardID string, version uint32, per int) []*pb.StepChunk {
	per = max(per, 1)
	iter, part := int64(st.Iter), int32(st.Partition)
	first := &pb.StepChunk{
		Iter:      iter,
		Partition: part,
		Header: &pb.StepHeader{
			ProtocolVersion: version,
			ShardId:         shardID,
			Rows:            int64(st.Rows),
			M:               int32(st.M),
			Yy:              st.YY,
			Sse:             st.SSE,
			Flips:           st.Flips,
			GramLen:         int64(len(st.Gram)),
			R:               st.R,
		},
	}
	n := min(max(per-len(st.R), 0), len(st.Gram))
	first.Gram = st.Gram[:n]
	chunks := []*pb.StepChunk{first}
	for off := n; off < len(st.Gram); off += per {
		end := min(off+per, len(st.Gram))
		chunks = append(chunks, &pb.StepChunk{Iter: iter, Partition: part, Offset: int64(off), Gram: st.Gram[off:end]})
	}
	return chunks
}

// assembler rebuilds the statistics of one Step reply from its chunks and
// checks them against the request. Errors wrap ErrBadReply, ErrStale,
// ErrWrongShard or ErrVersion.
type assembler struct {
	shardID   string
	iter      int64
	partition int32
	m         int
	hasPrev   bool

	st   *shard.Stats
	next int // Gram values received
}

func newAssembler(expectShardID string, req *shard.Request, partition int) *assembler {
	return &assembler{
		shardID:   expectShardID,
		iter:      int64(req.Iter),
		partition: int32(partition),
		m:         len(req.U),
		hasPrev:   req.Prev != nil,
	}
}

// add takes the next chunk of the stream. Its Gram values may come in
// either encoding, gram or gram_le, whatever the version of the request
// and the reply; they are checked finite as they are stored.
func (a *assembler) add(c *pb.StepChunk) error {
	if h := c.GetHeader(); h != nil && !versionOK(h.GetProtocolVersion()) {
		return fmt.Errorf("%w: reply has version %d, %s", ErrVersion, h.GetProtocolVersion(), supportedRange())
	}
	if c.GetIter() != a.iter || c.GetPartition() != a.partition {
		return fmt.Errorf("%w: chunk for iteration %d, partition %d", ErrStale, c.GetIter(), c.GetPartition())
	}
	g, le := c.GetGram(), c.GetGramLe()
	n := len(g)
	if len(le) > 0 {
		switch {
		case len(g) > 0:
			return fmt.Errorf("%w: chunk at Gram offset %d has both gram (%d values) and gram_le (%d bytes)", ErrBadReply, c.GetOffset(), len(g), len(le))
		case len(le)%8 != 0:
			return fmt.Errorf("%w: chunk at Gram offset %d has %d bytes of gram_le, not a multiple of 8", ErrBadReply, c.GetOffset(), len(le))
		}
		n = len(le) / 8
	}
	if a.st == nil {
		if err := a.header(c.GetHeader()); err != nil {
			return err
		}
	} else if c.GetHeader() != nil {
		return fmt.Errorf("%w: second header at Gram offset %d", ErrBadReply, a.next)
	} else if n == 0 {
		return fmt.Errorf("%w: empty chunk at Gram offset %d", ErrBadReply, a.next)
	}
	switch off := c.GetOffset(); {
	case off > int64(a.next):
		return fmt.Errorf("%w: gap: chunk at Gram offset %d after %d values", ErrBadReply, off, a.next)
	case off < int64(a.next):
		return fmt.Errorf("%w: overlap: chunk at Gram offset %d after %d values", ErrBadReply, off, a.next)
	case n > len(a.st.Gram)-a.next:
		return fmt.Errorf("%w: chunk of %d values at Gram offset %d overruns the %d values", ErrBadReply, n, off, len(a.st.Gram))
	}
	dst := a.st.Gram[a.next : a.next+n]
	if len(le) > 0 {
		if i := decodeFinite(dst, le); i >= 0 {
			return fmt.Errorf("%w: Gram value %v at offset %d", ErrBadReply, dst[i], a.next+i)
		}
	} else {
		if i := nonFinite(g); i >= 0 {
			return fmt.Errorf("%w: Gram value %v at offset %d", ErrBadReply, g[i], a.next+i)
		}
		copy(dst, g)
	}
	a.next += n
	return nil
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

// header checks the header of the first chunk and allocates the result.
func (a *assembler) header(h *pb.StepHeader) error {
	if h == nil {
		return fmt.Errorf("%w: first chunk has no header", ErrBadReply)
	}
	if h.GetShardId() != a.shardID {
		return fmt.Errorf("%w: reply from shard %q, expected %q", ErrWrongShard, clip(h.GetShardId()), a.shardID)
	}
	m := a.m
	switch {
	case int64(h.GetM()) != int64(m):
		return fmt.Errorf("%w: reply has m = %d, request has %d", ErrBadReply, h.GetM(), m)
	case h.GetGramLen() != int64(linalg.PackedLen(m)):
		return fmt.Errorf("%w: reply announces %d Gram values, want %d for m = %d", ErrBadReply, h.GetGramLen(), linalg.PackedLen(m), m)
	case len(h.GetR()) != m:
		return fmt.Errorf("%w: reply has %d rhs values, want %d", ErrBadReply, len(h.GetR()), m)
	case h.GetRows() < 0:
		return fmt.Errorf("%w: reply has %d rows", ErrBadReply, h.GetRows())
	case a.hasPrev && h.GetFlips() < 0:
		return fmt.Errorf("%w: reply has %d flips for a request with previous weights", ErrBadReply, h.GetFlips())
	case !a.hasPrev && h.GetFlips() != -1:
		return fmt.Errorf("%w: reply has %d flips for a request without previous weights, want -1", ErrBadReply, h.GetFlips())
	}
	if i := nonFinite(h.GetR()); i >= 0 {
		return fmt.Errorf("%w: rhs value %v at %d", ErrBadReply, h.GetR()[i], i)
	}
	if i := nonFinite([]float64{h.GetYy(), h.GetSse()}); i >= 0 {
		return fmt.Errorf("%w: y^T y = %v, SSE = %v", ErrBadReply, h.GetYy(), h.GetSse())
	}
	a.st = &shard.Stats{
		Iter:      int(a.iter),
		Partition: int(a.partition),
		Rows:      int(h.GetRows()),
		M:         m,
		Gram:      shard.GramBuffer(linalg.PackedLen(m)), // every value is overwritten by add
		R:         slices.Clone(h.GetR()),
		YY:        h.GetYy(),
		SSE:       h.GetSse(),
		Flips:     h.GetFlips(),
	}
	return nil
}

// finish returns the statistics once the stream has ended.
func (a *assembler) finish() (*shard.Stats, error) {
	if a.st == nil {
		return nil, fmt.Errorf("%w: stream ended before the header", ErrBadReply)
	}
	if a.next != len(a.st.Gram) {
		return nil, fmt.Errorf("%w: stream ended after %d of %d Gram values", ErrBadReply, a.next, len(a.st.Gram))
	}
	// add and header checked every value finite; what remains are the
	// sizes and counts.
	if err := a.st.ValidateShape(a.m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadReply, err)
	}
	a.st.MarkFiniteChecked()
	return a.st, nil
}

// nonFinite returns the index of the first NaN or Inf in v, or -1.
func nonFinite(v []float64) int {
	for i, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return i
		}
	}
	return -1
}

// infoToProto returns the wire form of info.
func infoToProto(info ShardInfo) *pb.InfoReply {
	s := info.Schema
	r := &pb.InfoReply{
		ShardId:            info.ID,
		MinProtocolVersion: MinProtocolVersion,
		MaxProtocolVersion: MaxProtocolVersion,
		Schema: &pb.Schema{
			N:           int64(s.N),
			D:           int32(s.D),
			Partitions:  int32(s.P),
			Bias:        s.Bias,
			Dtype:       s.DType,
			Arith:       s.Arith,
			Fingerprint: s.Fingerprint,
		},
	}
	for _, p := range slices.Sorted(maps.Keys(s.Rows)) {
		r.Partitions = append(r.Partitions, &pb.HeldPartition{Partition: int32(p), Rows: int64(s.Rows[p])})
	}
	return r
}

// infoFromProto converts and checks an Info reply: a protocol version both
// sides speak and a valid schema. Errors wrap ErrVersion or ErrBadReply.
func infoFromProto(r *pb.InfoReply) (ShardInfo, error) {
	lo, hi := r.GetMinProtocolVersion(), r.GetMaxProtocolVersion()
	if lo > hi {
		return ShardInfo{}, fmt.Errorf("%w: protocol version range %d..%d is empty", ErrBadReply, lo, hi)
	}
	if hi < MinProtocolVersion || lo > MaxProtocolVersion {
		return ShardInfo{}, fmt.Errorf("%w: shard %q speaks %d..%d, this client speaks %d..%d", ErrVersion, r.GetShardId(), lo, hi, MinProtocolVersion, MaxProtocolVersion)
	}
	ps := r.GetSchema()
	if ps == nil {
		return ShardInfo{}, fmt.Errorf("%w: shard %q sent no schema", ErrBadReply, r.GetShardId())
	}
	info := ShardInfo{
		ID: r.GetShardId(),
		Schema: Schema{
			N:           int(ps.GetN()),
			D:           int(ps.GetD()),
			P:           int(ps.GetPartitions()),
			Bias:        ps.GetBias(),
			DType:       ps.GetDtype(),
			Fingerprint: ps.GetFingerprint(),
			Arith:       ps.GetArith(),
		},
	}
	if len(r.GetPartitions()) > 0 {
		info.Schema.Rows = make(map[int]int, len(r.GetPartitions()))
	}
	for _, hp := range r.GetPartitions() {
		p := int(hp.GetPartition())
		if _, dup := info.Schema.Rows[p]; dup {
			return ShardInfo{}, fmt.Errorf("%w: shard %q lists partition %d twice", ErrBadReply, info.ID, p)
		}
		info.Schema.Rows[p] = int(hp.GetRows())
	}
	if err := info.Validate(); err != nil {
		return ShardInfo{}, fmt.Errorf("%w: %w", ErrBadReply, err)
	}
	return info, nil
}

// The moment passes of the tensor initialization (Moments12, Moment4).

func baselineToProto(b *shard.Baseline) *pb.Baseline {
	if b == nil {
		return nil
	}
	return &pb.Baseline{C: b.C, B: b.B, L: b.L, S: b.S}
}

func baselineFromProto(p *pb.Baseline) *shard.Baseline {
	if p == nil {
		return nil
	}
	return &shard.Baseline{C: p.GetC(), B: p.GetB(), L: p.GetL(), S: p.GetS()}
}

// toProto returns the request meant for the shard expectShardID, at
// protocol version. It shares a's slices.
func (a *moments12Args) toProto(expectShardID string, version uint32) *pb.Moments12Request {
	return &pb.Moments12Request{ProtocolVersion: version, ShardId: expectShardID,
		Partition: int32(a.partition), D: int32(a.d), Order: int32(a.order), Baseline: baselineToProto(a.base)}
}

// toProto returns the request meant for the shard expectShardID, at
// protocol version. It shares a's slices.
func (a *moment4Args) toProto(expectShardID string, version uint32) *pb.Moment4Request {
	return &pb.Moment4Request{ProtocolVersion: version, ShardId: expectShardID,
		Partition: int32(a.partition), D: int32(a.d), K: int32(a.k), V: a.v, Baseline: baselineToProto(a.base)}
}

// moments12FromProto converts a received request and checks it. Version
// and shard id are the caller's to check.
func moments12FromProto(p *pb.Moments12Request) (moments12Args, error) {
	if p == nil {
		return moments12Args{}, fmt.Errorf("%w: empty request", shard.ErrRequest)
	}
	a := moments12Args{partition: int(p.GetPartition()), d: int(p.GetD()), order: int(p.GetOrder()), base: baselineFromProto(p.GetBaseline())}
	return a, a.check()
}

// moment4FromProto converts a received request and checks it. Version and
// shard id are the caller's to check.
func moment4FromProto(p *pb.Moment4Request) (moment4Args, error) {
	if p == nil {
		return moment4Args{}, fmt.Errorf("%w: empty request", shard.ErrRequest)
	}
	a := moment4Args{partition: int(p.GetPartition()), d: int(p.GetD()), k: int(p.GetK()), v: p.GetV(), base: baselineFromProto(p.GetBaseline())}
	return a, a.check()
}

// runs splits n values into the runs of a reply's chunks, as [lo, hi)
// bounds: the first chunk, which also carries the header, at most first
// values, every other at most per (at least 1). There is always a first
// run, possibly empty.
func runs(n, first, per int) [][2]int {
	per = max(per, 1)
	end := min(max(first, 0), n)
	out := [][2]int{{0, end}}
	for off := end; off < n; off += per {
		out = append(out, [2]int{off, min(off+per, n)})
	}
	return out
}

// moments12ToChunks splits m into the chunks of a Moments12 reply from
// shard shardID to a request of protocol version, each at most ChunkBytes
// serialized. They share m's slices. Every version encodes them alike.
func moments12ToChunks(m *shard.Moments12, shardID string, version uint32) []*pb.Moments12Chunk {
	return splitMoments12(m, shardID, version, ChunkDoubles)
}

// splitMoments12 is moments12ToChunks with per doubles per chunk.
func splitMoments12(m *shard.Moments12, shardID string, version uint32, per int) []*pb.Moments12Chunk {
	var chunks []*pb.Moments12Chunk
	for i, r := range runs(len(m.SumYXX), per-len(m.SumYX)-len(m.SumX), per) {
		c := &pb.Moments12Chunk{Partition: int32(m.Partition), Offset: int64(r[0]), SumYxx: m.SumYXX[r[0]:r[1]]}
		if i == 0 {
			c.Header = &pb.Moments12Header{ProtocolVersion: version, ShardId: shardID, Rows: int64(m.Rows),
				Order: int32(m.Order), D: int32(m.D), SumY: m.SumY, SumYx: m.SumYX, SumX: m.SumX, SumYxxLen: int64(len(m.SumYXX))}
		}
		chunks = append(chunks, c)
	}
	return chunks
}

// moment4ToChunks splits m into the chunks of a Moment4 reply from shard
// shardID to a request of protocol version, each at most ChunkBytes
// serialized. They share m's slices. Every version encodes them alike.
func moment4ToChunks(m *shard.Moment4, shardID string, version uint32) []*pb.Moment4Chunk {
	return splitMoment4(m, shardID, version, ChunkDoubles)
}

// splitMoment4 is moment4ToChunks with per doubles per chunk.
func splitMoment4(m *shard.Moment4, shardID string, version uint32, per int) []*pb.Moment4Chunk {
	var chunks []*pb.Moment4Chunk
	for i, r := range runs(len(m.Sum), per, per) {
		c := &pb.Moment4Chunk{Partition: int32(m.Partition), Offset: int64(r[0]), Sum: m.Sum[r[0]:r[1]]}
		if i == 0 {
			c.Header = &pb.Moment4Header{ProtocolVersion: version, ShardId: shardID, Rows: int64(m.Rows),
				K: int32(m.K), SumLen: int64(len(m.Sum))}
		}
		chunks = append(chunks, c)
	}
	return chunks
}

// runReceiver receives a packed array in runs at explicit offsets: in
// order, without gaps, overlaps or overruns, and finite. Errors wrap
// ErrBadReply.
type runReceiver struct {
	what string // the array's name, for errors
	dst  []float64
	next int // values received
}

func (r *runReceiver) add(off int64, v []float64) error {
	switch {
	case off > int64(r.next):
		return fmt.Errorf("%w: gap: chunk at %s offset %d after %d values", ErrBadReply, r.what, off, r.next)
	case off < int64(r.next):
		return fmt.Errorf("%w: overlap: chunk at %s offset %d after %d values", ErrBadReply, r.what, off, r.next)
	case len(v) > len(r.dst)-r.next:
		return fmt.Errorf("%w: chunk of %d values at %s offset %d overruns the %d values", ErrBadReply, len(v), r.what, off, len(r.dst))
	}
	if i := nonFinite(v); i >= 0 {
		return fmt.Errorf("%w: %s value %v at offset %d", ErrBadReply, r.what, v[i], r.next+i)
	}
	copy(r.dst[r.next:], v)
	r.next += len(v)
	return nil
}

func (r *runReceiver) finish() error {
	if r.next != len(r.dst) {
		return fmt.Errorf("%w: stream ended after %d of %d %s values", ErrBadReply, r.next, len(r.dst), r.what)
	}
	return nil
}

// chunkStart checks what every chunk of a moment reply shares: the
// version of a header, the partition echoed, exactly one header, first,
// and no empty chunk after it.
func chunkStart(version uint32, hasHeader bool, partition, want int32, started bool, values int) error {
	switch {
	case hasHeader && !versionOK(version):
		return fmt.Errorf("%w: reply has version %d, %s", ErrVersion, version, supportedRange())
	case partition != want:
		return fmt.Errorf("%w: chunk for partition %d", ErrStale, partition)
	case !started && !hasHeader:
		return fmt.Errorf("%w: first chunk has no header", ErrBadReply)
	case started && hasHeader:
		return fmt.Errorf("%w: second header", ErrBadReply)
	case started && values == 0:
		return fmt.Errorf("%w: empty chunk", ErrBadReply)
	}
	return nil
}

// moments12Assembler rebuilds the sums of one Moments12 reply and checks
// them against the request. Errors wrap ErrBadReply, ErrStale,
// ErrWrongShard or ErrVersion.
type moments12Assembler struct {
	shardID string
	args    moments12Args
	m       *shard.Moments12
	rx      runReceiver
}

func (a *moments12Assembler) add(c *pb.Moments12Chunk) error {
	h := c.GetHeader()
	if err := chunkStart(h.GetProtocolVersion(), h != nil, c.GetPartition(), int32(a.args.partition), a.m != nil, len(c.GetSumYxx())); err != nil {
		return err
	}
	if h != nil {
		if err := a.header(h); err != nil {
			return err
		}
	}
	return a.rx.add(c.GetOffset(), c.GetSumYxx())
}

func (a *moments12Assembler) header(h *pb.Moments12Header) error {
	if h.GetShardId() != a.shardID {
		return fmt.Errorf("%w: reply from shard %q, expected %q", ErrWrongShard, clip(h.GetShardId()), a.shardID)
	}
	d, order := a.args.d, a.args.order
	want2 := 0
	if order == 2 {
		want2 = linalg.PackedLen(d)
	}
	switch {
	case int64(h.GetOrder()) != int64(order) || int64(h.GetD()) != int64(d):
		return fmt.Errorf("%w: reply has order %d, d = %d; request has order %d, d = %d", ErrBadReply, h.GetOrder(), h.GetD(), order, d)
	case len(h.GetSumYx()) != d || len(h.GetSumX()) != d:
		return fmt.Errorf("%w: reply has %d and %d first-order values, want %d", ErrBadReply, len(h.GetSumYx()), len(h.GetSumX()), d)
	case h.GetSumYxxLen() != int64(want2):
		return fmt.Errorf("%w: reply announces %d second-order values, want %d", ErrBadReply, h.GetSumYxxLen(), want2)
	case h.GetRows() < 0:
		return fmt.Errorf("%w: reply has %d rows", ErrBadReply, h.GetRows())
	case nonFinite(h.GetSumYx()) >= 0 || nonFinite(h.GetSumX()) >= 0 || nonFinite([]float64{h.GetSumY()}) >= 0:
		return fmt.Errorf("%w: first-order sums have NaN or Inf values", ErrBadReply)
	}
	a.m = &shard.Moments12{Partition: a.args.partition, Order: order, Rows: int(h.GetRows()), D: d,
		SumY: h.GetSumY(), SumYX: slices.Clone(h.GetSumYx()), SumX: slices.Clone(h.GetSumX())}
	if want2 > 0 {
		a.m.SumYXX = make([]float64, want2)
	}
	a.rx = runReceiver{what: "second-order", dst: a.m.SumYXX}
	return nil
}

// finish returns the sums once the stream has ended.
func (a *moments12Assembler) finish() (*shard.Moments12, error) {
	if a.m == nil {
		return nil, fmt.Errorf("%w: stream ended before the header", ErrBadReply)
	}
	if err := a.rx.finish(); err != nil {
		return nil, err
	}
	if err := a.m.Validate(a.args.d, a.args.order); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadReply, err)
	}
	return a.m, nil
}

// moment4Assembler rebuilds the sum of one Moment4 reply and checks it
// against the request. Errors wrap ErrBadReply, ErrStale, ErrWrongShard or
// ErrVersion.
type moment4Assembler struct {
	shardID string
	args    moment4Args
	m       *shard.Moment4
	rx      runReceiver
}

func (a *moment4Assembler) add(c *pb.Moment4Chunk) error {
	h := c.GetHeader()
	if err := chunkStart(h.GetProtocolVersion(), h != nil, c.GetPartition(), int32(a.args.partition), a.m != nil, len(c.GetSum())); err != nil {
		return err
	}
	if h != nil {
		if err := a.header(h); err != nil {
			return err
		}
	}
	return a.rx.add(c.GetOffset(), c.GetSum())
}

func (a *moment4Assembler) header(h *pb.Moment4Header) error {
	if h.GetShardId() != a.shardID {
		return fmt.Errorf("%w: reply from shard %q, expected %q", ErrWrongShard, clip(h.GetShardId()), a.shardID)
	}
	k := a.args.k
	switch {
	case int64(h.GetK()) != int64(k):
		return fmt.Errorf("%w: reply has k = %d, request has %d", ErrBadReply, h.GetK(), k)
	case h.GetSumLen() != int64(shard.Sym4Len(k)):
		return fmt.Errorf("%w: reply announces %d values, want %d for k = %d", ErrBadReply, h.GetSumLen(), shard.Sym4Len(k), k)
	case h.GetRows() < 0:
		return fmt.Errorf("%w: reply has %d rows", ErrBadReply, h.GetRows())
	}
	a.m = &shard.Moment4{Partition: a.args.partition, Rows: int(h.GetRows()), K: k, Sum: make([]float64, shard.Sym4Len(k))}
	a.rx = runReceiver{what: "fourth-moment", dst: a.m.Sum}
	return nil
}

// finish returns the sum once the stream has ended.
func (a *moment4Assembler) finish() (*shard.Moment4, error) {
	if a.m == nil {
		return nil, fmt.Errorf("%w: stream ended before the header", ErrBadReply)
	}
	if err := a.rx.finish(); err != nil {
		return nil, err
	}
	if err := a.m.Validate(a.args.k); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadReply, err)
	}
	return a.m, nil
}
