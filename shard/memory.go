package shard

import (
	"fmt"
	"math"
	"math/bits"

	"altmin/msg"
)

// MachineMemory returns the bytes of memory this process can hold: the
// least of the machine's physical memory plus swap, the address-space
// limit (ulimit -v), the cgroup's memory.max and GOMEMLIMIT, each where
// set (Linux), or 0 where none is known. Holding more than this can only
// end in the runtime's fatal out-of-memory error, so loads beyond it are
// refused before they start.
func MachineMemory() int64 { return machineMemory() }

// HeldBytes returns the bytes rows rows of d features take in storage st,
// with their float64 labels, saturating at math.MaxInt64.
func HeldBytes(rows int64, d int, st Storage) int64 {
	per := int64(8)
	if st == Float32 {
		per = 4
	}
	if rows <= 0 || d < 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(rows), uint64(int64(d)*per+8))
	if hi != 0 || lo > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(lo)
}

// CheckHeld refuses, before anything is loaded, holding rows rows of d
// features in storage st in memory when their bytes exceed limit (limit <=
// 0: no check): the error wraps msg.ErrTooLarge and names the bytes, the
// limit and what to change. what names the holder, e.g. "shard s1".
func CheckHeld(what string, rows int64, d int, st Storage, limit int64) error {
	b := HeldBytes(rows, d, st)
	if limit > 0 && b > limit {
		return fmt.Errorf("%w: %s would hold %d rows of %d features in %s storage in memory: %d bytes, more than the memory limit of %d bytes (shard.MachineMemory: physical memory plus swap, ulimit -v, cgroup memory.max, GOMEMLIMIT); stream them (--resident), use more shards or float32 storage",
			msg.ErrTooLarge, what, rows, d, st, b, limit)
	}
	return nil
}
