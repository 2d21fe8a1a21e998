//go:build !linux

package shard

func machineMemory() int64 { return 0 }
