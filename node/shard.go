package node

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"altmin/cluster"
	"altmin/data"
	"altmin/internal/arith"
	"altmin/internal/metrics"
	"altmin/msg"
	"altmin/pki"
	"altmin/shard"
	"altmin/transport"
)

// ErrConfig is wrapped by configuration errors.
var ErrConfig = errors.New("node: bad configuration")

// Security holds what a node needs to talk to the others.
type Security struct {
	Key      []byte      // gossip key, 16, 24 or 32 bytes
	TLS      *tls.Config // server side for a shard, client side for the coordinator
	Insecure bool        // plaintext gossip and gRPC; must be explicit
}

func (s Security) validate() error {
	if s.Insecure {
		return nil
	}
	if len(s.Key) == 0 {
		return fmt.Errorf("%w: a cluster key is required (--cluster-key or ALTMIN_CLUSTER_KEY), or --insecure", ErrConfig)
	}
	if s.TLS == nil {
		return fmt.Errorf("%w: TLS certificates are required (--tls-dir, or --ca/--cert/--key), or --insecure", ErrConfig)
	}
	return nil
}

// Gossip is where a node's membership layer listens and whom it joins.
type Gossip struct {
	Bind      string        // host to bind, e.g. 0.0.0.0 or 127.0.0.1
	Port      int           // 0 picks a free port
	Advertise string        // host:port others reach it at; "" = the bound address
	Join      []string      // host:port of members to join; empty for the first node
	Timeout   time.Duration // how long to keep trying to join
}

// ShardConfig configures a shard node.
type ShardConfig struct {
	ID            string
	Partitions    []int // partition IDs held
	NumPartitions int   // P
	Source        data.Source
	Bias          bool
	Storage       shard.Storage // precision the features are held in; "" = float64
	// Parallel bounds the partitions computed at once (shard.Engine's
	// SetParallel); 0 means GOMAXPROCS.
	Parallel int
	// Resident, when > 0, streams the partitions: at most Resident
	// partitions' rows are held in memory at once, the others read from
	// Source when computed (shard.NewStreamingEngine); 0 holds them all.
	Resident int
	// ReplyBudget bounds the bytes of replies in flight (transport.Server's
	// SetLimits); 0 means transport.DefaultReplyBudget.
	ReplyBudget int64
	// SendTimeout cancels a reply stream whose client takes no chunk for
	// this long; 0 means transport.DefaultSendTimeout, < 0 no bound.
	SendTimeout   time.Duration
	GRPCListen    string // host:port, port 0 picks a free one
	GRPCAdvertise string // host:port others dial; "" = the listener's address
	Gossip        Gossip
	Security      Security
	Log           *zap.Logger
	// Metrics counts the shard's requests, computations and bytes sent and
	// reports its partitions held and resident; nil counts nothing.
	Metrics *metrics.Shard
	// Loaded, when set, is called with the rows of each partition as it is
	// read at start (a progress display).
	Loaded func(rows int)
}

// Shard is a running shard node.
type Shard struct {
	cfg    ShardConfig
	log    *zap.Logger
	engine *shard.Engine
	gs     *grpc.Server
	lis    net.Listener
	member *cluster.Node
	served chan error
}

// Schema returns the schema of a data source as partitioned.
func Schema(src data.Source, parts int, bias bool) (transport.Schema, error) {
	info := src.Info()
	fp, err := data.Fingerprint(src)
	if err != nil {
		return transport.Schema{}, err
	}
	return transport.Schema{N: info.N, D: info.D, P: parts, Bias: bias, DType: "float64", Fingerprint: fp, Arith: arith.Build(), Protocol: transport.ProtocolVersion,
		Columns: data.FeaturesDigest(info.Features)}, nil
}

// SchemaStored returns the schema of a data source as partitioned and held
// in storage st: with float32 storage the dtype is "float32" and the
// fingerprint is that of the features rounded to float32 (data.Float32),
// the data the shard computes on. Shards of other storage are therefore
// refused by Compatible, and data changed by the rounding have another
// fingerprint.
func SchemaStored(src data.Source, parts int, bias bool, st shard.Storage) (transport.Schema, error) {
	valFrom := 0
	if h, ok := src.(interface{ Head() int }); ok { // the rows of a --val-data after the training rows
		valFrom = h.Head()
	}
	if st == shard.Float32 {
		src = data.Float32(src)
	}
	s, err := Schema(src, parts, bias)
	if err != nil {
		return s, err
	}
	s.DType, s.ValFrom = string(st), valFrom
	return s, nil
}

