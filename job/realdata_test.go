package job_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"altmin/fleet"
	"altmin/job"
)

// Training on real data (setup.go, realdata.go): the default run on data
// without a teacher. Planted data with a teacher are tested elsewhere.

// realOptions trains, in process, the default model on a small Friedman #1
// problem: noisy and not a ReLU network of any size.
func realOptions(out string) job.Options {
	o := job.DefaultOptions()
	o.Synthetic = "model=friedman1,n=3000,seed=2"
	o.K = 8
	o.LocalShards, o.Parallel, o.Out = 0, 2, out
	return o
}

// readMetrics returns the lines of dir/metrics.jsonl.
func readMetrics(t *testing.T, dir string) []job.Metric {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ms []job.Metric
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m job.Metric
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("metrics.jsonl: %v", err)
		}
		ms = append(ms, m)
	}
	return ms
}

// TestMonotoneObjective: on data no model of the size fits, the objective
// (the training loss plus the penalty term) of the accepted iterates never
// rises, for every model family; the plain step, on the same data, does
// let the loss rise, so the data exercise the damping.
func TestMonotoneObjective(t *testing.T) {
	cases := []struct {
		name string
		set  func(o *job.Options)
	}{
		{"sum", func(o *job.Options) {}},
		{"sum, wide teacher", func(o *job.Options) { o.Synthetic, o.K = "model=wide,d=6,k=12,n=3000,seed=3", 3 }},
		{"relu", func(o *job.Options) { o.Model, o.K = "relu", 1 }},
		{"resnet", func(o *job.Options) { o.Model, o.K = "resnet", 0 }},
		{"deep", func(o *job.Options) { o.Model, o.K, o.Hidden = "deep", 0, []int{6, 4} }},
	}
	rejections := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := realOptions(t.TempDir())
			c.set(&o)
			res, err := job.Train(context.Background(), o, io.Discard, zaptest.NewLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			last := math.Inf(1)
			for _, m := range readMetrics(t, o.Out) {
				if !m.Accepted {
					rejections++
					continue
				}
				if m.Objective > last {
					t.Errorf("iteration %d: accepted objective %.17g above the last accepted %.17g", m.Iter, m.Objective, last)
				}
				if m.Objective < m.Loss { // the penalty term is >= 0
					t.Errorf("iteration %d: objective %v below the loss %v", m.Iter, m.Objective, m.Loss)
				}
				last = m.Objective
			}
			if res.Model.Train == nil || res.Model.Validation == nil {
				t.Fatalf("model.json lacks the written iterate's scores: %+v", res.Model)
			}
			t.Logf("%s: %d iterations, validation R^2 %.4f", c.name, res.Final.Iter, res.Model.Validation.R2)
		})
	}
	if rejections == 0 {
		t.Error("no candidate was rejected: the test does not exercise the damping")
	}

	// The papers' plain step on the same data and start is not monotone.
	o := realOptions(t.TempDir())
	o.Damping, o.Alpha = "off", "0"
	if _, err := job.Train(context.Background(), o, io.Discard, zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	rose := false
	ms := readMetrics(t, o.Out)
	for i := 1; i < len(ms); i++ {
		rose = rose || ms[i].Loss > ms[i-1].Loss
		if ms[i].Objective != ms[i].Loss {
			t.Errorf("iteration %d without a penalty: objective %v != loss %v", ms[i].Iter, ms[i].Objective, ms[i].Loss)
		}
	}
	if !rose {
		t.Error("the plain step never raised the loss on these data: they do not test monotonicity")
	}
}

// TestRealDataBitIdentical: the default real-data run (summary pass,
// standardization, validation split, penalty chosen by GCV, damping, best
// iterate) writes the same bits in process, through in-process shards
// over gRPC, streaming, and with another parallelism.
func TestRealDataBitIdentical(t *testing.T) {
	for _, fam := range []string{"sum", "deep"} {
		t.Run(fam, func(t *testing.T) { testRealDataBitIdentical(t, fam) })
	}
}

// realFamily sets the options of realOptions to train family fam.
func realFamily(o *job.Options, fam string) {
	if fam == "deep" {
		o.Model, o.K, o.Hidden = "deep", 0, []int{6, 4}
	}
}

