package experiment

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/plot/plotter"
)

// Fit is the least-squares fit log n_min = log C + Alpha log d + Beta log k
// over the cells that reached the rate. Alpha (Beta) is NaN when the grid
// has a single d (k).
type Fit struct {
	C, Alpha, Beta float64
	Cells          int
}

// Fit fits the power law to the rows with an n_min.
func (r *SamplesResult) Fit() (Fit, bool) {
	var ds, ks, ns []float64
	for _, row := range r.Rows {
		if row.NMin > 0 {
			ds, ks, ns = append(ds, float64(row.D)), append(ks, float64(row.K)), append(ns, float64(row.NMin))
		}
	}
	f := Fit{Alpha: math.NaN(), Beta: math.NaN(), Cells: len(ns)}
	useD, useK := distinct(ds) > 1, distinct(ks) > 1
	cols := 1
	if useD {
		cols++
	}
	if useK {
		cols++
	}
	if len(ns) < cols+1 {
		return f, false
	}
	a := mat.NewDense(len(ns), cols, nil)
	b := mat.NewVecDense(len(ns), nil)
	for i := range ns {
		c := 0
		a.Set(i, c, 1)
		if useD {
			c++
			a.Set(i, c, math.Log(ds[i]))
		}
		if useK {
			c++
			a.Set(i, c, math.Log(ks[i]))
		}
		b.SetVec(i, math.Log(ns[i]))
	}
	var x mat.VecDense
	if err := x.SolveVec(a, b); err != nil {
		return f, false
	}
	f.C = math.Exp(x.AtVec(0))
	c := 0
	if useD {
		c++
		f.Alpha = x.AtVec(c)
	}
	if useK {
		c++
		f.Beta = x.AtVec(c)
	}
	return f, true
}

func distinct(v []float64) int {
	s := slices.Clone(v)
	slices.Sort(s)
	return len(slices.Compact(s))
}

// Write writes samples.csv (d,k,n_min,trials; n_min is NA when the grid
// ended first), samples_points.csv (every point tried), samples_trials.csv
// (every trial with its seeds), samples.md and samples.png into dir.
func (r *SamplesResult) Write(dir string) error {
	var rows, pts [][]string
	for _, row := range r.Rows {
		nmin := "NA"
		if row.NMin > 0 {
			nmin = itoa(row.NMin)
		}
		rows = append(rows, []string{itoa(row.D), itoa(row.K), nmin, itoa(row.Trials)})
		for _, p := range row.Points {
			pts = append(pts, []string{itoa(p.D), itoa(p.K), itoa(p.N), itoa(p.Trials), itoa(p.Successes)})
		}
	}
	if err := writeCSV(dir, "samples.csv", []string{"d", "k", "n_min", "trials"}, rows); err != nil {
		return err
	}
	if err := writeCSV(dir, "samples_points.csv", []string{"d", "k", "n", "trials", "successes"}, pts); err != nil {
		return err
	}
	var trs [][]string
	for _, t := range r.Trials {
		trs = append(trs, []string{itoa(t.D), itoa(t.K), itoa(t.N), itoa(t.Trial), utoa(t.DataSeed), utoa(t.InitSeed),
			itoa(t.Final.Iter), t.Stop, ftoa(t.Final.RelErr), ftoa(t.Final.TrainLoss), fmt.Sprint(t.Success)})
	}
	if err := writeCSV(dir, "samples_trials.csv", []string{"d", "k", "n", "trial", "data_seed", "init_seed",
		"iters", "stop", "rel_err", "train_loss", "success"}, trs); err != nil {
		return err
	}
	if err := writeFile(dir, "samples.md", []byte(r.markdown())); err != nil {
		return err
	}
	return r.plot(dir)
}

