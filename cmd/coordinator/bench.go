package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"altmin/bench"
)

func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("coordinator bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "small sizes (a smoke run of a few seconds)")
	reps := fs.Int("reps", 3, "repetitions of each timing; the median is reported")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *reps < 1 {
		return fmt.Errorf("%w: --reps %d: need >= 1", errUsage, *reps)
	}
	cases := bench.Standard()
	if *quick {
		cases = bench.Quick()
	}
	_, err := bench.Run(ctx, cases, *reps, stdout)
	return err
}
