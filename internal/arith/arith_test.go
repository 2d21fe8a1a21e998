package arith

import (
	"runtime"
	"strings"
	"testing"
)

func TestBuild(t *testing.T) {
	for _, c := range []struct {
		goarch string
		set    map[string]string
		want   string
	}{
		{"amd64", map[string]string{"GOAMD64": "v1", "GOARCH": "amd64"}, "amd64/v1"},
		{"amd64", map[string]string{"GOAMD64": "v3"}, "amd64/v3"},
		{"arm64", map[string]string{"GOARM64": "v8.0"}, "arm64/v8.0"},
		{"amd64", nil, "amd64/default"},
	} {
		if got := build(c.goarch, c.set); got != c.want {
			t.Errorf("build(%q, %v) = %q, want %q", c.goarch, c.set, got, c.want)
		}
	}
	if got := Build(); !strings.HasPrefix(got, runtime.GOARCH+"/") {
		t.Errorf("Build() = %q, want the prefix %s/", got, runtime.GOARCH)
	}
}
