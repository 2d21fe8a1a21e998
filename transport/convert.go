package transport

// This file is the only place that converts between protobuf messages and
// the types of packages shard and transport.

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"altmin/linalg"
	pb "altmin/proto/altminpb"
	"altmin/shard"
)

// requestToProto returns the wire form of req for partition, meant for the
// shard expectShardID. It shares req's slices. The caller has checked req
// (checkRequest).
func requestToProto(req *shard.Request, partition int, expectShardID string) *pb.StepRequest {
	return &pb.StepRequest{
		ProtocolVersion: ProtocolVersion,
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

// statsToChunks splits st into the chunks of a Step reply from shard
// shardID, each at most ChunkBytes serialized. The chunks share st's slices.
func statsToChunks(st *shard.Stats, shardID string) []*pb.StepChunk {
	return splitStats(st, shardID, ChunkDoubles)
}

// splitStats is statsToChunks with per doubles per chunk (at least 1).
func splitStats(st *shard.Stats, shardID string, per int) []*pb.StepChunk {
	per = max(per, 1)
	iter, part := int64(st.Iter), int32(st.Partition)
	first := &pb.StepChunk{
		Iter:      iter,
		Partition: part,
		Header: &pb.StepHeader{
			ProtocolVersion: ProtocolVersion,
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

// add takes the next chunk of the stream.
func (a *assembler) add(c *pb.StepChunk) error {
	if h := c.GetHeader(); h != nil && !versionOK(h.GetProtocolVersion()) {
		return fmt.Errorf("%w: reply has version %d, %s", ErrVersion, h.GetProtocolVersion(), supportedRange())
	}
	if c.GetIter() != a.iter || c.GetPartition() != a.partition {
		return fmt.Errorf("%w: chunk for iteration %d, partition %d", ErrStale, c.GetIter(), c.GetPartition())
	}
	if a.st == nil {
		if err := a.header(c.GetHeader()); err != nil {
			return err
		}
	} else if c.GetHeader() != nil {
		return fmt.Errorf("%w: second header at Gram offset %d", ErrBadReply, a.next)
	} else if len(c.GetGram()) == 0 {
		return fmt.Errorf("%w: empty chunk at Gram offset %d", ErrBadReply, a.next)
	}
	g := c.GetGram()
	switch off := c.GetOffset(); {
	case off > int64(a.next):
		return fmt.Errorf("%w: gap: chunk at Gram offset %d after %d values", ErrBadReply, off, a.next)
	case off < int64(a.next):
		return fmt.Errorf("%w: overlap: chunk at Gram offset %d after %d values", ErrBadReply, off, a.next)
	case len(g) > len(a.st.Gram)-a.next:
		return fmt.Errorf("%w: chunk of %d values at Gram offset %d overruns the %d values", ErrBadReply, len(g), off, len(a.st.Gram))
	}
	if i := nonFinite(g); i >= 0 {
		return fmt.Errorf("%w: Gram value %v at offset %d", ErrBadReply, g[i], a.next+i)
	}
	copy(a.st.Gram[a.next:], g)
	a.next += len(g)
	return nil
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
		Gram:      make([]float64, linalg.PackedLen(m)),
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
	if err := a.st.Validate(a.m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadReply, err)
	}
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
			Fingerprint: s.Fingerprint,
		},
	}
	for _, p := range slices.Sorted(maps.Keys(s.Rows)) {
		r.Partitions = append(r.Partitions, &pb.HeldPartition{Partition: int32(p), Rows: int64(s.Rows[p])})
	}
	return r
}

// infoFromProto converts and checks an Info reply: a supported protocol
// version and a valid schema. Errors wrap ErrVersion or ErrBadReply.
func infoFromProto(r *pb.InfoReply) (ShardInfo, error) {
	lo, hi := r.GetMinProtocolVersion(), r.GetMaxProtocolVersion()
	if lo > hi {
		return ShardInfo{}, fmt.Errorf("%w: protocol version range %d..%d is empty", ErrBadReply, lo, hi)
	}
	if ProtocolVersion < lo || ProtocolVersion > hi {
		return ShardInfo{}, fmt.Errorf("%w: shard %q speaks %d..%d, this client speaks %d", ErrVersion, r.GetShardId(), lo, hi, ProtocolVersion)
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
