package experiment

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"altmin/job"
)

// The layout of a convergence plot: 2 x 2 panels of 5 x 3 inches, a PNG
// of 960 x 576 pixels at vgimg.DefaultDPI (96).
const (
	convergenceCols   = 2
	convergencePanelW = 5 * vg.Inch
	convergencePanelH = 3 * vg.Inch
)

// PlotConvergence draws the convergence of a training run from its
// metrics.jsonl lines (job.ReadMetrics) into the PNG file path (960 x 576
// pixels), in four panels against the iteration, the first titled title:
//
//   - loss: the training loss, the validation loss (when the run held
//     rows out) and the iterations the damping rejected, log scale;
//   - R²: training and validation R², linear scale from the smallest R²
//     (0 when that is higher, -1 when lower: lines below are clipped) to 1;
//   - seconds: the wall time of each iteration and its two phases (the
//     partitions' statistics, the coordinator's solve);
//   - residual: the relative training residual ||f(X) - y|| / ||y|| and,
//     with a known teacher, the relative error of the weights, log scale.
//
// A value of 0 (or below) is left out of a log-scale panel; a panel with
// no positive value is drawn on a linear scale.
func PlotConvergence(path, title string, ms []job.Metric) error {
	if len(ms) == 0 {
		return fmt.Errorf("experiment: %s: no iterations to plot", path)
	}
	var loss, val, rejected, r2, valR2, secs, stats, solve, relRes, relErr plotter.XYs
	for _, m := range ms {
		x := float64(m.Iter)
		loss = append(loss, plotter.XY{X: x, Y: m.Loss})
		if !m.Accepted {
			rejected = append(rejected, plotter.XY{X: x, Y: m.Loss})
		}
		if m.ValLoss != nil {
			val = append(val, plotter.XY{X: x, Y: *m.ValLoss})
		}
		if m.R2 != nil {
			r2 = append(r2, plotter.XY{X: x, Y: *m.R2})
		}
		if m.ValR2 != nil {
			valR2 = append(valR2, plotter.XY{X: x, Y: *m.ValR2})
		}
		secs = append(secs, plotter.XY{X: x, Y: m.Seconds})
		stats = append(stats, plotter.XY{X: x, Y: m.StatsSeconds})
		solve = append(solve, plotter.XY{X: x, Y: m.SolveSeconds})
		relRes = append(relRes, plotter.XY{X: x, Y: m.RelRes})
		if m.RelErr != nil {
			relErr = append(relErr, plotter.XY{X: x, Y: *m.RelErr})
		}
	}
	points := len(ms) <= 60
	lossSpec, lossSeries := logPanel(plotSpec{title: title, xlabel: "iteration", ylabel: "loss (1/2n ||f(X) - y||^2)", legendLeft: true, legendBottom: true}, []series{
		{name: "training", ci: 0, xy: loss, line: true, points: points},
		{name: "validation", ci: 1, xy: val, line: true, dashed: true},
		{name: "rejected (damping)", ci: 2, xy: rejected, points: true},
	})
	resSpec, resSeries := logPanel(plotSpec{title: "relative residual and error", xlabel: "iteration", ylabel: "relative", legendLeft: true, legendBottom: true}, []series{
		{name: "||f(X) - y|| / ||y||", ci: 0, xy: relRes, line: true, points: points},
		{name: "weights vs teacher", ci: 1, xy: relErr, line: true, dashed: true},
	})
	r2Min := r2Floor(r2, valR2)
	panels := []struct {
		spec plotSpec
		ss   []series
		clip bool // the y range is spec's, not extended to the data
	}{
		{lossSpec, lossSeries, false},
		{plotSpec{title: "R²", xlabel: "iteration", ylabel: "R²", legendBottom: true, fixY: true, ymin: r2Min, ymax: 1}, []series{
			{name: "training", ci: 0, xy: r2, line: true, points: points},
			{name: "validation", ci: 1, xy: valR2, line: true, dashed: true},
		}, true},
		{timePanel(plotSpec{title: "time per iteration", xlabel: "iteration", ylabel: "seconds"}, secs), []series{
			{name: "iteration", ci: 0, xy: secs, line: true, points: points},
			{name: "statistics", ci: 1, xy: stats, line: true, dashed: true},
			{name: "solve", ci: 2, xy: solve, line: true, dashed: true},
		}, false},
		{resSpec, resSeries, false},
	}
	plots := make([]*plot.Plot, len(panels))
	for i, pn := range panels {
		p, err := newPlot(pn.spec, pn.ss)
		if err != nil {
			return fmt.Errorf("experiment: %s: %w", path, err)
		}
		if pn.clip {
			p.Y.Min, p.Y.Max = pn.spec.ymin, pn.spec.ymax
		}
		if pn.spec.logY {
			p.Y.Tick.Marker = decadeTicks{}
		}
		plots[i] = p
	}
	return writeTiles(filepath.Dir(path), filepath.Base(path), convergenceCols, convergencePanelW, convergencePanelH, plots)
}

