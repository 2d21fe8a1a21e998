package transport

import (
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"altmin/msg"
)

// ProtocolVersion is the version of the wire format this package speaks,
// and the only one: a peer of another version is refused with an error
// naming both. Version 3 has one call, Compute, for every kind of request.
const ProtocolVersion = 3

// Sizes of the wire format. The limits of the requests themselves (msg.MaxM
// and the others) are checked by msg.Request.Validate on both sides.
const (
	// ChunkBytes bounds the serialized size of one Chunk.
	ChunkBytes = 1 << 20

	// ChunkDoubles is the number of payload values put in one chunk:
	// 960,000 bytes, leaving more than 80 KiB of ChunkBytes for the
	// header of the first chunk and the tags and lengths.
	ChunkDoubles = 120000

	// MaxShardIDLen bounds the length of a shard id in bytes, so the header
	// chunk stays within ChunkBytes.
	MaxShardIDLen = 256
)

// Sentinel errors. Errors returned by the Client wrap one of them (or one of
// msg's: msg.ErrRequest, msg.ErrTooLarge, msg.ErrData) together with the
// shard, partition and round; test with errors.Is. Errors that come from
// the server also keep their gRPC status: status.Code(err) gives the code.
var (
	// ErrBadReply: a reply is malformed: missing or repeated header, a
	// header of another kind or shape than the request, chunk offsets
	// with gaps or overlaps, NaN or Inf values, or a stream that ends
	// early.
	ErrBadReply = errors.New("transport: malformed reply")
	// ErrStale: a reply names another round or partition than the request
	// (a stale or misrouted reply).
	ErrStale = errors.New("transport: reply for another round or partition")
	// ErrWrongShard: the reply comes from another shard than expected, or
	// the server refused a request meant for another shard.
	ErrWrongShard = errors.New("transport: wrong shard")
	// ErrVersion: the peer speaks another protocol version.
	ErrVersion = errors.New("transport: unsupported protocol version")
	// ErrSchema: two shards describe different data sets, or a schema is
	// inconsistent.
	ErrSchema = errors.New("transport: incompatible schema")
)

// Error details attached to FailedPrecondition, InvalidArgument and
// DataLoss statuses, so the client maps them back to sentinels without
// matching strings.
const (
	errDomain        = "altmin.v1"
	reasonVersion    = "UNSUPPORTED_PROTOCOL_VERSION"
	reasonWrongShard = "WRONG_SHARD"
	reasonTooLarge   = "TOO_LARGE"
	reasonData       = "DATA_UNREADABLE"
)

// versionError is the error about a peer of version v.
func versionError(who string, v uint32) error {
	return fmt.Errorf("%w: %s speaks protocol version %d, this node %d", ErrVersion, who, v, ProtocolVersion)
}

// statusWithReason returns a status error carrying an ErrorInfo detail
// with this node's protocol version.
func statusWithReason(c codes.Code, reason, msg string) error {
	st := status.New(c, msg)
	md := map[string]string{"protocol_version": strconv.Itoa(ProtocolVersion)}
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: errDomain, Metadata: md}); err == nil {
		st = d
	}
	return st.Err()
}

// fromStatus maps a status error carrying one of this package's reasons to
// an error that wraps the matching sentinel and still carries the status.
// UNIMPLEMENTED is the answer of a shard without the Compute call, one of
// an older protocol version.
func fromStatus(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	if st.Code() == codes.Unimplemented {
		return fmt.Errorf("%w: the shard does not implement the Compute call of protocol version %d (it speaks an older version; upgrade it): %w: %w",
			ErrVersion, ProtocolVersion, errors.ErrUnsupported, err)
	}
	for _, d := range st.Details() {
		ei, ok := d.(*errdetails.ErrorInfo)
		if !ok || ei.GetDomain() != errDomain {
			continue
		}
		switch ei.GetReason() {
		case reasonVersion:
			return fmt.Errorf("%w: %w", ErrVersion, err)
		case reasonWrongShard:
			return fmt.Errorf("%w: %w", ErrWrongShard, err)
		case reasonTooLarge:
			return fmt.Errorf("%w: %w", msg.ErrTooLarge, err)
		case reasonData:
			return fmt.Errorf("%w: %w", msg.ErrData, err)
		}
	}
	return err
}

// clip shortens a string from the network for an error message.
func clip(s string) string {
	if len(s) > MaxShardIDLen {
		return s[:MaxShardIDLen] + "..."
	}
	return s
}
