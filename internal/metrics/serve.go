package metrics

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Path is where Serve exposes the metrics.
const Path = "/metrics"

// Server serves a registry's metrics over plain HTTP, unauthenticated:
// bind it to a private interface.
type Server struct {
	lis  net.Listener
	srv  *http.Server
	done chan error
}

// Serve listens on addr (host:port; port 0 picks a free one) and serves
// the metrics of reg at Path, in the Prometheus text or protobuf
// exposition format the scraper asks for, until Close. The listener is
// bound when Serve returns: Addr gives the address.
func Serve(addr string, reg *prometheus.Registry) (*Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: --metrics-addr %q: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(Path, promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	s := &Server{lis: lis, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, done: make(chan error, 1)}
	go func() { s.done <- s.srv.Serve(lis) }()
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// URL returns the address of the metrics, http://host:port/metrics.
func (s *Server) URL() string { return "http://" + s.Addr() + Path }

// Close stops the server, closing its connections, and returns the error
// that stopped it before, if any.
func (s *Server) Close() error {
	err := s.srv.Close()
	if served := <-s.done; !errors.Is(served, http.ErrServerClosed) {
		err = errors.Join(err, served)
	}
	return err
}
