package transport

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/test/bufconn"

	"altmin/msg"
	"altmin/pki"
)

// TestUntrustedCertificateIsPermanent: a shard whose certificate is signed
// by another CA than the coordinator trusts refuses every call the same
// way, so the client's error wraps ErrAuth and msg.ErrPermanent (a fleet
// does not retry it until the rejoin timeout).
func TestUntrustedCertificateIsPermanent(t *testing.T) {
	ours, theirs := t.TempDir(), t.TempDir()
	for _, dir := range []string{ours, theirs} {
		if err := pki.Generate(dir, []string{"coordinator", "s1"}, time.Hour, pki.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	// Only the shard's certificate refused by us is tested: with TLS 1.3
	// the shard refuses ours after our side of the handshake has ended,
	// and its alert may or may not arrive before the connection closes
	// (over bufconn it does not), so that case is not always permanent.
	for _, tc := range []struct{ name, clientCA, clientPair string }{
		{"untrusted shard", ours, ours},
	} {
		stls, err := pki.ServerTLS(filepath.Join(theirs, "ca.pem"), filepath.Join(theirs, "s1.pem"), filepath.Join(theirs, "s1-key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		ctls, err := pki.ClientTLS(filepath.Join(tc.clientCA, "ca.pem"), filepath.Join(tc.clientPair, "coordinator.pem"), filepath.Join(tc.clientPair, "coordinator-key.pem"), "s1")
		if err != nil {
			t.Fatal(err)
		}
		lis := bufconn.Listen(1 << 20)
		gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(stls)))
		Register(gs, NewServer(fetcherFunc(func(context.Context, msg.Request, msg.Span) (msg.Partial, error) {
			return nil, errors.New("not reached")
		}), nil, ShardInfo{ID: "s1"}, nil))
		go func() { _ = gs.Serve(lis) }()
		t.Cleanup(gs.Stop)
		c, err := Dial(t.Context(), "passthrough:///s1", nil,
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
			grpc.WithTransportCredentials(credentials.NewTLS(ctls)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_, err = c.Call(t.Context(), "s1", statsRequest(newRand(1), 1, 4, 2), msg.Leaf(0))
		if !errors.Is(err, ErrAuth) || !errors.Is(err, msg.ErrPermanent) {
			t.Errorf("%s: call: %v, want ErrAuth and msg.ErrPermanent", tc.name, err)
		}
		if _, err := c.Info(t.Context()); !errors.Is(err, msg.ErrPermanent) {
			t.Errorf("%s: info: %v, want msg.ErrPermanent", tc.name, err)
		}
	}
}

// TestVersionRefusalIsPermanent: a shard of another protocol version
// refuses every call the same way: the error wraps ErrVersion and
// msg.ErrPermanent, whether the shard refuses the request or its reply
// names another version. Transient failures are not permanent.
func TestVersionRefusalIsPermanent(t *testing.T) {
	refused := fromStatus(statusWithReason(codes.FailedPrecondition, reasonVersion, "no"))
	if !errors.Is(refused, ErrVersion) || !errors.Is(refused, msg.ErrPermanent) {
		t.Errorf("refused version: %v, want ErrVersion and msg.ErrPermanent", refused)
	}
	if err := versionError("the reply", 3); !errors.Is(err, ErrVersion) || !errors.Is(err, msg.ErrPermanent) {
		t.Errorf("reply of another version: %v, want ErrVersion and msg.ErrPermanent", err)
	}
	for _, err := range []error{
		fromStatus(statusWithReason(codes.FailedPrecondition, reasonWrongShard, "no")),
		fromStatus(statusWithReason(codes.DataLoss, reasonData, "no")),
		fromStatus(errors.New("connection reset")),
	} {
		if errors.Is(err, msg.ErrPermanent) {
			t.Errorf("%v is permanent, want transient", err)
		}
	}
}
