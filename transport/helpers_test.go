package transport

import (
	"context"
	"math/rand/v2"
	"net"
	"sync"
	"testing"

	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	"altmin/data"
	"altmin/shard"
)

// dialBuf serves the services registered by register on an in-memory
// listener and returns a client connected to it. Both are stopped when the
// test ends.
func dialBuf(t *testing.T, register func(*grpc.Server), opts ...grpc.ServerOption) *Client {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer(opts...)
	register(gs)
	go func() { _ = gs.Serve(lis) }()
	t.Cleanup(gs.Stop)
	c, err := Dial(context.Background(), "passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// problem is a small synthetic data set split into partitions.
type problem struct {
	src   *data.Synthetic
	parts int
	bias  bool
	signs []float64
}

func newProblem(t *testing.T, spec string, parts int, bias bool) *problem {
	t.Helper()
	g, err := data.ParseSynthetic(spec)
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := g.Teacher()
	return &problem{src: g, parts: parts, bias: bias, signs: ms.Signs}
}

// engine loads the given partitions into a fresh engine.
func (p *problem) engine(t *testing.T, ids ...int) *shard.Engine {
	t.Helper()
	var ps []*shard.Partition
	for _, id := range ids {
		part, err := shard.Load(p.src, p.parts, id, p.bias)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, part)
	}
	eng, err := shard.NewEngine(ps...)
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func (p *problem) schema() Schema {
	info := p.src.Info()
	return Schema{N: info.N, D: info.D, P: p.parts, Bias: p.bias, DType: "float64", Fingerprint: p.src.String()}
}

// features returns d of a request, including the bias feature.
func (p *problem) features() int {
	if p.bias {
		return p.src.Info().D + 1
	}
	return p.src.Info().D
}

// weights returns seeded random effective weights, k x d.
func (p *problem) weights(rng *rand.Rand) []float64 {
	d := p.features()
	u := make([]float64, len(p.signs)*d)
	for i := range u {
		u[i] = rng.NormFloat64() / float64(d)
	}
	return u
}

// serveEngine serves eng as shard id and returns a client, the server and
// the recorded sizes of the sent chunks.
func serveEngine(t *testing.T, eng *shard.Engine, info ShardInfo) (*Client, *Server, *sizeLog) {
	t.Helper()
	srv := NewServer(eng, info, zaptest.NewLogger(t))
	sizes := &sizeLog{}
	c := dialBuf(t, func(gs *grpc.Server) { Register(gs, srv) }, grpc.StreamInterceptor(sizes.intercept))
	return c, srv, sizes
}

// sizeLog records the serialized sizes of the messages a server streams.
type sizeLog struct {
	mu    sync.Mutex
	sizes []int
}

func (l *sizeLog) intercept(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	return h(srv, &sizedStream{ServerStream: ss, log: l})
}

func (l *sizeLog) take() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.sizes
	l.sizes = nil
	return s
}

type sizedStream struct {
	grpc.ServerStream
	log *sizeLog
}

func (s *sizedStream) SendMsg(m any) error {
	if pm, ok := m.(proto.Message); ok {
		s.log.mu.Lock()
		s.log.sizes = append(s.log.sizes, proto.Size(pm))
		s.log.mu.Unlock()
	}
	return s.ServerStream.SendMsg(m)
}
