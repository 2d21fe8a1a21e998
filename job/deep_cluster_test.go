package job_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap/zaptest"

	"altmin/fleet"
	"altmin/job"
	"altmin/msg"
)

// TestDeepOverGRPC: a deep network trained through shards started in
// process, over real gRPC (the Compute call) and memberlist on loopback, has the
// same bits as the run computed in process, in the weight files and in
// every metrics line but the timings.
func TestDeepOverGRPC(t *testing.T) {
	o := deepOptions(deepSynth)
	o.Init, o.Out = "perturb:0.1", t.TempDir()
	ref, err := trainDeep(t, o)
	if err != nil {
		t.Fatal(err)
	}
	g := o
	g.LocalShards, g.Out = 3, t.TempDir()
	var out strings.Builder
	got, err := job.Train(context.Background(), g, &out, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "3 in-process shards over gRPC") {
		t.Errorf("the run did not go through the shards:\n%s", out.String())
	}
	if !netsEqual(got.Net, ref.Net) || got.Final.Iter != ref.Final.Iter || got.Final.Stop != ref.Final.Stop || got.Final.Loss != ref.Final.Loss {
		t.Fatalf("over gRPC: %d iterations (%s), loss %v; in process: %d (%s), loss %v; weights equal: %v",
			got.Final.Iter, got.Final.Stop, got.Final.Loss, ref.Final.Iter, ref.Final.Stop, ref.Final.Loss, netsEqual(got.Net, ref.Net))
	}
	for _, name := range []string{"weights_1.npy", "weights_2.npy"} {
		a, _ := os.ReadFile(filepath.Join(o.Out, name))
		b, _ := os.ReadFile(filepath.Join(g.Out, name))
		if len(a) == 0 || string(a) != string(b) {
			t.Errorf("%s differs between the runs", name)
		}
	}
	t.Logf("over gRPC: stop %s after %d iterations, weight error %.3g, bit-identical to the in-process run", got.Final.Stop, got.Final.Iter, *got.Model.FinalRelErr)
}

// TestDeepFailover: with every partition on two of three shards, a replica
// whose calls fail from step 1 on, or a shard that is shut down at step 2,
// changes no bit of the result: the other replica answers.
func TestDeepFailover(t *testing.T) {
	ctx := context.Background()
	o := deepOptions(deepSynth)
	o.Init, o.Out, o.Partitions = "perturb:0.1", t.TempDir(), 6
	ref, err := trainDeep(t, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, fault := range []string{"failing replica", "shard shut down"} {
		t.Run(fault, func(t *testing.T) {
			c := o
			c.LocalShards, c.Out = 3, t.TempDir()
			dp, err := job.Prepare(c)
			if err != nil {
				t.Fatal(err)
			}
			defer dp.Close()
			log := zaptest.NewLogger(t)
			shards, coord, err := job.StartLocalCluster(ctx, c, dp.Source, dp.Spec.Bias, 2, nil, log)
			defer func() {
				for _, s := range shards {
					s.Close()
				}
			}()
			if err != nil {
				t.Fatal(err)
			}
			defer coord.Close()
			var mu sync.Mutex
			var once sync.Once
			hit := map[string]int{}
			caller := fleet.Hook(coord, func(_ context.Context, m fleet.Member, req msg.Request, p msg.Span) error {
				mu.Lock()
				defer mu.Unlock()
				switch {
				case fault == "failing replica" && m.ID == "local-1" && req.Round() >= 1:
					hit[m.ID]++
					return fmt.Errorf("local-1 %s: %w", p, fleet.ErrInjected)
				case fault == "shard shut down" && m.ID == "local-2" && req.Round() >= 2:
					hit[m.ID]++
					once.Do(func() { shards[2].Close() }) // the call then meets a stopped server
				}
				return nil
			})
			f := fleet.New(fleet.Config{RejoinTimeout: c.RejoinTimeout, Log: log}, coord, caller)
			defer f.Close()
			res, err := job.Run(ctx, c, dp, f, io.Discard, log)
			if err != nil {
				t.Fatal(err)
			}
			if len(hit) == 0 {
				t.Fatal("the fault was never triggered")
			}
			if !netsEqual(res.Net, ref.Net) || res.Final.Iter != ref.Final.Iter {
				t.Errorf("%s: the weights differ from the fault-free in-process run", fault)
			}
			t.Logf("%s: %v faulty calls, stop %s after %d iterations, bit-identical", fault, hit, res.Final.Stop, res.Final.Iter)
		})
	}
}

// TestDeepClusterRefusals: with --join, a coordinator given another deep
// teacher than the shards hold is refused; given the same, it trains on
// the cluster's data.
func TestDeepClusterRefusals(t *testing.T) {
	ctx := context.Background()
	o := deepOptions(deepSynth)
	o.LocalShards, o.Out = 2, t.TempDir()
	seeds := startShards(t, o)
	log := zaptest.NewLogger(t)
	j := deepOptions("model=deep,d=10,hidden=6-3,n=4000,seed=3") // another teacher
	j.Join, j.Insecure, j.GossipBind, j.Out = seeds, true, "127.0.0.1:0", t.TempDir()
	_, err := job.Train(ctx, j, io.Discard, log)
	if !errors.Is(err, job.ErrOptions) || !strings.Contains(err.Error(), "the shards hold other data") {
		t.Errorf("other teacher: %v", err)
	}
	j.Synthetic, j.Init, j.Out = deepSynth, "perturb:0.1", t.TempDir()
	res, err := job.Train(ctx, j, io.Discard, log)
	if err != nil {
		t.Fatal(err)
	}
	if res.Model.FinalRelErr == nil || !(*res.Model.FinalRelErr <= 1e-10) || !strings.Contains(res.Model.Data, "model=deep") {
		t.Errorf("on the cluster: %+v", res.Model)
	}
}

// startShards starts o.LocalShards in-process shards holding o's data (each
// partition once), to be joined with --join, and returns their gossip
// addresses; they stop with the test.
func startShards(t *testing.T, o job.Options) []string {
	t.Helper()
	dp, err := job.Prepare(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dp.Close() })
	shards, coord, err := job.StartLocalCluster(context.Background(), o, dp.Source, dp.Spec.Bias, 1, nil, zaptest.NewLogger(t))
	t.Cleanup(func() {
		for _, s := range shards {
			s.Close()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	coord.Close()
	var seeds []string
	for _, s := range shards {
		seeds = append(seeds, s.GossipAddr())
	}
	return seeds
}
