package job

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"

	"altmin/coordinator"
)

// ErrOptions is wrapped by every error in the options.
var ErrOptions = errors.New("job: bad options")

// DemoSynthetic is the planted problem trained when no data is given.
const DemoSynthetic = "model=sum,d=50,k=5,n=50000,seed=1"

// Options are the settings of a training run; the command line maps onto
// them one flag per field.
type Options struct {
	Model      string  // relu, sum or resnet; "" takes the synthetic teacher's model, else sum
	K          int     // hidden neurons; 0 takes the synthetic teacher's k (relu: 1, resnet: d)
	Signs      string  // ones, alternate or a .npy file of k values +-1; "" takes the teacher's signs, else ones
	Bias       bool    // append a constant-1 feature
	Synthetic  string  // planted data specification, see data.ParseSynthetic
	Data       string  // X.npy (n x d) or a .csv file with a header
	Labels     string  // y.npy (n), with an .npy Data
	Label      string  // label column name, with a .csv Data
	Init       string  // identity, random, perturb:DELTA or a .npy file (k x d); "" = identity for resnet, random otherwise
	Truth      string  // .npy file (k x d) of a known teacher, to report the relative error
	Partitions int     // P
	Iters      int     // maximum least-squares solves
	Tol        float64 // relative weight change at which to stop
	Seed       uint64  // seed of the random initialization
	Out        string  // output directory
	Parallel   int     // partitions computed at once in process; 0 = GOMAXPROCS
	Method     string  // am (default) or gd
	Step       float64 // gd step size; 0 = the papers' rule from each iteration's Gram matrix
}

// DefaultOptions returns the defaults of `coordinator train`.
func DefaultOptions() Options {
	c := coordinator.DefaultConfig()
	return Options{Partitions: c.Partitions, Iters: c.MaxIters, Tol: c.Tol, Seed: 1, Out: "out"}
}

// Validate checks the options that can be checked without reading files.
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
	case o.Parallel < 0:
		return fmt.Errorf("%w: --parallel %d: need >= 0", ErrOptions, o.Parallel)
	}
	return nil
}

func isCSV(path string) bool { return strings.HasSuffix(strings.ToLower(path), ".csv") }

func (o *Options) parallel() int {
	if o.Parallel > 0 {
		return o.Parallel
	}
	return runtime.GOMAXPROCS(0)
}
