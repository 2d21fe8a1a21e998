package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"altmin/job"
	"altmin/onnxexport"
)

// exportCmd writes a trained model as a file another runtime can apply:
// for now an ONNX graph (package onnxexport, docs/EXPORT.md).
func exportCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("coordinator export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("model", "", "trained model directory (required)")
	format := fs.String("format", "onnx", "file format: onnx (opset 13; docs/EXPORT.md)")
	out := fs.String("out", "", "output file, e.g. model.onnx (required)")
	dtype := fs.String("dtype", string(onnxexport.Float64), "element type of the graph's input, weights and output: float64 (ONNX double; agrees with predict to about 1e-15) or float32 (ONNX float, for runtimes without double kernels)")
	var overwrite bool
	fs.BoolVar(&overwrite, "overwrite", false, "replace an existing --out (never a file of --model)")
	fs.BoolVar(&overwrite, "force", false, "the former name of --overwrite")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *dir == "" || *out == "":
		return fmt.Errorf("%w: export needs --model and --out", errUsage)
	case *format != "onnx":
		return fmt.Errorf("%w: --format %q: the only format is onnx", errUsage, *format)
	}
	dt, err := onnxexport.ParseDType(*dtype)
	if err != nil {
		return fmt.Errorf("%w: --dtype: %v", errUsage, err)
	}
	if err := job.CheckOutput("--out", *out, overwrite, job.ModelInputs("--model", *dir)...); err != nil {
		return fmt.Errorf("export of model %s: %w", *dir, err)
	}
	b, err := onnxexport.Export(*dir, dt)
	if err != nil {
		return err
	}
	if err := writeNew(*out, b, overwrite); err != nil {
		return fmt.Errorf("export of model %s: %w", *dir, err)
	}
	fmt.Fprintf(stdout, "wrote %s (ONNX opset %d, %s, %d bytes): input %q [N, d] of raw features, output %q [N] of predictions\n",
		*out, onnxexport.Opset, dt, len(b), onnxexport.InputName, onnxexport.OutputName)
	return nil
}

// writeNew writes b to the file path, which must not exist unless
// overwrite.
func writeNew(path string, b []byte, overwrite bool) error {
	mode := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if overwrite {
		mode = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, mode, 0o644)
	if errors.Is(err, os.ErrExist) { // created since CheckOutput looked
		return fmt.Errorf("%w: --out %s exists; give --overwrite to replace it", job.ErrOutput, path)
	}
	if err != nil {
		return err
	}
	_, werr := f.Write(b)
	if err := errors.Join(werr, f.Close()); err != nil {
		os.Remove(path)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
