package onnxexport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"

	"altmin/job"
	"altmin/model"
)

// Opset is the version of the ONNX operator set (the default domain) the
// exported graphs import: 13, read by ONNX Runtime since 1.6 and the only
// set of gonnx. The operators the graphs use mean the same for float and
// double in every later set (opset 14 added integer types and Reshape's
// allowzero).
const Opset = 13

// IRVersion is the ONNX IR version of the exported models: 7, the version
// released with opset 13 (ONNX 1.8), so that runtimes and checkers that
// support opset 13 read the file.
const IRVersion = 7

// The names of the graph's input and output.
const (
	InputName  = "x" // raw features, [N, d]
	OutputName = "y" // predictions in the label's units, [N]
)

// ErrExport is wrapped by every error of an export.
var ErrExport = errors.New("onnxexport")

// DType is the element type of an exported graph: of its input, its
// weights, its computations and its output.
type DType string

// The element types.
const (
	// Float64 (ONNX double) computes what predict computes, to about
	// 1e-15 of the predictions' size.
	Float64 DType = "float64"
	// Float32 (ONNX float) rounds the weights and the standardization to
	// float32 and computes in float32, for runtimes without double
	// kernels: about 1e-6 relative to the size of the network's terms.
	Float32 DType = "float32"
)

// ParseDType parses an element type by name: float64 or float32.
func ParseDType(s string) (DType, error) {
	switch DType(s) {
	case Float64, Float32:
		return DType(s), nil
	}
	return "", fmt.Errorf("%w: unknown dtype %q (want float64 or float32)", ErrExport, s)
}

// Export reads the model directory dir (job.LoadModel) and returns its
// ONNX model, encoded.
func Export(dir string, dt DType) ([]byte, error) {
	mf, w, err := job.LoadModel(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: model %s: %w", ErrExport, dir, err)
	}
	m, err := graph(mf, w, dt)
	if err != nil {
		return nil, fmt.Errorf("%w: model %s: %w", ErrExport, dir, err)
	}
	return m.marshal(), nil
}

// Model returns the encoded ONNX model of a model read by job.LoadModel:
// of its model.json mf and its learned weights w.
func Model(mf *job.ModelFile, w *model.Net, dt DType) ([]byte, error) {
	m, err := graph(mf, w, dt)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrExport, err)
	}
	return m.marshal(), nil
}

// graph returns the ONNX model of mf and w.
func graph(mf *job.ModelFile, w *model.Net, dt DType) (*modelProto, error) {
	if dt != Float64 && dt != Float32 {
		return nil, fmt.Errorf("unknown dtype %q (want float64 or float32)", dt)
	}
	kind, err := model.ParseKind(mf.Model)
	if err != nil {
		return nil, err
	}
	if err := w.Validate(); err != nil {
		return nil, err
	}
	d := mf.D
	n0 := d
	if mf.Bias {
		n0++
	}
	if w.In() != n0 {
		return nil, fmt.Errorf("the first layer has %d inputs, model.json says d = %d, bias %v", w.In(), d, mf.Bias)
	}
	b := &builder{dt: dt}
	x := InputName
	if st := mf.Standardize; st != nil {
		if len(st.XMean) != d || len(st.XSD) != d {
			return nil, fmt.Errorf("standardization of %d and %d features for d = %d", len(st.XMean), len(st.XSD), d)
		}
		// predict's msg.Affine.Row: (x_j - mean_j) * (1 / sd_j).
		scale := make([]float64, d)
		for j, v := range st.XSD {
			scale[j] = 1 / v
		}
		x = b.op("Sub", "x_centred", x, b.constant("x_mean", st.XMean, d))
		x = b.op("Mul", "x_standardized", x, b.constant("x_scale", scale, d))
	}

	// The hidden layers: h_l = relu(h_{l-1} W_l^T), the bias feature's
	// column of W_1 added as a bias.
	h := x
	for l := 1; l <= w.Layers(); l++ {
		wl, in, units := w.W[l-1], w.Dims[l-1], w.Dims[l]
		if l == 1 && kind == model.ResNet {
			wl = model.Spec{Kind: kind, D: in, K: units}.Effective(wl)
		}
		cols := in
		if l == 1 && mf.Bias {
			cols = in - 1
		}
		ls := strconv.Itoa(l)
		z := b.op("MatMul", "z"+ls+"_weights", h, b.constant("W"+ls+"_t", transpose(wl, units, in, cols), cols, units))
		if cols < in {
			bias := make([]float64, units)
			for q := range bias {
				bias[q] = wl[q*in+cols]
			}
			z = b.op("Add", "z"+ls, z, b.constant("b"+ls, bias, units))
		}
		h = b.op("Relu", "h"+ls, z)
	}
	// The output signs and the linear term are matrices of one column,
	// not vectors: a MatMul by a vector of one element is a scalar to
	// gonnx's tensors, which it refuses.
	out := b.op("MatMul", "network", h, b.constant("signs", w.V, len(w.V), 1))

	// The linear term s . x (x with the bias feature: + its last weight).
	if w.Skip != nil {
		s := w.Skip[:d]
		lin := b.op("MatMul", "linear_weights", x, b.constant("linear", s, d, 1))
		if len(w.Skip) > d {
			lin = b.op("Add", "linear_term", lin, b.constant("linear_bias", w.Skip[d:], 1))
		}
		out = b.op("Add", "network_linear", out, lin)
	}
	if st := mf.Standardize; st != nil {
		// predict: yhat / (1 / sd_y) + mean_y.
		out = b.op("Div", "y_unscaled", out, b.constant("y_scale", []float64{1 / st.YSD}, 1))
		out = b.op("Add", "y_shifted", out, b.constant("y_mean", []float64{st.YMean}, 1))
	}
	// [N, 1] to [N].
	b.inits = append(b.inits, tensorProto{name: "y_shape", dims: []int64{1}, dataType: dataTypeInt64, int64s: []int64{-1}})
	b.op("Reshape", OutputName, out, "y_shape")
	if b.err != nil {
		return nil, b.err
	}
	return &modelProto{
		irVersion:       IRVersion,
		producerName:    "altmin",
		producerVersion: job.Version,
		docString:       describe(mf, w, dt),
		graph: graphProto{
			name:         "altmin_" + mf.Model,
			nodes:        b.nodes,
			initializers: b.inits,
			inputs:       []valueInfoProto{b.valueInfo(InputName, dimension{param: "N"}, dimension{value: int64(d)})},
			outputs:      []valueInfoProto{b.valueInfo(OutputName, dimension{param: "N"})},
		},
		opsetVersion: Opset,
	}, nil
}

