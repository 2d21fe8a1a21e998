package transport

// This file is the only place that converts between protobuf messages and
// the types of packages msg and transport: one case per kind of request
// and partial (the per-kind codec); the chunking and assembly of replies
// are the same for every kind (chunks.go).

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"altmin/linalg"
	"altmin/model"
	"altmin/msg"
	pb "altmin/proto/altminpb"
)

// requestToProto returns the wire form of req for span sp, meant for the
// shard shardID. It shares req's slices. The caller has validated req.
func requestToProto(req msg.Request, sp msg.Span, shardID string) (*pb.ComputeRequest, error) {
	if err := checkSpan(int64(sp.Lo), int64(sp.N)); err != nil {
		return nil, err
	}
	c := &pb.ComputeRequest{ProtocolVersion: ProtocolVersion, ShardId: shardID, Partition: int32(sp.Lo), Span: int32(sp.N)}
	switch r := req.(type) {
	case *msg.StatsRequest:
		c.Kind = &pb.ComputeRequest_Stats{Stats: &pb.StatsRequest{Iter: int64(r.Iter), D: int32(r.D), Signs: r.Signs, U: r.U, Prev: r.Prev, HasPrev: r.Prev != nil,
			Linear: r.Linear, Transform: affineToProto(r.Transform), Split: splitToProto(r.Split), ReviveW: r.ReviveW}}
		st := c.Kind.(*pb.ComputeRequest_Stats).Stats
		for _, q := range r.Revive {
			st.Revive = append(st.Revive, int32(q))
		}
	case *msg.DeepRequest:
		d := &pb.DeepRequest{Step: int64(r.Step), Net: netToProto(r.Net), Joint: r.Joint, Prev: netToProto(r.Prev),
			Transform: affineToProto(r.Transform), Split: splitToProto(r.Split)}
		for _, l := range r.Layers {
			d.Layers = append(d.Layers, int32(l))
		}
		c.Kind = &pb.ComputeRequest_Deep{Deep: d}
	case *msg.Moments12Request:
		c.Kind = &pb.ComputeRequest_Moments12{Moments12: &pb.Moments12Request{D: int32(r.D), Order: int32(r.Order), Baseline: baselineToProto(r.Base),
			Transform: affineToProto(r.Transform), Split: splitToProto(r.Split)}}
	case *msg.Moment4Request:
		c.Kind = &pb.ComputeRequest_Moment4{Moment4: &pb.Moment4Request{D: int32(r.D), K: int32(r.K), V: r.V, Baseline: baselineToProto(r.Base),
			Transform: affineToProto(r.Transform), Split: splitToProto(r.Split)}}
	case *msg.SummaryRequest:
		c.Kind = &pb.ComputeRequest_Summary{Summary: &pb.SummaryRequest{D: int32(r.D), Split: splitToProto(r.Split), Samples: int32(r.Samples), Seed: r.Seed}}
	default:
		return nil, fmt.Errorf("%w: no wire form for a %v request", msg.ErrRequest, req.Kind())
	}
	return c, nil
}

