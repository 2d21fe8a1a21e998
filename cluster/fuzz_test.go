package cluster

import (
	"bytes"
	"encoding/base64"
	"testing"
)

// FuzzParseKey: the gossip key (--cluster-key, ALTMIN_CLUSTER_KEY, a key
// file) never panics; a key accepted has 16, 24 or 32 bytes and encodes
// back to a string parsed to the same key.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"", "AAAAAAAAAAAAAAAAAAAAAA==", " AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \n", "not base64!", "AAAA", "QUJD"} {
		f.Add(s)
	}
	if k, err := GenerateKey(); err == nil {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, s string) {
		key, err := ParseKey(s)
		if err != nil {
			return
		}
		if n := len(key); n != 16 && n != 24 && n != 32 {
			t.Fatalf("ParseKey(%q): %d bytes", s, n)
		}
		again, err := ParseKey(base64.StdEncoding.EncodeToString(key))
		if err != nil || !bytes.Equal(again, key) {
			t.Fatalf("round trip of %q: %x, %v", s, again, err)
		}
	})
}
