package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"altmin/linalg"
	"altmin/model"
	"altmin/msg"
	pb "altmin/proto/altminpb"
)

// The per-kind codec (codec.go): requests, headers and payloads, Info.

// sameRequest fails unless got and want are requests of the same kind with
// the same fields, every float64 compared by its bits.
func sameRequest(t *testing.T, what string, got, want msg.Request) {
	t.Helper()
	fail := func(field string) { t.Helper(); t.Fatalf("%s: %s differs: got %+v, want %+v", what, field, got, want) }
	switch w := want.(type) {
	case *msg.StatsRequest:
		g, ok := got.(*msg.StatsRequest)
		switch {
		case !ok:
			fail("kind")
		case g.Iter != w.Iter || g.D != w.D:
			fail("iter or d")
		case !bitsEqual(g.Signs, w.Signs) || !bitsEqual(g.U, w.U):
			fail("signs or weights")
		case (g.Prev == nil) != (w.Prev == nil) || !bitsEqual(g.Prev, w.Prev):
			fail("previous weights")
		case g.Linear != w.Linear:
			fail("linear")
		case !sameAffine(g.Transform, w.Transform):
			fail("transform")
		case !sameSplit(g.Split, w.Split):
			fail("split")
		}
	case *msg.DeepRequest:
		g, ok := got.(*msg.DeepRequest)
		switch {
		case !ok:
			fail("kind")
		case g.Step != w.Step || g.Joint != w.Joint || !slices.Equal(g.Layers, w.Layers):
			fail("step, joint or layers")
		case !sameNet(g.Net, w.Net):
			fail("network")
		case (g.Prev == nil) != (w.Prev == nil) || (w.Prev != nil && !sameNet(g.Prev, w.Prev)):
			fail("previous network")
		case !sameAffine(g.Transform, w.Transform):
			fail("transform")
		case !sameSplit(g.Split, w.Split):
			fail("split")
		}
	case *msg.Moments12Request:
		g, ok := got.(*msg.Moments12Request)
		switch {
		case !ok:
			fail("kind")
		case g.D != w.D || g.Order != w.Order:
			fail("d or order")
		case !sameBaseline(g.Base, w.Base):
			fail("baseline")
		case !sameAffine(g.Transform, w.Transform):
			fail("transform")
		case !sameSplit(g.Split, w.Split):
			fail("split")
		}
	case *msg.Moment4Request:
		g, ok := got.(*msg.Moment4Request)
		switch {
		case !ok:
			fail("kind")
		case g.D != w.D || g.K != w.K || !bitsEqual(g.V, w.V):
			fail("d, k or projection")
		case !sameBaseline(g.Base, w.Base):
			fail("baseline")
		case !sameAffine(g.Transform, w.Transform):
			fail("transform")
		case !sameSplit(g.Split, w.Split):
			fail("split")
		}
	case *msg.SummaryRequest:
		g, ok := got.(*msg.SummaryRequest)
		switch {
		case !ok:
			fail("kind")
		case g.D != w.D || g.Samples != w.Samples || g.Seed != w.Seed:
			fail("d, samples or seed")
		case !sameSplit(g.Split, w.Split):
			fail("split")
		}
	default:
		t.Fatalf("%s: %T", what, want)
	}
}

// sameAffine reports whether a and b are both nil or the same transform,
// every float64 compared by its bits.
func sameAffine(a, b *msg.Affine) bool {
	if a == nil || b == nil {
		return a == b
	}
	return bitsEqual(a.XShift, b.XShift) && bitsEqual(a.XScale, b.XScale) &&
		bitsEqual([]float64{a.YShift, a.YScale}, []float64{b.YShift, b.YScale})
}

// sameSplit reports whether a and b are both nil or the same split, the
// fraction compared by its bits.
func sameSplit(a, b *msg.Split) bool {
	if a == nil || b == nil {
		return a == b
	}
	return math.Float64bits(a.Fraction) == math.Float64bits(b.Fraction) && a.Seed == b.Seed && a.From == b.From
}

func sameNet(a, b *model.Net) bool {
	if !slices.Equal(a.Dims, b.Dims) || !bitsEqual(a.V, b.V) || len(a.W) != len(b.W) ||
		(a.Skip == nil) != (b.Skip == nil) || !bitsEqual(a.Skip, b.Skip) {
		return false
	}
	for l := range a.W {
		if !bitsEqual(a.W[l], b.W[l]) {
			return false
		}
	}
	return true
}

func sameBaseline(a, b *msg.Baseline) bool {
	if a == nil || b == nil {
		return a == b
	}
	return math.Float64bits(a.C) == math.Float64bits(b.C) && (a.B == nil) == (b.B == nil) &&
		bitsEqual(a.B, b.B) && bitsEqual(a.L, b.L) && bitsEqual(a.S, b.S)
}

