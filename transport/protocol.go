package transport

import (
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"altmin/shard"
)

// Protocol versions. A peer speaks every version in
// [MinProtocolVersion, MaxProtocolVersion]. A Client sends ProtocolVersion
// until a shard refuses it naming an older version this package speaks
// (a shard built before ProtocolVersion), then that version to that shard;
// a Server answers a request in the request's version.
//
// Version 2 differs from version 1 in Step replies only: their Gram values
// travel as raw little-endian bytes (StepChunk.gram_le, see
// GramBytesVersion) instead of packed doubles (StepChunk.gram).
const (
	ProtocolVersion    = 2
	MinProtocolVersion = 1
	MaxProtocolVersion = 2

	// GramBytesVersion is the first version whose Step replies carry the
	// Gram values in StepChunk.gram_le.
	GramBytesVersion = 2
)

// Size limits of the wire format.
const (
	// MaxM is the largest number of unknowns m = d*k accepted by the server
	// and the client. Its Gram matrix is m(m+1)/2 doubles: 268 MB at 8192.
	// A request of that size is 2m + k doubles, about 192 KiB.
	MaxM = 8192

	// ChunkBytes bounds the serialized size of one StepChunk.
	ChunkBytes = 1 << 20

	// ChunkDoubles is the number of doubles (Gram values, plus the rhs in
	// the first chunk) put in one chunk: 960,000 bytes of payload, leaving
	// more than 80 KiB of ChunkBytes for tags, lengths and header fields.
	ChunkDoubles = 120000

	// MaxShardIDLen bounds the length of a shard id in bytes, so the header
	// chunk stays within ChunkBytes.
	MaxShardIDLen = 256

	// MaxMomentD is the largest number of features per row d (bias
	// included) of a moment pass (Moments12, Moment4), as Step allows. The
	// order-2 reply is d(d+1)/2 doubles, streamed like a Gram matrix
	// (268 MB at 8192); its header carries 2d doubles (128 KiB).
	MaxMomentD = MaxM

	// MaxProjection bounds d*k, the values of a Moment4 projection V, and
	// d*r, those of a baseline's quadratic factor L. With k <= d it keeps
	// k <= 128, so the fourth moment has at most C(131, 4) = 11.7 million
	// doubles (94 MB, streamed), and a request below 400 KiB. It is twice
	// MaxM because the tensor initialization may project on 2k directions.
	MaxProjection = 2 * MaxM
)

// Sentinel errors. Errors returned by the Client wrap one of them together
// with the shard, partition and iteration; test with errors.Is. Errors that
// come from the server also keep their gRPC status: status.Code(err) gives
// the code.
var (
	// ErrBadReply: a reply is malformed: missing or repeated header, chunk
	// offsets with gaps or overlaps, sizes that do not match the request,
	// NaN or Inf values, or a stream that ends early.
	ErrBadReply = errors.New("transport: malformed reply")
	// ErrStale: a reply names another iteration or partition than the
	// request (a stale or misrouted reply).
	ErrStale = errors.New("transport: reply for another iteration or partition")
	// ErrWrongShard: the reply comes from another shard than expected, or
	// the server refused a request meant for another shard.
	ErrWrongShard = errors.New("transport: wrong shard")
	// ErrVersion: the peer does not speak a supported protocol version.
	ErrVersion = errors.New("transport: unsupported protocol version")
	// ErrTooLarge: the problem has more than MaxM unknowns.
	ErrTooLarge = errors.New("transport: too many unknowns")
	// ErrSchema: two shards describe different data sets, or a schema is
	// inconsistent.
	ErrSchema = errors.New("transport: incompatible schema")
)

// Error details attached to FailedPrecondition, InvalidArgument and
// DataLoss statuses, so the client maps them back to sentinels without matching
// strings.
const (
	errDomain        = "altmin.v1"
	reasonVersion    = "UNSUPPORTED_PROTOCOL_VERSION"
	reasonWrongShard = "WRONG_SHARD"
	reasonTooLarge   = "TOO_MANY_UNKNOWNS"
	reasonData       = "DATA_UNREADABLE"
)

// peerMaxVersion returns the newest version a shard speaks, as stated in
// its refusal err of an unsupported version (the metadata of the ErrorInfo
// detail that statusWithReason attaches, which every version of this
// package sends), and whether err is such a refusal.
func peerMaxVersion(err error) (uint32, bool) {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.FailedPrecondition {
		return 0, false
	}
	for _, d := range st.Details() {
		ei, ok := d.(*errdetails.ErrorInfo)
		if !ok || ei.GetDomain() != errDomain || ei.GetReason() != reasonVersion {
			continue
		}
		v, err := strconv.ParseUint(ei.GetMetadata()["max_protocol_version"], 10, 32)
		if err != nil {
			return 0, false
		}
		return uint32(v), true
	}
	return 0, false
}

// supportedRange describes the versions this package speaks.
func supportedRange() string {
	return fmt.Sprintf("supported: %d..%d", MinProtocolVersion, MaxProtocolVersion)
}

// versionOK reports whether v is a supported protocol version.
func versionOK(v uint32) bool { return v >= MinProtocolVersion && v <= MaxProtocolVersion }

// statusWithReason returns a status error carrying an ErrorInfo detail.
func statusWithReason(c codes.Code, reason, msg string) error {
	st := status.New(c, msg)
	md := map[string]string{
		"min_protocol_version": strconv.Itoa(MinProtocolVersion),
		"max_protocol_version": strconv.Itoa(MaxProtocolVersion),
	}
	if reason == reasonTooLarge {
		md = map[string]string{"max_m": strconv.Itoa(MaxM)}
	}
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: errDomain, Metadata: md}); err == nil {
		st = d
	}
	return st.Err()
}

// fromStatus maps a status error carrying one of this package's reasons to
// an error that wraps the matching sentinel and still carries the status.
func fromStatus(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
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
			return fmt.Errorf("%w: %w", ErrTooLarge, err)
		case reasonData:
			return fmt.Errorf("%w: %w", shard.ErrData, err)
		}
	}
	return err
}
