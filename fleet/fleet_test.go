package fleet

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"altmin/coordinator"
	"altmin/data"
	"altmin/model"
	"altmin/shard"
)

const parts = 8

type problem struct {
	spec  model.Spec
	u0    []float64
	parts []*shard.Partition
}

func newProblem(t *testing.T) *problem {
	t.Helper()
	g, err := data.ParseSynthetic("model=sum,d=10,k=3,n=1200,seed=7")
	if err != nil {
		t.Fatal(err)
	}
	spec, wstar := g.Teacher()
	pr := &problem{spec: spec, u0: make([]float64, len(wstar))}
	for i, w := range wstar {
		pr.u0[i] = w + 0.3*math.Sin(float64(i)) // a fixed, deterministic perturbation
	}
	for p := 0; p < parts; p++ {
		pt, err := shard.Load(g, parts, p, false)
		if err != nil {
			t.Fatal(err)
		}
		pr.parts = append(pr.parts, pt)
	}
	return pr
}

// cluster builds n shards with replication 2: shard s holds the partitions
// p with p%n == s or (p+1)%n == s.
func (pr *problem) cluster(t *testing.T, n int) (Engines, []Member) {
	t.Helper()
	engines := Engines{}
	var members []Member
	for s := 0; s < n; s++ {
		var held []*shard.Partition
		var ids []int
		for p, pt := range pr.parts {
			if p%n == s || (p+1)%n == s {
				held = append(held, pt)
				ids = append(ids, p)
			}
		}
		eng, err := shard.NewEngine(held...)
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("shard-%d", s)
		engines[id] = eng
		members = append(members, Member{ID: id, Addr: id, Partitions: ids})
	}
	return engines, members
}

func (pr *problem) train(t *testing.T, f coordinator.Fetcher) []float64 {
	t.Helper()
	core, err := coordinator.NewCore(coordinator.Config{Spec: pr.spec, Partitions: parts, MaxIters: 30, Tol: 0}, pr.u0)
	if err != nil {
		t.Fatal(err)
	}
	d := &coordinator.Driver{Core: core, Fetcher: f, Log: zaptest.NewLogger(t)}
	rep, err := d.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep.U
}

func (pr *problem) reference(t *testing.T) []float64 {
	eng, err := shard.NewEngine(pr.parts...)
	if err != nil {
		t.Fatal(err)
	}
	return pr.train(t, coordinator.LocalFetcher{Engine: eng})
}

func TestHolders(t *testing.T) {
	ms := []Member{{ID: "c", Partitions: []int{1, 2}}, {ID: "a", Partitions: []int{1}}, {ID: "b", Partitions: []int{2}}}
	ids := func(hs []Member) (s []string) {
		for _, h := range hs {
			s = append(s, h.ID)
		}
		return s
	}
	if got := ids(Holders(ms, 1)); !slices.Equal(got, []string{"c", "a"}) {
		t.Errorf("holders of 1 = %v, want [c a] (sorted, rotated by 1)", got)
	}
	if got := ids(Holders(ms, 2)); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("holders of 2 = %v, want [b c]", got)
	}
	if got := Missing(ms, 4); !slices.Equal(got, []int{0, 3}) {
		t.Errorf("missing = %v, want [0 3]", got)
	}
}

// TestSchedule: partitions held in contiguous ranges are requested round
// robin over their first holders, so that a bounded number of requests in
// flight reaches different shards; partitions nobody holds form one more
// queue, placed by first appearance.
func TestSchedule(t *testing.T) {
	ms := []Member{{ID: "s1", Partitions: []int{0, 1, 2}}, {ID: "s2", Partitions: []int{3, 4, 5}}, {ID: "s3", Partitions: []int{6, 7}}}
	f := New(Config{}, NewStaticView(ms...), Engines{})
	defer f.Close()
	if got, want := f.Schedule([]int{0, 1, 2, 3, 4, 5, 6, 7, 9}), []int{0, 3, 6, 9, 1, 4, 7, 2, 5}; !slices.Equal(got, want) {
		t.Errorf("Schedule = %v, want %v", got, want)
	}
	if got := f.Schedule([]int{4, 5}); !slices.Equal(got, []int{4, 5}) {
		t.Errorf("Schedule of one shard's partitions = %v, want them in order", got)
	}
	if got := (DeepFetcher{F: f}).Schedule([]int{1, 2, 7}); !slices.Equal(got, []int{1, 7, 2}) {
		t.Errorf("DeepFetcher.Schedule = %v, want [1 7 2]", got)
	}
}

