package experiment

import (
	"fmt"
	"slices"
	"strings"

	"gonum.org/v1/plot/plotter"

	"altmin/coordinator"
)

// cell is a (method, start) pair: one curve of the phase transition.
type cell struct {
	method coordinator.Method
	init   string
}

func (c cell) String() string { return fmt.Sprintf("%s %s", strings.ToUpper(string(c.method)), c.init) }

func (r *PhaseResult) cells() []cell {
	var cs []cell
	for _, m := range r.Config.Methods {
		for _, i := range r.Config.Inits {
			cs = append(cs, cell{m, i})
		}
	}
	return cs
}

// row returns the index in Rows of a cell at sample size index j.
func (r *PhaseResult) row(ci, j int) int { return ci*len(r.Config.N) + j }

func (r *PhaseResult) markdown() string {
	c := r.Config
	var b strings.Builder
	fmt.Fprintf(&b, "# Phase transition: skip model, d = %d\n\n", c.D)
	step := "the papers' rule 2/(s_min^2 + s_max^2) of B/sqrt(n), recomputed every iteration"
	if c.Step > 0 {
		step = ftoa(c.Step)
	}
	fmt.Fprintf(&b, "Model y = relu(X (W + I)) 1, k = d = %d (%d unknowns), x ~ N(0, I), ||W*||_F = %s, noise-free. "+
		"%d trials per point; trial t uses data seed DataSeed(%d, t) and start seed InitSeed(%d, t) (in phase_trials.csv). "+
		"Budgets: AM %d iterations, GD %d iterations; GD step: %s. "+
		"Success: ||W_T - W*||_F / ||W* + I||_F < %s", c.D, c.D*c.D, ftoa(c.WNorm), c.Trials, c.Seed, c.Seed,
		c.AMIters, c.GDIters, step, ftoa(c.Threshold))
	if c.EarlyStop {
		b.WriteString(", where a trial ends at its first successful iterate (success within the budget)")
	}
	fmt.Fprintf(&b, ". Every trial also stops at an AM fixed point or when the relative weight change is below %s. %d partitions.\n\n",
		ftoa(c.Tol), c.Partitions)

	cs := r.cells()
	b.WriteString("## Success rate (successes / trials)\n\n")
	header := []string{"n"}
	for _, x := range cs {
		header = append(header, x.String())
	}
	header = append(header, "paper (ISIT 2019, Fig. 1a)")
	var rows [][]string
	for j, n := range c.N {
		row := []string{itoa(n)}
		for ci := range cs {
			p := r.Rows[r.row(ci, j)]
			row = append(row, fmt.Sprintf("%d/%d", p.Successes, p.Trials))
		}
		paper := "–"
		if v, ok := c.paperPhase(coordinator.AM, "identity", n); ok {
			o, _ := c.paperPhase(coordinator.GD, "identity", n)
			paper = fmt.Sprintf("AM identity %s; others %s", ftoa(v), ftoa(o))
		}
		rows = append(rows, append(row, paper))
	}
	b.WriteString(mdTable(header, rows))

	b.WriteString("\n## Iterations of the successful trials: median [min, max]\n\n")
	rows = rows[:0]
	for j, n := range c.N {
		row := []string{itoa(n)}
		for ci := range cs {
			var its []float64
			for _, t := range r.trialsOf(r.row(ci, j)) {
				if t.Success {
					its = append(its, float64(t.Final.Iter))
				}
			}
			row = append(row, spread(its, "%.0f"))
		}
		rows = append(rows, row)
	}
	b.WriteString(mdTable(header[:len(header)-1], rows))

	b.WriteString("\n## Relative error of the failed trials at their end: median [min, max]\n\n")
	rows = rows[:0]
	for j, n := range c.N {
		row := []string{itoa(n)}
		for ci := range cs {
			var es []float64
			for _, t := range r.trialsOf(r.row(ci, j)) {
				if !t.Success {
					es = append(es, t.Final.RelErr)
				}
			}
			row = append(row, spread(es, "%.2g"))
		}
		rows = append(rows, row)
	}
	b.WriteString(mdTable(header[:len(header)-1], rows))
	b.WriteString("\nStop reasons of every trial are in phase_trials.csv.\n")
	return b.String()
}

func (r *PhaseResult) trialsOf(row int) []TrialRecord {
	t := r.Config.Trials
	return r.Trials[row*t : (row+1)*t]
}

// spread formats the median, min and max of v, or "–" when empty.
func spread(v []float64, format string) string {
	if len(v) == 0 {
		return "–"
	}
	s := slices.Clone(v)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return fmt.Sprintf(format+" ["+format+", "+format+"]", med, s[0], s[len(s)-1])
}

func (r *PhaseResult) plot(dir string) error {
	c := r.Config
	var ss []series
	for ci, x := range r.cells() {
		xy := make(plotter.XYs, len(c.N))
		for j, n := range c.N {
			p := r.Rows[r.row(ci, j)]
			xy[j].X, xy[j].Y = float64(n), float64(p.Successes)/float64(p.Trials)
		}
		// The random starts are dashed: their curves often lie on the
		// identity's.
		ss = append(ss, series{name: x.String(), ci: ci, xy: xy, points: true, line: true, dashed: x.init != "identity"})
	}
	var amID, others plotter.XYs
	for _, n := range c.N {
		if v, ok := c.paperPhase(coordinator.AM, "identity", n); ok {
			amID = append(amID, plotter.XY{X: float64(n), Y: v})
			o, _ := c.paperPhase(coordinator.GD, "identity", n)
			others = append(others, plotter.XY{X: float64(n), Y: o})
		}
	}
	nc := len(ss)
	ss = append(ss, series{name: "paper: AM identity", ci: nc, xy: amID, points: true},
		series{name: "paper: the others", ci: nc + 1, xy: others, points: true})
	title := fmt.Sprintf("Skip model, d = %d: success rate over %d trials", c.D, c.Trials)
	ps := plotSpec{title: title, xlabel: "samples n", ylabel: "success rate",
		fixY: true, ymin: -0.05, ymax: 1.05, legendLeft: true}
	if len(c.N) <= 8 {
		for _, n := range c.N {
			ps.xTicks = append(ps.xTicks, float64(n))
		}
	}
	return savePNG(dir, "phase.png", ps, ss)
}
