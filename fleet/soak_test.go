package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"

	"altmin/coordinator"
	"altmin/data"
	"altmin/model"
	"altmin/msg"
	"altmin/round"
)

// The randomized fault soak: training runs of both model families through
// the fleet over in-memory shards, under seeded random schedules of
// faults, on a fake clock that advances to each timer as it is armed (no
// run waits on the wall clock). The invariant: a run ends with weights
// bit-identical to the fault-free run's, or stops with an error naming a
// partition; it never hangs and never ends with other bits.
//
//	go test ./fleet -run TestSoak                  # the short soak (150 schedules)
//	go test ./fleet -run TestSoak -soak 10000      # the long one
//	go test ./fleet -run TestSoak -soak.seed 1234  # replay one schedule

var (
	soakRuns = flag.Int("soak", 150, "fault schedules of TestSoak (the long soak: 10000)")
	soakSeed = flag.Int64("soak.seed", -1, "replay the one schedule of this seed in TestSoak")
)

// The kinds of faults a schedule injects.
const (
	faultKill      = iota // a call fails at once (the shard's process died)
	faultHang             // a call never answers: its deadline cancels it
	faultDelay            // a call answers late: after the hedge
	faultDrop             // a call's reply is lost (an error)
	faultCorrupt          // a reply with a non-finite value
	faultStale            // a reply of another round
	faultDuplicate        // a partial offered to the core twice
	faultOldOffer         // a partial of an earlier round offered to the core
	faultShardDown        // a shard leaves the view between rounds
	faultShardBack        // shards that left rejoin between rounds
	faultTwoDown          // both holders of some partitions leave
	faultRestart          // the coordinator restarts from its checkpoint
	numFaults
)

var faultNames = [numFaults]string{"kill", "hang", "delay", "drop", "corrupt", "stale", "duplicate", "stale offer", "shard down", "shard rejoin", "two shards down", "coordinator restart"}

// soakFamily is a model family of the soak: how to make a core at the
// start, and its fault-free final weights.
type soakFamily struct {
	name  string
	core  func() (coordinator.Core, error)
	clean string // the fault-free final weights' bits
}

// netBits returns the bits of every weight of n.
func netBits(n *model.Net) string {
	var b strings.Builder
	for _, w := range append(append([][]float64(nil), n.W...), n.Skip) {
		for _, v := range w {
			fmt.Fprintf(&b, "%x,", math.Float64bits(v))
		}
		b.WriteByte(';')
	}
	return b.String()
}

// soakFamilies returns the families: a 1-hidden-layer model with damping,
// the ridge penalty and revival, and a deep network.
func soakFamilies(t *testing.T, c *cluster) []*soakFamily {
	spec := model.Spec{Kind: model.Sum, D: c.d, K: 2, Signs: []float64{1, -1}}
	u0 := make([]float64, spec.K*spec.D)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range u0 {
		u0[i] = rng.NormFloat64() / math.Sqrt(float64(spec.D))
	}
	shallow := func() (coordinator.Core, error) {
		return coordinator.NewShallow(coordinator.ShallowConfig{Spec: spec, Partitions: parts, MaxIters: 6,
			Damping: coordinator.DefaultDamping(), Ridge: coordinator.DefaultRidge(), Revive: true, Seed: 3}, u0)
	}
	init := data.RandomNet(model.NewNet(c.d, 3, 2), 1)
	deep := func() (coordinator.Core, error) {
		return coordinator.NewDeep(coordinator.DeepConfig{Partitions: parts, MaxIters: 2}, init)
	}
	fams := []*soakFamily{{name: "shallow (damping, ridge, revival)", core: shallow}, {name: "deep", core: deep}}
	for _, f := range fams {
		core, err := f.core()
		if err != nil {
			t.Fatal(err)
		}
		d := &coordinator.Driver{Core: core, Fetcher: c.all, Parallel: 1}
		if _, err := d.Run(context.Background()); err != nil {
			t.Fatalf("%s, fault-free: %v", f.name, err)
		}
		f.clean = netBits(core.State().Net)
	}
	return fams
}

// soakCounts counts the faults injected and the outcomes.
type soakCounts struct {
	faults             [numFaults]atomic.Int64
	identical, stopped atomic.Int64
}

// schedule is one seeded random schedule of faults.
type schedule struct {
	seed   int64
	counts *soakCounts

	mu    sync.Mutex
	calls map[string]int // (round, partition, shard) -> calls so far
	old   msg.Partial    // a partial of an earlier round, for stale offers
}

