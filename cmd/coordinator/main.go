// Command coordinator trains ReLU networks by alternating minimization and
// applies trained models.
//
//	coordinator                      run the demo (planted data, in process)
//	coordinator train [flags]        train; see coordinator train -h
//	coordinator predict [flags]      apply a trained model
package main

import (
	"context"
	"encoding/json"
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

	"go.uber.org/zap"

	"altmin/cluster"
	"altmin/internal/cli"
	"altmin/internal/metrics"
	"altmin/job"
	"altmin/pki"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "coordinator:", err)
		}
		os.Exit(exitCode(err))
	}
}

func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

// errUsage marks usage errors (exit status 2).
var errUsage = cli.ErrUsage

// splitList splits a comma-separated flag value (see cli.SplitList).
func splitList(s string) []string { return cli.SplitList(s) }

const usage = `usage: coordinator [command] [flags]

commands:
  train     train a model (the default; with no data flags: the planted demo)
  predict   apply a trained model to data
  eval      score a trained model on labelled data (RMSE, MAE, R^2)
  export    write a trained model as an ONNX graph (docs/EXPORT.md)
  certs     create a cluster CA and node certificates for mutual TLS
  keygen    print a new cluster (gossip) key
  bench     measure the per-iteration cost on planted data (docs/PERFORMANCE.md)
  gen       write planted data as .npy files (X, y, the teacher and its signs)
  plot      draw a run's convergence (loss, R^2, time per iteration) from its metrics.jsonl
  version   print the version (also --version)
  help      show this text

Run 'coordinator COMMAND -h' for the flags of a command. Every flag may also
be set by the environment variable ALTMIN_<FLAG> (--local-shards:
ALTMIN_LOCAL_SHARDS); a flag on the command line wins.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version" || args[0] == "version") {
		fmt.Fprintln(stdout, job.VersionLine("coordinator"))
		return nil
	}
	cmd := "train"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "train":
		return trainCmd(ctx, args, stdout, stderr)
	case "predict":
		return predictCmd(ctx, args, stdout, stderr)
	case "eval":
		return evalCmd(ctx, args, stdout, stderr)
	case "export":
		return exportCmd(args, stdout, stderr)
	case "experiment":
		return experimentCmd(ctx, args, stdout, stderr)
	case "certs":
		return certsCmd(args, stdout, stderr)
	case "bench":
		return benchCmd(ctx, args, stdout, stderr)
	case "keygen":
		return keygenCmd(args, stdout, stderr)
	case "gen":
		return genCmd(ctx, args, stdout, stderr)
	case "plot":
		return plotCmd(args, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
}

// parse parses the flags of a command, then sets those not given from
// the environment (ALTMIN_<FLAG>; see cli.Parse).
func parse(fs *flag.FlagSet, args []string) error { return cli.Parse(fs, args, os.LookupEnv) }

func trainCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := job.DefaultOptions()
	fs := flag.NewFlagSet("coordinator train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Model, "model", "", "model: relu, sum, resnet or deep (default: the synthetic teacher's, else sum)")
	hidden := fs.String("hidden", "", "with --model deep: comma-separated widths of the 2 to 4 hidden layers, e.g. 20,10 (default: the synthetic deep teacher's)")
	fs.Var(positiveInt{&o.K}, "k", "hidden neurons, at least 1 (default: the synthetic teacher's; relu: 1; resnet: d)")
	fs.StringVar(&o.Signs, "signs", "", "output signs: ones, alternate or FILE.npy with k values +-1 (default: the teacher's; real data: alternate; else ones)")
	fs.Var(&o.Bias, "bias", "append a constant-1 input feature (default: on for real data, off for planted data and --paper)")
	fs.BoolVar(&o.Paper, "paper", false, "the papers' model and step exactly, on any data: no standardization, no linear term, signs by --signs (default ones), the plain least-squares step, no validation rows, the last iterate written")
	fs.Var(&o.Standardize, "standardize", "standardize the features and the label (statistics of the training rows, stored in model.json, applied by predict and eval; default: on for real data)")
	fs.Var(&o.Revive, "revive", "revive hidden units inactive on every training row: the next candidates' statistics place them on a random hyperplane through the training rows' mean (1-hidden-layer models; default: on for real data)")
	fs.Var(&o.Linear, "linear", "add a linear term of the input and an output bias to the network (default: on for real data)")
	fs.StringVar(&o.Damping, "damping", "", "on: Levenberg-Marquardt damped solves, every accepted iterate lowers the training objective; off: the plain least-squares step (default: on; off with --paper)")
	fs.StringVar(&o.Alpha, "alpha", "auto", "L2 penalty on the hidden units' weights (objective: loss + alpha/2 ||W||^2, on standardized data): auto chooses it before every solve by generalized cross-validation, never increasing, for real data (0 for planted data); or a fixed value >= 0")
	fs.Float64Var(&o.Validation, "validation", o.Validation, "fraction of the rows held out for validation, the same rows whatever the partitioning (default: 0.1 for real data, else none; 0: none)")
	fs.StringVar(&o.ValData, "val-data", "", "validation rows from a file of the format of --data, instead of --validation")
	fs.StringVar(&o.ValLabels, "val-labels", "", "labels y.npy of an .npy --val-data")
	fs.IntVar(&o.Patience, "patience", o.Patience, "stop after this many accepted iterations without a better validation loss (default: 10 for real data, else never; 0: never)")
	fs.StringVar(&o.Synthetic, "synthetic", "", "planted data, e.g. model=sum,d=50,k=5,n=50000,seed=1 (keys: model, d, k, n, seed, wnorm, signs, dtype); deep: model=deep,d=20,hidden=8-4,n=20000,seed=1,signs=alternate")
	fs.StringVar(&o.Data, "data", "", "features: X.npy (n x d, float32/float64, C order), FILE.csv with a header row, or FILE.parquet (FLOAT, DOUBLE, INT32, INT64 columns)")
	fs.StringVar(&o.Labels, "labels", "", "labels y.npy (n), with an .npy --data")
	fs.StringVar(&o.Label, "label", "", "name of the label column, with a CSV or Parquet --data")
	features := fs.String("features", "", "with a CSV or Parquet --data: comma-separated feature columns, in the order the model takes them, recorded in model.json (default: every column but the label); with --join: the shards' --features")
	fs.StringVar(&o.Init, "init", "", "start: data (hidden units through data points, with a bias), identity (resnet), random, perturb:DELTA (known teacher), tensor (sum, relu: moment method of the data, computed on the shards) or FILE.npy (k x d); deep: data, random, perturb:DELTA or a deep model DIR (default: data for real data, identity for resnet, else random)")
	fs.StringVar(&o.Truth, "truth", "", "teacher weights FILE.npy (k x d; deep: a model DIR) to report the relative error (known for --synthetic)")
	fs.IntVar(&o.Partitions, "partitions", o.Partitions, "number of partitions P (fixed, so results do not depend on the machine)")
	fs.IntVar(&o.Iters, "iters", o.Iters, "maximum number of least-squares solves")
	fs.Float64Var(&o.Tol, "tol", o.Tol, "stop when the relative change of the weights is below this (0: never)")
	fs.Uint64Var(&o.Seed, "seed", o.Seed, "seed of the random initialization")
	fs.StringVar(&o.Out, "out", o.Out, "output directory (weights.npy, model.json, metrics.jsonl); an unfinished run of the same configuration there is resumed, any other run's files are refused without --overwrite")
	fs.BoolVar(&o.Overwrite, "overwrite", false, "train from the start into --out whatever it holds (a finished run, another configuration's, a damaged checkpoint), replacing the run's files; never allowed to write over an input")
	fs.StringVar(&o.Method, "method", "am", "update: am (alternating minimization, exact least squares) or gd (gradient-descent baseline)")
	fs.Float64Var(&o.Step, "step", 0, "gd step size (0: the papers' rule 2/(s_min^2+s_max^2) from each iteration's Gram matrix)")
	fs.IntVar(&o.Parallel, "parallel", 0, "partitions computed at once in process (0: GOMAXPROCS); with shards (--join, --local-shards), partitions requested at once across them, round robin over the shards (0: all, each shard bounding its own; set it to the cores when the shards share one machine's cores)")
	fs.IntVar(&o.Resident, "resident", 0, "stream the partitions: hold at most this many partitions' rows in memory, in process or per --local-shards shard, reading the others from the data when computed; 0: hold them all (shards of a --join cluster take their own --resident)")
	fs.StringVar(&o.Storage, "storage", o.Storage, "precision the features are held in, in process or by --local-shards: float64 or float32 (half the memory; rounds data that are not float32 values); shards of a --join cluster take their own --storage")
	level := fs.String("log-level", "warn", "log level: debug, info, warn or error (logs go to stderr)")
	fs.BoolVar(&o.Quiet, "quiet", false, "print neither the header, the per-iteration table nor progress bars: only warnings and the final summary (errors and logs still go to stderr)")
	metricsAddr := fs.String("metrics-addr", "", "serve Prometheus metrics at http://HOST:PORT/metrics during the run: plain HTTP, unauthenticated, so bind a private interface (default: off)")
	join := fs.String("join", "", "comma-separated gossip addresses of cluster members: train on the shards of that cluster")
	fs.IntVar(&o.LocalShards, "local-shards", o.LocalShards, "without --join: shards started in process, over gRPC and memberlist on loopback; 0: the partitions computed in process, no network (the same bits); -1: 2 for the demo and --synthetic, 0 for --data")
	fs.StringVar(&o.NodeID, "id", o.NodeID, "this coordinator's ID in the cluster (its certificate's name)")
	fs.StringVar(&o.GossipBind, "gossip-addr", o.GossipBind, "with --join: gossip (memberlist) bind address")
	fs.StringVar(&o.GossipAdvert, "gossip-advertise", "", "with --join: gossip address others reach this node at (default: the bound address)")
	fs.DurationVar(&o.JoinTimeout, "join-timeout", o.JoinTimeout, "wait this long for every partition to be held by a live shard")
	fs.IntVar(&o.Replication, "replication", 0, "with --join: the live shards every partition should have (the shards' --replication); the coordinator waits within --join-timeout for them, then warns about partitions with fewer and trains (0: not checked)")
	fs.DurationVar(&o.StepTimeout, "step-timeout", o.StepTimeout, "deadline of one partition's statistics call; then another replica is asked")
	fs.DurationVar(&o.HedgeAfter, "hedge-after", 0, "also ask another replica of a partition not answered after this long (0: never)")
	fs.DurationVar(&o.RejoinTimeout, "rejoin-timeout", o.RejoinTimeout, "wait this long for a live shard holding a partition whose shards all failed")
	fs.StringVar(&o.ClusterKey, "cluster-key", "", "gossip encryption key, base64 of 16/24/32 bytes (better set by ALTMIN_CLUSTER_KEY: a command line is visible to other users)")
	keyFile := fs.String("cluster-key-file", "", "with --join: read the gossip encryption key from this file (a mounted secret), instead of --cluster-key")
	fs.StringVar(&o.TLSDir, "tls-dir", "", "directory with ca.pem, ID.pem and ID-key.pem (from coordinator certs)")
	fs.StringVar(&o.CA, "ca", "", "CA certificate (overrides --tls-dir)")
	fs.StringVar(&o.Cert, "cert", "", "certificate (overrides --tls-dir)")
	fs.StringVar(&o.Key, "key", "", "key (overrides --tls-dir)")
	fs.BoolVar(&o.Insecure, "insecure", false, "with --join: plaintext gossip and gRPC (explicit opt-out of encryption and TLS)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file (for go tool pprof)")
	fs.BoolVar(&o.AllowDegraded, "allow-degraded", false, "continue without partitions that no live shard serves after --rejoin-timeout, leaving their samples out (logged, recorded in model.json); default: stop with an error")
	err := parse(fs, args)
	if err != nil {
		return err
	}
	o.Join = cli.SplitList(*join)
	if o.ClusterKey, err = cli.ClusterKey(o.ClusterKey, *keyFile); err != nil {
		return err
	}
	if o.Hidden, err = job.ParseHidden(*hidden); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if o.Features, err = job.ParseFeatures(*features); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	log, err := cli.NewLogger(*level, stderr)
	if err != nil {
		return err
	}
	defer log.Sync()
	stop, err := cli.StartCPUProfile(*cpuprofile)
	if err != nil {
		return err
	}
	defer stop() // on a panic too; the error is reported below
	o.Progress = cli.Progress(stderr, o.Quiet)
	if *metricsAddr != "" {
		reg := metrics.NewRegistry()
		o.Metrics = metrics.NewCoordinator(reg)
		srv, err := metrics.Serve(*metricsAddr, reg)
		if err != nil {
			return errors.Join(err, stop())
		}
		defer srv.Close()
		log.Info("serving metrics", zap.String("url", srv.URL()))
		if !o.Quiet {
			fmt.Fprintf(stdout, "metrics at %s\n", srv.URL())
		}
	}
	_, err = job.Train(ctx, o, stdout, log)
	return errors.Join(err, stop())
}

// positiveInt is an int flag that takes values >= 1 only and leaves its
// int at 0 when not given: a value given explicitly, 0 included, is never
// taken for "not given".
type positiveInt struct{ p *int }

func (f positiveInt) String() string {
	if f.p == nil || *f.p == 0 {
		return ""
	}
	return strconv.Itoa(*f.p)
}

func (f positiveInt) Set(s string) error {
	v, err := strconv.Atoi(s)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not an integer", s)
	case v < 1:
		return fmt.Errorf("%d: need at least 1 (leave the flag out for the default)", v)
	}
	*f.p = v
	return nil
}

func certsCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("coordinator certs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "certs", "output directory")
	nodes := fs.String("nodes", "", "comma-separated node IDs to issue certificates for, e.g. coordinator,s1,s2, with numeric brace ranges expanded: 'shard-{0..15},coordinator' (quote it from the shell) (required)")
	domains := fs.String("domain", "", "comma-separated domains: every certificate also names NODE.DOMAIN, e.g. shards.altmin.svc.cluster.local for a StatefulSet's stable pod names (no wildcards)")
	validity := fs.Duration("validity", 365*24*time.Hour, "certificate validity")
	force := fs.Bool("force", false, "replace existing files")
	if err := parse(fs, args); err != nil {
		return err
	}
	names, err := pki.ExpandNames(cli.SplitList(*nodes))
	if err != nil {
		return fmt.Errorf("%w: --nodes: %w", errUsage, err)
	}
	if len(names) == 0 {
		return fmt.Errorf("%w: --nodes is required", errUsage)
	}
	if err := pki.Generate(*out, names, *validity, pki.Options{Force: *force, Domains: cli.SplitList(*domains)}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s/ca.pem and certificates for %s\n", *out, strings.Join(names, ", "))
	return nil
}

func keygenCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("coordinator keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := parse(fs, args); err != nil {
		return err
	}
	k, err := cluster.GenerateKey()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, k)
	return nil
}

func predictCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o job.PredictOptions
	fs := flag.NewFlagSet("coordinator predict", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Model, "model", "", "trained model directory (with model.json and weights.npy, or weights_1.npy ... for a deep model)")
	fs.StringVar(&o.Data, "data", "", "features: X.npy (n x d), FILE.csv with a header row or FILE.parquet (a model trained with --features reads those columns by name)")
	fs.StringVar(&o.Label, "label", "", "with a CSV or Parquet --data: a label column to ignore, if present")
	fs.StringVar(&o.Out, "out", "yhat.npy", "output .npy file of n predictions (float64); an existing file is refused without --overwrite")
	fs.BoolVar(&o.Overwrite, "overwrite", false, "replace an existing --out (never an input: --data, --labels or a file of --model)")
	if err := parse(fs, args); err != nil {
		return err
	}
	n, err := job.PredictContext(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d predictions to %s\n", n, o.Out)
	return nil
}

func evalCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var o job.PredictOptions
	fs := flag.NewFlagSet("coordinator eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Model, "model", "", "trained model directory")
	fs.StringVar(&o.Data, "data", "", "features and labels: X.npy with --labels, or FILE.csv (with a header row) or FILE.parquet with --label")
	fs.StringVar(&o.Label, "label", "", "with a CSV or Parquet --data: the label column")
	fs.StringVar(&o.Labels, "labels", "", "with an .npy --data: the labels y.npy")
	asJSON := fs.Bool("json", false, "print the scores as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	e, err := job.EvalContext(ctx, o)
	if err != nil {
		return err
	}
	if *asJSON {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	fmt.Fprintf(stdout, "%-8s %d\n%-8s %.6g\n%-8s %.6g\n%-8s %.6f\n", "n", e.N, "rmse", e.RMSE, "mae", e.MAE, "r2", e.R2)
	return nil
}
