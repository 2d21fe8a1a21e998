package job

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"altmin/coordinator"
)

// The rules every command follows for the files it writes: an existing
// output is replaced only when asked (--overwrite), and an input is never
// written over, even then. Inputs and outputs are compared as files
// (os.SameFile), not by name, so another path to the same file (a
// relative path, a link) is recognized.

// ErrOutput is wrapped by errors refusing to write an output: one that
// exists (without --overwrite), or one that is an input of the command.
var ErrOutput = errors.New("job: output refused")

// Input is a file or a directory a command reads, named by its flag in
// error messages.
type Input struct {
	Flag string // e.g. "--data"
	Path string
}

// CheckOutput checks that the command may write the file path, given by
// its flag (e.g. "--out"): it must not be one of inputs (whatever
// overwrite says), a directory or, without overwrite, an existing file.
// Inputs that do not exist are skipped.
func CheckOutput(flag, path string, overwrite bool, inputs ...Input) error {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: %s %s: %v", ErrOutput, flag, path, err)
	}
	if st.IsDir() {
		return fmt.Errorf("%w: %s %s is a directory; give a file name", ErrOutput, flag, path)
	}
	if err := notInput(flag, path, st, inputs); err != nil {
		return err
	}
	if !overwrite {
		return fmt.Errorf("%w: %s %s exists; give --overwrite to replace it", ErrOutput, flag, path)
	}
	return nil
}

// notInput returns an error when the existing file path (given by flag),
// of FileInfo st, is one of inputs.
func notInput(flag, path string, st fs.FileInfo, inputs []Input) error {
	for _, in := range inputs {
		if in.Path == "" {
			continue
		}
		ist, err := os.Stat(in.Path)
		if err != nil {
			continue // not read as a file: a keyword, or missing (refused by its reader)
		}
		if os.SameFile(st, ist) {
			return fmt.Errorf("%w: %s %s is the same file as %s %s: an input is never written over, even with --overwrite", ErrOutput, flag, path, in.Flag, in.Path)
		}
	}
	return nil
}

// ModelInputs returns the files of the model directory dir a command
// reads: model.json and the weights files it lists (or, when model.json
// cannot be read, every weights file a run writes: weightFiles), as
// inputs of flag (e.g. "--model").
func ModelInputs(flag, dir string) []Input {
	ins := []Input{{flag, dir}, {flag, filepath.Join(dir, "model.json")}}
	var mf struct{ Weights []string }
	names := weightFiles(dir)
	if b, err := os.ReadFile(filepath.Join(dir, "model.json")); err == nil && json.Unmarshal(b, &mf) == nil && len(mf.Weights) > 0 {
		names = names[:0]
		for _, w := range mf.Weights {
			names = append(names, filepath.Join(dir, w))
		}
	}
	for _, n := range names {
		ins = append(ins, Input{flag, n})
	}
	return ins
}

// runInputs returns the files a training run reads: the data, the labels,
// the validation files, and the files or model directories of --signs,
// --init and --truth when they name one.
func (o *Options) runInputs() []Input {
	ins := []Input{{"--data", o.Data}, {"--labels", o.Labels}, {"--val-data", o.ValData}, {"--val-labels", o.ValLabels}}
	for _, in := range []Input{{"--signs", o.Signs}, {"--init", o.Init}, {"--truth", o.Truth}} {
		if in.Path == "" {
			continue
		}
		if st, err := os.Stat(in.Path); err == nil && st.IsDir() {
			ins = append(ins, ModelInputs(in.Flag, in.Path)...)
			continue
		}
		ins = append(ins, in)
	}
	return ins
}

// runFileNames are the files a run writes in its output directory, but
// for the weights (weightFiles).
var runFileNames = []string{"checkpoint.json", "metrics.jsonl", "model.json"}

// weightFiles returns the weights files in dir: weights*.npy and
// linear.npy, those a run of any family writes.
func weightFiles(dir string) []string {
	names, _ := filepath.Glob(filepath.Join(dir, "weights*.npy"))
	if _, err := os.Stat(filepath.Join(dir, "linear.npy")); err == nil {
		names = append(names, filepath.Join(dir, "linear.npy"))
	}
	return names
}

