package transport

// The DeepStep call (deep networks, package deep): its checks against the
// protocol's limits, made by the client before sending and by the server
// on receipt, and the conversion between its protobuf messages and the
// types of package deep. It is kept apart from convert.go, which holds the
// other calls' conversions, only for the files' sizes.

import (
	"fmt"
	"math"
	"slices"

	"altmin/deep"
	"altmin/linalg"
	"altmin/model"
	pb "altmin/proto/altminpb"
	"altmin/shard"
)

// MaxDeepLayers is the largest number of hidden layers of a DeepStep
// network. The network's weights, sum_l n_l n_{l-1}, are limited to MaxM
// (so a request is at most 2 MaxM doubles, 128 KiB, and a joint Gram matrix
// at most 268 MB), and so is every width.
const MaxDeepLayers = 16

// checkDeepDims checks a network's widths against the limits
// before anything of its size is allocated. Errors wrap ErrTooLarge or
// shard.ErrRequest.
func checkDeepDims(dims []int) error {
	if len(dims) < 2 {
		return fmt.Errorf("%w: network with widths %v: need the input width and at least one hidden layer", shard.ErrRequest, dims)
	}
	if len(dims)-1 > MaxDeepLayers {
		return fmt.Errorf("%w: network with %d hidden layers, at most %d supported", ErrTooLarge, len(dims)-1, MaxDeepLayers)
	}
	var m int64
	for l, n := range dims {
		if n < 1 {
			return fmt.Errorf("%w: network width n_%d = %d, need >= 1", shard.ErrRequest, l, n)
		}
		if n > MaxM {
			return fmt.Errorf("%w: network width n_%d = %d, at most %d supported", ErrTooLarge, l, n, MaxM)
		}
		if l > 0 {
			m += int64(n) * int64(dims[l-1])
		}
	}
	if m > MaxM {
		return fmt.Errorf("%w: network with %d weights, at most %d supported", ErrTooLarge, m, MaxM)
	}
	return nil
}

// checkDeepRequest checks a deep request before it is sent or computed:
// the partition's range, the sizes against the limits and the request's
// own consistency (shapes, finite weights, signs +-1, layers). Errors wrap
// ErrTooLarge or shard.ErrRequest.
func checkDeepRequest(req *deep.Request, partition int64) error {
	switch {
	case req == nil:
		return fmt.Errorf("%w: nil request", shard.ErrRequest)
	case req.Net == nil:
		return fmt.Errorf("%w: request without weights", shard.ErrRequest)
	case partition < 0 || partition > math.MaxInt32:
		return fmt.Errorf("%w: partition %d out of range", shard.ErrRequest, partition)
	case req.Step < 0 || int64(req.Step) > math.MaxInt64/2:
		return fmt.Errorf("%w: step %d out of range", shard.ErrRequest, req.Step)
	}
	if err := checkDeepDims(req.Net.Dims); err != nil {
		return err
	}
	if err := req.Validate(); err != nil {
		return fmt.Errorf("%w: %v", shard.ErrRequest, err)
	}
	return nil
}

// deepNetToProto returns the wire form of n (the weights copied into one
// slice).
func deepNetToProto(n *model.Net) *pb.DeepNet {
	if n == nil {
		return nil
	}
	p := &pb.DeepNet{Dims: make([]int32, len(n.Dims)), Signs: n.V}
	for l, v := range n.Dims {
		p.Dims[l] = int32(v)
	}
	for _, w := range n.W {
		p.W = append(p.W, w...)
	}
	return p
}

// deepNetFromProto converts a received network, checking its widths
// against the limits and the number of weights; values are checked by
// checkDeepRequest. Errors wrap ErrTooLarge or shard.ErrRequest.
func deepNetFromProto(what string, p *pb.DeepNet) (*model.Net, error) {
	dims := make([]int, len(p.GetDims()))
	for l, v := range p.GetDims() {
		dims[l] = int(v)
	}
	if err := checkDeepDims(dims); err != nil {
		return nil, fmt.Errorf("%s network: %w", what, err)
	}
	n := &model.Net{Dims: dims, V: p.GetSigns()}
	w := p.GetW()
	for l := 1; l < len(dims); l++ {
		k := dims[l] * dims[l-1]
		if len(w) < k {
			break
		}
		n.W, w = append(n.W, w[:k:k]), w[k:]
	}
	if len(n.W) != len(dims)-1 || len(w) != 0 {
		want := 0
		for l := 1; l < len(dims); l++ {
			want += dims[l] * dims[l-1]
		}
		return nil, fmt.Errorf("%w: %s network with widths %v has %d weights, want %d", shard.ErrRequest, what, dims, len(p.GetW()), want)
	}
	return n, nil
}