func testRealDataBitIdentical(t *testing.T, fam string) {
	variants := []struct {
		name string
		set  func(o *job.Options)
	}{
		{"in process, parallel 1", func(o *job.Options) { o.Parallel = 1 }},
		{"3 shards over gRPC", func(o *job.Options) { o.LocalShards, o.Parallel = 3, 0 }},
		{"streaming, 2 resident", func(o *job.Options) { o.Resident = 2 }},
	}
	ref := realOptions(t.TempDir())
	realFamily(&ref, fam)
	if _, err := job.Train(context.Background(), ref, io.Discard, zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	for _, v := range variants {
		o := realOptions(t.TempDir())
		realFamily(&o, fam)
		v.set(&o)
		if _, err := job.Train(context.Background(), o, io.Discard, zaptest.NewLogger(t)); err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		if f := sameOutputs(t, ref.Out, o.Out); f != "" {
			t.Errorf("%s: %s differs from the in-process run's", v.name, f)
		}
	}
}

// sameOutputs returns the first model file (the weights, model.json) of
// output directory a that differs from b's, "" when none does.
func sameOutputs(t *testing.T, a, b string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(a, "*.npy"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no weights in %s: %v", a, err)
	}
	for _, f := range append(files, filepath.Join(a, "model.json")) {
		name := filepath.Base(f)
		if !sameFile(t, f, filepath.Join(b, name), name == "model.json") {
			return name
		}
	}
	return ""
}

// sameFile compares two output files; model.json is compared without the
// fields that name the runtime (none at present) or the output directory.
func sameFile(t *testing.T, a, b string, isJSON bool) bool {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if !isJSON {
		return bytes.Equal(x, y)
	}
	var mx, my map[string]any
	if err := json.Unmarshal(x, &mx); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(y, &my); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(mx) == fmt.Sprint(my)
}

// TestRealDataResume: a run killed at any round (including rounds whose
// candidate the uninterrupted run rejected, whose resume must evaluate the
// accepted iterate again for its statistics) resumes to the same bits.
func TestRealDataResume(t *testing.T) {
	for _, fam := range []string{"sum", "deep"} {
		t.Run(fam, func(t *testing.T) { testRealDataResume(t, fam) })
	}
}

func testRealDataResume(t *testing.T, fam string) {
	ctx := context.Background()
	ref := realOptions(t.TempDir())
	realFamily(&ref, fam)
	if _, err := job.Train(ctx, ref, io.Discard, zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	var rejected []int
	for _, m := range readMetrics(t, ref.Out) {
		if !m.Accepted {
			rejected = append(rejected, m.Iter)
		}
	}
	if len(rejected) == 0 {
		t.Fatal("the reference run rejected no candidate: pick data that exercise the refresh")
	}
	for _, crashAt := range []int{1, rejected[0], rejected[0] + 1, 12} {
		o := realOptions(t.TempDir())
		realFamily(&o, fam)
		pr, err := job.Prepare(o)
		if err != nil {
			t.Fatal(err)
		}
		_, err = job.Run(ctx, o, pr, failAt{engineFetcher(t, pr, o.Partitions), crashAt}, io.Discard, zaptest.NewLogger(t))
		pr.Close()
		if !errors.Is(err, fleet.ErrInjected) {
			t.Fatalf("crash at %d: err = %v, want the injected fault", crashAt, err)
		}
		var out bytes.Buffer
		if _, err := job.Train(ctx, o, &out, zaptest.NewLogger(t)); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "resuming from the checkpoint") {
			t.Errorf("crash at %d: the second run did not resume:\n%s", crashAt, out.String())
		}
		if f := sameOutputs(t, ref.Out, o.Out); f != "" {
			t.Errorf("%s, crash at %d: resumed %s differs from the uninterrupted run's", fam, crashAt, f)
		}
	}
}

// writeCSV writes rows of features and a label under a header.
func writeCSV(t *testing.T, path string, names []string, x [][]float64, y []float64) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(strings.Join(names, ",") + "\n")
	for i, row := range x {
		for _, v := range row {
			fmt.Fprintf(&b, "%v,", v)
		}
		fmt.Fprintf(&b, "%v\n", y[i])
	}
	return writeFile(t, path, []byte(b.String()))
}

// rawTable returns n rows of 3 features in raw units (far from standard)
// and a nonlinear label in thousands.
func rawTable(seed uint64, n int) ([][]float64, []float64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := make([][]float64, n)
	y := make([]float64, n)
	for i := range x {
		a, b, c := 1000+200*rng.Float64(), 0.001*rng.Float64(), 50*rng.NormFloat64()
		x[i] = []float64{a, b, c}
		y[i] = 5000 + 3*math.Abs(a-1100) + 2e6*b*b + 10*math.Max(c, 0) + 20*rng.NormFloat64()
	}
	return x, y
}