// TestRequestRoundTrip sends seeded random requests of every kind through
// requestToProto, the protobuf encoding and requestFromProto: they come
// back with the same bits, partition, version and shard id.
func TestRequestRoundTrip(t *testing.T) {
	const seed = 5
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for trial := 0; trial < 20; trial++ {
		reqs := sampleRequests(rng)
		d, k := 1+rng.IntN(7), 1+rng.IntN(5)
		// The fields of training on real data: the linear unit, the
		// transform and the split, on every kind that carries them.
		lin := statsRequest(rng, trial, d, k)
		lin.Signs[k-1], lin.Linear = 1, trial%2 == 0
		lin.Transform, lin.Split = randAffine(rng, d, rng.IntN(d+1)), randSplit(rng)
		deep := deepRequests(rng, randNet(rng, d, k, 2), trial)[trial%5]
		deep.Transform, deep.Split = randAffine(rng, d, rng.IntN(d+1)), randSplit(rng)
		reqs = append(reqs,
			namedRequest{"random stats", statsRequest(rng, trial, d, k)},
			namedRequest{"random moments12", &msg.Moments12Request{D: d, Order: 1 + trial%2, Base: randBaseline(rng, d, rng.IntN(3))}},
			namedRequest{"random moment4", &msg.Moment4Request{D: d + k, K: k, V: randVec(rng, (d+k)*k)}},
			namedRequest{"random stats, linear, transform, split", lin},
			namedRequest{"random deep, transform, split", deep},
			namedRequest{"random moments12, transform, split", &msg.Moments12Request{D: d, Order: 1 + trial%2,
				Transform: randAffine(rng, d, rng.IntN(d+1)), Split: randSplit(rng)}},
			namedRequest{"random moment4, transform, split", &msg.Moment4Request{D: d + k, K: k, V: randVec(rng, (d+k)*k),
				Transform: randAffine(rng, d+k, rng.IntN(d+k+1)), Split: randSplit(rng)}},
			namedRequest{"random summary", &msg.SummaryRequest{D: d, Samples: rng.IntN(msg.MaxSamples + 1), Seed: rng.Uint64(), Split: randSplit(rng)}},
			namedRequest{"summary at the limits", &msg.SummaryRequest{D: 1<<23/msg.MaxSamples - 1, Samples: msg.MaxSamples, Seed: math.MaxUint64,
				Split: &msg.Split{Fraction: math.Nextafter(1, 0), Seed: math.MaxUint64}}},
			namedRequest{"split from the last row", &msg.Moments12Request{D: d, Order: 1, Split: &msg.Split{From: math.MaxInt64, Seed: math.MaxUint64}}},
		)
		for _, nr := range reqs {
			if err := nr.req.Validate(); err != nil {
				t.Fatalf("%s: the sample is invalid: %v", nr.name, err)
			}
			part := rng.IntN(1000)
			p, err := requestToProto(nr.req, msg.Leaf(part), "shard-a")
			if err != nil {
				t.Fatalf("%s: %v", nr.name, err)
			}
			p = onWire(t, p, &pb.ComputeRequest{})
			if p.GetProtocolVersion() != ProtocolVersion || p.GetShardId() != "shard-a" || p.GetPartition() != int32(part) || max(p.GetSpan(), 1) != 1 {
				t.Fatalf("%s: version %d, shard %q, partition %d, span %d", nr.name, p.GetProtocolVersion(), p.GetShardId(), p.GetPartition(), p.GetSpan())
			}
			if s, ok := nr.req.(*msg.StatsRequest); ok && p.GetStats().GetHasPrev() != (s.Prev != nil) {
				t.Fatalf("%s: has_prev %t", nr.name, p.GetStats().GetHasPrev())
			}
			got, gotPart, err := requestFromProto(p)
			if err != nil {
				t.Fatalf("%s: %v", nr.name, err)
			}
			if gotPart != msg.Leaf(part) {
				t.Fatalf("%s: %v, want partition %d", nr.name, gotPart, part)
			}
			sameRequest(t, nr.name, got, nr.req)
		}
	}
}

func TestRequestToProtoRefuses(t *testing.T) {
	req := statsRequest(rand.New(rand.NewPCG(1, 0)), 0, 2, 1)
	for _, part := range []int{-1, math.MinInt32, math.MaxInt32 + 1} {
		if p, err := requestToProto(req, msg.Leaf(part), "s"); !errors.Is(err, msg.ErrRequest) || p != nil {
			t.Errorf("partition %d: %v, %v; want msg.ErrRequest", part, p, err)
		}
	}
	if _, err := requestToProto(req, msg.Leaf(math.MaxInt32), "s"); err != nil {
		t.Errorf("partition MaxInt32: %v", err)
	}
}

// validWire returns valid wire requests of every kind for partition 1 of
// shard "s" with d = 3 (deep) or 4 (moments) or 3 (stats) features.
func validWire() map[string]*pb.ComputeRequest {
	head := func(k func(c *pb.ComputeRequest)) *pb.ComputeRequest {
		c := &pb.ComputeRequest{ProtocolVersion: ProtocolVersion, ShardId: "s", Partition: 1}
		k(c)
		return c
	}
	return map[string]*pb.ComputeRequest{
		"stats": head(func(c *pb.ComputeRequest) {
			c.Kind = &pb.ComputeRequest_Stats{Stats: &pb.StatsRequest{Iter: 2, D: 3, Signs: []float64{1, -1},
				U: []float64{1, 2, 3, 4, 5, 6}, Prev: []float64{6, 5, 4, 3, 2, 1}, HasPrev: true}}
		}),
		"deep": head(func(c *pb.ComputeRequest) {
			c.Kind = &pb.ComputeRequest_Deep{Deep: &pb.DeepRequest{Step: 1, Layers: []int32{1, 2}, Joint: true,
				Net:  &pb.DeepNet{Dims: []int32{3, 2, 2}, W: []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, Signs: []float64{1, -1}},
				Prev: &pb.DeepNet{Dims: []int32{3, 2, 2}, W: []float64{0, 2, 3, 4, 5, 6, 7, 8, 9, 10}, Signs: []float64{1, -1}}}}
		}),
		"moments12": head(func(c *pb.ComputeRequest) {
			c.Kind = &pb.ComputeRequest_Moments12{Moments12: &pb.Moments12Request{D: 4, Order: 2,
				Baseline: &pb.Baseline{C: 1, B: []float64{1, 2, 3, 4}, L: []float64{1, 0, 0, 1}, S: []float64{0.5}}}}
		}),
		"moment4": head(func(c *pb.ComputeRequest) {
			c.Kind = &pb.ComputeRequest_Moment4{Moment4: &pb.Moment4Request{D: 4, K: 2, V: []float64{1, 0, 0, 1, 0, 0, 0, 0}}}
		}),
		"summary": head(func(c *pb.ComputeRequest) {
			c.Kind = &pb.ComputeRequest_Summary{Summary: &pb.SummaryRequest{D: 3, Samples: 2, Seed: 9, Split: &pb.Split{Fraction: 0.25, Seed: 1}}}
		}),
	}
}

// wireAffine returns a valid wire transform of n features.
func wireAffine(n int) *pb.Affine {
	a := &pb.Affine{YShift: 1, YScale: 2}
	for j := range n {
		a.XShift, a.XScale = append(a.XShift, float64(j)), append(a.XScale, 0.5)
	}
	return a
}

