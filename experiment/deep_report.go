package experiment

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"altmin/coordinator"
)

// Write writes into dir: deep.csv (one row per step of every run, exact
// floats), deep.md (the tables of docs/DEEP.md: success rates,
// per-iteration medians and failures), deep_summary.csv (dims,n,schedule,
// init,trials,successes,weights_ok,median_iters,median_passes: one row per
// case, schedule and start) and deep.png (median held-out relative error
// against outer iteration, one panel per case and schedule, one curve per
// start).
func (r *DeepResult) Write(dir string) error {
	if err := writeCSV(dir, "deep.csv", []string{"case", "dims", "n", "schedule", "init", "seed", "iter", "step", "layers",
		"train_loss", "train_relres", "test_relerr", "weight_err", "flips", "ridge", "cond", "change", "stop"}, r.stepRows()); err != nil {
		return err
	}
	if err := writeFile(dir, "deep.md", []byte(r.markdown())); err != nil {
		return err
	}
	if err := writeCSV(dir, "deep_summary.csv", []string{"dims", "n", "schedule", "init", "trials", "successes",
		"weights_ok", "median_iters", "median_passes"}, r.summaryRows()); err != nil {
		return err
	}
	return r.plot(dir)
}

// stepRows returns the rows of deep.csv.
func (r *DeepResult) stepRows() [][]string {
	var rows [][]string
	for _, run := range r.Runs {
		cs := r.Config.Cases[run.Case]
		for _, s := range run.Steps {
			layers := make([]string, len(s.Layers))
			for i, l := range s.Layers {
				layers[i] = itoa(l)
			}
			rows = append(rows, []string{itoa(run.Case), dimsString(cs.Dims), itoa(cs.N), string(run.Schedule),
				run.Init.String(), utoa(run.Seed), itoa(s.Iter), itoa(s.Step),
				strings.Join(layers, " "), ftoa(s.Loss), ftoa(s.RelRes), ftoa(s.TestErr), ftoa(s.WeightErr),
				strconv.FormatInt(s.Flips, 10), ftoa(s.Ridge), ftoa(s.Cond), ftoa(s.Change), string(s.Stop)})
		}
	}
	return rows
}

// summaryRows returns the rows of deep_summary.csv.
func (r *DeepResult) summaryRows() [][]string {
	var rows [][]string
	for _, g := range r.groups() {
		cs := r.Config.Cases[g.cs]
		var ok, wok int
		var iters, passes []float64
		for _, run := range g.runs {
			if run.Success {
				ok++
				iters, passes = append(iters, float64(run.SuccessIter)), append(passes, float64(run.SuccessPass))
			}
			if run.Final().WeightErr <= r.Config.Threshold {
				wok++
			}
		}
		rows = append(rows, []string{dimsString(cs.Dims), itoa(cs.N), string(g.sched), g.init.String(), itoa(len(g.runs)),
			itoa(ok), itoa(wok), medianOr(iters, "NA", ftoa), medianOr(passes, "NA", ftoa)})
	}
	return rows
}

// deepGroup is the runs of one case, schedule and start, in run order.
type deepGroup struct {
	cs    int
	sched coordinator.Schedule
	init  DeepInit
	runs  []*DeepRun
}

func (r *DeepResult) groups() []deepGroup {
	var gs []deepGroup
	for i := range r.Runs {
		run := &r.Runs[i]
		if n := len(gs); n > 0 && gs[n-1].cs == run.Case && gs[n-1].sched == run.Schedule && gs[n-1].init == run.Init {
			gs[n-1].runs = append(gs[n-1].runs, run)
			continue
		}
		gs = append(gs, deepGroup{cs: run.Case, sched: run.Schedule, init: run.Init, runs: []*DeepRun{run}})
	}
	return gs
}

// panels splits the groups into blocks of one case and schedule.
func (r *DeepResult) panels() [][]deepGroup {
	gs := r.groups()
	var ps [][]deepGroup
	for i := 0; i < len(gs); {
		j := i
		for j < len(gs) && gs[j].cs == gs[i].cs && gs[j].sched == gs[i].sched {
			j++
		}
		ps = append(ps, gs[i:j])
		i = j
	}
	return ps
}

// lastIter returns the largest final outer iteration of the runs of a
// panel.
func lastIter(block []deepGroup) int {
	last := 0
	for _, g := range block {
		for _, run := range g.runs {
			last = max(last, run.Final().Iter)
		}
	}
	return last
}