// requestFromProto converts a received request and validates it (sizes
// against the limits before anything of their size is allocated). Errors
// wrap msg.ErrRequest or msg.ErrTooLarge. Version and shard id are the
// caller's to check.
func requestFromProto(p *pb.ComputeRequest) (msg.Request, msg.Span, error) {
	sp := msg.Span{Lo: int(p.GetPartition()), N: int(p.GetSpan())}
	if sp.N == 0 { // the wire's default: the partition alone
		sp.N = 1
	}
	if err := checkSpan(int64(sp.Lo), int64(sp.N)); err != nil {
		return nil, msg.Span{}, err
	}
	var req msg.Request
	switch k := p.GetKind().(type) {
	case *pb.ComputeRequest_Stats:
		s := k.Stats
		if !s.GetHasPrev() && len(s.GetPrev()) > 0 {
			return nil, msg.Span{}, fmt.Errorf("%w: %d previous weights without has_prev", msg.ErrRequest, len(s.GetPrev()))
		}
		r := &msg.StatsRequest{Iter: int(s.GetIter()), D: int(s.GetD()), Signs: s.GetSigns(), U: s.GetU(), Linear: s.GetLinear(),
			Transform: affineFromProto(s.GetTransform()), Split: splitFromProto(s.GetSplit()), ReviveW: s.GetReviveW()}
		if len(s.GetRevive()) > msg.MaxM {
			return nil, msg.Span{}, fmt.Errorf("%w: %d revived units", msg.ErrTooLarge, len(s.GetRevive()))
		}
		for _, q := range s.GetRevive() {
			r.Revive = append(r.Revive, int(q))
		}
		if s.GetHasPrev() {
			r.Prev = s.GetPrev()
			if r.Prev == nil {
				r.Prev = []float64{} // present but empty: a length error, not "no previous weights"
			}
		}
		req = r
	case *pb.ComputeRequest_Deep:
		d := k.Deep
		net, err := netFromProto("current", d.GetNet())
		if err != nil {
			return nil, msg.Span{}, err
		}
		r := &msg.DeepRequest{Step: int(d.GetStep()), Net: net, Joint: d.GetJoint(),
			Transform: affineFromProto(d.GetTransform()), Split: splitFromProto(d.GetSplit())}
		if d.GetPrev() != nil {
			if r.Prev, err = netFromProto("previous", d.GetPrev()); err != nil {
				return nil, msg.Span{}, err
			}
		}
		if len(d.GetLayers()) > msg.MaxLayers {
			return nil, msg.Span{}, fmt.Errorf("%w: %d layers requested", msg.ErrRequest, len(d.GetLayers()))
		}
		for _, l := range d.GetLayers() {
			r.Layers = append(r.Layers, int(l))
		}
		req = r
	case *pb.ComputeRequest_Moments12:
		m := k.Moments12
		req = &msg.Moments12Request{D: int(m.GetD()), Order: int(m.GetOrder()), Base: baselineFromProto(m.GetBaseline()),
			Transform: affineFromProto(m.GetTransform()), Split: splitFromProto(m.GetSplit())}
	case *pb.ComputeRequest_Moment4:
		m := k.Moment4
		req = &msg.Moment4Request{D: int(m.GetD()), K: int(m.GetK()), V: m.GetV(), Base: baselineFromProto(m.GetBaseline()),
			Transform: affineFromProto(m.GetTransform()), Split: splitFromProto(m.GetSplit())}
	case *pb.ComputeRequest_Summary:
		m := k.Summary
		req = &msg.SummaryRequest{D: int(m.GetD()), Split: splitFromProto(m.GetSplit()), Samples: int(m.GetSamples()), Seed: m.GetSeed()}
	default:
		return nil, msg.Span{}, fmt.Errorf("%w: a request without a known kind", msg.ErrRequest)
	}
	if err := req.Validate(); err != nil {
		return nil, msg.Span{}, err
	}
	return req, sp, nil
}

// netToProto returns the wire form of n (the weights copied into one
// slice); nil for nil.
func netToProto(n *model.Net) *pb.DeepNet {
	if n == nil {
		return nil
	}
	p := &pb.DeepNet{Dims: make([]int32, len(n.Dims)), Signs: n.V, Skip: n.Skip}
	for l, v := range n.Dims {
		p.Dims[l] = int32(v)
	}
	for _, w := range n.W {
		p.W = append(p.W, w...)
	}
	return p
}

// netFromProto converts a received network, checking its widths against
// the limits (msg.CheckDims) before splitting its weights.
func netFromProto(what string, p *pb.DeepNet) (*model.Net, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: no %s network", msg.ErrRequest, what)
	}
	dims := make([]int, len(p.GetDims()))
	for l, v := range p.GetDims() {
		dims[l] = int(v)
	}
	if err := msg.CheckDims(dims); err != nil {
		return nil, fmt.Errorf("%s network: %w", what, err)
	}
	n := &model.Net{Dims: dims, V: p.GetSigns(), Skip: p.GetSkip()}
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
		return nil, fmt.Errorf("%w: %s network with widths %v has %d weights, want %d", msg.ErrRequest, what, dims, len(p.GetW()), want)
	}
	return n, nil
}

func affineToProto(a *msg.Affine) *pb.Affine {
	if a == nil {
		return nil
	}
	return &pb.Affine{XShift: a.XShift, XScale: a.XScale, YShift: a.YShift, YScale: a.YScale}
}

func affineFromProto(p *pb.Affine) *msg.Affine {
	if p == nil {
		return nil
	}
	return &msg.Affine{XShift: p.GetXShift(), XScale: p.GetXScale(), YShift: p.GetYShift(), YScale: p.GetYScale()}
}

func splitToProto(s *msg.Split) *pb.Split {
	if s == nil {
		return nil
	}
	return &pb.Split{Fraction: s.Fraction, Seed: s.Seed, From: int64(s.From)}
}

func splitFromProto(p *pb.Split) *msg.Split {
	if p == nil {
		return nil
	}
	return &msg.Split{Fraction: p.GetFraction(), Seed: p.GetSeed(), From: int(p.GetFrom())}
}

