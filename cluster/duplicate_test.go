package cluster

import (
	"errors"
	"strings"
	"testing"
)

// TestDuplicateIDJoinRefused: a node joining a cluster in which a live
// member at another address already has its ID is told so by Join, with
// an error naming the ID and that member's address, instead of joining
// "successfully" while every other member ignores it; the members keep
// the first node under the ID.
func TestDuplicateIDJoinRefused(t *testing.T) {
	a := start(t, "shard-1", keyA, shardMeta("127.0.0.1:9001", 0))
	b := start(t, "coord", keyA, Meta{Role: RoleCoordinator})
	join(t, b, a)
	waitMembers(t, []string{"coord", "shard-1"}, a, b)

	for _, via := range []*Node{a, b} { // the holder of the ID itself, or another member
		dup := start(t, "shard-1", keyA, shardMeta("127.0.0.1:9002", 1))
		_, err := dup.Join([]string{via.Addr()})
		if !errors.Is(err, ErrDuplicateID) || !strings.Contains(err.Error(), `"shard-1"`) || !strings.Contains(err.Error(), a.Addr()) {
			t.Errorf("joining through %s: %v, want ErrDuplicateID naming shard-1 at %s", via.ID(), err, a.Addr())
		}
		dup.Shutdown()
	}
	for _, n := range []*Node{a, b} {
		if m, ok := member(n, "shard-1"); !ok || m.GRPCAddr != "127.0.0.1:9001" {
			t.Errorf("%s lists shard-1 as %+v, %v; want the first node", n.ID(), m, ok)
		}
	}
}