// TestFaultsBitIdentical drives real shard engines through fault decorators
// and checks that the weights are bit-identical to the in-process run.
func TestFaultsBitIdentical(t *testing.T) {
	pr := newProblem(t)
	want := pr.reference(t)
	engines, members := pr.cluster(t, 4)
	never := make(chan struct{})
	cases := []struct {
		name  string
		wrap  func(Caller) Caller
		hedge time.Duration
	}{
		{"healthy", func(c Caller) Caller { return c }, 0},
		{"fail call 5", func(c Caller) Caller { return FailNth(c, 5) }, 0},
		{"shard-1 dead from iteration 2", func(c Caller) Caller {
			return FailWhen(c, func(m Member, req *shard.Request, p int) bool { return m.ID == "shard-1" && req.Iter >= 2 })
		}, 0},
		{"drop 30%", func(c Caller) Caller { return Drop(c, 0.3, 42) }, 0},
		{"shard-2 hangs, hedged", func(c Caller) Caller {
			return BlockWhen(c, never, func(m Member, req *shard.Request, p int) bool { return m.ID == "shard-2" })
		}, time.Millisecond},
		{"composed", func(c Caller) Caller {
			return Drop(FailNth(FailWhen(c, func(m Member, req *shard.Request, p int) bool { return m.ID == "shard-0" && p == 0 }), 3), 0.1, 9)
		}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			view := NewStaticView(members...)
			f := New(Config{HedgeAfter: tc.hedge, RejoinTimeout: 10 * time.Second, RetryDelay: time.Millisecond, Log: zaptest.NewLogger(t)}, view, tc.wrap(engines))
			defer f.Close()
			got := pr.train(t, f)
			if !slices.Equal(got, want) {
				t.Fatalf("weights differ from the fault-free in-process run")
			}
		})
	}
}

// TestBothReplicasDead checks that a partition whose replicas are all gone
// fails within the rejoin timeout with an error naming it and its shards.
func TestBothReplicasDead(t *testing.T) {
	pr := newProblem(t)
	engines, members := pr.cluster(t, 4)
	// Partition 1 lives on shard-1 and shard-0. Remove both from the view.
	var alive []Member
	for _, m := range members {
		if m.ID != "shard-0" && m.ID != "shard-1" {
			alive = append(alive, m)
		}
	}
	view := NewStaticView(alive...)
	f := New(Config{RejoinTimeout: 50 * time.Millisecond, Log: zaptest.NewLogger(t)}, view, engines)
	defer f.Close()
	core, err := coordinator.NewCore(coordinator.Config{Spec: pr.spec, Partitions: parts, MaxIters: 5}, pr.u0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&coordinator.Driver{Core: core, Fetcher: f}).Run(context.Background())
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	t.Log(err)
}

// TestRejoin checks that a partition whose only holder is gone is fetched
// once a shard holding it rejoins within the rejoin timeout.
func TestRejoin(t *testing.T) {
	pr := newProblem(t)
	want := pr.reference(t)
	engines, members := pr.cluster(t, 4)
	view := NewStaticView(members[2:]...)
	// Partitions 0 and 1 are held only by shards 0 and 1, which are not in
	// the view at first. They rejoin once the first call reaches a live
	// shard, while the fetches of partitions 0 and 1 are waiting.
	first := make(chan struct{})
	var once sync.Once
	caller := Hook(engines, func(context.Context, Member, *shard.Request, int) error {
		once.Do(func() { close(first) })
		return nil
	})
	go func() {
		<-first
		view.Set(members...)
	}()
	f := New(Config{RejoinTimeout: 10 * time.Second, Log: zaptest.NewLogger(t)}, view, caller)
	defer f.Close()
	core, err := coordinator.NewCore(coordinator.Config{Spec: pr.spec, Partitions: parts, MaxIters: 30}, pr.u0)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := (&coordinator.Driver{Core: core, Fetcher: f}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.U, want) {
		t.Fatal("weights differ after rejoin")
	}
}

