package tensorinit_test

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"altmin/model"
	"altmin/tensorinit"
)

var (
	long   = flag.Bool("long", false, "run the success-rate measurements (tens of seconds each)")
	longN  = flag.Int("n", 20000, "samples for TestSuccessRates")
	trials = flag.Int("trials", 20, "trials per row of the measurements")
)

const (
	amIters   = 50   // solves allowed
	amSuccess = 1e-8 // relative error counted as success
)

// tensorStart is the start of --init tensor with --seed seed: Run with
// the default configuration but that seed.
func tensorStart(t testing.TB, pl *planted, seed uint64) *tensorinit.Result {
	t.Helper()
	cfg := tensorinit.DefaultConfig()
	cfg.Seed = seed
	res, err := tensorinit.Run(context.Background(), pl.eng, pl.spec, pl.P, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// randomStart is the start of --init random with --seed seed: learned
// weights i.i.d. N(0, 1/d^2), drawn as job draws them.
func randomStart(spec model.Spec, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 0x616c746d696e)) // "altmin"
	w := make([]float64, spec.M())
	for i := range w {
		w[i] = rng.NormFloat64() / float64(spec.D)
	}
	return w
}

// median returns the median of v (sorted in place); the upper one for an
// even length.
func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}

// TestSuccessRates measures how often alternating minimization (at most 50
// solves, the coordinator's defaults, 8 partitions) reaches a relative
// error <= 1e-8 from --init tensor and from --init random, on planted data
// d = 20, k in {3, 4, 5}, signs ones and alternate, -trials trials each with
// data seed = init seed = trial, n = -n samples. Both starts are those of
// the command line (job.Prepare): the tensor start with Config.Seed the
// init seed (tensorStart), the random one drawn as job draws it
// (randomStart). It also runs the tensor
// start without Config.FourthSpan, and with the fourth-moment span forced
// on every trial (MinGap 1e9). Run with
//
//	go test ./tensorinit -run SuccessRates -v -args -long [-n 20000] [-trials 20]
func TestSuccessRates(t *testing.T) {
	if !*long {
		t.Skip("pass -args -long to measure success rates")
	}
	const d, P = 20, 8
	n := *longN
	var table strings.Builder
	fmt.Fprintf(&table, "| signs | k | tensor: success | tensor: start rel err median, max | tensor: median solves | flagged degenerate | random: success | random: start rel err median | random: median solves | FourthSpan off: success | FourthSpan forced: success | forced: start rel err median, max |\n")
	fmt.Fprintf(&table, "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, signs := range []string{"ones", "alternate"} {
		for _, k := range []int{3, 4, 5} {
			var okT, okR, okS, okF, degenerate int
			var errT, errR, errF, solT, solR []float64
			for trial := 1; trial <= *trials; trial++ {
				synth := fmt.Sprintf("model=sum,d=%d,k=%d,n=%d,seed=%d,signs=%s", d, k, n, trial, signs)
				pl := loadPlanted(t, synth, P)
				for _, init := range []string{"tensor", "random"} {
					var w0 []float64
					desc := init
					if init == "tensor" {
						res := tensorStart(t, pl, uint64(trial))
						w0 = res.W
						if res.Degenerate || res.Fallback {
							desc += " (degenerate)"
						}
					} else {
						w0 = randomStart(pl.spec, uint64(trial))
					}
					e0 := pl.spec.RelErr(w0, pl.wstar)
					e, it := pl.am(t, w0, amIters)
					t.Logf("%s init %-6s: start rel err %.3f, after %2d solves %.2e  %s", synth, init, e0, it, e, desc)
					if init == "tensor" {
						errT, solT = append(errT, e0), append(solT, float64(it))
						if e <= amSuccess {
							okT++
						}
						if strings.Contains(desc, "degenerate") {
							degenerate++
						}
					} else {
						errR, solR = append(errR, e0), append(solR, float64(it))
						if e <= amSuccess {
							okR++
						}
					}
				}
				// FourthSpan off, and forced on every trial.
				for _, minGap := range []float64{tensorinit.DefaultConfig().MinGap, 1e9} {
					cfg := tensorinit.DefaultConfig()
					cfg.Seed, cfg.FourthSpan, cfg.MinGap = uint64(trial), minGap == 1e9, minGap
					res, err := tensorinit.Run(context.Background(), pl.eng, pl.spec, P, cfg, nil)
					if err != nil {
						t.Fatalf("%s FourthSpan: %v", synth, err)
					}
					e, _ := pl.am(t, res.W, amIters)
					switch {
					case minGap < 1e9 && e <= amSuccess:
						okS++
					case minGap == 1e9:
						errF = append(errF, pl.spec.RelErr(res.W, pl.wstar))
						if e <= amSuccess {
							okF++
						}
					}
				}
			}
			tr := *trials
			fmt.Fprintf(&table, "| %s | %d | %d/%d | %.3f, %.3f | %.0f | %d | %d/%d | %.3f | %.0f | %d/%d | %d/%d | %.3f, %.3f |\n",
				signs, k, okT, tr, median(errT), errT[len(errT)-1], median(solT), degenerate,
				okR, tr, median(errR), median(solR), okS, tr, okF, tr, median(errF), errF[len(errF)-1])
		}
	}
	t.Logf("d = %d, n = %d, %d partitions, success = rel err <= %g within %d solves\n%s", d, n, P, amSuccess, amIters, table.String())
}

