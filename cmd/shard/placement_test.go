package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// TestPartitionsAutoErrors: --partitions auto and its flags, from the
// command line or the environment, refuse what cannot be placed with a
// usage error naming the values.
func TestPartitionsAutoErrors(t *testing.T) {
	data := []string{"--synthetic", "model=sum,d=3,k=1,n=100", "--insecure", "--grpc-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0"}
	cases := map[string]struct {
		args []string
		want string
	}{
		"no shards":               {[]string{"--id", "shard-1", "--partitions", "auto", "--shard-index", "1"}, "--partitions auto needs --shards and --shard-index"},
		"no index":                {[]string{"--id", "shard-1", "--partitions", "auto", "--shards", "4"}, "--partitions auto needs --shards and --shard-index"},
		"index out of range":      {[]string{"--id", "s", "--partitions", "auto", "--shard-index", "4", "--shards", "4"}, "shard index 4 out of range [0, 4)"},
		"negative index":          {[]string{"--id", "s", "--partitions", "auto", "--shard-index", "-1", "--shards", "4"}, "shard index -1 out of range [0, 4)"},
		"bad index":               {[]string{"--id", "s", "--partitions", "auto", "--shard-index", "three", "--shards", "4"}, `--shard-index "three": want a number or auto`},
		"replication > S":         {[]string{"--id", "s", "--partitions", "auto", "--shard-index", "0", "--shards", "2", "--replication", "3"}, "replication 3 exceeds the 2 shards"},
		"P < S":                   {[]string{"--id", "s", "--partitions", "auto", "--shard-index", "0", "--shards", "9", "--num-partitions", "8"}, "8 partitions for 9 shards"},
		"auto without number":     {[]string{"--id", "shard", "--partitions", "auto", "--shard-index", "auto", "--shards", "4"}, `--id shard: placement: invalid placement: the name "shard" does not end with a number`},
		"auto past the end":       {[]string{"--id", "shard-4", "--partitions", "auto", "--shard-index", "auto", "--shards", "4"}, "shard index 4 out of range [0, 4)"},
		"below the base":          {[]string{"--id", "shard-0", "--partitions", "auto", "--shard-index", "auto", "--shard-index-base", "1", "--shards", "4"}, "below the first index's number 1"},
		"list with --shards":      {[]string{"--id", "s1", "--partitions", "0-3", "--shards", "4"}, `--shards goes with --partitions auto, not with the list "0-3"`},
		"list with --replication": {[]string{"--id", "s1", "--partitions", "0-3", "--replication", "2"}, "--replication goes with --partitions auto"},
	}
	for name, tc := range cases {
		var out, errb bytes.Buffer
		err := run(context.Background(), append(tc.args, data...), &out, &errb)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want a usage error mentioning %q", name, err, tc.want)
		}
	}
	// From the environment, the same.
	t.Setenv("ALTMIN_PARTITIONS", "auto")
	t.Setenv("ALTMIN_SHARDS", "4")
	t.Setenv("ALTMIN_SHARD_INDEX", "auto")
	t.Setenv("ALTMIN_ID", "shard-7")
	var out, errb bytes.Buffer
	err := run(context.Background(), data, &out, &errb)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "shard index 7 out of range [0, 4)") {
		t.Errorf("environment: err = %v, want shard index 7 refused", err)
	}
}

// TestPartitionsAutoServes starts shards with --partitions auto, the index
// taken from the ID (StatefulSet ordinals, base 0, and Swarm slots, base
// 1, set through the environment as the manifests do) or given, and checks
// the partitions they say they serve.
func TestPartitionsAutoServes(t *testing.T) {
	cases := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"ALTMIN_ID": "shard-3", "ALTMIN_SHARD_INDEX": "auto", "ALTMIN_SHARDS": "4", "ALTMIN_REPLICATION": "2"}, nil, "serving partitions [0 1 6 7]"},
		{map[string]string{"ALTMIN_ID": "shard-4", "ALTMIN_SHARD_INDEX": "auto", "ALTMIN_SHARD_INDEX_BASE": "1", "ALTMIN_SHARDS": "4", "ALTMIN_REPLICATION": "2"}, nil, "serving partitions [0 1 6 7]"},
		{nil, []string{"--id", "s1", "--shard-index", "1", "--shards", "3"}, "serving partitions [2 3 4]"},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			pr, pw := io.Pipe()
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, append(tc.args, "--partitions", "auto", "--num-partitions", "8", "--synthetic", "model=sum,d=3,k=1,n=200,seed=1",
					"--grpc-addr", "127.0.0.1:0", "--gossip-addr", "127.0.0.1:0", "--insecure", "--log-level", "error"), pw, io.Discard)
				pw.Close()
			}()
			lines := bufio.NewScanner(pr)
			if !lines.Scan() {
				t.Fatalf("the shard stopped before serving: %v", <-done)
			}
			line := lines.Text()
			cancel()
			go io.Copy(io.Discard, pr)
			if err := <-done; err != nil {
				t.Errorf("shard: %v", err)
			}
			if !strings.Contains(line, tc.want) {
				t.Errorf("the shard says %q, want %q", line, tc.want)
			}
		})
	}
}
