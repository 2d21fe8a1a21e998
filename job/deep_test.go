package job_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"altmin/coordinator"
	"altmin/data"
	"altmin/fleet"
	"altmin/job"
	"altmin/model"
	"altmin/shard"
)

// deepSynth is a planted 2-hidden-layer teacher: 10-6-3, 4000 rows.
const deepSynth = "model=deep,d=10,hidden=6-3,n=4000,seed=2"

func deepOptions(synth string) job.Options {
	o := job.DefaultOptions()
	o.Synthetic, o.Out, o.Parallel, o.Partitions, o.LocalShards = synth, "", 2, 4, 0
	return o
}

func trainDeep(t *testing.T, o job.Options) (*job.Result, error) {
	t.Helper()
	if o.Out == "" {
		o.Out = t.TempDir()
	}
	return job.Train(context.Background(), o, io.Discard, zaptest.NewLogger(t))
}

func bitsEqual(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

func netsEqual(a, b *model.Net) bool {
	if !slices.Equal(a.Dims, b.Dims) || !bitsEqual(a.V, b.V) || len(a.W) != len(b.W) {
		return false
	}
	for l := range a.W {
		if !bitsEqual(a.W[l], b.W[l]) {
			return false
		}
	}
	return true
}

// TestDeepTrainPlanted: --model deep (implied by the deep --synthetic
// teacher) recovers a planted 2-hidden-layer teacher from a 10% perturbed
// start to machine precision, writes weights_1.npy, weights_2.npy,
// model.json and metrics.jsonl, and gives the same bits as the deep core
// driven directly over an in-process engine.
func TestDeepTrainPlanted(t *testing.T) {
	o := deepOptions(deepSynth)
	o.Init, o.Iters, o.Out = "perturb:0.1", 20, t.TempDir()
	res, err := trainDeep(t, o)
	if err != nil {
		t.Fatal(err)
	}
	tch, err := data.ParseDeepTeacher(deepSynth)
	if err != nil {
		t.Fatal(err)
	}
	rel := model.WeightErr(res.Net, tch.Net())
	t.Logf("stop %s after %d iterations, residual %.3g, weight error %.3g", res.Final.Stop, res.Final.Iter, res.Final.RelRes, rel)
	if !(rel <= 1e-10) || res.Final.Stop == coordinator.IterLimit {
		t.Fatalf("weight error %.3g, stop %s; want <= 1e-10 before the limit", rel, res.Final.Stop)
	}
	if res.Model.FinalRelErr == nil || *res.Model.FinalRelErr != rel {
		t.Errorf("model.json relative error %v, recomputed %v", res.Model.FinalRelErr, rel)
	}

	// The output directory.
	mf := res.Model
	if mf.Model != "deep" || mf.D != 10 || !slices.Equal(mf.Hidden, []int{6, 3}) || !slices.Equal(mf.Dims, []int{10, 6, 3}) ||
		!slices.Equal(mf.Signs, []float64{1, -1, 1}) || mf.StopReason != string(res.Final.Stop) || mf.Iterations != res.Final.Iter ||
		mf.Rows != 4000 || mf.Partitions != 4 || mf.Init != "perturb:0.1" || !strings.Contains(mf.Data, "model=deep,d=10,hidden=6-3") {
		t.Errorf("model.json: %+v", mf)
	}
	for l, shape := range [][]int{{6, 10}, {3, 6}} {
		w, sh, err := data.ReadNPY(filepath.Join(o.Out, fmt.Sprintf("weights_%d.npy", l+1)))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sh, shape) || !bitsEqual(w, res.Net.W[l]) {
			t.Errorf("weights_%d.npy: shape %v, want %v, or other bits than the result", l+1, sh, shape)
		}
	}
	_, loaded, err := job.LoadModel(o.Out)
	if err != nil {
		t.Fatal(err)
	}
	if !netsEqual(loaded, res.Net) {
		t.Error("LoadModel does not give back the trained network")
	}
	lines := readMetrics(t, o.Out)
	if len(lines) != res.Final.Iter+1 || lines[0].Flips != nil || lines[1].Flips == nil || lines[0].RelErr == nil ||
		lines[len(lines)-1].Loss != res.Final.Loss || lines[len(lines)-1].Layers != nil || lines[0].Rows != 4000 {
		t.Errorf("metrics.jsonl: %d lines for %d iterations: first %+v, last %+v", len(lines), res.Final.Iter, lines[0], lines[len(lines)-1])
	}
	for _, m := range lines { // the two phases of each step's wall time
		if m.StatsSeconds <= 0 || m.SolveSeconds < 0 || math.Abs(m.StatsSeconds+m.SolveSeconds-m.Seconds) > 1e-9 {
			t.Errorf("metrics.jsonl iteration %d: stats %g s + solve %g s, total %g s", m.Iter, m.StatsSeconds, m.SolveSeconds, m.Seconds)
		}
	}

	// The deep core driven directly over an engine holding the same
	// partitions, from the same start: same bits.
	var parts []*shard.Partition
	for p := 0; p < 4; p++ {
		pt, err := shard.Load(tch, 4, p, false)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, pt)
	}
	eng, err := shard.NewEngine(parts...)
	if err != nil {
		t.Fatal(err)
	}
	cfg := coordinator.DeepConfig{Schedule: coordinator.Joint, Partitions: 4, MaxIters: 20, Tol: o.Tol, FitTol: coordinator.DefaultDeepConfig().FitTol}
	core, err := coordinator.NewDeep(cfg, data.PerturbNet(tch.Net(), 0.1, o.Seed))
	if err != nil {
		t.Fatal(err)
	}
	last, err := (&coordinator.Driver{Core: core, Fetcher: eng, Parallel: 1}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !netsEqual(last.Net, res.Net) || last.Iter != res.Final.Iter {
		t.Error("the job's weights differ from the deep core's on the same partitions")
	}
}

