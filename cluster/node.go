package cluster

import (
	"errors"
	"fmt"
	"log"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Errors for calls on a node that has left or shut down.
var (
	ErrShutdown = errors.New("cluster: node is shut down")
	ErrLeft     = errors.New("cluster: node has left the cluster")
)

// ErrDuplicateID is wrapped by the error of Join when a live member at
// another address already has the joining node's ID.
var ErrDuplicateID = errors.New("cluster: duplicate node ID")

// Node is a running cluster member. Its methods are safe for concurrent
// use.
type Node struct {
	id      string
	list    *memberlist.Memberlist
	log     *zap.Logger
	gate    *gate
	addr    string // advertised gossip address, fixed at Start
	update  time.Duration
	changes chan struct{}

	// life serializes Leave and Shutdown (memberlist panics on a leave
	// after shutdown); it is held while they block and never taken by
	// memberlist's callbacks.
	life sync.Mutex

	mu      sync.Mutex      // guards the fields below; never held across memberlist calls
	meta    []byte          // encoded metadata announced by NodeMeta
	members map[string]Meta // live members with decodable metadata, kept by the events
	left    bool
	stopped bool
	// claimed is the address of a live member that has this node's ID,
	// seen (NotifyConflict) since the last Join began; "" for none.
	claimed string
}

// Start validates cfg, binds the gossip listeners and starts a
// single-member cluster; Join connects it to others.
func Start(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	meta, err := encodeMeta(cfg.Meta)
	if err != nil {
		return nil, err
	}
	lg := cfg.Log
	if lg == nil {
		lg = zap.NewNop()
	}
	g := &gate{}
	lg = lg.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return gatedCore{c, g} })).
		With(zap.String("node", cfg.ID))
	n := &Node{
		id:      cfg.ID,
		log:     lg,
		gate:    g,
		update:  cfg.Timing.UpdateTimeout,
		changes: make(chan struct{}, 1),
		meta:    meta,
		members: map[string]Meta{},
	}

	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.ID
	mc.BindAddr, mc.BindPort = cfg.BindAddr, cfg.BindPort
	mc.AdvertiseAddr, mc.AdvertisePort = cfg.AdvertiseAddr, cfg.AdvertisePort
	if mc.AdvertisePort == 0 {
		mc.AdvertisePort = cfg.BindPort
	}
	if !cfg.Insecure {
		mc.SecretKey = slices.Clone(cfg.Key)
	}
	mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	t := cfg.Timing
	mc.ProbeInterval, mc.ProbeTimeout = t.ProbeInterval, t.ProbeTimeout
	mc.IndirectChecks = t.IndirectChecks
	mc.SuspicionMult, mc.SuspicionMaxTimeoutMult = t.SuspicionMult, t.SuspicionMaxTimeoutMult
	mc.GossipInterval, mc.GossipNodes = t.GossipInterval, t.GossipNodes
	mc.RetransmitMult = t.RetransmitMult
	mc.PushPullInterval = t.PushPullInterval
	mc.TCPTimeout = t.TCPTimeout
	mc.GossipToTheDeadTime = t.GossipToTheDeadTime
	mc.DeadNodeReclaimTime = t.DeadNodeReclaimTime
	mc.Delegate = (*delegate)(n)
	mc.Events = (*events)(n)
	mc.Conflict = (*events)(n)
	mc.Logger = log.New(logWriter{lg.Named("memberlist")}, "", 0)

	list, err := memberlist.Create(mc)
	if err != nil {
		g.close()
		return nil, fmt.Errorf("cluster: starting node %q on %s: %w",
			cfg.ID, net.JoinHostPort(cfg.BindAddr, strconv.Itoa(cfg.BindPort)), err)
	}
	n.list = list
	// Only setAlive (done) and UpdateNode (not before Start returns) write
	// the local address, so this read cannot race.
	n.addr = list.LocalNode().Address()
	lg.Info("cluster node started", zap.String("addr", n.Addr()), zap.Bool("encrypted", !cfg.Insecure))
	return n, nil
}

// ID returns the node's ID.
func (n *Node) ID() string { return n.id }

// Addr returns the host:port other members reach this node's gossip at
// (what Join takes): the advertised address, which is the bound one
// unless AdvertiseAddr is set or BindAddr is a wildcard, with the port
// actually bound when BindPort was 0.
func (n *Node) Addr() string { return n.addr }

