package main

import (
	"fmt"
	"runtime"

	"altmin/internal/arith"
	"altmin/job"
)

// versionLine describes the build: the command, its version (job.Version,
// set at build time with -ldflags "-X altmin/job.Version=..." and written
// to model.json), the arithmetic it computes with and the Go release.
func versionLine(cmd string) string {
	return fmt.Sprintf("%s %s (%s, %s)", cmd, job.Version, arith.Build(), runtime.Version())
}
