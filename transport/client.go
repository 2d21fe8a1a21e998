package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"altmin/internal/metrics"
	"altmin/msg"
	pb "altmin/proto/altminpb"
)

// Client calls one shard's Shard service. It is safe for concurrent use.
type Client struct {
	addr    string
	conn    *grpc.ClientConn
	rpc     pb.ShardClient
	pool    *msg.Pool
	metrics *metrics.Coordinator
	counter *atomic.Int64 // bytes of reply messages received; nil: not counted
}

// Dial returns a client for the shard at addr, taking the Gram buffers of
// the partials it assembles from pool (nil: allocate each). The connection
// is made lazily, on the first call, so ctx is not used for connecting;
// deadlines belong on the contexts of Info and Call. opts must give the
// transport credentials, e.g.
// grpc.WithTransportCredentials(insecure.NewCredentials()) for plaintext on
// a trusted network.
func Dial(ctx context.Context, addr string, pool *msg.Pool, opts ...grpc.DialOption) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("transport: dial %s: %w", addr, err)
	}
	return &Client{addr: addr, conn: conn, rpc: pb.NewShardClient(conn), pool: pool}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// SetMetrics makes the client count the bytes of the replies it receives
// and the replies it refuses, by reason, in m; nil counts nothing. Call it
// before the first Call.
func (c *Client) SetMetrics(m *metrics.Coordinator) { c.metrics = m }

// SetCounter makes the client add the serialized bytes of every reply
// message it receives to n (nil counts nothing), as SetMetrics does to the
// Prometheus counter, for whoever wants the bytes of a round. Call it
// before the first Call.
func (c *Client) SetCounter(n *atomic.Int64) { c.counter = n }

// Info asks the shard for its id and schema. Errors wrap ErrVersion when the
// shard speaks another protocol version, ErrBadReply for a malformed reply,
// or carry the gRPC status of a failed call.
func (c *Client) Info(ctx context.Context) (ShardInfo, error) {
	r, err := c.rpc.Info(ctx, &pb.InfoRequest{})
	if err != nil {
		return ShardInfo{}, fmt.Errorf("info from %s: %w", c.addr, fromStatus(err))
	}
	info, err := infoFromProto(r)
	if err != nil {
		return ShardInfo{}, fmt.Errorf("info from %s: %w", c.addr, err)
	}
	return info, nil
}

// Call asks the shard shardID for span sp's partial for req, of any
// kind, reassembles the streamed reply and checks it against the request.
//
// Errors name the shard, span, kind and round and wrap:
//   - msg.ErrRequest or msg.ErrTooLarge for a request that is refused
//     before it is sent;
//   - ErrBadReply, ErrStale, ErrWrongShard or ErrVersion for a reply that
//     is not exactly the partial asked for (nothing of it is returned);
//   - the gRPC status of a call the server refused or that failed
//     (status.Code gives the code); a refusal for a wrong shard id,
//     another version, a request too large or unreadable data also wraps
//     ErrWrongShard, ErrVersion, msg.ErrTooLarge or msg.ErrData, and the
//     answer of a shard without the Compute call ErrVersion and
//     errors.ErrUnsupported.
func (c *Client) Call(ctx context.Context, shardID string, req msg.Request, sp msg.Span) (msg.Partial, error) {
	p, err := c.call(ctx, shardID, req, sp)
	if err != nil {
		kind, round := "a nil", -1
		if req != nil {
			kind, round = req.Kind().String(), req.Round()
		}
		return nil, fmt.Errorf("%s request on shard %q, %s, round %d: %w", kind, shardID, sp, round, err)
	}
	return p, nil
}

func (c *Client) call(ctx context.Context, shardID string, req msg.Request, sp msg.Span) (msg.Partial, error) {
	if req == nil {
		return nil, fmt.Errorf("%w: nil request", msg.ErrRequest)
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if shardID == "" {
		return nil, fmt.Errorf("%w: no expected shard id", msg.ErrRequest)
	}
	wire, err := requestToProto(req, sp, shardID)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream when a reply is rejected early
	stream, err := c.rpc.Compute(ctx, wire)
	if err != nil {
		return nil, fromStatus(err)
	}
	a := &assembler{req: req, span: sp, shardID: shardID, pool: c.pool}
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			p, err := a.finish()
			if err != nil {
				a.release()
				c.metrics.Refused(refusal(err))
			}
			return p, err
		}
		if err != nil {
			a.release()
			return nil, fromStatus(err)
		}
		size := proto.Size(chunk)
		c.metrics.Received(size)
		if c.counter != nil {
			c.counter.Add(int64(size))
		}
		if err := a.add(chunk); err != nil {
			a.release()
			c.metrics.Refused(refusal(err))
			return nil, err
		}
	}
}

// refusal returns the reason label of an error of the assembler, which
// refused a reply.
func refusal(err error) string {
	switch {
	case errors.Is(err, ErrStale):
		return metrics.ReasonStale
	case errors.Is(err, ErrWrongShard):
		return metrics.ReasonWrongShard
	case errors.Is(err, ErrVersion):
		return metrics.ReasonVersion
	case errors.Is(err, ErrBadReply):
		return metrics.ReasonMalformed
	}
	return metrics.ReasonInvalid
}