// logPanel returns ps on a log y scale over the positive values of the
// series, which it keeps; it leaves out the other values, and returns ps
// on a linear scale when no value is positive.
func logPanel(ps plotSpec, ss []series) (plotSpec, []series) {
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range ss {
		var pos plotter.XYs
		for _, p := range ss[i].xy {
			if p.Y > 0 && !math.IsInf(p.Y, 0) {
				pos = append(pos, p)
				lo, hi = math.Min(lo, p.Y), math.Max(hi, p.Y)
			}
		}
		ss[i].xy = pos
	}
	if math.IsInf(lo, 1) {
		return ps, ss
	}
	ps.logY = true
	if lo == hi {
		// The axis would pad an empty range to one that includes 0,
		// which a log scale cannot draw.
		ps.fixY, ps.ymin, ps.ymax = true, lo/2, hi*2
	}
	return ps, ss
}

// r2Floor returns the lower end of the R² axis: the smallest R², or 0
// when that is higher, or -1 when that is lower (the first iterations of
// a run may have an R² far below 0, which would hide the rest).
func r2Floor(xys ...plotter.XYs) float64 {
	lo := 0.0
	for _, xy := range xys {
		for _, p := range xy {
			lo = math.Min(lo, p.Y)
		}
	}
	return math.Max(lo, -1)
}

// timePanel returns ps with the y range from 0 to a little above the
// largest time.
func timePanel(ps plotSpec, secs plotter.XYs) plotSpec {
	hi := 0.0
	for _, p := range secs {
		hi = math.Max(hi, p.Y)
	}
	if !(hi > 0) || math.IsInf(hi, 0) {
		hi = 1
	}
	ps.fixY, ps.ymin, ps.ymax = true, 0, hi*1.05
	return ps
}

// decadeTicks marks a log axis at powers of ten, labelled as 1e-30, at
// most about six of them (a tick at every decade between), and at 2 and 5
// times them on an axis of less than two decades.
type decadeTicks struct{}

func (decadeTicks) Ticks(lo, hi float64) []plot.Tick {
	a, b := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	step := math.Max(1, math.Ceil((b-a)/6))
	var ts []plot.Tick
	for e := a; e <= b; e++ {
		v := math.Pow10(int(e))
		if v >= lo && v <= hi {
			t := plot.Tick{Value: v}
			if math.Mod(e, step) == 0 {
				t.Label = decade(int(e))
			}
			ts = append(ts, t)
		}
		if b-a > 2 {
			continue
		}
		for _, m := range []float64{2, 5} {
			if w := m * v; w >= lo && w <= hi {
				ts = append(ts, plot.Tick{Value: w, Label: strconv.FormatFloat(w, 'g', -1, 64)})
			}
		}
	}
	return ts
}

// decade labels 10^e: as a decimal from 0.001 to 1000, else as 1e-30.
func decade(e int) string {
	if e >= -3 && e <= 3 {
		return strconv.FormatFloat(math.Pow10(e), 'f', -1, 64)
	}
	return "1e" + strconv.Itoa(e)
}