// draw returns a decision for one event, from a generator seeded by the
// schedule's seed and the event's key alone (not by the order in which
// concurrent events happen).
func (s *schedule) draw(key string) float64 {
	s.mu.Lock()
	s.calls[key]++
	n := s.calls[key]
	s.mu.Unlock()
	h := uint64(s.seed)
	for _, c := range fmt.Sprintf("%s#%d", key, n) {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return rand.New(rand.NewPCG(h, uint64(s.seed))).Float64()
}

// caller returns c with faults injected into its calls, and the replies
// checked as the transport's client checks them (a reply of another
// round, partition or with a non-finite value is an error, never an
// answer).
func (s *schedule) caller(c Caller) Caller {
	return CallerFunc(func(ctx context.Context, m Member, req msg.Request, p msg.Span) (msg.Partial, error) {
		x := s.draw(fmt.Sprintf("call %d/%s/%s", req.Round(), spanKey(p), m.ID))
		fault := -1
		switch {
		case x < 0.06:
			fault = faultKill
		case x < 0.10:
			fault = faultHang
		case x < 0.14:
			fault = faultDelay
		case x < 0.19:
			fault = faultDrop
		case x < 0.24:
			fault = faultCorrupt
		case x < 0.29:
			fault = faultStale
		}
		if fault >= 0 {
			s.counts.faults[fault].Add(1)
		}
		switch fault {
		case faultKill, faultDrop:
			return nil, ErrInjected
		case faultHang:
			<-ctx.Done()
			return nil, ctx.Err()
		case faultDelay:
			t := time.NewTimer(3 * time.Second) // after the hedge (1 s), before the deadline (5 s)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		v, err := c.Call(ctx, m, req, p)
		if err != nil {
			return nil, err
		}
		switch fault {
		case faultCorrupt:
			corrupt(v)
		case faultStale:
			stale(v)
		}
		// The transport client's checks of a reply.
		if v.Span() != p || v.Round() != req.Round() {
			v.Release(nil)
			return nil, fmt.Errorf("%w: reply of %s, round %d", msg.ErrInvalid, v.Span(), v.Round())
		}
		if err := v.Check(req); err != nil {
			v.Release(nil)
			return nil, err
		}
		return v, nil
	})
}

// spanKey names span s in the keys of draw: a single partition by its
// number alone, as the keys were before spans, so that a seed replays the
// same schedule.
func spanKey(s msg.Span) string {
	if s.N == 1 {
		return fmt.Sprint(s.Lo)
	}
	return fmt.Sprintf("%d+%d", s.Lo, s.N)
}

// corrupt puts a NaN into p's statistics.
func corrupt(p msg.Partial) {
	switch q := p.(type) {
	case *msg.Stats:
		q.Gram[len(q.Gram)/2] = math.NaN()
	case *msg.DeepStats:
		q.Systems[0].R[0] = math.Inf(1)
	}
}

// stale makes p a partial of the previous round.
func stale(p msg.Partial) {
	switch q := p.(type) {
	case *msg.Stats:
		q.Iter--
	case *msg.DeepStats:
		q.Step--
	}
}

// clonePartial returns a copy of p whose buffers p does not share.
func clonePartial(p msg.Partial) msg.Partial {
	switch q := p.(type) {
	case *msg.Stats:
		c := *q
		c.R, c.Gram = append([]float64(nil), q.R...), append([]float64(nil), q.Gram...)
		return &c
	case *msg.DeepStats:
		c := *q
		c.Systems = nil
		for _, sy := range q.Systems {
			sy.R, sy.Gram = append([]float64(nil), sy.R...), append([]float64(nil), sy.Gram...)
			c.Systems = append(c.Systems, sy)
		}
		return &c
	}
	return nil
}

// soakCore is a core whose partials are also offered again (duplicates)
// or replaced for a moment by a partial of an earlier round (stale
// offers): the core must refuse both and reduce nothing of them.
type soakCore struct {
	coordinator.Core
	s   *schedule
	err error // the first refusal that was not the one expected
}

func (c *soakCore) Offer(p msg.Partial) error {
	s := c.s
	key := fmt.Sprintf("offer %d/%s", p.Round(), spanKey(p.Span()))
	x := s.draw(key)
	s.mu.Lock()
	old := s.old
	s.mu.Unlock()
	if x < 0.05 && old != nil && old.Round() != p.Round() {
		s.counts.faults[faultOldOffer].Add(1)
		if err := c.Core.Offer(clonePartial(old)); !errors.Is(err, round.ErrStale) && c.err == nil {
			c.err = fmt.Errorf("stale offer of %s: %v, want round.ErrStale", old.Span(), err)
		}
	}
	dup := clonePartial(p)
	if err := c.Core.Offer(p); err != nil {
		return err
	}
	if x > 0.9 {
		s.counts.faults[faultDuplicate].Add(1)
		if err := c.Core.Offer(dup); !errors.Is(err, round.ErrDuplicate) && c.err == nil {
			c.err = fmt.Errorf("duplicate of %s: %v, want round.ErrDuplicate", dup.Span(), err)
		}
	}
	s.mu.Lock()
	s.old = dup
	s.mu.Unlock()
	return nil
}

var errRestart = errors.New("soak: the coordinator restarts")

// namesPartition matches an error naming the partition it is about.
var namesPartition = regexp.MustCompile(`partition \d+`)

// run runs the family under the schedule's faults: the coordinator may
// restart from its checkpoint (the core's State through JSON) between
// rounds, shards leave the view and rejoin. It returns the final weights'
// bits, or the error that stopped the run.
func (s *schedule) run(t *testing.T, c *cluster, fam *soakFamily) (string, error) {
	view := NewStaticView(c.members...)
	caller := s.caller(c.engines)
	core, err := fam.core()
	if err != nil {
		t.Fatal(err)
	}
	down := map[string]bool{}
	setView := func() {
		var ms []Member
		for _, m := range c.members {
			if !down[m.ID] {
				ms = append(ms, m)
			}
		}
		view.Set(ms...)
	}
	for restarts := 0; ; restarts++ {
		// Partitions set: the coordinator asks for the spans a shard holds
		// whole (shards 1 and 3 hold aligned pairs), halving them when
		// their holder fails.
		f := New(Config{Partitions: parts, CallTimeout: 5 * time.Second, HedgeAfter: time.Second, RejoinTimeout: 30 * time.Second,
			RetryDelay: 200 * time.Millisecond, Log: zap.NewNop()}, view, caller)
		sc := &soakCore{Core: core, s: s}
		d := &coordinator.Driver{Core: sc, Fetcher: f, Parallel: 1,
			OnReport: func(rep coordinator.Report, _ coordinator.Timing) error {
				if sc.err != nil {
					return sc.err
				}
				key := fmt.Sprintf("between %d/%d", rep.Iter, rep.Step)
				switch x := s.draw(key); {
				case x < 0.15 && len(down) == 0:
					s.counts.faults[faultShardDown].Add(1)
					down[c.members[int(x*1000)%len(c.members)].ID] = true
				case x < 0.18 && len(down) == 0:
					s.counts.faults[faultTwoDown].Add(1)
					i := int(x*1000) % len(c.members)
					down[c.members[i].ID], down[c.members[(i+1)%len(c.members)].ID] = true, true
				case x > 0.6 && len(down) > 0:
					s.counts.faults[faultShardBack].Add(1)
					clear(down)
				}
				setView()
				if s.draw(key+" restart") < 0.15 && rep.Stop == coordinator.Running {
					return errRestart
				}
				return nil
			}}
		_, err := d.Run(context.Background())
		f.Close()
		if sc.err != nil {
			return "", fmt.Errorf("soak: the core accepted what it must refuse: %w", sc.err)
		}
		if !errors.Is(err, errRestart) {
			if err != nil {
				return "", err
			}
			return netBits(core.State().Net), nil
		}
		// The checkpoint: the state as JSON, into a new core.
		s.counts.faults[faultRestart].Add(1)
		b, err := json.Marshal(core.State())
		if err != nil {
			t.Fatal(err)
		}
		var st coordinator.State
		if err := json.Unmarshal(b, &st); err != nil {
			t.Fatal(err)
		}
		if core, err = fam.core(); err != nil {
			t.Fatal(err)
		}
		if err := core.Restore(st); err != nil {
			return "", fmt.Errorf("restore: %w", err)
		}
		s.mu.Lock()
		s.old = nil
		s.mu.Unlock()
	}
}

// TestSoak runs -soak seeded random fault schedules, alternating the model
// families, and checks the invariant of each; a failure names its seed
// (replay it with -soak.seed). Each schedule runs in a synctest bubble:
// its clock advances only when every goroutine of the run is blocked, so
// deadlines, hedges, retries and the rejoin wait happen without waiting,
// in the same order on every replay, and a run that can never end is
// reported as a deadlock instead of hanging. It reports the faults
// injected by kind and the outcomes.
func TestSoak(t *testing.T) {
	var fams []*soakFamily
	synctest.Test(t, func(t *testing.T) {
		fams = soakFamilies(t, newCluster(t, synthetic(t), 4))
	})
	counts := &soakCounts{}
	seeds := make([]int64, *soakRuns)
	for i := range seeds {
		seeds[i] = int64(i)
	}
	if *soakSeed >= 0 {
		seeds = []int64{*soakSeed}
	}
	for _, seed := range seeds {
		fam := fams[seed%int64(len(fams))]
		synctest.Test(t, func(t *testing.T) {
			c := newCluster(t, synthetic(t), 4)
			s := &schedule{seed: seed, counts: counts, calls: map[string]int{}}
			bits, err := s.run(t, c, fam)
			switch {
			case err == nil && bits == fam.clean:
				counts.identical.Add(1)
			case err == nil:
				t.Fatalf("seed %d (%s): the weights differ from the fault-free run's (replay: go test ./fleet -run TestSoak -soak.seed %d)", seed, fam.name, seed)
			case namesPartition.MatchString(err.Error()) && !strings.Contains(err.Error(), "soak:"):
				counts.stopped.Add(1)
				t.Logf("seed %d (%s): stopped: %v", seed, fam.name, err)
			default:
				t.Fatalf("seed %d (%s): %v (replay: go test ./fleet -run TestSoak -soak.seed %d)", seed, fam.name, err, seed)
			}
		})
		if t.Failed() {
			return
		}
	}
	var kinds []string
	for k := range numFaults {
		kinds = append(kinds, fmt.Sprintf("%s %d", faultNames[k], counts.faults[k].Load()))
	}
	t.Logf("soak: %d schedules, families alternating; faults injected: %s; outcomes: %d bit-identical, %d stopped with an error naming the partition",
		len(seeds), strings.Join(kinds, ", "), counts.identical.Load(), counts.stopped.Load())
}
