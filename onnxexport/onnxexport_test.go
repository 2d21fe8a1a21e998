package onnxexport_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/advancedclimatesystems/gonnx"
	"github.com/advancedclimatesystems/gonnx/onnx"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"gorgonia.org/tensor"

	"altmin/data"
	"altmin/job"
	"altmin/model"
	"altmin/onnxexport"
)

// A trained model of the fixture: its directory and what the test expects
// model.json to say, so that the cases exercise what they claim to.
type trained struct {
	name string
	dir  string
	// standardized, bias, linear: model.json's; mixed: some output signs
	// are -1.
	standardized, bias, linear, mixed bool
}

var (
	fixtureOnce sync.Once
	fixtureDir  string
	fixture     []trained
	fixtureErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	os.Exit(code)
}

// writeTable writes a CSV of n rows like a user's table: features of
// different units and scales, a constant feature, and a price label of a
// nonlinear function of them plus noise, in the label's own units. With
// narrow, the only feature is sqft.
func writeTable(path string, n int, narrow bool) error {
	rng := rand.New(rand.NewPCG(11, 12))
	var b strings.Builder
	b.WriteString("sqft,age,rooms,zone,distance,price\n")
	if narrow {
		b.Reset()
		b.WriteString("sqft,price\n")
	}
	for range n {
		sqft := 1500 + 500*rng.NormFloat64()
		age := 50 * rng.Float64()
		rooms := float64(1 + rng.IntN(6))
		dist := math.Exp(rng.NormFloat64())
		price := 120*sqft + 9000*rooms - 2000*math.Max(age-20, 0) - 30000*math.Min(dist, 2) + 15000*rng.NormFloat64()
		if narrow {
			fmt.Fprintf(&b, "%.1f,%.0f\n", sqft, price)
			continue
		}
		fmt.Fprintf(&b, "%.1f,%.2f,%g,3,%.4f,%.0f\n", sqft, age, rooms, dist, price)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// models trains, once per test binary, a small model of every family
// (job.Train in process): on a CSV table with the real-data defaults
// (standardization, bias feature, linear term, alternating signs; also
// relu on a table of one feature), the papers' method on planted data
// (--paper), and planted deep data.
func models(t *testing.T) []trained {
	t.Helper()
	fixtureOnce.Do(func() {
		fixtureDir, fixtureErr = os.MkdirTemp("", "onnxexport-test-")
		if fixtureErr != nil {
			return
		}
		csv, narrow := filepath.Join(fixtureDir, "table.csv"), filepath.Join(fixtureDir, "narrow.csv")
		if fixtureErr = writeTable(csv, 1500, false); fixtureErr != nil {
			return
		}
		if fixtureErr = writeTable(narrow, 1500, true); fixtureErr != nil {
			return
		}
		real := func(o *job.Options) { o.Data, o.Label = csv, "price" }
		cases := []struct {
			trained
			set func(o *job.Options)
		}{
			{trained{name: "csv-sum", standardized: true, bias: true, linear: true, mixed: true},
				func(o *job.Options) { real(o); o.K = 6 }},
			{trained{name: "csv-relu", standardized: true, bias: true, linear: true},
				func(o *job.Options) { real(o); o.Model = "relu" }},
			{trained{name: "csv-resnet", standardized: true, bias: true, linear: true, mixed: true},
				func(o *job.Options) { real(o); o.Model = "resnet" }},
			{trained{name: "csv-relu-one-feature", standardized: true, bias: true, linear: true},
				func(o *job.Options) { o.Data, o.Label, o.Model = narrow, "price", "relu" }},
			{trained{name: "csv-deep", standardized: true, bias: true, linear: true, mixed: true},
				func(o *job.Options) { real(o); o.Model, o.Hidden = "deep", []int{6, 4} }},
			{trained{name: "paper-sum", mixed: true},
				func(o *job.Options) { o.Synthetic, o.Paper = "model=sum,d=8,k=4,n=2000,seed=1,signs=alternate", true }},
			{trained{name: "paper-relu"},
				func(o *job.Options) { o.Synthetic, o.Paper = "model=relu,d=8,n=1000,seed=2", true }},
			{trained{name: "paper-resnet"},
				func(o *job.Options) { o.Synthetic, o.Paper = "model=resnet,d=6,n=2000,seed=3", true }},
			{trained{name: "planted-deep", mixed: true},
				func(o *job.Options) { o.Synthetic = "model=deep,d=10,hidden=6-3,n=3000,seed=2" }},
		}
		for _, c := range cases {
			o := job.DefaultOptions()
			o.LocalShards, o.Parallel, o.Partitions, o.Iters = 0, 2, 4, 15
			o.Out = filepath.Join(fixtureDir, c.name)
			c.set(&o)
			if _, err := job.Train(context.Background(), o, io.Discard, zap.NewNop()); err != nil {
				fixtureErr = fmt.Errorf("training %s: %w", c.name, err)
				return
			}
			tr := c.trained
			tr.dir = o.Out
			fixture = append(fixture, tr)
		}
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return fixture
}

// checkFixture fails unless model.json says what the case claims.
func checkFixture(t *testing.T, tr trained, mf *job.ModelFile) {
	t.Helper()
	if got := mf.Standardize != nil; got != tr.standardized {
		t.Errorf("%s: standardized %v, want %v", tr.name, got, tr.standardized)
	}
	if mf.Bias != tr.bias || mf.Linear != tr.linear {
		t.Errorf("%s: bias %v, linear %v; want %v, %v", tr.name, mf.Bias, mf.Linear, tr.bias, tr.linear)
	}
	if got := slices.Contains(mf.Signs, -1); got != tr.mixed {
		t.Errorf("%s: signs %v, want some -1: %v", tr.name, mf.Signs, tr.mixed)
	}
	if !strings.Contains(tr.name, mf.Model) {
		t.Errorf("%s: model.json says model %q", tr.name, mf.Model)
	}
}

// inputs returns n random rows of raw features of the model: around the
// training means, over 1.5 standard deviations, for a standardized model;
// standard normal (as the planted data) otherwise.
func inputs(mf *job.ModelFile, n int, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 99))
	x := make([]float64, n*mf.D)
	for i := range n {
		for j := range mf.D {
			v := rng.NormFloat64()
			if st := mf.Standardize; st != nil {
				v = st.XMean[j] + 1.5*st.XSD[j]*v
			}
			x[i*mf.D+j] = v
		}
	}
	return x
}

// goPredict returns the predictions of job.Predict (coordinator predict)
// of the model in dir on the rows x of d features.
func goPredict(t *testing.T, dir string, x []float64, d int) []float64 {
	t.Helper()
	tmp := t.TempDir()
	xp, yp := filepath.Join(tmp, "X.npy"), filepath.Join(tmp, "yhat.npy")
	if err := data.WriteNPY(xp, x, len(x)/d, d); err != nil {
		t.Fatal(err)
	}
	if _, err := job.Predict(job.PredictOptions{Model: dir, Data: xp, Out: yp}); err != nil {
		t.Fatal(err)
	}
	y, shape, err := data.ReadNPY(yp)
	if err != nil || len(shape) != 1 {
		t.Fatalf("yhat.npy: shape %v, %v", shape, err)
	}
	return y
}

// runONNX runs the encoded model b with gonnx on the rows x of d features,
// as float64 or float32 by dt, and returns its output y as float64.
func runONNX(t *testing.T, b []byte, x []float64, d int, dt onnxexport.DType) []float64 {
	t.Helper()
	m, err := gonnx.NewModelFromBytes(b)
	if err != nil {
		t.Fatalf("gonnx: %v", err)
	}
	n := len(x) / d
	var in tensor.Tensor
	if dt == onnxexport.Float32 {
		x32 := make([]float32, len(x))
		for i, v := range x {
			x32[i] = float32(v)
		}
		in = tensor.New(tensor.WithShape(n, d), tensor.WithBacking(x32))
	} else {
		in = tensor.New(tensor.WithShape(n, d), tensor.WithBacking(slices.Clone(x)))
	}
	out, err := m.Run(gonnx.Tensors{onnxexport.InputName: in})
	if err != nil {
		t.Fatalf("gonnx: run: %v", err)
	}
	y, ok := out[onnxexport.OutputName]
	if !ok {
		t.Fatalf("gonnx: no output %q", onnxexport.OutputName)
	}
	if s := y.Shape(); len(s) != 1 || s[0] != n {
		t.Fatalf("output shape %v, want [%d]", s, n)
	}
	switch v := y.Data().(type) {
	case []float64:
		if dt != onnxexport.Float64 {
			t.Fatalf("output is float64, want %s", dt)
		}
		return v
	case []float32:
		if dt != onnxexport.Float32 {
			t.Fatalf("output is float32, want %s", dt)
		}
		y64 := make([]float64, len(v))
		for i, f := range v {
			y64[i] = float64(f)
		}
		return y64
	default:
		t.Fatalf("output of type %T", v)
	}
	return nil
}

// relDiff returns the largest |got_i - want_i| / max(|want_i|, floor),
// 0 for equal values (both 0 included).
func relDiff(got, want []float64, floor float64) float64 {
	var m float64
	for i, w := range want {
		if got[i] != w {
			m = max(m, math.Abs(got[i]-w)/max(math.Abs(w), floor))
		}
	}
	return m
}

// rms returns the root mean square of v.
func rms(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s / float64(len(v)))
}

// TestAgreesWithPredict: for every model family, with and without
// standardization, bias feature, linear term and mixed output signs, the
// exported double graph run by gonnx gives job.Predict's predictions to
// 1e-12 relative, on random raw inputs; the float graph, on the same
// inputs rounded to float32, to 1e-5 of the predictions' scale.
func TestAgreesWithPredict(t *testing.T) {
	const n = 500
	for i, tr := range models(t) {
		t.Run(tr.name, func(t *testing.T) {
			mf, _, err := job.LoadModel(tr.dir)
			if err != nil {
				t.Fatal(err)
			}
			checkFixture(t, tr, mf)
			x := inputs(mf, n, uint64(i))
			want := goPredict(t, tr.dir, x, mf.D)
			b, err := onnxexport.Export(tr.dir, onnxexport.Float64)
			if err != nil {
				t.Fatal(err)
			}
			got := runONNX(t, b, x, mf.D, onnxexport.Float64)
			// A batch of one row, which gonnx's tensors treat apart.
			got = append(runONNX(t, b, x[:mf.D], mf.D, onnxexport.Float64), got...)
			want = append(want[:1:1], want...)
			rel := relDiff(got, want, 0)
			t.Logf("%s: float64: max relative difference %.3g over %d rows (%.3g with max(|prediction|, rms) as the denominator)", tr.name, rel, len(want), relDiff(got, want, rms(want)))
			if !(rel <= 1e-12) {
				t.Errorf("%s: float64 graph differs from predict by %.3g relative (> 1e-12)", tr.name, rel)
			}

			// float32: the inputs rounded to float32 are the data of both.
			x32 := make([]float64, len(x))
			for i, v := range x {
				x32[i] = float64(float32(v))
			}
			want = goPredict(t, tr.dir, x32, mf.D)
			b, err = onnxexport.Export(tr.dir, onnxexport.Float32)
			if err != nil {
				t.Fatal(err)
			}
			got = runONNX(t, b, x32, mf.D, onnxexport.Float32)
			scale := rms(want)
			rel = relDiff(got, want, scale)
			t.Logf("%s: float32: max difference %.3g of max(|prediction|, rms %.3g)", tr.name, rel, scale)
			if !(rel <= 1e-5) {
				t.Errorf("%s: float32 graph differs from predict by %.3g of the predictions' scale (> 1e-5)", tr.name, rel)
			}
		})
	}
}

// TestExportDeterministic: the same model gives the same bytes, and the
// graph is what docs/EXPORT.md says: opset 13, input x [N, d], output y
// [N], of the basic operators only.
func TestExportDeterministic(t *testing.T) {
	allowed := []string{"MatMul", "Add", "Sub", "Mul", "Div", "Relu", "Reshape"}
	for _, tr := range models(t) {
		a, err := onnxexport.Export(tr.dir, onnxexport.Float64)
		if err != nil {
			t.Fatal(err)
		}
		b, err := onnxexport.Export(tr.dir, onnxexport.Float64)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two exports differ", tr.name)
		}
		mp, err := gonnx.ModelProtoFromBytes(a)
		if err != nil {
			t.Fatal(err)
		}
		if ops := mp.GetOpsetImport(); len(ops) != 1 || ops[0].GetDomain() != "" || ops[0].GetVersion() != onnxexport.Opset {
			t.Errorf("%s: opset imports %v, want the default domain's %d", tr.name, ops, onnxexport.Opset)
		}
		g := mp.GetGraph()
		if in, out := g.InputNames(), g.OutputNames(); !slices.Equal(in, []string{"x"}) || !slices.Equal(out, []string{"y"}) {
			t.Errorf("%s: inputs %v, outputs %v; want [x], [y]", tr.name, in, out)
		}
		mf, _, err := job.LoadModel(tr.dir)
		if err != nil {
			t.Fatal(err)
		}
		if s := g.InputShapes()["x"]; len(s) != 2 || !s[0].IsDynamic || s[0].Name != "N" || s[1].Size != int64(mf.D) {
			t.Errorf("%s: input shape %v, want [N, %d]", tr.name, s, mf.D)
		}
		if s := g.OutputShapes()["y"]; len(s) != 1 || !s[0].IsDynamic {
			t.Errorf("%s: output shape %v, want [N]", tr.name, s)
		}
		for _, nd := range g.GetNode() {
			if !slices.Contains(allowed, nd.GetOpType()) {
				t.Errorf("%s: operator %s, want only %v", tr.name, nd.GetOpType(), allowed)
			}
		}
	}
}

