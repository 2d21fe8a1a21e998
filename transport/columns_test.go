package transport

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestSchemaColumns: shards that chose other feature columns by name are
// not compatible, and the digest travels in the gossiped JSON.
func TestSchemaColumns(t *testing.T) {
	base := Schema{N: 100, D: 2, P: 4, DType: "float64", Fingerprint: "abc", Arith: "amd64/v1", Protocol: ProtocolVersion, Columns: "0123456789abcdef"}
	other := base
	other.Columns = ""
	err := base.Compatible(other)
	if !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), "--features") {
		t.Errorf("other feature columns: %v", err)
	}
	b, err := json.Marshal(base)
	if err != nil {
		t.Fatal(err)
	}
	var back Schema
	if err := json.Unmarshal(b, &back); err != nil || back.Compatible(base) != nil {
		t.Errorf("round trip of %s: %+v, %v", b, back, err)
	}
}
