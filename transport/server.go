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

	pb "altmin/proto/altminpb"
	"altmin/shard"
)

// ServiceName is the gRPC name of the Shard service, also used for its
// health status.
const ServiceName = "altmin.v1.Shard"

// Server exposes a shard.Engine as the Shard service. It is a thin adapter:
// it checks the protocol version and the shard id, converts the request,
// calls Engine.Compute (Step), Engine.Moments12 or Engine.Moment4 and
// streams the result back in chunks.
type Server struct {
	pb.UnimplementedShardServer

	eng    *shard.Engine
	info   ShardInfo
	log    *zap.Logger
	health *health.Server
}

// NewServer returns a server for eng. The rows of info.Schema are taken
// from the engine: Rows maps every partition eng holds to its rows, whatever
// info had. A nil log discards logs. Check info with ShardInfo.Validate
// before serving.
func NewServer(eng *shard.Engine, info ShardInfo, log *zap.Logger) *Server {
	if log == nil {
		log = zap.NewNop()
	}
	info.Schema.Rows = make(map[int]int)
	if eng != nil {
		for _, id := range eng.Partitions() {
			info.Schema.Rows[id], _, _ = eng.Shape(id)
		}
	}
	s := &Server{eng: eng, info: info, log: log.With(zap.String("shard", info.ID)), health: health.NewServer()}
	s.SetServing(true)
	return s
}

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

// Step implements the Step RPC: it computes the statistics of one partition
// for one iteration and streams them in chunks of at most ChunkBytes.
func (s *Server) Step(req *pb.StepRequest, stream grpc.ServerStreamingServer[pb.StepChunk]) (err error) {
	start := time.Now()
	chunks := 0
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("step panicked", zap.Any("panic", r), zap.Stack("stack"))
			err = status.Errorf(codes.Internal, "shard %q: internal error", s.info.ID)
		}
		fields := []zap.Field{
			zap.Int64("iter", req.GetIter()),
			zap.Int32("partition", req.GetPartition()),
			zap.Duration("dur", time.Since(start)),
			zap.Int("chunks", chunks),
		}
		if err != nil {
			fields = append(fields, zap.Stringer("code", status.Code(err)), zap.Error(err))
		}
		s.log.Debug("step", fields...)
	}()
	if err := s.admit(req.GetProtocolVersion(), req.GetShardId()); err != nil {
		return err
	}
	r, part, err := requestFromProto(req)
	if err != nil {
		return s.toStatus(err)
	}
	ctx := stream.Context()
	if err := ctx.Err(); err != nil {
		return status.FromContextError(err).Err()
	}
	if s.eng == nil {
		return s.toStatus(fmt.Errorf("%w: %d", shard.ErrNoPartition, part))
	}
	st, err := s.eng.ComputeContext(ctx, r, part)
	if err != nil {
		return s.toStatus(err)
	}
	// The chunks view st's Gram buffer; Send encodes (copies) a chunk
	// before it returns, and this server installs no stats handler that
	// could read a message later, so the buffer is free once the loop ends.
	defer st.Release()
	// The reply is in the request's version: gram_le from version 2 on,
	// gram for a coordinator of version 1.
	for _, c := range statsToChunks(st, s.info.ID, req.GetProtocolVersion()) {
		if err := stream.Send(c); err != nil {
			return err
		}
		chunks++
	}
	return nil
}

// Moments12 implements the Moments12 RPC: it computes one partition's
// moment sums of order 1 or 2 and streams them in chunks of at most
// ChunkBytes.
func (s *Server) Moments12(req *pb.Moments12Request, stream grpc.ServerStreamingServer[pb.Moments12Chunk]) (err error) {
	chunks := 0
	defer s.endCall("moments12", time.Now(), req.GetPartition(), &chunks, &err)
	if err := s.admit(req.GetProtocolVersion(), req.GetShardId()); err != nil {
		return err
	}
	a, err := moments12FromProto(req)
	if err != nil {
		return s.toStatus(err)
	}
	if err := s.ready(stream.Context(), a.partition, a.d); err != nil {
		return err
	}
	m, err := s.eng.Moments12Context(stream.Context(), a.partition, a.base, a.order)
	if err != nil {
		return s.toStatus(err)
	}
	for _, c := range moments12ToChunks(m, s.info.ID, req.GetProtocolVersion()) {
		if err := stream.Send(c); err != nil {
			return err
		}
		chunks++
	}
	return nil
}

