package fleet

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"altmin/data"
	"altmin/model"
	"altmin/msg"
	"altmin/shard"
)

const parts = 8

// cluster is n in-memory shards over the partitions of a data set, with
// replication 2: shard s holds the partitions p with p%n == s or
// (p+1)%n == s. all computes every partition in process: the reference.
type cluster struct {
	engines Engines
	members []Member
	all     *shard.Engine
	d       int // features per row
}

func newCluster(t *testing.T, src data.Source, n int) *cluster {
	t.Helper()
	var ps []*shard.Partition
	for p := range parts {
		pt, err := shard.Load(src, parts, p, false)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, pt)
	}
	all, err := shard.NewEngine(ps...)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{engines: Engines{}, all: all, d: ps[0].D}
	for s := range n {
		var held []*shard.Partition
		var ids []int
		for p, pt := range ps {
			if p%n == s || (p+1)%n == s {
				held, ids = append(held, pt), append(ids, p)
			}
		}
		eng, err := shard.NewEngine(held...)
		if err != nil {
			t.Fatal(err)
		}
		eng.SetPartitionCount(parts) // spans, for fetchers told P
		id := fmt.Sprintf("shard-%d", s)
		c.engines[id] = eng
		c.members = append(c.members, Member{ID: id, Addr: id, Partitions: ids})
	}
	return c
}

// without returns the members but those named.
func without(ms []Member, ids ...string) []Member {
	var out []Member
	for _, m := range ms {
		skip := false
		for _, id := range ids {
			skip = skip || m.ID == id
		}
		if !skip {
			out = append(out, m)
		}
	}
	return out
}

// reference returns every partition's partial for req, computed in
// process.
func (c *cluster) reference(t *testing.T, req msg.Request) []msg.Partial {
	t.Helper()
	out := make([]msg.Partial, parts)
	for p := range out {
		v, err := c.all.Fetch(context.Background(), req, msg.Leaf(p))
		if err != nil {
			t.Fatal(err)
		}
		out[p] = v
	}
	return out
}

func synthetic(t *testing.T) *data.Synthetic {
	t.Helper()
	g, err := data.ParseSynthetic("model=sum,d=6,k=2,n=400,seed=1")
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// statsReqs returns the requests of iterations 0..n-1 of a model of k
// neurons over d features, at weights that move every iteration.
func statsReqs(d, k, n int) []msg.Request {
	var out []msg.Request
	var prev []float64
	signs := make([]float64, k)
	for q := range signs {
		signs[q] = float64(1 - 2*(q%2))
	}
	for it := range n {
		u := make([]float64, k*d)
		for i := range u {
			u[i] = math.Sin(float64((i + 1) * (it + 2)))
		}
		out = append(out, &msg.StatsRequest{Iter: it, D: d, Signs: signs, U: u, Prev: prev})
		prev = u
	}
	return out
}

// momentReqs returns the three moment passes of the tensor initialization
// over d features, with a baseline and a projection of order 2.
func momentReqs(d int) []msg.Request {
	base := &msg.Baseline{C: 0.1, B: make([]float64, d)}
	v := make([]float64, 2*d)
	for i := range v {
		v[i] = math.Cos(float64(i))
	}
	for i := range base.B {
		base.B[i] = 0.01 * float64(i)
	}
	return []msg.Request{
		&msg.Moments12Request{D: d, Order: 1},
		&msg.Moments12Request{D: d, Order: 2, Base: base},
		&msg.Moment4Request{D: d, K: 2, V: v, Base: base},
	}
}

// deepReqs returns n solve steps of a deep network near teacher, joint
// and per layer in turn.
func deepReqs(teacher *model.Net, n int) []msg.Request {
	var out []msg.Request
	var prev *model.Net
	for s := range n {
		net := data.PerturbNet(teacher, 0.2, uint64(s+3))
		out = append(out, &msg.DeepRequest{Step: s, Net: net, Layers: []int{1, 2}, Joint: s%2 == 0, Prev: prev})
		prev = net
	}
	return out
}

// same reports whether two partials are the same bits: %v prints every
// float64 in its shortest form that reads back exactly.
func same(a, b msg.Partial) bool {
	return fmt.Sprintf("%T %+v", a, a) == fmt.Sprintf("%T %+v", b, b)
}

// fetchAll fetches every partition's partial for req at once, as a round
// does.
func fetchAll(f msg.Fetcher, req msg.Request) ([]msg.Partial, []error) {
	got, errs := make([]msg.Partial, parts), make([]error, parts)
	var wg sync.WaitGroup
	for p := range parts {
		wg.Go(func() { got[p], errs[p] = f.Fetch(context.Background(), req, msg.Leaf(p)) })
	}
	wg.Wait()
	return got, errs
}

// checkRound fetches every partition for req through f and fails unless
// each partial is the bits of want.
func checkRound(t *testing.T, f msg.Fetcher, req msg.Request, want []msg.Partial) {
	t.Helper()
	got, errs := fetchAll(f, req)
	for p := range parts {
		if errs[p] != nil {
			t.Fatalf("%s round %d, partition %d: %v", req.Kind(), req.Round(), p, errs[p])
		}
		if !same(got[p], want[p]) {
			t.Fatalf("%s round %d, partition %d: partial differs from the in-process one", req.Kind(), req.Round(), p)
		}
	}
}

func newFetcher(t *testing.T, cfg Config, view View, c Caller) *Fetcher {
	cfg.Log = zaptest.NewLogger(t)
	f := New(cfg, view, c)
	t.Cleanup(f.Close)
	return f
}

// autoClock returns a fake clock advancing to each timer as it is armed
// (FakeClock.AutoAdvance) until the test ends.
func autoClock(t *testing.T) *FakeClock {
	c := NewFakeClock(t0)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		c.AutoAdvance(stop)
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
	})
	return c
}