func evalToProto(e msg.Eval) *pb.Eval {
	return &pb.Eval{Rows: int64(e.Rows), Sse: e.SSE, Yy: e.YY, SumY: e.SumY}
}

func evalFromProto(p *pb.Eval) msg.Eval {
	return msg.Eval{Rows: int(p.GetRows()), SSE: p.GetSse(), YY: p.GetYy(), SumY: p.GetSumY()}
}

func baselineToProto(b *msg.Baseline) *pb.Baseline {
	if b == nil {
		return nil
	}
	return &pb.Baseline{C: b.C, B: b.B, L: b.L, S: b.S}
}

func baselineFromProto(p *pb.Baseline) *msg.Baseline {
	if p == nil {
		return nil
	}
	return &msg.Baseline{C: p.GetC(), B: p.GetB(), L: p.GetL(), S: p.GetS()}
}

// encodePartial returns the header of partial p computed by shard shardID
// and its payload, the vectors in the order of the wire format.
func encodePartial(p msg.Partial, shardID string) (*pb.Header, [][]float64, error) {
	h := &pb.Header{ProtocolVersion: ProtocolVersion, ShardId: shardID}
	var vs [][]float64
	switch q := p.(type) {
	case *msg.Stats:
		h.Rows = int64(q.Rows)
		h.Kind = &pb.Header_Stats{Stats: &pb.StatsHeader{M: int32(q.M), Yy: q.YY, Sse: q.SSE, Flips: q.Flips, SumY: q.SumY, Val: evalToProto(q.Val)}}
		vs = [][]float64{q.R, q.Gram}
	case *msg.DeepStats:
		dh := &pb.DeepHeader{Yy: q.YY, Sse: q.SSE, Flips: q.Flips, SumY: q.SumY, Val: evalToProto(q.Val)}
		for _, sy := range q.Systems {
			ps := &pb.DeepSystem{M: int32(sy.M)}
			for _, l := range sy.Layers {
				ps.Layers = append(ps.Layers, int32(l))
			}
			dh.Systems = append(dh.Systems, ps)
			vs = append(vs, sy.R, sy.Gram)
		}
		h.Rows = int64(q.Rows)
		h.Kind = &pb.Header_Deep{Deep: dh}
	case *msg.Moments12:
		h.Rows = int64(q.Rows)
		h.Kind = &pb.Header_Moments12{Moments12: &pb.Moments12Header{Order: int32(q.Order), D: int32(q.D), SumY: q.SumY}}
		vs = [][]float64{q.SumYX, q.SumX, q.SumYXX}
	case *msg.Moment4:
		h.Rows = int64(q.Rows)
		h.Kind = &pb.Header_Moment4{Moment4: &pb.Moment4Header{K: int32(q.K)}}
		vs = [][]float64{q.Sum}
	case *msg.Summary:
		h.Rows = int64(q.Rows)
		h.Kind = &pb.Header_Summary{Summary: &pb.SummaryHeader{D: int32(len(q.Mean) - 1), Samples: int32(len(q.Index))}}
		vs = [][]float64{q.Mean, q.M2, q.Index, q.Sample}
	default:
		return nil, nil, fmt.Errorf("%w: no wire form for a %v partial", msg.ErrRequest, p.Kind())
	}
	for _, v := range vs {
		h.Payload += int64(len(v))
	}
	return h, vs, nil
}

// checkSpan checks a span: its first partition and its size, a power of
// two (at least 1) of which the first partition is a multiple. Errors wrap
// msg.ErrRequest.
func checkSpan(lo, n int64) error {
	if n < 1 || lo < 0 || lo > math.MaxInt32 || n > 1<<30 || n&(n-1) != 0 || lo%n != 0 {
		return fmt.Errorf("%w: span of %d partitions from partition %d: want a power of two of which the first partition, in [0, 2^31), is a multiple", msg.ErrRequest, n, lo)
	}
	return nil
}

