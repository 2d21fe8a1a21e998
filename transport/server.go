package transport

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"altmin/internal/metrics"
	"altmin/msg"
	pb "altmin/proto/altminpb"
)

// ServiceName is the gRPC name of the Shard service, also used for its
// health status.
const ServiceName = "altmin.v1.Shard"

// Server exposes a msg.Fetcher (a shard's engine) as the Shard service. It
// is a thin adapter: it checks the protocol version and the shard id,
// converts the request, calls the fetcher, and streams the partial back in
// chunks.
type Server struct {
	pb.UnimplementedShardServer

	f       msg.Fetcher
	pool    *msg.Pool
	info    ShardInfo
	log     *zap.Logger
	health  *health.Server
	metrics *metrics.Shard

	budget      *budget       // reply bytes in flight
	sendTimeout time.Duration // 0: none
	// newTimer returns a timer's channel and its stop function; a
	// variable for tests (time.NewTimer).
	newTimer func(time.Duration) (<-chan time.Time, func() bool)
}

// NewServer returns a server computing partials with f and giving their
// buffers back to pool once sent. info describes the shard, info.Schema.Rows
// the partitions f serves; check it with ShardInfo.Validate before
// serving. A nil log discards logs.
func NewServer(f msg.Fetcher, pool *msg.Pool, info ShardInfo, log *zap.Logger) *Server {
	if log == nil {
		log = zap.NewNop()
	}
	info.Schema.Rows = maps.Clone(info.Schema.Rows)
	s := &Server{f: f, pool: pool, info: info, log: log.With(zap.String("shard", info.ID)), health: health.NewServer(),
		budget: newBudget(DefaultReplyBudget), sendTimeout: DefaultSendTimeout, newTimer: func(d time.Duration) (<-chan time.Time, func() bool) {
			t := time.NewTimer(d)
			return t.C, t.Stop
		}}
	s.SetServing(true)
	return s
}

// SetLimits bounds the replies the server has in flight: at most
// replyBudget bytes of them at once (<= 0: DefaultReplyBudget), a
// computation waiting for its reply's bytes (ReplyBytes) before it starts
// and a request whose reply exceeds the whole budget refused
// (msg.ErrTooLarge); and a stream whose client takes no chunk for
// sendTimeout (0: no bound) is cancelled and its reply's buffers freed.
// Call it before serving.
func (s *Server) SetLimits(replyBudget int64, sendTimeout time.Duration) {
	if replyBudget <= 0 {
		replyBudget = DefaultReplyBudget
	}
	s.budget = newBudget(replyBudget)
	s.sendTimeout = max(sendTimeout, 0)
}

// SetMetrics makes the server count its Compute requests by kind and
// code, time their computations and count the bytes it sends, in m; nil
// counts nothing. Call it before serving.
func (s *Server) SetMetrics(m *metrics.Shard) { s.metrics = m }

// Register registers the Shard service of s and the standard gRPC health
// service on gs. Health reports SERVING for "" and ServiceName until
// SetServing(false).
func Register(gs *grpc.Server, s *Server) {
	pb.RegisterShardServer(gs, s)
	healthpb.RegisterHealthServer(gs, s.health)
}

