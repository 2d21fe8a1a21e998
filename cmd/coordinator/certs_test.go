package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCertsBraceRanges: certs --nodes expands numeric brace ranges into
// one certificate per name and --domain adds NAME.DOMAIN to each; a
// malformed range is a usage error naming it, and nothing is written.
func TestCertsBraceRanges(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"certs", "--out", dir, "--nodes", "shard-{0..3},coordinator", "--domain", "shards.altmin.svc.cluster.local"}, &out, &errb)
	if err != nil {
		t.Fatalf("certs: %v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "shard-0, shard-1, shard-2, shard-3, coordinator") {
		t.Errorf("output %q does not list the expanded names", out.String())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2+2*5 {
		t.Errorf("%d files, want the CA and 5 pairs", len(entries))
	}
	b, err := os.ReadFile(filepath.Join(dir, "shard-3.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"shard-3", "shard-3.shards.altmin.svc.cluster.local", "localhost"}; !slices.Equal(c.DNSNames, want) {
		t.Errorf("shard-3's DNS names %v, want %v", c.DNSNames, want)
	}
	bad := filepath.Join(t.TempDir(), "bad")
	err = run(context.Background(), []string{"certs", "--out", bad, "--nodes", "shard-{3..0}"}, &out, &errb)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "{3..0}") {
		t.Errorf("reversed range: err = %v, want a usage error naming {3..0}", err)
	}
	if _, err := os.Stat(bad); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused command created %s", bad)
	}
}
