package transport

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestSchemaCompatible(t *testing.T) {
	base := Schema{N: 100, D: 5, P: 4, Bias: true, DType: "float64", Fingerprint: "abc", Arith: "amd64/v1", Protocol: ProtocolVersion, Rows: map[int]int{0: 25}}
	if err := base.Compatible(base); err != nil {
		t.Fatal(err)
	}
	other := base
	other.Rows = map[int]int{1: 25, 2: 25}
	if err := base.Compatible(other); err != nil {
		t.Fatalf("rows must not matter: %v", err)
	}
	// Each case changes several fields; the first in the order protocol,
	// d, P, n, fingerprint, bias, dtype, arithmetic build is the one
	// explained, in both directions.
	cases := []struct {
		edit       func(s *Schema)
		here, back string // the message of base.Compatible(o), of o.Compatible(base)
	}{
		{func(s *Schema) { s.Protocol, s.D = 0, 6 },
			fmt.Sprintf("protocol version %d here, 1 or 2 (not announced) there", ProtocolVersion), fmt.Sprintf("protocol version 1 or 2 (not announced) here, %d there", ProtocolVersion)},
		{func(s *Schema) { s.Protocol, s.Arith = ProtocolVersion+1, "" }, fmt.Sprintf("protocol version %d here, %d there", ProtocolVersion, ProtocolVersion+1), fmt.Sprintf("protocol version %d here, %d there", ProtocolVersion+1, ProtocolVersion)},
		{func(s *Schema) { s.D, s.P, s.N = 6, 5, 1 }, "d = 5 here, 6 there", "d = 6 here, 5 there"},
		{func(s *Schema) { s.P, s.N, s.Fingerprint = 5, 1, "x" }, "P = 4 partitions here, 5 there", "P = 5 partitions here, 4 there"},
		{func(s *Schema) { s.N, s.Fingerprint, s.Bias = 99, "x", false }, "n = 100 rows here, 99 there", "n = 99 rows here, 100 there"},
		{func(s *Schema) { s.Fingerprint, s.Bias = "x", false }, `data fingerprint "abc" here, "x" there`, `data fingerprint "x" here, "abc" there`},
		{func(s *Schema) { s.Bias, s.DType = false, "float32" }, "bias true here, false there", "bias false here, true there"},
		{func(s *Schema) { s.DType, s.Arith = "float32", "arm64/v8.0" }, `dtype "float64" here, "float32" there`, `dtype "float32" here, "float64" there`},
		{func(s *Schema) { s.Arith = "amd64/v3" }, "built for amd64/v1 here, amd64/v3 there", "built for amd64/v3 here, amd64/v1 there"},
		{func(s *Schema) { s.Arith = "" }, "built for amd64/v1 here, an unknown build there", "built for an unknown build here, amd64/v1 there"},
	}
	for _, tc := range cases {
		o := base
		tc.edit(&o)
		for _, c := range []struct {
			err  error
			want string
		}{{base.Compatible(o), tc.here}, {o.Compatible(base), tc.back}} {
			if !errors.Is(c.err, ErrSchema) {
				t.Fatalf("%+v: %v, want ErrSchema", o, c.err)
			}
			// The message is for people; check it names the first difference.
			if !strings.Contains(c.err.Error(), c.want) {
				t.Errorf("%v does not say %q", c.err, c.want)
			}
		}
		if base.Equal(o) || o.Equal(base) {
			t.Errorf("%+v: Equal to %+v", o, base)
		}
	}
}

func TestSchemaEqual(t *testing.T) {
	base := Schema{N: 10, D: 2, P: 3, DType: "float64", Fingerprint: "f", Protocol: ProtocolVersion, Rows: map[int]int{0: 3, 2: 4}}
	same := base
	same.Rows = map[int]int{2: 4, 0: 3}
	if !base.Equal(same) || !base.Equal(base) {
		t.Fatal("equal schemas are not Equal")
	}
	for _, rows := range []map[int]int{nil, {0: 3}, {0: 3, 1: 3}, {0: 3, 2: 3}, {0: 3, 2: 4, 1: 3}} {
		o := base
		o.Rows = rows
		if base.Equal(o) || o.Equal(base) {
			t.Errorf("rows %v: Equal to %v", rows, base.Rows)
		}
	}
	o := base
	o.Protocol = 0
	if base.Equal(o) {
		t.Error("Equal ignores the protocol")
	}
}

