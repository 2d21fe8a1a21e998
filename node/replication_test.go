package node

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"altmin/data"
)

// TestWaitReplicated starts shards on loopback holding partitions 0-3 and
// 2-5 of 6: WaitReplicated with r = 2 gives up after its timeout naming
// 0, 1, 4 and 5 with their holder counts, and r = 1 returns at once; a
// third shard holding 0, 1, 4 and 5 that joins while it waits completes the
// replication.
func TestWaitReplicated(t *testing.T) {
	ctx := context.Background()
	src, err := data.ParseSynthetic("model=sum,d=3,k=1,n=120,seed=1")
	if err != nil {
		t.Fatal(err)
	}
	plain := Security{Insecure: true}
	var seed []string
	start := func(i int, parts []int) error {
		s, err := StartShard(ctx, ShardConfig{ID: fmt.Sprintf("s%d", i), Partitions: parts, NumPartitions: 6, Source: src,
			GRPCListen: "127.0.0.1:0", Gossip: Gossip{Bind: "127.0.0.1", Join: seed, Timeout: 10 * time.Second}, Security: plain})
		if err != nil {
			return err
		}
		t.Cleanup(func() { s.Close() })
		if seed == nil {
			seed = []string{s.GossipAddr()}
		}
		return nil
	}
	if err := start(1, []int{0, 1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if err := start(2, []int{2, 3, 4, 5}); err != nil {
		t.Fatal(err)
	}
	c, err := StartCoordinator(ctx, CoordinatorConfig{ID: "coordinator", Gossip: Gossip{Bind: "127.0.0.1", Join: seed, Timeout: 10 * time.Second}, Security: plain})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.WaitReady(ctx, 6, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	under, counts, err := c.WaitReplicated(ctx, 6, 2, 300*time.Millisecond)
	if err != nil || !slices.Equal(under, []int{0, 1, 4, 5}) || !slices.Equal(counts, []int{1, 1, 2, 2, 1, 1}) {
		t.Fatalf("r = 2: under %v, counts %v, err %v; want [0 1 4 5], [1 1 2 2 1 1]", under, counts, err)
	}
	if under, _, err := c.WaitReplicated(ctx, 6, 1, time.Minute); err != nil || under != nil {
		t.Fatalf("r = 1: under %v, err %v; want none at once", under, err)
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		if err := start(3, []int{0, 1, 4, 5}); err != nil {
			t.Error(err)
		}
	}()
	t0 := time.Now()
	under, counts, err = c.WaitReplicated(ctx, 6, 2, 20*time.Second)
	if err != nil || under != nil || !slices.Equal(counts, []int{2, 2, 2, 2, 2, 2}) {
		t.Fatalf("after a third shard joined: under %v, counts %v, err %v", under, counts, err)
	}
	if d := time.Since(t0); d > 15*time.Second {
		t.Errorf("waited %v for a shard that joined after 0.2 s", d)
	}
}
