package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"altmin/data"
	"altmin/job"
)

// The Python readers of a model directory (docs/PYTHON.md).
var (
	numpyScript = filepath.Join("..", "..", "scripts", "altmin_predict.py")
	torchScript = filepath.Join("..", "..", "scripts", "altmin_torch.py")
	pythonDoc   = filepath.Join("..", "..", "docs", "PYTHON.md")
)

const python = "/usr/bin/python3"

// TestPythonDocQuotesScripts: docs/PYTHON.md quotes both scripts verbatim,
// so the code a reader copies is the code the tests run (NumPy) or parse
// (PyTorch).
func TestPythonDocQuotesScripts(t *testing.T) {
	doc, err := os.ReadFile(pythonDoc)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{numpyScript, torchScript} {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(doc), "```python\n"+string(src)+"```\n") {
			t.Errorf("%s does not quote %s verbatim in a python code block", pythonDoc, path)
		}
	}
	if _, err := exec.LookPath(python); err != nil {
		t.Skipf("%s not found: the PyTorch module's syntax is not checked", python)
	}
	// PyTorch is not installed where the tests run: the module is parsed,
	// not run.
	out, err := exec.Command(python, "-c", "import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])", torchScript).CombinedOutput()
	if err != nil {
		t.Errorf("%s does not parse: %v\n%s", torchScript, err, out)
	}
}

// rawTable returns n rows of 5 raw features of very different means and
// scales (the last constant) and a label in its own units that no model
// fits exactly.
func rawTable(seed uint64, n int) (x [][]float64, y []float64) {
	rng := rand.New(rand.NewPCG(seed, 17))
	mean := []float64{10, -3, 0.5, 100, 7}
	sd := []float64{2, 0.1, 1, 30, 0}
	for range n {
		row := make([]float64, len(mean))
		for j := range row {
			row[j] = mean[j] + sd[j]*rng.NormFloat64()
		}
		z1 := (row[0]-10)/2 + (row[1]+3)/0.1
		z2 := (row[2]-0.5)*2 - (row[3]-100)/30
		y = append(y, 40+5*max(z1, 0)-3*max(z2, 0)+0.2*row[3]+0.5*rng.NormFloat64())
		x = append(x, row)
	}
	return x, y
}

