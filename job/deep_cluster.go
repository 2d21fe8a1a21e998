package job

import (
	"context"
	"io"

	"go.uber.org/zap"

	"altmin/data"
	"altmin/fleet"
	"altmin/node"
	"altmin/transport"
)

// The runtimes of deep networks over gRPC: a cluster of shard processes
// (--join) and shards started in process (--local-shards), the same as for
// the 1-hidden-layer models; the statistics travel by the DeepStep call.

// trainDeepCluster joins a cluster of shard processes and trains a deep
// network on their data.
func trainDeepCluster(ctx context.Context, o Options, out io.Writer, log *zap.Logger) (*DeepResult, error) {
	return trainOnCluster(ctx, o, out, log, prepareDeepRemote, runDeepFleet)
}

// prepareDeepRemote builds the deep problem for data held by shards with
// the given schema. With --synthetic, the coordinator regenerates the
// planted data and checks that the shards hold the same.
func prepareDeepRemote(o Options, schema transport.Schema) (*DeepProblem, error) {
	src, err := remoteData(&o, schema)
	if err != nil {
		return nil, err
	}
	var tch *data.DeepTeacher
	if o.Synthetic != "" {
		g, t, err := openDeepSource(o)
		if err != nil {
			return nil, err
		}
		if err := checkSynthetic(o, g, schema); err != nil {
			return nil, err
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
	return trainOnLocalShards(ctx, o, dp, dp.Source, dp.Bias, out, log, runDeepFleet)
}

// runDeepFleet trains through the cluster coord sees: DeepStep calls with
// the failover, hedging and rejoin wait of the 1-hidden-layer models.
func runDeepFleet(ctx context.Context, o Options, dp *DeepProblem, coord *node.Coordinator, out io.Writer, log *zap.Logger) (*DeepResult, error) {
	f := newFleet(o, coord, log)
	defer f.Close()
	o.Parallel = inFlight(o) // as runFleet
	return RunDeep(ctx, o, dp, fleet.DeepFetcher{F: f, Caller: coord}, out, log)
}
