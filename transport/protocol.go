package transport

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"altmin/msg"
)

// ProtocolVersion is the version of the wire format this package speaks,
// and the only one: a peer of another version is refused with an error
// naming both. Version 3 has one call, Compute, for every kind of request;
// version 4 adds revived units to the statistics request; version 5 asks
// for, and answers with, the partials of spans of partitions (msg.Span).
const ProtocolVersion = 5

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
	// ErrVersion: the peer speaks another protocol version. It is also
	// msg.ErrPermanent.
	ErrVersion = errors.New("transport: unsupported protocol version")
	// ErrAuth: the TLS handshake with the peer failed on its certificate
	// (signed by an authority not trusted, expired, of another name) or
	// ours. It is also msg.ErrPermanent.
	ErrAuth = errors.New("transport: TLS authentication failed")
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
	return permanent{fmt.Errorf("%w: %s speaks protocol version %d, this node %d", ErrVersion, who, v, ProtocolVersion)}
}

// permanent marks an error as msg.ErrPermanent without changing its text:
// asking the same peer again gives the same refusal.
type permanent struct{ error }

func (e permanent) Is(target error) bool { return target == msg.ErrPermanent }
func (e permanent) Unwrap() error        { return e.error }

// tlsRefusals are the texts of gRPC's Unavailable errors of a TLS
// handshake that failed on a certificate: ours refused by the peer (its
// alert) or the peer's refused by us. They are the same on every retry.
var tlsRefusals = []string{
	"authentication handshake failed",
	"x509: ",
	"remote error: tls: bad certificate",
	"remote error: tls: unknown certificate",
	"remote error: tls: certificate required",
	"remote error: tls: expired certificate",
	"remote error: tls: access denied",
}

// authError returns err wrapping ErrAuth and msg.ErrPermanent when it is
// an Unavailable status of a TLS handshake refused on a certificate, nil
// otherwise.
func authError(st *status.Status, err error) error {
	if st.Code() != codes.Unavailable {
		return nil
	}
	for _, s := range tlsRefusals {
		if strings.Contains(st.Message(), s) {
			return permanent{fmt.Errorf("%w: %w", ErrAuth, err)}
		}
	}
	return nil
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
	if aerr := authError(st, err); aerr != nil {
		return aerr
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
			return permanent{fmt.Errorf("%w: %w", ErrVersion, err)}
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