// TestEvalRawUnits: a model trained on a CSV in raw units predicts, through
// `predict` and `eval`, what an independent evaluation of the written
// weights and standardization gives, in the label's units.
func TestEvalRawUnits(t *testing.T) {
	dir := t.TempDir()
	names := []string{"a", "b", "c", "price"}
	x, y := rawTable(1, 2000)
	train := writeCSV(t, filepath.Join(dir, "train.csv"), names, x, y)
	xt, yt := rawTable(2, 500)
	test := writeCSV(t, filepath.Join(dir, "test.csv"), names, xt, yt)

	o := job.DefaultOptions()
	o.Data, o.Label, o.K, o.Out, o.LocalShards = train, "price", 6, filepath.Join(dir, "model"), 0
	if _, err := job.Train(context.Background(), o, io.Discard, zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	mf, net, err := job.LoadModel(o.Out)
	if err != nil {
		t.Fatal(err)
	}
	st := mf.Standardize
	if st == nil || !mf.Bias || !mf.Linear || net.Skip == nil {
		t.Fatalf("model.json of a real-data run lacks standardization, bias or linear term: %+v", mf)
	}
	// Independent evaluation: standardize, append the bias, the network,
	// back to the label's units.
	var sse, sum, sumsq float64
	want := make([]float64, len(xt))
	for i, row := range xt {
		z := make([]float64, len(row)+1)
		for j, v := range row {
			z[j] = (v - st.XMean[j]) / st.XSD[j]
		}
		z[len(row)] = 1
		var f float64
		d := len(z)
		for q, v := range net.V {
			var h float64
			for j := range z {
				h += net.W[0][q*d+j] * z[j]
			}
			f += v * math.Max(h, 0)
		}
		for j := range z {
			f += net.Skip[j] * z[j]
		}
		want[i] = f*st.YSD + st.YMean
		r := want[i] - yt[i]
		sse += r * r
		sum += yt[i]
		sumsq += yt[i] * yt[i]
	}
	n := float64(len(yt))
	r2 := 1 - sse/(sumsq-sum*sum/n)

	ev, err := job.Eval(job.PredictOptions{Model: o.Out, Data: test, Label: "price"})
	if err != nil {
		t.Fatal(err)
	}
	if ev.N != len(yt) || math.Abs(ev.RMSE-math.Sqrt(sse/n)) > 1e-9*ev.RMSE || math.Abs(ev.R2-r2) > 1e-9 {
		t.Errorf("eval = %+v, independent: rmse %v, r2 %v", ev, math.Sqrt(sse/n), r2)
	}
	if ev.R2 < 0.9 {
		t.Errorf("test R^2 %.4f: the default model does not fit a smooth 3-feature function", ev.R2)
	}
	out := filepath.Join(dir, "pred.npy")
	if _, err := job.Predict(job.PredictOptions{Model: o.Out, Data: test, Label: "price", Out: out}); err != nil {
		t.Fatal(err)
	}
	got := readNPYFloats(t, out)
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-9*math.Abs(want[i]) {
			t.Fatalf("prediction %d = %v, independent %v", i, got[i], want[i])
		}
	}

	// eval refuses a file with another number of features.
	other := writeCSV(t, filepath.Join(dir, "other.csv"), []string{"a", "b", "price"}, [][]float64{{1, 2}, {3, 4}}, []float64{1, 2})
	_, err = job.Eval(job.PredictOptions{Model: o.Out, Data: other, Label: "price"})
	if !errors.Is(err, job.ErrOptions) || !strings.Contains(err.Error(), "2 features") || !strings.Contains(err.Error(), "3") {
		t.Errorf("eval with 2 features: %v", err)
	}
}

// readNPYFloats reads a 1-D float64 .npy file.
func readNPYFloats(t *testing.T, path string) []float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	hl := int(b[8]) | int(b[9])<<8
	p := b[10+hl:]
	v := make([]float64, len(p)/8)
	for i := range v {
		var u uint64
		for k := 7; k >= 0; k-- {
			u = u<<8 | uint64(p[i*8+k])
		}
		v[i] = math.Float64frombits(u)
	}
	return v
}

