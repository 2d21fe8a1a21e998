package job

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"go.uber.org/zap"

	"altmin/cluster"
	"altmin/data"
	"altmin/fleet"
	"altmin/msg"
	"altmin/node"
	"altmin/pki"
	"altmin/placement"
	"altmin/shard"
	"altmin/transport"
)

// The runtimes: where the partitions are computed. Every model family
// trains through the same three, and the weights are the same bits in all
// of them: in process (a shard.Engine), shards started in process talking
// over gRPC and memberlist on loopback (--local-shards), or a cluster of
// shard processes (--join).

// backend is where a run's partials come from: a runtime.
type backend struct {
	fetcher  msg.Fetcher
	parallel int                // partitions fetched at once
	desc     string             // a line for the table's header, "" for none
	where    string             // where the partitions are computed, e.g. "from the shards"
	closers  []func() error     // in the order to call them
	answered func(int) []string // the shards that answered a round, when known
	received func() int64       // the coordinator's inbound bytes so far; nil: none (in process)
	rounds   *roundProgress     // the progress of each round, wrapping fetcher; nil: none drawn
}

// Close stops the runtime.
func (rt *backend) Close() {
	for _, c := range rt.closers {
		c()
	}
}

// openBackend opens the problem and the runtime of o: it joins the cluster
// of o.Join and builds the problem of the data its shards hold, or opens
// the local data and computes them in process or through local shards. The
// caller closes both.
func openBackend(ctx context.Context, o Options, pool *msg.Pool, out io.Writer, log *zap.Logger) (*Problem, *backend, error) {
	if len(o.Join) > 0 {
		coord, schema, err := joinCluster(ctx, o, pool, out, log)
		if err != nil {
			return nil, nil, err
		}
		pr, err := prepareRemote(o, schema)
		if err == nil {
			if err = checkRoundMemory(o, pr); err != nil {
				pr.Close()
			}
		}
		if err != nil {
			coord.Close()
			return nil, nil, err
		}
		rt := fleetBackend(o, coord, log)
		rt.closers = append(rt.closers, coord.Close)
		return pr, rt, nil
	}
	pr, err := prepareLocal(ctx, o)
	if err != nil {
		return nil, nil, err
	}
	if err := checkLocalMemory(o, pr); err != nil {
		pr.Close()
		return nil, nil, err
	}
	if o.localShards() > 0 {
		shards, coord, err := StartLocalCluster(ctx, o, pr.Source, pr.Spec.Bias, 1, pool, log)
		closeShards := func() error {
			for _, s := range shards {
				s.Close()
			}
			return nil
		}
		if err != nil {
			closeShards()
			pr.Close()
			return nil, nil, err
		}
		rt := fleetBackend(o, coord, log)
		rt.desc = fmt.Sprintf("%d in-process shards over gRPC and memberlist on loopback", len(shards))
		rt.closers = append(rt.closers, coord.Close, closeShards)
		return pr, rt, nil
	}
	eng, err := localEngine(ctx, o, pr)
	if err != nil {
		pr.Close()
		return nil, nil, err
	}
	eng.SetPool(pool)
	return pr, &backend{fetcher: eng, parallel: o.parallel(), desc: fmt.Sprintf("%d partitions computed in process", o.Partitions), where: "in process"}, nil
}

// localEngine returns the engine of an in-process run over the problem's
// data: every partition read into memory in o's storage, or with
// o.Resident > 0 a streaming engine. It stops between partitions once ctx
// is done (a file source stops its reads too).
func localEngine(ctx context.Context, o Options, pr *Problem) (*shard.Engine, error) {
	st, err := o.storage()
	if err != nil {
		return nil, err
	}
	ids := make([]int, o.Partitions)
	for p := range ids {
		ids[p] = p
	}
	loading := newBar(o.Progress, "loading partitions", int64(pr.Source.Info().N), "rows")
	defer loading.end()
	if o.Resident > 0 {
		return shard.NewStreamingEngine(shard.StreamConfig{Source: pr.Source, Partitions: o.Partitions, IDs: ids, Bias: pr.Spec.Bias, Storage: st, Resident: o.Resident,
			Loaded: loading.add})
	}
	parts := make([]*shard.Partition, o.Partitions)
	for _, p := range ids {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("loading partition %d of %s: %w", p, pr.DataDesc, err)
		}
		if parts[p], err = shard.LoadAs(pr.Source, o.Partitions, p, pr.Spec.Bias, st); err != nil {
			return nil, err
		}
		loading.add(parts[p].Rows)
	}
	eng, err := shard.NewEngine(parts...)
	if err != nil {
		return nil, err
	}
	eng.SetPartitionCount(o.Partitions)
	return eng, nil
}

