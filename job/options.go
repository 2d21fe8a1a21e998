package job

import (
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strconv"
	"strings"
	"time"

	"altmin/coordinator"
	"altmin/data"
	"altmin/internal/metrics"
	"altmin/model"
	"altmin/msg"
	"altmin/shard"
)

// ErrOptions is wrapped by every error in the options.
var ErrOptions = errors.New("job: bad options")

// DemoSynthetic is the planted problem trained when no data is given.
const DemoSynthetic = "model=sum,d=50,k=5,n=50000,seed=1"

// Options are the settings of a training run; the command line maps onto
// them one flag per field.
type Options struct {
	Model      string   // relu, sum, resnet or deep; "" takes the synthetic teacher's model, else sum
	Hidden     []int    // deep: widths k1..kL of the hidden layers; nil takes the synthetic deep teacher's
	K          int      // hidden neurons; 0 takes the synthetic teacher's k (relu: 1, resnet: d)
	Signs      string   // ones, alternate or a .npy file of k values +-1; "" takes the teacher's signs, else ones (alternate for real data)
	Bias       Switch   // append a constant-1 feature; Auto: on for real data (see setup)
	Synthetic  string   // planted data specification, see data.ParseSynthetic and data.ParseDeepTeacher
	Data       string   // X.npy (n x d), a .csv file with a header or a .parquet file (data.FormatOf)
	Labels     string   // y.npy (n), with an .npy Data
	Label      string   // label column name, with a CSV or Parquet Data
	Features   []string // feature columns of a CSV or Parquet Data, in order (recorded in model.json); nil: every column but the label
	Init       string   // the start; see the family (shallow.go, deep.go); "" = the family's default
	Truth      string   // a known teacher, to report the relative error: .npy (k x d) or a deep model directory
	Partitions int      // P
	Iters      int      // maximum solves
	Tol        float64  // relative weight change at which to stop
	Seed       uint64   // seed of the random initialization
	Out        string   // output directory
	Overwrite  bool     // train from the start into Out whatever it holds (a finished run, another configuration's, a damaged checkpoint), replacing the run's files; without it only an unfinished run of the same configuration is resumed there
	Parallel   int      // partitions computed at once in process (0 = GOMAXPROCS), or requested at once from the shards (0 = all)
	Method     string   // am (default) or gd
	Storage    string   // precision of the features held in process or by local shards: float64 or float32 (see shard.Storage); "" = float64
	Resident   int      // > 0: stream the partitions, holding at most this many in memory in process or per local shard (shard.NewStreamingEngine); 0 = hold all

	// Training on real data (see setup).
	Paper       bool    // the papers' model and step exactly, on any data
	Standardize Switch  // standardize features and label; Auto: on for real data
	Linear      Switch  // a linear term of the input and an output bias; Auto: on for real data
	Revive      Switch  // revive hidden units dead on every training row (1-hidden-layer models); Auto: on for real data
	Damping     string  // on or off; "" = on, off with Paper
	Alpha       string  // L2 penalty on the hidden units' weights (coordinator.Ridge): auto (also ""; chosen by GCV for real data, else 0) or a value >= 0
	Validation  float64 // fraction of the rows held out for validation; -1 = Auto: DefaultValidation for real data, else 0
	ValData     string  // a validation file of the format of Data (its rows appended after Data's)
	ValLabels   string  // y.npy of an .npy ValData
	Patience    int     // stop after this many accepted iterations without a better validation loss; -1 = Auto: DefaultPatience for real data, else 0 (never)

	// The runtime. With Join, the coordinator joins a cluster of shard
	// processes; otherwise, with LocalShards > 0, it starts that many shards
	// in process, talking over gRPC and memberlist on loopback (plaintext);
	// with neither, partitions are computed in process without a network.
	Join          []string      // gossip addresses (host:port) of cluster members
	LocalShards   int           // in-process shards when not joining a cluster; -1 = Auto (LocalShardsFor)
	NodeID        string        // this coordinator's ID in the cluster
	GossipBind    string        // host:port the coordinator's gossip binds to
	GossipAdvert  string        // host:port others reach the coordinator's gossip at; "" = bound address
	JoinTimeout   time.Duration // wait for every partition to be held by a live shard
	Replication   int           // with Join: the live holders every partition should have (fewer is warned about); 0 = not checked
	StepTimeout   time.Duration // deadline of one partition's call to one shard; then another replica is asked
	HedgeAfter    time.Duration // ask a second replica of a partition not answered by then; 0 = never
	RejoinTimeout time.Duration // wait for a live holder of a partition whose shards all failed
	ClusterKey    string        // gossip encryption key, base64 of 16, 24 or 32 bytes
	TLSDir        string        // directory with ca.pem, NODEID.pem, NODEID-key.pem
	CA, Cert, Key string        // TLS files, overriding TLSDir
	Insecure      bool          // plaintext gossip and gRPC in a cluster
	AllowDegraded bool          // continue without partitions no live shard can serve (recorded in model.json)
	Step          float64       // gd step size; 0 = the papers' rule from each iteration's Gram matrix

	// What a run shows while it trains; none of it changes the results.
	Quiet    bool                 // print neither the header, the per-iteration table nor progress: the final summary and warnings only
	Progress io.Writer            // where progress bars of the loading and of each round are drawn (a terminal); nil: none
	Metrics  *metrics.Coordinator // the run's Prometheus metrics; nil: none
}

