package node

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"altmin/cluster"
	"altmin/fleet"
	"altmin/internal/arith"
	"altmin/internal/metrics"
	"altmin/msg"
	"altmin/placement"
	"altmin/transport"
)

// CoordinatorConfig configures the coordinator's membership node.
type CoordinatorConfig struct {
	ID       string
	Gossip   Gossip
	Security Security
	// Pool gives the Gram buffers of the partials the gRPC clients
	// assemble (nil: allocate each); the core gives them back.
	Pool *msg.Pool
	Log  *zap.Logger
	// Metrics counts the bytes the gRPC clients receive and the replies
	// they refuse; nil counts nothing.
	Metrics *metrics.Coordinator
}

// Coordinator is the coordinator's view of the cluster. It implements
// fleet.View and fleet.Caller.
type Coordinator struct {
	cfg    CoordinatorConfig
	log    *zap.Logger
	member *cluster.Node

	mu       sync.Mutex
	clients  map[string]*transport.Client // by shard ID + address
	received atomic.Int64                 // bytes of reply messages, every client
}

// StartCoordinator starts the coordinator's membership node and joins the
// cluster.
func StartCoordinator(ctx context.Context, cfg CoordinatorConfig) (*Coordinator, error) {
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	if err := cfg.Security.validate(); err != nil {
		return nil, err
	}
	if cfg.ID == "" {
		cfg.ID = "coordinator"
	}
	meta := cluster.Meta{ID: cfg.ID, Role: cluster.RoleCoordinator}
	m, err := startMember(ctx, cfg.ID, meta, cfg.Gossip, cfg.Security, log, false)
	if err != nil {
		return nil, err
	}
	return &Coordinator{cfg: cfg, log: log, member: m, clients: map[string]*transport.Client{}}, nil
}

// GossipAddr returns the address the membership layer is bound to.
func (c *Coordinator) GossipAddr() string { return c.member.Addr() }

// Shards implements fleet.View: the live shards.
func (c *Coordinator) Shards() []fleet.Member {
	var out []fleet.Member
	for _, m := range c.member.Members() {
		if m.Role != cluster.RoleShard {
			continue
		}
		out = append(out, fleet.Member{ID: m.ID, Addr: m.GRPCAddr, Partitions: m.Partitions})
	}
	return out
}

// Changes implements fleet.View.
func (c *Coordinator) Changes() <-chan struct{} { return c.member.Changes() }

// Received returns the bytes of the reply messages received from the
// shards so far, over every connection: the coordinator's inbound bytes.
func (c *Coordinator) Received() int64 { return c.received.Load() }

// Call implements fleet.Caller: span sp's partial for req from shard m over
// gRPC (transport.Client.Call).
func (c *Coordinator) Call(ctx context.Context, m fleet.Member, req msg.Request, sp msg.Span) (msg.Partial, error) {
	cl, err := c.client(ctx, m)
	if err != nil {
		return nil, err
	}
	return cl.Call(ctx, m.ID, req, sp)
}

func (c *Coordinator) client(ctx context.Context, m fleet.Member) (*transport.Client, error) {
	key := m.ID + "@" + m.Addr
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl := c.clients[key]; cl != nil {
		return cl, nil
	}
	var opt grpc.DialOption
	if c.cfg.Security.Insecure {
		opt = grpc.WithTransportCredentials(insecureCreds)
	} else {
		tc := c.cfg.Security.TLS.Clone()
		// Shard certificates name the shard ID; addresses may be anything.
		tc.ServerName = m.ID
		opt = grpc.WithTransportCredentials(credentials.NewTLS(tc))
	}
	cl, err := transport.Dial(ctx, m.Addr, c.cfg.Pool, append([]grpc.DialOption{opt}, transport.StreamDialOptions()...)...)
	if err != nil {
		return nil, fmt.Errorf("node: dial shard %s at %s: %w", m.ID, m.Addr, err)
	}
	cl.SetMetrics(c.cfg.Metrics)
	cl.SetCounter(&c.received)
	c.clients[key] = cl
	return cl, nil
}

// WaitReady waits until every partition 0..P-1 is held by a live shard and
// all shards agree on the data, and returns their common schema. P is taken
// from the shards when parts is 0. After timeout it fails with the missing
// partitions.
func (c *Coordinator) WaitReady(ctx context.Context, parts int, timeout time.Duration) (transport.Schema, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var missing []int
	for {
		schema, miss, err := c.check(parts)
		if err != nil {
			return transport.Schema{}, err
		}
		if schema != nil && len(miss) == 0 {
			return *schema, nil
		}
		missing = miss
		select {
		case <-ctx.Done():
			return transport.Schema{}, ctx.Err()
		case <-deadline.C:
			if missing == nil {
				return transport.Schema{}, fmt.Errorf("node: no shard joined within %s", timeout)
			}
			return transport.Schema{}, fmt.Errorf("node: partitions %s are held by no live shard after %s", placement.Ranges(missing), timeout)
		case <-c.Changes():
		case <-tick.C:
		}
	}
}

// check compares the shards' schemas and lists the missing partitions.
func (c *Coordinator) check(parts int) (*transport.Schema, []int, error) {
	var first *transport.Schema
	var firstID string
	var members []fleet.Member
	for _, m := range c.member.Members() {
		if m.Role != cluster.RoleShard {
			continue
		}
		var s transport.Schema
		if err := json.Unmarshal(m.Schema, &s); err != nil {
			return nil, nil, fmt.Errorf("node: shard %s advertises an unreadable schema: %v", m.ID, err)
		}
		if first == nil {
			first, firstID = &s, m.ID
			if s.Protocol != transport.ProtocolVersion {
				return nil, nil, fmt.Errorf("node: shard %s speaks protocol version %s, this coordinator %d: run one version on every node", m.ID, protocolName(s.Protocol), transport.ProtocolVersion)
			}
			// The answer must be the bits a single process of this build
			// computes, whatever holds the data.
			if own := arith.Build(); s.Arith != own {
				return nil, nil, fmt.Errorf("node: shard %s is built for %s, this coordinator for %s: such builds round differently (fused multiply-adds) and would not give the bits of a run in one process; build every node for the same GOARCH and GOAMD64 level", m.ID, orUnknownBuild(s.Arith), own)
			}
		} else if err := first.Compatible(s); err != nil {
			return nil, nil, fmt.Errorf("node: shards %s and %s hold different data: %w", firstID, m.ID, err)
		}
		members = append(members, fleet.Member{ID: m.ID, Addr: m.GRPCAddr, Partitions: m.Partitions})
	}
	if first == nil {
		return nil, nil, nil
	}
	if parts != 0 && first.P != parts {
		return nil, nil, fmt.Errorf("node: shards split the data into %d partitions, the coordinator expects %d", first.P, parts)
	}
	return first, fleet.Missing(members, first.P), nil
}

// Close closes the gRPC clients and leaves the cluster.
func (c *Coordinator) Close() error {
	c.mu.Lock()
	for _, cl := range c.clients {
		cl.Close()
	}
	c.clients = nil
	c.mu.Unlock()
	return c.member.Shutdown()
}

// protocolName names the protocol version of a shard's schema; 0 is that
// of a shard of a version before 3, which did not announce it.
func protocolName(v int) string {
	if v == 0 {
		return "1 or 2 (not announced)"
	}
	return fmt.Sprint(v)
}

// orUnknownBuild names the empty build of a shard that does not report one.
func orUnknownBuild(b string) string {
	if b == "" {
		return "an unknown arithmetic (an older version)"
	}
	return b
}