// fleetBackend returns the runtime of the cluster coord sees, with the
// failover, hedging and rejoin wait of the options: every partition
// requested at once (each shard bounding its own computations), or
// --parallel at a time.
func fleetBackend(o Options, coord *node.Coordinator, log *zap.Logger) *backend {
	f := fleet.New(fleet.Config{Partitions: o.Partitions, CallTimeout: o.StepTimeout, HedgeAfter: o.HedgeAfter, RejoinTimeout: o.RejoinTimeout, Log: log, Metrics: o.Metrics}, coord, coord)
	par := o.Partitions
	if o.Parallel > 0 {
		par = o.Parallel
	}
	return &backend{fetcher: f, parallel: par, answered: f.Answered, received: coord.Received, where: "from the shards", closers: []func() error{func() error { f.Close(); return nil }}}
}

// Security builds the node security settings from the options.
func Security(o Options, id string, server bool) (node.Security, error) {
	if o.Insecure {
		return node.Security{Insecure: true}, nil
	}
	sec := node.Security{}
	if o.ClusterKey != "" {
		k, err := cluster.ParseKey(o.ClusterKey)
		if err != nil {
			return sec, fmt.Errorf("%w: cluster key: %v", ErrOptions, err)
		}
		sec.Key = k
	}
	ca, cert, key := o.CA, o.Cert, o.Key
	if o.TLSDir != "" {
		if ca == "" {
			ca = filepath.Join(o.TLSDir, "ca.pem")
		}
		if cert == "" {
			cert = filepath.Join(o.TLSDir, pki.CertFile(id))
		}
		if key == "" {
			key = filepath.Join(o.TLSDir, pki.KeyFile(id))
		}
	}
	if ca != "" || cert != "" || key != "" {
		if ca == "" || cert == "" || key == "" {
			return sec, fmt.Errorf("%w: TLS needs a CA, a certificate and a key (--tls-dir, or --ca, --cert and --key)", ErrOptions)
		}
		var err error
		if server {
			sec.TLS, err = pki.ServerTLS(ca, cert, key)
		} else {
			sec.TLS, err = pki.ClientTLS(ca, cert, key, "")
		}
		if err != nil {
			return sec, err
		}
	}
	return sec, nil
}

// joinCluster joins the cluster of o.Join as a coordinator and waits until
// every partition is held by a live shard; with o.Replication > 0, it then
// waits for the rest of o.JoinTimeout until every partition has that many
// live holders, and warns about those with fewer. The caller closes the
// coordinator.
func joinCluster(ctx context.Context, o Options, pool *msg.Pool, out io.Writer, log *zap.Logger) (*node.Coordinator, transport.Schema, error) {
	sec, err := Security(o, o.NodeID, false)
	if err != nil {
		return nil, transport.Schema{}, err
	}
	gossip, err := node.ParseGossip(o.GossipBind, o.GossipAdvert, o.Join, o.JoinTimeout)
	if err != nil {
		return nil, transport.Schema{}, err
	}
	coord, err := node.StartCoordinator(ctx, node.CoordinatorConfig{ID: o.NodeID, Gossip: gossip, Security: sec, Pool: pool, Log: log, Metrics: o.Metrics})
	if err != nil {
		return nil, transport.Schema{}, err
	}
	fmt.Fprintf(out, "joined the cluster as %s (gossip %s); waiting for partitions 0..%d\n", o.NodeID, coord.GossipAddr(), o.Partitions-1)
	start := time.Now()
	schema, err := coord.WaitReady(ctx, o.Partitions, o.JoinTimeout)
	if err != nil {
		coord.Close()
		return nil, transport.Schema{}, err
	}
	if o.Replication > 0 {
		under, counts, err := coord.WaitReplicated(ctx, schema.P, o.Replication, max(0, o.JoinTimeout-time.Since(start)))
		if err != nil {
			coord.Close()
			return nil, transport.Schema{}, err
		}
		if len(under) > 0 {
			var desc []string
			for _, p := range under {
				desc = append(desc, fmt.Sprintf("%d: %d", p, counts[p]))
			}
			fmt.Fprintf(out, "WARNING: under-replicated after %s: partitions %s have fewer than --replication %d live holders (partition: holders %s); training goes on, but a partition whose last holder fails stops it after --rejoin-timeout\n",
				o.JoinTimeout, placement.Ranges(under), o.Replication, strings.Join(desc, ", "))
			log.Warn("under-replicated partitions", zap.String("partitions", placement.Ranges(under)), zap.Int("replication", o.Replication), zap.Ints("holders", counts))
		}
	}
	return coord, schema, nil
}