// DefaultOptions returns the defaults of `coordinator train`.
func DefaultOptions() Options {
	c := coordinator.DefaultShallowConfig()
	return Options{Partitions: c.Partitions, Iters: c.MaxIters, Tol: c.Tol, Seed: 1, Out: "out", Storage: string(shard.Float64), Validation: -1, Patience: -1,
		LocalShards: -1, NodeID: "coordinator", GossipBind: "0.0.0.0:7946",
		JoinTimeout: time.Minute, StepTimeout: 5 * time.Minute, RejoinTimeout: time.Minute}
}

// DefaultLocalShards is the number of in-process shards of the demo and
// of planted data (--synthetic): the distributed runtime on loopback.
const DefaultLocalShards = 2

// localShards returns the number of in-process shards the options start
// (without Join): LocalShards, or for -1 DefaultLocalShards, and 0 (the
// partitions computed in process, without a network: the same bits,
// without the cost of the wire) for data files.
func (o *Options) localShards() int {
	switch {
	case o.LocalShards >= 0:
		return o.LocalShards
	case o.Data != "":
		return 0
	}
	return DefaultLocalShards
}

// Validate checks the options that can be checked without reading files:
// those of every run, then those of the model family (family.check).
func (o *Options) Validate() error {
	nsrc := 0
	for _, s := range []string{o.Synthetic, o.Data} {
		if s != "" {
			nsrc++
		}
	}
	switch {
	case nsrc > 1:
		return fmt.Errorf("%w: give either --synthetic or --data, not both", ErrOptions)
	case o.Data == "" && (o.Labels != "" || o.Label != ""):
		return fmt.Errorf("%w: --labels and --label need --data", ErrOptions)
	case o.Data != "" && named(o.Data) && o.Label == "":
		return fmt.Errorf("%w: --data %s is %s: name the target column with --label", ErrOptions, o.Data, data.FormatOf(o.Data))
	case o.Data != "" && !named(o.Data) && o.Labels == "":
		return fmt.Errorf("%w: --data %s needs --labels y.npy", ErrOptions, o.Data)
	case o.Data != "" && named(o.Data) && o.Labels != "":
		return fmt.Errorf("%w: --labels %s is for an .npy --data; --data %s is %s: name its label column with --label", ErrOptions, o.Labels, o.Data, data.FormatOf(o.Data))
	case o.Data != "" && !named(o.Data) && o.Label != "":
		return fmt.Errorf("%w: --label %s names a column of a CSV or Parquet --data; --data %s (.npy) has none: give its labels with --labels y.npy", ErrOptions, o.Label, o.Data)
	case o.Features != nil && o.Data == "" && len(o.Join) == 0:
		return fmt.Errorf("%w: --features chooses columns of --data (or, with --join, names those the shards chose)", ErrOptions)
	case o.Features != nil && o.Data != "" && !named(o.Data):
		return fmt.Errorf("%w: --features chooses columns by name, and --data %s (.npy) has no column names", ErrOptions, o.Data)
	case o.K < 0:
		return fmt.Errorf("%w: --k %d: need k >= 1", ErrOptions, o.K)
	case o.Partitions < 1:
		return fmt.Errorf("%w: --partitions %d: need at least 1", ErrOptions, o.Partitions)
	case o.Partitions > msg.MaxPartitions:
		return fmt.Errorf("%w: %w: --partitions %d: at most %d (msg.MaxPartitions)", ErrOptions, msg.ErrTooLarge, o.Partitions, msg.MaxPartitions)
	case o.Iters < 0:
		return fmt.Errorf("%w: --iters %d: need >= 0", ErrOptions, o.Iters)
	case !(o.Tol >= 0) || math.IsInf(o.Tol, 0):
		return fmt.Errorf("%w: --tol %v: need a finite value >= 0", ErrOptions, o.Tol)
	case o.Out == "":
		return fmt.Errorf("%w: --out is empty", ErrOptions)
	case o.Method != "" && o.Method != "am" && o.Method != "gd":
		return fmt.Errorf("%w: --method %q: want am or gd", ErrOptions, o.Method)
	case !(o.Step >= 0) || math.IsInf(o.Step, 0):
		return fmt.Errorf("%w: --step %v: need a finite value >= 0", ErrOptions, o.Step)
	case o.LocalShards < -1:
		return fmt.Errorf("%w: --local-shards %d: need >= 0 (or -1: the default for the data)", ErrOptions, o.LocalShards)
	case o.Replication < 0:
		return fmt.Errorf("%w: --replication %d: need >= 0 (0: not checked)", ErrOptions, o.Replication)
	case o.JoinTimeout < 0 || o.StepTimeout < 0 || o.HedgeAfter < 0 || o.RejoinTimeout < 0:
		return fmt.Errorf("%w: timeouts must not be negative", ErrOptions)
	case len(o.Join) > 0 && (o.Data != "" || o.Labels != ""):
		return fmt.Errorf("%w: with --join the data live on the shards: give --data to the shards, not the coordinator", ErrOptions)
	case o.Parallel < 0:
		return fmt.Errorf("%w: --parallel %d: need >= 0", ErrOptions, o.Parallel)
	case o.Resident < 0:
		return fmt.Errorf("%w: --resident %d: need >= 0 (0 holds every partition)", ErrOptions, o.Resident)
	case o.Resident > 0 && len(o.Join) > 0:
		return fmt.Errorf("%w: with --join the shards hold the data: give --resident to the shards, not the coordinator", ErrOptions)
	}
	if _, err := o.storage(); err != nil {
		return err
	}
	if len(o.Join) > 0 && o.Storage == string(shard.Float32) {
		return fmt.Errorf("%w: with --join the shards hold the data: give --storage float32 to the shards, not the coordinator", ErrOptions)
	}
	if o.Model != "" {
		if _, err := model.ParseKind(o.Model); err != nil {
			return fmt.Errorf("%w: --model: %v", ErrOptions, err)
		}
	}
	if err := o.checkMode(); err != nil {
		return err
	}
	return o.family().check(o)
}