// checkRunOutputs checks the output directory of a training run against
// its inputs, whatever o.Overwrite says: --out must be a directory (or
// not exist yet), not the model directory of an input (--init or --truth
// DIR), and none of the files a run writes there may be an input file.
func (o *Options) checkRunOutputs() error {
	st, err := os.Stat(o.Out)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: --out %s: %v", ErrOutput, o.Out, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("%w: --out %s is a file, not a directory", ErrOutput, o.Out)
	}
	ins := o.runInputs()
	if err := notInput("--out", o.Out, st, ins); err != nil {
		return err
	}
	files := weightFiles(o.Out)
	for _, name := range runFileNames {
		files = append(files, filepath.Join(o.Out, name))
	}
	for _, f := range files {
		if fst, err := os.Stat(f); err == nil {
			if err := notInput("--out", f, fst, ins); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkFresh refuses to start a run from the beginning in dir, which has
// no checkpoint, when dir holds a model a run would replace: model.json or
// weights files. A metrics.jsonl alone is what a run stopped before its
// first checkpoint leaves, and is replaced. Other files are never
// touched, and do not count.
func checkFresh(dir string) error {
	var found []string
	if _, err := os.Stat(filepath.Join(dir, "model.json")); err == nil {
		found = append(found, "model.json")
	}
	for _, f := range weightFiles(dir) {
		found = append(found, filepath.Base(f))
	}
	if len(found) == 0 {
		return nil
	}
	slices.Sort(found)
	return fmt.Errorf("%w: --out %s holds %s of another run and no checkpoint to resume: give --overwrite to replace them, or another --out", ErrOutput, dir, strings.Join(found, ", "))
}

// resumeFrom decides, without --overwrite, what a run does in dir with
// the checkpoint c read there (nil for none): resume it (true), start
// from the beginning (false), or refuse (an error). An unfinished run is
// resumed; a finished one is refused once its model.json is written, and
// run again when it stopped before (its outputs were never complete); a
// directory without a checkpoint must not hold a model (checkFresh).
//
// A finished run is refused unless same: the checkpoint is known to be of
// the same configuration and data (its fingerprint), whose training gives
// the same bits again, so that a command such as the demo can be run twice.
func resumeFrom(dir string, c *Checkpoint, same bool) (bool, error) {
	switch {
	case c == nil:
		return false, checkFresh(dir)
	case c.State.Stopped == coordinator.Running:
		return true, nil
	}
	if _, err := os.Stat(filepath.Join(dir, "model.json")); err == nil && !same {
		return false, finishedRun(dir, c)
	}
	return false, nil
}

// finishedRun is the error refusing to train into dir, whose checkpoint
// c is that of a finished run.
func finishedRun(dir string, c *Checkpoint) error {
	return fmt.Errorf("%w: --out %s holds a finished run (stopped: %s at iteration %d): give --overwrite to train again into it, or another --out", ErrOutput, dir, c.State.Stopped, c.State.Iter)
}

// checkOutDir is the check of the output directory before a run opens its
// data, so that a run that would be refused is refused at once: the
// outputs against the inputs (checkRunOutputs) and, without --overwrite,
// the checkpoint (damaged, or of a finished run) or the files of a run
// without one (checkFresh). Whether an unfinished checkpoint is of the
// same configuration is known once the data are open (openRun).
func (o *Options) checkOutDir() error {
	if err := o.checkRunOutputs(); err != nil || o.Overwrite {
		return err
	}
	c, err := readCheckpoint(o.Out)
	if err != nil {
		return err
	}
	if c != nil {
		// The rows of the data are not known yet: openRun checks them.
		if err := checkState(c.State, checkpointLimits{iters: o.Iters, rows: math.MaxInt}); err != nil {
			return fmt.Errorf("%w: %s: %v; it is not resumed: use another --out, or --overwrite to train again into it", ErrCheckpoint, filepath.Join(o.Out, "checkpoint.json"), err)
		}
	}
	if c != nil && c.State.Stopped != coordinator.Running {
		return nil // a finished run: openRun decides, knowing the data's fingerprint
	}
	_, err = resumeFrom(o.Out, c, false)
	return err
}
