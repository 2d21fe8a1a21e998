package deep

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"altmin/data"
	"altmin/model"
	"altmin/shard"
)

// scripted wraps a fetcher with a fault: fail returns the error of a
// (step, partition), or nil to answer.
type scripted struct {
	inner Fetcher
	mu    sync.Mutex
	calls int
	fail  func(step, part int) error
}

func (s *scripted) Fetch(ctx context.Context, req *Request, p int) (*Partial, error) {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	if s.fail != nil {
		if err := s.fail(req.Step, p); err != nil {
			return nil, err
		}
	}
	return s.inner.Fetch(ctx, req, p)
}

func driverRun(t *testing.T, cfg Config, init *model.Net, f Fetcher, par int) (Report, error) {
	t.Helper()
	core, err := NewCore(cfg, init)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Unix(0, 0)
	d := &Driver{Core: core, Fetcher: f, Parallel: par, Log: zaptest.NewLogger(t),
		Now: func() time.Time { clock = clock.Add(time.Millisecond); return clock }}
	return d.Run(context.Background())
}

// TestDriverMatchesTrainer: the fetcher-based driver with in-process
// partitions gives the same bits as Trainer, whatever its parallelism.
func TestDriverMatchesTrainer(t *testing.T) {
	tch, err := data.NewDeepTeacher(2000, []int{8, 4, 2}, 6, "alternate")
	if err != nil {
		t.Fatal(err)
	}
	init := data.PerturbNet(tch.Net(), 0.2, 3)
	cfg := DefaultConfig()
	cfg.Schedule, cfg.Partitions, cfg.MaxIters = Joint, 5, 20
	want, _ := train(t, cfg, init, tch, nil)
	parts, err := LoadPartitions(tch, 5)
	if err != nil {
		t.Fatal(err)
	}
	for _, par := range []int{1, 3, 0} {
		f, err := NewLocalFetcher(parts...)
		if err != nil {
			t.Fatal(err)
		}
		got, err := driverRun(t, cfg, init, f, par)
		if err != nil {
			t.Fatal(err)
		}
		if got.Iter != want.Iter || got.Stop != want.Stop || relChange(got.Net, want.Net) != 0 {
			t.Errorf("parallel %d: %d iterations (%s), want %d (%s); weights differ by %.3g", par, got.Iter, got.Stop, want.Iter, want.Stop, relChange(got.Net, want.Net))
		}
		for l := range want.Net.W {
			for i, v := range want.Net.W[l] {
				if math.Float64bits(v) != math.Float64bits(got.Net.W[l][i]) {
					t.Fatalf("parallel %d: layer %d weight %d differs", par, l+1, i)
				}
			}
		}
	}
}

// TestDriverErrors: a failed fetch stops training with an error naming the
// step and partition; an answer for another partition is refused.
func TestDriverErrors(t *testing.T) {
	tch, err := data.NewDeepTeacher(300, []int{5, 3, 2}, 2, "alternate")
	if err != nil {
		t.Fatal(err)
	}
	parts, err := LoadPartitions(tch, 3)
	if err != nil {
		t.Fatal(err)
	}
	local, err := NewLocalFetcher(parts...)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Schedule, cfg.Partitions, cfg.MaxIters = Joint, 3, 5
	boom := errors.New("boom")
	f := &scripted{inner: local, fail: func(step, p int) error {
		if step == 1 && p == 2 {
			return boom
		}
		return nil
	}}
	_, err = driverRun(t, cfg, data.PerturbNet(tch.Net(), 0.2, 1), f, 2)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "step 1: partition 2") {
		t.Errorf("failed fetch: %v", err)
	}
	wrong := fetcherFunc(func(ctx context.Context, req *Request, p int) (*Partial, error) {
		return local.Fetch(ctx, req, (p+1)%3)
	})
	_, err = driverRun(t, cfg, data.PerturbNet(tch.Net(), 0.2, 1), wrong, 1)
	if err == nil || !strings.Contains(err.Error(), "answer was for partition") {
		t.Errorf("answer for another partition: %v", err)
	}
	if _, err := local.Fetch(context.Background(), &Request{Net: tch.Net()}, 9); !errors.Is(err, shard.ErrNoPartition) {
		t.Errorf("partition not held: %v", err)
	}
	if _, err := NewLocalFetcher(parts[0], parts[0]); err == nil {
		t.Error("a partition given twice was accepted")
	}
}