// TestRequestFromProtoRefuses checks the conversion of received requests:
// each malformed or oversized one is refused with msg.ErrRequest or
// msg.ErrTooLarge before anything of its size is allocated.
func TestRequestFromProtoRefuses(t *testing.T) {
	deepNet := func(r *pb.ComputeRequest) *pb.DeepRequest { return r.GetDeep() }
	cases := []struct {
		kind string
		name string
		edit func(r *pb.ComputeRequest)
		want error
	}{
		{"stats", "ok", func(*pb.ComputeRequest) {}, nil},
		{"deep", "ok", func(*pb.ComputeRequest) {}, nil},
		{"moments12", "ok", func(*pb.ComputeRequest) {}, nil},
		{"moment4", "ok", func(*pb.ComputeRequest) {}, nil},
		{"stats", "no kind", func(r *pb.ComputeRequest) { r.Kind = nil }, msg.ErrRequest},
		{"stats", "negative partition", func(r *pb.ComputeRequest) { r.Partition = -1 }, msg.ErrRequest},
		{"moment4", "negative partition", func(r *pb.ComputeRequest) { r.Partition = math.MinInt32 }, msg.ErrRequest},

		{"stats", "prev without has_prev", func(r *pb.ComputeRequest) { r.GetStats().HasPrev = false }, msg.ErrRequest},
		{"stats", "has_prev without prev", func(r *pb.ComputeRequest) { r.GetStats().Prev = nil }, msg.ErrRequest},
		{"stats", "has_prev at iteration 0", func(r *pb.ComputeRequest) { r.GetStats().Iter = 0 }, msg.ErrRequest},
		{"stats", "prev without has_prev at iteration 0", func(r *pb.ComputeRequest) { r.GetStats().Iter, r.GetStats().HasPrev = 0, false }, msg.ErrRequest},
		{"stats", "has_prev without prev at iteration 0", func(r *pb.ComputeRequest) { r.GetStats().Iter, r.GetStats().Prev = 0, nil }, msg.ErrRequest},
		{"stats", "ok at iteration 0", func(r *pb.ComputeRequest) { s := r.GetStats(); s.Iter, s.HasPrev, s.Prev = 0, false, nil }, nil},
		{"stats", "no prev after iteration 0", func(r *pb.ComputeRequest) { r.GetStats().HasPrev, r.GetStats().Prev = false, nil }, msg.ErrRequest},
		{"stats", "short prev", func(r *pb.ComputeRequest) { r.GetStats().Prev = []float64{1} }, msg.ErrRequest},
		{"stats", "short u", func(r *pb.ComputeRequest) { r.GetStats().U = r.GetStats().U[:5] }, msg.ErrRequest},
		{"stats", "no signs", func(r *pb.ComputeRequest) { r.GetStats().Signs = nil }, msg.ErrRequest},
		{"stats", "sign 2", func(r *pb.ComputeRequest) { r.GetStats().Signs[1] = 2 }, msg.ErrRequest},
		{"stats", "NaN weight", func(r *pb.ComputeRequest) { r.GetStats().U[2] = math.NaN() }, msg.ErrRequest},
		{"stats", "Inf prev", func(r *pb.ComputeRequest) { r.GetStats().Prev[0] = math.Inf(1) }, msg.ErrRequest},
		{"stats", "negative iteration", func(r *pb.ComputeRequest) { r.GetStats().Iter = -1 }, msg.ErrRequest},
		{"stats", "negative d", func(r *pb.ComputeRequest) { r.GetStats().D = -3 }, msg.ErrRequest},
		{"stats", "m over MaxM", func(r *pb.ComputeRequest) {
			s := r.GetStats()
			s.D, s.Signs, s.U, s.Prev = msg.MaxM+1, []float64{1}, make([]float64, msg.MaxM+1), make([]float64, msg.MaxM+1)
		}, msg.ErrTooLarge},
		{"stats", "huge d, no weights", func(r *pb.ComputeRequest) { r.GetStats().D = math.MaxInt32 }, msg.ErrTooLarge},
		{"stats", "huge k", func(r *pb.ComputeRequest) { r.GetStats().Signs = make([]float64, 5000) }, msg.ErrTooLarge},

		{"deep", "no net", func(r *pb.ComputeRequest) { deepNet(r).Net = nil }, msg.ErrRequest},
		{"deep", "one width", func(r *pb.ComputeRequest) { deepNet(r).Net.Dims = []int32{3} }, msg.ErrRequest},
		{"deep", "too many layers", func(r *pb.ComputeRequest) {
			deepNet(r).Net.Dims = slices.Repeat([]int32{1}, msg.MaxLayers+2)
		}, msg.ErrTooLarge},
		{"deep", "width over MaxM", func(r *pb.ComputeRequest) { deepNet(r).Net.Dims = []int32{1, msg.MaxM + 1} }, msg.ErrTooLarge},
		{"deep", "too many weights", func(r *pb.ComputeRequest) { deepNet(r).Net.Dims = []int32{3, 3000, 2} }, msg.ErrTooLarge},
		{"deep", "negative width", func(r *pb.ComputeRequest) { deepNet(r).Net.Dims = []int32{3, -2, 2} }, msg.ErrRequest},
		{"deep", "short weights", func(r *pb.ComputeRequest) { deepNet(r).Net.W = deepNet(r).Net.W[:9] }, msg.ErrRequest},
		{"deep", "long weights", func(r *pb.ComputeRequest) { deepNet(r).Net.W = append(deepNet(r).Net.W, 1) }, msg.ErrRequest},
		{"deep", "NaN weight", func(r *pb.ComputeRequest) { deepNet(r).Net.W[7] = math.NaN() }, msg.ErrRequest},
		{"deep", "sign 2", func(r *pb.ComputeRequest) { deepNet(r).Net.Signs = []float64{1, 2} }, msg.ErrRequest},
		{"deep", "one sign", func(r *pb.ComputeRequest) { deepNet(r).Net.Signs = []float64{1} }, msg.ErrRequest},
		{"deep", "previous with short weights", func(r *pb.ComputeRequest) { deepNet(r).Prev.W = deepNet(r).Prev.W[:3] }, msg.ErrRequest},
		{"deep", "previous of another shape", func(r *pb.ComputeRequest) {
			deepNet(r).Prev = &pb.DeepNet{Dims: []int32{3, 1, 2}, W: make([]float64, 5), Signs: []float64{1, -1}}
		}, msg.ErrRequest},
		{"deep", "layers out of order", func(r *pb.ComputeRequest) { deepNet(r).Layers = []int32{2, 1} }, msg.ErrRequest},
		{"deep", "layer twice", func(r *pb.ComputeRequest) { deepNet(r).Layers = []int32{1, 1} }, msg.ErrRequest},
		{"deep", "layer 3", func(r *pb.ComputeRequest) { deepNet(r).Layers = []int32{1, 3} }, msg.ErrRequest},
		{"deep", "layer 0", func(r *pb.ComputeRequest) { deepNet(r).Layers = []int32{0} }, msg.ErrRequest},
		{"deep", "more layers than allowed", func(r *pb.ComputeRequest) {
			deepNet(r).Layers = make([]int32, msg.MaxLayers+1)
		}, msg.ErrRequest},
		{"deep", "negative step", func(r *pb.ComputeRequest) { deepNet(r).Step = -1 }, msg.ErrRequest},

		{"moments12", "no features", func(r *pb.ComputeRequest) { r.GetMoments12().D = 0 }, msg.ErrRequest},
		{"moments12", "d over MaxMomentD", func(r *pb.ComputeRequest) {
			r.GetMoments12().D, r.GetMoments12().Baseline = msg.MaxMomentD+1, nil
		}, msg.ErrTooLarge},
		{"moments12", "order 3", func(r *pb.ComputeRequest) { r.GetMoments12().Order = 3 }, msg.ErrRequest},
		{"moments12", "order 0", func(r *pb.ComputeRequest) { r.GetMoments12().Order = 0 }, msg.ErrRequest},
		{"moments12", "short linear baseline", func(r *pb.ComputeRequest) { r.GetMoments12().Baseline.B = []float64{1} }, msg.ErrRequest},
		{"moments12", "short quadratic baseline", func(r *pb.ComputeRequest) { r.GetMoments12().Baseline.L = []float64{1} }, msg.ErrRequest},
		{"moments12", "NaN baseline", func(r *pb.ComputeRequest) { r.GetMoments12().Baseline.C = math.NaN() }, msg.ErrRequest},
		{"moments12", "baseline rank too large", func(r *pb.ComputeRequest) {
			b := r.GetMoments12().Baseline
			b.S = make([]float64, msg.MaxProjection/4+1)
			b.L = make([]float64, 4*len(b.S))
		}, msg.ErrTooLarge},

		{"moment4", "k 0", func(r *pb.ComputeRequest) { r.GetMoment4().K, r.GetMoment4().V = 0, nil }, msg.ErrRequest},
		{"moment4", "k above d", func(r *pb.ComputeRequest) { r.GetMoment4().K, r.GetMoment4().V = 5, make([]float64, 20) }, msg.ErrRequest},
		{"moment4", "short projection", func(r *pb.ComputeRequest) { r.GetMoment4().V = r.GetMoment4().V[:7] }, msg.ErrRequest},
		{"moment4", "NaN projection", func(r *pb.ComputeRequest) { r.GetMoment4().V[3] = math.NaN() }, msg.ErrRequest},
		{"moment4", "projection too large", func(r *pb.ComputeRequest) {
			m := r.GetMoment4()
			m.D, m.K, m.V = 200, 100, make([]float64, 20000)
		}, msg.ErrTooLarge},
		{"moment4", "bad baseline", func(r *pb.ComputeRequest) { r.GetMoment4().Baseline = &pb.Baseline{B: []float64{1}} }, msg.ErrRequest},

		// The fields of training on real data. validWire's stats and deep
		// requests have rows of 3 features, the moments requests of 4.
		{"stats", "transform of every feature", func(r *pb.ComputeRequest) { r.GetStats().Transform = wireAffine(3) }, nil},
		{"stats", "transform of the label only", func(r *pb.ComputeRequest) { r.GetStats().Transform = &pb.Affine{YScale: 1} }, nil},
		{"stats", "transform wider than the rows", func(r *pb.ComputeRequest) { r.GetStats().Transform = wireAffine(4) }, msg.ErrRequest},
		{"stats", "transform far wider than the rows", func(r *pb.ComputeRequest) {
			r.GetStats().Transform = &pb.Affine{XShift: make([]float64, 1<<16), XScale: make([]float64, 1<<16), YScale: 1}
		}, msg.ErrRequest},
		{"stats", "transform with fewer scales", func(r *pb.ComputeRequest) {
			a := wireAffine(3)
			a.XScale = a.XScale[:2]
			r.GetStats().Transform = a
		}, msg.ErrRequest},
		{"stats", "transform with shifts only", func(r *pb.ComputeRequest) {
			a := wireAffine(2)
			a.XScale = nil
			r.GetStats().Transform = a
		}, msg.ErrRequest},
		{"stats", "empty transform", func(r *pb.ComputeRequest) { r.GetStats().Transform = &pb.Affine{} }, msg.ErrRequest},
		{"stats", "NaN in the transform", func(r *pb.ComputeRequest) { a := wireAffine(3); a.XShift[2] = math.NaN(); r.GetStats().Transform = a }, msg.ErrRequest},
		{"stats", "Inf scale", func(r *pb.ComputeRequest) { a := wireAffine(3); a.XScale[0] = math.Inf(1); r.GetStats().Transform = a }, msg.ErrRequest},
		{"stats", "zero scale", func(r *pb.ComputeRequest) { a := wireAffine(3); a.XScale[1] = 0; r.GetStats().Transform = a }, msg.ErrRequest},
		{"stats", "negative label scale", func(r *pb.ComputeRequest) { a := wireAffine(1); a.YScale = -2; r.GetStats().Transform = a }, msg.ErrRequest},
		{"stats", "NaN label shift", func(r *pb.ComputeRequest) { a := wireAffine(1); a.YShift = math.NaN(); r.GetStats().Transform = a }, msg.ErrRequest},
		{"stats", "split by fraction", func(r *pb.ComputeRequest) { r.GetStats().Split = &pb.Split{Fraction: 0.1, Seed: math.MaxUint64} }, nil},
		{"stats", "split from a row", func(r *pb.ComputeRequest) { r.GetStats().Split = &pb.Split{From: math.MaxInt64} }, nil},
		{"stats", "empty split", func(r *pb.ComputeRequest) { r.GetStats().Split = &pb.Split{} }, msg.ErrRequest},
		{"stats", "split fraction 1", func(r *pb.ComputeRequest) { r.GetStats().Split = &pb.Split{Fraction: 1} }, msg.ErrRequest},
		{"stats", "negative split fraction", func(r *pb.ComputeRequest) { r.GetStats().Split = &pb.Split{Fraction: -0.5} }, msg.ErrRequest},
		{"stats", "NaN split fraction", func(r *pb.ComputeRequest) { r.GetStats().Split = &pb.Split{Fraction: math.NaN()} }, msg.ErrRequest},
		{"stats", "split from a negative row", func(r *pb.ComputeRequest) { r.GetStats().Split = &pb.Split{From: -1, Fraction: 0.5} }, msg.ErrRequest},
		{"stats", "split from the most negative row", func(r *pb.ComputeRequest) { r.GetStats().Split = &pb.Split{From: math.MinInt64} }, msg.ErrRequest},
		{"stats", "linear unit of sign -1", func(r *pb.ComputeRequest) { r.GetStats().Linear = true }, msg.ErrRequest},
		{"stats", "linear unit", func(r *pb.ComputeRequest) { s := r.GetStats(); s.Linear, s.Signs = true, []float64{-1, 1} }, nil},

		{"deep", "transform of the input", func(r *pb.ComputeRequest) { deepNet(r).Transform = wireAffine(3) }, nil},
		{"deep", "transform wider than the input", func(r *pb.ComputeRequest) { deepNet(r).Transform = wireAffine(4) }, msg.ErrRequest},
		{"deep", "transform of the first layer's width", func(r *pb.ComputeRequest) {
			deepNet(r).Net.Dims, deepNet(r).Prev.Dims = []int32{2, 3, 2}, []int32{2, 3, 2}
			deepNet(r).Net.W, deepNet(r).Prev.W = make([]float64, 12), make([]float64, 12)
			deepNet(r).Transform = wireAffine(3)
		}, msg.ErrRequest},
		{"deep", "NaN transform", func(r *pb.ComputeRequest) { a := wireAffine(2); a.XScale[1] = math.NaN(); deepNet(r).Transform = a }, msg.ErrRequest},
		{"deep", "split", func(r *pb.ComputeRequest) { deepNet(r).Split = &pb.Split{Fraction: 0.9} }, nil},
		{"deep", "bad split", func(r *pb.ComputeRequest) { deepNet(r).Split = &pb.Split{Fraction: 2} }, msg.ErrRequest},

		{"moments12", "transform", func(r *pb.ComputeRequest) { r.GetMoments12().Transform = wireAffine(4) }, nil},
		{"moments12", "transform wider than the rows", func(r *pb.ComputeRequest) { r.GetMoments12().Transform = wireAffine(5) }, msg.ErrRequest},
		{"moments12", "Inf transform", func(r *pb.ComputeRequest) {
			a := wireAffine(2)
			a.YShift = math.Inf(-1)
			r.GetMoments12().Transform = a
		}, msg.ErrRequest},
		{"moments12", "bad split", func(r *pb.ComputeRequest) { r.GetMoments12().Split = &pb.Split{} }, msg.ErrRequest},
		{"moment4", "transform", func(r *pb.ComputeRequest) { r.GetMoment4().Transform = wireAffine(1) }, nil},
		{"moment4", "transform wider than the rows", func(r *pb.ComputeRequest) { r.GetMoment4().Transform = wireAffine(5) }, msg.ErrRequest},
		{"moment4", "bad split", func(r *pb.ComputeRequest) { r.GetMoment4().Split = &pb.Split{From: -7} }, msg.ErrRequest},

		{"summary", "ok", func(*pb.ComputeRequest) {}, nil},
		{"summary", "no split", func(r *pb.ComputeRequest) { r.GetSummary().Split = nil }, nil},
		{"summary", "no samples", func(r *pb.ComputeRequest) { r.GetSummary().Samples = 0 }, nil},
		{"summary", "MaxSamples", func(r *pb.ComputeRequest) { r.GetSummary().Samples = msg.MaxSamples }, nil},
		{"summary", "no features", func(r *pb.ComputeRequest) { r.GetSummary().D = 0 }, msg.ErrRequest},
		{"summary", "negative features", func(r *pb.ComputeRequest) { r.GetSummary().D = math.MinInt32 }, msg.ErrRequest},
		{"summary", "d over MaxMomentD", func(r *pb.ComputeRequest) { r.GetSummary().D = msg.MaxMomentD + 1 }, msg.ErrTooLarge},
		{"summary", "negative samples", func(r *pb.ComputeRequest) { r.GetSummary().Samples = -1 }, msg.ErrRequest},
		{"summary", "samples over MaxSamples", func(r *pb.ComputeRequest) { r.GetSummary().Samples = msg.MaxSamples + 1 }, msg.ErrTooLarge},
		{"summary", "huge samples", func(r *pb.ComputeRequest) { r.GetSummary().Samples = math.MaxInt32 }, msg.ErrTooLarge},
		{"summary", "bad split", func(r *pb.ComputeRequest) { r.GetSummary().Split.Fraction = 0 }, msg.ErrRequest},
		{"summary", "negative partition", func(r *pb.ComputeRequest) { r.Partition = -2 }, msg.ErrRequest},
	}
	for _, tc := range cases {
		t.Run(tc.kind+"/"+tc.name, func(t *testing.T) {
			r := validWire()[tc.kind]
			tc.edit(r)
			req, part, err := requestFromProto(r)
			if tc.want == nil {
				if err != nil || part != msg.Leaf(1) || req.Kind().String() != tc.kind {
					t.Fatalf("got %v (%v), %v", req, part, err)
				}
				return
			}
			if !errors.Is(err, tc.want) || req != nil {
				t.Fatalf("got %v, %v; want %v", req, err, tc.want)
			}
			if tc.want == msg.ErrRequest && errors.Is(err, msg.ErrTooLarge) {
				t.Fatalf("%v is also ErrTooLarge", err)
			}
		})
	}
	if req, _, err := requestFromProto(nil); !errors.Is(err, msg.ErrRequest) || req != nil {
		t.Fatalf("nil request: %v, %v", req, err)
	}
}

