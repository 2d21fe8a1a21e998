package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"altmin/deep"
	pb "altmin/proto/altminpb"
	"altmin/shard"
)

// DeepStep asks the shard expectShardID for the statistics of partition
// for a deep network's solve step (deep.PartitionStats), reassembles the
// streamed reply and checks it against the request.
//
// Errors name the shard, partition and step and wrap what Step's do (with
// shard.ErrRequest or ErrTooLarge for a request beyond MaxM weights or
// MaxDeepLayers layers, refused before it is sent) and, when the shard
// does not implement the call (it was built before DeepStep),
// errors.ErrUnsupported.
func (c *Client) DeepStep(ctx context.Context, expectShardID string, req *deep.Request, partition int) (*deep.Partial, error) {
	step := -1
	if req != nil {
		step = req.Step
	}
	p, err := c.deepStep(ctx, expectShardID, req, partition)
	if err != nil {
		return nil, fmt.Errorf("deep step on shard %q, partition %d, step %d: %w", expectShardID, partition, step, err)
	}
	return p, nil
}

func (c *Client) deepStep(ctx context.Context, expectShardID string, req *deep.Request, partition int) (*deep.Partial, error) {
	if err := checkDeepRequest(req, int64(partition)); err != nil {
		return nil, err
	}
	if expectShardID == "" {
		return nil, fmt.Errorf("%w: no expected shard id", shard.ErrRequest)
	}
	return negotiate(c, func(version uint32) (*deep.Partial, error) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel() // ends the stream when a reply is rejected early
		stream, err := c.rpc.DeepStep(ctx, deepRequestToProto(req, partition, expectShardID, version))
		if err != nil {
			return nil, deepStatus(err)
		}
		asm := &deepAssembler{shardID: expectShardID, req: req, partition: partition}
		if err := receiveDeep(stream, asm.add); err != nil {
			return nil, err
		}
		return asm.finish()
	})
}

// receiveDeep passes the chunks of a DeepStep reply to add until the
// stream ends.
func receiveDeep(stream grpc.ServerStreamingClient[pb.DeepStepChunk], add func(*pb.DeepStepChunk) error) error {
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return deepStatus(err)
		}
		if err := add(chunk); err != nil {
			return err
		}
	}
}

// deepStatus maps the status of a failed DeepStep call. UNIMPLEMENTED is
// the answer of a shard built before DeepStep was added to the protocol:
// it wraps errors.ErrUnsupported, so that the fleet does not retry that
// shard. Other statuses are mapped as for Step.
func deepStatus(err error) error {
	if status.Code(err) == codes.Unimplemented {
		return fmt.Errorf("%w: the shard does not implement DeepStep (it was built before deep networks were carried over gRPC; upgrade it): %w",
			errors.ErrUnsupported, err)
	}
	return fromStatus(err)
}

// DeepStep implements the DeepStep RPC: it computes one partition's
// statistics for a deep network's solve step with deep.PartitionStats and
// streams them in chunks of at most ChunkBytes. The partition is read
// through its accessor, so either storage (float64, float32) is served.
func (s *Server) DeepStep(req *pb.DeepStepRequest, stream grpc.ServerStreamingServer[pb.DeepStepChunk]) (err error) {
	chunks := 0
	defer s.endCall("deepstep", time.Now(), req.GetPartition(), &chunks, &err)
	if err := s.admit(req.GetProtocolVersion(), req.GetShardId()); err != nil {
		return err
	}
	r, part, err := deepRequestFromProto(req)
	if err != nil {
		return s.toStatus(err)
	}
	if err := s.ready(stream.Context(), part, r.Net.In()); err != nil {
		return err
	}
	// The scratch of one call is a few vectors of the widths; the
	// statistics are allocated by PartitionStats anyway. Use takes a
	// computation token, as Step does, and holds the rows meanwhile.
	var ws deep.Workspace
	var p *deep.Partial
	err = s.eng.Use(stream.Context(), part, func(pt *shard.Partition) error {
		var err error
		p, err = deep.PartitionStats(&ws, pt, r)
		return err
	})
	if err != nil {
		if errors.Is(err, deep.ErrRequest) {
			err = fmt.Errorf("%w: %v", shard.ErrRequest, err)
		}
		return s.toStatus(err)
	}
	for _, c := range partialToChunks(p, s.info.ID, req.GetProtocolVersion()) {
		if err := stream.Send(c); err != nil {
			return err
		}
		chunks++
	}
	return nil
}
