package pki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func generate(t *testing.T, nodes ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := Generate(dir, nodes, time.Hour, Options{}); err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return dir
}

func serverCfg(t *testing.T, dir, name string) *tls.Config {
	t.Helper()
	cfg, err := ServerTLS(filepath.Join(dir, CAFile), filepath.Join(dir, CertFile(name)), filepath.Join(dir, KeyFile(name)))
	if err != nil {
		t.Fatalf("ServerTLS: %v", err)
	}
	return cfg
}

func clientCfg(t *testing.T, dir, name, serverName string) *tls.Config {
	t.Helper()
	cfg, err := ClientTLS(filepath.Join(dir, CAFile), filepath.Join(dir, CertFile(name)), filepath.Join(dir, KeyFile(name)), serverName)
	if err != nil {
		t.Fatalf("ClientTLS: %v", err)
	}
	return cfg
}

// handshake runs one TLS handshake over loopback TCP and returns the
// server's and the client's errors. Deadlines only bound a broken test.
func handshake(t *testing.T, srv, cli *tls.Config) (serverErr, clientErr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		tc := tls.Server(conn, srv)
		if err := tc.Handshake(); err != nil {
			done <- err
			return
		}
		// Echo one byte so the client learns whether the server accepted
		// it (in TLS 1.3 the client finishes its handshake first).
		b := make([]byte, 1)
		if _, err := tc.Read(b); err != nil {
			done <- err
			return
		}
		_, err = tc.Write(b)
		done <- err
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(conn, cli)
	clientErr = tc.Handshake()
	if clientErr == nil {
		if _, clientErr = tc.Write([]byte{1}); clientErr == nil {
			_, clientErr = tc.Read(make([]byte, 1))
		}
	}
	conn.Close()
	return <-done, clientErr
}

func TestHandshake(t *testing.T) {
	dir := generate(t, "coord", "shard-1")
	for _, name := range []string{"shard-1", "localhost", "127.0.0.1"} {
		serr, cerr := handshake(t, serverCfg(t, dir, "shard-1"), clientCfg(t, dir, "coord", name))
		if serr != nil || cerr != nil {
			t.Errorf("server name %q: server error %v, client error %v", name, serr, cerr)
		}
	}
}

func TestClientWithoutCertRefused(t *testing.T) {
	dir := generate(t, "coord", "shard-1")
	cli := clientCfg(t, dir, "coord", "shard-1")
	cli.Certificates = nil
	serr, cerr := handshake(t, serverCfg(t, dir, "shard-1"), cli)
	if serr == nil || cerr == nil {
		t.Fatalf("client without certificate accepted: server error %v, client error %v", serr, cerr)
	}
}

func TestForeignClientRefused(t *testing.T) {
	dir := generate(t, "coord", "shard-1")
	foreign := generate(t, "coord")
	cli := clientCfg(t, foreign, "coord", "shard-1")
	cli.RootCAs = clientCfg(t, dir, "coord", "shard-1").RootCAs // trusts the real CA
	serr, cerr := handshake(t, serverCfg(t, dir, "shard-1"), cli)
	if serr == nil || cerr == nil {
		t.Fatalf("client from a foreign CA accepted: server error %v, client error %v", serr, cerr)
	}
}

func TestForeignServerRefused(t *testing.T) {
	dir := generate(t, "coord", "shard-1")
	foreign := generate(t, "shard-1")
	srv := serverCfg(t, foreign, "shard-1")
	srv.ClientCAs = serverCfg(t, dir, "shard-1").ClientCAs // trusts the real CA
	serr, cerr := handshake(t, srv, clientCfg(t, dir, "coord", "shard-1"))
	var unknown x509.UnknownAuthorityError
	if !errors.As(cerr, &unknown) {
		t.Fatalf("server from a foreign CA: client error %v, want x509.UnknownAuthorityError", cerr)
	}
	if serr == nil {
		t.Fatal("server handshake succeeded though the client refused it")
	}
}

func TestWrongServerNameRefused(t *testing.T) {
	dir := generate(t, "coord", "shard-1")
	_, cerr := handshake(t, serverCfg(t, dir, "shard-1"), clientCfg(t, dir, "coord", "shard-2"))
	var host x509.HostnameError
	if !errors.As(cerr, &host) {
		t.Fatalf("client error %v, want x509.HostnameError", cerr)
	}
}

func TestTLS13Only(t *testing.T) {
	dir := generate(t, "coord", "shard-1")
	cli := clientCfg(t, dir, "coord", "shard-1")
	cli.MinVersion, cli.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	serr, _ := handshake(t, serverCfg(t, dir, "shard-1"), cli)
	if serr == nil {
		t.Fatal("server accepted TLS 1.2")
	}
}

