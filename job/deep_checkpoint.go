package job

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"altmin/deep"
)

// DeepCheckpointFormat names the checkpoint.json format of deep runs. A
// 1-hidden-layer run refuses it (and a deep run refuses theirs) by format.
const DeepCheckpointFormat = "altmin-deep-checkpoint/1"

// DeepCheckpoint is the content of checkpoint.json of a deep run, written
// atomically after every step.
type DeepCheckpoint struct {
	Format      string          `json:"format"`
	Fingerprint string          `json:"fingerprint"`
	Config      json.RawMessage `json:"config"` // what the fingerprint covers, for error messages
	// State is under its own key, so a 1-hidden-layer run reading this
	// file sees no state of its own and refuses it by format.
	State deep.State `json:"deep_state"`
}

// deepFingerprintInput is everything a resumed deep run must share with the
// run that wrote the checkpoint (not the iteration limit or the tolerance).
type deepFingerprintInput struct {
	Model      string    `json:"model"`
	Dims       []int     `json:"dims"`
	Signs      []float64 `json:"signs"`
	Bias       bool      `json:"bias"`
	Schedule   string    `json:"schedule"`
	Data       string    `json:"data"`
	DataID     string    `json:"data_fingerprint"`
	N          int       `json:"n"`
	Partitions int       `json:"partitions"`
	Init       string    `json:"init"`
	Seed       uint64    `json:"seed"`
}

func deepFingerprint(o Options, dp *DeepProblem) (string, json.RawMessage) {
	in := deepFingerprintInput{Model: ModelDeep, Dims: dp.Init.Dims, Signs: dp.Init.V, Bias: dp.Bias, Schedule: string(deep.Joint),
		Data: dp.DataDesc, DataID: dp.DataID, N: dp.Source.Info().N, Partitions: o.Partitions, Init: dp.InitDesc, Seed: o.Seed}
	b, _ := json.Marshal(in)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16]), b
}

// loadDeepCheckpoint returns the unfinished state recorded in dir for a
// deep run with fingerprint fp, or nil when there is none (no file, or a
// finished run). A checkpoint of another configuration is an error.
func loadDeepCheckpoint(dir, fp string) (*deep.State, error) {
	path := filepath.Join(dir, "checkpoint.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	var head struct{ Format string }
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("%w: %s is not a valid checkpoint: %v", ErrCheckpoint, path, err)
	}
	if head.Format != DeepCheckpointFormat {
		return nil, fmt.Errorf("%w: %s has format %q, want %q (a checkpoint of another kind of model); use another --out or delete the directory", ErrCheckpoint, path, head.Format, DeepCheckpointFormat)
	}
	var c DeepCheckpoint
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%w: %s is not a valid checkpoint: %v", ErrCheckpoint, path, err)
	}
	if c.Fingerprint != fp {
		return nil, fmt.Errorf("%w: %s belongs to another configuration or data set (%s); use another --out or delete the directory", ErrCheckpoint, path, c.Config)
	}
	if c.State.Stopped != deep.Running {
		return nil, nil
	}
	return &c.State, nil
}

func saveDeepCheckpoint(dir, fp string, cfg json.RawMessage, st deep.State) error {
	b, err := json.Marshal(DeepCheckpoint{Format: DeepCheckpointFormat, Fingerprint: fp, Config: cfg, State: st})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	return writeFileAtomic(filepath.Join(dir, "checkpoint.json"), b)
}
