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

	"altmin/msg"
	pb "altmin/proto/altminpb"
)

// The chunks of a reply (chunks.go): toChunks on the server's side, the
// assembler on the client's.

// TestToChunksLayout checks the chunks of payloads of many shapes against
// the wire format: the header in the first chunk only, every chunk naming
// the partition and round, runs of at most per values within one vector
// at contiguous offsets from 0, and together the payload's little-endian
// bytes.
func TestToChunksLayout(t *testing.T) {
	const seed = 13
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	shapes := [][]int{{}, {0}, {0, 0}, {1}, {3, 0, 5}, {0, 4}, {7, 7}, {12, 78}, {6, 21, 4, 10}, {5, 5, 0}}
	for trial := 0; trial < 20; trial++ {
		shape := make([]int, 1+rng.IntN(5))
		for i := range shape {
			shape[i] = rng.IntN(40)
		}
		shapes = append(shapes, shape)
	}
	for _, shape := range shapes {
		vs := make([][]float64, len(shape))
		var all []float64
		var starts []int // start of each non-empty vector in the payload
		for i, n := range shape {
			vs[i] = randVec(rng, n)
			if n > 0 {
				starts = append(starts, len(all))
			}
			all = append(all, vs[i]...)
		}
		want := make([]byte, 0, 8*len(all))
		for _, x := range all {
			want = binary.LittleEndian.AppendUint64(want, math.Float64bits(x))
		}
		for _, per := range []int{-1, 0, 1, 2, 3, 5, 7, 8, 100} {
			h := &pb.Header{ProtocolVersion: ProtocolVersion, ShardId: "s", Payload: int64(len(all))}
			cs := toChunks(h, vs, msg.Leaf(6), 9, per)
			what := fmt.Sprintf("shape %v, per %d", shape, per)
			runs := 0
			for _, n := range shape {
				runs += (n + max(per, 1) - 1) / max(per, 1)
			}
			if len(cs) != max(runs, 1) {
				t.Fatalf("%s: %d chunks, want %d", what, len(cs), max(runs, 1))
			}
			var got []byte
			var off int64
			for i, c := range cs {
				n := int64(len(c.GetValues()) / 8)
				switch {
				case c.GetPartition() != 6 || max(c.GetSpan(), 1) != 1 || c.GetRound() != 9:
					t.Fatalf("%s: chunk %d names partition %d, span %d, round %d", what, i, c.GetPartition(), c.GetSpan(), c.GetRound())
				case (i == 0) != (c.GetHeader() != nil) || i == 0 && c.GetHeader() != h:
					t.Fatalf("%s: chunk %d has header %v", what, i, c.GetHeader())
				case c.GetOffset() != off:
					t.Fatalf("%s: chunk %d at offset %d, want %d", what, i, c.GetOffset(), off)
				case len(c.GetValues())%8 != 0 || n > int64(max(per, 1)) || n == 0 && (i > 0 || len(all) > 0):
					t.Fatalf("%s: chunk %d has %d bytes", what, i, len(c.GetValues()))
				}
				// Within one vector: no vector starts strictly inside the run.
				for _, s := range starts {
					if int64(s) > off && int64(s) < off+n {
						t.Fatalf("%s: chunk %d, values [%d, %d), spans the vector starting at %d", what, i, off, off+n, s)
					}
				}
				got = append(got, c.GetValues()...)
				off += n
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: the chunks' values are not the payload's bytes", what)
			}
		}
	}
}

// assemble feeds chunks to an assembler as the client does, each through
// the protobuf encoding, and returns the partial or the first error
// (releasing the partial's buffers to pool on an error, as the client
// does).
func assemble(t *testing.T, req msg.Request, part int, id string, pool *msg.Pool, cs []*pb.Chunk) (msg.Partial, error) {
	t.Helper()
	a := &assembler{req: req, span: msg.Leaf(part), shardID: id, pool: pool}
	for _, c := range cs {
		if err := a.add(onWire(t, c, &pb.Chunk{})); err != nil {
			a.release()
			return nil, err
		}
	}
	p, err := a.finish()
	if err != nil {
		a.release()
		if a.p != nil {
			t.Fatal("release kept the partial")
		}
		return nil, err
	}
	return p, nil
}

