package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"altmin/bench"
)

func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("coordinator bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "small sizes (a smoke run of a few seconds)")
	reps := fs.Int("reps", 3, "repetitions of each timing; the median is reported")
	only := fs.String("case", "", "run only the cases of this name (target, k-sweep, n-sweep, overhead), or comm: the communication benchmark (docs/PERFORMANCE.md)")
	shardBin := fs.String("shard-bin", "", "with --case comm: the shard binary, to time iterations through 3 shard processes too")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *reps < 1 {
		return fmt.Errorf("%w: --reps %d: need >= 1", errUsage, *reps)
	}
	if *only == "comm" {
		return bench.RunComm(ctx, bench.CommConfig{Iters: *reps, ShardBin: *shardBin, Quick: *quick}, stdout)
	}
	if *shardBin != "" {
		return fmt.Errorf("%w: --shard-bin is for --case comm", errUsage)
	}
	cases := bench.Standard()
	if *quick {
		cases = bench.Quick()
	}
	if *only != "" {
		var sel []bench.Case
		names := map[string]bool{}
		for _, c := range cases {
			names[c.Name] = true
			if c.Name == *only {
				sel = append(sel, c)
			}
		}
		if len(sel) == 0 {
			return fmt.Errorf("%w: --case %q: no such case (have %s)", errUsage, *only, strings.Join(slices.Sorted(maps.Keys(names)), ", "))
		}
		cases = sel
	}
	_, err := bench.Run(ctx, cases, *reps, stdout)
	return err
}