// TestEncodePartial checks the header and the payload of every kind of
// partial against the wire format's description (altmin.proto): the
// scalars in the header, the vectors, in their fixed order, in the
// payload (the partial's own slices, not copies).
func TestEncodePartial(t *testing.T) {
	const seed = 7
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for _, nr := range sampleRequests(rng) {
		p := randPartial(rng, nr.req, 3)
		h, vs, err := encodePartial(p, "s9")
		if err != nil {
			t.Fatalf("%s: %v", nr.name, err)
		}
		if h.GetProtocolVersion() != ProtocolVersion || h.GetShardId() != "s9" || h.GetPayload() != int64(payloadLen(p)) {
			t.Fatalf("%s: header %v, want payload %d", nr.name, h, payloadLen(p))
		}
		want := anatomize(p).payload
		if len(vs) != len(want) {
			t.Fatalf("%s: %d vectors, want %d", nr.name, len(vs), len(want))
		}
		for i := range vs {
			if len(vs[i]) != len(want[i]) || len(vs[i]) > 0 && &vs[i][0] != &want[i][0] {
				t.Fatalf("%s: vector %d is not the partial's vector %d", nr.name, i, i)
			}
		}
		ok := true
		switch q := p.(type) {
		case *msg.Stats:
			s := h.GetStats()
			ok = h.GetRows() == int64(q.Rows) && s.GetM() == int32(q.M) && s.GetFlips() == q.Flips &&
				bitsEqual([]float64{s.GetYy(), s.GetSse(), s.GetSumY()}, []float64{q.YY, q.SSE, q.SumY}) && sameEval(s.GetVal(), q.Val)
		case *msg.DeepStats:
			d := h.GetDeep()
			ok = h.GetRows() == int64(q.Rows) && d.GetFlips() == q.Flips && len(d.GetSystems()) == len(q.Systems) &&
				bitsEqual([]float64{d.GetYy(), d.GetSse(), d.GetSumY()}, []float64{q.YY, q.SSE, q.SumY}) && sameEval(d.GetVal(), q.Val)
			for i, sy := range q.Systems {
				ok = ok && d.GetSystems()[i].GetM() == int32(sy.M) && slices.Equal(d.GetSystems()[i].GetLayers(), int32s(sy.Layers))
			}
		case *msg.Moments12:
			m := h.GetMoments12()
			ok = h.GetRows() == int64(q.Rows) && m.GetOrder() == int32(q.Order) && m.GetD() == int32(q.D) && bitsEqual([]float64{m.GetSumY()}, []float64{q.SumY})
		case *msg.Moment4:
			ok = h.GetRows() == int64(q.Rows) && h.GetMoment4().GetK() == int32(q.K)
		case *msg.Summary:
			sh := h.GetSummary()
			ok = sh != nil && h.GetRows() == int64(q.Rows) && sh.GetD() == int32(nr.req.Features()) && sh.GetSamples() == int32(len(q.Index))
		default:
			t.Fatalf("%s: %T", nr.name, p)
		}
		if !ok {
			t.Fatalf("%s: header %v does not describe %+v", nr.name, h, p)
		}
	}
}

