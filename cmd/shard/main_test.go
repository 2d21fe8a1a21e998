package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseList(t *testing.T) {
	for in, want := range map[string][]int{"0": {0}, "0,2": {0, 2}, "4-7": {4, 5, 6, 7}, " 1, 3-4 ,9": {1, 3, 4, 9}} {
		got, err := parseList(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("parseList(%q) = %v, %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "a", "-1", "3-1", "1-x", ","} {
		if _, err := parseList(in); err == nil {
			t.Errorf("parseList(%q) succeeded", in)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	cases := map[string]struct {
		args []string
		want string
	}{
		"no id":          {[]string{"--partitions", "0", "--synthetic", "model=sum,d=3,k=1,n=10", "--insecure"}, "--id and --partitions are required"},
		"no data":        {[]string{"--id", "s1", "--partitions", "0", "--insecure"}, "--synthetic or --data"},
		"bad partitions": {[]string{"--id", "s1", "--partitions", "0,x", "--synthetic", "model=sum,d=3,k=1,n=10", "--insecure"}, `"x" is not a partition`},
		"stray argument": {[]string{"--id", "s1", "extra"}, "unexpected argument"},
		"bad resident":   {[]string{"--id", "s1", "--partitions", "0", "--synthetic", "model=sum,d=3,k=1,n=10", "--insecure", "--resident", "-1"}, "--resident -1"},
		"bad parallel":   {[]string{"--id", "s1", "--partitions", "0", "--synthetic", "model=sum,d=3,k=1,n=10", "--insecure", "--parallel", "-2"}, "--parallel -2"},
		"bad log level":  {[]string{"--id", "s1", "--partitions", "0", "--synthetic", "model=sum,d=3,k=1,n=10", "--insecure", "--log-level", "loud"}, "--log-level"},
	}
	for name, tc := range cases {
		var out, errb bytes.Buffer
		err := run(context.Background(), tc.args, &out, &errb)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want a usage error mentioning %q", name, err, tc.want)
		}
	}
}

func TestSecurityRequired(t *testing.T) {
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"--id", "s1", "--partitions", "0", "--synthetic", "model=sum,d=3,k=1,n=10",
		"--grpc-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "cluster key is required") {
		t.Fatalf("err = %v, want the cluster key to be required", err)
	}
	err = run(context.Background(), []string{"--id", "s1", "--partitions", "0", "--synthetic", "model=sum,d=3,k=1,n=10",
		"--grpc-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0", "--cluster-key", "AAAAAAAAAAAAAAAAAAAAAA=="}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "TLS certificates are required") {
		t.Fatalf("err = %v, want certificates to be required", err)
	}
	err = run(context.Background(), []string{"--id", "s1", "--partitions", "9", "--num-partitions", "8", "--synthetic", "model=sum,d=3,k=1,n=10",
		"--grpc-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0", "--insecure"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "partition 9 out of range") {
		t.Fatalf("err = %v, want partition out of range", err)
	}
}

func TestHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, &out, &errb); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(errb.String(), "--partitions") && !strings.Contains(errb.String(), "-partitions") {
		t.Errorf("help does not list the flags:\n%s", errb.String())
	}
}

// TestEnvironment: flags not given come from ALTMIN_<FLAG>, the cluster
// key among them (t.Setenv: not in parallel with other tests), a flag
// given wins, a bad value names its variable, and the help says so, for
// the shard and its health command.
func TestEnvironment(t *testing.T) {
	t.Setenv("ALTMIN_ID", "s1")
	t.Setenv("ALTMIN_PARTITIONS", "0")
	t.Setenv("ALTMIN_SYNTHETIC", "model=sum,d=3,k=1,n=10")
	t.Setenv("ALTMIN_GRPC_ADDR", "127.0.0.1:0")
	t.Setenv("ALTMIN_GOSSIP_ADDR", "127.0.0.1:0")
	t.Setenv("ALTMIN_CLUSTER_KEY", "AAAAAAAAAAAAAAAAAAAAAA==")
	t.Setenv("ALTMIN_RESIDENT", "-1")
	var out, errb bytes.Buffer
	err := run(context.Background(), nil, &out, &errb)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--resident -1") {
		t.Errorf("err = %v, want the usage error of ALTMIN_RESIDENT=-1", err)
	}
	// With the key from the environment, the certificates are missing next.
	err = run(context.Background(), []string{"--resident", "0"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "TLS certificates are required") {
		t.Errorf("err = %v, want the key of ALTMIN_CLUSTER_KEY accepted and certificates required", err)
	}
	t.Setenv("ALTMIN_PARALLEL", "two")
	err = run(context.Background(), []string{"--resident", "0"}, &out, &errb)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), `ALTMIN_PARALLEL="two"`) || !strings.Contains(err.Error(), "--parallel") {
		t.Errorf("err = %v, want a usage error naming ALTMIN_PARALLEL and --parallel", err)
	}
	// The health command (the container healthcheck) reads the same
	// environment: its --tls-dir from ALTMIN_TLS_DIR.
	certs := filepath.Join(t.TempDir(), "certs")
	t.Setenv("ALTMIN_TLS_DIR", certs)
	err = run(context.Background(), []string{"health", "--addr", "127.0.0.1:1"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(certs, "ca.pem")) {
		t.Errorf("health: err = %v, want the CA of ALTMIN_TLS_DIR missing", err)
	}
	for _, args := range [][]string{{"-h"}, {"health", "-h"}} {
		errb.Reset()
		if err := run(context.Background(), args, &out, &errb); !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%q: err = %v, want flag.ErrHelp", args, err)
		}
		if !strings.Contains(errb.String(), "ALTMIN_<FLAG>") {
			t.Errorf("%q: the help does not mention ALTMIN_<FLAG>:\n%s", args, errb.String())
		}
	}
}