// TestExportEncoding decodes the hand-encoded files, double and float,
// with the generated Go types of onnx.proto (gonnx's onnx.ModelProto and
// protobuf's proto.Unmarshal) and checks every field the exporter
// writes, so that a wrong field number or wire type is caught even where
// a runtime would compute the right numbers: no field unknown to
// onnx.proto, the bytes canonical (as protobuf's deterministic marshalling
// writes them), the model's and the graph's fields, the operators in
// docs/EXPORT.md's order, wired from x to y, and every initializer's
// type, shape and values those of model.json and the weights.
func TestExportEncoding(t *testing.T) {
	for _, tr := range models(t) {
		mf, w, err := job.LoadModel(tr.dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, dt := range []onnxexport.DType{onnxexport.Float64, onnxexport.Float32} {
			name := tr.name + " " + string(dt)
			b, err := onnxexport.Export(tr.dir, dt)
			if err != nil {
				t.Fatal(err)
			}
			mp := &onnx.ModelProto{}
			if err := proto.Unmarshal(b, mp); err != nil {
				t.Fatalf("%s: decoding: %v", name, err)
			}
			if u := unknownFields(mp.ProtoReflect(), "ModelProto"); len(u) > 0 {
				t.Errorf("%s: fields unknown to onnx.proto: %v", name, u)
			}
			again, err := proto.MarshalOptions{Deterministic: true}.Marshal(mp)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, b) {
				t.Errorf("%s: not canonical: %d bytes re-encode to %d others", name, len(b), len(again))
			}
			checkModelProto(t, name, mp, mf, w, dt)
		}
	}
}

