package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// Real memberlist nodes on 127.0.0.1 with free ports and fast timings.
// Waits poll every 20 ms up to a generous deadline; no assertion depends on
// how fast things happen.

var (
	keyA = []byte("0123456789abcdef0123456789abcdef")
	keyB = []byte("fedcba9876543210fedcba9876543210")
)

func fastTiming() Timing {
	t := LocalTiming()
	t.ProbeInterval = 200 * time.Millisecond
	t.ProbeTimeout = 100 * time.Millisecond
	t.GossipInterval = 50 * time.Millisecond
	t.PushPullInterval = time.Second
	t.TCPTimeout = 2 * time.Second
	t.GossipToTheDeadTime = 5 * time.Second
	t.DeadNodeReclaimTime = 200 * time.Millisecond
	t.UpdateTimeout = 5 * time.Second
	return t
}

func shardMeta(grpc string, parts ...int) Meta {
	return Meta{Role: RoleShard, GRPCAddr: grpc, Partitions: parts}
}

type nodeOpt func(*Config)

func withPort(p int) nodeOpt { return func(c *Config) { c.BindPort = p } }

func start(t *testing.T, id string, key []byte, meta Meta, opts ...nodeOpt) *Node {
	t.Helper()
	c := LocalConfig()
	c.ID, c.Meta, c.Timing = id, meta, fastTiming()
	if key == nil {
		c.Insecure = true
	} else {
		c.Key = key
	}
	c.Log = zaptest.NewLogger(t).Named(id)
	for _, o := range opts {
		o(&c)
	}
	n, err := Start(c)
	if err != nil {
		t.Fatalf("Start(%s): %v", id, err)
	}
	t.Cleanup(func() { n.Shutdown() })
	return n
}

func join(t *testing.T, n *Node, to *Node) {
	t.Helper()
	if k, err := n.Join([]string{to.Addr()}); err != nil || k != 1 {
		t.Fatalf("%s joining %s: %d, %v", n.ID(), to.ID(), k, err)
	}
}

func ids(ms []Meta) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

// waitFor polls cond every 20 ms for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitMembers(t *testing.T, want []string, nodes ...*Node) {
	t.Helper()
	for _, n := range nodes {
		waitFor(t, fmt.Sprintf("%s to list %v", n.ID(), want), func() bool {
			return slices.Equal(ids(n.Members()), want)
		})
	}
}

func member(n *Node, id string) (Meta, bool) {
	for _, m := range n.Members() {
		if m.ID == id {
			return m, true
		}
	}
	return Meta{}, false
}

func sameMeta(a, b Meta) bool {
	return a.ID == b.ID && a.Role == b.Role && a.GRPCAddr == b.GRPCAddr &&
		slices.Equal(a.Partitions, b.Partitions) && string(a.Schema) == string(b.Schema)
}

func TestThreeNodes(t *testing.T) {
	coord := Meta{Role: RoleCoordinator, Schema: json.RawMessage(`{"v":[1,1]}`)}
	a := start(t, "coord", keyA, coord)
	b := start(t, "shard-1", keyA, shardMeta("127.0.0.1:9001", 0, 1, 2, 3))
	c := start(t, "shard-2", keyA, shardMeta("127.0.0.1:9002", 4, 5, 7))
	join(t, b, a)
	join(t, c, b)
	all := []string{"coord", "shard-1", "shard-2"}
	waitMembers(t, all, a, b, c)

	want := []Meta{
		{ID: "coord", Role: RoleCoordinator, Schema: json.RawMessage(`{"v":[1,1]}`)},
		{ID: "shard-1", Role: RoleShard, GRPCAddr: "127.0.0.1:9001", Partitions: []int{0, 1, 2, 3}},
		{ID: "shard-2", Role: RoleShard, GRPCAddr: "127.0.0.1:9002", Partitions: []int{4, 5, 7}},
	}
	for _, n := range []*Node{a, b, c} {
		got := n.Members()
		for i := range want {
			if !sameMeta(got[i], want[i]) {
				t.Errorf("%s lists %+v, want %+v", n.ID(), got[i], want[i])
			}
		}
	}
	select {
	case <-a.Changes():
	default:
		t.Error("no change signalled on coord after two joins")
	}
}

func TestWrongKeyCannotJoin(t *testing.T) {
	a := start(t, "a", keyA, shardMeta("", 0))
	b := start(t, "b", keyA, shardMeta("", 1))
	join(t, b, a)
	waitMembers(t, []string{"a", "b"}, a, b)

	for _, tc := range []struct {
		id  string
		key []byte
	}{{"wrong-key", keyB}, {"plaintext", nil}} {
		x := start(t, tc.id, tc.key, shardMeta("", 2))
		if _, err := x.Join([]string{a.Addr(), b.Addr()}); err == nil {
			t.Errorf("%s: Join succeeded", tc.id)
		}
		if got := ids(x.Members()); !slices.Equal(got, []string{tc.id}) {
			t.Errorf("%s lists %v, want only itself", tc.id, got)
		}
	}
	// A change that must reach both members, to give any leak of the
	// rejected nodes the time to show up.
	if err := a.UpdateMeta(shardMeta("", 0, 9)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to see a's update", func() bool {
		m, ok := member(b, "a")
		return ok && slices.Equal(m.Partitions, []int{0, 9})
	})
	waitMembers(t, []string{"a", "b"}, a, b)
}

