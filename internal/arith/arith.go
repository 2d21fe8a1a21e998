// Package arith names the floating-point arithmetic a binary was built for.
//
// The Go specification lets the compiler fuse x*y + z into one fused
// multiply-add, rounding once instead of twice, and the gc compiler does so
// where the target has the instruction: on amd64 when built with GOAMD64=v3
// or higher (checked with Go 1.26: a*b + c compiles to VFMADD231SD under
// v3, to MULSD and ADDSD under the default v1), and on other architectures
// such as arm64. The
// same source therefore rounds differently in builds for different
// architectures or levels, and the statistics and solves of this project
// would differ in their last bits between such builds. Nodes of a cluster
// compare Build to refuse mixing them.
package arith

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Build returns GOARCH and its level setting (GOAMD64, GOARM64, ...) as
// recorded in the binary's build information, e.g. "amd64/v1"; the level
// is "default" when the build information does not record one.
func Build() string {
	return build(runtime.GOARCH, settings())
}

// build is Build for an architecture and the build settings.
func build(goarch string, set map[string]string) string {
	level := set["GO"+strings.ToUpper(goarch)]
	if level == "" {
		level = "default"
	}
	return goarch + "/" + level
}

// settings returns the binary's build settings, or nil without build
// information.
func settings() map[string]string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	m := make(map[string]string, len(bi.Settings))
	for _, s := range bi.Settings {
		m[s.Key] = s.Value
	}
	return m
}
