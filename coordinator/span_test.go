package coordinator_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"altmin/coordinator"
	"altmin/msg"
	"altmin/shard"
)

// spanPlanner asks an engine holding every partition for spans of them
// (round.Planner): every round, the partitions missing cut into a seeded
// random mix of nodes of the reduction tree, which the engine adds up
// itself; it records the spans asked. The engine's partition count must
// be set (SetPartitionCount) before it is used.
type spanPlanner struct {
	eng   *shard.Engine
	mu    sync.Mutex
	rng   *rand.Rand
	asked []msg.Span
}

func newSpanPlanner(eng *shard.Engine, seed uint64) *spanPlanner {
	return &spanPlanner{eng: eng, rng: rand.New(rand.NewPCG(seed, 3))}
}

func (s *spanPlanner) Plan(missing []int, parts int) []msg.Span {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []msg.Span
	var cut func(sp msg.Span)
	cut = func(sp msg.Span) {
		if sp.N == 1 || s.rng.IntN(3) == 0 {
			out = append(out, sp)
			return
		}
		for _, c := range sp.Children(parts) {
			cut(c)
		}
	}
	for _, sp := range msg.Cover(parts, func(p int) bool { return slices.Contains(missing, p) }) {
		cut(sp)
	}
	s.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func (s *spanPlanner) Fetch(ctx context.Context, req msg.Request, sp msg.Span) (msg.Partial, error) {
	s.mu.Lock()
	s.asked = append(s.asked, sp)
	s.mu.Unlock()
	return s.eng.Fetch(ctx, req, sp)
}

// A core's sums are the same bits whatever spans the partitions' partials
// come in: the Driver asking a planner for random mixes of spans, which
// the engine adds up, reports what the core offered every partition alone,
// in partition order, reports.
func TestDriverSpans(t *testing.T) {
	pr := planted(t, "model=sum,d=6,k=3,n=900,seed=21,signs=alternate", 7)
	u0 := pr.perturbed(4, 0.4)
	pr.eng.SetPartitionCount(pr.P)
	want := reference(t, pr, u0, 8)
	for _, par := range []int{1, 3, 0} {
		f := newSpanPlanner(pr.eng, uint64(par))
		got := pr.train(t, u0, 8, 0, f, par)
		if len(got) != len(want) {
			t.Fatalf("parallel %d: %d iterations, want %d", par, len(got), len(want))
		}
		for i := range want {
			if !sameReport(got[i], want[i]) {
				t.Fatalf("parallel %d: iteration %d differs from the leaves in partition order:\n%+v\n%+v", par, i, got[i], want[i])
			}
		}
		wide := 0
		for _, sp := range f.asked {
			if sp.N > 1 {
				wide++
			}
		}
		if wide == 0 {
			t.Errorf("parallel %d: no span of several partitions asked (%v)", par, f.asked)
		}
		t.Logf("parallel %d: %s", par, fmt.Sprint(f.asked[:min(len(f.asked), 12)]))
	}
}

// The same with a core of the reference offered the spans directly, in a
// random order, including the whole set at once (the root).
func TestCoreOfferedSpans(t *testing.T) {
	pr := planted(t, "model=sum,d=5,k=2,n=600,seed=22", 6)
	u0 := pr.perturbed(5, 0.4)
	pr.eng.SetPartitionCount(pr.P)
	want := reference(t, pr, u0, 6)
	c := newCore(t, coordinator.ShallowConfig{Spec: pr.spec, Partitions: pr.P, MaxIters: 6}, u0)
	rng := rand.New(rand.NewPCG(22, 0))
	plans := [][]msg.Span{
		{msg.Root(pr.P)},
		{{Lo: 4, N: 2}, {Lo: 0, N: 4}},
		{{Lo: 2, N: 2}, msg.Leaf(5), msg.Leaf(0), msg.Leaf(1), msg.Leaf(4)},
	}
	for i := 0; ; i++ {
		plan := slices.Clone(plans[i%len(plans)])
		rng.Shuffle(len(plan), func(a, b int) { plan[a], plan[b] = plan[b], plan[a] })
		for _, sp := range plan {
			v, err := pr.eng.Fetch(context.Background(), c.Request(), sp)
			if err != nil {
				t.Fatal(err)
			}
			offer(t, c, v)
		}
		r := advance(t, c)
		if i >= len(want) || !sameReport(r, want[i]) {
			t.Fatalf("iteration %d (spans %v): the report differs from the leaves in partition order", i, plan)
		}
		if r.Stop != coordinator.Running {
			if i != len(want)-1 {
				t.Fatalf("stopped at iteration %d, the reference at %d", i, len(want)-1)
			}
			return
		}
	}
}
