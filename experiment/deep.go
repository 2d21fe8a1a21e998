package experiment

import (
	"context"
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"altmin/deep"
)

// DeepResult is the result of the deeper-network experiment
// (deep.RunExperiment): planted L-hidden-layer teachers trained by
// alternating minimization from perturbed and random starts, in process over
// partitions (docs/DEEP.md).
type DeepResult struct {
	*deep.ExperimentResult
}

// RunDeep runs the experiment, writing one progress line per run to
// progress (which may be nil). cfg.Log, when set, is replaced by a logger
// on progress.
func RunDeep(ctx context.Context, cfg deep.ExperimentConfig, progress io.Writer) (*DeepResult, error) {
	cfg.Log = zap.NewNop()
	if progress != nil {
		enc := zapcore.NewConsoleEncoder(zapcore.EncoderConfig{MessageKey: "msg", ConsoleSeparator: " "})
		cfg.Log = zap.New(zapcore.NewCore(enc, zapcore.AddSync(&syncWriter{w: progress}), zap.InfoLevel))
	}
	res, err := deep.RunExperiment(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &DeepResult{res}, nil
}

// deepGroup is the runs of one case, schedule and start, in run order.
type deepGroup struct {
	cs    int
	sched deep.Schedule
	init  deep.Init
	runs  []*deep.Run
}

func (r *DeepResult) groups() []deepGroup {
	var gs []deepGroup
	for i := range r.Runs {
		run := &r.Runs[i]
		if n := len(gs); n > 0 && gs[n-1].cs == run.Case && gs[n-1].sched == run.Schedule && gs[n-1].init == run.Init {
			gs[n-1].runs = append(gs[n-1].runs, run)
			continue
		}
		gs = append(gs, deepGroup{cs: run.Case, sched: run.Schedule, init: run.Init, runs: []*deep.Run{run}})
	}
	return gs
}

func dims(d []int) string {
	s := make([]string, len(d))
	for i, v := range d {
		s[i] = itoa(v)
	}
	return strings.Join(s, "-")
}

// Write writes deep.csv (one row per step of every run) and deep.md (the
// tables of docs/DEEP.md) through the deep package, deep_summary.csv
// (dims,n,schedule,init,trials,successes,weights_ok,median_iters,
// median_passes: one row per case, schedule and start) and deep.png (median
// held-out relative error against outer iteration, one panel per case and
// schedule, one curve per start) into dir.
func (r *DeepResult) Write(dir string) error {
	if err := r.ExperimentResult.Write(dir); err != nil {
		return err
	}
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
		rows = append(rows, []string{dims(cs.Dims), itoa(cs.N), string(g.sched), g.init.String(), itoa(len(g.runs)),
			itoa(ok), itoa(wok), medianOrNA(iters), medianOrNA(passes)})
	}
	if err := writeCSV(dir, "deep_summary.csv", []string{"dims", "n", "schedule", "init", "trials", "successes",
		"weights_ok", "median_iters", "median_passes"}, rows); err != nil {
		return err
	}
	return r.plot(dir)
}

func medianOrNA(v []float64) string {
	if len(v) == 0 {
		return "NA"
	}
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return ftoa(s[n/2])
	}
	return ftoa((s[n/2-1] + s[n/2]) / 2)
}

// deepFloor is the log10 plotted for a held-out error of 0 (or below it).
const deepFloor = -17

// atIter returns the held-out error at the start of outer iteration t, or
// the run's last one when it stopped before t.
func atIter(run *deep.Run, t int) float64 {
	for _, s := range run.Steps {
		if s.Iter == t {
			return s.TestErr
		}
	}
	return run.Final().TestErr
}

func (r *DeepResult) plot(dir string) error {
	gs := r.groups()
	// Panels: consecutive groups of one case and schedule.
	var panels [][]deepGroup
	for i := 0; i < len(gs); {
		j := i
		for j < len(gs) && gs[j].cs == gs[i].cs && gs[j].sched == gs[i].sched {
			j++
		}
		panels = append(panels, gs[i:j])
		i = j
	}
	cols := min(len(panels), 3)
	rowsN := (len(panels) + cols - 1) / cols
	const pw, ph = 4.2 * vg.Inch, 3 * vg.Inch
	img := vgimg.New(vg.Length(cols)*pw, vg.Length(rowsN)*ph)
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	tiles := draw.Tiles{Rows: rowsN, Cols: cols, PadX: vg.Millimeter, PadY: vg.Millimeter,
		PadTop: vg.Millimeter, PadBottom: vg.Millimeter, PadLeft: vg.Millimeter, PadRight: vg.Millimeter}
	for pi, block := range panels {
		cs := r.Config.Cases[block[0].cs]
		last := 0
		for _, g := range block {
			for _, run := range g.runs {
				last = max(last, run.Final().Iter)
			}
		}
		var ss []series
		for gi, g := range block {
			xy := make(plotter.XYs, last+1)
			for t := 0; t <= last; t++ {
				v := make([]float64, len(g.runs))
				for k, run := range g.runs {
					v[k] = atIter(run, t)
				}
				slices.Sort(v)
				med := v[len(v)/2]
				if len(v)%2 == 0 {
					med = (v[len(v)/2-1] + v[len(v)/2]) / 2
				}
				xy[t] = plotter.XY{X: float64(t), Y: deepLog(med)}
			}
			ss = append(ss, series{name: "start " + g.init.String(), ci: gi, xy: xy, line: true, points: last <= 40})
		}
		title := fmt.Sprintf("%s, n = %d, %s", dims(cs.Dims), cs.N, block[0].sched)
		p, err := newPlot(plotSpec{title: title, xlabel: "outer iteration", ylabel: "log10 median test rel. error",
			legendBottom: true, fixY: true, ymin: deepFloor, ymax: 2, yTickStep: 4}, ss)
		if err != nil {
			return fmt.Errorf("experiment: deep.png: %w", err)
		}
		p.Draw(tiles.At(dc, pi%cols, pi/cols))
	}
	return writePNG(dir, "deep.png", img)
}

func deepLog(v float64) float64 {
	if !(v > 0) {
		return deepFloor
	}
	return math.Max(math.Log10(v), deepFloor)
}