// StartLocalCluster starts o.LocalShards shards (localShards) in process holding the
// o.Partitions partitions of src (in o.Storage, with the bias feature when
// bias), each partition on `replicas` shards in the blocks of package
// placement (shard i holds blocks i, ..., i+replicas-1 of contiguous
// partitions, so that it can add up aligned spans of them itself; with
// more shards than partitions, one shard per partition), and a coordinator
// node, whose gRPC
// clients take their Gram buffers from pool, that has seen every partition
// held; all on loopback, plaintext. On error the shards started so far are
// returned for the caller to close.
func StartLocalCluster(ctx context.Context, o Options, src data.Source, bias bool, replicas int, pool *msg.Pool, log *zap.Logger) ([]*node.Shard, *node.Coordinator, error) {
	n := o.localShards()
	if n < 1 || replicas < 1 || replicas > n {
		return nil, nil, fmt.Errorf("%w: %d local shards with %d replicas per partition", ErrOptions, n, replicas)
	}
	plain := node.Security{Insecure: true}
	var shards []*node.Shard
	var seed []string
	loading := newBar(o.Progress, "loading partitions", int64(replicas)*int64(src.Info().N), "rows")
	defer loading.end()
	plan := placement.Plan{Partitions: o.Partitions, Shards: min(n, o.Partitions), Replication: min(replicas, o.Partitions)}
	for i := 0; i < plan.Shards; i++ {
		parts, err := plan.Shard(i)
		if err != nil {
			return shards, nil, fmt.Errorf("%w: %v", ErrOptions, err)
		}
		s, err := node.StartShard(ctx, node.ShardConfig{
			ID: fmt.Sprintf("local-%d", i), Partitions: parts, NumPartitions: o.Partitions,
			Source: src, Bias: bias, Storage: shard.Storage(o.Storage), Resident: o.Resident, GRPCListen: "127.0.0.1:0",
			// The shards share this process's cores: together they compute
			// as many partitions at once as the in-process runtime does.
			Parallel: max(1, runtime.GOMAXPROCS(0)/plan.Shards),
			Gossip:   node.Gossip{Bind: "127.0.0.1", Join: seed, Timeout: o.JoinTimeout},
			Security: plain, Log: log, Loaded: loading.add,
		})
		if err != nil {
			return shards, nil, err
		}
		shards = append(shards, s)
		if seed == nil {
			seed = []string{s.GossipAddr()}
		}
	}
	loading.end()
	coord, err := node.StartCoordinator(ctx, node.CoordinatorConfig{ID: "coordinator",
		Gossip: node.Gossip{Bind: "127.0.0.1", Join: seed, Timeout: o.JoinTimeout}, Security: plain, Pool: pool, Log: log, Metrics: o.Metrics})
	if err != nil {
		return shards, nil, err
	}
	if _, err := coord.WaitReady(ctx, o.Partitions, o.JoinTimeout); err != nil {
		coord.Close()
		return shards, nil, err
	}
	return shards, coord, nil
}