type result struct {
	v   msg.Partial
	err error
}

// goFetch runs f.Fetch on its own goroutine.
func goFetch(ctx context.Context, f *Fetcher, req msg.Request, p msg.Span) <-chan result {
	ch := make(chan result, 1)
	go func() {
		v, err := f.Fetch(ctx, req, p)
		ch <- result{v, err}
	}()
	return ch
}

// forever is later than any timer of a test.
var forever = t0.Add(math.MaxInt64)

// awaitTimer waits until a timer due at or before at is armed on c,
// failing if the fetch ends first.
func awaitTimer(t *testing.T, c *FakeClock, at time.Time, res <-chan result) {
	t.Helper()
	select {
	case <-c.Pending(at):
	case r := <-res:
		t.Fatalf("the fetch ended (%v, %v) instead of waiting for the clock", r.v, r.err)
	}
}

// atOnce returns the fetch's result, failing if it arms a timer first:
// it waits on the clock instead of answering or failing at once.
func atOnce(t *testing.T, c *FakeClock, res <-chan result) result {
	t.Helper()
	select {
	case r := <-res:
		return r
	case <-c.Pending(forever):
		t.Fatal("the fetch waits on the clock instead of ending at once")
		return result{}
	}
}

// event is the start (end false) or the end of a call.
type event struct {
	shard string
	p     msg.Span
	end   bool
	err   error
}

// record returns a Caller that reports the start and the end of every
// call of c on the channel it returns.
func record(c Caller) (Caller, <-chan event) {
	ev := make(chan event, 256)
	return CallerFunc(func(ctx context.Context, m Member, req msg.Request, p msg.Span) (msg.Partial, error) {
		ev <- event{shard: m.ID, p: p}
		v, err := c.Call(ctx, m, req, p)
		ev <- event{shard: m.ID, p: p, end: true, err: err}
		return v, err
	}), ev
}

// expectEvent receives the next event and fails unless it is the start
// (end false) or the end of a call to shard.
func expectEvent(t *testing.T, ev <-chan event, shard string, end bool) event {
	t.Helper()
	e := <-ev
	if e.shard != shard || e.end != end {
		t.Fatalf("event %+v, want shard %s, end %v", e, shard, end)
	}
	return e
}

// noEvent fails if a call started or ended. Call it only when nothing can
// happen unless the test acts.
func noEvent(t *testing.T, ev <-chan event) {
	t.Helper()
	select {
	case e := <-ev:
		t.Fatalf("unexpected call event %+v", e)
	default:
	}
}