// TestDeepReproducible: parallelism changes no bit; the number of
// partitions changes only the rounding.
func TestDeepReproducible(t *testing.T) {
	o := deepOptions("model=deep,d=8,hidden=5-3-2,n=1500,seed=4")
	o.Init, o.Iters, o.Tol, o.Partitions = "perturb:0.2", 3, 0, 5 // stop while the iterates still move
	a, err := trainDeep(t, o)
	if err != nil {
		t.Fatal(err)
	}
	o.Parallel = 1
	b, err := trainDeep(t, o)
	if err != nil {
		t.Fatal(err)
	}
	if !netsEqual(a.Net, b.Net) {
		t.Fatal("parallel 2 and 1 give different bits")
	}
	o.Partitions = 1
	c, err := trainDeep(t, o)
	if err != nil {
		t.Fatal(err)
	}
	var num, den float64
	for l := range a.Net.W {
		for i, v := range a.Net.W[l] {
			num += (v - c.Net.W[l][i]) * (v - c.Net.W[l][i])
			den += v * v
		}
	}
	t.Logf("P = 5 vs P = 1 after 3 iterations: %.3g relative", math.Sqrt(num/den))
	if e := math.Sqrt(num / den); e > 1e-12 || a.Final.Iter != 3 || a.Final.Stop != coordinator.IterLimit {
		t.Errorf("P = 1 and P = 5 differ by %.3g; stopped at %d (%s), want the limit 3", e, a.Final.Iter, a.Final.Stop)
	}
}