// sameEval reports whether the wire form p holds the validation sums e,
// bit for bit.
func sameEval(p *pb.Eval, e msg.Eval) bool {
	return p != nil && p.GetRows() == int64(e.Rows) && bitsEqual([]float64{p.GetSse(), p.GetYy(), p.GetSumY()}, []float64{e.SSE, e.YY, e.SumY})
}

// TestPartialRoundTripRealData sends partials carrying the fields of
// training on real data (the sum of the labels and the validation sums of
// the statistics, and summaries) through encodePartial, the chunks, the
// protobuf encoding and the assembler, and compares every field, written
// out here rather than through anatomize, bit for bit.
func TestPartialRoundTripRealData(t *testing.T) {
	negZero := math.Copysign(0, -1)
	stats := &msg.StatsRequest{Iter: 3, D: 2, Signs: []float64{-1, 1}, U: []float64{1, 2, 3, 4}, Prev: []float64{4, 3, 2, 1}, Linear: true,
		Transform: &msg.Affine{XShift: []float64{1}, XScale: []float64{2}, YScale: 1}, Split: &msg.Split{Fraction: 0.25, Seed: 9}}
	deep := &msg.DeepRequest{Step: 5, Net: randNet(newRand(1), 2, 2, 1), Layers: []int{1, 2}, Joint: true, Split: &msg.Split{From: 100}}
	summary := &msg.SummaryRequest{D: 2, Samples: 3, Seed: 4, Split: &msg.Split{Fraction: 0.5}}
	cases := []struct {
		name string
		req  msg.Request
		p    msg.Partial
	}{
		{"stats", stats, &msg.Stats{Iter: 3, Partition: 6, Rows: 40, M: 4, Gram: append(slices.Clone(awkward), -2.5), R: []float64{1, negZero, 3, 5e-324},
			YY: math.MaxFloat64, SSE: 0x1p-1022, Flips: 17, SumY: negZero,
			Val: msg.Eval{Rows: 12, SSE: 5e-324, YY: math.MaxFloat64, SumY: -math.MaxFloat64}}},
		{"stats, no validation rows", stats, &msg.Stats{Iter: 3, Partition: 6, Rows: 1, M: 4, Gram: make([]float64, 10), R: make([]float64, 4),
			Flips: 0, SumY: -1.0 / 3}},
		{"deep", deep, &msg.DeepStats{Step: 5, Partition: 1, Rows: 8, YY: 2, SSE: 1, Flips: -1, SumY: -5e-324,
			Val:     msg.Eval{Rows: 3, SSE: negZero, YY: 1.0 / 3, SumY: math.Nextafter(1, 2)},
			Systems: []msg.System{{Layers: []int{1, 2}, M: 6, R: slices.Clone(awkward[:6]), Gram: randVec(newRand(2), 21)}}}},
		{"summary", summary, &msg.Summary{Partition: 2, Rows: 3,
			Mean: []float64{negZero, -math.MaxFloat64, 1.0 / 3}, M2: []float64{0, 5e-324, math.MaxFloat64},
			Index: []float64{1<<53 - 1, 0, 12345}, Sample: slices.Clone(awkward)}},
		{"summary without samples", summary, &msg.Summary{Partition: 2, Rows: 0, Mean: make([]float64, 3), M2: make([]float64, 3)}},
	}
	for _, c := range cases {
		if err := c.req.Validate(); err != nil {
			t.Fatalf("%s: the request: %v", c.name, err)
		}
		if err := c.p.Check(c.req); err != nil {
			t.Fatalf("%s: the partial: %v", c.name, err)
		}
		for _, per := range []int{1, 2, 7, ChunkDoubles} {
			what := fmt.Sprintf("%s, per %d", c.name, per)
			got, err := assemble(t, c.req, c.p.Span().Lo, "s", msg.NewPool(), chunksOf(t, c.p, "s", per))
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			switch w := c.p.(type) {
			case *msg.Stats:
				g := got.(*msg.Stats)
				switch {
				case g.Iter != w.Iter || g.Partition != w.Partition || g.Rows != w.Rows || g.M != w.M || g.Flips != w.Flips:
					t.Fatalf("%s: %+v, want %+v", what, g, w)
				case !bitsEqual([]float64{g.YY, g.SSE, g.SumY}, []float64{w.YY, w.SSE, w.SumY}):
					t.Fatalf("%s: sums %v %v %v, want %v %v %v", what, g.YY, g.SSE, g.SumY, w.YY, w.SSE, w.SumY)
				case !sameEvals(g.Val, w.Val):
					t.Fatalf("%s: validation sums %+v, want %+v", what, g.Val, w.Val)
				case !bitsEqual(g.R, w.R) || !bitsEqual(g.Gram, w.Gram):
					t.Fatalf("%s: R or Gram differs", what)
				}
			case *msg.DeepStats:
				g := got.(*msg.DeepStats)
				switch {
				case g.Step != w.Step || g.Partition != w.Partition || g.Rows != w.Rows || g.Flips != w.Flips || len(g.Systems) != len(w.Systems):
					t.Fatalf("%s: %+v, want %+v", what, g, w)
				case !bitsEqual([]float64{g.YY, g.SSE, g.SumY}, []float64{w.YY, w.SSE, w.SumY}):
					t.Fatalf("%s: sums %v %v %v, want %v %v %v", what, g.YY, g.SSE, g.SumY, w.YY, w.SSE, w.SumY)
				case !sameEvals(g.Val, w.Val):
					t.Fatalf("%s: validation sums %+v, want %+v", what, g.Val, w.Val)
				}
				for i, sy := range g.Systems {
					ws := w.Systems[i]
					if !slices.Equal(sy.Layers, ws.Layers) || sy.M != ws.M || !bitsEqual(sy.R, ws.R) || !bitsEqual(sy.Gram, ws.Gram) {
						t.Fatalf("%s: system %d differs", what, i)
					}
				}
			case *msg.Summary:
				g := got.(*msg.Summary)
				switch {
				case g.Partition != w.Partition || g.Rows != w.Rows:
					t.Fatalf("%s: partition %d, rows %d; want %d, %d", what, g.Partition, g.Rows, w.Partition, w.Rows)
				case !bitsEqual(g.Mean, w.Mean) || !bitsEqual(g.M2, w.M2):
					t.Fatalf("%s: means %v, deviations %v; want %v, %v", what, g.Mean, g.M2, w.Mean, w.M2)
				case !bitsEqual(g.Index, w.Index) || !bitsEqual(g.Sample, w.Sample):
					t.Fatalf("%s: samples %v: %v; want %v: %v", what, g.Index, g.Sample, w.Index, w.Sample)
				}
			}
		}
	}
}

