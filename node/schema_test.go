package node_test

import (
	"errors"
	"strings"
	"testing"

	"altmin/data"
	"altmin/node"
	"altmin/shard"
	"altmin/transport"
)

// TestSchemaStored: a float32 shard advertises dtype float32 and the
// fingerprint of the rounded features, so a cluster mixing storages is
// refused: by dtype for float32-exact data (whose fingerprint is kept), by
// fingerprint for data the rounding changes.
func TestSchemaStored(t *testing.T) {
	for _, c := range []struct {
		spec   string
		sameFP bool
	}{
		{"model=sum,d=4,k=2,n=3000,seed=2,dtype=float32", true},
		{"model=sum,d=4,k=2,n=3000,seed=2", false},
	} {
		g, err := data.ParseSynthetic(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		s64, err := node.SchemaStored(g, 4, false, shard.Float64)
		if err != nil {
			t.Fatal(err)
		}
		s32, err := node.SchemaStored(g, 4, false, shard.Float32)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := node.Schema(g, 4, false)
		if err != nil {
			t.Fatal(err)
		}
		if !s64.Equal(plain) || s32.DType != "float32" || s64.DType != "float64" {
			t.Fatalf("%s: schemas %+v, %+v, %+v", c.spec, plain, s64, s32)
		}
		if (s32.Fingerprint == s64.Fingerprint) != c.sameFP {
			t.Errorf("%s: fingerprints %s (float32) and %s (float64)", c.spec, s32.Fingerprint, s64.Fingerprint)
		}
		err = s32.Compatible(s64)
		want := "fingerprint"
		if c.sameFP {
			want = "dtype"
		}
		if !errors.Is(err, transport.ErrSchema) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: mixing storages: %v, want a schema error on the %s", c.spec, err, want)
		}
	}
}
