// Package onnxexport writes trained altmin models as ONNX graphs, so that
// any ONNX runtime can make the predictions `coordinator predict` makes.
//
// The graph takes the raw features, x of shape [N, d], and returns the
// predictions in the label's units, y of shape [N]. It does what
// job.Predict does, in the same order of operations: it standardizes the
// features as model.json's "standardize" says (Sub of the means, Mul by
// the reciprocals of the standard deviations), applies every hidden layer
// (MatMul by the transposed weights, Add of the bias feature's column on
// the first layer, Relu), sums the last layer's units with their output
// signs (MatMul by a column of the signs), adds the linear term (MatMul,
// Add of its bias), turns the output back into the label's units (Div by
// the label's scale, Add of its mean) and makes the [N, 1] column a
// vector (Reshape). Resnet weights are exported with their skip
// connection added (W + I). See docs/EXPORT.md.
//
// Graphs use opset 13 and its basic operators only (MatMul, Add, Sub, Mul,
// Div, Relu, Reshape). The element type is double by default, which
// reproduces predict to about 1e-15 of the predictions' size; float is
// offered for runtimes without double kernels.
//
// The ModelProto is encoded by hand with protowire
// (google.golang.org/protobuf/encoding/protowire), by the field numbers of
// onnx.proto, so that the coordinator links no ONNX library. The tests
// decode every exported file with the generated Go types of the ONNX
// runtime gonnx (github.com/advancedclimatesystems/gonnx/onnx), run it
// with gonnx, and check it with the onnx Python package's checker.
package onnxexport
