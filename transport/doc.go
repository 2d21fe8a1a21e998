// Package transport is the gRPC data plane between the coordinator and the
// shards: a Server that exposes a shard.Engine as the Shard service of
// proto/altmin/v1/altmin.proto, and a Client that calls it and hands back
// plain shard.Stats.
//
// The wire format is versioned (ProtocolVersion); both sides refuse a
// version outside [MinProtocolVersion, MaxProtocolVersion] with a message
// stating the supported range. The server answers in the request's
// version; the client sends ProtocolVersion and falls back to version 1
// for a shard that refuses it naming version 1 as its newest (a shard
// built before version 2). Version 2 differs only in Step replies, whose
// Gram values travel as raw little-endian bytes (gram_le), decoded and
// checked in one pass straight into the result, instead of packed doubles.
// A Step call carries one (iteration, partition) and the id of the shard
// it is meant for; its reply is the partition's statistics streamed in
// chunks of at most ChunkBytes. The client reassembles them and rejects
// anything that is not exactly the statistics it asked for: a reply of
// another iteration, partition or shard, wrong sizes, gaps or overlaps
// between chunks, malformed gram_le, NaN or Inf values, or a stream that
// ends early. Every such rejection wraps one of the sentinel errors of this
// package together with the shard, partition and iteration. The statistics
// it returns are marked as checked (shard.Stats.MarkFiniteChecked), so the
// coordinator's core does not read the Gram matrix again to validate it.
//
// Sizes: m = d*k unknowns are limited to MaxM (8192). A request carries
// 2m + k doubles (at most 192 KiB, far below gRPC's default 4 MiB receive
// limit); the practical limit is the reply, the packed Gram matrix of
// m(m+1)/2 doubles (268 MB at m = 8192) per partition and iteration, which
// both ends must hold in memory and the coordinator must sum and factor.
//
// The moment passes of the tensor initialization, Moments12 and Moment4,
// follow the same rules (shard id, version, partition echoed, streamed
// chunks checked the same way); d is limited to MaxMomentD and a
// projection or baseline factor to MaxProjection values. A shard built
// before them answers UNIMPLEMENTED, returned as an error that wraps
// errors.ErrUnsupported and names the shard.
//
// Conversion between protobuf messages and package shard's types happens in
// convert.go only; nothing outside this package sees protobuf types.
//
// The package does no TLS and no membership: credentials come in through
// the grpc.ServerOption and grpc.DialOption values the caller passes.
package transport
