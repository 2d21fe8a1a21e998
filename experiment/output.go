package experiment

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// writeCSV writes a header and rows to dir/name.
func writeCSV(dir, name string, header []string, rows [][]string) error {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(header)
	w.WriteAll(rows) // flushes
	if err := w.Error(); err != nil {
		return fmt.Errorf("experiment: %s: %w", name, err)
	}
	return writeFile(dir, name, b.Bytes())
}

func writeFile(dir, name string, b []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("experiment: output directory: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		return fmt.Errorf("experiment: %w", err)
	}
	return nil
}

// ftoa formats a float exactly (shortest representation that round-trips).
func ftoa(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func itoa(v int) string { return strconv.Itoa(v) }

func utoa(v uint64) string { return strconv.FormatUint(v, 10) }

// sci formats a float for a Markdown table, with 2 decimals.
func sci(v float64) string { return sciN(v, 2) }

// sciN formats a float for a Markdown table with the given decimals in
// scientific notation, "–" for NaN.
func sciN(v float64, decimals int) string {
	if math.IsNaN(v) {
		return "–"
	}
	return strconv.FormatFloat(v, 'e', decimals, 64)
}

// median returns the median of v (the mean of the middle two for an even
// count), NaN when v is empty; v is not modified.
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

// medianOr formats the median of v with format, or returns none when v is
// empty.
func medianOr(v []float64, none string, format func(float64) string) string {
	if len(v) == 0 {
		return none
	}
	return format(median(v))
}

// mdTable renders a Markdown table.
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

// series is one curve of a plot.
type series struct {
	name   string
	ci     int // palette index of the color and glyph
	xy     plotter.XYs
	points bool // draw glyphs at the points
	line   bool // join the points
	dashed bool
}

// plotSpec describes a plot.
type plotSpec struct {
	title, xlabel, ylabel string
	logX, logY            bool // log-scale axes (values must be positive)
	ymin, ymax            float64
	fixY                  bool
	legendLeft            bool // legend at the top left instead of the top right
	legendBottom          bool
	yTickStep             float64   // when positive, a major y tick at every multiple
	xTicks                []float64 // when set, the labelled x ticks
}

// listTicks labels the given values.
type listTicks []float64

func (l listTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for _, v := range l {
		if v >= lo && v <= hi {
			ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
		}
	}
	return ts
}

// stepTicks puts a labelled tick at every multiple of step.
type stepTicks float64

func (s stepTicks) Ticks(lo, hi float64) []plot.Tick {
	step := float64(s)
	var ts []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi+1e-9*step; v += step {
		ts = append(ts, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
	}
	return ts
}

// savePNG draws the series into dir/name.
func savePNG(dir, name string, ps plotSpec, ss []series) error {
	p, err := newPlot(ps, ss)
	if err != nil {
		return fmt.Errorf("experiment: %s: %w", name, err)
	}
	wt, err := p.WriterTo(7*vg.Inch, 4.5*vg.Inch, "png")
	if err != nil {
		return fmt.Errorf("experiment: %s: %w", name, err)
	}
	var b bytes.Buffer
	if _, err := wt.WriteTo(&b); err != nil {
		return fmt.Errorf("experiment: %s: %w", name, err)
	}
	return writeFile(dir, name, b.Bytes())
}

// writePNG encodes a canvas into dir/name.
func writePNG(dir, name string, c *vgimg.Canvas) error {
	var b bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&b); err != nil {
		return fmt.Errorf("experiment: %s: %w", name, err)
	}
	return writeFile(dir, name, b.Bytes())
}

// writeTiles draws the plots into dir/name, a PNG of rows of cols panels of
// pw x ph each (at vgimg.DefaultDPI), filled row by row.
func writeTiles(dir, name string, cols int, pw, ph vg.Length, plots []*plot.Plot) error {
	rows := (len(plots) + cols - 1) / cols
	img := vgimg.New(vg.Length(cols)*pw, vg.Length(rows)*ph)
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter, PadY: vg.Millimeter,
		PadTop: vg.Millimeter, PadBottom: vg.Millimeter, PadLeft: vg.Millimeter, PadRight: vg.Millimeter}
	for i, p := range plots {
		p.Draw(tiles.At(dc, i%cols, i/cols))
	}
	return writePNG(dir, name, img)
}

// newPlot builds a plot of the series.
func newPlot(ps plotSpec, ss []series) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = ps.title
	p.X.Label.Text = ps.xlabel
	p.Y.Label.Text = ps.ylabel
	if ps.logX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	if ps.logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	if len(ps.xTicks) > 0 {
		p.X.Tick.Marker = listTicks(ps.xTicks)
	}
	if ps.yTickStep > 0 {
		p.Y.Tick.Marker = stepTicks(ps.yTickStep)
	}
	if ps.fixY {
		p.Y.Min, p.Y.Max = ps.ymin, ps.ymax
	}
	p.Add(plotter.NewGrid())
	p.Legend.Top = !ps.legendBottom
	p.Legend.Left = ps.legendLeft
	for _, s := range ss {
		if len(s.xy) == 0 {
			continue
		}
		c := plotutil.Color(s.ci)
		var thumbs []plot.Thumbnailer
		if s.line {
			l, err := plotter.NewLine(s.xy)
			if err != nil {
				return nil, err
			}
			l.Color, l.Width = c, vg.Points(1.5)
			if s.dashed {
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			}
			p.Add(l)
			thumbs = append(thumbs, l)
		}
		if s.points {
			sc, err := plotter.NewScatter(s.xy)
			if err != nil {
				return nil, err
			}
			sc.GlyphStyle = draw.GlyphStyle{Color: c, Radius: vg.Points(3), Shape: plotutil.Shape(s.ci)}
			p.Add(sc)
			thumbs = append(thumbs, sc)
		}
		if s.name != "" {
			p.Legend.Add(s.name, thumbs...)
		}
	}
	p.Legend.ThumbnailWidth = vg.Points(24)
	p.BackgroundColor = color.White
	return p, nil
}
