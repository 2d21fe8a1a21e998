// Package fleet fetches partials from a cluster of shard processes: its
// Fetcher implements msg.Fetcher, for every kind of request (package msg:
// the statistics of an iteration or of a deep network's solve step, the
// moment sums of the tensor initialization), on top of a membership view
// (View) and a Caller that asks one shard for one span of partitions (the
// gRPC data plane in production, Engines in process).
//
// A round asks for spans of partitions (msg.Span, nodes of the reduction
// tree): the Fetcher's Plan cuts the missing partitions into the largest
// aligned ranges a live shard holds whole, about one per shard, each to
// its least loaded holder. A span's fetch asks only shards holding all of
// its partitions and does not wait for one to rejoin: when none is left to
// ask it fails at once, and the round (round.Gather) asks for its halves,
// down to single partitions, which are fetched as follows.
//
// For each partition the Fetcher asks one live replica, in the order of
// Holders. When that replica fails (an error, the membership view dropping
// it, or the per-call deadline CallTimeout passing, which cancels the
// call's context) it asks the next one; a replica that has not answered
// after HedgeAfter is backed up by the next one, and the first answer
// without error wins. Answers are idempotent by (request, span): every
// replica holds the same rows and computes the same bits, so which one
// answers never changes the result. Replicas that failed but are still
// listed alive are asked again after RetryDelay. When no live shard holds a
// partition, a fetch waits up to RejoinTimeout for one to (re)join, then
// fails with an error wrapping msg.ErrUnavailable that names the partition,
// the shards that held it and the last error. A shard that does not
// implement the request's kind (errors.ErrUnsupported) is not asked again,
// and when no live holder implements it the fetch fails at once; a shard
// that cannot read the partition's data (msg.ErrData) is not asked again,
// and when no live holder can read it the fetch fails at once with that
// error, which is not msg.ErrUnavailable.
//
// The decisions (whom to ask, when to give up, with which error) are made
// by a pure state machine (replicas.go) that sees no goroutine and no
// clock; Fetch is the small loop that starts the calls, arms one timer for
// the machine's next timed event and feeds it answers, timer ticks and
// membership changes. Every duration is measured on Config.Clock: the wall
// clock by default, a fake clock in the tests (fakeclock_test.go), which
// moves only when told to.
//
// Config.Metrics, when set, counts the failovers, hedges and rejoin waits
// and times each answer by shard, on Config.Clock; it only observes.
//
// For tests and fault drills, Engines is an in-memory Caller over msg
// Fetchers (such as shard engines), and Hook, FailNth, FailWhen, BlockWhen
// and Drop are fault decorators that compose over any Caller. StaticView
// is a membership view set by hand.
package fleet
