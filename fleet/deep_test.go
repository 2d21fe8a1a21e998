package fleet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"altmin/data"
	"altmin/deep"
	"altmin/model"
	"altmin/shard"
)

// deepCluster loads a planted deep teacher into n in-memory shards with
// replication 2 (shard s holds p when p%n == s or (p+1)%n == s) and returns
// them with the in-process fetcher over all partitions.
func deepCluster(t *testing.T, n int) (DeepEngines, []Member, *deep.LocalFetcher, *data.DeepTeacher) {
	t.Helper()
	tch, err := data.NewDeepTeacher(1600, []int{8, 4, 2}, 5, "alternate")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := deep.LoadPartitions(tch, parts)
	if err != nil {
		t.Fatal(err)
	}
	all, err := deep.NewLocalFetcher(ps...)
	if err != nil {
		t.Fatal(err)
	}
	engines := DeepEngines{}
	var members []Member
	for s := 0; s < n; s++ {
		var held []*shard.Partition
		var ids []int
		for p, pt := range ps {
			if p%n == s || (p+1)%n == s {
				held, ids = append(held, pt), append(ids, p)
			}
		}
		f, err := deep.NewLocalFetcher(held...)
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("shard-%d", s)
		engines[id] = f
		members = append(members, Member{ID: id, Addr: id, Partitions: ids})
	}
	return engines, members, all, tch
}

func deepTrain(t *testing.T, f deep.Fetcher, tch *data.DeepTeacher) (deep.Report, error) {
	t.Helper()
	cfg := deep.DefaultConfig()
	cfg.Schedule, cfg.Partitions, cfg.MaxIters = deep.Joint, parts, 8
	core, err := deep.NewCore(cfg, data.PerturbNet(tch.Net(), 0.2, 3))
	if err != nil {
		t.Fatal(err)
	}
	return (&deep.Driver{Core: core, Fetcher: f, Log: zaptest.NewLogger(t)}).Run(context.Background())
}

func sameNet(a, b *model.Net) bool {
	for l := range a.W {
		for i, v := range a.W[l] {
			if v != b.W[l][i] {
				return false
			}
		}
	}
	return true
}

// TestDeepFetcherFailover: deep statistics fetched through the fleet from
// replicas, one of which fails from step 1 on or drops calls, give the bits
// of the in-process run; a partition whose holders all lack DeepStep fails
// at once with errors.ErrUnsupported naming it.
func TestDeepFetcherFailover(t *testing.T) {
	engines, members, all, tch := deepCluster(t, 4)
	want, err := deepTrain(t, all, tch)
	if err != nil {
		t.Fatal(err)
	}
	var dropped atomic.Int64
	cases := map[string]func(c DeepCaller) DeepCaller{
		"healthy": func(c DeepCaller) DeepCaller { return c },
		"shard-1 fails from step 1": func(c DeepCaller) DeepCaller {
			return DeepHook(c, func(_ context.Context, m Member, req *deep.Request, p int) error {
				if m.ID == "shard-1" && req.Step >= 1 {
					return ErrInjected
				}
				return nil
			})
		},
		"every third call fails": func(c DeepCaller) DeepCaller {
			return DeepHook(c, func(context.Context, Member, *deep.Request, int) error {
				if dropped.Add(1)%3 == 0 {
					return ErrInjected
				}
				return nil
			})
		},
	}
	for name, wrap := range cases {
		t.Run(name, func(t *testing.T) {
			f := New(Config{RejoinTimeout: 10 * time.Second, RetryDelay: time.Millisecond, Log: zaptest.NewLogger(t)}, NewStaticView(members...), Engines{})
			defer f.Close()
			df := DeepFetcher{F: f, Caller: wrap(engines)}
			got, err := deepTrain(t, df, tch)
			if err != nil {
				t.Fatal(err)
			}
			if got.Step != want.Step || !sameNet(got.Net, want.Net) {
				t.Fatalf("weights differ from the fault-free in-process run")
			}
			if ids := df.Answered(got.Step - 1); len(ids) == 0 {
				t.Errorf("no shard recorded for step %d", got.Step-1)
			}
		})
	}

	old := DeepHook(engines, func(_ context.Context, m Member, _ *deep.Request, p int) error {
		return fmt.Errorf("shard %s: %w", m.ID, errors.ErrUnsupported)
	})
	f := New(Config{RejoinTimeout: time.Hour, Log: zaptest.NewLogger(t)}, NewStaticView(members...), Engines{})
	defer f.Close()
	_, err = deepTrain(t, DeepFetcher{F: f, Caller: old}, tch)
	if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "deepstep") {
		t.Fatalf("no holder implements DeepStep: %v", err)
	}
}