func TestSchemaFeatures(t *testing.T) {
	for _, tc := range []struct {
		s    Schema
		want int
	}{{Schema{D: 5}, 5}, {Schema{D: 5, Bias: true}, 6}, {Schema{D: 1, Bias: true}, 2}} {
		if got := tc.s.Features(); got != tc.want {
			t.Errorf("%+v: Features() = %d, want %d", tc.s, got, tc.want)
		}
	}
}

func TestSchemaJSON(t *testing.T) {
	s := Schema{N: 10, D: 2, P: 3, DType: "float64", Fingerprint: "f", Arith: "amd64/v1", Protocol: ProtocolVersion, Rows: map[int]int{0: 3, 2: 4}}
	b, err := json.Marshal(ShardInfo{ID: "a", Schema: s})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), fmt.Sprintf(`"protocol":%d`, ProtocolVersion)) {
		t.Fatalf("%s does not announce the protocol", b)
	}
	var back ShardInfo
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.ID != "a" || !back.Schema.Equal(s) || back.Schema.Protocol != ProtocolVersion {
		t.Fatalf("%s decoded to %+v", b, back)
	}
	if err := back.Validate(); err != nil {
		t.Fatal(err)
	}

	// The metadata of a shard before protocol version 3 has no protocol
	// (nor arithmetic build): it decodes to 0, which is not Compatible.
	old := `{"id":"b","schema":{"n":10,"d":2,"p":3,"bias":false,"dtype":"float64","fingerprint":"f","rows":{"1":3}}}`
	var o ShardInfo
	if err := json.Unmarshal([]byte(old), &o); err != nil {
		t.Fatal(err)
	}
	if o.Schema.Protocol != 0 || o.Schema.Rows[1] != 3 {
		t.Fatalf("decoded %+v", o)
	}
	if err := s.Compatible(o.Schema); !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), "1 or 2") {
		t.Fatalf("a shard of an older protocol: %v", err)
	}
	s.Protocol, s.Arith = 0, ""
	if b, _ := json.Marshal(s); strings.Contains(string(b), "protocol") || strings.Contains(string(b), "arith") {
		t.Fatalf("%s: unset protocol and build not omitted", b)
	}
}

func TestSchemaValidate(t *testing.T) {
	ok := Schema{N: 10, D: 2, P: 3, Rows: map[int]int{1: 3}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (Schema{N: 10, D: 2, P: 3}).Validate(); err != nil {
		t.Fatalf("no partitions held: %v", err)
	}
	bad := []Schema{
		{N: 0, D: 2, P: 3},
		{N: 10, D: 0, P: 3},
		{N: 10, D: 2, P: 0},
		{N: -1, D: 2, P: 3},
		{N: 10, D: 2, P: 3, Rows: map[int]int{3: 3}},
		{N: 10, D: 2, P: 3, Rows: map[int]int{-1: 3}},
		{N: 10, D: 2, P: 3, Rows: map[int]int{2: 3}}, // partition 2 has 4 rows
		{N: 2, D: 2, P: 3, Rows: map[int]int{0: 1}},  // P > n: partition 0 is empty
	}
	for _, s := range bad {
		if err := s.Validate(); !errors.Is(err, ErrSchema) {
			t.Errorf("%+v: %v, want ErrSchema", s, err)
		}
		if err := (ShardInfo{ID: "x", Schema: s}).Validate(); !errors.Is(err, ErrSchema) || !strings.Contains(err.Error(), `shard "x"`) {
			t.Errorf("shard with %+v: %v, want ErrSchema naming the shard", s, err)
		}
	}
	for _, info := range []ShardInfo{{ID: "", Schema: ok}, {ID: strings.Repeat("x", MaxShardIDLen+1), Schema: ok}} {
		if err := info.Validate(); !errors.Is(err, ErrSchema) {
			t.Errorf("id of %d bytes: %v, want ErrSchema", len(info.ID), err)
		}
	}
	if err := (ShardInfo{ID: strings.Repeat("x", MaxShardIDLen), Schema: ok}).Validate(); err != nil {
		t.Errorf("id of %d bytes: %v", MaxShardIDLen, err)
	}
}