// TestDeepPredictRoundTrip: a deep model trained on .npy files (with the
// bias feature) predicts held-out rows through `coordinator predict`'s
// entry point, as .npy and as CSV, with the network's own bits, and
// matches the teacher's labels.
func TestDeepPredictRoundTrip(t *testing.T) {
	tch, err := data.ParseDeepTeacher("model=deep,d=6,hidden=5-3,n=3000,seed=7")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	read := func(src data.Source) (x, y []float64) {
		info := src.Info()
		x, y = make([]float64, info.N*info.D), make([]float64, info.N)
		if err := src.Read(0, info.N, x, y); err != nil {
			t.Fatal(err)
		}
		return x, y
	}
	x, y := read(tch)
	o := deepOptions("")
	o.Model, o.Hidden, o.Signs, o.Bias, o.Iters = "deep", []int{5, 3}, "alternate", job.On, 30
	o.Data = writeNPY(t, filepath.Join(dir, "x.npy"), x, 3000, 6)
	o.Labels = writeNPY(t, filepath.Join(dir, "y.npy"), y, 3000)
	// A perturbed start: the teacher, written as a model directory with a
	// zero bias column, is both --truth and the center of --init.
	truth := filepath.Join(dir, "truth")
	if err := os.MkdirAll(truth, 0o755); err != nil {
		t.Fatal(err)
	}
	writeDeepDir(t, truth, tch.Net(), true)
	o.Truth, o.Init = truth, "perturb:0.05"
	o.Out = filepath.Join(dir, "model")
	res, err := trainDeep(t, o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Model.FinalRelErr == nil || !(*res.Model.FinalRelErr <= 1e-10) || !res.Model.Bias || !slices.Equal(res.Model.Dims, []int{7, 5, 3}) {
		t.Fatalf("trained with bias: %+v", res.Model)
	}
	bias := res.Net.W[0]
	for q := 0; q < 5; q++ {
		if math.Abs(bias[q*7+6]) > 1e-10 {
			t.Errorf("unit %d learned a bias %.3g, the teacher has none", q, bias[q*7+6])
		}
	}

	tx, ty := read(tch.HeldOut(500))
	xb := make([]float64, 500*7)
	for i := 0; i < 500; i++ {
		copy(xb[i*7:], tx[i*6:(i+1)*6])
		xb[i*7+6] = 1
	}
	want := make([]float64, 500)
	res.Net.Predict(want, xb)

	var csv strings.Builder
	csv.WriteString("a,b,c,d,e,f,target\n")
	for i := 0; i < 500; i++ {
		for j := 0; j < 6; j++ {
			fmt.Fprintf(&csv, "%v,", tx[i*6+j])
		}
		fmt.Fprintf(&csv, "%v\n", ty[i])
	}
	inputs := map[string]job.PredictOptions{
		"npy": {Data: writeNPY(t, filepath.Join(dir, "tx.npy"), tx, 500, 6)},
		"csv": {Data: writeFile(t, filepath.Join(dir, "test.csv"), []byte(csv.String())), Label: "target"},
	}
	for name, po := range inputs {
		po.Model, po.Out = o.Out, filepath.Join(dir, "yhat-"+name+".npy")
		n, err := job.Predict(po)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, shape, err := data.ReadNPY(po.Out)
		if err != nil {
			t.Fatal(err)
		}
		if n != 500 || !slices.Equal(shape, []int{500}) || !bitsEqual(got, want) {
			t.Errorf("%s: %d predictions of shape %v, not the network's bits", name, n, shape)
		}
		if e := model.PredErr(res.Net, xb, ty); e > 1e-10 {
			t.Errorf("%s: held-out relative error %.3g", name, e)
		}
	}

	// Wrong number of features.
	_, err = job.Predict(job.PredictOptions{Model: o.Out, Data: writeNPY(t, filepath.Join(dir, "x5.npy"), tx[:500*5], 500, 5), Out: filepath.Join(dir, "bad.npy")})
	if !errors.Is(err, job.ErrOptions) || !strings.Contains(err.Error(), "has 5 features") || !strings.Contains(err.Error(), "trained on 6") {
		t.Errorf("5 features for a 6-feature model: %v", err)
	}
}

// writeDeepDir writes net as a deep model directory (with a zero bias
// column when bias).
func writeDeepDir(t *testing.T, dir string, net *model.Net, bias bool) {
	t.Helper()
	d := net.Dims[0]
	dims := slices.Clone(net.Dims)
	w1 := net.W[0]
	if bias {
		dims[0]++
		w1 = make([]float64, dims[1]*(d+1))
		for q := 0; q < dims[1]; q++ {
			copy(w1[q*(d+1):], net.W[0][q*d:(q+1)*d])
		}
	}
	ws := append([][]float64{w1}, net.W[1:]...)
	var names []string
	for l, w := range ws {
		names = append(names, fmt.Sprintf("weights_%d.npy", l+1))
		writeNPY(t, filepath.Join(dir, names[l]), w, dims[l+1], dims[l])
	}
	// The format before checksums, read without verification: the
	// tests damage model.json by hand, and the checks of its values are
	// what must refuse it (TestTamperedModelRefused covers the checksums).
	mf := job.ModelFile{Format: job.LegacyModelFormat, Model: "deep", D: d, K: dims[len(dims)-1], Hidden: dims[1:], Dims: dims, Signs: net.V, Bias: bias, Weights: names}
	b, err := json.Marshal(mf)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "model.json"), b)
}