// unknownFields returns the paths, below path, of the messages of m that
// hold fields their type does not declare.
func unknownFields(m protoreflect.Message, path string) []string {
	var u []string
	if len(m.GetUnknown()) > 0 {
		u = append(u, path)
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		p := path + "." + string(fd.Name())
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := range v.List().Len() {
				u = append(u, unknownFields(v.List().Get(i).Message(), fmt.Sprintf("%s[%d]", p, i))...)
			}
		case fd.Message() != nil && !fd.IsMap():
			u = append(u, unknownFields(v.Message(), p)...)
		}
		return true
	})
	return u
}

// checkModelProto checks the decoded model mp of model.json mf and the
// weights w, exported as dt.
func checkModelProto(t *testing.T, name string, mp *onnx.ModelProto, mf *job.ModelFile, w *model.Net, dt onnxexport.DType) {
	t.Helper()
	elem := int32(onnx.TensorProto_DOUBLE)
	if dt == onnxexport.Float32 {
		elem = int32(onnx.TensorProto_FLOAT)
	}
	if mp.GetIrVersion() != onnxexport.IRVersion || mp.GetProducerName() != "altmin" || mp.GetProducerVersion() != job.Version {
		t.Errorf("%s: IR version %d, producer %q %q; want %d, altmin %q", name, mp.GetIrVersion(), mp.GetProducerName(), mp.GetProducerVersion(), onnxexport.IRVersion, job.Version)
	}
	if doc := mp.GetDocString(); !strings.Contains(doc, "altmin "+mf.Model+" model") || !strings.HasSuffix(doc, string(dt)) {
		t.Errorf("%s: doc string %q", name, doc)
	}
	if ops := mp.GetOpsetImport(); len(ops) != 1 || ops[0].GetDomain() != "" || ops[0].GetVersion() != onnxexport.Opset {
		t.Errorf("%s: opset imports %v, want the default domain's %d", name, ops, onnxexport.Opset)
	}
	g := mp.GetGraph()
	if g.GetName() != "altmin_"+mf.Model {
		t.Errorf("%s: graph name %q", name, g.GetName())
	}

	// The input and the output: tensors of the element type, x [N, d] and
	// y [N].
	checkValueInfo(t, name, g.GetInput(), onnxexport.InputName, elem, mf.D)
	checkValueInfo(t, name, g.GetOutput(), onnxexport.OutputName, elem)

	// The initializers: the constants of docs/EXPORT.md.
	d := mf.D
	want := map[string][]float64{"signs": w.V}
	wantDims := map[string][]int64{"signs": {int64(len(w.V)), 1}}
	if st := mf.Standardize; st != nil {
		scale := make([]float64, d)
		for j, v := range st.XSD {
			scale[j] = 1 / v
		}
		want["x_mean"], want["x_scale"], want["y_scale"], want["y_mean"] = st.XMean, scale, []float64{1 / st.YSD}, []float64{st.YMean}
		wantDims["x_mean"], wantDims["x_scale"], wantDims["y_scale"], wantDims["y_mean"] = []int64{int64(d)}, []int64{int64(d)}, []int64{1}, []int64{1}
	}
	for l := 1; l <= w.Layers(); l++ {
		wl, in, units := w.W[l-1], w.Dims[l-1], w.Dims[l]
		if l == 1 {
			wl = model.Spec{Kind: model.Kind(mf.Model), D: in, K: units}.Effective(wl)
		}
		cols := in
		if l == 1 && mf.Bias {
			cols = d
			var bias []float64
			for q := range units {
				bias = append(bias, wl[q*in+d])
			}
			want["b1"], wantDims["b1"] = bias, []int64{int64(units)}
		}
		wt := make([]float64, 0, cols*units)
		for j := range cols {
			for q := range units {
				wt = append(wt, wl[q*in+j])
			}
		}
		ls := strconv.Itoa(l)
		want["W"+ls+"_t"], wantDims["W"+ls+"_t"] = wt, []int64{int64(cols), int64(units)}
	}
	if w.Skip != nil {
		want["linear"], wantDims["linear"] = w.Skip[:d], []int64{int64(d), 1}
		if len(w.Skip) > d {
			want["linear_bias"], wantDims["linear_bias"] = w.Skip[d:], []int64{1}
		}
	}
	inits := map[string]bool{}
	for _, it := range g.GetInitializer() {
		n := it.GetName()
		if inits[n] {
			t.Errorf("%s: initializer %s twice", name, n)
		}
		inits[n] = true
		if n == "y_shape" {
			if it.GetDataType() != int32(onnx.TensorProto_INT64) || !slices.Equal(it.GetDims(), []int64{1}) || !slices.Equal(it.GetInt64Data(), []int64{-1}) || len(it.GetRawData()) > 0 {
				t.Errorf("%s: y_shape: type %d, dims %v, int64_data %v, %d raw bytes; want INT64 [1] of -1", name, it.GetDataType(), it.GetDims(), it.GetInt64Data(), len(it.GetRawData()))
			}
			continue
		}
		v, ok := want[n]
		if !ok {
			t.Errorf("%s: unexpected initializer %s", name, n)
			continue
		}
		if it.GetDataType() != elem || !slices.Equal(it.GetDims(), wantDims[n]) {
			t.Errorf("%s: %s: type %d, dims %v; want %d, %v", name, n, it.GetDataType(), it.GetDims(), elem, wantDims[n])
		}
		if got := rawValues(it.GetRawData(), dt); !slices.Equal(got, roundTo(v, dt)) {
			t.Errorf("%s: %s holds %v, want %v", name, n, got, roundTo(v, dt))
		}
	}
	for n := range want {
		if !inits[n] {
			t.Errorf("%s: no initializer %s", name, n)
		}
	}

	// The nodes: the operators of docs/EXPORT.md in its order, each of one
	// output named as the node, computed from x, the initializers and the
	// outputs of the nodes before it; the last one gives y.
	var ops []string
	if mf.Standardize != nil {
		ops = append(ops, "Sub", "Mul")
	}
	for l := 1; l <= w.Layers(); l++ {
		ops = append(ops, "MatMul")
		if l == 1 && mf.Bias {
			ops = append(ops, "Add")
		}
		ops = append(ops, "Relu")
	}
	ops = append(ops, "MatMul")
	if w.Skip != nil {
		ops = append(ops, "MatMul")
		if len(w.Skip) > d {
			ops = append(ops, "Add")
		}
		ops = append(ops, "Add")
	}
	if mf.Standardize != nil {
		ops = append(ops, "Div", "Add")
	}
	ops = append(ops, "Reshape")
	var got []string
	known := map[string]bool{onnxexport.InputName: true}
	for n := range inits {
		known[n] = true
	}
	used := map[string]bool{}
	for i, nd := range g.GetNode() {
		got = append(got, nd.GetOpType())
		if out := nd.GetOutput(); len(out) != 1 || out[0] != nd.GetName() || known[out[0]] {
			t.Errorf("%s: node %d (%s %s): outputs %v, want one new value named as the node", name, i, nd.GetOpType(), nd.GetName(), out)
		}
		wantIn := 2
		if nd.GetOpType() == "Relu" {
			wantIn = 1
		}
		if len(nd.GetInput()) != wantIn {
			t.Errorf("%s: node %s: inputs %v, want %d", name, nd.GetName(), nd.GetInput(), wantIn)
		}
		for _, in := range nd.GetInput() {
			if !known[in] {
				t.Errorf("%s: node %s: input %q is not x, an initializer or an earlier output", name, nd.GetName(), in)
			}
			used[in] = true
		}
		if len(nd.GetAttribute()) > 0 || nd.GetDomain() != "" {
			t.Errorf("%s: node %s: attributes %v, domain %q", name, nd.GetName(), nd.GetAttribute(), nd.GetDomain())
		}
		known[nd.GetName()] = true
		if i == len(g.GetNode())-1 && nd.GetName() != onnxexport.OutputName {
			t.Errorf("%s: the last node gives %q, not %q", name, nd.GetName(), onnxexport.OutputName)
		}
	}
	if !slices.Equal(got, ops) {
		t.Errorf("%s: operators %v, want %v", name, got, ops)
	}
	for n := range inits {
		if !used[n] {
			t.Errorf("%s: initializer %s is no node's input", name, n)
		}
	}
}

