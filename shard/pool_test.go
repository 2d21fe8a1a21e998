package shard_test

import (
	"math"
	"testing"

	"altmin/data"
	"altmin/linalg"
	"altmin/msg"
	"altmin/shard"
)

// TestEnginePool: with SetPool an engine (in memory or streaming) takes the
// Gram buffer of its statistics from the pool, an idle buffer of the size
// whatever values it holds, and computes the bits of an engine without a
// pool; Release gives the buffer back for the next iteration, and a buffer
// of another size is not used. Without a pool every statistics gets a new
// buffer.
func TestEnginePool(t *testing.T) {
	src, err := data.ParseSynthetic("model=sum,d=4,k=2,n=300,seed=2")
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := src.Teacher()
	const P = 2
	parts := make([]*shard.Partition, P)
	for id := range parts {
		if parts[id], err = shard.Load(src, P, id, true); err != nil {
			t.Fatal(err)
		}
	}
	d, k := parts[0].D, spec.K
	m := d * k
	u0, u1 := make([]float64, m), make([]float64, m)
	for i := range u0 {
		u0[i], u1[i] = math.Sin(float64(i)), math.Cos(float64(3*i))
	}
	reqs := []*msg.StatsRequest{
		{Iter: 0, D: d, Signs: spec.Signs, U: u0},
		{Iter: 1, D: d, Signs: spec.Signs, U: u1, Prev: u0},
		{Iter: 2, D: d, Signs: spec.Signs, U: u0, Prev: u1},
	}

	plain, err := shard.NewEngine(parts...)
	if err != nil {
		t.Fatal(err)
	}
	if plain.Pool() != nil {
		t.Fatal("a new engine has a pool")
	}
	a := fetch[*msg.Stats](t, plain, reqs[0], 1)
	first := &a.Gram[0]
	a.Release(nil) // dropped: the next statistics get another buffer
	if b := fetch[*msg.Stats](t, plain, reqs[0], 1); &b.Gram[0] == first {
		t.Error("an engine without a pool reused a buffer")
	}

	streaming, err := shard.NewStreamingEngine(shard.StreamConfig{Source: src, Partitions: P, IDs: []int{0, 1}, Bias: true, Storage: shard.Float64, Resident: 1})
	if err != nil {
		t.Fatal(err)
	}
	memory, err := shard.NewEngine(parts...)
	if err != nil {
		t.Fatal(err)
	}
	for name, eng := range map[string]*shard.Engine{"in memory": memory, "streaming": streaming} {
		pool := msg.NewPool()
		eng.SetPool(pool)
		if eng.Pool() != pool {
			t.Fatalf("%s: Pool() is not the pool set", name)
		}
		buf := make([]float64, linalg.PackedLen(m))
		for i := range buf {
			buf[i] = math.NaN() // a reused buffer's old values must not matter
		}
		pool.Put(buf)
		other := make([]float64, linalg.PackedLen(m)+1)
		pool.Put(other)
		for _, req := range reqs {
			for id := 0; id < P; id++ {
				got := fetch[*msg.Stats](t, eng, req, id)
				if &got.Gram[0] != &buf[0] {
					t.Fatalf("%s: iteration %d, partition %d: the Gram buffer was not taken from the pool", name, req.Iter, id)
				}
				want := fetch[*msg.Stats](t, plain, req, id)
				if !samePartial(got, want) {
					t.Fatalf("%s: iteration %d, partition %d: statistics in a pooled buffer differ from fresh ones", name, req.Iter, id)
				}
				got.Release(pool)
				if n, bytes := pool.Idle(); n != 2 || bytes != int64(len(buf)+len(other))*8 {
					t.Fatalf("%s: %d idle buffers (%d bytes) after Release, want both", name, n, bytes)
				}
			}
		}
	}
}
