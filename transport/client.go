package transport

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"

	pb "altmin/proto/altminpb"
	"altmin/shard"
)

// Client calls one shard's Shard service. It is safe for concurrent use.
type Client struct {
	addr string
	conn *grpc.ClientConn
	rpc  pb.ShardClient
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
	return &Client{addr: addr, conn: conn, rpc: pb.NewShardClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Info asks the shard for its id and schema. Errors wrap ErrVersion when the
// shard speaks no protocol version of this client, ErrBadReply for a
// malformed reply, or carry the gRPC status of a failed call.
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
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream when a reply is rejected early
	stream, err := c.rpc.Step(ctx, requestToProto(req, partition, expectShardID))
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