// TestDeepBadOptions: every misuse of the deep flags is refused with an
// error naming the flag, before any data are read.
func TestDeepBadOptions(t *testing.T) {
	const syn = "model=deep,d=5,hidden=3-2,n=200,seed=1"
	dir := t.TempDir()
	other := filepath.Join(dir, "other")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	tch, err := data.NewDeepTeacher(10, []int{5, 4, 2}, 1, "alternate")
	if err != nil {
		t.Fatal(err)
	}
	writeDeepDir(t, other, tch.Net(), false)
	cases := []struct {
		name string
		set  func(o *job.Options)
		msg  []string
	}{
		{"hidden with sum", func(o *job.Options) { o.Synthetic, o.Hidden = "model=sum,d=5,k=2,n=100", []int{3, 2} }, []string{"--hidden 3,2 is for --model deep", "sum"}},
		{"hidden with resnet", func(o *job.Options) { o.Model, o.Hidden = "resnet", []int{3, 2} }, []string{"--hidden 3,2 is for --model deep", "resnet"}},
		{"deep teacher, other model", func(o *job.Options) { o.Model = "relu" }, []string{"plants a deep network", "--model relu"}},
		{"width 0", func(o *job.Options) { o.Model, o.Hidden = "deep", []int{3, 0} }, []string{"--hidden 3,0", "layer 2 has width 0"}},
		{"negative width", func(o *job.Options) { o.Model, o.Hidden = "deep", []int{-1, 2} }, []string{"layer 1 has width -1"}},
		{"too many layers", func(o *job.Options) { o.Model, o.Hidden = "deep", []int{5, 4, 3, 2, 2} }, []string{"5 hidden layers, at most 4"}},
		{"one layer", func(o *job.Options) { o.Model, o.Hidden = "deep", []int{4} }, []string{"one hidden layer is --model sum --k 4"}},
		{"no widths", func(o *job.Options) { o.Model, o.Synthetic = "deep", "model=sum,d=5,k=2,n=100" }, []string{"needs the hidden widths: --hidden"}},
		{"no data", func(o *job.Options) { o.Model, o.Synthetic, o.Hidden = "deep", "", []int{3, 2} }, []string{"--model deep needs data"}},
		{"k", func(o *job.Options) { o.K = 3 }, []string{"--k is for the 1-hidden-layer models"}},
		{"gd", func(o *job.Options) { o.Method = "gd" }, []string{"--method gd is not available for --model deep"}},
		{"step", func(o *job.Options) { o.Step = 0.1 }, []string{"--step"}},
		{"identity", func(o *job.Options) { o.Init = "identity" }, []string{"--init identity"}},
		{"tensor", func(o *job.Options) { o.Init = "tensor" }, []string{"--init tensor"}},
		{"init npy", func(o *job.Options) { o.Init = "w.npy" }, []string{"--init w.npy", "model directory"}},
		{"truth npy", func(o *job.Options) { o.Truth = "w.npy" }, []string{"--truth w.npy", "model directory"}},
		{"degraded", func(o *job.Options) { o.AllowDegraded = true }, []string{"--allow-degraded"}},
		{"widths differ", func(o *job.Options) { o.Hidden = []int{3, 3} }, []string{"--hidden 3,3 differs from the synthetic teacher's widths 3,2"}},
		{"signs differ", func(o *job.Options) { o.Signs = "ones" }, []string{"--signs ones differ from the teacher's"}},
		{"bad signs", func(o *job.Options) { o.Signs = "sideways" }, []string{"--signs", "sideways"}},
		{"bad perturb", func(o *job.Options) { o.Init = "perturb:x" }, []string{"--init perturb:x"}},
		{"perturb without teacher", func(o *job.Options) {
			o.Synthetic, o.Model, o.Hidden, o.Init = "model=sum,d=5,k=2,n=100", "deep", []int{3, 2}, "perturb:0.1"
		}, []string{"--init perturb:0.1 needs a known teacher"}},
		{"bad init", func(o *job.Options) { o.Init = filepath.Join(dir, "missing") }, []string{"--init", "want random, perturb:DELTA, data or a deep model directory"}},
		{"init of another shape", func(o *job.Options) { o.Init = other }, []string{"--init " + other, "widths [5 4 2]"}},
		{"truth of another shape", func(o *job.Options) { o.Truth = other }, []string{"--truth " + other, "widths [5 4 2]"}},
		{"too many weights", func(o *job.Options) {
			o.Synthetic, o.Model, o.Hidden = "model=sum,d=50,k=2,n=100", "deep", []int{200, 100}
		}, []string{"--hidden 200,100", "at most 8192"}},
		// Refused before the network is allocated: not out of memory, nor
		// a makeslice panic from an overflowing n_l n_{l-1}.
		{"huge widths", func(o *job.Options) {
			o.Synthetic, o.Model, o.Hidden = "model=sum,d=5,k=2,n=100", "deep", []int{99999, 99999}
		}, []string{"--hidden 99999,99999", "width n_1 = 99999", "at most 8192"}},
		{"overflowing widths", func(o *job.Options) {
			o.Synthetic, o.Model, o.Hidden = "model=sum,d=5,k=2,n=100", "deep", []int{4611686018427387904, 4}
		}, []string{"--hidden 4611686018427387904,4", "at most 8192"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := deepOptions(syn)
			c.set(&o)
			var err error
			if o.IsDeep() {
				_, err = trainDeep(t, o)
			} else {
				_, err = train(t, o)
			}
			if !errors.Is(err, job.ErrOptions) {
				t.Fatalf("error %v, want one wrapping job.ErrOptions", err)
			}
			for _, m := range c.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q lacks %q", err, m)
				}
			}
		})
	}

	// Bad teacher specifications name the key.
	for spec, msg := range map[string]string{
		"model=deep,d=5,hidden=3-x,n=10":              "hidden=3-x",
		"model=deep,d=5,n=10":                         "needs model=deep, d, hidden",
		"model=deep,d=5,hidden=3-2,n=10,k=2":          `unknown key "k"`,
		"model=deep,d=5,hidden=3-2,n=10,signs=random": "signs must be alternate or ones",
	} {
		_, err := trainDeep(t, deepOptions(spec))
		if !errors.Is(err, data.ErrSynthetic) || !strings.Contains(err.Error(), "--synthetic") || !strings.Contains(err.Error(), msg) {
			t.Errorf("--synthetic %s: %v, want data.ErrSynthetic naming %q", spec, err, msg)
		}
	}
}