// markdown renders the success rates, the per-iteration medians and the
// failures.
func (r *DeepResult) markdown() string {
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
		rows = append(rows, []string{dimsString(cs.Dims), itoa(cs.N), itoa(unknowns(cs.Dims)),
			string(g.sched), g.init.String(), fmt.Sprintf("%d/%d", ok, len(g.runs)), fmt.Sprintf("%d/%d", wok, len(g.runs)),
			medianOr(iters, "–", count), medianOr(passes, "–", count), sciN(median(finals), 1), sciN(slices.Max(finals), 1)})
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
			seeds = append(seeds, utoa(run.Seed))
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
		fails = append(fails, []string{dimsString(cs.Dims), itoa(cs.N), string(g.sched), g.init.String(),
			fmt.Sprintf("%d/%d", len(seeds), len(g.runs)), strings.Join(seeds, " "), strings.Join(st, ", "),
			sciN(slices.Min(tes), 1) + " – " + sciN(slices.Max(tes), 1), itoa(dead)})
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
func (r *DeepResult) iterTables(b *strings.Builder) {
	for _, block := range r.panels() {
		cs := r.Config.Cases[block[0].cs]
		fmt.Fprintf(b, "\n### dims %s, n = %d, %s\n\n", dimsString(cs.Dims), cs.N, block[0].sched)
		header := []string{"iter"}
		for _, g := range block {
			header = append(header, "start "+g.init.String())
		}
		var rows [][]string
		for _, t := range checkpoints(lastIter(block)) {
			row := []string{itoa(t)}
			for _, g := range block {
				var loss, te []float64
				for _, run := range g.runs {
					s := atIter(run, t)
					loss, te = append(loss, s.Loss), append(te, s.TestErr)
				}
				row = append(row, fmt.Sprintf("%s (%s)", sciN(median(loss), 1), sciN(median(te), 1)))
			}
			rows = append(rows, row)
		}
		b.WriteString(mdTable(header, rows))
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
func atIter(run *DeepRun, t int) DeepStep {
	for _, s := range run.Steps {
		if s.Iter == t {
			return s
		}
	}
	return run.Final()
}

// unknowns returns the number of weights of a network of widths dims.
func unknowns(dims []int) int {
	m := 0
	for l := 1; l < len(dims); l++ {
		m += dims[l] * dims[l-1]
	}
	return m
}

// dimsString renders widths as "d-k1-...-kL".
func dimsString(dims []int) string {
	s := make([]string, len(dims))
	for i, v := range dims {
		s[i] = itoa(v)
	}
	return strings.Join(s, "-")
}

// count formats a (median) count of iterations or passes.
func count(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// deepFloor is the log10 plotted for a held-out error of 0 (or below it).
const deepFloor = -17

func deepLog(v float64) float64 {
	if !(v > 0) {
		return deepFloor
	}
	return math.Max(math.Log10(v), deepFloor)
}

// plot draws deep.png: one panel per case and schedule, one curve per
// start.
func (r *DeepResult) plot(dir string) error {
	panels := r.panels()
	plots := make([]*plot.Plot, len(panels))
	for pi, block := range panels {
		cs := r.Config.Cases[block[0].cs]
		last := lastIter(block)
		var ss []series
		for gi, g := range block {
			xy := make(plotter.XYs, last+1)
			for t := 0; t <= last; t++ {
				v := make([]float64, len(g.runs))
				for k, run := range g.runs {
					v[k] = atIter(run, t).TestErr
				}
				xy[t] = plotter.XY{X: float64(t), Y: deepLog(median(v))}
			}
			ss = append(ss, series{name: "start " + g.init.String(), ci: gi, xy: xy, line: true, points: last <= 40})
		}
		title := fmt.Sprintf("%s, n = %d, %s", dimsString(cs.Dims), cs.N, block[0].sched)
		p, err := newPlot(plotSpec{title: title, xlabel: "outer iteration", ylabel: "log10 median test rel. error",
			legendBottom: true, fixY: true, ymin: deepFloor, ymax: 2, yTickStep: 4}, ss)
		if err != nil {
			return fmt.Errorf("experiment: deep.png: %w", err)
		}
		plots[pi] = p
	}
	return writeTiles(dir, "deep.png", min(len(panels), 3), 4.2*vg.Inch, 3*vg.Inch, plots)
}
