package node

import (
	"context"
	"time"

	"altmin/placement"
)

// Replicas returns, for every partition 0..parts-1, the number of live
// shards that announce it.
func (c *Coordinator) Replicas(parts int) []int {
	var held [][]int
	for _, m := range c.Shards() {
		held = append(held, m.Partitions)
	}
	return placement.Count(parts, held)
}

// WaitReplicated waits up to timeout until every partition 0..parts-1 is
// held by at least r live shards. It returns the partitions still held by
// fewer when it stops waiting (none when every partition has r holders)
// and the holder count of every partition. It fails only when ctx ends.
func (c *Coordinator) WaitReplicated(ctx context.Context, parts, r int, timeout time.Duration) (under, counts []int, err error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		counts = c.Replicas(parts)
		under = placement.Under(counts, r)
		if len(under) == 0 {
			return nil, counts, nil
		}
		select {
		case <-ctx.Done():
			return under, counts, ctx.Err()
		case <-deadline.C:
			return under, counts, nil
		case <-c.Changes():
		case <-tick.C:
		}
	}
}
