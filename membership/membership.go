package membership

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
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

// ErrConfig is wrapped by configuration errors.
var ErrConfig = errors.New("membership: bad configuration")

// Role is a node's role in the cluster.
type Role string

// The roles.
const (
	RoleCoordinator Role = "coordinator"
	RoleShard       Role = "shard"
)

// Meta is what a node tells the others about itself. Its JSON encoding
// must fit memberlist's 512-byte metadata limit.
type Meta struct {
	ID         string          `json:"id"`
	Role       Role            `json:"role"`
	GRPCAddr   string          `json:"grpc,omitempty"`
	Partitions []int           `json:"parts,omitempty"`
	Schema     json.RawMessage `json:"schema,omitempty"`
}

// Config configures a node.
type Config struct {
	ID            string // node name, unique in the cluster
	BindAddr      string // host to bind; "" = 0.0.0.0
	BindPort      int    // 0 picks a free port
	AdvertiseAddr string // host others reach this node at; "" = chosen by memberlist
	AdvertisePort int    // port others reach this node at; 0 = the bound port
	Key           []byte // gossip key, 16, 24 or 32 bytes; required unless Insecure
	Insecure      bool   // plaintext gossip, explicitly
	Meta          Meta
	// DeadNodeReclaim is how long after a node is declared dead another
	// node with the same ID but a new address may take its place; 0 means
	// 5 s.
	DeadNodeReclaim time.Duration
	Log             *zap.Logger
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if err := ValidateID(c.ID); err != nil {
		return err
	}
	if c.Meta.ID != c.ID {
		return fmt.Errorf("%w: metadata names %q, node is %q", ErrConfig, c.Meta.ID, c.ID)
	}
	if !c.Insecure {
		if err := memberlist.ValidateKey(c.Key); err != nil {
			return fmt.Errorf("%w: cluster key: %v (give a key, or run insecure explicitly)", ErrConfig, err)
		}
	}
	if c.BindPort < 0 || c.BindPort > 65535 || c.AdvertisePort < 0 || c.AdvertisePort > 65535 {
		return fmt.Errorf("%w: port out of range", ErrConfig)
	}
	if _, err := encodeMeta(c.Meta); err != nil {
		return err
	}
	return nil
}

// ValidateID checks a node ID: 1 to 63 characters of letters, digits, '-',
// '_' and '.'.
func ValidateID(id string) error {
	if id == "" || len(id) > 63 {
		return fmt.Errorf("%w: node ID %q must have 1 to 63 characters", ErrConfig, id)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("%w: node ID %q has the character %q (use letters, digits, '-', '_', '.')", ErrConfig, id, r)
		}
	}
	return nil
}

func encodeMeta(m Meta) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(b) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("%w: node metadata is %d bytes, memberlist allows %d (fewer partitions per shard, or shorter addresses)", ErrConfig, len(b), memberlist.MetaMaxSize)
	}
	return b, nil
}

// ParseKey decodes a base64 cluster key of 16, 24 or 32 bytes.
func ParseKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("membership: cluster key is not base64: %v", err)
	}
	if err := memberlist.ValidateKey(k); err != nil {
		return nil, fmt.Errorf("membership: cluster key: %v", err)
	}
	return k, nil
}

// GenerateKey returns a new random 32-byte key, base64-encoded.
func GenerateKey() (string, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(k), nil
}

// Node is a running member of the cluster.
type Node struct {
	ml     *memberlist.Memberlist
	log    *zap.Logger
	mu     sync.Mutex
	meta   []byte
	change chan struct{}
}