// checkValueInfo checks that vi is the one value name, a tensor of the
// element type elem and the shape [N, dims...], N symbolic.
func checkValueInfo(t *testing.T, name string, vi []*onnx.ValueInfoProto, value string, elem int32, dims ...int) {
	t.Helper()
	if len(vi) != 1 || vi[0].GetName() != value {
		t.Errorf("%s: values %v, want the one %q", name, vi, value)
		return
	}
	tt := vi[0].GetType().GetTensorType()
	if tt == nil || tt.GetElemType() != elem {
		t.Errorf("%s: %s: type %v, want a tensor of element type %d", name, value, vi[0].GetType(), elem)
		return
	}
	got := tt.GetShape().GetDim()
	if len(got) != 1+len(dims) || got[0].GetDimParam() != "N" {
		t.Errorf("%s: %s: shape %v, want [N, %v]", name, value, got, dims)
		return
	}
	for i, n := range dims {
		if dv, ok := got[1+i].GetValue().(*onnx.TensorShapeProto_Dimension_DimValue); !ok || dv.DimValue != int64(n) {
			t.Errorf("%s: %s: dimension %d is %v, want %d", name, value, 1+i, got[1+i], n)
		}
	}
}

// rawValues returns the little-endian float64 or float32 values of raw.
func rawValues(raw []byte, dt onnxexport.DType) []float64 {
	var v []float64
	if dt == onnxexport.Float32 {
		for i := 0; i+4 <= len(raw); i += 4 {
			v = append(v, float64(math.Float32frombits(binary.LittleEndian.Uint32(raw[i:]))))
		}
		if len(raw)%4 != 0 {
			v = append(v, math.NaN()) // no match
		}
		return v
	}
	for i := 0; i+8 <= len(raw); i += 8 {
		v = append(v, math.Float64frombits(binary.LittleEndian.Uint64(raw[i:])))
	}
	if len(raw)%8 != 0 {
		v = append(v, math.NaN())
	}
	return v
}

