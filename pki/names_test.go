package pki

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestExpandNames(t *testing.T) {
	cases := []struct {
		in   []string
		want []string
	}{
		{[]string{"shard-{0..3}", "coordinator"}, []string{"shard-0", "shard-1", "shard-2", "shard-3", "coordinator"}},
		{[]string{"s{1..1}"}, []string{"s1"}},
		{[]string{"s{08..10}"}, []string{"s08", "s09", "s10"}},
		{[]string{"r{0..1}-s{0..1}"}, []string{"r0-s0", "r0-s1", "r1-s0", "r1-s1"}},
		{[]string{"plain", "x.y"}, []string{"plain", "x.y"}},
	}
	for _, tc := range cases {
		got, err := ExpandNames(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ExpandNames(%q) = %q, %v, want %q", tc.in, got, err, tc.want)
		}
	}
	for in, want := range map[string]string{
		"s{3..1}":     "wants {LO..HI}",
		"s{a..b}":     "wants {LO..HI}",
		"s{1,2}":      "wants {LO..HI}",
		"s{-1..2}":    "wants {LO..HI}",
		"s{1..2":      "without its '}'",
		"s1..2}":      "without its '{'",
		"s{0..20000}": "more than 10000 names",
	} {
		if _, err := ExpandNames([]string{in}); !errors.Is(err, ErrName) || !strings.Contains(err.Error(), want) {
			t.Errorf("ExpandNames(%q): err = %v, want ErrName mentioning %q", in, err, want)
		}
	}
	if _, err := ExpandNames([]string{"a{0..99}", "b{0..99}-{0..99}"}); err == nil || !strings.Contains(err.Error(), "more than 10000 names") {
		t.Errorf("10100 names: err = %v, want the limit", err)
	}
}

// TestDomainNames: with Options.Domains, every certificate also names
// NAME.DOMAIN, a client dialling a shard by its StatefulSet name verifies
// it, the name of another shard under the same domain is refused (no
// wildcard), and a certificate from a foreign CA with the right names is
// refused.
func TestDomainNames(t *testing.T) {
	const domain = "shards.altmin.svc.cluster.local"
	names, err := ExpandNames([]string{"shard-{0..2}", "coordinator"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := Generate(dir, names, time.Hour, Options{Domains: []string{domain}}); err != nil {
		t.Fatal(err)
	}
	c := readCert(t, filepath.Join(dir, "shard-1.pem"))
	if want := []string{"shard-1", "shard-1." + domain, "localhost"}; !slices.Equal(c.DNSNames, want) {
		t.Errorf("DNS names %v, want %v", c.DNSNames, want)
	}
	for _, name := range []string{"shard-1", "shard-1." + domain} {
		if serr, cerr := handshake(t, serverCfg(t, dir, "shard-1"), clientCfg(t, dir, "coordinator", name)); serr != nil || cerr != nil {
			t.Errorf("dialling shard-1 as %s: server %v, client %v", name, serr, cerr)
		}
	}
	var host x509.HostnameError
	if _, cerr := handshake(t, serverCfg(t, dir, "shard-1"), clientCfg(t, dir, "coordinator", "shard-2."+domain)); !errors.As(cerr, &host) {
		t.Errorf("shard-1 answering for shard-2.%s: client error %v, want x509.HostnameError", domain, cerr)
	}
	foreign := t.TempDir()
	if err := Generate(foreign, []string{"shard-1"}, time.Hour, Options{Domains: []string{domain}}); err != nil {
		t.Fatal(err)
	}
	srv := serverCfg(t, foreign, "shard-1")
	srv.ClientCAs = serverCfg(t, dir, "shard-1").ClientCAs
	var unknown x509.UnknownAuthorityError
	if _, cerr := handshake(t, srv, clientCfg(t, dir, "coordinator", "shard-1."+domain)); !errors.As(cerr, &unknown) {
		t.Errorf("foreign shard-1 certificate: client error %v, want x509.UnknownAuthorityError", cerr)
	}
	// A domain that makes an invalid name is refused before anything is written.
	bad := t.TempDir()
	err = Generate(bad, []string{"shard-0"}, time.Hour, Options{Domains: []string{"Bad_Domain"}})
	if !errors.Is(err, ErrName) || !strings.Contains(err.Error(), `domain "Bad_Domain"`) {
		t.Errorf("bad domain: err = %v", err)
	}
	if entries, _ := os.ReadDir(bad); len(entries) != 0 {
		t.Errorf("%d files written for a refused domain", len(entries))
	}
}