// Moment4 implements the Moment4 RPC: it computes one partition's
// projected fourth moment and streams it in chunks of at most ChunkBytes.
func (s *Server) Moment4(req *pb.Moment4Request, stream grpc.ServerStreamingServer[pb.Moment4Chunk]) (err error) {
	chunks := 0
	defer s.endCall("moment4", time.Now(), req.GetPartition(), &chunks, &err)
	if err := s.admit(req.GetProtocolVersion(), req.GetShardId()); err != nil {
		return err
	}
	a, err := moment4FromProto(req)
	if err != nil {
		return s.toStatus(err)
	}
	if err := s.ready(stream.Context(), a.partition, a.d); err != nil {
		return err
	}
	m, err := s.eng.Moment4Context(stream.Context(), a.partition, a.v, a.k, a.base)
	if err != nil {
		return s.toStatus(err)
	}
	for _, c := range moment4ToChunks(m, s.info.ID, req.GetProtocolVersion()) {
		if err := stream.Send(c); err != nil {
			return err
		}
		chunks++
	}
	return nil
}

// admit checks the protocol version and the shard id of a request. A
// refused version's status names the supported range (statusWithReason),
// from which a client of a newer version learns which to send instead.
func (s *Server) admit(version uint32, shardID string) error {
	if !versionOK(version) {
		return statusWithReason(codes.FailedPrecondition, reasonVersion,
			fmt.Sprintf("shard %q: protocol version %d not supported (%s)", s.info.ID, version, supportedRange()))
	}
	if shardID != s.info.ID {
		return statusWithReason(codes.FailedPrecondition, reasonWrongShard,
			fmt.Sprintf("request for shard %q reached shard %q", clip(shardID), s.info.ID))
	}
	return nil
}

// ready checks, before a moment pass is computed, that the call is still
// wanted and that the partition is held with d features per row.
func (s *Server) ready(ctx context.Context, part, d int) error {
	if err := ctx.Err(); err != nil {
		return status.FromContextError(err).Err()
	}
	var pd int
	ok := false
	if s.eng != nil {
		_, pd, ok = s.eng.Shape(part)
	}
	if !ok {
		return s.toStatus(fmt.Errorf("%w: %d", shard.ErrNoPartition, part))
	}
	if pd != d {
		return s.toStatus(fmt.Errorf("%w: request has d = %d, partition %d has d = %d", shard.ErrRequest, d, part, pd))
	}
	return nil
}

// endCall, deferred by a moment RPC, turns a panic into an Internal status
// and logs the call at debug level.
func (s *Server) endCall(name string, start time.Time, part int32, chunks *int, err *error) {
	if r := recover(); r != nil {
		s.log.Error(name+" panicked", zap.Any("panic", r), zap.Stack("stack"))
		*err = status.Errorf(codes.Internal, "shard %q: internal error", s.info.ID)
	}
	fields := []zap.Field{zap.Int32("partition", part), zap.Duration("dur", time.Since(start)), zap.Int("chunks", *chunks)}
	if *err != nil {
		fields = append(fields, zap.Stringer("code", status.Code(*err)), zap.Error(*err))
	}
	s.log.Debug(name, fields...)
}

// toStatus maps an error of the engine or of request conversion to a gRPC
// status error.
func (s *Server) toStatus(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// The call gave up waiting for a computation token.
		return status.FromContextError(err).Err()
	}
	msg := fmt.Sprintf("shard %q: %v", s.info.ID, err)
	switch {
	case errors.Is(err, ErrTooLarge):
		return statusWithReason(codes.InvalidArgument, reasonTooLarge, msg)
	case errors.Is(err, shard.ErrData):
		return statusWithReason(codes.DataLoss, reasonData, msg)
	case errors.Is(err, shard.ErrNoPartition):
		return status.Error(codes.NotFound, msg)
	case errors.Is(err, shard.ErrRequest):
		return status.Error(codes.InvalidArgument, msg)
	}
	return status.Error(codes.Internal, msg)
}

// clip shortens a string from the network for an error message.
func clip(s string) string {
	if len(s) > MaxShardIDLen {
		return s[:MaxShardIDLen] + "..."
	}
	return s
}