// family returns the model family the options train: deep for --model
// deep, or for no --model and a deep --synthetic teacher; the
// 1-hidden-layer family otherwise.
func (o *Options) family() family {
	if o.Model == string(model.Deep) || (o.Model == "" && data.IsDeepSpec(o.Synthetic)) {
		return deepFamily{}
	}
	return shallowFamily{}
}

// IsDeep reports whether the options train a deep network.
func (o *Options) IsDeep() bool { _, ok := o.family().(deepFamily); return ok }

// storage returns the feature storage the options name ("" is float64).
func (o *Options) storage() (shard.Storage, error) {
	if o.Storage == "" {
		return shard.Float64, nil
	}
	st, err := shard.ParseStorage(o.Storage)
	if err != nil {
		return "", fmt.Errorf("%w: --storage %q: want float64 or float32", ErrOptions, o.Storage)
	}
	return st, nil
}

// named reports whether the data file at path names its columns (CSV,
// Parquet), so that the label and the features are chosen by name.
func named(path string) bool { return data.FormatOf(path).Named() }

// sameFormat reports whether two data files are of the same format.
func sameFormat(a, b string) bool { return data.FormatOf(a) == data.FormatOf(b) }

func isNPY(path string) bool { return strings.HasSuffix(strings.ToLower(path), ".npy") }

func (o *Options) parallel() int {
	if o.Parallel > 0 {
		return o.Parallel
	}
	return runtime.GOMAXPROCS(0)
}

func (o *Options) method() string {
	if o.Method == "" {
		return "am"
	}
	return o.Method
}

// ParseHidden parses a --hidden value, comma-separated widths such as
// "20,10"; "" gives nil. Widths are range-checked by Options.Validate.
func ParseHidden(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var ks []int
	for _, f := range strings.Split(s, ",") {
		k, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%w: --hidden %q: %q is not an integer width (want e.g. --hidden 20,10)", ErrOptions, s, f)
		}
		ks = append(ks, k)
	}
	return ks, nil
}

// ParseFeatures parses a --features value, comma-separated column names
// such as "price,area"; "" gives nil (every column but the label). Names
// are trimmed of spaces; an empty name is an error.
func ParseFeatures(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var names []string
	for _, f := range strings.Split(s, ",") {
		name := strings.TrimSpace(f)
		if name == "" {
			return nil, fmt.Errorf("%w: --features %q: an empty column name (want e.g. --features area,rooms)", ErrOptions, s)
		}
		names = append(names, name)
	}
	return names, nil
}

func hiddenString(ks []int) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = strconv.Itoa(k)
	}
	return strings.Join(s, ",")
}
