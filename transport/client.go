package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "altmin/proto/altminpb"
	"altmin/shard"
)

// Client calls one shard's Shard service. It is safe for concurrent use.
type Client struct {
	addr string
	conn *grpc.ClientConn
	rpc  pb.ShardClient

	// version is the protocol version sent: ProtocolVersion, or an older
	// one once the shard refused a newer one (see negotiate).
	version atomic.Uint32
}

// Dial returns a client for the shard at addr. The connection is made
// lazily, on the first call, so ctx is not used for connecting; deadlines
// belong on the contexts of Info and Step. opts must give the transport
// credentials, e.g. grpc.WithTransportCredentials(insecure.NewCredentials())
// for plaintext on a trusted network.
func Dial(ctx context.Context, addr string, opts ...grpc.DialOption) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("transport: dial %s: %w", addr, err)
	}
	c := &Client{addr: addr, conn: conn, rpc: pb.NewShardClient(conn)}
	c.version.Store(ProtocolVersion)
	return c, nil
}

// negotiate makes a call with call, at the client's protocol version. When
// the shard refuses that version and names as the newest it speaks an
// older one this package speaks too (a shard built before the current
// version), the client keeps to that version from then on and makes the
// call again. The calls are idempotent. It returns call's results.
func negotiate[T any](c *Client, call func(version uint32) (T, error)) (T, error) {
	v := c.version.Load()
	for {
		r, err := call(v)
		if err == nil {
			return r, nil
		}
		older, ok := peerMaxVersion(err)
		if !ok || older >= v || older < MinProtocolVersion {
			return r, err
		}
		// A concurrent call may have lowered it already.
		c.version.CompareAndSwap(v, older)
		v = older // strictly lower each time, so this ends
	}
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Info asks the shard for its id and schema. Errors wrap ErrVersion when the
// shard speaks no protocol version of this client, ErrBadReply for a
// malformed reply, or carry the gRPC status of a failed call. After a
// successful Info the client sends the newest version both speak.
func (c *Client) Info(ctx context.Context) (ShardInfo, error) {
	r, err := c.rpc.Info(ctx, &pb.InfoRequest{})
	if err != nil {
		return ShardInfo{}, fmt.Errorf("info from %s: %w", c.addr, fromStatus(err))
	}
	info, err := infoFromProto(r)
	if err != nil {
		return ShardInfo{}, fmt.Errorf("info from %s: %w", c.addr, err)
	}
	c.version.Store(min(r.GetMaxProtocolVersion(), ProtocolVersion))
	return info, nil
}

// Step asks the shard expectShardID for the statistics of partition for
// req, reassembles the streamed reply and checks it against the request.
//
// Errors name the shard, partition and iteration and wrap:
//   - shard.ErrRequest or ErrTooLarge for a request that is refused before
//     it is sent;
//   - ErrBadReply, ErrStale, ErrWrongShard or ErrVersion for a reply that is
//     not exactly the statistics asked for (nothing of it is returned);
//   - the gRPC status of a call the server refused or that failed
//     (status.Code gives the code); a refusal for a wrong shard id, an
//     unsupported version or too many unknowns also wraps ErrWrongShard,
//     ErrVersion or ErrTooLarge.
func (c *Client) Step(ctx context.Context, expectShardID string, req *shard.Request, partition int) (*shard.Stats, error) {
	iter := -1
	if req != nil {
		iter = req.Iter
	}
	st, err := c.step(ctx, expectShardID, req, partition)
	if err != nil {
		return nil, fmt.Errorf("step on shard %q, partition %d, iteration %d: %w", expectShardID, partition, iter, err)
	}
	return st, nil
}

func (c *Client) step(ctx context.Context, expectShardID string, req *shard.Request, partition int) (*shard.Stats, error) {
	if err := checkRequest(req, int64(partition)); err != nil {
		return nil, err
	}
	if expectShardID == "" {
		return nil, fmt.Errorf("%w: no expected shard id", shard.ErrRequest)
	}
	return negotiate(c, func(version uint32) (*shard.Stats, error) {
		return c.stepAt(ctx, version, expectShardID, req, partition)
	})
}

// stepAt makes a checked Step call at a protocol version.
func (c *Client) stepAt(ctx context.Context, version uint32, expectShardID string, req *shard.Request, partition int) (*shard.Stats, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream when a reply is rejected early
	stream, err := c.rpc.Step(ctx, requestToProto(req, partition, expectShardID, version))
	if err != nil {
		return nil, fromStatus(err)
	}
	a := newAssembler(expectShardID, req, partition)
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return a.finish()
		}
		if err != nil {
			return nil, fromStatus(err)
		}
		if err := a.add(chunk); err != nil {
			return nil, err
		}
	}
}