// TestDeepLoadModelErrors: a damaged deep model directory is refused with
// an error naming the file.
func TestDeepLoadModelErrors(t *testing.T) {
	tch, err := data.NewDeepTeacher(10, []int{4, 3, 2}, 1, "alternate")
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		damage func(dir string)
		msg    string
	}{
		"wrong shape": {func(dir string) {
			writeNPY(t, filepath.Join(dir, "weights_2.npy"), make([]float64, 6), 3, 2)
		}, "weights_2.npy has shape (3, 2), model.json says (2, 3)"},
		"missing layer": {func(dir string) { os.Remove(filepath.Join(dir, "weights_1.npy")) }, "weights_1.npy"},
		"non-finite": {func(dir string) {
			w := make([]float64, 6)
			w[2] = math.NaN()
			writeNPY(t, filepath.Join(dir, "weights_2.npy"), w, 2, 3)
		}, "non-finite"},
		"dims": {func(dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, "model.json"))
			writeFile(t, filepath.Join(dir, "model.json"), []byte(strings.Replace(string(b), `"dims":[4,3,2]`, `"dims":[4,3,3]`, 1)))
		}, "dims [4 3 3] do not match"},
		"signs": {func(dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, "model.json"))
			writeFile(t, filepath.Join(dir, "model.json"), []byte(strings.Replace(string(b), `"signs":[1,-1]`, `"signs":[1,0.5]`, 1)))
		}, "output sign 1 is 0.5"},
		// Widths are checked before the network is allocated (a negative
		// one panicked in makeslice, huge ones ran out of memory).
		"negative width": {func(dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, "model.json"))
			s := strings.Replace(string(b), `"dims":[4,3,2]`, `"dims":[4,-1,2]`, 1)
			writeFile(t, filepath.Join(dir, "model.json"), []byte(strings.Replace(s, `"hidden":[3,2]`, `"hidden":[-1,2]`, 1)))
		}, "width n_1 = -1"},
		"huge widths": {func(dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, "model.json"))
			s := strings.Replace(string(b), `"dims":[4,3,2]`, `"dims":[4,300000,300000]`, 1)
			writeFile(t, filepath.Join(dir, "model.json"), []byte(strings.Replace(s, `"hidden":[3,2]`, `"hidden":[300000,300000]`, 1)))
		}, "at most 8192"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeDeepDir(t, dir, tch.Net(), false)
			if _, _, err := job.LoadModel(dir); err != nil {
				t.Fatalf("intact directory: %v", err)
			}
			c.damage(dir)
			_, err := job.Predict(job.PredictOptions{Model: dir, Data: "x.npy", Out: filepath.Join(dir, "y.npy")})
			if err == nil || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %v, want one containing %q", err, c.msg)
			}
		})
	}
}

