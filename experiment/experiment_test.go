package experiment

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"altmin/coordinator"
	"altmin/job"
)

func TestForEachRunsAllAndReportsFirstError(t *testing.T) {
	var calls atomic.Int64
	seen := make([]bool, 50)
	err := forEach(context.Background(), 4, len(seen), func(_ context.Context, i int) error {
		calls.Add(1)
		seen[i] = true
		return nil
	})
	if err != nil || calls.Load() != 50 || slices.Contains(seen, false) {
		t.Fatalf("forEach: err %v, %d calls, seen %v", err, calls.Load(), seen)
	}
	boom := errors.New("boom")
	err = forEach(context.Background(), 1, 10, func(_ context.Context, i int) error {
		if i >= 3 {
			return fmt.Errorf("index %d: %w", i, boom)
		}
		return nil
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "index 3") {
		t.Fatalf("forEach error = %v, want the error of index 3", err)
	}
}

func TestSeedsDistinct(t *testing.T) {
	seen := map[uint64]bool{}
	for _, base := range []uint64{0, 1, 2} {
		for tr := range 100 {
			for _, s := range []uint64{DataSeed(base, tr), InitSeed(base, tr)} {
				if seen[s] {
					t.Fatalf("seed %d repeated (base %d, trial %d)", s, base, tr)
				}
				seen[s] = true
			}
		}
	}
}

// A trial is the trainer's own run: the same final loss, relative error
// and iteration count as `coordinator train` in process, bit for bit.
func TestRunTrialMatchesTrain(t *testing.T) {
	const synth = "model=sum,d=6,k=3,n=500,seed=4,signs=alternate"
	for _, method := range []coordinator.Method{coordinator.AM, coordinator.GD} {
		out, err := RunTrial(context.Background(), Trial{Synthetic: synth, Init: "perturb:0.3", InitSeed: 9,
			Method: method, Iters: 30, Tol: 1e-12, Partitions: 3})
		if err != nil {
			t.Fatal(err)
		}
		o := job.DefaultOptions()
		o.Synthetic, o.Init, o.Seed, o.Partitions, o.Iters, o.Tol = synth, "perturb:0.3", 9, 3, 30, 1e-12
		o.Method, o.LocalShards, o.Out = string(method), 0, t.TempDir()
		res, err := job.Train(context.Background(), o, &bytes.Buffer{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if out.Final.Iter != res.Final.Iter || out.Final.TrainLoss != res.Final.Loss ||
			out.Final.RelErr != *res.Model.FinalRelErr || out.Stop != string(res.Final.Stop) {
			t.Errorf("%s: trial ends at iteration %d (%s), loss %v, rel err %v; train at %d (%s), loss %v, rel err %v", method,
				out.Final.Iter, out.Stop, out.Final.TrainLoss, out.Final.RelErr,
				res.Final.Iter, res.Final.Stop, res.Final.Loss, *res.Model.FinalRelErr)
		}
	}
}

// Held-out rows do not change the training rows, and the test loss of an
// exact recovery is zero to rounding.
func TestRunTrialTestRowsAndTarget(t *testing.T) {
	base := Trial{Init: "identity", Method: coordinator.AM, Iters: 20, Partitions: 4, Trace: true}
	a, b := base, base
	a.Synthetic = "model=resnet,d=6,n=300,seed=2"
	b.Synthetic, b.Test = "model=resnet,d=6,n=400,seed=2", 100
	oa, err := RunTrial(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	ob, err := RunTrial(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	if len(oa.Trace) != len(ob.Trace) {
		t.Fatalf("%d iterates without test rows, %d with", len(oa.Trace), len(ob.Trace))
	}
	for i := range oa.Trace {
		if oa.Trace[i].TrainLoss != ob.Trace[i].TrainLoss || oa.Trace[i].RelErr != ob.Trace[i].RelErr {
			t.Fatalf("iterate %d differs with test rows: %+v vs %+v", i, oa.Trace[i], ob.Trace[i])
		}
		if !math.IsNaN(oa.Trace[i].TestLoss) || math.IsNaN(ob.Trace[i].TestLoss) {
			t.Fatalf("iterate %d: test losses %v (no test rows), %v (100)", i, oa.Trace[i].TestLoss, ob.Trace[i].TestLoss)
		}
	}
	if f := ob.Final; ob.Stop != string(coordinator.FixedPoint) || f.RelErr > 1e-10 || f.TestLoss > 1e-20 {
		t.Fatalf("no exact recovery: stop %s, %+v", ob.Stop, f)
	}
	b.Target = 0.05
	oc, err := RunTrial(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	if oc.Stop != StopTarget || oc.Final.RelErr >= 0.05 || oc.Final.Iter >= ob.Final.Iter {
		t.Fatalf("target 0.05: stop %s at iteration %d, rel err %v", oc.Stop, oc.Final.Iter, oc.Final.RelErr)
	}
	if oc.Final != ob.Trace[oc.Final.Iter] {
		t.Fatalf("target run's last iterate %+v differs from the full run's %+v", oc.Final, ob.Trace[oc.Final.Iter])
	}
}

// The tensor start reads every row it is given, so held-out rows are refused.
func TestRunTrialTensorRefusesTestRows(t *testing.T) {
	_, err := RunTrial(context.Background(), Trial{Synthetic: "model=sum,d=4,k=2,n=300,seed=1", Test: 50,
		Init: "tensor", Method: coordinator.AM, Iters: 5, Partitions: 2})
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("tensor start with test rows: %v, want ErrConfig", err)
	}
}

func tinyPhase() PhaseConfig {
	c := QuickPhase()
	c.D, c.N, c.Trials, c.GDIters = 5, []int{12, 110}, 2, 60
	return c
}

// The files do not depend on how many trials run at once.
func TestPhaseDeterministic(t *testing.T) {
	var files [2]map[string][]byte
	for i, par := range []int{1, 3} {
		c := tinyPhase()
		c.Parallel = par
		res, err := RunPhase(context.Background(), c, nil)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := res.Write(dir); err != nil {
			t.Fatal(err)
		}
		files[i] = map[string][]byte{}
		for _, name := range []string{"phase.csv", "phase_trials.csv", "phase.json", "phase.md", "phase.png"} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			files[i][name] = b
		}
	}
	for name, b := range files[0] {
		if !bytes.Equal(b, files[1][name]) {
			t.Errorf("%s differs between --parallel 1 and 3", name)
		}
	}
	if !strings.HasPrefix(string(files[0]["phase.csv"]), "method,init,n,trials,successes\n") {
		t.Errorf("phase.csv header: %q", files[0]["phase.csv"])
	}
}

// The phase experiment's success criterion, recomputed from every trial's
// final weights and the teacher by an independent route:
// ||W_T - W*||_F / ||W* + I||_F < Threshold, and the counts in phase.csv's
// rows are the successes of their trials.
func TestPhaseSuccessCriterion(t *testing.T) {
	c := tinyPhase()
	res, err := RunPhase(context.Background(), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	var succ, fail int
	for _, tr := range res.Trials {
		o := job.DefaultOptions()
		o.Synthetic = fmt.Sprintf("model=resnet,d=%d,n=%d,seed=%d,wnorm=2", c.D, tr.N, tr.DataSeed)
		pr, err := job.Prepare(o)
		if err != nil {
			t.Fatal(err)
		}
		wstar := pr.Teacher.W[0]
		pr.Close()
		var num, den, norm float64
		for q := 0; q < c.D; q++ {
			for j := 0; j < c.D; j++ {
				e := wstar[q*c.D+j]
				norm += e * e
				if q == j {
					e++
				}
				den += e * e
				dd := tr.Weights[q*c.D+j] - wstar[q*c.D+j]
				num += dd * dd
			}
		}
		rel := math.Sqrt(num / den)
		if math.Abs(math.Sqrt(norm)-2) > 1e-12 {
			t.Fatalf("teacher norm %v, want 2", math.Sqrt(norm))
		}
		if math.Abs(rel-tr.Final.RelErr) > 1e-12*rel || tr.Success != (rel < c.Threshold) {
			t.Errorf("%s %s n=%d trial %d: relative error %v, recomputed %v; success %v", tr.Method, tr.Init, tr.N,
				tr.Trial, tr.Final.RelErr, rel, tr.Success)
		}
		if tr.Success {
			succ++
		} else {
			fail++
		}
	}
	if succ == 0 || fail == 0 {
		t.Errorf("%d successes, %d failures: the tiny preset should have both", succ, fail)
	}
	for i, row := range res.Rows {
		n := 0
		for _, tr := range res.Trials[i*c.Trials : (i+1)*c.Trials] {
			if tr.Method != row.Method || tr.Init != row.Init || tr.N != row.N {
				t.Fatalf("row %+v holds trial %+v", row, tr)
			}
			if tr.Success {
				n++
			}
		}
		if n != row.Successes || row.Trials != c.Trials {
			t.Errorf("row %+v: %d successful trials", row, n)
		}
	}
}

// Runs over parts of the grid merge into the files of a single run, byte for
// byte; a merge lacking a trial, or of a run with another setting, is
// refused.
func TestMergePhase(t *testing.T) {
	write := func(c PhaseConfig) string {
		t.Helper()
		res, err := RunPhase(context.Background(), c, nil)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := res.Write(dir); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	full := tinyPhase()
	whole := write(full)
	am, gdLo, gdHi := tinyPhase(), tinyPhase(), tinyPhase()
	am.Methods = []coordinator.Method{coordinator.AM}
	gdLo.Methods, gdLo.N, gdLo.Parallel = []coordinator.Method{coordinator.GD}, full.N[:1], 1
	gdHi.Methods, gdHi.N, gdHi.Inits = []coordinator.Method{coordinator.GD}, full.N[1:], []string{"random", "identity"}
	parts := []string{write(am), write(gdLo), write(gdHi)}
	res, err := MergePhase(full, parts)
	if err != nil {
		t.Fatal(err)
	}
	merged := t.TempDir()
	if err := res.Write(merged); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"phase.csv", "phase_trials.csv", "phase.json", "phase.md", "phase.png"} {
		a, err := os.ReadFile(filepath.Join(whole, name))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(merged, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s of the merged runs differs from the single run's", name)
		}
	}
	if _, err := MergePhase(full, parts[:2]); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "no run holds gd") {
		t.Errorf("merge without the large-n GD trials: %v", err)
	}
	other := tinyPhase()
	other.Methods, other.GDIters = []coordinator.Method{coordinator.GD}, 50
	if _, err := MergePhase(full, []string{parts[0], write(other)}); !errors.Is(err, ErrConfig) {
		t.Errorf("merge of a run with another GD budget: %v", err)
	}
}

func TestGrid(t *testing.T) {
	c := DefaultSamples()
	for _, dk := range [][2]int{{10, 1}, {5, 3}, {40, 8}} {
		d, k := dk[0], dk[1]
		g := c.Grid(d, k)
		if len(g) == 0 || g[0] != d*k || float64(g[len(g)-1]) > c.MaxRatio*float64(d*k) || !slices.IsSorted(g) {
			t.Fatalf("grid(%d, %d) = %v", d, k, g)
		}
		for i := 1; i < len(g); i++ {
			if r := float64(g[i]) / float64(g[i-1]); g[i] == g[i-1] || r > math.Pow(2, 1/float64(c.PerOctave))+0.2 {
				t.Fatalf("grid(%d, %d) = %v: step %d -> %d", d, k, g, g[i-1], g[i])
			}
		}
	}
}

func TestFitRecoversExponents(t *testing.T) {
	r := &SamplesResult{}
	for _, d := range []int{10, 20, 40} {
		for _, k := range []int{1, 2, 4} {
			r.Rows = append(r.Rows, SamplesRow{D: d, K: k, NMin: 3 * d * k * k})
		}
	}
	r.Rows = append(r.Rows, SamplesRow{D: 80, K: 8}) // no n_min: left out
	f, ok := r.Fit()
	if !ok || f.Cells != 9 || math.Abs(f.Alpha-1) > 1e-9 || math.Abs(f.Beta-2) > 1e-9 || math.Abs(f.C-3) > 1e-9 {
		t.Fatalf("fit = %+v, %v; want C 3, alpha 1, beta 2 over 9 cells", f, ok)
	}
}

func TestValidate(t *testing.T) {
	bad := []error{
		func() error { c := DefaultPhase(); c.N = nil; return c.Validate() }(),
		func() error { c := DefaultPhase(); c.Methods = []coordinator.Method{"sgd"}; return c.Validate() }(),
		func() error { c := DefaultPhase(); c.Inits = []string{"random", "random"}; return c.Validate() }(),
		func() error { c := DefaultPhase(); c.Threshold = 0; return c.Validate() }(),
		func() error { c := DefaultCurve(); c.Test = 0; return c.Validate() }(),
		func() error { c := DefaultSamples(); c.Init = "identity"; return c.Validate() }(),
		func() error { c := DefaultSamples(); c.Rate = 1.5; return c.Validate() }(),
	}
	for i, err := range bad {
		if !errors.Is(err, ErrConfig) {
			t.Errorf("case %d: %v, want ErrConfig", i, err)
		}
	}
	for i, err := range []error{DefaultPhase().Validate(), QuickPhase().Validate(), DefaultCurve().Validate(),
		QuickCurve().Validate(), DefaultSamples().Validate(), QuickSamples().Validate()} {
		if err != nil {
			t.Errorf("preset %d: %v", i, err)
		}
	}
}
