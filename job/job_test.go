package job_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"altmin/data"
	"altmin/job"
	"altmin/model"
)

// ---- hand-written .npy files ----

// npyBytes returns a version 1.0 .npy file: the magic, the header
// dictionary padded to a multiple of 64 bytes, and the payload as given.
func npyBytes(descr string, fortran bool, shape []int, payload []byte) []byte {
	dims := make([]string, len(shape))
	for i, s := range shape {
		dims[i] = fmt.Sprint(s)
	}
	tuple := "(" + strings.Join(dims, ", ")
	if len(shape) == 1 {
		tuple += ","
	}
	tuple += ")"
	order := "False"
	if fortran {
		order = "True"
	}
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr, order, tuple)
	hlen := (10+len(dict)+1+63)/64*64 - 10
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	binary.Write(&b, binary.LittleEndian, uint16(hlen))
	b.WriteString(dict)
	b.WriteString(strings.Repeat(" ", hlen-len(dict)-1))
	b.WriteByte('\n')
	b.Write(payload)
	return b.Bytes()
}

func f8(v []float64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return b
}

func f4(v []float64) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(x)))
	}
	return b
}

func writeFile(t *testing.T, path string, b []byte) string {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeNPY writes a float64 C-order .npy file of the given shape.
func writeNPY(t *testing.T, path string, v []float64, shape ...int) string {
	t.Helper()
	return writeFile(t, path, npyBytes("<f8", false, shape, f8(v)))
}

// plantedData draws n rows of a synthetic teacher (see data.Synthetic).
func plantedData(t *testing.T, synth string) (x, y []float64, n, d int, spec model.Spec, wstar []float64) {
	t.Helper()
	g, err := data.ParseSynthetic(synth)
	if err != nil {
		t.Fatal(err)
	}
	info := g.Info()
	x, y = make([]float64, info.N*info.D), make([]float64, info.N)
	if err := g.Read(0, info.N, x, y); err != nil {
		t.Fatal(err)
	}
	spec, wstar = g.Teacher()
	return x, y, info.N, info.D, spec, wstar
}

func train(t *testing.T, o job.Options) (*job.Result, error) {
	t.Helper()
	if o.Out == "" {
		o.Out = t.TempDir()
	}
	return job.Train(context.Background(), o, io.Discard, zaptest.NewLogger(t))
}

func options(synth string) job.Options {
	o := job.DefaultOptions()
	o.Synthetic = synth
	o.Out = ""
	o.Parallel = 2
	return o
}

// ---- convergence: the required cases ----

func TestTrainConvergence(t *testing.T) {
	cases := []struct {
		synth  string
		init   string
		iters  int
		maxErr float64
	}{
		{"model=sum,d=20,k=4,n=4000,seed=1", "perturb:0.3", 15, 1e-10},
		{"model=sum,d=20,k=4,n=4000,seed=2,signs=alternate", "perturb:0.3", 15, 1e-10},
		{"model=relu,d=50,n=1000,seed=1", "perturb:0.3", 15, 1e-10},
		{"model=relu,d=50,n=1000,seed=2", "perturb:0.3", 15, 1e-10},
		{"model=resnet,d=20,wnorm=2,n=1700,seed=1", "identity", 20, 0.01},
		{"model=resnet,d=20,wnorm=2,n=1700,seed=2", "identity", 20, 0.01},
		{"model=resnet,d=20,wnorm=2,n=1700,seed=3,signs=alternate", "identity", 20, 0.01},
	}
	for _, c := range cases {
		t.Run(c.synth, func(t *testing.T) {
			o := options(c.synth)
			o.Init, o.Iters = c.init, c.iters
			res, err := train(t, o)
			if err != nil {
				t.Fatal(err)
			}
			g, _ := data.ParseSynthetic(c.synth)
			spec, wstar := g.Teacher()
			rel := spec.RelErr(res.Net.W[0], wstar)
			if res.Model.FinalRelErr == nil || *res.Model.FinalRelErr != rel {
				t.Errorf("model.json relative error %v, recomputed %v", res.Model.FinalRelErr, rel)
			}
			if spec.Kind == model.ResNet {
				var num, den float64
				u := spec.Effective(wstar)
				for i := range wstar {
					num += (res.Net.W[0][i] - wstar[i]) * (res.Net.W[0][i] - wstar[i])
					den += u[i] * u[i]
				}
				if math.Abs(rel-math.Sqrt(num/den)) > 1e-15 {
					t.Errorf("resnet relative error %v is not ||W - W*|| / ||W* + I|| = %v", rel, math.Sqrt(num/den))
				}
			}
			t.Logf("%d iterations, stop %s, relative error %.3g, loss %.3g", res.Final.Iter, res.Final.Stop, rel, res.Final.Loss)
			if !(rel <= c.maxErr) || res.Final.Iter > c.iters {
				t.Errorf("relative error %.3g after %d iterations, want <= %g within %d", rel, res.Final.Iter, c.maxErr, c.iters)
			}
		})
	}
}

// TestTrainReproducible: the same options give bit-identical weights; the
// number of partitions and parallelism change nothing beyond rounding.
func TestTrainReproducible(t *testing.T) {
	o := options("model=sum,d=8,k=3,n=900,seed=4,signs=alternate")
	o.Init, o.Iters, o.Tol = "perturb:0.5", 3, 0 // stop before convergence: the iterates still move
	o.Partitions = 7
	a, err := train(t, o)
	if err != nil {
		t.Fatal(err)
	}
	o.Parallel = 1
	b, err := train(t, o)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Net.W[0] {
		if math.Float64bits(a.Net.W[0][i]) != math.Float64bits(b.Net.W[0][i]) {
			t.Fatalf("two runs with P = 7 differ at weight %d: %v vs %v", i, a.Net.W[0][i], b.Net.W[0][i])
		}
	}
	o.Partitions, o.Parallel = 1, 2
	c, err := train(t, o)
	if err != nil {
		t.Fatal(err)
	}
	var num, den float64
	for i := range a.Net.W[0] {
		num += (a.Net.W[0][i] - c.Net.W[0][i]) * (a.Net.W[0][i] - c.Net.W[0][i])
		den += c.Net.W[0][i] * c.Net.W[0][i]
	}
	if e := math.Sqrt(num / den); e > 1e-12 {
		t.Errorf("P = 1 and P = 7 differ by %.3g relative", e)
	}
	if a.Final.Iter != 3 || c.Final.Iter != 3 || a.Final.Stop != "iteration-limit" {
		t.Errorf("runs stopped at %d (%s) and %d, want the limit 3", a.Final.Iter, a.Final.Stop, c.Final.Iter)
	}
}

// TestTrainFromFiles trains on planted data written as .npy (float64 and
// float32) and as CSV, with the teacher given by --truth.
func TestTrainFromFiles(t *testing.T) {
	const synth = "model=sum,d=6,k=2,n=800,seed=5,signs=alternate"
	x, y, n, d, spec, wstar := plantedData(t, synth)
	dir := t.TempDir()
	truth := writeNPY(t, filepath.Join(dir, "truth.npy"), wstar, spec.K, d)
	signs := writeNPY(t, filepath.Join(dir, "signs.npy"), spec.Signs, spec.K)

	// float32 features: round x first, and label the rounded rows.
	x32 := make([]float64, len(x))
	for i, v := range x {
		x32[i] = float64(float32(v))
	}
	y32 := make([]float64, n)
	spec.Predict(y32, x32, wstar)

	var csv strings.Builder
	for j := 0; j < d; j++ {
		fmt.Fprintf(&csv, "f%d,", j)
	}
	csv.WriteString("target\n")
	for i := 0; i < n; i++ {
		for j := 0; j < d; j++ {
			fmt.Fprintf(&csv, "%s,", fmt.Sprint(x[i*d+j]))
		}
		fmt.Fprintf(&csv, "%s\n", fmt.Sprint(y[i]))
	}

	sets := map[string]func(o *job.Options){
		"npy f8": func(o *job.Options) {
			o.Data = writeNPY(t, filepath.Join(dir, "x.npy"), x, n, d)
			o.Labels = writeNPY(t, filepath.Join(dir, "y.npy"), y, n)
		},
		"npy f4, labels (n, 1)": func(o *job.Options) {
			o.Data = writeFile(t, filepath.Join(dir, "x32.npy"), npyBytes("<f4", false, []int{n, d}, f4(x32)))
			o.Labels = writeNPY(t, filepath.Join(dir, "y32.npy"), y32, n, 1)
		},
		"csv": func(o *job.Options) {
			o.Data = writeFile(t, filepath.Join(dir, "train.csv"), []byte(csv.String()))
			o.Label = "target"
		},
	}
	for name, set := range sets {
		t.Run(name, func(t *testing.T) {
			o := options("")
			o.K, o.Signs, o.Truth, o.Init, o.Iters, o.Partitions = spec.K, signs, truth, "perturb:0.3", 15, 3
			set(&o)
			res, err := train(t, o)
			if err != nil {
				t.Fatal(err)
			}
			if res.Model.FinalRelErr == nil || *res.Model.FinalRelErr > 1e-10 {
				t.Errorf("relative error %v, want <= 1e-10", res.Model.FinalRelErr)
			}
			if res.Model.Rows != n || res.Model.D != d || res.Model.K != spec.K {
				t.Errorf("model.json: rows %d d %d k %d", res.Model.Rows, res.Model.D, res.Model.K)
			}
		})
	}
}

// ---- bad inputs ----

func TestBadInputs(t *testing.T) {
	dir := t.TempDir()
	const n, d = 40, 3
	x := make([]float64, n*d)
	y := make([]float64, n)
	for i := range x {
		x[i] = float64(i%7) - 3
	}
	for i := range y {
		y[i] = float64(i % 5)
	}
	path := func(name string) string { return filepath.Join(dir, name) }
	goodX := writeNPY(t, path("x.npy"), x, n, d)
	goodY := writeNPY(t, path("y.npy"), y, n)

	xNaN := append([]float64(nil), x...)
	xNaN[5*d+2] = math.NaN()
	yInf := append([]float64(nil), y...)
	yInf[7] = math.Inf(-1)
	const bigN = 3000 // more rows than the data fingerprint reads at each end
	xBig := make([]float64, bigN*2)
	for i := range xBig {
		xBig[i] = float64(i%11) - 5
	}
	xBig[1500*2+1] = math.Inf(1)

	files := map[string]string{
		"x1d":       writeNPY(t, path("x1d.npy"), x, n*d),
		"x3d":       writeNPY(t, path("x3d.npy"), x, n, d, 1),
		"y2col":     writeNPY(t, path("y2col.npy"), append(y, y...), n, 2),
		"yShort":    writeNPY(t, path("yshort.npy"), y[:n-1], n-1),
		"fortran":   writeFile(t, path("fortran.npy"), npyBytes("<f8", true, []int{n, d}, f8(x))),
		"int64":     writeFile(t, path("int64.npy"), npyBytes("<i8", false, []int{n, d}, f8(x))),
		"bigEnd":    writeFile(t, path("bigend.npy"), npyBytes(">f8", false, []int{n, d}, f8(x))),
		"trunc":     writeFile(t, path("trunc.npy"), npyBytes("<f8", false, []int{n, d}, f8(x[:n*d-3]))),
		"notNPY":    writeFile(t, path("text.npy"), []byte("a,b\n1,2\n")),
		"xNaN":      writeNPY(t, path("xnan.npy"), xNaN, n, d),
		"yInf":      writeNPY(t, path("yinf.npy"), yInf, n),
		"xBig":      writeNPY(t, path("xbig.npy"), xBig, bigN, 2),
		"yBig":      writeNPY(t, path("ybig.npy"), make([]float64, bigN), bigN),
		"csvWord":   writeFile(t, path("word.csv"), []byte("x1,x2,y\n1,2,3\n4,abc,6\n")),
		"csvNaN":    writeFile(t, path("nan.csv"), []byte("x1,x2,y\n1,2,3\n4,5,6\n7,8,NaN\n")),
		"csvRagged": writeFile(t, path("ragged.csv"), []byte("x1,x2,y\n1,2,3\n4,5\n")),
		"csvNoY":    writeFile(t, path("noy.csv"), []byte("x1,x2\n1,2\n")),
		"w2x4":      writeNPY(t, path("w2x4.npy"), make([]float64, 8), 2, 4),
		"w2x3":      writeNPY(t, path("w2x3.npy"), make([]float64, 6), 2, 3),
		"w6":        writeNPY(t, path("w6.npy"), make([]float64, 6), 6),
		"signs3":    writeNPY(t, path("signs3.npy"), []float64{1, -1, 1}, 3),
		"signsBad":  writeNPY(t, path("signsbad.npy"), []float64{1, 0.5}, 2),
	}
	missing := path("missing.npy")

	cases := []struct {
		name  string
		set   func(o *job.Options)
		train bool     // run through Train (the error shows only when rows are read)
		want  error    // errors.Is target
		msg   []string // substrings of the message
	}{
		// Files.
		{"missing X", func(o *job.Options) { o.Data, o.Labels = missing, goodY }, false, fs.ErrNotExist, []string{missing}},
		{"missing y", func(o *job.Options) { o.Data, o.Labels = goodX, missing }, false, fs.ErrNotExist, []string{missing}},
		{"missing CSV", func(o *job.Options) { o.Data, o.Label = path("missing.csv"), "y" }, false, fs.ErrNotExist, []string{path("missing.csv")}},
		{"X rank 1", func(o *job.Options) { o.Data, o.Labels = files["x1d"], goodY }, false, data.ErrShape, []string{files["x1d"], "2-D", "(120,)"}},
		{"X rank 3", func(o *job.Options) { o.Data, o.Labels = files["x3d"], goodY }, false, data.ErrShape, []string{files["x3d"], "(40, 3, 1)"}},
		{"y two columns", func(o *job.Options) { o.Data, o.Labels = goodX, files["y2col"] }, false, data.ErrShape, []string{files["y2col"], "(40, 2)"}},
		{"label count", func(o *job.Options) { o.Data, o.Labels = goodX, files["yShort"] }, false, data.ErrShape, []string{files["yShort"], "39", "40"}},
		{"Fortran order", func(o *job.Options) { o.Data, o.Labels = files["fortran"], goodY }, false, data.ErrFortran, []string{files["fortran"]}},
		{"dtype int64", func(o *job.Options) { o.Data, o.Labels = files["int64"], goodY }, false, data.ErrDType, []string{files["int64"], "<i8"}},
		{"dtype big-endian", func(o *job.Options) { o.Data, o.Labels = files["bigEnd"], goodY }, false, data.ErrDType, []string{files["bigEnd"], ">f8"}},
		{"truncated", func(o *job.Options) { o.Data, o.Labels = files["trunc"], goodY }, false, data.ErrSize, []string{files["trunc"], "truncated"}},
		{"not npy", func(o *job.Options) { o.Data, o.Labels = files["notNPY"], goodY }, false, data.ErrNotNPY, []string{files["notNPY"]}},
		{"NaN in X", func(o *job.Options) { o.Data, o.Labels = files["xNaN"], goodY }, false, data.ErrNonFinite, []string{files["xNaN"], "row 5, column 2", "NaN"}},
		{"Inf in y", func(o *job.Options) { o.Data, o.Labels = goodX, files["yInf"] }, false, data.ErrNonFinite, []string{files["yInf"], "row 7", "Inf"}},
		{"Inf in X, middle row, Train", func(o *job.Options) { o.Data, o.Labels, o.K = files["xBig"], files["yBig"], 1 }, true, data.ErrNonFinite, []string{files["xBig"], "row 1500, column 1", "+Inf"}},
		{"NaN in X, Train", func(o *job.Options) { o.Data, o.Labels = files["xNaN"], goodY }, true, data.ErrNonFinite, []string{files["xNaN"], "row 5, column 2"}},
		{"CSV word", func(o *job.Options) { o.Data, o.Label = files["csvWord"], "y" }, false, data.ErrParse, []string{files["csvWord"], "line 3", `"x2"`, "abc"}},
		{"CSV NaN", func(o *job.Options) { o.Data, o.Label = files["csvNaN"], "y" }, false, data.ErrNonFinite, []string{files["csvNaN"], "line 4", `"y"`}},
		{"CSV ragged", func(o *job.Options) { o.Data, o.Label = files["csvRagged"], "y" }, false, data.ErrColumns, []string{files["csvRagged"], "line 3"}},
		{"CSV no label column", func(o *job.Options) { o.Data, o.Label = files["csvNoY"], "y" }, false, data.ErrColumns, []string{files["csvNoY"], `"y"`}},
		// Model size.
		{"k < 1", func(o *job.Options) { o.Data, o.Labels, o.K = goodX, goodY, -1 }, false, job.ErrOptions, []string{"--k -1"}},
		{"k missing for sum", func(o *job.Options) { o.Data, o.Labels = goodX, goodY }, false, job.ErrOptions, []string{"--k"}},
		{"synthetic k = 0", func(o *job.Options) { o.Synthetic = "model=sum,d=3,k=0,n=10" }, false, data.ErrSynthetic, []string{"k=0"}},
		{"resnet k != d", func(o *job.Options) { o.Data, o.Labels, o.Model, o.K = goodX, goodY, "resnet", 2 }, false, job.ErrOptions, []string{"k = d"}},
		{"relu k = 2", func(o *job.Options) { o.Data, o.Labels, o.Model, o.K = goodX, goodY, "relu", 2 }, false, job.ErrOptions, []string{"k = 1"}},
		{"unknown model", func(o *job.Options) { o.Data, o.Labels, o.Model, o.K = goodX, goodY, "mlp", 2 }, false, job.ErrOptions, []string{"mlp"}},
		{"model differs from teacher", func(o *job.Options) { o.Synthetic, o.Model = "model=relu,d=3,n=10", "sum" }, false, job.ErrOptions, []string{"relu"}},
		{"k differs from teacher", func(o *job.Options) { o.Synthetic, o.K = "model=sum,d=3,k=2,n=10", 3 }, false, job.ErrOptions, []string{"--k 3"}},
		// Weights files.
		{"init d mismatch", func(o *job.Options) { o.Data, o.Labels, o.K, o.Init, o.Bias = goodX, goodY, 2, files["w2x4"], job.Off }, false, job.ErrOptions, []string{"--init", files["w2x4"], "(2, 4)", "(2, 3)"}},
		{"init rank 1", func(o *job.Options) { o.Data, o.Labels, o.K, o.Init = goodX, goodY, 2, files["w6"] }, false, job.ErrOptions, []string{"--init", files["w6"], "(6,)"}},
		{"init missing", func(o *job.Options) { o.Data, o.Labels, o.K, o.Init = goodX, goodY, 2, missing }, false, fs.ErrNotExist, []string{"--init", missing}},
		{"truth d mismatch", func(o *job.Options) { o.Data, o.Labels, o.K, o.Truth = goodX, goodY, 2, files["w2x4"] }, false, job.ErrOptions, []string{"--truth", files["w2x4"], "(2, 4)", "(2, 3)"}},
		{"truth vs synthetic d", func(o *job.Options) { o.Synthetic, o.Truth = "model=sum,d=4,k=2,n=10", files["w2x3"] }, false, job.ErrOptions, []string{"--truth", files["w2x3"], "(2, 3)", "(2, 4)"}},
		{"truth with bias", func(o *job.Options) {
			o.Data, o.Labels, o.K, o.Bias, o.Truth = goodX, goodY, 2, job.On, files["w2x3"]
		}, false, job.ErrOptions, []string{"--truth", "bias", "(2, 4)"}},
		{"signs shape", func(o *job.Options) { o.Data, o.Labels, o.K, o.Signs = goodX, goodY, 2, files["signs3"] }, false, job.ErrOptions, []string{"--signs", files["signs3"]}},
		{"signs value", func(o *job.Options) { o.Data, o.Labels, o.K, o.Signs = goodX, goodY, 2, files["signsBad"] }, false, job.ErrOptions, []string{"0.5"}},
		{"signs name", func(o *job.Options) { o.Data, o.Labels, o.K, o.Signs = goodX, goodY, 2, "plus" }, false, job.ErrOptions, []string{"plus"}},
		// Initialization.
		{"perturb without teacher", func(o *job.Options) { o.Data, o.Labels, o.K, o.Init = goodX, goodY, 2, "perturb:0.1" }, false, job.ErrOptions, []string{"perturb:0.1", "teacher"}},
		{"perturb bad delta", func(o *job.Options) { o.Synthetic, o.Init = "model=sum,d=3,k=2,n=10", "perturb:-1" }, false, job.ErrOptions, []string{"perturb:-1"}},
		{"identity on sum", func(o *job.Options) { o.Synthetic, o.Init = "model=sum,d=3,k=2,n=10", "identity" }, false, job.ErrOptions, []string{"identity", "resnet", "sum"}},
		{"identity on relu data", func(o *job.Options) { o.Data, o.Labels, o.Model, o.Init = goodX, goodY, "relu", "identity" }, false, job.ErrOptions, []string{"identity", "relu"}},
		{"unknown init", func(o *job.Options) { o.Synthetic, o.Init = "model=sum,d=3,k=2,n=10", "zeros" }, false, job.ErrOptions, []string{"zeros"}},
		// Options.
		{"synthetic and data", func(o *job.Options) { o.Synthetic, o.Data, o.Labels = "model=relu,d=3,n=10", goodX, goodY }, false, job.ErrOptions, []string{"--synthetic", "--data"}},
		{"npy without labels", func(o *job.Options) { o.Data = goodX }, false, job.ErrOptions, []string{"--labels"}},
		{"csv without label", func(o *job.Options) { o.Data = files["csvWord"] }, false, job.ErrOptions, []string{"--label"}},
		{"labels without data", func(o *job.Options) { o.Labels = goodY }, false, job.ErrOptions, []string{"--data"}},
		{"bad synthetic", func(o *job.Options) { o.Synthetic = "model=sum,d=3,k=2,n=10,color=red" }, false, data.ErrSynthetic, []string{"color"}},
		{"partitions 0", func(o *job.Options) { o.Synthetic, o.Partitions = "model=relu,d=3,n=10", 0 }, false, job.ErrOptions, []string{"--partitions 0"}},
		{"iters < 0", func(o *job.Options) { o.Synthetic, o.Iters = "model=relu,d=3,n=10", -2 }, false, job.ErrOptions, []string{"--iters -2"}},
		{"tol NaN", func(o *job.Options) { o.Synthetic, o.Tol = "model=relu,d=3,n=10", math.NaN() }, false, job.ErrOptions, []string{"--tol"}},
		{"method", func(o *job.Options) { o.Synthetic, o.Method = "model=relu,d=3,n=10", "sgd" }, false, job.ErrOptions, []string{"sgd"}},
		{"parallel < 0", func(o *job.Options) { o.Synthetic, o.Parallel = "model=relu,d=3,n=10", -1 }, false, job.ErrOptions, []string{"--parallel"}},
		{"empty out", func(o *job.Options) { o.Synthetic, o.Out = "model=relu,d=3,n=10", "" }, false, job.ErrOptions, []string{"--out"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := job.DefaultOptions()
			o.Out = filepath.Join(t.TempDir(), "out")
			c.set(&o)
			var err error
			if c.train {
				_, err = job.Train(context.Background(), o, io.Discard, zaptest.NewLogger(t))
			} else {
				_, err = job.Prepare(o)
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, c.want) {
				t.Errorf("err = %v, want %v", err, c.want)
			}
			for _, s := range c.msg {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
		})
	}
}

// TestGoodInputsPrepare: the files and options the bad cases are variants
// of are accepted, so the failures above are due to the defect alone.
func TestGoodInputsPrepare(t *testing.T) {
	dir := t.TempDir()
	x := []float64{1, 2, 3, 4, 5, 6}
	xp := writeNPY(t, filepath.Join(dir, "x.npy"), x, 2, 3)
	yp := writeNPY(t, filepath.Join(dir, "y.npy"), []float64{1, 2}, 2)
	wp := writeNPY(t, filepath.Join(dir, "w.npy"), make([]float64, 6), 2, 3)
	csv := writeFile(t, filepath.Join(dir, "a.csv"), []byte("x1,x2,y\n1,2,3\n4,5,6\n"))
	for name, set := range map[string]func(o *job.Options){
		"npy":          func(o *job.Options) { o.Data, o.Labels, o.K = xp, yp, 2 },
		"npy init":     func(o *job.Options) { o.Data, o.Labels, o.K, o.Init, o.Truth = xp, yp, 2, wp, wp },
		"npy perturb":  func(o *job.Options) { o.Data, o.Labels, o.K, o.Init, o.Truth = xp, yp, 2, "perturb:0.1", wp },
		"npy resnet":   func(o *job.Options) { o.Data, o.Labels, o.Model = xp, yp, "resnet" },
		"csv":          func(o *job.Options) { o.Data, o.Label, o.K = csv, "y", 1 },
		"synthetic":    func(o *job.Options) { o.Synthetic = "model=sum,d=3,k=2,n=10" },
		"synth resnet": func(o *job.Options) { o.Synthetic, o.Init = "model=resnet,d=3,n=10", "identity" },
	} {
		o := job.DefaultOptions()
		o.Out = t.TempDir()
		set(&o)
		pr, err := job.Prepare(o)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if n := len(pr.Start.W[0]) + len(pr.Start.Skip); n != pr.Spec.M() {
			t.Errorf("%s: %d initial weights for m = %d", name, n, pr.Spec.M())
		}
	}
}
