package onnxexport

import "google.golang.org/protobuf/encoding/protowire"

// The ONNX messages an export writes, and their protobuf encoders.
//
// The messages are encoded by hand with protowire rather than with
// generated Go types of onnx.proto, which would link a copy of the ONNX
// schema (and, with gonnx's, a tensor library) into the coordinator. The
// field numbers are those of onnx.proto (github.com/onnx/onnx,
// onnx/onnx.proto), named in a comment on every line that writes one.
// As protobuf's deterministic marshalling of proto3 does, the encoders
// write the fields in the order of their numbers, and leave out a
// singular scalar field that is zero or empty, so that a model is always
// encoded to the same bytes.

// The values of TensorProto.DataType (and TypeProto.Tensor.elem_type) the
// exported graphs use.
const (
	dataTypeFloat  int32 = 1  // FLOAT, float32
	dataTypeInt64  int32 = 7  // INT64
	dataTypeDouble int32 = 11 // DOUBLE, float64
)

// modelProto is an ONNX ModelProto: one graph, importing one version of
// the default operator set.
type modelProto struct {
	irVersion       int64
	producerName    string
	producerVersion string
	docString       string
	graph           graphProto
	opsetVersion    int64 // of the default domain, ""
}

// graphProto is an ONNX GraphProto.
type graphProto struct {
	name            string
	nodes           []nodeProto // in topological order
	initializers    []tensorProto
	inputs, outputs []valueInfoProto
}

// nodeProto is an ONNX NodeProto of an operator of the default domain,
// without attributes.
type nodeProto struct {
	inputs, outputs []string
	name, opType    string
}

// tensorProto is an ONNX TensorProto whose values are either in raw (the
// raw_data of float and double tensors: little-endian, row-major) or in
// int64s (int64_data).
type tensorProto struct {
	dims     []int64
	dataType int32
	int64s   []int64
	name     string
	raw      []byte
}

// valueInfoProto is an ONNX ValueInfoProto of a tensor of the element type
// elemType and the shape dims.
type valueInfoProto struct {
	name     string
	elemType int32
	dims     []dimension
}

// dimension is an ONNX TensorShapeProto.Dimension: symbolic, named param,
// if param is not empty, and of the size value otherwise.
type dimension struct {
	value int64
	param string
}

// marshal returns the encoded ModelProto m.
func (m *modelProto) marshal() []byte {
	var b []byte
	b = appendInt(b, 1, m.irVersion)                         // ir_version
	b = appendString(b, 2, m.producerName)                   // producer_name
	b = appendString(b, 3, m.producerVersion)                // producer_version
	b = appendString(b, 6, m.docString)                      // doc_string
	b = appendMessage(b, 7, m.graph.marshal())               // graph
	return appendMessage(b, 8, marshalOpset(m.opsetVersion)) // opset_import
}

// marshalOpset returns the encoded OperatorSetIdProto of the version v of
// the default operator set: its domain (1) is "" and so left out.
func marshalOpset(v int64) []byte {
	return appendInt(nil, 2, v) // version
}

// marshal returns the encoded GraphProto g.
func (g *graphProto) marshal() []byte {
	var b []byte
	for i := range g.nodes {
		b = appendMessage(b, 1, g.nodes[i].marshal()) // node
	}
	b = appendString(b, 2, g.name) // name
	for i := range g.initializers {
		b = appendMessage(b, 5, g.initializers[i].marshal()) // initializer
	}
	for i := range g.inputs {
		b = appendMessage(b, 11, g.inputs[i].marshal()) // input
	}
	for i := range g.outputs {
		b = appendMessage(b, 12, g.outputs[i].marshal()) // output
	}
	return b
}

// marshal returns the encoded NodeProto n.
func (n *nodeProto) marshal() []byte {
	var b []byte
	for _, s := range n.inputs {
		b = appendElement(b, 1, s) // input
	}
	for _, s := range n.outputs {
		b = appendElement(b, 2, s) // output
	}
	b = appendString(b, 3, n.name)   // name
	b = appendString(b, 4, n.opType) // op_type
	return b
}

// marshal returns the encoded TensorProto t.
func (t *tensorProto) marshal() []byte {
	var b []byte
	b = appendPacked(b, 1, t.dims)         // dims
	b = appendInt(b, 2, int64(t.dataType)) // data_type
	b = appendPacked(b, 7, t.int64s)       // int64_data
	b = appendString(b, 8, t.name)         // name
	if len(t.raw) > 0 {
		b = protowire.AppendTag(b, 9, protowire.BytesType) // raw_data
		b = protowire.AppendBytes(b, t.raw)
	}
	return b
}

// marshal returns the encoded ValueInfoProto v.
func (v *valueInfoProto) marshal() []byte {
	b := appendString(nil, 1, v.name)                           // name
	return appendMessage(b, 2, marshalType(v.elemType, v.dims)) // type
}

// marshalType returns the encoded TypeProto of a tensor of the element
// type elemType and the shape dims: its TypeProto.Tensor.
func marshalType(elemType int32, dims []dimension) []byte {
	var tensor []byte
	tensor = appendInt(tensor, 1, int64(elemType))        // Tensor.elem_type
	tensor = appendMessage(tensor, 2, marshalShape(dims)) // Tensor.shape
	return appendMessage(nil, 1, tensor)                  // tensor_type
}

// marshalShape returns the encoded TensorShapeProto of the dimensions dims.
func marshalShape(dims []dimension) []byte {
	var b []byte
	for _, d := range dims {
		b = appendMessage(b, 1, d.marshal()) // dim
	}
	return b
}

// marshal returns the encoded TensorShapeProto.Dimension d. Its value is
// a oneof, written even if zero.
func (d dimension) marshal() []byte {
	if d.param != "" {
		return appendElement(nil, 2, d.param) // dim_param
	}
	b := protowire.AppendTag(nil, 1, protowire.VarintType) // dim_value
	return protowire.AppendVarint(b, uint64(d.value))
}

// appendInt appends the int32 or int64 field num of the value v, unless v
// is 0.
func appendInt(b []byte, num protowire.Number, v int64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

// appendString appends the string field num of the value s, unless s is
// empty.
func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	return appendElement(b, num, s)
}

// appendElement appends the string field num of the value s, even if
// empty: an element of a repeated field, or the member of a oneof.
func appendElement(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// appendPacked appends the repeated int64 field num of the values v,
// packed (as proto3 writes repeated scalars), unless v is empty.
func appendPacked(b []byte, num protowire.Number, v []int64) []byte {
	if len(v) == 0 {
		return b
	}
	n := 0
	for _, x := range v {
		n += protowire.SizeVarint(uint64(x))
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	for _, x := range v {
		b = protowire.AppendVarint(b, uint64(x))
	}
	return b
}

// appendMessage appends the message field num of the encoded message m,
// even if m is empty.
func appendMessage(b []byte, num protowire.Number, m []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}
