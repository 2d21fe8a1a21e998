package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"altmin/job"
)

// TestFeaturesFlag: the shard's --features is parsed like the
// coordinator's and refused for data without column names.
func TestFeaturesFlag(t *testing.T) {
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"--id", "s1", "--partitions", "0", "--data", "t.parquet", "--label", "y", "--features", "a,,b", "--insecure"}, &out, &errb)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--features") {
		t.Errorf("--features a,,b: %v", err)
	}
	err = run(context.Background(), []string{"--id", "s1", "--partitions", "0", "--data", "x.npy", "--labels", "y.npy", "--features", "a", "--insecure"}, &out, &errb)
	if !errors.Is(err, job.ErrOptions) || !strings.Contains(err.Error(), "no column names") {
		t.Errorf("--features with .npy data: %v", err)
	}
}
