package main

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Settings from the environment (ALTMIN_<FLAG>, internal/cli.Parse) reach
// the commands. These tests set the process environment with t.Setenv, so
// they cannot run in parallel with other tests (the testing package
// refuses it); internal/cli tests the mechanism on injected environments.

// TestTrainFromEnvironment: a flag absent from the command line comes from
// its variable (a string, an int and a boolean), a flag given wins, and a
// variable that names no flag of the command is ignored.
func TestTrainFromEnvironment(t *testing.T) {
	envDir := filepath.Join(t.TempDir(), "env-model")
	t.Setenv("ALTMIN_SYNTHETIC", synth(300))
	t.Setenv("ALTMIN_OUT", envDir)
	t.Setenv("ALTMIN_LOCAL_SHARDS", "0")
	t.Setenv("ALTMIN_PARTITIONS", "5")
	t.Setenv("ALTMIN_ITERS", "3")
	t.Setenv("ALTMIN_PAPER", "true")
	t.Setenv("ALTMIN_NO_SUCH_FLAG", "ignored")
	t.Setenv("ALTMIN_GRPC_ADDR", "a shard's flag, not train's")
	err, stdout, stderr := runCLI(t, "train", "--partitions", "2")
	if err != nil {
		t.Fatalf("train: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	b, err := os.ReadFile(filepath.Join(envDir, "model.json"))
	if err != nil {
		t.Fatalf("no model in $ALTMIN_OUT: %v", err)
	}
	var mf struct {
		Data       string `json:"data"`
		Rows       int    `json:"rows"`
		Partitions int    `json:"partitions"`
		Iterations int    `json:"iterations"`
		Damping    bool   `json:"damping"`
	}
	if err := json.Unmarshal(b, &mf); err != nil {
		t.Fatal(err)
	}
	if mf.Rows != 300 || !strings.Contains(mf.Data, "n=300") {
		t.Errorf("data %q, %d rows: want $ALTMIN_SYNTHETIC's 300", mf.Data, mf.Rows)
	}
	if mf.Partitions != 2 {
		t.Errorf("%d partitions, want 2 from --partitions over ALTMIN_PARTITIONS=5", mf.Partitions)
	}
	if mf.Iterations > 3 {
		t.Errorf("%d iterations, want at most ALTMIN_ITERS=3", mf.Iterations)
	}
	if mf.Damping {
		t.Error("damping on: ALTMIN_PAPER=true (the plain step) was not applied")
	}
}

// TestEnvironmentBadValue: a value its flag refuses is a usage error (exit
// status 2) naming the variable and the flag.
func TestEnvironmentBadValue(t *testing.T) {
	t.Setenv("ALTMIN_PARTITIONS", "many")
	t.Setenv("ALTMIN_LOCAL_SHARDS", "0")
	err, _, _ := runCLI(t, "train", "--synthetic", synth(50), "--out", t.TempDir())
	if !errors.Is(err, errUsage) || exitCode(err) != 2 {
		t.Fatalf("err = %v, want a usage error", err)
	}
	for _, want := range []string{"ALTMIN_PARTITIONS", `"many"`, "--partitions"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	// Given on the command line, the flag never reads its variable: the
	// run fails later, on its bad data description.
	err, _, _ = runCLI(t, "train", "--partitions", "2", "--synthetic", "model=bogus", "--out", t.TempDir())
	if err == nil || strings.Contains(err.Error(), "ALTMIN_PARTITIONS") {
		t.Errorf("--partitions given: err = %v, want an error about --synthetic only", err)
	}
}

// TestHelpMentionsEnvironment: the help of every command with flags says
// that ALTMIN_<FLAG> sets them.
func TestHelpMentionsEnvironment(t *testing.T) {
	for _, cmd := range [][]string{{"train"}, {"predict"}, {"eval"}, {"certs"}, {"bench"}, {"gen"}, {"plot"},
		{"experiment", "phase"}, {"experiment", "curve"}, {"experiment", "samples"}, {"experiment", "deep"}} {
		err, _, stderr := runCLI(t, append(cmd, "-h")...)
		if !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s -h: err = %v, want flag.ErrHelp", cmd, err)
			continue
		}
		if !strings.Contains(stderr, "ALTMIN_<FLAG>") {
			t.Errorf("%s -h does not mention ALTMIN_<FLAG>:\n%s", cmd, stderr)
		}
	}
}