// sameEvals reports whether a and b are the same validation sums, bit for
// bit.
func sameEvals(a, b msg.Eval) bool {
	return a.Rows == b.Rows && bitsEqual([]float64{a.SSE, a.YY, a.SumY}, []float64{b.SSE, b.YY, b.SumY})
}

// TestNewPartialFromPool checks that the partial a header announces is
// allocated from the request's sizes with its Gram buffers from the pool,
// and that a header announcing the wrong payload gives them back.
func TestNewPartialFromPool(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 0))
	req := &msg.DeepRequest{Step: 1, Net: randNet(rng, 3, 2, 2), Layers: []int{1, 2}}
	h, _, err := encodePartial(randPartial(rng, req, 0), "s")
	if err != nil {
		t.Fatal(err)
	}
	pool := msg.NewPool()
	g6, g4 := make([]float64, linalg.PackedLen(6)), make([]float64, linalg.PackedLen(4))
	pool.Put(g6)
	pool.Put(g4)
	p, vs, err := newPartial(req, msg.Leaf(0), h, pool)
	if err != nil {
		t.Fatal(err)
	}
	d := p.(*msg.DeepStats)
	if &d.Systems[0].Gram[0] != &g6[0] || &d.Systems[1].Gram[0] != &g4[0] || len(vs) != 4 || &vs[3][0] != &g4[0] {
		t.Fatal("the Gram buffers do not come from the pool")
	}
	if n, _ := pool.Idle(); n != 0 {
		t.Fatalf("%d buffers left in the pool", n)
	}
	p.Release(pool)

	h.Payload++
	if p, vs, err := newPartial(req, msg.Leaf(0), h, pool); !errors.Is(err, ErrBadReply) || p != nil || vs != nil {
		t.Fatalf("wrong payload: %v, %v, %v", p, vs, err)
	}
	if n, bytes := pool.Idle(); n != 2 || bytes != 8*int64(len(g6)+len(g4)) {
		t.Fatalf("after a refused header the pool holds %d buffers of %d bytes, want both back", n, bytes)
	}
}