// roundTo returns v, rounded to float32 for dt float32.
func roundTo(v []float64, dt onnxexport.DType) []float64 {
	if dt != onnxexport.Float32 {
		return v
	}
	r := make([]float64, len(v))
	for i, x := range v {
		r[i] = float64(float32(x))
	}
	return r
}

// TestONNXChecker runs the official checker of the onnx Python package,
// onnx.checker.check_model with full_check (which includes strict shape
// and type inference), on the exported graphs of every model, double and
// float.
func TestONNXChecker(t *testing.T) {
	const python = "/usr/bin/python3"
	if out, err := exec.Command(python, "-c", "import onnx").CombinedOutput(); err != nil {
		t.Skipf("%s cannot import onnx (apt-get install python3-onnx): %v: %s", python, err, out)
	}
	dir := t.TempDir()
	var files []string
	for _, tr := range models(t) {
		for _, dt := range []onnxexport.DType{onnxexport.Float64, onnxexport.Float32} {
			b, err := onnxexport.Export(tr.dir, dt)
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, tr.name+"-"+string(dt)+".onnx")
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			files = append(files, p)
		}
	}
	const script = `
import sys, onnx
for p in sys.argv[1:]:
    m = onnx.load(p)
    onnx.checker.check_model(m, full_check=True)
    print("ok", p, "opset", m.opset_import[0].version, "ir", m.ir_version)
`
	out, err := exec.Command(python, append([]string{"-c", script}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("onnx.checker: %v\n%s", err, out)
	}
	if got := strings.Count(string(out), "ok "); got != len(files) {
		t.Errorf("checker passed %d files of %d:\n%s", got, len(files), out)
	}
}