// SetServing sets the health status reported for "" and ServiceName.
func (s *Server) SetServing(ok bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if ok {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", st)
	s.health.SetServingStatus(ServiceName, st)
}

// ShardInfo returns the description the server gives in Info replies.
func (s *Server) ShardInfo() ShardInfo {
	info := s.info
	info.Schema.Rows = maps.Clone(s.info.Schema.Rows)
	return info
}

// Info implements the Info RPC.
func (s *Server) Info(context.Context, *pb.InfoRequest) (*pb.InfoReply, error) {
	s.log.Debug("info")
	return infoToProto(s.info), nil
}

// Compute implements the Compute RPC: it computes one partition's partial
// for one request of any kind and streams it in chunks of at most
// ChunkDoubles values.
func (s *Server) Compute(req *pb.ComputeRequest, stream grpc.ServerStreamingServer[pb.Chunk]) (err error) {
	start := time.Now()
	chunks := 0
	var r msg.Request
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("compute panicked", zap.Any("panic", p), zap.Stack("stack"))
			err = status.Errorf(codes.Internal, "shard %q: internal error", s.info.ID)
		}
		fields := []zap.Field{zap.Int32("partition", req.GetPartition()), zap.Duration("dur", time.Since(start)), zap.Int("chunks", chunks)}
		kind := "unknown"
		if r != nil {
			kind = r.Kind().String()
			fields = append(fields, zap.Stringer("kind", r.Kind()), zap.Int("round", r.Round()))
		}
		s.metrics.Served(kind, status.Code(err).String())
		if err != nil {
			fields = append(fields, zap.Stringer("code", status.Code(err)), zap.Error(err))
		}
		s.log.Debug("compute", fields...)
	}()
	if err := s.admit(req.GetProtocolVersion(), req.GetShardId()); err != nil {
		return err
	}
	r, sp, err := requestFromProto(req)
	if err != nil {
		return s.toStatus(err)
	}
	ctx := stream.Context()
	if err := ctx.Err(); err != nil {
		return status.FromContextError(err).Err()
	}
	// The reply's bytes are reserved before it is computed, and given back
	// once it is sent or abandoned (back-pressure on the computations).
	need := ReplyBytes(r)
	if err := s.budget.acquire(ctx, need); err != nil {
		return s.toStatus(err)
	}
	held := true
	defer func() {
		if held {
			s.budget.release(need)
		}
	}()
	computing := time.Now()
	p, err := s.f.Fetch(ctx, r, sp)
	s.metrics.Computed(r.Kind().String(), time.Since(computing))
	if err != nil {
		return s.toStatus(err)
	}
	h, vs, err := encodePartial(p, s.info.ID)
	if err != nil {
		p.Release(s.pool)
		return s.toStatus(err)
	}
	// The chunks name the span and round of the partial itself, not of
	// the request: a fetcher's answer for another span or round is
	// then refused by the client as stale instead of passing for the one
	// asked.
	cs := toChunks(h, vs, p.Span(), int64(p.Round()), ChunkDoubles)
	held = false
	return s.send(stream, cs, func() {
		// The chunks view p's buffers; Send encodes (copies) a chunk
		// before it returns, and this server installs no stats handler
		// that could read a message later, so the buffers are free once
		// the sends have ended.
		p.Release(s.pool)
		s.budget.release(need)
	}, &chunks)
}

// send streams the chunks cs on their own goroutine, which calls free once
// its sends have ended, and waits for them. When the client takes no
// chunk for the send timeout, send returns DeadlineExceeded: the handler's
// return cancels the stream, which ends the blocked send, and the buffers
// are freed then. sent counts the chunks sent.
func (s *Server) send(stream grpc.ServerStreamingServer[pb.Chunk], cs []*pb.Chunk, free func(), sent *int) error {
	done := make(chan error, 1)
	progress := make(chan struct{})
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		defer free()
		for _, c := range cs {
			if err := stream.Send(c); err != nil {
				done <- err
				return
			}
			s.metrics.Sent(proto.Size(c))
			select {
			case progress <- struct{}{}:
			case <-quit:
			}
		}
		done <- nil
	}()
	var expired <-chan time.Time
	stop := func() bool { return false }
	arm := func() {
		stop()
		if s.sendTimeout > 0 {
			expired, stop = s.newTimer(s.sendTimeout)
		}
	}
	arm()
	defer func() { stop() }()
	for {
		select {
		case err := <-done:
			return err
		case <-progress:
			*sent++
			arm()
		case <-expired:
			return status.Errorf(codes.DeadlineExceeded, "shard %q: the client took no chunk of the reply for %s (--send-timeout) after %d of %d chunks; stream cancelled", s.info.ID, s.sendTimeout, *sent, len(cs))
		}
	}
}

// admit checks the protocol version and the shard id of a request. A
// refused version's status names both versions.
func (s *Server) admit(version uint32, shardID string) error {
	if version != ProtocolVersion {
		return statusWithReason(codes.FailedPrecondition, reasonVersion,
			fmt.Sprintf("shard %q speaks protocol version %d, the request has version %d", s.info.ID, ProtocolVersion, version))
	}
	if shardID != s.info.ID {
		return statusWithReason(codes.FailedPrecondition, reasonWrongShard,
			fmt.Sprintf("request for shard %q reached shard %q", clip(shardID), s.info.ID))
	}
	return nil
}

// toStatus maps an error of the fetcher or of request conversion to a gRPC
// status error.
func (s *Server) toStatus(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// The call gave up waiting for a computation token.
		return status.FromContextError(err).Err()
	}
	msgText := fmt.Sprintf("shard %q: %v", s.info.ID, err)
	switch {
	case errors.Is(err, msg.ErrTooLarge):
		return statusWithReason(codes.InvalidArgument, reasonTooLarge, msgText)
	case errors.Is(err, msg.ErrData):
		return statusWithReason(codes.DataLoss, reasonData, msgText)
	case errors.Is(err, msg.ErrNoPartition):
		return status.Error(codes.NotFound, msgText)
	case errors.Is(err, msg.ErrRequest):
		return status.Error(codes.InvalidArgument, msgText)
	}
	return status.Error(codes.Internal, msgText)
}
