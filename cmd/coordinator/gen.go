package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"altmin/data"
	"altmin/job"
)

// genCmd writes planted data as .npy files, for training from files (and
// streaming them: --resident) at sizes that are generated once.
func genCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("coordinator gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	synth := fs.String("synthetic", "", "planted data of a 1-hidden-layer model, e.g. model=sum,d=20,k=4,n=1000000,seed=1,dtype=float32 (required)")
	out := fs.String("out", "", "directory to write X.npy, y.npy, truth.npy and signs.npy into (required; created if missing)")
	dtype := fs.String("dtype", "", "dtype of X.npy: float64 or float32 (default: float32 for dtype=float32 data, else float64; float32 needs dtype=float32 data)")
	overwrite := fs.Bool("overwrite", false, "replace X.npy, y.npy, truth.npy and signs.npy in --out when they exist")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *synth == "" || *out == "" {
		return fmt.Errorf("%w: --synthetic and --out are required", errUsage)
	}
	src, err := data.ParseSynthetic(*synth)
	if err != nil {
		return fmt.Errorf("%w: --synthetic: %v", errUsage, err)
	}
	f32 := src.DType == "float32"
	switch *dtype {
	case "":
	case "float64":
		f32 = false
	case "float32":
		if !f32 {
			return fmt.Errorf("%w: --dtype float32 needs float32 features: add dtype=float32 to --synthetic", errUsage)
		}
	default:
		return fmt.Errorf("%w: --dtype %q: want float64 or float32", errUsage, *dtype)
	}
	xp, yp := filepath.Join(*out, "X.npy"), filepath.Join(*out, "y.npy")
	tp, sp := filepath.Join(*out, "truth.npy"), filepath.Join(*out, "signs.npy")
	for _, p := range []string{xp, yp, tp, sp} {
		if err := job.CheckOutput("--out", p, *overwrite); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	start := time.Now()
	if err := data.WriteSourceContext(ctx, xp, yp, src, f32); err != nil {
		return err
	}
	spec, w := src.Teacher()
	if err := data.WriteNPY(tp, w, spec.K, spec.D); err != nil {
		return err
	}
	if err := data.WriteNPY(sp, spec.Signs, spec.K); err != nil {
		return err
	}
	info := src.Info()
	fmt.Fprintf(stdout, "wrote %s (%d x %d, %s), %s, %s (teacher %d x %d), %s in %.1f s\n",
		xp, info.N, info.D, map[bool]string{false: "float64", true: "float32"}[f32], yp, tp, spec.K, spec.D, sp, time.Since(start).Seconds())
	fmt.Fprintf(stdout, "train on them: coordinator train --model %s --k %d --signs %s --data %s --labels %s --truth %s\n",
		spec.Kind, spec.K, sp, xp, yp, tp)
	return nil
}