// TestRealDataBadInputs: clear errors for what real data get wrong.
func TestRealDataBadInputs(t *testing.T) {
	dir := t.TempDir()
	names := []string{"a", "b", "c", "price"}
	x, y := rawTable(1, 200)
	good := writeCSV(t, filepath.Join(dir, "good.csv"), names, x, y)
	constY := make([]float64, len(y))
	for i := range constY {
		constY[i] = 7
	}
	constLabel := writeCSV(t, filepath.Join(dir, "const.csv"), names, x, constY)
	cases := []struct {
		name string
		set  func(o *job.Options)
		msg  []string
	}{
		{"constant label", func(o *job.Options) { o.Data, o.Label = constLabel, "price" }, []string{"label", `"price"`, "constant"}},
		{"validation 1", func(o *job.Options) { o.Validation = 1 }, []string{"--validation 1", "(0, 1)"}},
		{"validation -0.5", func(o *job.Options) { o.Validation = -0.5 }, []string{"--validation -0.5"}},
		{"validation NaN", func(o *job.Options) { o.Validation = math.NaN() }, []string{"--validation NaN"}},
		{"alpha word", func(o *job.Options) { o.Alpha = "lots" }, []string{"--alpha", "lots"}},
		{"alpha negative", func(o *job.Options) { o.Alpha = "-1" }, []string{"--alpha", "-1"}},
		{"alpha without damping", func(o *job.Options) { o.Alpha, o.Damping = "0.1", "off" }, []string{"--alpha 0.1", "damped"}},
		{"damping word", func(o *job.Options) { o.Damping = "maybe" }, []string{"--damping", "maybe"}},
		{"paper with standardize", func(o *job.Options) { o.Paper, o.Standardize = true, job.On }, []string{"--paper", "--standardize"}},
		{"paper with validation", func(o *job.Options) { o.Paper, o.Validation = true, 0.2 }, []string{"--paper", "--validation"}},
		{"val-data and validation", func(o *job.Options) { o.ValData, o.Validation = good, 0.2 }, []string{"--validation", "--val-data"}},
		{"val-data of another format", func(o *job.Options) { o.ValData = filepath.Join(dir, "v.npy") }, []string{"--val-data", "same format"}},
		{"patience -2", func(o *job.Options) { o.Patience = -2 }, []string{"--patience -2"}},
		{"data start without bias", func(o *job.Options) { o.Bias = job.Off }, []string{"--init data", "--bias"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := job.DefaultOptions()
			o.Data, o.Label, o.K, o.LocalShards, o.Out = good, "price", 3, 0, filepath.Join(t.TempDir(), "out")
			c.set(&o)
			_, err := job.Train(context.Background(), o, io.Discard, zaptest.NewLogger(t))
			if !errors.Is(err, job.ErrOptions) {
				t.Fatalf("err = %v, want ErrOptions", err)
			}
			for _, s := range c.msg {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

// TestConstantFeature: a feature constant on the training rows is kept
// (centred, not scaled), listed in model.json, and training works.
func TestConstantFeature(t *testing.T) {
	dir := t.TempDir()
	x, y := rawTable(1, 1000)
	for _, row := range x {
		row[1] = 0.5
	}
	o := job.DefaultOptions()
	o.Data, o.Label, o.K, o.LocalShards = writeCSV(t, filepath.Join(dir, "t.csv"), []string{"a", "b", "c", "price"}, x, y), "price", 4, 0
	o.Out = filepath.Join(dir, "out")
	var out bytes.Buffer
	res, err := job.Train(context.Background(), o, &out, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(res.Model.ConstantFeatures) != "[1]" {
		t.Errorf("constant features %v, want [1]", res.Model.ConstantFeatures)
	}
	if !strings.Contains(out.String(), "constant") {
		t.Errorf("the table does not warn of the constant feature:\n%s", out.String())
	}
	if res.Model.Validation == nil || res.Model.Validation.R2 < 0.8 {
		t.Errorf("validation scores %+v", res.Model.Validation)
	}
}

// TestDiabetesVersusBaselines trains the default model on scikit-learn's
// diabetes table (shipped by Debian's python3-sklearn; skipped without it)
// and checks its test R^2 against least squares and scikit-learn's
// MLPRegressor of the same width (scripts/realdata.py, docs/REALDATA.md).
func TestDiabetesVersusBaselines(t *testing.T) {
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import sklearn, numpy").Run(); err != nil {
		t.Skipf("%s with scikit-learn and numpy not available: %v", py, err)
	}
	dir := t.TempDir()
	script := filepath.Join("..", "scripts", "realdata.py")
	if out, err := exec.Command(py, script, "prepare", dir, "diabetes").CombinedOutput(); err != nil {
		t.Fatalf("%s prepare: %v\n%s", script, err, out)
	}
	const k = 16
	set := filepath.Join(dir, "diabetes")
	out, err := exec.Command(py, script, "baseline", set, fmt.Sprint(k)).Output()
	if err != nil {
		t.Fatalf("%s baseline: %v", script, err)
	}
	var base struct {
		OLS float64 `json:"ols_r2"`
		MLP float64 `json:"mlp_r2"`
	}
	if err := json.Unmarshal(out, &base); err != nil {
		t.Fatal(err)
	}
	o := job.DefaultOptions()
	o.Data, o.Label, o.K, o.LocalShards, o.Out = filepath.Join(set, "train.csv"), "target", k, 0, filepath.Join(dir, "model")
	if _, err := job.Train(context.Background(), o, io.Discard, zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	ev, err := job.Eval(job.PredictOptions{Model: o.Out, Data: filepath.Join(set, "test.csv"), Label: "target"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("diabetes, K=%d: test R^2 %.4f; least squares %.4f, MLPRegressor %.4f", k, ev.R2, base.OLS, base.MLP)
	if ev.R2 < base.OLS || ev.R2 < base.MLP {
		t.Errorf("test R^2 %.4f below least squares (%.4f) or the MLP (%.4f)", ev.R2, base.OLS, base.MLP)
	}
}