// deepRequestToProto returns the wire form of req for partition, meant for
// the shard expectShardID, at protocol version. The caller has checked req
// (checkDeepRequest).
func deepRequestToProto(req *deep.Request, partition int, expectShardID string, version uint32) *pb.DeepStepRequest {
	p := &pb.DeepStepRequest{
		ProtocolVersion: version,
		ShardId:         expectShardID,
		Step:            int64(req.Step),
		Partition:       int32(partition),
		Net:             deepNetToProto(req.Net),
		Joint:           req.Joint,
		Prev:            deepNetToProto(req.Prev),
	}
	for _, l := range req.Layers {
		p.Layers = append(p.Layers, int32(l))
	}
	return p
}

// deepRequestFromProto converts a received request and checks it. Errors
// wrap ErrTooLarge or shard.ErrRequest. Version and shard id are the
// caller's to check.
func deepRequestFromProto(p *pb.DeepStepRequest) (*deep.Request, int, error) {
	if p == nil {
		return nil, 0, fmt.Errorf("%w: empty request", shard.ErrRequest)
	}
	if p.GetNet() == nil {
		return nil, 0, fmt.Errorf("%w: request without weights", shard.ErrRequest)
	}
	net, err := deepNetFromProto("current", p.GetNet())
	if err != nil {
		return nil, 0, err
	}
	req := &deep.Request{Step: int(p.GetStep()), Net: net, Joint: p.GetJoint()}
	if p.GetStep() < 0 || p.GetStep() > math.MaxInt64/2 {
		return nil, 0, fmt.Errorf("%w: step %d out of range", shard.ErrRequest, p.GetStep())
	}
	if len(p.GetLayers()) > MaxDeepLayers {
		return nil, 0, fmt.Errorf("%w: %d layers requested, at most %d", shard.ErrRequest, len(p.GetLayers()), MaxDeepLayers)
	}
	for _, l := range p.GetLayers() {
		req.Layers = append(req.Layers, int(l))
	}
	if p.GetPrev() != nil {
		if req.Prev, err = deepNetFromProto("previous", p.GetPrev()); err != nil {
			return nil, 0, err
		}
	}
	if err := checkDeepRequest(req, int64(p.GetPartition())); err != nil {
		return nil, 0, err
	}
	return req, int(p.GetPartition()), nil
}

// partialToChunks splits a partial into the chunks of a DeepStep reply from
// shard shardID to a request of protocol version, each at most ChunkBytes
// serialized. They share p's slices. Every version encodes them alike.
func partialToChunks(p *deep.Partial, shardID string, version uint32) []*pb.DeepStepChunk {
	return splitPartial(p, shardID, version, ChunkDoubles)
}

// splitPartial is partialToChunks with per doubles per chunk.
func splitPartial(p *deep.Partial, shardID string, version uint32, per int) []*pb.DeepStepChunk {
	h := &pb.DeepStepHeader{ProtocolVersion: version, ShardId: shardID, Rows: int64(p.Rows), Yy: p.YY, Sse: p.SSE, Flips: p.Flips}
	var gram []float64 // the systems' Gram matrices, concatenated
	if len(p.Systems) == 1 {
		gram = p.Systems[0].Gram
	}
	rs := 0
	for _, sy := range p.Systems {
		sh := &pb.DeepSystemHeader{M: int32(sy.M), GramLen: int64(len(sy.Gram)), R: sy.R}
		for _, l := range sy.Layers {
			sh.Layers = append(sh.Layers, int32(l))
		}
		h.Systems = append(h.Systems, sh)
		rs += len(sy.R)
		if len(p.Systems) > 1 {
			gram = append(gram, sy.Gram...)
		}
	}
	var chunks []*pb.DeepStepChunk
	for i, r := range runs(len(gram), per-rs, per) {
		c := &pb.DeepStepChunk{Step: int64(p.Step), Partition: int32(p.Partition), Offset: int64(r[0]), Gram: gram[r[0]:r[1]]}
		if i == 0 {
			c.Header = h
		}
		chunks = append(chunks, c)
	}
	return chunks
}

