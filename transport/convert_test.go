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

	"google.golang.org/protobuf/proto"

	"altmin/linalg"
	pb "altmin/proto/altminpb"
	"altmin/shard"
)

// wire marshals and unmarshals m, as the network would.
func wire[T proto.Message](t *testing.T, m T, fresh T) T {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := proto.Unmarshal(b, fresh); err != nil {
		t.Fatal(err)
	}
	return fresh
}

// awkward are values whose bits must survive the round trip.
var awkward = []float64{0, math.Copysign(0, -1), 5e-324, -math.MaxFloat64, 1.0 / 3, math.Nextafter(1, 2)}

func TestRequestRoundTrip(t *testing.T) {
	const seed = 5
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for trial := 0; trial < 50; trial++ {
		d, k := 1+rng.IntN(7), 1+rng.IntN(5)
		req := &shard.Request{Iter: rng.IntN(100), D: d, Signs: make([]float64, k), U: make([]float64, d*k)}
		for q := range req.Signs {
			req.Signs[q] = float64(1 - 2*rng.IntN(2))
		}
		for i := range req.U {
			req.U[i] = rng.NormFloat64()
			if rng.IntN(4) == 0 {
				req.U[i] = awkward[rng.IntN(len(awkward))]
			}
		}
		if trial%2 == 1 {
			req.Prev = slices.Clone(req.U)
			req.Prev[0] = -req.Prev[0]
		}
		part := rng.IntN(1000)
		p := wire(t, requestToProto(req, part, "shard-a", ProtocolVersion), &pb.StepRequest{})
		if p.GetProtocolVersion() != ProtocolVersion || p.GetShardId() != "shard-a" {
			t.Fatalf("version %d, shard %q", p.GetProtocolVersion(), p.GetShardId())
		}
		got, gotPart, err := requestFromProto(p)
		if err != nil {
			t.Fatal(err)
		}
		if gotPart != part || got.Iter != req.Iter || got.D != req.D || (got.Prev == nil) != (req.Prev == nil) ||
			!bitsEqual(got.Signs, req.Signs) || !bitsEqual(got.U, req.U) || !bitsEqual(got.Prev, req.Prev) {
			t.Fatalf("trial %d: got %+v (partition %d), want %+v (partition %d)", trial, got, gotPart, req, part)
		}
	}
}

func bitsEqual(a, b []float64) bool {
	return slices.EqualFunc(a, b, func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) })
}

// TestStatsRoundTrip splits seeded random statistics into chunks of many
// sizes, sends them through the wire encoding of every version and
// reassembles them: the Gram values, packed doubles (version 1) or raw
// little-endian bytes (version 2), come back with the same bits.
func TestStatsRoundTrip(t *testing.T) {
	const seed = 9
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for trial := 0; trial < 40; trial++ {
		m := 1 + rng.IntN(40)
		req := &pb.StepRequest{Iter: int64(rng.IntN(9)), Partition: int32(rng.IntN(9)), U: make([]float64, m), HasPrev: trial%2 == 0}
		st := fakeStats(req, uint64(trial))
		st.Gram[0] = awkward[trial%len(awkward)]
		for i := range st.Gram {
			if rng.IntN(3) == 0 {
				st.Gram[i] = awkward[rng.IntN(len(awkward))]
			}
		}
		st.R[m-1] = awkward[(trial+1)%len(awkward)]
		per := 1 + rng.IntN(2*linalg.PackedLen(m)+m)
		var got [MaxProtocolVersion + 1]*shard.Stats
		for v := uint32(MinProtocolVersion); v <= MaxProtocolVersion; v++ {
			a := &assembler{shardID: "x", iter: int64(st.Iter), partition: int32(st.Partition), m: m, hasPrev: req.HasPrev}
			i := 0
			for _, c := range encodeStats(st, "x", v, per) {
				if n := len(c.GetGram()) + len(c.GetGramLe())/8 + len(c.GetHeader().GetR()); n > max(per, m) {
					t.Fatalf("chunk %d has %d doubles, budget %d", i, n, per)
				}
				if v >= GramBytesVersion && len(c.GetGram()) > 0 || v < GramBytesVersion && len(c.GetGramLe()) > 0 {
					t.Fatalf("version %d: chunk %d has %d values in gram, %d bytes in gram_le", v, i, len(c.GetGram()), len(c.GetGramLe()))
				}
				if h := c.GetHeader(); h != nil && h.GetProtocolVersion() != v {
					t.Fatalf("version %d: header of version %d", v, h.GetProtocolVersion())
				}
				if err := a.add(wire(t, c, &pb.StepChunk{})); err != nil {
					t.Fatalf("trial %d (m %d, per %d, version %d) chunk %d: %v", trial, m, per, v, i, err)
				}
				i++
			}
			var err error
			if got[v], err = a.finish(); err != nil {
				t.Fatal(err)
			}
			sameBits(t, fmt.Sprintf("round trip, version %d", v), got[v], st)
		}
		sameBits(t, "version 2 against version 1", got[2], got[1])
	}
}

