package deep

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Write writes dir/deep.csv and dir/deep.md.
func (r *ExperimentResult) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("deep: output directory: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "deep.csv"), r.CSV(), 0o644); err != nil {
		return fmt.Errorf("deep: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "deep.md"), []byte(r.Markdown()), 0o644); err != nil {
		return fmt.Errorf("deep: %w", err)
	}
	return nil
}

// CSV returns one row per step of every run. Floats are exact (shortest
// round-tripping form).
func (r *ExperimentResult) CSV() []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"case", "dims", "n", "schedule", "init", "seed", "iter", "step", "layers",
		"train_loss", "train_relres", "test_relerr", "weight_err", "flips", "ridge", "cond", "change", "stop"})
	for _, run := range r.Runs {
		cs := r.Config.Cases[run.Case]
		for _, s := range run.Steps {
			layers := make([]string, len(s.Layers))
			for i, l := range s.Layers {
				layers[i] = strconv.Itoa(l)
			}
			w.Write([]string{strconv.Itoa(run.Case), dimsString(cs.Dims), strconv.Itoa(cs.N), string(run.Schedule),
				run.Init.String(), strconv.FormatUint(run.Seed, 10), strconv.Itoa(s.Iter), strconv.Itoa(s.Step),
				strings.Join(layers, " "), ftoa(s.Loss), ftoa(s.RelRes), ftoa(s.TestErr), ftoa(s.WeightErr),
				strconv.FormatInt(s.Flips, 10), ftoa(s.Ridge), ftoa(s.Cond), ftoa(s.Change), string(s.Stop)})
		}
	}
	w.Flush()
	return b.Bytes()
}

// group is the runs of one case, schedule and start.
type group struct {
	cs    int
	sched Schedule
	init  Init
	runs  []*Run
}

func (r *ExperimentResult) groups() []group {
	var gs []group
	for i := range r.Runs {
		run := &r.Runs[i]
		if n := len(gs); n > 0 && gs[n-1].cs == run.Case && gs[n-1].sched == run.Schedule && gs[n-1].init == run.Init {
			gs[n-1].runs = append(gs[n-1].runs, run)
			continue
		}
		gs = append(gs, group{cs: run.Case, sched: run.Schedule, init: run.Init, runs: []*Run{run}})
	}
	return gs
}

// Markdown renders the success rates, the per-iteration medians and the
// failures.
func (r *ExperimentResult) Markdown() string {
	cfg := r.Config
	var b strings.Builder
	fmt.Fprintf(&b, "# Deep alternating minimization on planted teachers\n\n")
	fmt.Fprintf(&b, "%d trials per row (teacher seeds %d..%d, start drawn from the same seed), %d held-out rows, "+
		"P = %d partitions, at most %d outer iterations, output signs %s. Success: relative prediction error "+
		"||f(X_test) - y_test|| / ||y_test|| <= %g at the end of the run. Weights: WeightErr (canonical form, "+
		"units matched) <= %g. Iterations and passes to success: first outer iteration / data pass (step) from "+
		"which the test error stays <= %g; medians over the successful trials. Passes: one per step; the "+
		"sequential schedule needs L steps per outer iteration, the others one.\n\n",
		cfg.Trials, cfg.Seed, cfg.Seed+uint64(cfg.Trials)-1, cfg.Test, cfg.Partitions, cfg.MaxIters, cfg.Signs,
		cfg.Threshold, cfg.Threshold, cfg.Threshold)
	b.WriteString("## Success rates\n\n")
	rows := [][]string{}
	for _, g := range r.groups() {
		cs := cfg.Cases[g.cs]
		var ok, wok int
		var iters, passes, finals []float64
		for _, run := range g.runs {
			f := run.Final()
			finals = append(finals, f.TestErr)
			if run.Success {
				ok++
				iters = append(iters, float64(run.SuccessIter))
				passes = append(passes, float64(run.SuccessPass))
			}
			if f.WeightErr <= cfg.Threshold {
				wok++
			}
		}
		rows = append(rows, []string{dimsString(cs.Dims), strconv.Itoa(cs.N), strconv.Itoa(unknowns(cs.Dims)),
			string(g.sched), g.init.String(), fmt.Sprintf("%d/%d", ok, len(g.runs)), fmt.Sprintf("%d/%d", wok, len(g.runs)),
			median0(iters), median0(passes), sci(median(finals)), sci(slices.Max(finals))})
	}
	b.WriteString(mdTable([]string{"dims", "n", "unknowns", "schedule", "start", "success", "weights",
		"iters", "passes", "median final test err", "worst final test err"}, rows))
	b.WriteString("\n## Loss against iteration\n\n")
	b.WriteString("Median over the trials of the training loss (1/2n)||f(X) - y||^2 and, in brackets, the held-out " +
		"relative error, evaluated at the start of each outer iteration. A run that stopped earlier (converged) " +
		"keeps its last value.\n")
	r.iterTables(&b)
	b.WriteString("\n## Failures\n\n")
	b.WriteString("Per case, schedule and start: the trials that did not reach the threshold, how they stopped, " +
		"their final held-out errors, and how many ended with a training residual >= 0.999, i.e. an output " +
		"of about 0 (the network collapsed to dead units).\n\n")
	var fails [][]string
	for _, g := range r.groups() {
		var seeds, errs []string
		var tes []float64
		stops := map[string]int{}
		dead := 0
		for _, run := range g.runs {
			if run.Success {
				continue
			}
			f := run.Final()
			seeds = append(seeds, strconv.FormatUint(run.Seed, 10))
			tes = append(tes, f.TestErr)
			stop := string(f.Stop)
			if run.Err != "" {
				stop = "solve error"
				errs = append(errs, run.Err)
			}
			stops[stop]++
			if f.RelRes >= 0.999 {
				dead++
			}
		}
		if len(seeds) == 0 {
			continue
		}
		var st []string
		for _, k := range slices.Sorted(maps.Keys(stops)) {
			st = append(st, fmt.Sprintf("%s %d", k, stops[k]))
		}
		cs := cfg.Cases[g.cs]
		fails = append(fails, []string{dimsString(cs.Dims), strconv.Itoa(cs.N), string(g.sched), g.init.String(),
			fmt.Sprintf("%d/%d", len(seeds), len(g.runs)), strings.Join(seeds, " "), strings.Join(st, ", "),
			sci(slices.Min(tes)) + " – " + sci(slices.Max(tes)), strconv.Itoa(dead)})
		for _, e := range errs {
			fmt.Fprintf(&b, "- %s n = %d %s start %s: %s\n", dimsString(cs.Dims), cs.N, g.sched, g.init, e)
		}
	}
	if len(fails) == 0 {
		b.WriteString("None.\n")
	} else {
		b.WriteString(mdTable([]string{"dims", "n", "schedule", "start", "failed", "seeds", "stops",
			"final test err", "collapsed"}, fails))
	}
	return b.String()
}