// Join contacts the members at addrs (host:port each; use IP addresses to
// avoid DNS lookups) and exchanges full state with each. It returns how
// many were reached; the error is nil if at least one was, unless the
// state received shows a live member at another address with this node's
// ID: memberlist then keeps that member and ignores this node, so Join
// returns an error wrapping ErrDuplicateID, and the node should shut down
// (without Leave, whose announcement would be taken for the other's).
func (n *Node) Join(addrs []string) (int, error) {
	if err := n.usable(); err != nil {
		return 0, err
	}
	if len(addrs) == 0 {
		return 0, errors.New("cluster: join: no addresses")
	}
	n.mu.Lock()
	n.claimed = ""
	n.mu.Unlock()
	k, err := n.list.Join(addrs)
	if err != nil {
		return k, fmt.Errorf("cluster: node %q joining %s: %w", n.id, strings.Join(addrs, ","), err)
	}
	n.mu.Lock()
	claimed := n.claimed
	n.mu.Unlock()
	if claimed != "" {
		return k, fmt.Errorf("%w: node %q joining %s: a live member at %s already has the ID %q; give this node another ID, or stop that member first", ErrDuplicateID, n.id, strings.Join(addrs, ","), claimed, n.id)
	}
	n.log.Info("joined cluster", zap.Int("contacted", k), zap.Strings("addrs", addrs))
	return k, nil
}

// Members returns the live members, this node included (until it
// leaves), sorted by ID. Live follows memberlist: alive or suspect
// (suspicion is transient and raises no event), not dead or left. Members
// whose metadata do not decode are left out (a warning was logged when
// they were announced).
//
// The list is kept from memberlist's join, leave and update events rather
// than read from memberlist.Members, whose nodes memberlist keeps mutating
// after returning them.
func (n *Node) Members() []Meta {
	n.mu.Lock()
	out := make([]Meta, 0, len(n.members))
	for _, m := range n.members {
		m.Partitions = slices.Clone(m.Partitions)
		m.Schema = slices.Clone(m.Schema)
		out = append(out, m)
	}
	n.mu.Unlock()
	slices.SortFunc(out, func(a, b Meta) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Changes returns a channel that receives a value after members join,
// leave, fail or change their metadata. Signals coalesce (the channel
// holds at most one), so a receiver should re-read Members after each. The
// channel is never closed.
func (n *Node) Changes() <-chan struct{} { return n.changes }

// UpdateMeta replaces this node's metadata and gossips it, waiting up to
// Timing.UpdateTimeout for the broadcast to go out. m.ID must be empty or
// the node's ID. On a timeout error the new metadata is already in effect
// locally and still spreads by gossip and push/pull.
func (n *Node) UpdateMeta(m Meta) error {
	if m.ID != "" && m.ID != n.id {
		return fmt.Errorf("%w: metadata ID %q differs from node ID %q", ErrMeta, m.ID, n.id)
	}
	b, err := encodeMeta(m)
	if err != nil {
		return err
	}
	n.mu.Lock()
	if err := n.usableLocked(); err != nil {
		n.mu.Unlock()
		return err
	}
	n.meta = b
	n.mu.Unlock()
	if err := n.list.UpdateNode(n.update); err != nil {
		return fmt.Errorf("cluster: node %q updating metadata: %w", n.id, err)
	}
	return nil
}

// Leave announces that this node is leaving and waits up to timeout (0:
// without bound) for the announcement to go out. Others drop it from
// Members at once instead of waiting for failure detection. Call Shutdown
// afterwards; the node cannot rejoin or update its metadata.
func (n *Node) Leave(timeout time.Duration) error {
	n.life.Lock()
	defer n.life.Unlock()
	n.mu.Lock()
	stopped := n.stopped
	n.left = n.left || !stopped
	n.mu.Unlock()
	if stopped {
		return ErrShutdown
	}
	if err := n.list.Leave(timeout); err != nil {
		return fmt.Errorf("cluster: node %q leaving: %w", n.id, err)
	}
	n.log.Info("left cluster")
	return nil
}

// Shutdown stops gossip and closes the listeners without telling anyone;
// others declare the node dead after failure detection. It is idempotent.
func (n *Node) Shutdown() error {
	n.life.Lock()
	defer n.life.Unlock()
	n.mu.Lock()
	stopped := n.stopped
	n.stopped = true
	n.mu.Unlock()
	if stopped {
		return nil
	}
	err := n.list.Shutdown()
	n.log.Info("cluster node shut down")
	n.gate.close()
	if err != nil {
		return fmt.Errorf("cluster: node %q shutting down: %w", n.id, err)
	}
	return nil
}

func (n *Node) usable() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.usableLocked()
}

func (n *Node) usableLocked() error {
	switch {
	case n.stopped:
		return ErrShutdown
	case n.left:
		return ErrLeft
	}
	return nil
}

func (n *Node) signal() {
	select {
	case n.changes <- struct{}{}:
	default:
	}
}

// delegate implements memberlist.Delegate; only NodeMeta is used.
type delegate Node

func (d *delegate) NodeMeta(limit int) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.meta) > limit { // encodeMeta checked MetaMaxSize; never expected
		d.log.Error("metadata over memberlist's limit; announcing none", zap.Int("size", len(d.meta)), zap.Int("limit", limit))
		return nil
	}
	return slices.Clone(d.meta)
}