func (r *SamplesResult) markdown() string {
	c := r.Config
	var b strings.Builder
	b.WriteString("# Sample complexity: 1-hidden-layer model\n\n")
	fmt.Fprintf(&b, "Model y = sum_q v_q relu(w_q . x), signs %s (fixed, known), x ~ N(0, I_d), teacher entries N(0, 1/d), noise-free. "+
		"AM from the start %s, at most %d iterations. Success: relative error up to a sign-preserving permutation of the neurons, "+
		"min_P ||W_T - P W*||_F / ||W*||_F <= %s. For each (d, k), n runs over the grid n = ceil(d k 2^(j/%d)), j = 0, 1, ..., "+
		"from d k (as many samples as unknowns) up to %s d k; n_min is the first n with at least %s of %d trials successful. "+
		"Trial t uses data seed DataSeed(%d, t) and start seed InitSeed(%d, t) at every n (the data sets are nested in n). %d partitions.\n\n",
		c.Signs, c.Init, c.Iters, ftoa(c.Threshold), c.PerOctave, ftoa(c.MaxRatio), ftoa(c.Rate), c.Trials, c.Seed, c.Seed, c.Partitions)
	header := []string{"d", "k", "unknowns d k", "d k^2", "n_min", "n_min / (d k)", "n_min / (d k^2)", "successes at n_min", "median iterations at n_min"}
	var rows [][]string
	for _, row := range r.Rows {
		dk, dk2 := row.D*row.K, row.D*row.K*row.K
		out := []string{itoa(row.D), itoa(row.K), itoa(dk), itoa(dk2)}
		if row.NMin == 0 {
			last := row.Points[len(row.Points)-1]
			out = append(out, fmt.Sprintf("> %d", last.N), "–", "–", fmt.Sprintf("%d/%d at n = %d", last.Successes, last.Trials, last.N), "–")
		} else {
			p := row.Points[len(row.Points)-1]
			var its []float64
			for _, t := range r.Trials {
				if t.D == row.D && t.K == row.K && t.N == row.NMin && t.Success {
					its = append(its, float64(t.Final.Iter))
				}
			}
			out = append(out, itoa(row.NMin), fmt.Sprintf("%.2f", float64(row.NMin)/float64(dk)),
				fmt.Sprintf("%.2f", float64(row.NMin)/float64(dk2)), fmt.Sprintf("%d/%d", p.Successes, p.Trials), spread(its, "%.0f"))
		}
		rows = append(rows, out)
	}
	b.WriteString(mdTable(header, rows))
	if f, ok := r.Fit(); ok {
		fmt.Fprintf(&b, "\nLeast-squares fit over the %d cells with an n_min: n_min ≈ %.3g", f.Cells, f.C)
		if !math.IsNaN(f.Alpha) {
			fmt.Fprintf(&b, " d^%.2f", f.Alpha)
		}
		if !math.IsNaN(f.Beta) {
			fmt.Fprintf(&b, " k^%.2f", f.Beta)
		}
		b.WriteString(". The papers' sufficient condition n ~ d k^2 (up to logarithms) has exponents 1 and 2; counting unknowns, n >= d k, has 1 and 1.\n")
	}
	stops := map[string]int{}
	var failed int
	for _, t := range r.Trials {
		if !t.Success {
			stops[t.Stop]++
			failed++
		}
	}
	if failed > 0 {
		keys := slices.Sorted(maps.Keys(stops))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s %d", k, stops[k])
		}
		fmt.Fprintf(&b, "\nFailed trials (all points) by stop reason: %s. An iteration-limit failure is a run whose activation patterns "+
			"never settled; a fixed-point or tolerance failure converged to a wrong solution.\n", strings.Join(parts, ", "))
	}
	b.WriteString("\nEvery point tried is in samples_points.csv, every trial in samples_trials.csv.\n")
	return b.String()
}

func (r *SamplesResult) plot(dir string) error {
	var ss []series
	lo, hi := math.Inf(1), 0.0
	for ki, k := range r.Config.K {
		var xy plotter.XYs
		for _, row := range r.Rows {
			if row.K == k && row.NMin > 0 {
				x := float64(row.D * row.K * row.K)
				xy = append(xy, plotter.XY{X: x, Y: float64(row.NMin)})
				lo, hi = math.Min(lo, x), math.Max(hi, x)
			}
		}
		slices.SortFunc(xy, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
		ss = append(ss, series{name: fmt.Sprintf("k = %d", k), ci: ki, xy: xy, points: true, line: true})
	}
	if hi > 0 {
		ref := plotter.XYs{{X: lo, Y: lo}, {X: hi, Y: hi}}
		ss = append(ss, series{name: "n = d k^2", ci: len(r.Config.K), xy: ref, line: true, dashed: true})
	}
	// n = d k, the number of unknowns, is not a function of d k^2: one
	// segment per k.
	for ki, k := range r.Config.K {
		var xy plotter.XYs
		for _, d := range r.Config.D {
			xy = append(xy, plotter.XY{X: float64(d * k * k), Y: float64(d * k)})
		}
		slices.SortFunc(xy, func(a, b plotter.XY) int { return cmp.Compare(a.X, b.X) })
		name := ""
		if ki == 0 {
			name = "n = d k (unknowns)"
		}
		ss = append(ss, series{name: name, ci: len(r.Config.K) + 1, xy: xy, line: true, dashed: true})
	}
	title := fmt.Sprintf("1-hidden-layer model: smallest n with >= %s success (%s start)", ftoa(r.Config.Rate), r.Config.Init)
	return savePNG(dir, "samples.png", plotSpec{title: title, xlabel: "d k^2", ylabel: "n_min", logX: true, logY: true, legendLeft: true}, ss)
}