// The raw little-endian doubles of the payload: the zero-copy view and the
// portable encoding give binary.LittleEndian's bytes of every value, and
// decodeFinite gives back the bits and finds every NaN and Inf.
func TestFloat64BytesLittleEndian(t *testing.T) {
	v := append(slices.Clone(awkward), 1, -2.5, math.Pi, math.Nextafter(0x1p-1022, 0))
	want := make([]byte, 0, 8*len(v))
	for _, x := range v {
		want = binary.LittleEndian.AppendUint64(want, math.Float64bits(x))
	}
	got := float64Bytes(v)
	if !bytes.Equal(got, want) {
		t.Fatalf("float64Bytes = %x, want %x", got, want)
	}
	// 1.0/3 is 0x3fd5555555555555: the low byte first.
	i := slices.Index(v, 1.0/3)
	if b := got[8*i : 8*i+8]; !bytes.Equal(b, []byte{0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0xd5, 0x3f}) {
		t.Fatalf("1/3 encoded as % x", b)
	}
	if nativeLittleEndian && unsafe.SliceData(got) != (*byte)(unsafe.Pointer(&v[0])) {
		t.Error("float64Bytes copies on a little-endian machine")
	}
	if got := float64Bytes(v[:0]); len(got) != 0 {
		t.Errorf("float64Bytes of no values = %x", got)
	}

	dst := make([]float64, len(v))
	if i := decodeFinite(dst, want); i >= 0 {
		t.Fatalf("value %d (%v) reported non-finite", i, dst[i])
	}
	if !bitsEqual(dst, v) {
		t.Fatalf("decoded %v, want %v", dst, v)
	}
	for _, bad := range []uint64{0x7ff8000000000000, 0x7ff0000000000001, 0xfff8000000000000, 0xffffffffffffffff, 0x7ff0000000000000, 0xfff0000000000000} {
		for _, at := range []int{0, 5, len(v) - 1} {
			src := slices.Clone(want)
			binary.LittleEndian.PutUint64(src[8*at:], bad)
			if i := decodeFinite(dst, src); i != at || math.Float64bits(dst[at]) != bad {
				t.Errorf("%#x at %d: index %d, decoded %#x", bad, at, i, math.Float64bits(dst[at]))
			}
		}
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("decodeFinite of mismatched lengths did not panic")
			}
		}()
		decodeFinite(dst[:2], want[:8])
	}()
}