// newPartial returns the partial of span sp that header h announces in
// answer to req, with its scalars filled in, and the vectors its payload
// fills, in the order of the wire format. Every size comes from req and is
// compared with h before anything is allocated; the Gram buffers come from
// pool. Errors wrap ErrBadReply.
func newPartial(req msg.Request, sp msg.Span, h *pb.Header, pool *msg.Pool) (msg.Partial, [][]float64, error) {
	rows := int(h.GetRows())
	if h.GetRows() < 0 || int64(rows) != h.GetRows() {
		return nil, nil, badReply("reply has %d rows", h.GetRows())
	}
	var p msg.Partial
	var vs [][]float64
	var err error
	switch r := req.(type) {
	case *msg.StatsRequest:
		p, vs, err = newStats(r, sp, rows, h.GetStats(), pool)
	case *msg.DeepRequest:
		p, vs, err = newDeepStats(r, sp, rows, h.GetDeep(), pool)
	case *msg.Moments12Request:
		p, vs, err = newMoments12(r, sp, rows, h.GetMoments12())
	case *msg.Moment4Request:
		p, vs, err = newMoment4(r, sp, rows, h.GetMoment4())
	case *msg.SummaryRequest:
		p, vs, err = newSummary(r, sp, rows, h.GetSummary())
	default:
		return nil, nil, fmt.Errorf("%w: no wire form for a %v request", msg.ErrRequest, req.Kind())
	}
	if err != nil {
		return nil, nil, err
	}
	var n int64
	for _, v := range vs {
		n += int64(len(v))
	}
	if h.GetPayload() != n {
		p.Release(pool)
		return nil, nil, badReply("reply announces %d values, want %d", h.GetPayload(), n)
	}
	return p, vs, nil
}

// badReply returns an error wrapping ErrBadReply.
func badReply(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadReply, fmt.Sprintf(format, args...))
}

// newStats is newPartial for a 1-hidden-layer model's statistics. Payload:
// R, then the packed Gram matrix.
func newStats(r *msg.StatsRequest, sp msg.Span, rows int, sh *pb.StatsHeader, pool *msg.Pool) (msg.Partial, [][]float64, error) {
	m := len(r.U)
	switch {
	case sh == nil:
		return nil, nil, badReply("reply to a stats request has no stats header")
	case int64(sh.GetM()) != int64(m):
		return nil, nil, badReply("reply has m = %d, request has %d", sh.GetM(), m)
	case !finite(sh.GetYy(), sh.GetSse(), sh.GetSumY()) || evalFromProto(sh.GetVal()).Check() != nil:
		return nil, nil, badReply("y^T y = %v, SSE = %v, sum y = %v, validation %v", sh.GetYy(), sh.GetSse(), sh.GetSumY(), sh.GetVal())
	}
	s := &msg.Stats{Iter: r.Iter, Partition: sp.Lo, Parts: sp.N, Rows: rows, M: m, YY: sh.GetYy(), SSE: sh.GetSse(), Flips: sh.GetFlips(),
		SumY: sh.GetSumY(), Val: evalFromProto(sh.GetVal()),
		R: make([]float64, m), Gram: pool.Get(linalg.PackedLen(m))} // every Gram value is overwritten
	return s, [][]float64{s.R, s.Gram}, nil
}

// newDeepStats is newPartial for a deep network's statistics. Payload: for
// each system, R then the packed Gram matrix.
func newDeepStats(r *msg.DeepRequest, sp msg.Span, rows int, dh *pb.DeepHeader, pool *msg.Pool) (msg.Partial, [][]float64, error) {
	want := r.Systems()
	switch {
	case dh == nil:
		return nil, nil, badReply("reply to a deep request has no deep header")
	case len(dh.GetSystems()) != len(want):
		return nil, nil, badReply("reply has %d systems, request %d", len(dh.GetSystems()), len(want))
	case !finite(dh.GetYy(), dh.GetSse(), dh.GetSumY()) || evalFromProto(dh.GetVal()).Check() != nil:
		return nil, nil, badReply("y^T y = %v, SSE = %v, sum y = %v, validation %v", dh.GetYy(), dh.GetSse(), dh.GetSumY(), dh.GetVal())
	}
	d := &msg.DeepStats{Step: r.Step, Partition: sp.Lo, Parts: sp.N, Rows: rows, YY: dh.GetYy(), SSE: dh.GetSse(), Flips: dh.GetFlips(),
		SumY: dh.GetSumY(), Val: evalFromProto(dh.GetVal())}
	var vs [][]float64
	for i, layers := range want {
		hs := dh.GetSystems()[i]
		m := r.Unknowns(layers)
		if !slices.Equal(int32s(layers), hs.GetLayers()) || int64(hs.GetM()) != int64(m) {
			d.Release(pool)
			return nil, nil, badReply("reply's system %d is over layers %v with m = %d, request's over %v with m = %d", i, hs.GetLayers(), hs.GetM(), layers, m)
		}
		sy := msg.System{Layers: layers, M: m, R: make([]float64, m), Gram: pool.Get(linalg.PackedLen(m))}
		d.Systems = append(d.Systems, sy)
		vs = append(vs, sy.R, sy.Gram)
	}
	return d, vs, nil
}

