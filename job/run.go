package job

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"
)

// The output directory and per-iteration bookkeeping shared by Run (the
// 1-hidden-layer models) and RunDeep.

// errNaNLoss is returned, with the result, by a run that ended on a NaN loss.
var errNaNLoss = errors.New("job: training produced a NaN loss")

// resumable is an iteration core whose state S a checkpoint keeps.
type resumable[S any] interface {
	State() S
	Restore(S) error
}

// runFiles is the output directory of a run whose checkpoints hold a core
// state S: checkpoint.json, resumed from at the start and written after
// every iteration, and metrics.jsonl, one line per iteration.
type runFiles[S any] struct {
	dir     string
	kind    checkpointKind[S]
	fp      string          // fingerprint of the configuration
	config  json.RawMessage // what fp covers
	metrics *os.File
	enc     *json.Encoder
}

// openRun creates the output directory dir, restores core from its
// checkpoint when that is an unfinished run of the same configuration
// (fingerprint fp of cfg), saying so on out and log, and opens
// metrics.jsonl without the lines of the iterations still to come. The
// caller closes the files.
func openRun[S any](dir string, kind checkpointKind[S], fp string, cfg json.RawMessage, core resumable[S], out io.Writer, log *zap.Logger) (*runFiles[S], error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("job: output directory: %w", err)
	}
	resumed, err := kind.load(dir, fp)
	if err != nil {
		return nil, err
	}
	iter := 0
	if resumed != nil {
		_, st := resumed.parts()
		if err := core.Restore(*st); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCheckpoint, err)
		}
		iter, _ = resumed.resumeAt()
		fmt.Fprintf(out, "resuming from the checkpoint in %s at iteration %d\n", dir, iter)
		log.Info("resuming from checkpoint", zap.String("dir", dir), zap.Int("iter", iter))
	}
	mf, err := openMetrics(dir, iter)
	if err != nil {
		return nil, err
	}
	return &runFiles[S]{dir: dir, kind: kind, fp: fp, config: cfg, metrics: mf, enc: json.NewEncoder(mf)}, nil
}

// Close closes metrics.jsonl.
func (rf *runFiles[S]) Close() error { return rf.metrics.Close() }

// record ends an iteration: it appends metric m to metrics.jsonl, writes
// the table row to out, and then the state st to checkpoint.json.
func (rf *runFiles[S]) record(m any, out io.Writer, row string, st S) error {
	if err := rf.enc.Encode(m); err != nil {
		return fmt.Errorf("job: metrics.jsonl: %w", err)
	}
	io.WriteString(out, row)
	return rf.kind.save(rf.dir, rf.fp, rf.config, st)
}

// logIteration logs an iteration with fields, the shards that answered
// for request key (when fetcher f tells), and as a warning when the solve
// needed a ridge.
func logIteration(log *zap.Logger, f any, key int, fields []zap.Field, ridge, cond float64) {
	if a, ok := f.(interface{ Answered(int) []string }); ok {
		fields = append(fields, zap.Strings("shards", a.Answered(key)))
	}
	if ridge > 0 {
		log.Warn("normal equations regularized", append(fields, zap.Float64("ridge", ridge), zap.Float64("cond", cond))...)
	} else {
		log.Info("iteration", fields...)
	}
}

// relErrCell returns the table cell of a relative error, "-" for none.
func relErrCell(e *float64) string {
	if e == nil {
		return "-"
	}
	return fmt.Sprintf("%.3e", *e)
}

// flipsCell returns a flip count for metrics.jsonl (nil for none, n < 0)
// and its table cell.
func flipsCell(n int64) (*int64, string) {
	if n < 0 {
		return nil, "-"
	}
	return &n, fmt.Sprint(n)
}

// solveCells returns the table cells of a solve's change and ridge, "-"
// when the iteration solved nothing.
func solveCells(solved bool, change, ridge float64) (string, string) {
	switch {
	case !solved:
		return "-", "-"
	case ridge == 0:
		return fmt.Sprintf("%.3e", change), "0"
	}
	return fmt.Sprintf("%.3e", change), fmt.Sprintf("%.1e", ridge)
}

// relErrSuffix returns the part of the final summary about the last
// relative error, "" for none.
func relErrSuffix(e *float64) string {
	if e == nil {
		return ""
	}
	return fmt.Sprintf(", relative error %.3e", *e)
}
