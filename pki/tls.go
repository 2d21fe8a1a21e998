package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// ErrFile reports a certificate, key or CA file that cannot be read or
// parsed; it is wrapped with the file name and the cause.
var ErrFile = errors.New("pki: bad file")

// ServerTLS returns a server configuration that presents the pair in
// certFile and keyFile, requires TLS 1.3 and requires every client to
// present a certificate signed by the CA in caFile.
func ServerTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	pool, err := loadCA(caFile)
	if err != nil {
		return nil, err
	}
	cert, err := loadPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}, nil
}

// ClientTLS returns a client configuration that presents the pair in
// certFile and keyFile, requires TLS 1.3 and verifies the server's
// certificate against the CA in caFile and against serverName. An empty
// serverName leaves the name to the dialer: tls.Dial and gRPC's
// credentials.NewTLS use the host of the dialled address.
func ClientTLS(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	pool, err := loadCA(caFile)
	if err != nil {
		return nil, err
	}
	cert, err := loadPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ServerName:   serverName,
	}, nil
}

func loadCA(caFile string) (*x509.CertPool, error) {
	if caFile == "" {
		return nil, fmt.Errorf("%w: no CA file given", ErrFile)
	}
	data, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("%w: CA %s: %w", ErrFile, caFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%w: CA %s: no PEM certificate found", ErrFile, caFile)
	}
	return pool, nil
}

func loadPair(certFile, keyFile string) (tls.Certificate, error) {
	if certFile == "" || keyFile == "" {
		return tls.Certificate{}, fmt.Errorf("%w: certificate and key files are both required (got %q, %q)", ErrFile, certFile, keyFile)
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: certificate %s: %w", ErrFile, certFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: key %s: %w", ErrFile, keyFile, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: key pair %s, %s: %w", ErrFile, certFile, keyFile, err)
	}
	return cert, nil
}
