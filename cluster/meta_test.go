package cluster

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/memberlist"
)

func TestFormatRanges(t *testing.T) {
	cases := []struct {
		in   []int
		want string
	}{
		{nil, ""},
		{[]int{0}, "0"},
		{[]int{9, 0, 1, 2, 3, 4, 5, 6, 7}, "0-7,9"},
		{[]int{5, 3, 1}, "1,3,5"},
		{[]int{1, 2, 4, 5, 7}, "1-2,4-5,7"},
	}
	for _, c := range cases {
		got, err := formatRanges(c.in)
		if err != nil || got != c.want {
			t.Errorf("formatRanges(%v) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range [][]int{{-1}, {1, 1}, {0, 1, 1, 2}, {3, 2, 3}, {MaxPartition + 1}} {
		if _, err := formatRanges(bad); !errors.Is(err, ErrMeta) {
			t.Errorf("formatRanges(%v): %v, want ErrMeta", bad, err)
		}
	}
}

// TestRangesRoundTrip checks parse(format(s)) == sorted(s) on seeded random
// sets, against a plain sort as the independent route.
func TestRangesRoundTrip(t *testing.T) {
	const seed = 7
	rng := rand.New(rand.NewPCG(seed, seed))
	for trial := range 500 {
		set := map[int]bool{}
		for range rng.IntN(40) {
			set[rng.IntN(60)] = true
		}
		var parts []int
		for p := range set {
			parts = append(parts, p)
		}
		s, err := formatRanges(parts)
		if err != nil {
			t.Fatalf("seed %d trial %d: %v", seed, trial, err)
		}
		got, err := parseRanges(s)
		if err != nil {
			t.Fatalf("seed %d trial %d: parse %q: %v", seed, trial, s, err)
		}
		want := slices.Sorted(func(yield func(int) bool) {
			for p := range set {
				if !yield(p) {
					return
				}
			}
		})
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d trial %d: %v -> %q -> %v", seed, trial, parts, s, got)
		}
	}
}

func TestParseRangesRejects(t *testing.T) {
	for _, bad := range []string{",", "1,", "a", "-1", "1-", "3-1", "1,1", "2,1", "0-3,3", "1--2", " 1", "+1", "1234567890", "0-999999999"} {
		if _, err := parseRanges(bad); !errors.Is(err, ErrMeta) {
			t.Errorf("parseRanges(%q) = %v, want ErrMeta", bad, err)
		}
	}
}

func TestMetaRoundTrip(t *testing.T) {
	m := Meta{
		Role:       RoleShard,
		GRPCAddr:   "127.0.0.1:9000",
		Partitions: []int{3, 0, 1, 2, 8},
		Schema:     json.RawMessage(`{ "proto": [1, 2] }`),
	}
	b, err := encodeMeta(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeMeta("shard-1", b)
	if err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	if got.ID != "shard-1" || got.Role != RoleShard || got.GRPCAddr != m.GRPCAddr ||
		!slices.Equal(got.Partitions, []int{0, 1, 2, 3, 8}) || string(got.Schema) != `{"proto":[1,2]}` {
		t.Errorf("round trip gave %+v (schema %s)", got, got.Schema)
	}
	if !slices.Equal(m.Partitions, []int{3, 0, 1, 2, 8}) {
		t.Error("encodeMeta reordered the caller's partitions")
	}
	c, err := encodeMeta(Meta{Role: RoleCoordinator})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := decodeMeta("coord", c); err != nil || got.Role != RoleCoordinator || got.Partitions != nil || got.Schema != nil {
		t.Errorf("coordinator round trip: %+v, %v", got, err)
	}
}

func TestMetaLimit(t *testing.T) {
	// Contiguous partitions encode compactly whatever their number.
	many := make([]int, 100000)
	for i := range many {
		many[i] = i
	}
	if _, err := encodeMeta(Meta{Role: RoleShard, Partitions: many}); err != nil {
		t.Errorf("100000 contiguous partitions: %v", err)
	}
	// Every other partition does not fit.
	sparse := make([]int, 200)
	for i := range sparse {
		sparse[i] = 2 * i
	}
	_, err := encodeMeta(Meta{Role: RoleShard, Partitions: sparse})
	if !errors.Is(err, ErrMeta) || !strings.Contains(err.Error(), "limit is 512") {
		t.Errorf("sparse partitions: %v, want ErrMeta about the limit", err)
	}
	big := json.RawMessage(`"` + strings.Repeat("x", memberlist.MetaMaxSize) + `"`)
	if _, err := encodeMeta(Meta{Role: RoleShard, Schema: big}); !errors.Is(err, ErrMeta) {
		t.Errorf("big schema: %v, want ErrMeta", err)
	}
}

func TestMetaRejects(t *testing.T) {
	for _, m := range []Meta{
		{},
		{Role: "worker"},
		{Role: RoleShard, GRPCAddr: "no-port"},
		{Role: RoleShard, Schema: json.RawMessage(`{`)},
		{Role: RoleShard, Partitions: []int{-2}},
	} {
		if _, err := encodeMeta(m); !errors.Is(err, ErrMeta) {
			t.Errorf("encodeMeta(%+v) = %v, want ErrMeta", m, err)
		}
	}
	for _, b := range []string{``, `{`, `{"v":2,"r":"shard"}`, `{"v":1,"r":"x"}`, `{"v":1,"r":"shard","p":"2,1"}`, `{"v":1,"r":"shard","zz":1}`} {
		if _, err := decodeMeta("n", []byte(b)); !errors.Is(err, ErrMeta) {
			t.Errorf("decodeMeta(%s) = %v, want ErrMeta", b, err)
		}
	}
}