// TestAssemblerRoundTrip cuts seeded random partials of every kind and
// shape into chunks of many sizes, down to one value a chunk, sends them
// through the protobuf encoding and reassembles them: every value comes
// back with its bits, the partial passes Check, and its Gram buffers come
// from the pool.
func TestAssemblerRoundTrip(t *testing.T) {
	const seed = 9
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	pool := msg.NewPool()
	for _, nr := range sampleRequests(rng) {
		part := rng.IntN(9)
		p := randPartial(rng, nr.req, part)
		total := payloadLen(p)
		pers := []int{1, 2, 3, 5, 13, max(total-1, 1), total, total + 1, ChunkDoubles, 1 + rng.IntN(total+2)}
		for _, per := range pers {
			what := fmt.Sprintf("%s, per %d", nr.name, per)
			cs := chunksOf(t, p, "x", per)
			if len(cs) != wantChunks(p, per) {
				t.Fatalf("%s: %d chunks, want %d", what, len(cs), wantChunks(p, per))
			}
			got, err := assemble(t, nr.req, part, "x", pool, cs)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			sameBits(t, what, got, p)
			if err := got.Check(nr.req); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			// The assembler checked every value as it decoded it and
			// marked the statistics so: Check does not read the Gram
			// matrices again (a value changed afterwards goes unnoticed).
			if gs := grams(got); len(gs) > 0 {
				old := gs[0][0]
				gs[0][0] = math.NaN()
				if err := got.Check(nr.req); err != nil {
					t.Fatalf("%s: the received statistics are not marked as checked: %v", what, err)
				}
				gs[0][0] = old
			}
			// Back to the pool: the next assembly reuses (and overwrites)
			// the buffers.
			got.Release(pool)
		}
	}
	if n, _ := pool.Idle(); n == 0 {
		t.Fatal("no Gram buffer went through the pool")
	}
}

// A table of malformed replies, shared by the assembler's test and the
// client's (over gRPC).

// hostileFixture is a request whose valid reply has at least four chunks.
type hostileFixture struct {
	kind string
	req  msg.Request
	per  int
	seed uint64
}

const hostilePart = 2

func hostileFixtures() []hostileFixture {
	rng := rand.New(rand.NewPCG(43, 0))
	stats := statsRequest(rng, 4, 4, 3) // m = 12: r 12 (with the header), Gram 78 in 20, 20, 20, 18
	deep := &msg.DeepRequest{Step: 4, Net: randNet(rng, 3, 2, 2), Layers: []int{1, 2}}
	deep.Prev = deep.Net.Clone()
	fill(rng, deep.Prev.W[0])
	return []hostileFixture{
		{"stats", stats, 20, 1},
		// Systems of 6 and 4 unknowns: r 5+1, Gram 5+5+5+5+1, r 4, Gram 5+5.
		{"deep", deep, 5, 2},
		// d = 6: 5+1, 5+1, then 21 second-order values in 5+5+5+5+1.
		{"moments12", &msg.Moments12Request{D: 6, Order: 2, Base: randBaseline(rng, 6, 2)}, 5, 3},
		// k = 3: 15 values in 4+4+4+3.
		{"moment4", &msg.Moment4Request{D: 6, K: 3, V: randVec(rng, 18)}, 4, 4},
		// d = 3, 3 samples: means 4, deviations 4, indices 3, sampled
		// values 4+4+4.
		{"summary", &msg.SummaryRequest{D: 3, Samples: 3, Seed: 5, Split: &msg.Split{Fraction: 0.5, Seed: 2}}, 4, 5},
	}
}

// valid returns the partial of the fixture's valid reply and its chunks,
// the same at every call.
func (f hostileFixture) valid(t *testing.T) (msg.Partial, []*pb.Chunk) {
	p := randPartial(rand.New(rand.NewPCG(f.seed, 1)), f.req, hostilePart)
	return p, chunksOf(t, p, "s1", f.per)
}

