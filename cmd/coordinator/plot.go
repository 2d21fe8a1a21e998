package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"altmin/experiment"
	"altmin/job"
)

// plotCmd draws the convergence of a training run from the metrics.jsonl
// of its model directory into a PNG (experiment.PlotConvergence). It
// reads the metrics only, so it also plots a run still in progress.
func plotCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("coordinator plot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("model", "", "model directory of a training run, with its metrics.jsonl (required)")
	out := fs.String("out", "", "output PNG file (default: DIR/convergence.png)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("%w: --model DIR is required", errUsage)
	}
	if st, err := os.Stat(*dir); err != nil {
		return fmt.Errorf("%w: --model: %v", job.ErrOptions, err)
	} else if !st.IsDir() {
		return fmt.Errorf("%w: --model %s is not a directory", job.ErrOptions, *dir)
	}
	ms, err := job.ReadMetrics(*dir)
	if err != nil {
		return err
	}
	path := *out
	if path == "" {
		path = filepath.Join(*dir, "convergence.png")
	}
	title := fmt.Sprintf("%s: %d iterations", filepath.Base(filepath.Clean(*dir)), len(ms))
	if err := experiment.PlotConvergence(path, title, ms); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", path)
	return nil
}