// TestGramBytesBits encodes Gram values whose bits are easily lost (signed
// zeros, subnormals, the extremes of the normal range) into gram_le and
// checks the bytes and the decoded bits.
func TestGramBytesBits(t *testing.T) {
	vals := []float64{0, math.Copysign(0, -1), 5e-324, -5e-324, 0x1p-1022, math.Nextafter(0x1p-1022, 0),
		math.MaxFloat64, -math.MaxFloat64, 1.0 / 3, -1, 1e308, math.Nextafter(1, 2), math.Pi}
	c := &pb.StepChunk{Gram: slices.Clone(vals)}
	gramToBytes(c)
	if len(c.GetGram()) != 0 || len(c.GetGramLe()) != 8*len(vals) {
		t.Fatalf("gram %d values, gram_le %d bytes", len(c.GetGram()), len(c.GetGramLe()))
	}
	// Little-endian: the low byte first. 1.0/3 is 0x3fd5555555555555.
	if b := c.GetGramLe()[8*8 : 8*9]; !slices.Equal(b, []byte{0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0xd5, 0x3f}) {
		t.Fatalf("1/3 encoded as % x", b)
	}
	dst := make([]float64, len(vals))
	if i := decodeFinite(dst, c.GetGramLe()); i >= 0 {
		t.Fatalf("value %d (%v) reported non-finite", i, dst[i])
	}
	if !bitsEqual(dst, vals) {
		t.Fatalf("decoded %v, want %v", dst, vals)
	}
	for _, bad := range []float64{math.NaN(), math.Float64frombits(0x7ff0000000000001), math.Float64frombits(0xfff8000000000000), math.Inf(1), math.Inf(-1)} {
		src := slices.Clone(vals)
		src[7] = bad
		c := &pb.StepChunk{Gram: src}
		gramToBytes(c)
		if i := decodeFinite(dst, c.GetGramLe()); i != 7 || math.Float64bits(dst[7]) != math.Float64bits(bad) {
			t.Errorf("%v (%#x): index %d, decoded %v", bad, math.Float64bits(bad), i, dst[7])
		}
	}
}

