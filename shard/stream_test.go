package shard

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"altmin/data"
	"altmin/model"
	"altmin/msg"
)

// failing is a data source whose reads of rows at or past failFrom fail
// while fail is set.
type failing struct {
	data.Source
	fail     atomic.Bool
	failFrom int
}

func (f *failing) Read(lo, hi int, x, y []float64) error {
	if f.fail.Load() && hi > f.failFrom {
		return errors.New("disk on fire")
	}
	return f.Source.Read(lo, hi, x, y)
}

func sameStats(a, b *msg.Stats) bool {
	bits := func(x, y []float64) bool {
		return slices.EqualFunc(x, y, func(u, v float64) bool { return math.Float64bits(u) == math.Float64bits(v) })
	}
	return a.Iter == b.Iter && a.Partition == b.Partition && a.Rows == b.Rows && a.M == b.M && a.Flips == b.Flips &&
		math.Float64bits(a.YY) == math.Float64bits(b.YY) && math.Float64bits(a.SSE) == math.Float64bits(b.SSE) &&
		bits(a.Gram, b.Gram) && bits(a.R, b.R)
}

// TestStreamingMatchesInMemory computes three iterations' statistics, the
// statistics of a deep network's step, the moment sums and a pass over the
// rows (Use) of every partition served, all
// partitions at once, with streaming engines of several residencies and
// parallelisms, and checks every result is the same bits as an in-memory
// engine's, and that no more than the resident partitions are ever held.
func TestStreamingMatchesInMemory(t *testing.T) {
	const seed = 77
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for _, st := range []Storage{Float64, Float32} {
		src, err := data.ParseSynthetic("model=sum,d=7,k=3,n=1500,seed=4")
		if err != nil {
			t.Fatal(err)
		}
		spec, _ := src.Teacher()
		const P = 6
		ids := []int{0, 2, 3, 5}
		var parts []*Partition
		for _, id := range ids {
			p, err := LoadAs(src, P, id, true, st)
			if err != nil {
				t.Fatal(err)
			}
			parts = append(parts, p)
		}
		mem, err := NewEngine(parts...)
		if err != nil {
			t.Fatal(err)
		}
		d, k := parts[0].D, len(spec.Signs)
		weights := make([][]float64, 3)
		for i := range weights {
			weights[i] = make([]float64, k*d)
			for j := range weights[i] {
				weights[i][j] = rng.NormFloat64()
			}
		}
		v := make([]float64, d*2)
		for i := range v {
			v[i] = rng.NormFloat64()
		}
		net := data.RandomNet(model.NewNet(d, 3, 2), seed)
		deepReq := &msg.DeepRequest{Step: 1, Net: net, Layers: []int{1, 2}, Joint: true, Prev: data.PerturbNet(net, 0.2, 3)}
		type result struct {
			stats []*msg.Stats
			deep  *msg.DeepStats
			m12   *msg.Moments12
			m4    *msg.Moment4
			sum   float64
		}
		ctx := context.Background()
		run := func(e *Engine, check func()) map[int]*result {
			out := map[int]*result{}
			for _, id := range ids {
				out[id] = &result{}
			}
			for it := range weights {
				req := &msg.StatsRequest{Iter: it, D: d, Signs: spec.Signs, U: weights[it]}
				if it > 0 {
					req.Prev = weights[it-1]
				}
				var wg sync.WaitGroup
				var mu sync.Mutex
				for _, id := range ids {
					wg.Add(1)
					go func() {
						defer wg.Done()
						s, err := e.Fetch(ctx, req, msg.Leaf(id))
						if err != nil {
							t.Error(err)
							return
						}
						check()
						mu.Lock()
						out[id].stats = append(out[id].stats, s.(*msg.Stats))
						mu.Unlock()
					}()
				}
				wg.Wait()
			}
			for _, id := range ids {
				r := out[id]
				for _, req := range []msg.Request{deepReq, &msg.Moments12Request{D: d, Order: 2}, &msg.Moment4Request{D: d, K: 2, V: v}} {
					p, err := e.Fetch(ctx, req, msg.Leaf(id))
					if err != nil {
						t.Fatal(err)
					}
					if err := p.Check(req); err != nil {
						t.Fatal(err)
					}
					switch p := p.(type) {
					case *msg.DeepStats:
						r.deep = p
					case *msg.Moments12:
						r.m12 = p
					case *msg.Moment4:
						r.m4 = p
					}
				}
				err := e.Use(context.Background(), id, func(p *Partition) error {
					check()
					row := make([]float64, p.D)
					for i := range p.Rows {
						for _, x := range p.Row(i, row) {
							r.sum += x
						}
						r.sum += p.Y[i]
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			return out
		}
		want := run(mem, func() {})
		for _, resident := range []int{1, 2, 4} {
			for _, par := range []int{1, 2, 3} {
				name := fmt.Sprintf("%s, resident %d, parallel %d", st, resident, par)
				e, err := NewStreamingEngine(StreamConfig{Source: src, Partitions: P, IDs: ids, Bias: true, Storage: st, Resident: resident})
				if err != nil {
					t.Fatal(err)
				}
				e.SetParallel(par)
				if e.Resident() != resident || e.Held() != 0 {
					t.Fatalf("%s: Resident() = %d, holds %d after construction", name, e.Resident(), e.Held())
				}
				for _, id := range ids {
					rows, dd, ok := e.Shape(id)
					if !ok || rows != mem.Partition(id).Rows || dd != d {
						t.Fatalf("%s: Shape(%d) = %d, %d, %v", name, id, rows, dd, ok)
					}
					if e.Partition(id) != nil {
						t.Fatalf("%s: Partition(%d) of a streaming engine is not nil", name, id)
					}
				}
				got := run(e, func() {
					if h := e.Held(); h > resident {
						t.Errorf("%s: holds %d partitions", name, h)
					}
				})
				for _, id := range ids {
					w, g := want[id], got[id]
					for it := range w.stats {
						if !sameStats(w.stats[it], g.stats[it]) {
							t.Fatalf("%s: partition %d, iteration %d: statistics differ from the in-memory engine's", name, id, it)
						}
					}
					if fmt.Sprint(w.m12) != fmt.Sprint(g.m12) || fmt.Sprint(w.m4) != fmt.Sprint(g.m4) || fmt.Sprint(w.deep) != fmt.Sprint(g.deep) || w.sum != g.sum {
						t.Fatalf("%s: partition %d: deep statistics, moments or rows differ from the in-memory engine's", name, id)
					}
				}
			}
		}
	}
}

// TestHeld: an in-memory engine holds every partition it serves.
func TestHeld(t *testing.T) {
	src, err := data.ParseSynthetic("model=sum,d=4,k=2,n=101,seed=1")
	if err != nil {
		t.Fatal(err)
	}
	var ps []*Partition
	for _, id := range []int{0, 2} {
		p, err := Load(src, 3, id, false)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	e, err := NewEngine(ps...)
	if err != nil {
		t.Fatal(err)
	}
	if e.Held() != 2 {
		t.Errorf("Held() = %d, want 2", e.Held())
	}
}

// TestStreamingReusesMemory: a streaming engine of one resident partition
// reads each partition into the memory of the one it gives up, holding
// one at a time, and reports the rows read at start.
func TestStreamingReusesMemory(t *testing.T) {
	src, err := data.ParseSynthetic("model=sum,d=4,k=2,n=101,seed=1")
	if err != nil {
		t.Fatal(err)
	}
	var loaded []int
	e, err := NewStreamingEngine(StreamConfig{Source: src, Partitions: 2, IDs: []int{0, 1}, Storage: Float64, Resident: 1,
		Loaded: func(rows int) { loaded = append(loaded, rows) }})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(loaded, []int{50, 51}) {
		t.Errorf("Loaded saw %v rows read at start, want [50 51]", loaded)
	}
	var first *float64
	for _, id := range []int{0, 1, 0} { // partition 0 has 50 rows, 1 has 51
		err := e.Use(context.Background(), id, func(p *Partition) error {
			if first == nil {
				first = &p.X[0]
			} else if &p.X[0] != first {
				t.Errorf("partition %d was read into new memory, not the evicted partition's", id)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if e.Held() != 1 {
			t.Fatalf("holds %d partitions after using partition %d", e.Held(), id)
		}
	}
}

func TestStreamingErrors(t *testing.T) {
	src, err := data.ParseSynthetic("model=sum,d=4,k=2,n=100,seed=1")
	if err != nil {
		t.Fatal(err)
	}
	ok := StreamConfig{Source: src, Partitions: 4, IDs: []int{1, 3}, Storage: Float64, Resident: 1}
	for _, c := range []struct {
		name string
		edit func(*StreamConfig)
		want string
	}{
		{"no source", func(c *StreamConfig) { c.Source = nil }, "no data source"},
		{"resident 0", func(c *StreamConfig) { c.Resident = 0 }, "0 resident partitions"},
		{"no partitions", func(c *StreamConfig) { c.IDs = nil }, "serves 0 of 4"},
		{"out of range", func(c *StreamConfig) { c.IDs = []int{1, 4} }, "partition 4 out of range"},
		{"repeated", func(c *StreamConfig) { c.IDs = []int{3, 3} }, "partition 3 given twice"},
		{"storage", func(c *StreamConfig) { c.Storage = "float16" }, "float16"},
		{"data", func(c *StreamConfig) {
			f := &failing{Source: src, failFrom: 60}
			f.fail.Store(true)
			c.Source = f
		}, "loading partition 3 (rows 75..100): disk on fire"},
	} {
		cfg := ok
		c.edit(&cfg)
		_, err := NewStreamingEngine(cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}

	// A read that fails later is the computation's error; the engine goes
	// on once the data can be read again.
	f := &failing{Source: src, failFrom: 60}
	cfg := ok
	cfg.Source = f
	e, err := NewStreamingEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := src.Teacher()
	ctx := context.Background()
	for _, req := range []msg.Request{
		&msg.StatsRequest{D: 4, Signs: spec.Signs, U: make([]float64, 8)},
		&msg.DeepRequest{Net: data.RandomNet(model.NewNet(4, 2), 1), Layers: []int{1}},
		&msg.Moments12Request{D: 4, Order: 2},
		&msg.Moment4Request{D: 4, K: 1, V: make([]float64, 4)},
	} {
		f.fail.Store(true)
		if _, err := e.Fetch(ctx, req, msg.Leaf(3)); !errors.Is(err, msg.ErrData) || !strings.Contains(err.Error(), "loading partition 3") {
			t.Fatalf("%s with a failing read: %v, want msg.ErrData naming the partition", req.Kind(), err)
		}
		if e.Held() != 0 {
			t.Fatalf("holds %d partitions after a failed read", e.Held())
		}
		f.fail.Store(false)
		if _, err := e.Fetch(ctx, req, msg.Leaf(3)); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Fetch(ctx, req, msg.Leaf(2)); !errors.Is(err, msg.ErrNoPartition) {
			t.Fatalf("%s of a partition not served: %v", req.Kind(), err)
		}
		if err := e.Use(ctx, 1, func(*Partition) error { return nil }); err != nil { // evicts partition 3
			t.Fatal(err)
		}
	}
	if err := e.Use(ctx, 2, func(*Partition) error { return nil }); !errors.Is(err, msg.ErrNoPartition) {
		t.Fatalf("Use of a partition not served: %v", err)
	}
}