type hostileCase struct {
	name string
	kind string // the fixture's kind, or "" for all
	edit func(cs []*pb.Chunk) []*pb.Chunk
	want error
	says string // in the error message, or ""
}

// setValue overwrites value i of a chunk with the double of the given bits.
func setValue(c *pb.Chunk, i int, bits uint64) {
	v := slices.Clone(c.Values) // the chunks view the partial's vectors
	binary.LittleEndian.PutUint64(v[8*i:], bits)
	c.Values = v
}

func hostileCases() []hostileCase {
	type cs = []*pb.Chunk
	last := func(c cs) *pb.Chunk { return c[len(c)-1] }
	total := func(c cs) int64 { return last(c).GetOffset() + int64(len(last(c).GetValues())/8) }
	one := func(f func(c cs)) func(c cs) cs { return func(c cs) cs { f(c); return c } }
	return []hostileCase{
		{"no header", "", one(func(c cs) { c[0].Header = nil }), ErrBadReply, "first chunk has no header"},
		{"header in the second chunk", "", one(func(c cs) { c[1].Header, c[0].Header = c[0].Header, nil }), ErrBadReply, "first chunk has no header"},
		{"second header", "", one(func(c cs) { c[2].Header = c[0].Header }), ErrBadReply, "second header"},
		{"header without a kind", "", one(func(c cs) { c[0].Header.Kind = nil }), ErrBadReply, "has no"},
		{"header of another kind", "", one(func(c cs) {
			if c[0].Header.GetStats() != nil {
				c[0].Header.Kind = &pb.Header_Moment4{Moment4: &pb.Moment4Header{K: 3}}
			} else {
				c[0].Header.Kind = &pb.Header_Stats{Stats: &pb.StatsHeader{M: 12, Flips: 1}}
			}
		}), ErrBadReply, "header"},
		{"other shard", "", one(func(c cs) { c[0].Header.ShardId = "s2" }), ErrWrongShard, `reply from shard "s2", expected "s1"`},
		{"no shard id", "", one(func(c cs) { c[0].Header.ShardId = "" }), ErrWrongShard, `reply from shard ""`},
		{"long shard id, clipped", "", one(func(c cs) { c[0].Header.ShardId = strings.Repeat("y", 4*MaxShardIDLen) }), ErrWrongShard,
			`reply from shard "` + strings.Repeat("y", MaxShardIDLen) + `...", expected "s1"`},
		{"version 2", "", one(func(c cs) { c[0].Header.ProtocolVersion = 2 }), ErrVersion, fmt.Sprintf("the reply speaks protocol version 2, this node %d", ProtocolVersion)},
		{"newer version", "", one(func(c cs) { c[0].Header.ProtocolVersion = ProtocolVersion + 1 }), ErrVersion, fmt.Sprintf("version %d, this node %d", ProtocolVersion+1, ProtocolVersion)},
		{"version 0", "", one(func(c cs) { c[0].Header.ProtocolVersion = 0 }), ErrVersion, fmt.Sprintf("version 0, this node %d", ProtocolVersion)},
		{"old round", "", one(func(c cs) {
			for _, x := range c {
				x.Round--
			}
		}), ErrStale, "round"},
		{"future round in a later chunk", "", one(func(c cs) { c[2].Round++ }), ErrStale, ""},
		{"other partition", "", one(func(c cs) {
			for _, x := range c {
				x.Partition = hostilePart + 1
			}
		}), ErrStale, "partition 3"},
		{"other partition in the last chunk", "", one(func(c cs) { last(c).Partition = 0 }), ErrStale, ""},
		{"payload one more", "", one(func(c cs) { c[0].Header.Payload++ }), ErrBadReply, "announces"},
		{"payload one less", "", one(func(c cs) { c[0].Header.Payload-- }), ErrBadReply, "announces"},
		{"payload huge", "", one(func(c cs) { c[0].Header.Payload = math.MaxInt64 }), ErrBadReply, "announces"},
		{"payload negative", "", one(func(c cs) { c[0].Header.Payload = -1 }), ErrBadReply, "announces"},
		{"negative rows", "", one(func(c cs) { c[0].Header.Rows = -1 }), ErrBadReply, "-1 rows"},
		{"first chunk at offset 1", "", one(func(c cs) { c[0].Offset = 1 }), ErrBadReply, "gap"},
		{"gap", "", func(c cs) cs { return slices.Concat(c[:2], c[3:]) }, ErrBadReply, "gap"},
		{"offset ahead", "", one(func(c cs) { c[2].Offset++ }), ErrBadReply, "gap"},
		{"short chunk", "", one(func(c cs) { c[2].Values = c[2].Values[:len(c[2].Values)-8] }), ErrBadReply, "gap"},
		{"out of order", "", one(func(c cs) { c[1], c[2] = c[2], c[1] }), ErrBadReply, "gap"},
		{"overlap", "", one(func(c cs) { c[2].Offset-- }), ErrBadReply, "overlap"},
		{"repeated chunk", "", func(c cs) cs { return slices.Concat(c[:3], c[2:]) }, ErrBadReply, "overlap"},
		{"overrun", "", one(func(c cs) { last(c).Values = binary.LittleEndian.AppendUint64(slices.Clone(last(c).Values), 0) }), ErrBadReply, "overruns"},
		{"extra chunk", "", func(c cs) cs {
			return append(c, &pb.Chunk{Partition: c[0].Partition, Round: c[0].Round, Offset: total(c), Values: make([]byte, 8)})
		}, ErrBadReply, "overruns"},
		{"empty chunk", "", func(c cs) cs {
			e := &pb.Chunk{Partition: c[0].Partition, Round: c[0].Round, Offset: c[1].Offset, Values: []byte{}}
			return slices.Concat(c[:1], cs{e}, c[1:])
		}, ErrBadReply, "empty chunk"},
		{"empty chunk at the end", "", func(c cs) cs {
			return append(c, &pb.Chunk{Partition: c[0].Partition, Round: c[0].Round, Offset: total(c)})
		}, ErrBadReply, "empty chunk"},
		{"values not a multiple of 8", "", one(func(c cs) { c[2].Values = c[2].Values[:len(c[2].Values)-3] }), ErrBadReply, "not a multiple of 8"},
		{"one byte more", "", one(func(c cs) { last(c).Values = append(slices.Clone(last(c).Values), 0) }), ErrBadReply, "not a multiple of 8"},
		{"first chunk of 7 bytes", "", one(func(c cs) { c[0].Values = c[0].Values[:7] }), ErrBadReply, "7 bytes of values, not a multiple of 8"},
		{"NaN in a later chunk", "", one(func(c cs) { setValue(c[2], 1, 0x7ff8000000000000) }), ErrBadReply, "value NaN at offset"},
		{"NaN with a payload", "", one(func(c cs) { setValue(c[1], 0, 0xfff0000000000001) }), ErrBadReply, "value NaN at offset"},
		{"-Inf in the first chunk", "", one(func(c cs) { setValue(c[0], 0, 0xfff0000000000000) }), ErrBadReply, "value -Inf at offset 0"},
		{"+Inf as the last value", "", one(func(c cs) { setValue(last(c), len(last(c).Values)/8-1, 0x7ff0000000000000) }), ErrBadReply, "value +Inf at offset"},
		{"ends early", "", func(c cs) cs { return c[:len(c)-1] }, ErrBadReply, "stream ended after"},
		{"header only", "", func(c cs) cs { return c[:1] }, ErrBadReply, "stream ended after"},
		{"empty stream", "", func(cs) cs { return nil }, ErrBadReply, "stream ended before the header"},

		{"m other", "stats", one(func(c cs) { c[0].Header.GetStats().M = 13 }), ErrBadReply, "m = 13, request has 12"},
		{"m huge", "stats", one(func(c cs) { c[0].Header.GetStats().M = math.MaxInt32 }), ErrBadReply, "m = "},
		{"NaN SSE", "stats", one(func(c cs) { c[0].Header.GetStats().Sse = math.NaN() }), ErrBadReply, "SSE = NaN"},
		{"Inf y^T y", "stats", one(func(c cs) { c[0].Header.GetStats().Yy = math.Inf(1) }), ErrBadReply, "+Inf"},
		{"no flips with prev", "stats", one(func(c cs) { c[0].Header.GetStats().Flips = -1 }), ErrBadReply, "flips"},
		{"flips below -1", "stats", one(func(c cs) { c[0].Header.GetStats().Flips = -2 }), ErrBadReply, "flips"},
		{"NaN at Gram offset 33", "stats", one(func(c cs) { setValue(c[2], 1, 0x7ff8000000000001) }), ErrBadReply, "value NaN at offset 33"},
		{"gap in the Gram", "stats", func(c cs) cs { return slices.Concat(c[:2], c[3:]) }, ErrBadReply, "gap: chunk at offset 52 after 32 values"},
		{"overlap in the Gram", "stats", one(func(c cs) { c[2].Offset-- }), ErrBadReply, "overlap: chunk at offset 31 after 32 values"},
		{"Gram overrun", "stats", one(func(c cs) { c[4].Values = binary.LittleEndian.AppendUint64(slices.Clone(c[4].Values), 0) }), ErrBadReply, "chunk of 19 values at offset 72 overruns the 90 values"},
		{"Gram ends early", "stats", func(c cs) cs { return c[:4] }, ErrBadReply, "stream ended after 72 of 90 values"},

		{"one system", "deep", one(func(c cs) { h := c[0].Header.GetDeep(); h.Systems = h.Systems[:1] }), ErrBadReply, "1 systems, request 2"},
		{"system over other layers", "deep", one(func(c cs) { c[0].Header.GetDeep().Systems[1].Layers = []int32{1} }), ErrBadReply, "over layers [1] with m = 4"},
		{"system with other m", "deep", one(func(c cs) { c[0].Header.GetDeep().Systems[0].M = 7 }), ErrBadReply, "m = 7"},
		{"joint system for per-layer", "deep", one(func(c cs) {
			c[0].Header.GetDeep().Systems = []*pb.DeepSystem{{Layers: []int32{1, 2}, M: 10}}
		}), ErrBadReply, "systems"},
		{"NaN SSE", "deep", one(func(c cs) { c[0].Header.GetDeep().Sse = math.NaN() }), ErrBadReply, "SSE = NaN"},
		{"no flip count", "deep", one(func(c cs) { c[0].Header.GetDeep().Flips = -1 }), ErrBadReply, "flips"},

		{"order 1 reply", "moments12", one(func(c cs) { c[0].Header.GetMoments12().Order = 1 }), ErrBadReply, "reply has order 1"},
		{"other d", "moments12", one(func(c cs) { c[0].Header.GetMoments12().D = 7 }), ErrBadReply, "d = 7"},
		{"NaN sum of labels", "moments12", one(func(c cs) { c[0].Header.GetMoments12().SumY = math.NaN() }), ErrBadReply, "sum of the labels is NaN"},

		{"other k", "moment4", one(func(c cs) { c[0].Header.GetMoment4().K = 2 }), ErrBadReply, "k = 2, request has 3"},

		// The sum of the labels and the validation sums of the statistics.
		{"NaN sum of labels", "stats", one(func(c cs) { c[0].Header.GetStats().SumY = math.NaN() }), ErrBadReply, "sum y = NaN"},
		{"Inf sum of labels", "stats", one(func(c cs) { c[0].Header.GetStats().SumY = math.Inf(-1) }), ErrBadReply, "sum y = -Inf"},
		{"negative validation rows", "stats", one(func(c cs) { c[0].Header.GetStats().Val.Rows = -1 }), ErrBadReply, "validation"},
		{"most negative validation rows", "stats", one(func(c cs) { c[0].Header.GetStats().Val.Rows = math.MinInt64 }), ErrBadReply, "validation"},
		{"NaN validation SSE", "stats", one(func(c cs) { c[0].Header.GetStats().Val.Sse = math.NaN() }), ErrBadReply, "validation"},
		{"Inf validation y^T y", "stats", one(func(c cs) { c[0].Header.GetStats().Val.Yy = math.Inf(1) }), ErrBadReply, "validation"},
		{"NaN validation sum", "stats", one(func(c cs) { c[0].Header.GetStats().Val.SumY = math.NaN() }), ErrBadReply, "validation"},
		{"NaN sum of labels", "deep", one(func(c cs) { c[0].Header.GetDeep().SumY = math.NaN() }), ErrBadReply, "sum y = NaN"},
		{"negative validation rows", "deep", one(func(c cs) { c[0].Header.GetDeep().Val.Rows = -5 }), ErrBadReply, "validation"},
		{"Inf validation SSE", "deep", one(func(c cs) { c[0].Header.GetDeep().Val.Sse = math.Inf(-1) }), ErrBadReply, "validation"},

		// Summaries.
		{"other d", "summary", one(func(c cs) { c[0].Header.GetSummary().D = 4 }), ErrBadReply, "reply has d = 4, request has 3"},
		{"negative d", "summary", one(func(c cs) { c[0].Header.GetSummary().D = math.MinInt32 }), ErrBadReply, "request has 3"},
		{"more samples than requested", "summary", one(func(c cs) { c[0].Header.GetSummary().Samples = 4 }), ErrBadReply, "reply has 4 samples, request at most 3"},
		{"huge samples", "summary", one(func(c cs) { c[0].Header.GetSummary().Samples = math.MaxInt32 }), ErrBadReply, "samples, request at most 3"},
		{"negative samples", "summary", one(func(c cs) { c[0].Header.GetSummary().Samples = -1 }), ErrBadReply, "reply has -1 samples"},
		{"fewer samples than sent", "summary", one(func(c cs) { c[0].Header.GetSummary().Samples = 2 }), ErrBadReply, "reply announces 23 values, want 18"},
		{"fewer samples than sent, payload to match", "summary", one(func(c cs) {
			c[0].Header.GetSummary().Samples, c[0].Header.Payload = 2, 18
		}), ErrBadReply, "chunk of 4 values at offset 15 overruns the 18 values"},
		{"more samples than rows", "summary", one(func(c cs) { c[0].Header.Rows = 2 }), ErrBadReply, "has 2 rows and 3 samples"},
		{"samples of no rows", "summary", one(func(c cs) { c[0].Header.Rows = 0 }), ErrBadReply, "has 0 rows and 3 samples"},
		{"negative sum of squares", "summary", one(func(c cs) { setValue(c[1], 2, math.Float64bits(-1)) }), ErrBadReply, "negative sum of squares"},
		{"NaN index", "summary", one(func(c cs) { setValue(c[2], 0, 0x7ff8000000000000) }), ErrBadReply, "value NaN at offset 8"},
		{"Inf sampled value", "summary", one(func(c cs) { setValue(c[4], 3, 0x7ff0000000000000) }), ErrBadReply, "value +Inf at offset 18"},
	}
}

