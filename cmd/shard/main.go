// Command shard holds partitions of a data set in memory and serves their
// alternating-minimization statistics to a coordinator over gRPC, as a
// member of an altmin cluster.
//
//	shard --id s1 --partitions 0,1 --synthetic model=sum,d=50,k=5,n=50000 \
//	      --grpc-addr 127.0.0.1:7001 --gossip-addr 127.0.0.1:7947 --join 127.0.0.1:7946 \
//	      --cluster-key KEY --tls-dir certs
//	shard health --addr 127.0.0.1:7001 [--insecure | --tls-dir certs --id s1]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"altmin/internal/cli"
	"altmin/internal/metrics"
	"altmin/job"
	"altmin/msg"
	"altmin/node"
	"altmin/shard"
	"altmin/transport"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "shard:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// errUsage marks usage errors (exit status 2).
var errUsage = cli.ErrUsage

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "health" {
		return healthCmd(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version" || args[0] == "version") {
		fmt.Fprintln(stdout, job.VersionLine("shard"))
		return nil
	}
	o := job.DefaultOptions()
	fs := flag.NewFlagSet("shard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	id := fs.String("id", "", "shard ID, unique in the cluster (required; certificates are issued to it)")
	partList := fs.String("partitions", "", "partitions held: a list of IDs and ranges, e.g. 0,1,4-7, or auto: those of shard --shard-index of --shards, each partition on --replication shards (docs/DEPLOY.md) (required)")
	var place placementFlags
	place.register(fs)
	fs.IntVar(&o.Partitions, "num-partitions", o.Partitions, "number of partitions P the data are split into (the same on every node)")
	fs.StringVar(&o.Synthetic, "synthetic", "", "planted data, e.g. model=sum,d=50,k=5,n=50000,seed=1 or model=deep,d=20,hidden=8-4,n=20000,seed=1; every shard generates only its partitions")
	fs.StringVar(&o.Data, "data", "", "features: X.npy or FILE.parquet (read by row range), or FILE.csv")
	fs.StringVar(&o.Labels, "labels", "", "labels y.npy, with an .npy --data")
	fs.StringVar(&o.Label, "label", "", "label column, with a CSV or Parquet --data")
	features := fs.String("features", "", "with a CSV or Parquet --data: comma-separated feature columns, in order (default: every column but the label); give the coordinator the same --features")
	fs.Var(&o.Bias, "bias", "append a constant-1 feature to every row (default: on for --data and the planted kinds without a teacher, off for planted data with a teacher; the coordinator follows the shards)")
	fs.StringVar(&o.ValData, "val-data", "", "validation rows from a file of the format of --data, appended after its rows (the coordinator learns it from the shards)")
	fs.StringVar(&o.ValLabels, "val-labels", "", "labels y.npy of an .npy --val-data")
	fs.StringVar(&o.Storage, "storage", o.Storage, "precision the features are held in: float64 or float32 (half the memory; rounds data that are not float32 values; every shard of a cluster must use the same)")
	grpcAddr := fs.String("grpc-addr", "0.0.0.0:7000", "gRPC listen address")
	grpcAdv := fs.String("grpc-advertise", "", "gRPC address the coordinator dials (default: the listen address; for a wildcard listen address with --gossip-advertise, the gossip advertise address's IP with the gRPC port)")
	gossipAddr := fs.String("gossip-addr", "0.0.0.0:7946", "gossip (memberlist) bind address")
	gossipAdv := fs.String("gossip-advertise", "", "gossip address others reach this node at (default: the bound address)")
	join := fs.String("join", "", "comma-separated gossip addresses of cluster members to join (empty for the first node)")
	joinTimeout := fs.Duration("join-timeout", time.Minute, "how long to keep trying to join")
	fs.StringVar(&o.ClusterKey, "cluster-key", "", "gossip encryption key, base64 of 16/24/32 bytes (better set by ALTMIN_CLUSTER_KEY: a command line is visible to other users)")
	keyFile := fs.String("cluster-key-file", "", "read the gossip encryption key from this file (a mounted secret), instead of --cluster-key")
	fs.StringVar(&o.TLSDir, "tls-dir", "", "directory with ca.pem, ID.pem and ID-key.pem (from coordinator certs)")
	fs.StringVar(&o.CA, "ca", "", "CA certificate (overrides --tls-dir)")
	fs.StringVar(&o.Cert, "cert", "", "this shard's certificate (overrides --tls-dir)")
	fs.StringVar(&o.Key, "key", "", "this shard's key (overrides --tls-dir)")
	fs.BoolVar(&o.Insecure, "insecure", false, "plaintext gossip and gRPC (explicit opt-out of encryption and TLS)")
	level := fs.String("log-level", "info", "log level: debug, info, warn or error")
	parallel := fs.Int("parallel", 0, "partitions computed at once, whatever the coordinator asks for at once (0: GOMAXPROCS, the cores this process may use)")
	resident := fs.Int("resident", 0, "stream the partitions: hold at most this many partitions' rows in memory, reading the others from --data when computed (once per iteration each when fewer than held; use more partitions than shards); 0: hold them all")
	replyBudget := fs.Int64("reply-budget", transport.DefaultReplyBudget, "bytes of replies held at once: a computation waits until its reply fits, a request whose reply is larger is refused")
	sendTimeout := fs.Duration("send-timeout", transport.DefaultSendTimeout, "cancel a reply stream, freeing its buffers, when the coordinator takes no chunk of it for this long (0: never)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to this file until the shard stops (for go tool pprof)")
	metricsAddr := fs.String("metrics-addr", "", "serve Prometheus metrics at http://HOST:PORT/metrics: plain HTTP, unauthenticated, so bind a private interface (default: off)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var err error
	if o.Features, err = job.ParseFeatures(*features); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if *parallel < 0 {
		return fmt.Errorf("%w: --parallel %d: want 0 (GOMAXPROCS) or more", errUsage, *parallel)
	}
	if *resident < 0 {
		return fmt.Errorf("%w: --resident %d: want 0 (hold every partition) or more", errUsage, *resident)
	}
	if *replyBudget < 1 || *sendTimeout < 0 {
		return fmt.Errorf("%w: --reply-budget %d, --send-timeout %s: want a budget >= 1 byte and a timeout >= 0", errUsage, *replyBudget, *sendTimeout)
	}
	if *sendTimeout == 0 {
		*sendTimeout = -1 // node: no bound
	}
	if *id == "" || *partList == "" {
		return fmt.Errorf("%w: --id and --partitions are required", errUsage)
	}
	if o.Synthetic == "" && o.Data == "" {
		return fmt.Errorf("%w: give the data: --synthetic or --data", errUsage)
	}
	parts, err := place.partitions(fs, *partList, *id, o.Partitions)
	if err != nil {
		return err
	}
	log, err := cli.NewLogger(*level, stderr)
	if err != nil {
		return err
	}
	defer log.Sync()
	if err := o.Validate(); err != nil {
		return err
	}
	if o.ClusterKey, err = cli.ClusterKey(o.ClusterKey, *keyFile); err != nil {
		return err
	}
	sec, err := job.Security(o, *id, true)
	if err != nil {
		return err
	}
	gossip, err := node.ParseGossip(*gossipAddr, *gossipAdv, cli.SplitList(*join), *joinTimeout)
	if err != nil {
		return err
	}
	if *grpcAdv == "" {
		*grpcAdv = defaultGRPCAdvertise(*grpcAddr, gossip.Advertise)
	}
	src, _, err := job.OpenSourceContext(ctx, o)
	if err != nil {
		return err
	}
	if c, ok := src.(io.Closer); ok {
		defer c.Close()
	}
	stop, err := cli.StartCPUProfile(*cpuprofile) // loading included
	if err != nil {
		return err
	}
	defer stop() // on an early return; the error of the deliberate stop below is reported
	var sm *metrics.Shard
	if *metricsAddr != "" { // before loading, to watch its memory
		reg := metrics.NewRegistry()
		sm = metrics.NewShard(reg)
		srv, err := metrics.Serve(*metricsAddr, reg)
		if err != nil {
			return err
		}
		defer srv.Close()
		fmt.Fprintf(stdout, "shard %s: metrics at %s\n", *id, srv.URL())
	}
	s, err := node.StartShard(ctx, node.ShardConfig{
		ID: *id, Partitions: parts, NumPartitions: o.Partitions, Source: src, Bias: o.ShardBias(), Storage: shard.Storage(o.Storage), Parallel: *parallel, Resident: *resident,
		ReplyBudget: *replyBudget, SendTimeout: *sendTimeout,
		GRPCListen: *grpcAddr, GRPCAdvertise: *grpcAdv, Gossip: gossip, Security: sec, Log: log, Metrics: sm,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "shard %s serving partitions %v on %s (gossip %s)\n", *id, parts, s.GRPCAddr(), s.GossipAddr())
	select {
	case <-ctx.Done():
		log.Info("shutting down")
		return errors.Join(s.Close(), stop())
	case err := <-s.Done():
		s.Close()
		return errors.Join(fmt.Errorf("gRPC server stopped: %w", err), stop())
	}
}

// parse parses the flags of a command, then sets those not given from
// the environment (ALTMIN_<FLAG>; see cli.Parse).
func parse(fs *flag.FlagSet, args []string) error { return cli.Parse(fs, args, os.LookupEnv) }

// parseList parses "0,1,4-7" into partition IDs.
func parseList(s string) ([]int, error) {
	var out []int
	for _, f := range cli.SplitList(s) {
		lo, hi, isRange := strings.Cut(f, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("%q is not a partition ID or range", f)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("%q is not a range lo-hi with lo <= hi", f)
			}
		}
		if b >= msg.MaxPartitions {
			return nil, fmt.Errorf("%q: partition IDs must be below %d (msg.MaxPartitions)", f, msg.MaxPartitions)
		}
		for p := a; p <= b; p++ {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("empty")
	}
	return out, nil
}
