// Package experiment reproduces and extends the experiments of the papers
// the project implements (see /work/shared/PAPER.md): the phase transition
// of the skip (resnet) model against the number of samples, the loss
// against iteration of alternating minimization (AM) and gradient descent
// (GD), the sample complexity of the 1-hidden-layer model against the
// n ~ d k^2 law, and (RunDeep, a wrapper of deep.RunExperiment that adds a
// summary table and a plot) the deeper networks of docs/DEEP.md.
//
// Every trial runs the trainer's own distributed path in process: the
// problem is built by job.Prepare (planted data, teacher and start exactly
// as `coordinator train --synthetic ... --init ... --seed ...` builds them),
// the rows are split into partitions held by a shard.Engine, and a
// coordinator.Core is driven to completion by a coordinator.Driver through a
// coordinator.LocalFetcher, so partition statistics are reduced in partition
// order as in any deployment. Nothing here reimplements the method.
//
// Reproducibility: trial t of an experiment with base seed S draws its data
// (teacher and rows) from seed DataSeed(S, t) and its random start from
// InitSeed(S, t); every seed is written to the per-trial CSV, so any single
// trial can be rerun with `coordinator train`. Trials run in parallel
// goroutines (bounded by Parallel) but are computed independently and
// collected in trial order, so every output file is bit-identical whatever
// the parallelism. Wall times go to the progress writer only, never into
// the result files.
//
// Each experiment has a Config with Default and Quick presets and a
// Validate method, a Run function returning a result value, and a Write
// method producing NAME.csv (machine-readable), NAME.md (a Markdown table
// with the paper's numbers beside ours) and NAME.png (a plot) in a
// directory.
package experiment
