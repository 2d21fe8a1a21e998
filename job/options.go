package job

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"strings"
	"time"

	"altmin/coordinator"
	"altmin/data"
	"altmin/model"
	"altmin/shard"
)

// ErrOptions is wrapped by every error in the options.
var ErrOptions = errors.New("job: bad options")

// DemoSynthetic is the planted problem trained when no data is given.
const DemoSynthetic = "model=sum,d=50,k=5,n=50000,seed=1"

// Options are the settings of a training run; the command line maps onto
// them one flag per field.
type Options struct {
	Model      string  // relu, sum, resnet or deep; "" takes the synthetic teacher's model, else sum
	Hidden     []int   // deep: widths k1..kL of the hidden layers; nil takes the synthetic deep teacher's
	K          int     // hidden neurons; 0 takes the synthetic teacher's k (relu: 1, resnet: d)
	Signs      string  // ones, alternate or a .npy file of k values +-1; "" takes the teacher's signs, else ones (alternate for real data)
	Bias       Switch  // append a constant-1 feature; Auto: on for real data (see setup)
	Synthetic  string  // planted data specification, see data.ParseSynthetic and data.ParseDeepTeacher
	Data       string  // X.npy (n x d) or a .csv file with a header
	Labels     string  // y.npy (n), with an .npy Data
	Label      string  // label column name, with a .csv Data
	Init       string  // the start; see the family (shallow.go, deep.go); "" = the family's default
	Truth      string  // a known teacher, to report the relative error: .npy (k x d) or a deep model directory
	Partitions int     // P
	Iters      int     // maximum solves
	Tol        float64 // relative weight change at which to stop
	Seed       uint64  // seed of the random initialization
	Out        string  // output directory
	Parallel   int     // partitions computed at once in process (0 = GOMAXPROCS), or requested at once from the shards (0 = all)
	Method     string  // am (default) or gd
	Storage    string  // precision of the features held in process or by local shards: float64 or float32 (see shard.Storage); "" = float64
	Resident   int     // > 0: stream the partitions, holding at most this many in memory in process or per local shard (shard.NewStreamingEngine); 0 = hold all

	// Training on real data (see setup).
	Paper       bool    // the papers' model and step exactly, on any data
	Standardize Switch  // standardize features and label; Auto: on for real data
	Linear      Switch  // a linear term of the input and an output bias; Auto: on for real data
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
	LocalShards   int           // in-process shards when not joining a cluster
	NodeID        string        // this coordinator's ID in the cluster
	GossipBind    string        // host:port the coordinator's gossip binds to
	GossipAdvert  string        // host:port others reach the coordinator's gossip at; "" = bound address
	JoinTimeout   time.Duration // wait for every partition to be held by a live shard
	StepTimeout   time.Duration // deadline of one partition's call to one shard; then another replica is asked
	HedgeAfter    time.Duration // ask a second replica of a partition not answered by then; 0 = never
	RejoinTimeout time.Duration // wait for a live holder of a partition whose shards all failed
	ClusterKey    string        // gossip encryption key, base64 of 16, 24 or 32 bytes
	TLSDir        string        // directory with ca.pem, NODEID.pem, NODEID-key.pem
	CA, Cert, Key string        // TLS files, overriding TLSDir
	Insecure      bool          // plaintext gossip and gRPC in a cluster
	AllowDegraded bool          // continue without partitions no live shard can serve (recorded in model.json)
	Step          float64       // gd step size; 0 = the papers' rule from each iteration's Gram matrix
}

// DefaultOptions returns the defaults of `coordinator train`.
func DefaultOptions() Options {
	c := coordinator.DefaultShallowConfig()
	return Options{Partitions: c.Partitions, Iters: c.MaxIters, Tol: c.Tol, Seed: 1, Out: "out", Storage: string(shard.Float64), Validation: -1, Patience: -1,
		LocalShards: 2, NodeID: "coordinator", GossipBind: "0.0.0.0:7946",
		JoinTimeout: time.Minute, StepTimeout: 5 * time.Minute, RejoinTimeout: time.Minute}
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
	case o.Data != "" && isCSV(o.Data) && o.Label == "":
		return fmt.Errorf("%w: --data %s is CSV: name the target column with --label", ErrOptions, o.Data)
	case o.Data != "" && !isCSV(o.Data) && o.Labels == "":
		return fmt.Errorf("%w: --data %s needs --labels y.npy", ErrOptions, o.Data)
	case o.K < 0:
		return fmt.Errorf("%w: --k %d: need k >= 1", ErrOptions, o.K)
	case o.Partitions < 1:
		return fmt.Errorf("%w: --partitions %d: need at least 1", ErrOptions, o.Partitions)
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
	case o.LocalShards < 0:
		return fmt.Errorf("%w: --local-shards %d: need >= 0", ErrOptions, o.LocalShards)
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

func isCSV(path string) bool { return strings.HasSuffix(strings.ToLower(path), ".csv") }

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

func hiddenString(ks []int) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = strconv.Itoa(k)
	}
	return strings.Join(s, ",")
}
