// Package transport is the gRPC data plane between the coordinator and the
// shards: a Server that exposes a shard's engine (any msg.Fetcher) as the
// Shard service of proto/altmin/v1/altmin.proto, and a Client whose Call
// asks a shard for the partial of one span of partitions (one partition,
// or an aligned range the shard adds up in the reduction tree, msg.Span)
// and hands back a plain msg.Partial.
//
// One call, Compute, carries every kind of request (msg.Kind); one server
// handler serves it, one client assembler receives it, and one small
// per-kind codec (codec.go, the only place that converts between protobuf
// and Go types) says how each request travels and how each partial splits
// into a header and a payload of vectors. The payload streams as raw
// little-endian doubles in chunks of at most ChunkDoubles values at explicit
// offsets (chunks.go); the client allocates the partial from its own
// request's sizes before any value arrives, decodes every chunk straight
// into place checking each value finite, and rejects anything that is not
// exactly the partial it asked for: a reply of another kind, round,
// span or shard, wrong sizes, gaps or overlaps between chunks, NaN or
// Inf values, or a stream that ends early. Every such rejection wraps one
// of the sentinel errors of this package together with the shard, span
// and round.
//
// The wire format is versioned (ProtocolVersion); both sides refuse
// another version with an error naming both. Requests are validated on
// both sides against the limits of package msg (msg.MaxM and the others).
//
// The package does no TLS and no membership: credentials come in through
// the grpc.ServerOption and grpc.DialOption values the caller passes.
package transport