// describe returns the model's doc string: what the graph computes.
func describe(mf *job.ModelFile, w *model.Net, dt DType) string {
	return fmt.Sprintf("altmin %s model: %d features, hidden widths %v, bias %v, linear term %v, standardized %v; input %s [N, %d] of raw features, output %s [N] of predictions in the label's units, %s",
		mf.Model, mf.D, w.Dims[1:], mf.Bias, w.Skip != nil, mf.Standardize != nil, InputName, mf.D, OutputName, dt)
}

// transpose returns the rows x cols' matrix of the first cols columns of
// the row-major rows x stride matrix a, transposed: cols x rows.
func transpose(a []float64, rows, stride, cols int) []float64 {
	t := make([]float64, cols*rows)
	for q := 0; q < rows; q++ {
		for j := 0; j < cols; j++ {
			t[j*rows+q] = a[q*stride+j]
		}
	}
	return t
}

// builder collects the nodes and initializers of a graph of one element
// type.
type builder struct {
	dt    DType
	nodes []nodeProto
	inits []tensorProto
	err   error // the first value beyond the element type's range
}

// elemType returns the ONNX element type of b's tensors.
func (b *builder) elemType() int32 {
	if b.dt == Float32 {
		return dataTypeFloat
	}
	return dataTypeDouble
}

// op appends the node op(in...) with the one output out, and returns out.
func (b *builder) op(op, out string, in ...string) string {
	b.nodes = append(b.nodes, nodeProto{opType: op, name: out, inputs: in, outputs: []string{out}})
	return out
}

// constant appends an initializer of the values v and shape dims, and
// returns its name. Values are stored little-endian in raw_data, as
// float64 or rounded to float32.
func (b *builder) constant(name string, v []float64, dims ...int) string {
	t := tensorProto{name: name, dataType: b.elemType()}
	for _, n := range dims {
		t.dims = append(t.dims, int64(n))
	}
	if b.dt == Float32 {
		t.raw = make([]byte, 4*len(v))
		for i, x := range v {
			f := float32(x)
			if math.IsInf(float64(f), 0) && b.err == nil {
				b.err = fmt.Errorf("%s[%d] = %v is beyond the float32 range; export as float64", name, i, x)
			}
			binary.LittleEndian.PutUint32(t.raw[4*i:], math.Float32bits(f))
		}
	} else {
		t.raw = make([]byte, 8*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint64(t.raw[8*i:], math.Float64bits(x))
		}
	}
	b.inits = append(b.inits, t)
	return name
}

// valueInfo returns the type of a graph input or output of b's element
// type and the shape dims.
func (b *builder) valueInfo(name string, dims ...dimension) valueInfoProto {
	return valueInfoProto{name: name, elemType: b.elemType(), dims: dims}
}