// TestAssemblerRejects feeds the assembler malformed, stale and foreign
// replies of every kind: each is rejected with the right sentinel and a
// message naming the problem, nothing is returned, and the Gram buffers of
// a partial begun go back to the pool.
func TestAssemblerRejects(t *testing.T) {
	for _, f := range hostileFixtures() {
		_, valid := f.valid(t)
		if len(valid) < 4 {
			t.Fatalf("%s: %d chunks in the valid reply, the cases need 4", f.kind, len(valid))
		}
		pool := msg.NewPool()
		for _, tc := range hostileCases() {
			if tc.kind != "" && tc.kind != f.kind {
				continue
			}
			t.Run(f.kind+"/"+tc.name, func(t *testing.T) {
				_, cs := f.valid(t)
				p, err := assemble(t, f.req, hostilePart, "s1", pool, tc.edit(cs))
				if !errors.Is(err, tc.want) || p != nil {
					t.Fatalf("got %v, %v; want %v", p, err, tc.want)
				}
				if !strings.Contains(err.Error(), tc.says) {
					t.Fatalf("%q does not say %q", err, tc.says)
				}
			})
		}
		// Rejected partials gave their Gram buffers back (and took them
		// again: one set went from reply to reply).
		wantIdle := map[string]int{"stats": 1, "deep": 2}[f.kind]
		if n, _ := pool.Idle(); n != wantIdle {
			t.Errorf("%s: %d Gram buffers back in the pool after the rejections, want %d", f.kind, n, wantIdle)
		}
		// The valid reply is accepted and is the partial sent.
		want, cs := f.valid(t)
		got, err := assemble(t, f.req, hostilePart, "s1", pool, cs)
		if err != nil {
			t.Fatalf("%s: the valid reply: %v", f.kind, err)
		}
		sameBits(t, f.kind, got, want)
	}
}