// iterTables writes one table per case and schedule: rows at selected
// outer iterations, two columns per start.
func (r *ExperimentResult) iterTables(b *strings.Builder) {
	cfg := r.Config
	gs := r.groups()
	for i := 0; i < len(gs); {
		j := i
		for j < len(gs) && gs[j].cs == gs[i].cs && gs[j].sched == gs[i].sched {
			j++
		}
		block := gs[i:j]
		cs := cfg.Cases[gs[i].cs]
		fmt.Fprintf(b, "\n### dims %s, n = %d, %s\n\n", dimsString(cs.Dims), cs.N, gs[i].sched)
		last := 0
		for _, g := range block {
			for _, run := range g.runs {
				last = max(last, run.Final().Iter)
			}
		}
		header := []string{"iter"}
		for _, g := range block {
			header = append(header, "start "+g.init.String())
		}
		var rows [][]string
		for _, t := range checkpoints(last) {
			row := []string{strconv.Itoa(t)}
			for _, g := range block {
				var loss, te []float64
				for _, run := range g.runs {
					s := atIter(run, t)
					loss, te = append(loss, s.Loss), append(te, s.TestErr)
				}
				row = append(row, fmt.Sprintf("%s (%s)", sci(median(loss)), sci(median(te))))
			}
			rows = append(rows, row)
		}
		b.WriteString(mdTable(header, rows))
		i = j
	}
}

// checkpoints returns 0..10, then 15, 20, 30, 40, 50, 60, 80, 100, 150,
// 200, ..., up to last, and last.
func checkpoints(last int) []int {
	var ts []int
	for t := 0; t <= min(10, last); t++ {
		ts = append(ts, t)
	}
	for _, t := range []int{15, 20, 30, 40, 50, 60, 80, 100, 150, 200, 300, 400, 500} {
		if t < last {
			ts = append(ts, t)
		}
	}
	if last > 10 {
		ts = append(ts, last)
	}
	return ts
}

// atIter returns the step evaluating the start of outer iteration t, or the
// last step when the run stopped before t.
func atIter(run *Run, t int) StepRecord {
	for _, s := range run.Steps {
		if s.Iter == t {
			return s
		}
	}
	return run.Final()
}

func unknowns(dims []int) int {
	m := 0
	for l := 1; l < len(dims); l++ {
		m += dims[l] * dims[l-1]
	}
	return m
}

func dimsString(dims []int) string {
	s := make([]string, len(dims))
	for i, v := range dims {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, "-")
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// median0 formats a median of counts, "–" for none.
func median0(v []float64) string {
	if len(v) == 0 {
		return "–"
	}
	return strconv.FormatFloat(median(v), 'f', -1, 64)
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func sci(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return strconv.FormatFloat(v, 'e', 1, 64)
}

func mdTable(header []string, rows [][]string) string {
	var b strings.Builder
	b.WriteString("| " + strings.Join(header, " | ") + " |\n")
	seps := make([]string, len(header))
	for i := range seps {
		seps[i] = "---"
	}
	b.WriteString("|" + strings.Join(seps, "|") + "|\n")
	for _, r := range rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	return b.String()
}