// TestExportErrors: errors name the model directory and the problem.
func TestExportErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nomodel")
	_, err := onnxexport.Export(missing, onnxexport.Float64)
	if !errors.Is(err, onnxexport.ErrExport) || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "model.json") {
		t.Errorf("missing model: %v", err)
	}
	if _, err := onnxexport.ParseDType("float16"); !errors.Is(err, onnxexport.ErrExport) || !strings.Contains(err.Error(), "float16") {
		t.Errorf("dtype float16: %v", err)
	}
	tr := models(t)[0]
	if _, err := onnxexport.Export(tr.dir, "int8"); !errors.Is(err, onnxexport.ErrExport) || !strings.Contains(err.Error(), tr.dir) || !strings.Contains(err.Error(), `"int8"`) {
		t.Errorf("dtype int8: %v", err)
	}

	// A weight beyond float32's range exports as float64, not as float32.
	mf := &job.ModelFile{Format: job.ModelFormat, Model: "sum", D: 2, K: 2, Signs: []float64{1, -1}}
	w := &model.Net{Dims: []int{2, 2}, W: [][]float64{{1, 2, 1e39, 4}}, V: []float64{1, -1}}
	if _, err := onnxexport.Model(mf, w, onnxexport.Float64); err != nil {
		t.Errorf("float64 export of a weight of 1e39: %v", err)
	}
	if _, err := onnxexport.Model(mf, w, onnxexport.Float32); !errors.Is(err, onnxexport.ErrExport) || !strings.Contains(err.Error(), "W1_t[1] = 1e+39") {
		t.Errorf("float32 export of a weight of 1e39: %v", err)
	}
	// Weights that do not match model.json.
	mf.Bias = true
	if _, err := onnxexport.Model(mf, w, onnxexport.Float64); !errors.Is(err, onnxexport.ErrExport) || !strings.Contains(err.Error(), "bias true") {
		t.Errorf("first layer without the bias column: %v", err)
	}
}