// TestChunkSizeBound checks the worst cases of ChunkBytes: a first chunk
// of every kind with a full run of ChunkDoubles values, the longest shard
// id, extreme integers and the largest deep header the limits allow (as
// many systems as layers, each listing every layer), and a later chunk at
// the largest offset.
func TestChunkSizeBound(t *testing.T) {
	values := make([]byte, 8*ChunkDoubles)
	for i := range values {
		values[i] = 0xff
	}
	id := strings.Repeat("x", MaxShardIDLen)
	val := &pb.Eval{Rows: math.MinInt64, Sse: -math.MaxFloat64, Yy: -math.MaxFloat64, SumY: -math.MaxFloat64}
	deep := &pb.DeepHeader{Yy: -math.MaxFloat64, Sse: math.MaxFloat64, Flips: math.MinInt64, SumY: -math.MaxFloat64, Val: val}
	for range msg.MaxLayers {
		s := &pb.DeepSystem{M: math.MinInt32}
		for range msg.MaxLayers {
			s.Layers = append(s.Layers, math.MinInt32)
		}
		deep.Systems = append(deep.Systems, s)
	}
	kinds := map[string]func(h *pb.Header){
		"stats": func(h *pb.Header) {
			h.Kind = &pb.Header_Stats{Stats: &pb.StatsHeader{M: math.MinInt32, Yy: 1, Sse: 1, Flips: math.MinInt64, SumY: 1, Val: val}}
		},
		"deep": func(h *pb.Header) { h.Kind = &pb.Header_Deep{Deep: deep} },
		"moments12": func(h *pb.Header) {
			h.Kind = &pb.Header_Moments12{Moments12: &pb.Moments12Header{Order: math.MinInt32, D: math.MinInt32, SumY: 1}}
		},
		"moment4": func(h *pb.Header) { h.Kind = &pb.Header_Moment4{Moment4: &pb.Moment4Header{K: math.MinInt32}} },
		"summary": func(h *pb.Header) {
			h.Kind = &pb.Header_Summary{Summary: &pb.SummaryHeader{D: math.MinInt32, Samples: math.MinInt32}}
		},
	}
	for name, kind := range kinds {
		h := &pb.Header{ProtocolVersion: math.MaxUint32, ShardId: id, Rows: math.MinInt64, Payload: math.MinInt64}
		kind(h)
		first := &pb.Chunk{Partition: math.MinInt32, Round: math.MinInt64, Header: h, Offset: math.MinInt64, Values: values}
		if n := proto.Size(first); n > ChunkBytes {
			t.Errorf("%s: first chunk of %d bytes > %d", name, n, ChunkBytes)
		} else {
			t.Logf("%s: first chunk of %d bytes, %d to spare", name, n, ChunkBytes-n)
		}
	}
	later := &pb.Chunk{Partition: math.MinInt32, Round: math.MinInt64, Offset: math.MinInt64, Values: values}
	if n := proto.Size(later); n > ChunkBytes {
		t.Errorf("later chunk of %d bytes > %d", n, ChunkBytes)
	}
}