func TestGeneratedFiles(t *testing.T) {
	dir := generate(t, "coord", "shard-1")
	for _, f := range []string{CAFile, CAKeyFile, "coord.pem", "coord-key.pem", "shard-1.pem", "shard-1-key.pem"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o644)
		if strings.HasSuffix(f, "-key.pem") {
			want = 0o600
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", f, st.Mode().Perm(), want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 6 {
		t.Errorf("%d files in output directory, want 6 (temporary files left?)", len(entries))
	}
	ca := readCert(t, filepath.Join(dir, CAFile))
	if !ca.IsCA {
		t.Error("CA certificate is not a CA")
	}
	c := readCert(t, filepath.Join(dir, "shard-1.pem"))
	if c.IsCA {
		t.Error("node certificate is a CA")
	}
	if !slices.Equal(c.DNSNames, []string{"shard-1", "localhost"}) {
		t.Errorf("DNS names %v", c.DNSNames)
	}
	if len(c.IPAddresses) != 1 || !c.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("IP addresses %v", c.IPAddresses)
	}
	if !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageServerAuth) || !slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageClientAuth) {
		t.Errorf("extended key usage %v", c.ExtKeyUsage)
	}
	if err := c.CheckSignatureFrom(ca); err != nil {
		t.Errorf("node certificate not signed by the CA: %v", err)
	}
	if c2 := readCert(t, filepath.Join(dir, "coord.pem")); c2.SerialNumber.Cmp(c.SerialNumber) == 0 {
		t.Error("two certificates share a serial number")
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGenerateRefusesOverwrite(t *testing.T) {
	dir := generate(t, "coord")
	before, _ := os.ReadFile(filepath.Join(dir, CAFile))
	err := Generate(dir, []string{"other"}, time.Hour, Options{})
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), CAFile) {
		t.Fatalf("got %v, want ErrExists naming %s", err, CAFile)
	}
	if _, err := os.Stat(filepath.Join(dir, "other.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused Generate wrote a file: %v", err)
	}
	if err := Generate(dir, []string{"coord"}, time.Hour, Options{Force: true}); err != nil {
		t.Fatalf("forced Generate: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, CAFile))
	if string(before) == string(after) {
		t.Error("forced Generate kept the old CA")
	}
}

func TestGenerateBadInput(t *testing.T) {
	cases := []struct {
		nodes    []string
		validity time.Duration
		want     error
	}{
		{[]string{"a"}, 0, nil},
		{nil, time.Hour, nil},
		{[]string{""}, time.Hour, ErrName},
		{[]string{"Shard1"}, time.Hour, ErrName},
		{[]string{"shard_1"}, time.Hour, ErrName},
		{[]string{"-a"}, time.Hour, ErrName},
		{[]string{"a..b"}, time.Hour, ErrName},
		{[]string{"../x"}, time.Hour, ErrName},
		{[]string{strings.Repeat("a", 64)}, time.Hour, ErrName},
		{[]string{"a", "a"}, time.Hour, ErrName},
		{[]string{"ca"}, time.Hour, ErrName},
		{[]string{"x", "x-key"}, time.Hour, ErrName},
	}
	for _, c := range cases {
		dir := t.TempDir()
		err := Generate(dir, c.nodes, c.validity, Options{})
		if err == nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("Generate(%q, %v) = %v, want error %v", c.nodes, c.validity, err, c.want)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("Generate(%q) wrote files despite failing", c.nodes)
		}
	}
	for _, ok := range []string{"a", "shard-1", "shard-1.cluster.local", "0"} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("ValidateName(%q): %v", ok, err)
		}
	}
}

func TestLoadErrorsNameFile(t *testing.T) {
	dir := generate(t, "coord")
	ca, cert, key := filepath.Join(dir, CAFile), filepath.Join(dir, "coord.pem"), filepath.Join(dir, "coord-key.pem")
	missing := filepath.Join(dir, "missing.pem")
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ ca, cert, key, name string }{
		{missing, cert, key, missing},
		{garbage, cert, key, garbage},
		{ca, missing, key, missing},
		{ca, cert, missing, missing},
		{ca, garbage, key, garbage},
		{ca, cert, garbage, garbage},
		{ca, key, cert, key}, // swapped
	}
	for _, c := range cases {
		_, serr := ServerTLS(c.ca, c.cert, c.key)
		_, cerr := ClientTLS(c.ca, c.cert, c.key, "x")
		for _, err := range []error{serr, cerr} {
			if !errors.Is(err, ErrFile) || !strings.Contains(err.Error(), c.name) {
				t.Errorf("(%s, %s, %s): got %v, want ErrFile naming %s", c.ca, c.cert, c.key, err, c.name)
			}
		}
	}
}
