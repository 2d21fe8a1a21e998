package transport

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestSchemaCompatible(t *testing.T) {
	base := Schema{N: 100, D: 5, P: 4, Bias: true, DType: "float64", Fingerprint: "abc", Arith: "amd64/v1", Rows: map[int]int{0: 25}}
	if err := base.Compatible(base); err != nil {
		t.Fatal(err)
	}
	other := base
	other.Rows = map[int]int{1: 25, 2: 25}
	if err := base.Compatible(other); err != nil {
		t.Fatalf("rows must not matter: %v", err)
	}
	if base.Equal(other) || !base.Equal(base) {
		t.Fatal("Equal must compare rows")
	}
	// Each case changes several fields; the first in the order d, P, n,
	// fingerprint, bias, dtype, arithmetic build is the one explained.
	cases := []struct {
		edit func(s *Schema)
		want string
	}{
		{func(s *Schema) { s.D, s.P, s.N = 6, 5, 1 }, "d = 5 here, 6 there"},
		{func(s *Schema) { s.P, s.N, s.Fingerprint = 5, 1, "x" }, "P = 4 partitions here, 5 there"},
		{func(s *Schema) { s.N, s.Fingerprint, s.Bias = 99, "x", false }, "n = 100 rows here, 99 there"},
		{func(s *Schema) { s.Fingerprint, s.Bias = "x", false }, `data fingerprint "abc" here, "x" there`},
		{func(s *Schema) { s.Bias, s.DType = false, "float32" }, "bias true here, false there"},
		{func(s *Schema) { s.DType, s.Arith = "float32", "arm64/v8.0" }, `dtype "float64" here, "float32" there`},
		{func(s *Schema) { s.Arith = "amd64/v3" }, "built for amd64/v1 here, amd64/v3 there"},
		{func(s *Schema) { s.Arith = "" }, "built for amd64/v1 here, an unknown build there"},
	}
	for _, tc := range cases {
		o := base
		tc.edit(&o)
		err := base.Compatible(o)
		if !errors.Is(err, ErrSchema) {
			t.Fatalf("%+v: %v, want ErrSchema", o, err)
		}
		// The message is for people; check it names the first difference.
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v does not say %q", err, tc.want)
		}
	}
}

func TestSchemaJSON(t *testing.T) {
	s := Schema{N: 10, D: 2, P: 3, DType: "float64", Fingerprint: "f", Rows: map[int]int{0: 3, 2: 4}}
	b, err := json.Marshal(ShardInfo{ID: "a", Schema: s})
	if err != nil {
		t.Fatal(err)
	}
	var back ShardInfo
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.ID != "a" || !back.Schema.Equal(s) {
		t.Fatalf("%s decoded to %+v", b, back)
	}
	if err := back.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestSchemaValidate(t *testing.T) {
	ok := Schema{N: 10, D: 2, P: 3, Rows: map[int]int{1: 3}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []Schema{
		{N: 0, D: 2, P: 3},
		{N: 10, D: 0, P: 3},
		{N: 10, D: 2, P: 0},
		{N: 10, D: 2, P: 3, Rows: map[int]int{3: 3}},
		{N: 10, D: 2, P: 3, Rows: map[int]int{-1: 3}},
		{N: 10, D: 2, P: 3, Rows: map[int]int{2: 3}}, // partition 2 has 4 rows
		{N: 2, D: 2, P: 3, Rows: map[int]int{0: 1}},  // P > n: partition 0 is empty
	}
	for _, s := range bad {
		if err := s.Validate(); !errors.Is(err, ErrSchema) {
			t.Errorf("%+v: %v, want ErrSchema", s, err)
		}
	}
	for _, info := range []ShardInfo{{ID: "", Schema: ok}, {ID: strings.Repeat("x", MaxShardIDLen+1), Schema: ok}} {
		if err := info.Validate(); !errors.Is(err, ErrSchema) {
			t.Errorf("id of %d bytes: %v, want ErrSchema", len(info.ID), err)
		}
	}
}