// Moments12 asks the shard expectShardID for the moment sums of order 1 or
// 2 (shard.Engine.Moments12) of partition, whose rows have d features
// (bias included), of the labels less base (nil: none). It reassembles the
// streamed reply and checks it against the request.
//
// Errors name the shard and partition and wrap what Step's do (with
// shard.ErrRequest or ErrTooLarge for a request beyond MaxMomentD or
// MaxProjection) and, when the shard does not implement the call (it was
// built before the moment passes), errors.ErrUnsupported.
func (c *Client) Moments12(ctx context.Context, expectShardID string, partition, d int, base *shard.Baseline, order int) (*shard.Moments12, error) {
	a := moments12Args{partition: partition, d: d, order: order, base: base}
	m, err := c.moments12(ctx, expectShardID, a)
	if err != nil {
		return nil, fmt.Errorf("order-%d moments on shard %q, partition %d: %w", order, expectShardID, partition, err)
	}
	return m, nil
}

func (c *Client) moments12(ctx context.Context, expectShardID string, a moments12Args) (*shard.Moments12, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	if expectShardID == "" {
		return nil, fmt.Errorf("%w: no expected shard id", shard.ErrRequest)
	}
	return negotiate(c, func(version uint32) (*shard.Moments12, error) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel() // ends the stream when a reply is rejected early
		stream, err := c.rpc.Moments12(ctx, a.toProto(expectShardID, version))
		if err != nil {
			return nil, momentStatus("Moments12", err)
		}
		asm := &moments12Assembler{shardID: expectShardID, args: a}
		if err := receive("Moments12", stream, asm.add); err != nil {
			return nil, err
		}
		return asm.finish()
	})
}

// Moment4 asks the shard expectShardID for the projected fourth moment
// (shard.Engine.Moment4) of partition, whose rows have d features (bias
// included), for the projection v (d x k, row-major) and the labels less
// base (nil: none). Errors are those of Moments12.
func (c *Client) Moment4(ctx context.Context, expectShardID string, partition, d int, v []float64, k int, base *shard.Baseline) (*shard.Moment4, error) {
	a := moment4Args{partition: partition, d: d, k: k, v: v, base: base}
	m, err := c.moment4(ctx, expectShardID, a)
	if err != nil {
		return nil, fmt.Errorf("fourth moment on shard %q, partition %d: %w", expectShardID, partition, err)
	}
	return m, nil
}

func (c *Client) moment4(ctx context.Context, expectShardID string, a moment4Args) (*shard.Moment4, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	if expectShardID == "" {
		return nil, fmt.Errorf("%w: no expected shard id", shard.ErrRequest)
	}
	return negotiate(c, func(version uint32) (*shard.Moment4, error) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := c.rpc.Moment4(ctx, a.toProto(expectShardID, version))
		if err != nil {
			return nil, momentStatus("Moment4", err)
		}
		asm := &moment4Assembler{shardID: expectShardID, args: a}
		if err := receive("Moment4", stream, asm.add); err != nil {
			return nil, err
		}
		return asm.finish()
	})
}

// receive passes the chunks of a moment reply to add until the stream
// ends; a failed stream's status is mapped by momentStatus.
func receive[C any](method string, stream grpc.ServerStreamingClient[C], add func(*C) error) error {
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return momentStatus(method, err)
		}
		if err := add(chunk); err != nil {
			return err
		}
	}
}

// momentStatus maps the status of a failed moment call. UNIMPLEMENTED is
// the answer of a shard built before the moment passes were added to the
// protocol (see proto/altmin/v1/altmin.proto): it wraps
// errors.ErrUnsupported, so that the fleet does not retry that shard.
// Other statuses are mapped as for Step.
func momentStatus(method string, err error) error {
	if status.Code(err) == codes.Unimplemented {
		return fmt.Errorf("%w: the shard does not implement %s (it was built before the moment passes of the tensor initialization; upgrade it): %w",
			errors.ErrUnsupported, method, err)
	}
	return fromStatus(err)
}
