package tensorinit_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"altmin/coordinator"
	"altmin/data"
	"altmin/model"
	"altmin/msg"
	"altmin/shard"
)

// planted is synthetic data loaded into P partitions of one engine.
type planted struct {
	spec  model.Spec
	wstar []float64
	P     int
	eng   *shard.Engine
}

func loadPlanted(t testing.TB, synth string, P int) *planted {
	t.Helper()
	g, err := data.ParseSynthetic(synth)
	if err != nil {
		t.Fatal(err)
	}
	spec, wstar := g.Teacher()
	return load(t, g, spec, wstar, P)
}

// load reads src into P partitions of one engine; spec and wstar are its
// teacher's (with a zero bias column when spec.Bias).
func load(t testing.TB, src data.Source, spec model.Spec, wstar []float64, P int) *planted {
	t.Helper()
	parts := make([]*shard.Partition, P)
	var err error
	for p := range parts {
		if parts[p], err = shard.Load(src, P, p, spec.Bias); err != nil {
			t.Fatal(err)
		}
	}
	eng, err := shard.NewEngine(parts...)
	if err != nil {
		t.Fatal(err)
	}
	return &planted{spec: spec, wstar: wstar, P: P, eng: eng}
}

// teacherSource is planted data from a given teacher: rows x_i ~ N(0, I),
// each drawn from its own stream seeded by (Seed, i), labels from the
// teacher (whose spec has no bias).
type teacherSource struct {
	spec model.Spec
	w    []float64
	n    int
	seed uint64
}

func (s teacherSource) Info() data.Info {
	return data.Info{N: s.n, D: s.spec.D, Desc: "test teacher"}
}

func (s teacherSource) Read(lo, hi int, x, y []float64) error {
	d := s.spec.D
	for i := lo; i < hi; i++ {
		rng := rand.New(rand.NewPCG(s.seed, uint64(i)))
		for j := 0; j < d; j++ {
			x[(i-lo)*d+j] = rng.NormFloat64()
		}
	}
	s.spec.Predict(y, x, s.w)
	return nil
}

// am runs alternating minimization from learned weights w0 with the
// coordinator's defaults (at most iters solves, Tol 1e-12) and returns the
// relative error of the last weights evaluated and the solves done.
func (pl *planted) am(t testing.TB, w0 []float64, iters int) (float64, int) {
	t.Helper()
	cfg := coordinator.DefaultShallowConfig()
	cfg.Spec, cfg.Partitions, cfg.MaxIters = pl.spec, pl.P, iters
	core, err := coordinator.NewShallow(cfg, pl.spec.Effective(w0))
	if err != nil {
		t.Fatal(err)
	}
	for {
		req := core.Request()
		for p := 0; p < pl.P; p++ {
			st, err := pl.eng.Fetch(context.Background(), req, msg.Leaf(p))
			if err != nil {
				t.Fatal(err)
			}
			if err := core.Offer(st); err != nil {
				t.Fatal(err)
			}
		}
		rep, err := core.Advance()
		if err != nil {
			t.Fatal(err)
		}
		if rep.Stop != coordinator.Running {
			e := pl.spec.RelErr(pl.spec.Learned(rep.Net.W[0]), pl.wstar)
			if math.IsNaN(e) {
				e = math.Inf(1)
			}
			return e, rep.Iter
		}
	}
}