// TestChunkSizeBound checks the worst case of ChunkBytes: a header chunk at
// m = MaxM with the longest shard id and extreme header values, and a full
// Gram chunk at the largest offset.
func TestChunkSizeBound(t *testing.T) {
	m := MaxM
	r := make([]float64, m)
	g := make([]float64, ChunkDoubles)
	for i := range g {
		g[i] = -math.MaxFloat64
	}
	first := &pb.StepChunk{
		Iter: math.MaxInt64, Partition: math.MinInt32, Offset: 0, Gram: g[:ChunkDoubles-m],
		Header: &pb.StepHeader{
			ProtocolVersion: math.MaxUint32, ShardId: strings.Repeat("x", MaxShardIDLen),
			Rows: math.MinInt64, M: math.MinInt32, Yy: 1, Sse: 1, Flips: math.MinInt64,
			GramLen: math.MinInt64, R: r,
		},
	}
	later := &pb.StepChunk{Iter: math.MinInt64, Partition: math.MinInt32, Offset: math.MinInt64, Gram: g}
	firstLE, laterLE := proto.Clone(first).(*pb.StepChunk), proto.Clone(later).(*pb.StepChunk)
	gramToBytes(firstLE)
	gramToBytes(laterLE)
	for name, c := range map[string]*pb.StepChunk{"first": first, "later": later, "first, gram_le": firstLE, "later, gram_le": laterLE} {
		if n := proto.Size(c); n > ChunkBytes {
			t.Errorf("%s chunk: %d bytes > %d", name, n, ChunkBytes)
		} else {
			t.Logf("%s chunk: %d bytes", name, n)
		}
	}
	// And statsToChunks gives the first chunk exactly ChunkDoubles doubles
	// in every version.
	st := &shard.Stats{M: 600, Gram: make([]float64, linalg.PackedLen(600)), R: make([]float64, 600), Flips: -1}
	for v := uint32(MinProtocolVersion); v <= MaxProtocolVersion; v++ {
		cs := statsToChunks(st, "x", v)
		if n := len(cs[0].GetGram()) + len(cs[0].GetGramLe())/8 + len(cs[0].GetHeader().GetR()); n != ChunkDoubles || len(cs) != 2 {
			t.Fatalf("version %d: %d chunks, first with %d doubles", v, len(cs), n)
		}
	}
}

func TestRequestFromProtoErrors(t *testing.T) {
	cases := []struct {
		name string
		req  *pb.StepRequest
		want error
	}{
		{"nil", nil, shard.ErrRequest},
		{"zero", &pb.StepRequest{}, shard.ErrRequest},
		{"too large", &pb.StepRequest{D: 100, Signs: make([]float64, 100)}, ErrTooLarge},
		{"prev without flag", &pb.StepRequest{D: 1, Signs: []float64{1}, U: []float64{1}, Prev: []float64{1}}, shard.ErrRequest},
		{"flag without prev", &pb.StepRequest{D: 1, Signs: []float64{1}, U: []float64{1}, HasPrev: true}, shard.ErrRequest},
		{"negative partition", &pb.StepRequest{D: 1, Signs: []float64{1}, U: []float64{1}, Partition: -2}, shard.ErrRequest},
	}
	for _, tc := range cases {
		if _, _, err := requestFromProto(tc.req); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestInfoRoundTrip(t *testing.T) {
	info := ShardInfo{ID: "a", Schema: Schema{N: 11, D: 3, P: 4, Bias: true, DType: "float32", Fingerprint: "fp",
		Rows: map[int]int{3: 3, 0: 2, 1: 3}}}
	p := wire(t, infoToProto(info), &pb.InfoReply{})
	if got := p.GetPartitions(); len(got) != 3 || got[0].GetPartition() != 0 || got[2].GetPartition() != 3 {
		t.Fatalf("partitions not ascending: %v", got)
	}
	back, err := infoFromProto(p)
	if err != nil {
		t.Fatal(err)
	}
	if back.ID != info.ID || !back.Schema.Equal(info.Schema) {
		t.Fatalf("got %+v, want %+v", back, info)
	}
}

// The zero-copy view of the Gram values and the portable encoding give the
// same bytes: binary.LittleEndian's of every value.
func TestFloat64BytesLittleEndian(t *testing.T) {
	v := []float64{0, math.Copysign(0, -1), 1, -2.5, math.SmallestNonzeroFloat64, math.MaxFloat64, 1.0 / 3}
	want := make([]byte, 0, 8*len(v))
	for _, x := range v {
		want = binary.LittleEndian.AppendUint64(want, math.Float64bits(x))
	}
	if got := float64Bytes(v); !bytes.Equal(got, want) {
		t.Errorf("float64Bytes = %x, want %x", got, want)
	}
	if got := encodeLE(v); !bytes.Equal(got, want) {
		t.Errorf("encodeLE = %x, want %x", got, want)
	}
	if got := float64Bytes(v[:0]); len(got) != 0 {
		t.Errorf("float64Bytes of no values = %x", got)
	}
}
