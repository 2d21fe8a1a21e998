package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"altmin/job"
)

// healthCmd asks a shard's gRPC health service whether it is serving; it
// is the container healthcheck (the images have no shell).
func healthCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o := job.DefaultOptions()
	fs := flag.NewFlagSet("shard health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:7000", "gRPC address of the shard")
	id := fs.String("id", "", "the shard's ID (its certificate's name), with TLS")
	timeout := fs.Duration("timeout", 3*time.Second, "deadline")
	fs.StringVar(&o.TLSDir, "tls-dir", "", "directory with ca.pem and the client's ID.pem, ID-key.pem")
	client := fs.String("client-id", "", "certificate name to present (default: --id)")
	fs.BoolVar(&o.Insecure, "insecure", false, "plaintext gRPC")
	if err := parse(fs, args); err != nil {
		return err
	}
	var creds credentials.TransportCredentials = insecure.NewCredentials()
	if !o.Insecure {
		name := *client
		if name == "" {
			name = *id
		}
		sec, err := job.Security(o, name, false)
		if err != nil {
			return err
		}
		if sec.TLS == nil {
			return fmt.Errorf("%w: give --tls-dir (and --id) or --insecure", errUsage)
		}
		tc := sec.TLS.Clone()
		tc.ServerName = *id
		creds = credentials.NewTLS(tc)
	}
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return fmt.Errorf("health check of %s: %w", *addr, err)
	}
	if resp.Status != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("health check of %s: %s", *addr, resp.Status)
	}
	fmt.Fprintln(stdout, "SERVING")
	return nil
}
