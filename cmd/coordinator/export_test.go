package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"altmin/onnxexport"
)

// TestExportCLI: coordinator export writes the model's ONNX graph (the
// bytes of onnxexport.Export), refuses to overwrite a file without
// --overwrite (or its former name --force), and names the model directory
// and the problem in its errors.
func TestExportCLI(t *testing.T) {
	dir := trainSmall(t)
	out := filepath.Join(t.TempDir(), "model.onnx")
	err, stdout, stderr := runCLI(t, "export", "--model", dir, "--format", "onnx", "--out", out)
	if err != nil {
		t.Fatalf("export: %v\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "wrote "+out) {
		t.Errorf("export output %q does not name the file", stdout)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := onnxexport.Export(dir, onnxexport.Float64)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s: %d bytes, not the %d of onnxexport.Export", out, len(got), len(want))
	}

	// An existing --out: refused, left as it is; replaced with --force (the former name of --overwrite).
	if err := os.WriteFile(out, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	err, _, _ = runCLI(t, "export", "--model", dir, "--out", out)
	if err == nil || !strings.Contains(err.Error(), out) || !strings.Contains(err.Error(), "--overwrite") || exitCode(err) != 1 {
		t.Errorf("export over an existing file: err = %v (exit %d)", err, exitCode(err))
	}
	if b, _ := os.ReadFile(out); string(b) != "keep" {
		t.Errorf("the refused export changed %s", out)
	}
	if err, _, _ := runCLI(t, "export", "--model", dir, "--out", out, "--force", "--dtype", "float32"); err != nil {
		t.Fatalf("export --force: %v", err)
	}
	want32, err := onnxexport.Export(dir, onnxexport.Float32)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); !bytes.Equal(b, want32) {
		t.Errorf("export --force --dtype float32 did not write the float32 graph")
	}

	// Usage errors (exit 2), naming the flag's value.
	for _, c := range []struct {
		args []string
		name string
	}{
		{[]string{"export", "--model", dir, "--out", out, "--format", "tflite"}, `"tflite"`},
		{[]string{"export", "--model", dir, "--out", out, "--dtype", "float16"}, `"float16"`},
		{[]string{"export", "--out", out}, "--model"},
		{[]string{"export", "--model", dir}, "--out"},
	} {
		err, _, _ := runCLI(t, c.args...)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), c.name) {
			t.Errorf("%q: err = %v, want a usage error naming %s", c.args, err, c.name)
		}
	}

	// A directory without a model: the directory is named, nothing is
	// written.
	missing := filepath.Join(t.TempDir(), "nomodel")
	fresh := filepath.Join(t.TempDir(), "fresh.onnx")
	err, _, _ = runCLI(t, "export", "--model", missing, "--out", fresh)
	if err == nil || !strings.Contains(err.Error(), missing) || exitCode(err) != 1 {
		t.Errorf("export of %s: err = %v (exit %d)", missing, err, exitCode(err))
	}
	if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed export left %s: %v", fresh, err)
	}
}
