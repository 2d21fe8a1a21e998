package job

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"altmin/coordinator"
	"altmin/internal/arith"
	"altmin/model"
)

// ErrCheckpoint is wrapped by errors about an existing checkpoint.
var ErrCheckpoint = errors.New("job: checkpoint")

// CheckpointFormat names the checkpoint.json format.
const CheckpointFormat = "altmin-checkpoint/1"

// CheckpointHeader is what every checkpoint.json format starts with.
type CheckpointHeader struct {
	Format      string          `json:"format"`
	Fingerprint string          `json:"fingerprint"`
	Config      json.RawMessage `json:"config"` // what the fingerprint covers, for error messages
	// Arith is the floating-point arithmetic of the build that wrote the
	// checkpoint (arith.Build); a build of another one would not continue
	// with the same bits and is refused. Empty in checkpoints written
	// before it was recorded, which are accepted.
	Arith string `json:"arith,omitempty"`
}

// Checkpoint is the content of checkpoint.json, written atomically after
// every iteration. Floats are written in JSON's shortest round-trip form,
// so the weights read back are bit-identical.
type Checkpoint struct {
	CheckpointHeader
	State coordinator.State `json:"state"`
}

func (c *Checkpoint) parts() (*CheckpointHeader, *coordinator.State) {
	return &c.CheckpointHeader, &c.State
}

func (c *Checkpoint) resumeAt() (int, bool) {
	return c.State.Iter, c.State.Stopped == coordinator.Running
}

// checkpoints is the checkpoint kind of 1-hidden-layer runs.
var checkpoints = checkpointKind[coordinator.State]{
	format:  CheckpointFormat,
	newFile: func() checkpointFile[coordinator.State] { return new(Checkpoint) },
}

// fingerprintInput is everything a resumed run must share with the run that
// wrote the checkpoint for the result to be the same as an uninterrupted run.
// The iteration limit and tolerance are not included: a run may be resumed
// with more iterations.
type fingerprintInput struct {
	Spec       model.Spec `json:"spec"`
	Data       string     `json:"data"`
	DataID     string     `json:"data_fingerprint"`
	N          int        `json:"n"`
	D          int        `json:"d"`
	Partitions int        `json:"partitions"`
	Init       string     `json:"init"`
	Seed       uint64     `json:"seed"`
	Method     string     `json:"method"`
	Step       float64    `json:"step"`
}

func fingerprint(o Options, pr *Problem) (string, json.RawMessage) {
	info := pr.Source.Info()
	return fingerprintOf(fingerprintInput{Spec: pr.Spec, Data: info.Desc, DataID: pr.DataID, N: info.N, D: info.D, Partitions: o.Partitions, Init: pr.InitDesc, Seed: o.Seed, Method: method(o), Step: o.Step})
}

// fingerprintOf returns the fingerprint of a run's configuration in (the
// first 16 bytes of the SHA-256 of its JSON, in hex) and that JSON.
func fingerprintOf(in any) (string, json.RawMessage) {
	b, _ := json.Marshal(in)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16]), b
}

// checkpointKind is one checkpoint.json format, holding a core state S.
type checkpointKind[S any] struct {
	format string
	// refused is appended to the error about a file of another format.
	refused string
	// newFile returns an empty file of this format.
	newFile func() checkpointFile[S]
}

// checkpointFile is the content of a checkpoint.json format holding a core
// state S.
type checkpointFile[S any] interface {
	// parts returns the file's header and state, to be filled or read.
	parts() (*CheckpointHeader, *S)
	// resumeAt returns the iteration of the state, and whether the run
	// is unfinished (can be resumed).
	resumeAt() (iter int, unfinished bool)
}

// load returns the unfinished checkpoint recorded in dir for a run with
// fingerprint fp, or nil when there is none (no file, or a finished run).
// A checkpoint of another format or configuration is an error.
func (k checkpointKind[S]) load(dir, fp string) (checkpointFile[S], error) {
	path := filepath.Join(dir, "checkpoint.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	var head CheckpointHeader
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("%w: %s is not a valid checkpoint: %v", ErrCheckpoint, path, err)
	}
	if head.Format != k.format {
		return nil, fmt.Errorf("%w: %s has format %q, want %q%s", ErrCheckpoint, path, head.Format, k.format, k.refused)
	}
	c := k.newFile()
	if err := json.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("%w: %s is not a valid checkpoint: %v", ErrCheckpoint, path, err)
	}
	if head.Fingerprint != fp {
		return nil, fmt.Errorf("%w: %s belongs to another configuration or data set (%s); use another --out or delete the directory", ErrCheckpoint, path, head.Config)
	}
	if own := arith.Build(); head.Arith != "" && head.Arith != own {
		return nil, fmt.Errorf("%w: %s was written by a build for %s, this one is for %s: it would not continue with the same bits (fused multiply-adds round differently); resume with a build for %s, or use another --out", ErrCheckpoint, path, head.Arith, own, head.Arith)
	}
	if _, unfinished := c.resumeAt(); !unfinished {
		return nil, nil
	}
	return c, nil
}

// save writes st atomically to checkpoint.json in dir, with the
// fingerprint fp of the configuration cfg.
func (k checkpointKind[S]) save(dir, fp string, cfg json.RawMessage, st S) error {
	c := k.newFile()
	h, s := c.parts()
	*h, *s = CheckpointHeader{Format: k.format, Fingerprint: fp, Config: cfg, Arith: arith.Build()}, st
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	return writeFileAtomic(filepath.Join(dir, "checkpoint.json"), b)
}

// writeFileAtomic writes b to path through a synced temporary file and a
// rename, so a reader sees the old or the new content, never a mix.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("job: %w", err)
	}
	_, werr := tmp.Write(b)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("job: writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("job: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("job: %w", err)
	}
	return nil
}

// openMetrics opens metrics.jsonl for appending, keeping only the lines of
// iterations before iter (those a resumed run does not repeat).
func openMetrics(dir string, iter int) (*os.File, error) {
	path := filepath.Join(dir, "metrics.jsonl")
	var keep []byte
	if iter > 0 {
		b, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("job: %w", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 1<<20), 1<<26)
		for sc.Scan() {
			var m struct{ Iter int }
			if json.Unmarshal(sc.Bytes(), &m) == nil && m.Iter < iter {
				keep = append(append(keep, sc.Bytes()...), '\n')
			}
		}
	}
	if err := writeFileAtomic(path, keep); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("job: %w", err)
	}
	return f, nil
}
