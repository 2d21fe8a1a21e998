package shard

import (
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
)

// machineMemory is the least of physical memory plus swap, the address
// space limit (ulimit -v), the cgroup's memory.max and the Go memory
// limit (GOMEMLIMIT), each where set.
func machineMemory() int64 {
	limit := int64(math.MaxInt64)
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err == nil {
		if total := (uint64(si.Totalram) + uint64(si.Totalswap)) * uint64(si.Unit); total > 0 && total < uint64(limit) {
			limit = int64(total)
		}
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &rl); err == nil && rl.Cur < uint64(limit) {
		limit = int64(rl.Cur)
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && v > 0 && v < limit {
			limit = v
		}
	}
	if v := debug.SetMemoryLimit(-1); v > 0 && v < limit {
		limit = v
	}
	if limit == math.MaxInt64 {
		return 0
	}
	return limit
}
