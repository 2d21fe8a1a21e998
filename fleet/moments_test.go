package fleet

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"altmin/shard"
	"altmin/tensorinit"
)

var _ tensorinit.MomentSource = MomentSource{}

// tensorStart runs the tensor initialization of the problem's model over
// src, all partitions at once as the job does over a cluster.
func (pr *problem) tensorStart(t *testing.T, src tensorinit.MomentSource) (*tensorinit.Result, error) {
	t.Helper()
	cfg := tensorinit.DefaultConfig()
	cfg.Parallel = parts
	return tensorinit.Run(context.Background(), src, pr.spec, parts, cfg)
}

// sameResult fails unless a and b are bit-identical starts.
func sameResult(t *testing.T, a, b *tensorinit.Result) {
	t.Helper()
	bits := func(x, y []float64) bool {
		return slices.EqualFunc(x, y, func(u, v float64) bool { return math.Float64bits(u) == math.Float64bits(v) })
	}
	if !bits(a.W, b.W) || !bits(a.Eigenvalues, b.Eigenvalues) || !bits(a.Scales, b.Scales) ||
		math.Float64bits(a.Fit) != math.Float64bits(b.Fit) || a.Rows != b.Rows || a.Mismatched != b.Mismatched {
		t.Fatalf("start differs from the in-process one:\n got W %v\nwant W %v", a.W, b.W)
	}
}

// TestMomentFaultsBitIdentical runs the three moment passes of the tensor
// initialization through the fleet over real shard engines behind fault
// decorators, and checks that the start is bit-identical to the in-process
// one on all partitions.
func TestMomentFaultsBitIdentical(t *testing.T) {
	pr := newProblem(t)
	all, err := shard.NewEngine(pr.parts...)
	if err != nil {
		t.Fatal(err)
	}
	want, err := pr.tensorStart(t, tensorinit.EngineSource{Engine: all})
	if err != nil {
		t.Fatal(err)
	}
	engines, members := pr.cluster(t, 4)
	never := make(chan struct{})
	// Shard-0 is the first holder asked for partitions 0 and 4 (see
	// Holders); hits counts the calls it failed.
	var mu sync.Mutex
	hits := 0
	dead := func(m Member, req *shard.Request, p int) bool {
		mu.Lock()
		defer mu.Unlock()
		if req == nil && m.ID == "shard-0" {
			hits++
			return true
		}
		return false
	}
	cases := []struct {
		name  string
		wrap  func(Caller) Caller
		hedge time.Duration
	}{
		{"healthy", func(c Caller) Caller { return c }, 0},
		{"fail call 5", func(c Caller) Caller { return FailNth(c, 5) }, 0},
		{"fail call 13 (second pass)", func(c Caller) Caller { return FailNth(c, 13) }, 0},
		{"shard-0 fails every moment call", func(c Caller) Caller { return FailWhen(c, dead) }, 0},
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
			f := New(Config{HedgeAfter: tc.hedge, RejoinTimeout: 10 * time.Second, RetryDelay: time.Millisecond, Log: zaptest.NewLogger(t)},
				NewStaticView(members...), tc.wrap(engines))
			defer f.Close()
			got, err := pr.tensorStart(t, MomentSource{Fetcher: f, D: pr.spec.D})
			if err != nil {
				t.Fatal(err)
			}
			sameResult(t, got, want)
		})
	}
	if hits < 6 { // partitions 0 and 4 in each of the three passes
		t.Errorf("shard-0 failed %d moment calls, want at least 6", hits)
	}
}

// TestMomentRejoin checks that a moment pass waits for a holder of a
// partition to rejoin, and that the start is then bit-identical.
func TestMomentRejoin(t *testing.T) {
	pr := newProblem(t)
	all, err := shard.NewEngine(pr.parts...)
	if err != nil {
		t.Fatal(err)
	}
	want, err := pr.tensorStart(t, tensorinit.EngineSource{Engine: all})
	if err != nil {
		t.Fatal(err)
	}
	engines, members := pr.cluster(t, 4)
	view := NewStaticView(members[2:]...) // partition 0 is held by shards 0 and 1 only
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
	got, err := pr.tensorStart(t, MomentSource{Fetcher: f, D: pr.spec.D})
	if err != nil {
		t.Fatal(err)
	}
	sameResult(t, got, want)
}

// TestMomentReplicasDead checks that a moment pass over a partition whose
// replicas are all gone fails within the rejoin timeout, naming it.
func TestMomentReplicasDead(t *testing.T) {
	pr := newProblem(t)
	engines, members := pr.cluster(t, 4)
	f := New(Config{RejoinTimeout: 50 * time.Millisecond, Log: zaptest.NewLogger(t)}, NewStaticView(members[2:]...), engines)
	defer f.Close()
	_, err := pr.tensorStart(t, MomentSource{Fetcher: f, D: pr.spec.D})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "partition 0") {
		t.Fatalf("err = %v, want ErrUnavailable for partition 0", err)
	}
	t.Log(err)
}

// TestMomentUnsupported checks shards that do not implement the moment
// passes (an older build): another replica is asked, and when no holder of
// a partition implements them the pass fails at once, naming the shards,
// instead of waiting for the rejoin timeout.
func TestMomentUnsupported(t *testing.T) {
	pr := newProblem(t)
	all, err := shard.NewEngine(pr.parts...)
	if err != nil {
		t.Fatal(err)
	}
	want, err := pr.tensorStart(t, tensorinit.EngineSource{Engine: all})
	if err != nil {
		t.Fatal(err)
	}
	engines, members := pr.cluster(t, 4)
	old := func(ids ...string) Caller {
		return Hook(engines, func(_ context.Context, m Member, req *shard.Request, _ int) error {
			if req == nil && slices.Contains(ids, m.ID) {
				return fmt.Errorf("shard %s: %w", m.ID, errors.ErrUnsupported)
			}
			return nil
		})
	}
	// An hour: the test would hang if the fetcher waited for a rejoin.
	cfg := Config{RejoinTimeout: time.Hour, Log: zaptest.NewLogger(t)}

	f := New(cfg, NewStaticView(members...), old("shard-0", "shard-2"))
	defer f.Close()
	got, err := pr.tensorStart(t, MomentSource{Fetcher: f, D: pr.spec.D})
	if err != nil {
		t.Fatal(err)
	}
	sameResult(t, got, want)

	// Partition 1 is held by shard-1 and shard-2 only.
	g := New(cfg, NewStaticView(members...), old("shard-1", "shard-2"))
	defer g.Close()
	_, err = pr.tensorStart(t, MomentSource{Fetcher: g, D: pr.spec.D})
	if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "partition 1") ||
		!strings.Contains(err.Error(), "shard-1, shard-2") {
		t.Fatalf("err = %v, want ErrUnsupported naming partition 1 and its shards", err)
	}
	t.Log(err)

	// Step is unaffected by the moment passes' support.
	if got := pr.train(t, g); len(got) != len(pr.u0) {
		t.Fatal("training failed")
	}
}