// deepAssembler rebuilds the partial of one DeepStep reply from its chunks
// and checks it against the request. Errors wrap ErrBadReply, ErrStale,
// ErrWrongShard or ErrVersion.
type deepAssembler struct {
	shardID   string
	req       *deep.Request
	partition int
	p         *deep.Partial
	gram      []float64 // the systems' Gram matrices, concatenated
	rx        runReceiver
}

func (a *deepAssembler) add(c *pb.DeepStepChunk) error {
	h := c.GetHeader()
	if c.GetStep() != int64(a.req.Step) {
		return fmt.Errorf("%w: chunk for step %d, partition %d", ErrStale, c.GetStep(), c.GetPartition())
	}
	if err := chunkStart(h.GetProtocolVersion(), h != nil, c.GetPartition(), int32(a.partition), a.p != nil, len(c.GetGram())); err != nil {
		return err
	}
	if h != nil {
		if err := a.header(h); err != nil {
			return err
		}
	}
	return a.rx.add(c.GetOffset(), c.GetGram())
}

func (a *deepAssembler) header(h *pb.DeepStepHeader) error {
	if h.GetShardId() != a.shardID {
		return fmt.Errorf("%w: reply from shard %q, expected %q", ErrWrongShard, clip(h.GetShardId()), a.shardID)
	}
	want := a.req.Systems()
	hasPrev := a.req.Prev != nil
	switch {
	case len(h.GetSystems()) != len(want):
		return fmt.Errorf("%w: reply has %d systems, the request asks for %d", ErrBadReply, len(h.GetSystems()), len(want))
	case h.GetRows() < 0:
		return fmt.Errorf("%w: reply has %d rows", ErrBadReply, h.GetRows())
	case hasPrev && h.GetFlips() < 0:
		return fmt.Errorf("%w: reply has %d flips for a request with previous weights", ErrBadReply, h.GetFlips())
	case !hasPrev && h.GetFlips() != -1:
		return fmt.Errorf("%w: reply has %d flips for a request without previous weights, want -1", ErrBadReply, h.GetFlips())
	case nonFinite([]float64{h.GetYy(), h.GetSse()}) >= 0:
		return fmt.Errorf("%w: y^T y = %v, SSE = %v", ErrBadReply, h.GetYy(), h.GetSse())
	}
	p := &deep.Partial{Step: a.req.Step, Partition: a.partition, Rows: int(h.GetRows()), YY: h.GetYy(), SSE: h.GetSse(), Flips: h.GetFlips()}
	total := 0
	for i, sh := range h.GetSystems() {
		m := 0
		for _, l := range want[i] {
			m += a.req.Net.Unknowns(l)
		}
		layers := make([]int, len(sh.GetLayers()))
		for j, l := range sh.GetLayers() {
			layers[j] = int(l)
		}
		switch {
		case !slices.Equal(layers, want[i]) || int64(sh.GetM()) != int64(m):
			return fmt.Errorf("%w: reply's system %d is over layers %v with m = %d, want layers %v, m = %d", ErrBadReply, i, layers, sh.GetM(), want[i], m)
		case sh.GetGramLen() != int64(linalg.PackedLen(m)):
			return fmt.Errorf("%w: reply's system %d announces %d Gram values, want %d for m = %d", ErrBadReply, i, sh.GetGramLen(), linalg.PackedLen(m), m)
		case len(sh.GetR()) != m:
			return fmt.Errorf("%w: reply's system %d has %d rhs values, want %d", ErrBadReply, i, len(sh.GetR()), m)
		}
		if j := nonFinite(sh.GetR()); j >= 0 {
			return fmt.Errorf("%w: reply's system %d has rhs value %v at %d", ErrBadReply, i, sh.GetR()[j], j)
		}
		p.Systems = append(p.Systems, deep.System{Layers: layers, M: m, R: slices.Clone(sh.GetR())})
		total += linalg.PackedLen(m)
	}
	a.gram = make([]float64, total)
	off := 0
	for i := range p.Systems {
		n := linalg.PackedLen(p.Systems[i].M)
		p.Systems[i].Gram = a.gram[off : off+n : off+n]
		off += n
	}
	a.p = p
	a.rx = runReceiver{what: "Gram", dst: a.gram}
	return nil
}

// finish returns the partial once the stream has ended.
func (a *deepAssembler) finish() (*deep.Partial, error) {
	if a.p == nil {
		return nil, fmt.Errorf("%w: stream ended before the header", ErrBadReply)
	}
	if err := a.rx.finish(); err != nil {
		return nil, err
	}
	if err := a.p.Validate(a.req); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadReply, err)
	}
	return a.p, nil
}
