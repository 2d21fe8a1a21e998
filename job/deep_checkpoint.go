package job

import (
	"encoding/json"

	"altmin/deep"
)

// DeepCheckpointFormat names the checkpoint.json format of deep runs. A
// 1-hidden-layer run refuses it (and a deep run refuses theirs) by format.
const DeepCheckpointFormat = "altmin-deep-checkpoint/1"

// DeepCheckpoint is the content of checkpoint.json of a deep run, written
// atomically after every step.
type DeepCheckpoint struct {
	CheckpointHeader
	// State is under its own key, so a 1-hidden-layer run reading this
	// file sees no state of its own and refuses it by format.
	State deep.State `json:"deep_state"`
}

func (c *DeepCheckpoint) parts() (*CheckpointHeader, *deep.State) {
	return &c.CheckpointHeader, &c.State
}

func (c *DeepCheckpoint) resumeAt() (int, bool) {
	return c.State.Iter, c.State.Stopped == deep.Running
}

// deepCheckpoints is the checkpoint kind of deep runs.
var deepCheckpoints = checkpointKind[deep.State]{
	format:  DeepCheckpointFormat,
	refused: " (a checkpoint of another kind of model); use another --out or delete the directory",
	newFile: func() checkpointFile[deep.State] { return new(DeepCheckpoint) },
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
	return fingerprintOf(deepFingerprintInput{Model: ModelDeep, Dims: dp.Init.Dims, Signs: dp.Init.V, Bias: dp.Bias, Schedule: string(deep.Joint),
		Data: dp.DataDesc, DataID: dp.DataID, N: dp.Source.Info().N, Partitions: o.Partitions, Init: dp.InitDesc, Seed: o.Seed})
}
