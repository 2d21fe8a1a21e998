package transport

import "google.golang.org/grpc"

// Flow control for the statistics streams. A Compute reply is a packed Gram
// matrix of up to hundreds of megabytes sent in 1 MiB chunks; with gRPC's
// default 64 KiB stream window (grown by its bandwidth estimator) and 32 KiB
// buffers a 4 MB reply on loopback waits on many window updates. Larger
// fixed windows let a whole chunk be in flight per stream.
const (
	streamWindow = 4 << 20  // bytes a stream may have in flight
	connWindow   = 16 << 20 // bytes a connection may have in flight
	ioBuffer     = 256 << 10
)

// StreamDialOptions returns the coordinator's dial options for the flow
// control of the statistics streams.
func StreamDialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithInitialWindowSize(streamWindow),
		grpc.WithInitialConnWindowSize(connWindow),
		grpc.WithReadBufferSize(ioBuffer),
		grpc.WithWriteBufferSize(ioBuffer),
	}
}

// StreamServerOptions returns the shard's server options for the flow
// control of the statistics streams.
func StreamServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.InitialWindowSize(streamWindow),
		grpc.InitialConnWindowSize(connWindow),
		grpc.ReadBufferSize(ioBuffer),
		grpc.WriteBufferSize(ioBuffer),
	}
}