type fetcherFunc func(ctx context.Context, req *Request, p int) (*Partial, error)

func (f fetcherFunc) Fetch(ctx context.Context, req *Request, p int) (*Partial, error) {
	return f(ctx, req, p)
}

// TestPartitionStatsFloat32: a partition held as float32 gives the same
// bits as the same (float32-exact) values held as float64.
func TestPartitionStatsFloat32(t *testing.T) {
	tch, err := data.NewDeepTeacher(400, []int{6, 4, 2}, 8, "alternate")
	if err != nil {
		t.Fatal(err)
	}
	p64, err := shard.Load(tch, 2, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	p32, err := shard.LoadAs(tch, 2, 1, true, shard.Float32)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range p64.X { // the float32 values, held as float64
		p64.X[i] = float64(float32(v))
	}
	net := data.PerturbNet(tch.Net(), 0.1, 1)
	net.Dims[0]++
	net.W[0] = make([]float64, 4*7)
	for i := range net.W[0] {
		net.W[0][i] = math.Sin(float64(i))
	}
	req := &Request{Step: 1, Net: net, Layers: []int{1, 2}, Joint: true, Prev: data.PerturbNet(net, 0.1, 2)}
	var w1, w2 Workspace
	a, err := PartitionStats(&w1, p64, req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := PartitionStats(&w2, p32, req)
	if err != nil {
		t.Fatal(err)
	}
	same := a.SSE == b.SSE && a.YY == b.YY && a.Flips == b.Flips && a.Rows == b.Rows
	for i, v := range a.Systems[0].Gram {
		same = same && math.Float64bits(v) == math.Float64bits(b.Systems[0].Gram[i])
	}
	for i, v := range a.Systems[0].R {
		same = same && math.Float64bits(v) == math.Float64bits(b.Systems[0].R[i])
	}
	if !same || a.Flips <= 0 {
		t.Errorf("float32 storage differs from the same values as float64 (flips %d, %d)", a.Flips, b.Flips)
	}
}

// TestParseTeacher: the specification round-trips through Spec, and bad
// ones are refused naming the key.
func TestParseTeacher(t *testing.T) {
	tch, err := data.ParseDeepTeacher("model=deep,d=7,hidden=5-3-2,n=100,seed=9,signs=ones")
	if err != nil {
		t.Fatal(err)
	}
	want, err := data.NewDeepTeacher(100, []int{7, 5, 3, 2}, 9, "ones")
	if err != nil {
		t.Fatal(err)
	}
	if relChange(tch.Net(), want.Net()) != 0 || tch.Spec() != "model=deep,d=7,hidden=5-3-2,n=100,seed=9,signs=ones" {
		t.Errorf("parsed %s, want the teacher of NewTeacher", tch.Spec())
	}
	again, err := data.ParseDeepTeacher(tch.Spec())
	if err != nil || again.Spec() != tch.Spec() {
		t.Errorf("round trip: %v, %v", again, err)
	}
	def, err := data.ParseDeepTeacher("model=deep,d=3,hidden=2-2,n=5")
	if err != nil || def.Seed != 1 || def.Signs != "alternate" {
		t.Errorf("defaults: %v, %v", def, err)
	}
	if !data.IsDeepSpec("d=3, model=deep ,n=4") || data.IsDeepSpec("model=sum,d=3,k=2,n=4") || data.IsDeepSpec("") {
		t.Error("IsTeacherSpec")
	}
	for spec, msg := range map[string]string{
		"model=sum,d=3,hidden=2-2,n=5":        "model must be deep",
		"model=deep,d=0,hidden=2-2,n=5":       "d must be a positive integer",
		"model=deep,d=3,hidden=2-0,n=5":       "every hidden width must be a positive integer",
		"model=deep,d=3,hidden=2,n=5,x":       `"x" is not key=value`,
		"model=deep,d=3,n=5":                  "needs model=deep, d, hidden",
		"model=deep,d=3,hidden=2,seed=-1,n=5": "seed=-1",
	} {
		if _, err := data.ParseDeepTeacher(spec); !errors.Is(err, data.ErrSynthetic) || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v, want data.ErrSynthetic with %q", spec, err, msg)
		}
	}
}

// TestStateRestore: a core restored from a JSON round trip of another
// core's State, at any step (mid-iteration for the sequential schedule),
// ends with the same bits as the uninterrupted run; states that do not fit
// are refused.
func TestStateRestore(t *testing.T) {
	tch, err := data.NewDeepTeacher(1200, []int{6, 4, 2}, 4, "alternate")
	if err != nil {
		t.Fatal(err)
	}
	parts, err := LoadPartitions(tch, 3)
	if err != nil {
		t.Fatal(err)
	}
	init := data.PerturbNet(tch.Net(), 0.2, 5)
	for _, sched := range []Schedule{Joint, Sequential} {
		cfg := DefaultConfig()
		cfg.Schedule, cfg.Partitions, cfg.MaxIters = sched, 3, 6
		f, _ := NewLocalFetcher(parts...)
		want, err := driverRun(t, cfg, init, f, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, at := range []int{1, 3} {
			core, _ := NewCore(cfg, init)
			for s := 0; s < at; s++ {
				req := core.Request()
				for p := 0; p < 3; p++ {
					part, _ := f.Fetch(context.Background(), req, p)
					if err := core.Offer(part); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := core.Advance(); err != nil {
					t.Fatal(err)
				}
			}
			b, err := json.Marshal(core.State())
			if err != nil {
				t.Fatal(err)
			}
			var st State
			if err := json.Unmarshal(b, &st); err != nil {
				t.Fatal(err)
			}
			fresh, _ := NewCore(cfg, data.PerturbNet(tch.Net(), 0.5, 77)) // another start: the state replaces it
			if err := fresh.Restore(st); err != nil {
				t.Fatal(err)
			}
			d := &Driver{Core: fresh, Fetcher: f}
			got, err := d.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got.Step != want.Step || got.Stop != want.Stop || relChange(got.Net, want.Net) != 0 {
				t.Errorf("%s restored at step %d: step %d (%s), want %d (%s); weights differ by %.3g", sched, at, got.Step, got.Stop, want.Step, want.Stop, relChange(got.Net, want.Net))
			}
			for l := range want.Net.W {
				for i, v := range want.Net.W[l] {
					if math.Float64bits(v) != math.Float64bits(got.Net.W[l][i]) {
						t.Fatalf("%s restored at step %d: layer %d weight %d differs", sched, at, l+1, i)
					}
				}
			}
		}
	}
	core, _ := NewCore(DefaultConfig(), init)
	good := core.State()
	other := model.NewNet(6, 4, 3)
	for name, f := range map[string]func(s *State){
		"other shape":  func(s *State) { s.Net = other },
		"no start":     func(s *State) { s.Start = nil },
		"prev at 0":    func(s *State) { s.Prev = init },
		"no prev at 3": func(s *State) { s.Step, s.Iter = 3, 3 },
		"layer":        func(s *State) { s.Layer = 3 },
		"reason":       func(s *State) { s.Stopped = "bored" },
		"non-finite":   func(s *State) { s.Net = init.Clone(); s.Net.W[1][0] = math.Inf(1) },
		"step < iter":  func(s *State) { s.Iter = 1 },
	} {
		s := good
		f(&s)
		if err := core.Restore(s); err == nil {
			t.Errorf("%s: restored", name)
		}
	}
}
