package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestVersionStamped builds the commands as scripts/image.sh does, with
// the version passed in by -ldflags: both print it with --version and the
// coordinator records it in model.json.
func TestVersionStamped(t *testing.T) {
	const version = "e2e-1.2.3"
	dir := t.TempDir()
	for _, c := range []string{"coordinator", "shard"} {
		cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags", "-X altmin/job.Version="+version, "-o", filepath.Join(dir, c), "altmin/cmd/"+c)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", c, err, out)
		}
		out, err := exec.Command(filepath.Join(dir, c), "--version").Output()
		if err != nil || !strings.HasPrefix(string(out), c+" "+version+" (") {
			t.Errorf("%s --version: %q, %v; want %s %s (...)", c, out, err, c, version)
		}
	}
	model := filepath.Join(dir, "model")
	if out, err := exec.Command(filepath.Join(dir, "coordinator"), "train", "--synthetic", "model=sum,d=4,k=2,n=500,seed=1", "--local-shards", "0",
		"--iters", "2", "--quiet", "--out", model).CombinedOutput(); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	var mf struct {
		Version string `json:"version"`
	}
	b := readFile(t, filepath.Join(model, "model.json"))
	if err := json.Unmarshal(b, &mf); err != nil || mf.Version != version {
		t.Errorf("model.json version %q (%v), want %q", mf.Version, err, version)
	}
}