// loadEngine reads the shard's partitions into memory, or, with
// cfg.Resident > 0, checks them (one read of each) and returns a streaming
// engine. It stops between partitions once ctx is done.
func loadEngine(ctx context.Context, cfg ShardConfig, parts []int, st shard.Storage, log *zap.Logger) (*shard.Engine, error) {
	start := time.Now()
	var eng *shard.Engine
	var bytes int64
	if cfg.Resident > 0 {
		var err error
		eng, err = shard.NewStreamingEngine(shard.StreamConfig{
			Source: cfg.Source, Partitions: cfg.NumPartitions, IDs: parts, Bias: cfg.Bias, Storage: st, Resident: cfg.Resident, Loaded: cfg.Loaded,
		})
		if err != nil {
			return nil, err
		}
	} else {
		var rows int64
		for _, p := range parts {
			if p < 0 || p >= cfg.NumPartitions {
				return nil, fmt.Errorf("node: partition %d out of range [0, %d)", p, cfg.NumPartitions)
			}
			lo, hi := data.Bounds(cfg.Source.Info().N, cfg.NumPartitions, p)
			rows += int64(hi - lo)
		}
		d := cfg.Source.Info().D
		if cfg.Bias {
			d++
		}
		if err := shard.CheckHeld(fmt.Sprintf("shard %s", cfg.ID), rows, d, st, shard.MachineMemory()); err != nil {
			return nil, err
		}
		var loaded []*shard.Partition
		for _, p := range parts {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("node: shard %s: loading partition %d: %w", cfg.ID, p, err)
			}
			pt, err := shard.LoadAs(cfg.Source, cfg.NumPartitions, p, cfg.Bias, st)
			if err != nil {
				return nil, err
			}
			bytes += pt.Bytes()
			loaded = append(loaded, pt)
			if cfg.Loaded != nil {
				cfg.Loaded(pt.Rows)
			}
		}
		var err error
		if eng, err = shard.NewEngine(loaded...); err != nil {
			return nil, err
		}
		eng.SetPartitionCount(cfg.NumPartitions)
	}
	if cfg.Parallel > 0 {
		eng.SetParallel(cfg.Parallel)
	}
	if cfg.Resident > 0 {
		log.Info("partitions checked, streamed from the data", zap.Ints("partitions", parts), zap.String("storage", string(st)),
			zap.Int("resident", cfg.Resident), zap.Duration("dur", time.Since(start)))
	} else {
		log.Info("partitions loaded", zap.Ints("partitions", parts), zap.String("storage", string(st)),
			zap.Int64("bytes", bytes), zap.Duration("dur", time.Since(start)))
	}
	return eng, nil
}

