package job_test

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"altmin/data"
	"altmin/job"
)

// TestStorageFloat32SameWeights trains planted float32 data with float32
// and float64 storage, in process and through local shards over gRPC: the
// weights are the same bits, the teacher is recovered, and the run records
// the storage in its data description.
func TestStorageFloat32SameWeights(t *testing.T) {
	const synth = "model=sum,d=10,k=3,n=3000,seed=7,dtype=float32"
	var ref []float64
	for _, c := range []struct {
		storage string
		shards  int
	}{{"float64", 0}, {"float32", 0}, {"float32", 2}} {
		o := options(synth)
		o.Storage, o.LocalShards, o.Init = c.storage, c.shards, "perturb:0.3"
		res, err := train(t, o)
		if err != nil {
			t.Fatalf("storage %s, %d shards: %v", c.storage, c.shards, err)
		}
		if ref == nil {
			ref = res.Net.W[0]
		} else if !slices.Equal(res.Net.W[0], ref) {
			t.Fatalf("storage %s, %d shards: weights differ from float64 storage", c.storage, c.shards)
		}
		if res.Model.FinalRelErr == nil || *res.Model.FinalRelErr > 1e-12 {
			t.Errorf("storage %s: relative error %v", c.storage, res.Model.FinalRelErr)
		}
		t.Logf("storage %s, %d shards: %d iterations, relative error %.3g, data %q", c.storage, c.shards, res.Final.Iter, *res.Model.FinalRelErr, res.Model.Data)
	}
}

// TestStorageOptions refuses unknown storages and float32 storage on the
// coordinator of a cluster (the shards hold the data there).
func TestStorageOptions(t *testing.T) {
	o := options("model=relu,d=3,n=100")
	o.Out, o.Storage = "out", "float16"
	if err := o.Validate(); !errors.Is(err, job.ErrOptions) {
		t.Errorf("--storage float16: %v, want ErrOptions", err)
	}
	o.Storage = ""
	if err := o.Validate(); err != nil {
		t.Errorf("--storage empty (float64): %v", err)
	}
	o.Storage, o.Join = "float32", []string{"127.0.0.1:1"}
	if err := o.Validate(); !errors.Is(err, job.ErrOptions) {
		t.Errorf("--storage float32 with --join: %v, want ErrOptions", err)
	}
}

// TestStorageFloat32RoundsData: float32 storage of float64 data changes
// the data, so the run's data fingerprint differs from the float64 run's
// and its checkpoint is refused by the other.
func TestStorageFloat32RoundsData(t *testing.T) {
	const synth = "model=sum,d=6,k=2,n=500,seed=3"
	out := t.TempDir()
	o := options(synth)
	o.Out, o.Iters, o.Tol = out, 2, 0
	if _, err := train(t, o); err != nil {
		t.Fatal(err)
	}
	g, err := data.ParseSynthetic(synth)
	if err != nil {
		t.Fatal(err)
	}
	a, err := data.Fingerprint(g)
	if err != nil {
		t.Fatal(err)
	}
	b, err := data.Fingerprint(data.Float32(g))
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("rounding float64 normals to float32 kept the fingerprint")
	}
	// As if the float64 run had been interrupted: an unfinished
	// checkpoint, which the float32 run would resume if it were its own.
	editJSON(t, filepath.Join(out, "checkpoint.json"), func(m map[string]any) { delete(field(t, m, "state"), "stopped") })
	if err := job.ResealCheckpoint(out); err != nil {
		t.Fatal(err)
	}
	o.Storage = "float32"
	if _, err := train(t, o); !errors.Is(err, job.ErrCheckpoint) || !strings.Contains(err.Error(), "another configuration") {
		t.Errorf("float32 storage over a float64 run's output: %v, want a refused checkpoint", err)
	}
}