// writeTableCSV writes x and y as a CSV file with a header x0,x1,...,y.
func writeTableCSV(t *testing.T, path string, x [][]float64, y []float64) {
	t.Helper()
	var b strings.Builder
	for j := range x[0] {
		fmt.Fprintf(&b, "x%d,", j)
	}
	b.WriteString("y\n")
	for i, row := range x {
		for _, v := range row {
			fmt.Fprintf(&b, "%v,", v)
		}
		fmt.Fprintf(&b, "%v\n", y[i])
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPythonPredictAgrees trains small models of every family in process,
// on a real-data-style CSV (standardized, bias feature, linear term,
// alternating signs, a constant feature) and on planted data with
// --paper, and requires the NumPy reader (scripts/altmin_predict.py) to
// predict what `coordinator predict` does on the same random inputs, to
// 1e-12 relative.
func TestPythonPredictAgrees(t *testing.T) {
	if out, err := exec.Command(python, "-c", "import numpy").CombinedOutput(); err != nil {
		t.Skipf("%s cannot import numpy (%v: %s): the NumPy reader is not checked", python, err, strings.TrimSpace(string(out)))
	}
	dir := t.TempDir()
	csv := filepath.Join(dir, "table.csv")
	tx, ty := rawTable(1, 600)
	writeTableCSV(t, csv, tx, ty)
	table := []string{"--data", csv, "--label", "y"}
	cases := []struct {
		name  string
		args  []string
		model string
		real  bool // trained with the real-data defaults
	}{
		{"csv sum", append(slices.Clone(table), "--k", "4"), "sum", true},
		{"csv relu", append(slices.Clone(table), "--model", "relu"), "relu", true},
		{"csv resnet", append(slices.Clone(table), "--model", "resnet"), "resnet", true},
		{"csv deep", append(slices.Clone(table), "--model", "deep", "--hidden", "5,3"), "deep", true},
		{"paper relu", []string{"--synthetic", "model=relu,d=5,n=500,seed=3", "--paper"}, "relu", false},
		{"paper sum", []string{"--synthetic", "model=sum,d=5,k=3,n=500,seed=3,signs=alternate", "--paper", "--init", "perturb:0.5"}, "sum", false},
		{"paper resnet", []string{"--synthetic", "model=resnet,d=4,n=500,seed=3", "--paper"}, "resnet", false},
		{"paper deep", []string{"--synthetic", "model=deep,d=5,hidden=4-3,n=500,seed=3", "--paper", "--init", "perturb:0.3"}, "deep", false},
	}
	for ci, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, fmt.Sprintf("model%d", ci))
			args := append([]string{"train", "--local-shards", "0", "--partitions", "2", "--iters", "8", "--out", out}, c.args...)
			if err, stdout, stderr := runCLI(t, args...); err != nil {
				t.Fatalf("train: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
			}
			mf, _, err := job.LoadModel(out)
			if err != nil {
				t.Fatal(err)
			}
			if mf.Model != c.model {
				t.Fatalf("model %q, want %q", mf.Model, c.model)
			}
			// The model has the pieces the case is meant to cover.
			if std := mf.Standardize != nil; std != c.real || mf.Bias != c.real || mf.Linear != c.real {
				t.Fatalf("standardize %v, bias %v, linear %v: want %v", std, mf.Bias, mf.Linear, c.real)
			}
			if c.real && len(mf.Signs) > 1 && !slices.Contains(mf.Signs, -1) {
				t.Fatalf("signs %v, want alternating", mf.Signs)
			}

			// Random inputs: the table's distribution, spread wider, or
			// standard normal for planted data.
			rng := rand.New(rand.NewPCG(uint64(ci), 99))
			const m = 400
			d := mf.D
			x := make([]float64, m*d)
			if c.real {
				rx, _ := rawTable(uint64(100+ci), m)
				for i, row := range rx {
					for j, v := range row {
						x[i*d+j] = v + 0.5*rng.NormFloat64()
					}
				}
			} else {
				for i := range x {
					x[i] = rng.NormFloat64()
				}
			}
			xPath := filepath.Join(out, "X.npy")
			if err := data.WriteNPY(xPath, x, m, d); err != nil {
				t.Fatal(err)
			}
			goPath, pyPath := filepath.Join(out, "go.npy"), filepath.Join(out, "py.npy")
			if err, _, stderr := runCLI(t, "predict", "--model", out, "--data", xPath, "--out", goPath); err != nil {
				t.Fatalf("predict: %v\n%s", err, stderr)
			}
			if b, err := exec.Command(python, numpyScript, out, xPath, pyPath).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", numpyScript, err, b)
			}
			want, _, err := data.ReadNPY(goPath)
			if err != nil {
				t.Fatal(err)
			}
			got, shape, err := data.ReadNPY(pyPath)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != m || len(shape) != 1 {
				t.Fatalf("NumPy wrote shape %v, want (%d,)", shape, m)
			}
			var worst float64
			nonzero := 0
			for i, g := range want {
				if g != 0 {
					nonzero++
				}
				rel := math.Abs(got[i]-g) / math.Abs(g)
				if got[i] == g {
					rel = 0
				}
				if !(rel <= 1e-12) {
					t.Errorf("row %d: NumPy %v, coordinator predict %v (relative difference %.3g)", i, got[i], g, rel)
				}
				worst = max(worst, rel)
			}
			if nonzero < m/4 {
				t.Errorf("only %d of %d predictions are not 0: the inputs exercise too little of the network", nonzero, m)
			}
			t.Logf("%d rows (%d not 0), largest relative difference %.3g", m, nonzero, worst)
		})
	}
}
