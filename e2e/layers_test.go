package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

// layer is the layering of docs/DESIGN.md ("Packages and layers"): a
// package may import only packages of a lower layer.
var layer = map[string]int{
	"altmin/linalg": 1, "altmin/internal/arith": 1, "altmin/internal/cli": 1, "altmin/internal/metrics": 1, "altmin/internal/metrics/metricstest": 1, "altmin/pki": 1, "altmin/proto/altminpb": 1, "altmin/placement": 1,
	"altmin/model":       2,
	"altmin/data":        3,
	"altmin/msg":         4,
	"altmin/shard":       5,
	"altmin/round":       6,
	"altmin/coordinator": 7, "altmin/tensorinit": 7,
	"altmin/transport": 8, "altmin/fleet": 8, "altmin/cluster": 8,
	"altmin/node":       9,
	"altmin/job":        10,
	"altmin/experiment": 11, "altmin/bench": 11, "altmin/onnxexport": 11,
	"altmin/cmd/coordinator": 12, "altmin/cmd/shard": 12, "altmin/e2e": 12, "altmin/deploy/k8s": 12,
}

// TestLayers checks every package's imports (not its tests') against the
// layering, and that every package of the module has a layer.
func TestLayers(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}:{{join .Imports \" \"}}", "altmin/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ":")
		l, ok := layer[pkg]
		if !ok {
			t.Errorf("package %s has no layer in docs/DESIGN.md's table (and this test's)", pkg)
			continue
		}
		for _, imp := range strings.Fields(imports) {
			if !strings.HasPrefix(imp, "altmin/") {
				continue
			}
			if li, ok := layer[imp]; !ok || li >= l {
				t.Errorf("%s (layer %d) imports %s (layer %d): only lower layers may be imported", pkg, l, imp, li)
			}
		}
	}
}