// TestDegenerateRates measures the tensor start on teachers whose second
// moment is nearly degenerate: d = 10, k = 3, signs (+1, -1, +1), w_1 = e_1,
// w_2 = cos(theta) e_1 + sin(theta) e_2 (nearly cancelling w_1), w_3 = e_3,
// n = 20000, -trials data seeds per theta; without Config.FourthSpan
// (second-moment span) against with it (the default). Run with
//
//	go test ./tensorinit -run DegenerateRates -v -args -long
func TestDegenerateRates(t *testing.T) {
	if !*long {
		t.Skip("pass -args -long to measure")
	}
	const d, n, P = 10, 20000, 4
	var table strings.Builder
	fmt.Fprintf(&table, "| theta | flagged degenerate | FourthSpan off: success | off: start rel err median | FourthSpan on (default): success | on: start rel err median |\n")
	fmt.Fprintf(&table, "|---|---|---|---|---|---|\n")
	for _, theta := range []float64{0.02, 0.05, 0.1} {
		spec := model.Spec{Kind: model.Sum, D: d, K: 3, Signs: []float64{1, -1, 1}}
		w := make([]float64, 3*d)
		w[0] = 1
		w[d], w[d+1] = math.Cos(theta), math.Sin(theta)
		w[2*d+2] = 1
		var ok [2]int
		var errs [2][]float64
		degenerate := 0
		for seed := 1; seed <= *trials; seed++ {
			pl := load(t, teacherSource{spec: spec, w: w, n: n, seed: uint64(seed)}, spec, w, P)
			for i, fourth := range []bool{false, true} {
				cfg := tensorinit.DefaultConfig()
				cfg.Seed, cfg.FourthSpan = uint64(seed), fourth
				res, err := tensorinit.Run(context.Background(), pl.eng, spec, P, cfg, nil)
				if err != nil {
					t.Fatalf("theta %v seed %d: %v", theta, seed, err)
				}
				if i == 0 && res.Degenerate {
					degenerate++
				}
				errs[i] = append(errs[i], spec.RelErr(res.W, w))
				if e, _ := pl.am(t, res.W, amIters); e <= amSuccess {
					ok[i]++
				}
			}
		}
		fmt.Fprintf(&table, "| %.2f | %d/%d | %d/%d | %.3f | %d/%d | %.3f |\n", theta, degenerate, *trials,
			ok[0], *trials, median(errs[0]), ok[1], *trials, median(errs[1]))
	}
	t.Logf("success = rel err <= %g within %d solves\n%s", amSuccess, amIters, table.String())
}