// StartShard loads the partitions, starts the gRPC service and joins the
// cluster. It returns once the node is serving and has joined (or is the
// first node).
func StartShard(ctx context.Context, cfg ShardConfig) (*Shard, error) {
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("shard", cfg.ID))
	if err := pki.ValidateName(cfg.ID); err != nil {
		return nil, fmt.Errorf("%w: --id: %v", ErrConfig, err)
	}
	if err := cfg.Security.validate(); err != nil {
		return nil, err
	}
	if cfg.NumPartitions < 1 || len(cfg.Partitions) == 0 {
		return nil, fmt.Errorf("%w: shard %s holds no partitions of %d", ErrConfig, cfg.ID, cfg.NumPartitions)
	}
	if cfg.Parallel < 0 {
		return nil, fmt.Errorf("%w: shard %s: %d partitions computed at once: want 0 (GOMAXPROCS) or more", ErrConfig, cfg.ID, cfg.Parallel)
	}
	if cfg.Resident < 0 {
		return nil, fmt.Errorf("%w: shard %s: %d resident partitions: want 0 (all) or more", ErrConfig, cfg.ID, cfg.Resident)
	}
	parts := slices.Clone(cfg.Partitions)
	slices.Sort(parts)
	if len(slices.Compact(slices.Clone(parts))) != len(parts) {
		return nil, fmt.Errorf("%w: shard %s: partition list %v repeats a partition", ErrConfig, cfg.ID, cfg.Partitions)
	}
	st := cfg.Storage
	if st == "" {
		st = shard.Float64
	}
	if _, err := shard.ParseStorage(string(st)); err != nil {
		return nil, fmt.Errorf("%w: shard %s: --storage: %v", ErrConfig, cfg.ID, err)
	}
	for _, p := range parts {
		if p < 0 || p >= cfg.NumPartitions {
			return nil, fmt.Errorf("%w: shard %s: partition %d out of range [0, %d)", ErrConfig, cfg.ID, p, cfg.NumPartitions)
		}
	}
	eng, err := loadEngine(ctx, cfg, parts, st, log)
	if err != nil {
		return nil, err
	}
	rows := map[int]int{}
	for _, p := range parts {
		rows[p], _, _ = eng.Shape(p)
	}
	schema, err := SchemaStored(cfg.Source, cfg.NumPartitions, cfg.Bias, st)
	if err != nil {
		return nil, err
	}

	lis, err := net.Listen("tcp", cfg.GRPCListen)
	if err != nil {
		return nil, fmt.Errorf("node: shard %s: gRPC listen on %q: %w", cfg.ID, cfg.GRPCListen, err)
	}
	opts := transport.StreamServerOptions()
	if !cfg.Security.Insecure {
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg.Security.TLS)))
	}
	gs := grpc.NewServer(opts...)
	info := schema
	info.Rows = rows
	pool := msg.NewPool()
	eng.SetPool(pool)
	srv := transport.NewServer(eng, pool, transport.ShardInfo{ID: cfg.ID, Schema: info}, log)
	srv.SetMetrics(cfg.Metrics)
	sendTimeout := cfg.SendTimeout
	if sendTimeout == 0 {
		sendTimeout = transport.DefaultSendTimeout
	}
	srv.SetLimits(cfg.ReplyBudget, sendTimeout)
	cfg.Metrics.Holds(len(parts), eng.Held)
	transport.Register(gs, srv)
	s := &Shard{cfg: cfg, log: log, engine: eng, gs: gs, lis: lis, served: make(chan error, 1)}
	go func() { s.served <- gs.Serve(lis) }()

	adv := cfg.GRPCAdvertise
	if adv == "" {
		adv = lis.Addr().String()
	}
	meta := cluster.Meta{ID: cfg.ID, Role: cluster.RoleShard, GRPCAddr: adv, Partitions: parts}
	if meta.Schema, err = json.Marshal(schema); err != nil {
		s.Close()
		return nil, err
	}
	s.member, err = startMember(ctx, cfg.ID, meta, cfg.Gossip, cfg.Security, log, true)
	if err != nil {
		s.Close()
		return nil, err
	}
	log.Info("shard serving", zap.String("grpc", adv), zap.String("gossip", s.member.Addr()), zap.Ints("partitions", parts))
	return s, nil
}