// Start creates the node; it is alone until Join.
func Start(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	meta, _ := encodeMeta(cfg.Meta)
	n := &Node{log: log, meta: meta, change: make(chan struct{}, 1)}
	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.ID
	mc.BindAddr = cfg.BindAddr
	if mc.BindAddr == "" {
		mc.BindAddr = "0.0.0.0"
	}
	mc.BindPort = cfg.BindPort
	mc.AdvertisePort = cfg.AdvertisePort
	if mc.AdvertisePort == 0 {
		mc.AdvertisePort = cfg.BindPort
	}
	mc.AdvertiseAddr = cfg.AdvertiseAddr
	if !cfg.Insecure {
		mc.SecretKey = cfg.Key
		mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	}
	// Faster failure detection than the LAN preset, for a small cluster.
	mc.ProbeInterval = 500 * time.Millisecond
	mc.ProbeTimeout = 250 * time.Millisecond
	mc.SuspicionMult = 3
	mc.GossipInterval = 100 * time.Millisecond
	mc.PushPullInterval = 10 * time.Second
	mc.TCPTimeout = 2 * time.Second
	mc.DeadNodeReclaimTime = cfg.DeadNodeReclaim
	if mc.DeadNodeReclaimTime == 0 {
		mc.DeadNodeReclaimTime = 5 * time.Second
	}
	mc.Delegate = (*delegate)(n)
	mc.Events = (*events)(n)
	mc.LogOutput = logWriter{log.Named("memberlist")}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("membership: start %s on %s:%d: %w", cfg.ID, mc.BindAddr, cfg.BindPort, err)
	}
	n.ml = ml
	return n, nil
}

// Join contacts the given members (host:port) and returns how many answered.
func (n *Node) Join(addrs []string) (int, error) {
	c, err := n.ml.Join(addrs)
	if err != nil {
		return c, fmt.Errorf("membership: join %v: %w", addrs, err)
	}
	return c, nil
}

// Addr returns the address others reach this node at.
func (n *Node) Addr() string {
	ln := n.ml.LocalNode()
	return net.JoinHostPort(ln.Addr.String(), strconv.Itoa(int(ln.Port)))
}

// Members returns the live members (self included) with their metadata,
// sorted by ID. Members whose metadata cannot be decoded are skipped and
// logged.
func (n *Node) Members() []Meta {
	var out []Meta
	for _, m := range n.ml.Members() {
		if m.State != memberlist.StateAlive {
			continue
		}
		var meta Meta
		if err := json.Unmarshal(m.Meta, &meta); err != nil || meta.ID != m.Name {
			n.log.Warn("member with unreadable metadata ignored", zap.String("member", m.Name), zap.Error(err))
			continue
		}
		out = append(out, meta)
	}
	slices.SortFunc(out, func(a, b Meta) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

// Changes signals (coalescing, never blocking the sender) each time a
// member joins, leaves, dies or updates its metadata.
func (n *Node) Changes() <-chan struct{} { return n.change }

// UpdateMeta gossips new metadata.
func (n *Node) UpdateMeta(m Meta) error {
	b, err := encodeMeta(m)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.meta = b
	n.mu.Unlock()
	return n.ml.UpdateNode(5 * time.Second)
}

// Leave announces the departure and waits up to timeout for it to spread.
func (n *Node) Leave(timeout time.Duration) error { return n.ml.Leave(timeout) }

// Shutdown stops the node without a goodbye (others detect it as dead).
func (n *Node) Shutdown() error { return n.ml.Shutdown() }

func (n *Node) signal() {
	select {
	case n.change <- struct{}{}:
	default:
	}
}

type delegate Node

func (d *delegate) NodeMeta(limit int) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.meta
}
func (d *delegate) NotifyMsg([]byte)                           {}
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}

type events Node

func (e *events) NotifyJoin(m *memberlist.Node) {
	e.log.Debug("member joined", zap.String("member", m.Name))
	(*Node)(e).signal()
}
func (e *events) NotifyLeave(m *memberlist.Node) {
	e.log.Info("member left or failed", zap.String("member", m.Name))
	(*Node)(e).signal()
}
func (e *events) NotifyUpdate(m *memberlist.Node) {
	e.log.Debug("member updated", zap.String("member", m.Name))
	(*Node)(e).signal()
}

// logWriter routes memberlist's log lines ("... [WARN] memberlist: ...") to
// zap at their level.
type logWriter struct{ log *zap.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	lvl, msg := zap.DebugLevel, line
	for tag, l := range map[string]zapcore.Level{"[DEBUG]": zap.DebugLevel, "[INFO]": zap.InfoLevel, "[WARN]": zap.WarnLevel, "[ERR]": zap.ErrorLevel} {
		if i := strings.Index(line, tag); i >= 0 {
			lvl, msg = l, strings.TrimSpace(line[i+len(tag):])
			break
		}
	}
	if ce := w.log.Check(lvl, msg); ce != nil {
		ce.Write()
	}
	return len(p), nil
}