// TestDeepResume: a deep run interrupted at any step and run again with the
// same --out resumes from its checkpoint and ends with the bits of the
// uninterrupted run; checkpoints of other configurations and of the
// 1-hidden-layer models are refused, and theirs refuse a deep one.
func TestDeepResume(t *testing.T) {
	ctx := context.Background()
	ref := deepOptions(deepSynth)
	ref.Init, ref.Out = "perturb:0.1", t.TempDir()
	if _, err := trainDeep(t, ref); err != nil {
		t.Fatal(err)
	}
	files := []string{"weights_1.npy", "weights_2.npy", "metrics.jsonl"}
	read := func(dir, name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, crashAt := range []int{1, 3} {
		o := ref
		o.Out = t.TempDir()
		dp, err := job.Prepare(o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := job.Run(ctx, o, dp, failAt{engineFetcher(t, dp, o.Partitions), crashAt}, io.Discard, zaptest.NewLogger(t)); !errors.Is(err, fleet.ErrInjected) {
			t.Fatalf("crash at %d: %v, want the injected fault", crashAt, err)
		}
		dp.Close()
		var out strings.Builder
		if _, err := job.Train(ctx, o, &out, zaptest.NewLogger(t)); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), fmt.Sprintf("resuming from the checkpoint in %s at iteration %d", o.Out, crashAt)) {
			t.Errorf("crash at %d: the second run did not resume:\n%s", crashAt, out.String())
		}
		for _, name := range files[:2] {
			if string(read(o.Out, name)) != string(read(ref.Out, name)) {
				t.Errorf("crash at %d: %s differs from the uninterrupted run", crashAt, name)
			}
		}
		if a, b := strings.Count(string(read(o.Out, files[2])), "\n"), strings.Count(string(read(ref.Out, files[2])), "\n"); a != b {
			t.Errorf("crash at %d: %d metrics lines, uninterrupted run has %d", crashAt, a, b)
		}
	}

	// An unfinished deep checkpoint in dir.
	o := ref
	o.Out = t.TempDir()
	dp, err := job.Prepare(o)
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	if _, err := job.Run(ctx, o, dp, failAt{engineFetcher(t, dp, o.Partitions), 2}, io.Discard, zaptest.NewLogger(t)); !errors.Is(err, fleet.ErrInjected) {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*job.Options){
		"other data":       func(o *job.Options) { o.Synthetic = "model=deep,d=10,hidden=6-3,n=4000,seed=3" },
		"other partitions": func(o *job.Options) { o.Partitions = 3 },
		"other init":       func(o *job.Options) { o.Init = "perturb:0.2" },
		"bias":             func(o *job.Options) { o.Bias = job.On },
	} {
		o2 := o
		change(&o2)
		if _, err := trainDeep(t, o2); !errors.Is(err, job.ErrCheckpoint) || !strings.Contains(err.Error(), "another configuration") {
			t.Errorf("%s: %v, want a refused checkpoint", name, err)
		}
	}
	one := resumeOptions(o.Out)
	if _, err := job.Train(ctx, one, io.Discard, zaptest.NewLogger(t)); !errors.Is(err, job.ErrCheckpoint) || !strings.Contains(err.Error(), "another configuration") {
		t.Errorf("a 1-hidden-layer run on a deep checkpoint: %v", err)
	}
	// And a 1-hidden-layer checkpoint refuses a deep run.
	one.Out = t.TempDir()
	pr, err := job.Prepare(one)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	if _, err := job.Run(ctx, one, pr, failAt{engineFetcher(t, pr, one.Partitions), 2}, io.Discard, zaptest.NewLogger(t)); err == nil {
		t.Fatal("the injected fault did not stop the run")
	}
	o.Out = one.Out
	if _, err := trainDeep(t, o); !errors.Is(err, job.ErrCheckpoint) || !strings.Contains(err.Error(), "another configuration") {
		t.Errorf("a deep run on a 1-hidden-layer checkpoint: %v", err)
	}
}