// newMoments12 is newPartial for first or second moment sums. Payload:
// SumYX, SumX, SumYXX.
func newMoments12(r *msg.Moments12Request, sp msg.Span, rows int, mh *pb.Moments12Header) (msg.Partial, [][]float64, error) {
	switch {
	case mh == nil:
		return nil, nil, badReply("reply to a moments12 request has no moments12 header")
	case int64(mh.GetOrder()) != int64(r.Order) || int64(mh.GetD()) != int64(r.D):
		return nil, nil, badReply("reply has order %d, d = %d; request has order %d, d = %d", mh.GetOrder(), mh.GetD(), r.Order, r.D)
	case !finite(mh.GetSumY()):
		return nil, nil, badReply("sum of the labels is %v", mh.GetSumY())
	}
	m := &msg.Moments12{Partition: sp.Lo, Parts: sp.N, Order: r.Order, Rows: rows, D: r.D, SumY: mh.GetSumY(), SumYX: make([]float64, r.D), SumX: make([]float64, r.D)}
	if r.Order == 2 {
		m.SumYXX = make([]float64, linalg.PackedLen(r.D))
	}
	return m, [][]float64{m.SumYX, m.SumX, m.SumYXX}, nil
}

// newMoment4 is newPartial for a fourth moment. Payload: the packed
// symmetric tensor.
func newMoment4(r *msg.Moment4Request, sp msg.Span, rows int, mh *pb.Moment4Header) (msg.Partial, [][]float64, error) {
	switch {
	case mh == nil:
		return nil, nil, badReply("reply to a moment4 request has no moment4 header")
	case int64(mh.GetK()) != int64(r.K):
		return nil, nil, badReply("reply has k = %d, request has %d", mh.GetK(), r.K)
	}
	m := &msg.Moment4{Partition: sp.Lo, Parts: sp.N, Rows: rows, K: r.K, Sum: make([]float64, msg.Sym4Len(r.K))}
	return m, [][]float64{m.Sum}, nil
}

// newSummary is newPartial for a summary. Payload: Mean, M2, Index,
// Sample.
func newSummary(r *msg.SummaryRequest, sp msg.Span, rows int, sh *pb.SummaryHeader) (msg.Partial, [][]float64, error) {
	switch {
	case sh == nil:
		return nil, nil, badReply("reply to a summary request has no summary header")
	case int64(sh.GetD()) != int64(r.D):
		return nil, nil, badReply("reply has d = %d, request has %d", sh.GetD(), r.D)
	case sh.GetSamples() < 0 || int(sh.GetSamples()) > r.Samples:
		return nil, nil, badReply("reply has %d samples, request at most %d", sh.GetSamples(), r.Samples)
	}
	c, n := r.D+1, int(sh.GetSamples())
	s := &msg.Summary{Partition: sp.Lo, Parts: sp.N, Rows: rows, Mean: make([]float64, c), M2: make([]float64, c), Index: make([]float64, n), Sample: make([]float64, n*c)}
	return s, [][]float64{s.Mean, s.M2, s.Index, s.Sample}, nil
}

func int32s(v []int) []int32 {
	out := make([]int32, len(v))
	for i, x := range v {
		out[i] = int32(x)
	}
	return out
}

func finite(v ...float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// infoToProto returns the wire form of info.
func infoToProto(info ShardInfo) *pb.InfoReply {
	s := info.Schema
	r := &pb.InfoReply{
		ShardId:            info.ID,
		MinProtocolVersion: ProtocolVersion,
		MaxProtocolVersion: ProtocolVersion,
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

// infoFromProto converts and checks an Info reply: this package's protocol
// version and a valid schema. Errors wrap ErrVersion or ErrBadReply.
func infoFromProto(r *pb.InfoReply) (ShardInfo, error) {
	lo, hi := r.GetMinProtocolVersion(), r.GetMaxProtocolVersion()
	if lo > hi {
		return ShardInfo{}, fmt.Errorf("%w: protocol version range %d..%d is empty", ErrBadReply, lo, hi)
	}
	if ProtocolVersion < lo || ProtocolVersion > hi {
		return ShardInfo{}, fmt.Errorf("%w: shard %q speaks protocol versions %d..%d, this node %d", ErrVersion, clip(r.GetShardId()), lo, hi, ProtocolVersion)
	}
	ps := r.GetSchema()
	if ps == nil {
		return ShardInfo{}, fmt.Errorf("%w: shard %q sent no schema", ErrBadReply, clip(r.GetShardId()))
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
			Protocol:    ProtocolVersion,
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