func (d *delegate) NotifyMsg([]byte)                           {}
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}

// events implements memberlist.EventDelegate and ConflictDelegate.
// Memberlist calls it one event at a time with its node lock held, so the
// node's fields can be read here without racing; it must not block or call
// into memberlist.
type events Node

func (e *events) NotifyJoin(m *memberlist.Node)   { e.upsert("member joined", m) }
func (e *events) NotifyUpdate(m *memberlist.Node) { e.upsert("member updated", m) }

func (e *events) NotifyLeave(m *memberlist.Node) {
	e.log.Debug("member left or failed", zap.String("member", m.Name), zap.String("addr", m.Address()))
	e.mu.Lock()
	delete(e.members, m.Name)
	e.mu.Unlock()
	(*Node)(e).signal()
}

func (e *events) upsert(msg string, m *memberlist.Node) {
	fields := []zap.Field{zap.String("member", m.Name), zap.String("addr", m.Address())}
	meta, err := decodeMeta(m.Name, m.Meta) // copies out of memberlist's buffer
	e.mu.Lock()
	if err == nil {
		e.members[m.Name] = meta
	} else {
		delete(e.members, m.Name)
	}
	e.mu.Unlock()
	if err != nil {
		e.log.Warn("member metadata undecodable; it is left out of Members", append(fields, zap.Error(err))...)
	} else {
		e.log.Debug(msg, fields...)
	}
	(*Node)(e).signal()
}

func (e *events) NotifyConflict(existing, other *memberlist.Node) {
	if existing.Name == e.id { // another node has this node's ID
		e.mu.Lock()
		e.claimed = other.Address()
		e.mu.Unlock()
		e.log.Error("another node claims this node's ID", zap.String("id", e.id), zap.String("other", other.Address()))
		return
	}
	e.log.Warn("two nodes claim one ID; the newcomer is ignored until the known one is dead for the reclaim time",
		zap.String("member", existing.Name), zap.String("known", existing.Address()), zap.String("newcomer", other.Address()))
}

// logWriter routes memberlist's log lines ("[LEVEL] memberlist: text") to
// zap at the matching level.
type logWriter struct{ log *zap.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	line := strings.TrimRight(string(p), "\n")
	level, text := "", line
	if strings.HasPrefix(line, "[") {
		if i := strings.IndexByte(line, ']'); i > 0 {
			level, text = line[1:i], strings.TrimSpace(line[i+1:])
		}
	}
	text = strings.TrimPrefix(text, "memberlist: ")
	switch level {
	case "DEBUG", "TRACE":
		w.log.Debug(text)
	case "WARN":
		w.log.Warn(text)
	case "ERR", "ERROR":
		w.log.Error(text)
	default:
		w.log.Info(text)
	}
	return len(p), nil
}

// gate silences a node's logger once the node is shut down, so memberlist
// goroutines that outlive Shutdown never write to a sink the caller has
// since closed (zaptest's panics after the test ends).
type gate struct {
	mu     sync.RWMutex
	closed bool
}

func (g *gate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

type gatedCore struct {
	zapcore.Core
	g *gate
}

func (c gatedCore) With(f []zapcore.Field) zapcore.Core {
	return gatedCore{c.Core.With(f), c.g}
}

func (c gatedCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c gatedCore) Write(e zapcore.Entry, f []zapcore.Field) error {
	c.g.mu.RLock()
	defer c.g.mu.RUnlock()
	if c.g.closed {
		return nil
	}
	return c.Core.Write(e, f)
}