func TestLeave(t *testing.T) {
	a := start(t, "a", keyA, shardMeta("", 0))
	b := start(t, "b", keyA, shardMeta("", 1))
	c := start(t, "c", keyA, shardMeta("", 2))
	join(t, b, a)
	join(t, c, a)
	waitMembers(t, []string{"a", "b", "c"}, a, b, c)
	for len(a.Changes()) > 0 {
		<-a.Changes()
	}
	if err := c.Leave(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, []string{"a", "b"}, a, b)
	select {
	case <-a.Changes():
	default:
		t.Error("no change signalled for the leave")
	}
	if err := c.UpdateMeta(shardMeta("", 3)); !errors.Is(err, ErrLeft) {
		t.Errorf("UpdateMeta after Leave: %v, want ErrLeft", err)
	}
	if _, err := c.Join([]string{a.Addr()}); !errors.Is(err, ErrLeft) {
		t.Errorf("Join after Leave: %v, want ErrLeft", err)
	}
	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := c.Leave(time.Second); !errors.Is(err, ErrShutdown) {
		t.Errorf("Leave after Shutdown: %v, want ErrShutdown", err)
	}
	if err := c.Shutdown(); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

func TestUpdateMeta(t *testing.T) {
	a := start(t, "a", keyA, shardMeta("127.0.0.1:1", 0))
	b := start(t, "b", keyA, shardMeta("127.0.0.1:2", 1))
	join(t, b, a)
	waitMembers(t, []string{"a", "b"}, a, b)
	next := Meta{Role: RoleShard, GRPCAddr: "127.0.0.1:3", Partitions: []int{0, 1, 2}, Schema: json.RawMessage(`{"x":1}`)}
	if err := b.UpdateMeta(next); err != nil {
		t.Fatal(err)
	}
	next.ID = "b"
	waitFor(t, "a to see b's new metadata", func() bool {
		m, ok := member(a, "b")
		return ok && sameMeta(m, next)
	})
	if err := b.UpdateMeta(Meta{ID: "a", Role: RoleShard}); !errors.Is(err, ErrMeta) {
		t.Errorf("UpdateMeta with another ID: %v, want ErrMeta", err)
	}
	if err := b.UpdateMeta(Meta{Role: "x"}); !errors.Is(err, ErrMeta) {
		t.Errorf("UpdateMeta with a bad role: %v, want ErrMeta", err)
	}
	if m, _ := member(a, "b"); !sameMeta(m, next) {
		t.Errorf("a rejected update changed metadata: %+v", m)
	}
}

// TestFailureAndRestart kills a node without Leave, waits until the others
// declare it dead, then restarts it with the same ID on a new port and new
// metadata; then restarts it again on the same port before the others
// notice.
func TestFailureAndRestart(t *testing.T) {
	a := start(t, "a", keyA, shardMeta("", 0))
	b := start(t, "b", keyA, shardMeta("", 1))
	c := start(t, "c", keyA, shardMeta("127.0.0.1:1", 2))
	join(t, b, a)
	join(t, c, a)
	waitMembers(t, []string{"a", "b", "c"}, a, b, c)

	oldAddr := c.Addr()
	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, []string{"a", "b"}, a, b)

	c2 := start(t, "c", keyA, shardMeta("127.0.0.1:2", 2, 3))
	if c2.Addr() == oldAddr {
		t.Fatalf("restart reused address %s; the test needs a new port", oldAddr)
	}
	join(t, c2, a)
	want := Meta{ID: "c", Role: RoleShard, GRPCAddr: "127.0.0.1:2", Partitions: []int{2, 3}}
	for _, n := range []*Node{a, b} {
		waitFor(t, fmt.Sprintf("%s to list the restarted c", n.ID()), func() bool {
			m, ok := member(n, "c")
			return ok && sameMeta(m, want)
		})
	}

	// Kill again and restart at once on the same port: the others still
	// hold c as alive (or suspect), and the new instance overrides that.
	_, portS, _ := net.SplitHostPort(c2.Addr())
	port, _ := strconv.Atoi(portS)
	if err := c2.Shutdown(); err != nil {
		t.Fatal(err)
	}
	c3 := start(t, "c", keyA, shardMeta("127.0.0.1:3", 4), withPort(port))
	join(t, c3, b)
	want = Meta{ID: "c", Role: RoleShard, GRPCAddr: "127.0.0.1:3", Partitions: []int{4}}
	for _, n := range []*Node{a, b} {
		waitFor(t, fmt.Sprintf("%s to list c restarted on its port", n.ID()), func() bool {
			m, ok := member(n, "c")
			return ok && sameMeta(m, want)
		})
	}
	waitMembers(t, []string{"a", "b", "c"}, a, b, c3)
}
