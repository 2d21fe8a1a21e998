package bench

import (
	"bytes"
	"context"
	"math"
	"testing"

	"altmin/data"
	"altmin/linalg"
	"altmin/shard"
)

// TestDenseBaselineMatches checks that the baseline computes the same
// statistics as the kernel the trainer uses, so the ratio compares equals.
func TestDenseBaselineMatches(t *testing.T) {
	g, err := data.ParseSynthetic("model=sum,d=7,k=3,n=500,seed=3,signs=alternate")
	if err != nil {
		t.Fatal(err)
	}
	spec, w := g.Teacher()
	p, err := shard.Load(g, 1, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	m := spec.M()
	pat := linalg.NewPatterns(p.Rows, spec.K)
	linalg.ComputePatterns(pat, nil, p.X, p.D, w, spec.Signs)
	g1, r1 := make([]float64, linalg.PackedLen(m)), make([]float64, m)
	g2, r2 := make([]float64, linalg.PackedLen(m)), make([]float64, m)
	DenseStats(g1, r1, p.X, p.Y, p.D, pat, spec.Signs)
	linalg.Stats(&linalg.StatsWorkspace{}, g2, r2, p.X, p.Y, p.D, pat, spec.Signs)
	if e := relDiff(g1, g2); e > 1e-12 {
		t.Errorf("Gram differs by %g", e)
	}
	if e := relDiff(r1, r2); e > 1e-12 {
		t.Errorf("rhs differs by %g", e)
	}
}

func relDiff(a, b []float64) float64 {
	var num, den float64
	for i := range a {
		num += (a[i] - b[i]) * (a[i] - b[i])
		den += b[i] * b[i]
	}
	return math.Sqrt(num / den)
}

func TestQuickRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	var out bytes.Buffer
	rows, err := Run(context.Background(), Quick()[:1], 1, &out)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].StatsSec <= 0 || rows[0].Ratio <= 0 {
		t.Fatalf("rows = %+v\n%s", rows, out.String())
	}
}
