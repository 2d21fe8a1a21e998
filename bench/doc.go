// Package bench measures the per-iteration cost of alternating minimization
// on planted data: the statistics pass over the partitions, the solve, and
// the whole iteration in process or through shards over gRPC, against a
// dense baseline that forms B explicitly and calls a BLAS SYRK. It backs
// `coordinator bench`; the figures go to docs/PERFORMANCE.md.
package bench