// TestAllowDegraded checks that with AllowDegraded an unavailable
// partition is left out, loudly, instead of stopping training, and that
// without it nothing is left out silently.
func TestAllowDegraded(t *testing.T) {
	pr := newProblem(t)
	engines, members := pr.cluster(t, 4)
	var alive []Member
	for _, m := range members {
		if m.ID != "shard-0" && m.ID != "shard-1" {
			alive = append(alive, m)
		}
	}
	f := New(Config{RejoinTimeout: time.Millisecond, Log: zaptest.NewLogger(t)}, NewStaticView(alive...), engines)
	defer f.Close()
	core, err := coordinator.NewCore(coordinator.Config{Spec: pr.spec, Partitions: parts, MaxIters: 3}, pr.u0)
	if err != nil {
		t.Fatal(err)
	}
	var skipped [][]int
	d := &coordinator.Driver{Core: core, Fetcher: f, AllowDegraded: true, Log: zaptest.NewLogger(t),
		OnReport: func(r coordinator.Report, _ coordinator.Timing) error {
			skipped = append(skipped, r.Skipped)
			return nil
		}}
	rep, err := d.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Partitions 0 and 4 live on shard-0 and shard-1 only.
	for i, s := range skipped {
		if !slices.Equal(s, []int{0, 4}) {
			t.Errorf("iteration %d skipped %v, want [0 4]", i, s)
		}
	}
	if rep.Stop != coordinator.IterLimit || rep.Rows != 1200-300 {
		t.Errorf("stop %s with %d rows, want iteration-limit with 900 rows", rep.Stop, rep.Rows)
	}
}

// brokenAfter is a data source whose reads of rows from row from on fail
// once broken is set: data that break after a streaming shard checked them.
type brokenAfter struct {
	data.Source
	from   int
	broken atomic.Bool
}

func (b *brokenAfter) Read(lo, hi int, x, y []float64) error {
	if b.broken.Load() && hi > b.from {
		return fmt.Errorf("%w: read at row %d failed", data.ErrSize, b.from)
	}
	return b.Source.Read(lo, hi, x, y)
}

// TestUnreadableDataFailsAtOnce: when every replica of a partition fails
// to read its rows (streaming shards whose data broke), the fetch fails at
// once with shard.ErrData, even with a long rejoin timeout, and a run with
// AllowDegraded stops with that error instead of leaving the partition
// out.
func TestUnreadableDataFailsAtOnce(t *testing.T) {
	g, err := data.ParseSynthetic("model=sum,d=10,k=3,n=1200,seed=7")
	if err != nil {
		t.Fatal(err)
	}
	src := &brokenAfter{Source: g, from: 1100} // partition 7 of 8
	engines := Engines{}
	var members []Member
	for s := 0; s < 2; s++ { // both shards hold every partition
		ids := []int{0, 1, 2, 3, 4, 5, 6, 7}
		eng, err := shard.NewStreamingEngine(shard.StreamConfig{Source: src, Partitions: parts, IDs: ids, Storage: shard.Float64, Resident: 1})
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("shard-%d", s)
		engines[id] = eng
		members = append(members, Member{ID: id, Addr: id, Partitions: ids})
	}
	src.broken.Store(true)
	f := New(Config{RejoinTimeout: time.Hour, RetryDelay: time.Millisecond, Log: zaptest.NewLogger(t)}, NewStaticView(members...), engines)
	defer f.Close()
	spec, w := g.Teacher()
	core, err := coordinator.NewCore(coordinator.Config{Spec: spec, Partitions: parts, MaxIters: 3}, w)
	if err != nil {
		t.Fatal(err)
	}
	d := &coordinator.Driver{Core: core, Fetcher: f, AllowDegraded: true, Log: zaptest.NewLogger(t)}
	_, err = d.Run(context.Background())
	if !errors.Is(err, shard.ErrData) || errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "partition 7") {
		t.Fatalf("run on unreadable data: %v, want shard.ErrData naming partition 7", err)
	}
	t.Logf("error: %v", err)
}
