// Package experiment reproduces and extends the experiments of Jagatap and
// Hegde's papers on learning ReLU networks by alternating minimization:
//
//   - phase (RunPhase): the phase transition of the skip (resnet) model,
//     success rate against the number of samples, for alternating
//     minimization (AM) and gradient descent (GD) from the identity and
//     from a random start (ISIT 2019, Fig. 1a);
//   - curve (RunCurve): the training and held-out loss against iteration
//     of AM and GD from the same start (ISIT 2019, Fig. 1b);
//   - samples (RunSamples): the smallest n with a given recovery rate of
//     the 1-hidden-layer model against d and k, beside the n ~ d k^2 law;
//   - deep (RunDeep): networks of L >= 2 hidden layers (coordinator.Deep)
//     on planted teachers (data.DeepTeacher) from perturbed and random
//     starts, under its schedules; see docs/DEEP.md.
//
// Every run goes through the trainer's own distributed path in process:
// the rows are split into partitions held by a shard.Engine, which is the
// msg.Fetcher of a coordinator.Driver running the model family's core
// (coordinator.Shallow or coordinator.Deep), so partition statistics are
// added in the reduction tree as in any deployment. Nothing here
// reimplements the method. A 1-hidden-layer trial (RunTrial) builds its
// problem with job.Prepare (planted data, teacher and start exactly as
// `coordinator train --synthetic ... --init ... --seed ...` builds them).
//
// Reproducibility: trial t of a 1-hidden-layer experiment with base seed S
// draws its data (teacher and rows) from seed DataSeed(S, t) and its
// random start from InitSeed(S, t); trial t of the deep experiment uses
// seed S+t for its teacher, its rows and its start. Every seed is written
// to the per-trial or per-step CSV, so any single trial can be rerun.
// Trials run in parallel goroutines (bounded by Parallel) but are computed
// independently and collected in a fixed order, so every output file is
// bit-identical whatever the parallelism. Wall times go to the progress
// writer only, never into the result files.
//
// Each experiment has a Config with Default and Quick presets and a
// Validate method, a Run function returning a result value, and a Write
// method producing NAME.csv (machine-readable), NAME.md (Markdown tables,
// with the paper's numbers beside ours where the paper reports them) and
// NAME.png (a plot) in a directory; `coordinator experiment NAME` runs them
// from the command line. docs/REPRODUCTION.md and docs/DEEP.md hold the
// results and the commands that made them.
//
// PlotConvergence draws the convergence of any training run from its
// metrics.jsonl with the same plotting code (`coordinator plot`).
package experiment
