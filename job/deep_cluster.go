package job

import (
	"context"
	"fmt"
	"io"

	"go.uber.org/zap"

	"altmin/data"
	"altmin/deep"
	"altmin/fleet"
	"altmin/node"
	"altmin/shard"
	"altmin/transport"
)

// The runtimes of deep networks over gRPC: a cluster of shard processes
// (--join) and shards started in process (--local-shards), the same as for
// the 1-hidden-layer models; the statistics travel by the DeepStep call.

// trainDeepCluster joins a cluster of shard processes and trains a deep
// network on their data.
func trainDeepCluster(ctx context.Context, o Options, out io.Writer, log *zap.Logger) (*DeepResult, error) {
	coord, schema, err := joinCluster(ctx, o, out, log)
	if err != nil {
		return nil, err
	}
	defer coord.Close()
	dp, err := prepareDeepRemote(o, schema)
	if err != nil {
		return nil, err
	}
	defer dp.Close()
	return runDeepFleet(ctx, o, dp, coord, out, log)
}

// prepareDeepRemote builds the deep problem for data held by shards with
// the given schema. With --synthetic, the coordinator regenerates the
// planted data and checks that the shards hold the same.
func prepareDeepRemote(o Options, schema transport.Schema) (*DeepProblem, error) {
	src, err := remoteData(&o, schema)
	if err != nil {
		return nil, err
	}
	var tch *deep.Teacher
	if o.Synthetic != "" {
		g, t, err := openDeepSource(o)
		if err != nil {
			return nil, err
		}
		stored := g
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
		src, tch = g, t
	}
	dp, err := prepareDeep(o, src, tch)
	if err != nil {
		return nil, err
	}
	dp.DataID = schema.Fingerprint
	return dp, nil
}

// trainDeepLocalShards starts o.LocalShards shards in process, each holding
// the partitions p with p % LocalShards == its index, and trains through
// them over gRPC and memberlist on loopback.
func trainDeepLocalShards(ctx context.Context, o Options, dp *DeepProblem, out io.Writer, log *zap.Logger) (*DeepResult, error) {
	shards, coord, err := StartLocalCluster(ctx, o, dp.Source, dp.Bias, 1, log)
	defer func() {
		for _, s := range shards {
			s.Close()
		}
	}()
	if err != nil {
		return nil, err
	}
	defer coord.Close()
	fmt.Fprintf(out, "%d in-process shards over gRPC and memberlist on loopback\n", len(shards))
	return runDeepFleet(ctx, o, dp, coord, out, log)
}

// StartLocalCluster starts o.LocalShards shards in process holding the
// o.Partitions partitions of src (in o.Storage, with the bias feature when
// bias), each partition on `replicas` shards (shard i holds p when
// (p - i) mod LocalShards < replicas), and a coordinator node that has seen
// every partition held; all on loopback, plaintext. On error the shards
// started so far are returned for the caller to close.
func StartLocalCluster(ctx context.Context, o Options, src data.Source, bias bool, replicas int, log *zap.Logger) ([]*node.Shard, *node.Coordinator, error) {
	n := o.LocalShards
	if n < 1 || replicas < 1 || replicas > n {
		return nil, nil, fmt.Errorf("%w: %d local shards with %d replicas per partition", ErrOptions, n, replicas)
	}
	plain := node.Security{Insecure: true}
	var shards []*node.Shard
	var seed []string
	for i := 0; i < n; i++ {
		var parts []int
		for p := 0; p < o.Partitions; p++ {
			if ((p-i)%n+n)%n < replicas {
				parts = append(parts, p)
			}
		}
		if len(parts) == 0 {
			break
		}
		s, err := node.StartShard(ctx, node.ShardConfig{
			ID: fmt.Sprintf("local-%d", i), Partitions: parts, NumPartitions: o.Partitions,
			Source: src, Bias: bias, Storage: shard.Storage(o.Storage), GRPCListen: "127.0.0.1:0",
			Gossip:   node.Gossip{Bind: "127.0.0.1", Join: seed, Timeout: o.JoinTimeout},
			Security: plain, Log: log,
		})
		if err != nil {
			return shards, nil, err
		}
		shards = append(shards, s)
		if seed == nil {
			seed = []string{s.GossipAddr()}
		}
	}
	coord, err := node.StartCoordinator(ctx, node.CoordinatorConfig{ID: "coordinator",
		Gossip: node.Gossip{Bind: "127.0.0.1", Join: seed, Timeout: o.JoinTimeout}, Security: plain, Log: log})
	if err != nil {
		return shards, nil, err
	}
	if _, err := coord.WaitReady(ctx, o.Partitions, o.JoinTimeout); err != nil {
		coord.Close()
		return shards, nil, err
	}
	return shards, coord, nil
}

// runDeepFleet trains through the cluster coord sees: DeepStep calls with
// the failover, hedging and rejoin wait of the 1-hidden-layer models.
func runDeepFleet(ctx context.Context, o Options, dp *DeepProblem, coord *node.Coordinator, out io.Writer, log *zap.Logger) (*DeepResult, error) {
	f := fleet.New(fleet.Config{CallTimeout: o.StepTimeout, HedgeAfter: o.HedgeAfter, RejoinTimeout: o.RejoinTimeout, Log: log}, coord, coord)
	defer f.Close()
	// Over the network every partition is asked at once; the shards bound
	// their own parallelism.
	o.Parallel = o.Partitions
	return RunDeep(ctx, o, dp, fleet.DeepFetcher{F: f, Caller: coord}, out, log)
}
