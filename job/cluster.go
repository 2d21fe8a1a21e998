package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"go.uber.org/zap"

	"altmin/cluster"
	"altmin/data"
	"altmin/fleet"
	"altmin/node"
	"altmin/pki"
	"altmin/shard"
	"altmin/transport"
)

// remoteSource describes data that live on the shards: the coordinator
// knows its size, not its rows.
type remoteSource struct{ info data.Info }

func (r remoteSource) Info() data.Info { return r.info }

func (r remoteSource) Read(lo, hi int, x, y []float64) error {
	return errors.New("job: the data live on the shards and cannot be read by the coordinator")
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
// every partition is held by a live shard. The caller closes the
// coordinator.
func joinCluster(ctx context.Context, o Options, out io.Writer, log *zap.Logger) (*node.Coordinator, transport.Schema, error) {
	sec, err := Security(o, o.NodeID, false)
	if err != nil {
		return nil, transport.Schema{}, err
	}
	gossip, err := node.ParseGossip(o.GossipBind, o.GossipAdvert, o.Join, o.JoinTimeout)
	if err != nil {
		return nil, transport.Schema{}, err
	}
	coord, err := node.StartCoordinator(ctx, node.CoordinatorConfig{ID: o.NodeID, Gossip: gossip, Security: sec, Log: log})
	if err != nil {
		return nil, transport.Schema{}, err
	}
	fmt.Fprintf(out, "joined the cluster as %s (gossip %s); waiting for partitions 0..%d\n", o.NodeID, coord.GossipAddr(), o.Partitions-1)
	schema, err := coord.WaitReady(ctx, o.Partitions, o.JoinTimeout)
	if err != nil {
		coord.Close()
		return nil, transport.Schema{}, err
	}
	return coord, schema, nil
}

// trainCluster joins a cluster of shard processes and trains on their data.
func trainCluster(ctx context.Context, o Options, out io.Writer, log *zap.Logger) (*Result, error) {
	coord, schema, err := joinCluster(ctx, o, out, log)
	if err != nil {
		return nil, err
	}
	defer coord.Close()
	pr, err := prepareRemote(o, schema)
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	return runFleet(ctx, o, pr, coord, out, log)
}

// remoteData describes the data the shards of schema hold, and takes their
// bias feature into o (a --bias the shards do not apply is an error).
func remoteData(o *Options, schema transport.Schema) (data.Source, error) {
	if o.Bias && !schema.Bias {
		return nil, fmt.Errorf("%w: --bias is set but the shards do not append a bias feature (start them with --bias)", ErrOptions)
	}
	o.Bias = schema.Bias
	return remoteSource{data.Info{N: schema.N, D: schema.D,
		Desc: fmt.Sprintf("cluster data n=%d d=%d fingerprint=%s", schema.N, schema.D, schema.Fingerprint)}}, nil
}

// prepareRemote builds the problem for data held by shards with the given
// schema. With --synthetic, the coordinator regenerates the teacher and
// checks that the shards hold the same planted data.
func prepareRemote(o Options, schema transport.Schema) (*Problem, error) {
	src, err := remoteData(&o, schema)
	if err != nil {
		return nil, err
	}
	if o.Synthetic != "" {
		g, err := data.ParseSynthetic(o.Synthetic)
		if err != nil {
			return nil, err
		}
		var stored data.Source = g
		if schema.DType == string(shard.Float32) {
			stored = data.Float32(g) // the data as the shards hold them
		}
		fp, err := data.Fingerprint(stored)
		if err != nil {
			return nil, err
		}
		if fp != schema.Fingerprint {
			return nil, fmt.Errorf("%w: the shards hold other data than --synthetic %s stored as %s (fingerprint %s, shards %s)", ErrOptions, o.Synthetic, schema.DType, fp, schema.Fingerprint)
		}
		src = g
	}
	return prepare(o, src, schema.Fingerprint)
}

// trainLocalShards starts o.LocalShards shards in process, each holding
// the partitions p with p % LocalShards == its index, and trains through
// them over gRPC and memberlist on loopback.
func trainLocalShards(ctx context.Context, o Options, pr *Problem, out io.Writer, log *zap.Logger) (*Result, error) {
	n := o.LocalShards
	plain := node.Security{Insecure: true}
	var shards []*node.Shard
	defer func() {
		for _, s := range shards {
			s.Close()
		}
	}()
	var seed []string
	for i := 0; i < n; i++ {
		var parts []int
		for p := i; p < o.Partitions; p += n {
			parts = append(parts, p)
		}
		if len(parts) == 0 {
			break
		}
		s, err := node.StartShard(ctx, node.ShardConfig{
			ID: fmt.Sprintf("local-%d", i), Partitions: parts, NumPartitions: o.Partitions,
			Source: pr.Source, Bias: pr.Spec.Bias, Storage: shard.Storage(o.Storage), GRPCListen: "127.0.0.1:0",
			Gossip:   node.Gossip{Bind: "127.0.0.1", Join: seed, Timeout: o.JoinTimeout},
			Security: plain, Log: log,
		})
		if err != nil {
			return nil, err
		}
		shards = append(shards, s)
		if seed == nil {
			seed = []string{s.GossipAddr()}
		}
	}
	coord, err := node.StartCoordinator(ctx, node.CoordinatorConfig{ID: "coordinator",
		Gossip: node.Gossip{Bind: "127.0.0.1", Join: seed, Timeout: o.JoinTimeout}, Security: plain, Log: log})
	if err != nil {
		return nil, err
	}
	defer coord.Close()
	if _, err := coord.WaitReady(ctx, o.Partitions, o.JoinTimeout); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "%d in-process shards over gRPC and memberlist on loopback\n", len(shards))
	return runFleet(ctx, o, pr, coord, out, log)
}

func runFleet(ctx context.Context, o Options, pr *Problem, coord *node.Coordinator, out io.Writer, log *zap.Logger) (*Result, error) {
	f := fleet.New(fleet.Config{CallTimeout: o.StepTimeout, HedgeAfter: o.HedgeAfter, RejoinTimeout: o.RejoinTimeout, Log: log}, coord, coord)
	defer f.Close()
	// --init tensor: the shards compute the moments of their partitions,
	// with the same failover as the statistics, all partitions at once.
	if pr.tensorPending {
		fmt.Fprintf(out, "tensor initialization: moments of %d partitions from the shards\n", o.Partitions)
		if err := pr.initTensor(ctx, o, fleet.MomentSource{Fetcher: f, D: pr.Spec.D}, o.Partitions); err != nil {
			return nil, err
		}
	}
	// Over the network every partition is asked at once; the shards bound
	// their own parallelism.
	o.Parallel = o.Partitions
	return Run(ctx, o, pr, f, out, log)
}
