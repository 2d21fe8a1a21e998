package placement

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestCoverage: for every P, S, R in a range, every partition is held by
// exactly R shards, Holders agrees with Shard, every shard holds R blocks
// (at most two contiguous ranges), and the blocks differ in size by at
// most one.
func TestCoverage(t *testing.T) {
	for s := 1; s <= 9; s++ {
		for p := s; p <= 3*s+5; p++ {
			for r := 1; r <= s; r++ {
				pl := Plan{Partitions: p, Shards: s, Replication: r}
				held := make([][]int, s)
				for i := range held {
					ps, err := pl.Shard(i)
					if err != nil {
						t.Fatalf("%+v: Shard(%d): %v", pl, i, err)
					}
					if len(ps) == 0 {
						t.Fatalf("%+v: shard %d holds nothing", pl, i)
					}
					if !slices.IsSorted(ps) || len(slices.Compact(slices.Clone(ps))) != len(ps) {
						t.Fatalf("%+v: shard %d holds %v: not sorted and distinct", pl, i, ps)
					}
					if n := strings.Count(Ranges(ps), ",") + 1; n > 2 {
						t.Errorf("%+v: shard %d holds %s: %d ranges, want at most 2", pl, i, Ranges(ps), n)
					}
					held[i] = ps
				}
				for q, n := range Count(p, held) {
					if n != r {
						t.Fatalf("%+v: partition %d held %d times, want %d", pl, q, n, r)
					}
					var want []int
					for i, ps := range held {
						if slices.Contains(ps, q) {
							want = append(want, i)
						}
					}
					if got := pl.Holders(q); !slices.Equal(got, want) {
						t.Fatalf("%+v: Holders(%d) = %v, want %v", pl, q, got, want)
					}
				}
				lo0, hi0 := pl.Block(0)
				minSize, maxSize := hi0-lo0, hi0-lo0
				for b := 0; b < s; b++ {
					lo, hi := pl.Block(b)
					minSize, maxSize = min(minSize, hi-lo), max(maxSize, hi-lo)
				}
				if maxSize-minSize > 1 || minSize < 1 {
					t.Errorf("%+v: block sizes from %d to %d", pl, minSize, maxSize)
				}
			}
		}
	}
}

// TestDocumentedExamples: the compose cluster's layout and aligned blocks
// when S divides P.
func TestDocumentedExamples(t *testing.T) {
	pl := Plan{Partitions: 8, Shards: 4, Replication: 2}
	for i, want := range []string{"0-3", "2-5", "4-7", "0-1,6-7"} {
		ps, err := pl.Shard(i)
		if err != nil || Ranges(ps) != want {
			t.Errorf("P=8 S=4 R=2: shard %d holds %s (%v), want %s", i, Ranges(ps), err, want)
		}
	}
	pl = Plan{Partitions: 64, Shards: 16, Replication: 1}
	for i := 0; i < 16; i++ {
		ps, _ := pl.Shard(i)
		if ps[0] != 4*i || len(ps) != 4 {
			t.Errorf("P=64 S=16: shard %d holds %s, want the aligned range %d-%d", i, Ranges(ps), 4*i, 4*i+3)
		}
	}
	// S does not divide P: blocks of 2, 3, 3.
	pl = Plan{Partitions: 8, Shards: 3, Replication: 1}
	for i, want := range []string{"0-1", "2-4", "5-7"} {
		if ps, _ := pl.Shard(i); Ranges(ps) != want {
			t.Errorf("P=8 S=3: shard %d holds %s, want %s", i, Ranges(ps), want)
		}
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		plan  Plan
		index int
		want  string
	}{
		{Plan{8, 4, 2}, 4, "shard index 4 out of range [0, 4)"},
		{Plan{8, 4, 2}, -1, "shard index -1 out of range [0, 4)"},
		{Plan{8, 4, 5}, 0, "replication 5 exceeds the 4 shards"},
		{Plan{8, 4, 0}, 0, "replication 0, need at least 1"},
		{Plan{3, 4, 1}, 0, "3 partitions for 4 shards"},
		{Plan{8, 0, 1}, 0, "0 shards, need at least 1"},
	}
	for _, tc := range cases {
		_, err := tc.plan.Shard(tc.index)
		if !errors.Is(err, ErrPlan) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v.Shard(%d): err = %v, want ErrPlan mentioning %q", tc.plan, tc.index, err, tc.want)
		}
	}
}

func TestUnder(t *testing.T) {
	counts := Count(6, [][]int{{0, 1, 2, 3}, {2, 3, 4, 5}, {0, 1}, {9, -1}})
	if !slices.Equal(counts, []int{2, 2, 2, 2, 1, 1}) {
		t.Fatalf("Count = %v", counts)
	}
	if got := Under(counts, 2); !slices.Equal(got, []int{4, 5}) {
		t.Errorf("Under(2) = %v, want [4 5]", got)
	}
	if got := Under(counts, 1); got != nil {
		t.Errorf("Under(1) = %v, want none", got)
	}
}

func TestIndexFromName(t *testing.T) {
	for _, tc := range []struct {
		name string
		base int
		want int
	}{{"shard-3", 0, 3}, {"shard-4", 1, 3}, {"s12", 0, 12}, {"7", 0, 7}, {"shard-0", 0, 0}} {
		got, err := IndexFromName(tc.name, tc.base)
		if err != nil || got != tc.want {
			t.Errorf("IndexFromName(%q, %d) = %d, %v, want %d", tc.name, tc.base, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		name string
		base int
		want string
	}{{"shard", 0, "does not end with a number"}, {"", 0, "does not end with a number"}, {"shard-0", 1, "below the first index's number 1"}} {
		if _, err := IndexFromName(tc.name, tc.base); !errors.Is(err, ErrPlan) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("IndexFromName(%q, %d): err = %v, want %q", tc.name, tc.base, err, tc.want)
		}
	}
}

func TestRanges(t *testing.T) {
	if got := Ranges([]int{7, 0, 1, 2, 3, 5}); got != "0-3,5,7" {
		t.Errorf("Ranges = %q", got)
	}
}