func TestInfoRoundTrip(t *testing.T) {
	info := ShardInfo{ID: "a", Schema: Schema{N: 11, D: 3, P: 4, Bias: true, DType: "float32", Fingerprint: "fp", Arith: "amd64/v3",
		Protocol: ProtocolVersion, Rows: map[int]int{3: 3, 0: 2, 1: 3}}}
	p := onWire(t, infoToProto(info), &pb.InfoReply{})
	if p.GetMinProtocolVersion() != ProtocolVersion || p.GetMaxProtocolVersion() != ProtocolVersion {
		t.Fatalf("versions %d..%d", p.GetMinProtocolVersion(), p.GetMaxProtocolVersion())
	}
	if got := p.GetPartitions(); len(got) != 3 || got[0].GetPartition() != 0 || got[1].GetPartition() != 1 || got[2].GetPartition() != 3 {
		t.Fatalf("partitions not ascending: %v", got)
	}
	back, err := infoFromProto(p)
	if err != nil {
		t.Fatal(err)
	}
	if back.ID != info.ID || !back.Schema.Equal(info.Schema) || back.Schema.Arith != "amd64/v3" || back.Schema.Protocol != ProtocolVersion {
		t.Fatalf("got %+v, want %+v", back, info)
	}
	// A shard of an older build leaves Protocol unset; its reply still
	// names its version, which the receiver records.
	info.Schema.Protocol = 0
	if back, err := infoFromProto(infoToProto(info)); err != nil || back.Schema.Protocol != ProtocolVersion {
		t.Fatalf("got %+v, %v", back, err)
	}
}

// TestInfoFromProto checks the checks of an Info reply: this package's
// version within the shard's range (a refusal names both), a schema, and a
// valid one.
func TestInfoFromProto(t *testing.T) {
	good := func() *pb.InfoReply {
		return &pb.InfoReply{
			ShardId: "s", MinProtocolVersion: ProtocolVersion, MaxProtocolVersion: ProtocolVersion,
			Schema:     &pb.Schema{N: 10, D: 3, Partitions: 2, Dtype: "float64", Fingerprint: "f"},
			Partitions: []*pb.HeldPartition{{Partition: 1, Rows: 5}},
		}
	}
	cases := []struct {
		name string
		edit func(r *pb.InfoReply)
		want []error
		says []string
	}{
		{"ok", func(*pb.InfoReply) {}, nil, nil},
		{"versions 1..this", func(r *pb.InfoReply) { r.MinProtocolVersion = 1 }, nil, nil},
		{"versions this..next", func(r *pb.InfoReply) { r.MaxProtocolVersion = ProtocolVersion + 1 }, nil, nil},
		{"no partitions", func(r *pb.InfoReply) { r.Partitions = nil }, nil, nil},
		{"versions 1..2", func(r *pb.InfoReply) { r.MinProtocolVersion, r.MaxProtocolVersion = 1, 2 }, []error{ErrVersion},
			[]string{fmt.Sprintf(`shard "s" speaks protocol versions 1..2, this node %d`, ProtocolVersion)}},
		{"newer versions", func(r *pb.InfoReply) {
			r.MinProtocolVersion, r.MaxProtocolVersion = ProtocolVersion+1, ProtocolVersion+2
		}, []error{ErrVersion},
			[]string{fmt.Sprintf("versions %d..%d, this node %d", ProtocolVersion+1, ProtocolVersion+2, ProtocolVersion)}},
		{"no versions", func(r *pb.InfoReply) { r.MinProtocolVersion, r.MaxProtocolVersion = 0, 0 }, []error{ErrVersion},
			[]string{fmt.Sprintf("versions 0..0, this node %d", ProtocolVersion)}},
		{"empty range", func(r *pb.InfoReply) { r.MinProtocolVersion = ProtocolVersion + 1 }, []error{ErrBadReply},
			[]string{fmt.Sprintf("%d..%d is empty", ProtocolVersion+1, ProtocolVersion)}},
		{"no schema", func(r *pb.InfoReply) { r.Schema = nil }, []error{ErrBadReply}, nil},
		{"no id", func(r *pb.InfoReply) { r.ShardId = "" }, []error{ErrBadReply, ErrSchema}, nil},
		{"id too long", func(r *pb.InfoReply) { r.ShardId = strings.Repeat("x", MaxShardIDLen+1) }, []error{ErrBadReply, ErrSchema}, nil},
		{"partition twice", func(r *pb.InfoReply) { r.Partitions = append(r.Partitions, r.Partitions[0]) }, []error{ErrBadReply}, nil},
		{"partition out of range", func(r *pb.InfoReply) { r.Partitions[0].Partition = 2 }, []error{ErrBadReply, ErrSchema}, nil},
		{"negative partition", func(r *pb.InfoReply) { r.Partitions[0].Partition = -1 }, []error{ErrBadReply, ErrSchema}, nil},
		{"wrong rows", func(r *pb.InfoReply) { r.Partitions[0].Rows = 6 }, []error{ErrBadReply, ErrSchema}, nil},
		{"no rows", func(r *pb.InfoReply) { r.Schema.N = 0 }, []error{ErrBadReply, ErrSchema}, nil},
		{"no features", func(r *pb.InfoReply) { r.Schema.D = 0 }, []error{ErrBadReply, ErrSchema}, nil},
	}
	for _, tc := range cases {
		r := good()
		tc.edit(r)
		info, err := infoFromProto(r)
		if tc.want == nil {
			if err != nil || info.ID != r.GetShardId() || info.Schema.Protocol != ProtocolVersion || info.Schema.Fingerprint != "f" || info.Schema.Rows[1] != len(r.Partitions)*5 {
				t.Errorf("%s: %+v, %v", tc.name, info, err)
			}
			continue
		}
		for _, w := range tc.want {
			if !errors.Is(err, w) {
				t.Errorf("%s: %v, want %v", tc.name, err, w)
			}
		}
		for _, s := range tc.says {
			if err != nil && !strings.Contains(err.Error(), s) {
				t.Errorf("%s: %q does not say %q", tc.name, err, s)
			}
		}
	}
}
