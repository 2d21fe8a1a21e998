// Package placement assigns partitions to shards by shard number, so that
// an orchestrator (a Kubernetes StatefulSet, a Docker Swarm service) can
// start S identical shards that differ only in their index.
//
// The P partitions are cut into S contiguous blocks, block b holding the
// partitions
//
//	[floor(b*P/S), floor((b+1)*P/S))
//
// (P/S partitions each when S divides P; otherwise the sizes differ by at
// most one: with P = 8 and S = 3, blocks 0-1, 2-4 and 5-7). Shard i holds
// blocks i, i+1, ..., i+R-1 (mod S), R being the replication factor.
// Every block, and so every partition, is then held by exactly R shards
// (the shards b, b-1, ..., b-R+1 mod S hold block b), every shard holds R
// blocks, and a shard's
// partitions are at most two contiguous ranges (two when its blocks wrap
// around past partition P-1). When S and P are powers of two, every block
// starts at a multiple of its size: the ranges are aligned.
//
// With P = 8, S = 4 and R = 2:
//
//	partition: 0  1  2  3  4  5  6  7
//	shard 0    x  x  x  x
//	shard 1          x  x  x  x
//	shard 2                x  x  x  x
//	shard 3    x  x              x  x
package placement

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ErrPlan is wrapped by every error about a plan or a shard index.
var ErrPlan = errors.New("placement: invalid placement")

// Plan is a placement of Partitions partitions on Shards shards, each
// partition held by Replication of them.
type Plan struct {
	Partitions  int // P, at least Shards
	Shards      int // S, at least 1
	Replication int // R, in [1, S]
}

// Validate checks that every shard can hold at least one partition and that
// the replication factor fits the shards.
func (p Plan) Validate() error {
	switch {
	case p.Shards < 1:
		return fmt.Errorf("%w: %d shards, need at least 1", ErrPlan, p.Shards)
	case p.Partitions < p.Shards:
		return fmt.Errorf("%w: %d partitions for %d shards: every shard needs a partition of its own, so the partitions must be at least the shards", ErrPlan, p.Partitions, p.Shards)
	case p.Replication < 1:
		return fmt.Errorf("%w: replication %d, need at least 1", ErrPlan, p.Replication)
	case p.Replication > p.Shards:
		return fmt.Errorf("%w: replication %d exceeds the %d shards: a partition cannot be held more times than there are shards", ErrPlan, p.Replication, p.Shards)
	}
	return nil
}

// Block returns the partitions [lo, hi) of block b, 0 <= b < Shards, of a
// valid plan.
func (p Plan) Block(b int) (lo, hi int) {
	return b * p.Partitions / p.Shards, (b + 1) * p.Partitions / p.Shards
}

// Shard returns the partitions shard i holds, in increasing order.
func (p Plan) Shard(i int) ([]int, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if i < 0 || i >= p.Shards {
		return nil, fmt.Errorf("%w: shard index %d out of range [0, %d) for %d shards", ErrPlan, i, p.Shards, p.Shards)
	}
	var out []int
	for r := 0; r < p.Replication; r++ {
		lo, hi := p.Block((i + r) % p.Shards)
		for q := lo; q < hi; q++ {
			out = append(out, q)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Holders returns the indices of the shards holding partition q of a
// valid plan, in increasing order.
func (p Plan) Holders(q int) []int {
	// The block of q is the last one starting at or before q: the largest
	// b with b*P/S < q+1.
	b := ((q+1)*p.Shards - 1) / p.Partitions
	out := make([]int, 0, p.Replication)
	for r := 0; r < p.Replication; r++ {
		out = append(out, ((b-r)%p.Shards+p.Shards)%p.Shards)
	}
	slices.Sort(out)
	return out
}

// Count returns, for every partition 0..parts-1, how many of the given
// partition lists hold it; partitions outside [0, parts) are ignored.
func Count(parts int, held [][]int) []int {
	n := make([]int, parts)
	for _, ps := range held {
		for _, q := range ps {
			if q >= 0 && q < parts {
				n[q]++
			}
		}
	}
	return n
}

// Under returns the partitions whose count is below r, in increasing
// order.
func Under(counts []int, r int) []int {
	var out []int
	for q, n := range counts {
		if n < r {
			out = append(out, q)
		}
	}
	return out
}

// Ranges formats partition IDs compactly, sorted, as a --partitions list:
// 0-3,7.
func Ranges(ps []int) string {
	ps = slices.Clone(ps)
	slices.Sort(ps)
	var parts []string
	for i := 0; i < len(ps); {
		j := i
		for j+1 < len(ps) && ps[j+1] == ps[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, strconv.Itoa(ps[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", ps[i], ps[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// IndexFromName returns the number a name ends with minus base: the shard
// index of a StatefulSet pod ("shard-3", base 0: 3) or of a Docker Swarm
// task named by its slot ("shard-4", base 1: 3). It fails when the name
// does not end with a decimal number, or the number is below base.
func IndexFromName(name string, base int) (int, error) {
	i := len(name)
	for i > 0 && name[i-1] >= '0' && name[i-1] <= '9' {
		i--
	}
	if i == len(name) {
		return 0, fmt.Errorf("%w: the name %q does not end with a number to take the shard index from", ErrPlan, name)
	}
	n, err := strconv.Atoi(name[i:])
	if err != nil {
		return 0, fmt.Errorf("%w: the number at the end of the name %q: %v", ErrPlan, name, err)
	}
	if n < base {
		return 0, fmt.Errorf("%w: the name %q ends with %d, below the first index's number %d", ErrPlan, name, n, base)
	}
	return n - base, nil
}
