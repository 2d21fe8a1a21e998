// Package fleet fetches partition statistics from a cluster of shard
// processes: it implements coordinator.Fetcher on top of the membership view
// (package cluster) and the gRPC data plane (package transport).
//
// For each partition it asks one live replica. When that replica fails (a
// connection error, memberlist declaring it dead, or the per-call deadline
// passing) it asks another replica within the same iteration; a replica
// that has not answered after HedgeAfter is backed up by a second one, and
// the first valid answer wins. Answers are idempotent by (iteration,
// partition): every replica holds the same rows and computes the same bits,
// so which one answers never changes the result. When no live shard holds a
// partition, Fetch waits up to RejoinTimeout for one to (re)join, then fails
// with an error naming the partition and the shards that held it.
//
// The moment passes of the tensor initialization (Fetcher.Moments12,
// Fetcher.Moment4, and MomentSource, a tensorinit.MomentSource over them)
// go through the same replica selection, failover, hedging and rejoin
// wait; a shard that does not implement them (errors.ErrUnsupported) is not
// asked again, and when no holder of a partition implements them the call
// fails at once.
package fleet