// startMember starts the membership node and joins the cluster, retrying
// until the gossip timeout. With unique (a shard), a live member at
// another address with the same ID (cluster.ErrDuplicateID) is one more
// reason to retry: the members ignore this node while that one lives, so
// it joins once that member is declared dead (a predecessor killed
// without leaving) and otherwise fails at the timeout with the error
// naming the ID and the member; it never serves unseen. Without unique (a
// coordinator, which need not be seen to read the shards) it is only
// logged.
func startMember(ctx context.Context, id string, meta cluster.Meta, g Gossip, sec Security, log *zap.Logger, unique bool) (*cluster.Node, error) {
	cc := cluster.DefaultConfig()
	if ip := net.ParseIP(g.Bind); ip != nil && ip.IsLoopback() {
		cc = cluster.LocalConfig()
	}
	cc.ID, cc.BindAddr, cc.BindPort = id, g.Bind, g.Port
	cc.Key, cc.Insecure, cc.Meta, cc.Log = sec.Key, sec.Insecure, meta, log
	if g.Advertise != "" {
		ah, ap, err := net.SplitHostPort(g.Advertise)
		if err != nil {
			return nil, fmt.Errorf("%w: gossip advertise address %q: %v", ErrConfig, g.Advertise, err)
		}
		cc.AdvertiseAddr = ah
		if _, err := fmt.Sscan(ap, &cc.AdvertisePort); err != nil {
			return nil, fmt.Errorf("%w: gossip advertise address %q: bad port", ErrConfig, g.Advertise)
		}
	}
	n, err := cluster.Start(cc)
	if err != nil {
		return nil, fmt.Errorf("node: %s: %w", id, err)
	}
	if len(g.Join) == 0 {
		return n, nil
	}
	deadline := time.Now().Add(g.Timeout)
	for {
		_, err := n.Join(g.Join)
		if errors.Is(err, cluster.ErrDuplicateID) {
			if !unique {
				log.Warn("another member has this node's ID; the others ignore this node while it lives", zap.Error(err))
				return n, nil
			}
			log.Warn("another member has this shard's ID; waiting for it to be declared dead", zap.Error(err))
		}
		if err == nil {
			return n, nil
		}
		if time.Now().After(deadline) {
			n.Shutdown() // no Leave: its announcement would be taken for another member's under the ID
			return nil, fmt.Errorf("node: %s: could not join %s within %s: %w", id, strings.Join(g.Join, ","), g.Timeout, err)
		}
		log.Debug("join failed, retrying", zap.Strings("join", g.Join), zap.Error(err))
		select {
		case <-ctx.Done():
			n.Shutdown()
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// GRPCAddr returns the address the gRPC service listens on.
func (s *Shard) GRPCAddr() string { return s.lis.Addr().String() }

// GossipAddr returns the address the membership layer is bound to.
func (s *Shard) GossipAddr() string { return s.member.Addr() }

// Engine returns the shard's statistics engine.
func (s *Shard) Engine() *shard.Engine { return s.engine }

// Done returns a channel that receives the gRPC server's exit error.
func (s *Shard) Done() <-chan error { return s.served }

// Close leaves the cluster and stops serving.
func (s *Shard) Close() error {
	var err error
	if s.member != nil {
		err = errors.Join(s.member.Leave(time.Second), s.member.Shutdown())
	}
	s.gs.Stop()
	return err
}

// insecureCreds is the plaintext transport for --insecure and local shards.
var insecureCreds = insecure.NewCredentials()

// ParseGossip builds a Gossip from a bind address "host:port", an optional
// advertise address and the members to join. An advertise address whose
// host is a name rather than an IP address is resolved here, once, to its
// first IPv4 address (else its first address): the gossip layer announces
// IP addresses only. A container's own host name resolves, through its
// /etc/hosts, to its address on its first network, which is how a Docker
// Swarm task advertises its overlay address (deploy/swarm/stack.yml).
func ParseGossip(bind, advertise string, join []string, timeout time.Duration) (Gossip, error) {
	host, port, err := net.SplitHostPort(bind)
	if err != nil {
		return Gossip{}, fmt.Errorf("%w: gossip address %q: %v", ErrConfig, bind, err)
	}
	var p int
	if _, err := fmt.Sscan(port, &p); err != nil || p < 0 || p > 65535 {
		return Gossip{}, fmt.Errorf("%w: gossip address %q: bad port", ErrConfig, bind)
	}
	if advertise != "" {
		if advertise, err = resolveHost(advertise); err != nil {
			return Gossip{}, fmt.Errorf("%w: gossip advertise address: %v", ErrConfig, err)
		}
	}
	return Gossip{Bind: host, Port: p, Advertise: advertise, Join: join, Timeout: timeout}, nil
}

// resolveHost returns host:port with a host name replaced by its first
// IPv4 address, or its first address when it has no IPv4 one; an IP
// address is kept.
func resolveHost(hostport string) (string, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", fmt.Errorf("%q: %v", hostport, err)
	}
	if net.ParseIP(host) != nil {
		return hostport, nil
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return "", fmt.Errorf("%q: cannot resolve %q: %v", hostport, host, err)
	}
	ip := ips[0]
	for _, a := range ips {
		if a.To4() != nil {
			ip = a
			break
		}
	}
	return net.JoinHostPort(ip.String(), port), nil
}
