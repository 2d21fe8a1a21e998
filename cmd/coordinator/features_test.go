package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"altmin/job"
)

// TestFeaturesCLI: train --features chooses and orders the feature
// columns, leaving a text column out, and records them in model.json;
// predict reads them by name; a malformed list is a usage error.
func TestFeaturesCLI(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("id,name,a,b,price\n")
	for i := range 300 {
		x1, x2 := float64(i%37)*10, float64(i%11)/100
		fmt.Fprintf(&b, "%d,house %d,%v,%v,%v\n", i, i, x1, x2, 1000+2*x1+5000*x2*x2+float64(i%7))
	}
	csv := filepath.Join(dir, "t.csv")
	if err := os.WriteFile(csv, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "model")
	err, _, _ := runCLI(t, "train", "--data", csv, "--label", "price", "--features", "b, a", "--k", "2", "--iters", "3", "--out", model, "--local-shards", "0")
	if err != nil {
		t.Fatal(err)
	}
	mf, _, err := job.LoadModel(model)
	if err != nil || !slices.Equal(mf.Features, []string{"b", "a"}) {
		t.Fatalf("model.json features %v, %v; want [b a]", mf.Features, err)
	}
	err, stdout, _ := runCLI(t, "predict", "--model", model, "--data", csv, "--out", filepath.Join(dir, "y.npy"))
	if err != nil || !strings.Contains(stdout, "wrote 300 predictions") {
		t.Errorf("predict: %v %q", err, stdout)
	}
	err, _, _ = runCLI(t, "train", "--data", csv, "--label", "price", "--k", "2", "--out", filepath.Join(dir, "m2"), "--local-shards", "0")
	if !strings.Contains(fmt.Sprint(err), `column "name"`) || exitCode(err) != 1 {
		t.Errorf("a text column among the features: %v", err)
	}
	err, _, _ = runCLI(t, "train", "--data", csv, "--label", "price", "--features", "a,,b", "--out", filepath.Join(dir, "m3"))
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--features") || exitCode(err) != 2 {
		t.Errorf("--features a,,b: %v", err)
	}
}
