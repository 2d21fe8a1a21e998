package job_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"altmin/job"
)

// TestStreamingSameWeights trains with every partition held and streamed
// (one or two partitions' rows in memory, in process and per local shard,
// float64 and float32 storage, with the tensor start): the weights are the
// same bits.
func TestStreamingSameWeights(t *testing.T) {
	const synth = "model=sum,d=8,k=3,n=3000,seed=5,dtype=float32"
	for _, storage := range []string{"float64", "float32"} {
		var ref []float64
		for _, c := range []struct{ resident, shards int }{{0, 0}, {1, 0}, {2, 0}, {1, 2}} {
			o := options(synth)
			o.Partitions, o.Storage, o.Resident, o.LocalShards, o.Init = 5, storage, c.resident, c.shards, "tensor"
			res, err := train(t, o)
			if err != nil {
				t.Fatalf("%s, resident %d, %d shards: %v", storage, c.resident, c.shards, err)
			}
			if ref == nil {
				ref = res.Net.W[0]
				t.Logf("%s: %d iterations, relative error %.3g", storage, res.Final.Iter, *res.Model.FinalRelErr)
			} else if !slices.Equal(res.Net.W[0], ref) {
				t.Fatalf("%s, resident %d, %d shards: weights differ from the run holding every partition", storage, c.resident, c.shards)
			}
		}
	}
}

// TestStreamingDeepSameWeights: a deep network trained with its partitions
// streamed, in process and through local shards, has the same weights as
// with every partition held in process.
func TestStreamingDeepSameWeights(t *testing.T) {
	o := deepOptions(deepSynth)
	o.Init = "perturb:0.1"
	ref, err := trainDeep(t, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, shards := range []int{0, 2} {
		s := o
		s.LocalShards, s.Resident, s.Out = shards, 1, ""
		got, err := trainDeep(t, s)
		if err != nil {
			t.Fatal(err)
		}
		if !netsEqual(got.Net, ref.Net) {
			t.Fatalf("streaming, %d local shards: weights differ from the run holding every partition", shards)
		}
	}
}

func TestStreamingOptions(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(*job.Options)
		want string
	}{
		{"negative", func(o *job.Options) { o.Resident = -1 }, "--resident -1"},
		{"join", func(o *job.Options) { o.Resident, o.Join = 2, []string{"127.0.0.1:1"} }, "give --resident to the shards"},
	} {
		o := options("model=relu,d=3,n=100")
		o.Out = "out"
		c.edit(&o)
		err := o.Validate()
		if !errors.Is(err, job.ErrOptions) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrOptions naming %q", c.name, err, c.want)
		}
	}
}
