package job

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"

	"altmin/coordinator"
	"altmin/internal/arith"
	"altmin/model"
	"altmin/msg"
)

// The files of a model directory: checkpoint.json (resumed from at the
// start, written after every iteration), metrics.jsonl (one line per
// iteration), model.json and the family's weight files (written at the
// end).

// ErrCheckpoint is wrapped by errors about an existing checkpoint.
var ErrCheckpoint = errors.New("job: checkpoint")

// CheckpointFormat names the checkpoint.json format. Version 3 added the
// checksum; the earlier versions (altmin-checkpoint/1 and /2) are refused
// with an error saying so.
const CheckpointFormat = "altmin-checkpoint/3"

// Checkpoint is the content of checkpoint.json, written atomically after
// every iteration. Floats are written in JSON's shortest round-trip form,
// so the weights read back are bit-identical.
type Checkpoint struct {
	Format      string          `json:"format"`
	Fingerprint string          `json:"fingerprint"`
	Config      json.RawMessage `json:"config"` // what the fingerprint covers, for error messages
	// Arith is the floating-point arithmetic of the build that wrote the
	// checkpoint (arith.Build); a build of another one would not continue
	// with the same bits and is refused.
	Arith string            `json:"arith"`
	State coordinator.State `json:"state"`
	// Checksum is the SHA-256, in hex, of the canonical JSON of the rest
	// of the checkpoint (checksum): the bytes of checkpoint.json before
	// its "checksum" field, as written. A checkpoint whose content does
	// not match it, damaged or edited, is refused. It guards against
	// accidents, not against a forger who recomputes it: the values are
	// also checked against their domain when read (checkState).
	Checksum string `json:"checksum,omitempty"`
}

// checksum returns the SHA-256, in hex, of the canonical JSON of c without
// its Checksum: json.Marshal of its fields in their order, the floats in
// shortest round-trip form, so that a checkpoint read back gives the same
// bytes.
func (c Checkpoint) checksum() (string, error) {
	c.Checksum = ""
	b, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// checkpointLimits are what the values of a checkpoint are checked
// against, besides the core's own checks (Core.Restore): the run's
// iteration limit (--iters) and the rows of its data.
type checkpointLimits struct {
	iters int
	rows  int
}

// fingerprintInput is everything a resumed run must share with the run that
// wrote the checkpoint for the result to be the same as an uninterrupted run.
// The iteration limit and tolerance are not included: a run may be resumed
// with more iterations.
type fingerprintInput struct {
	Spec       model.Spec `json:"spec"`
	Setup      string     `json:"setup"`
	Data       string     `json:"data"`
	DataID     string     `json:"data_fingerprint"`
	N          int        `json:"n"`
	Partitions int        `json:"partitions"`
	Init       string     `json:"init"`
	Seed       uint64     `json:"seed"`
	Method     string     `json:"method"`
	Step       float64    `json:"step"`
}

// fingerprint returns the fingerprint of a run's configuration (the first
// 16 bytes of the SHA-256 of its JSON, in hex) and that JSON.
func fingerprint(o Options, pr *Problem) (string, json.RawMessage) {
	st := o.setup()
	setup := fmt.Sprintf("paper=%v standardize=%v damping=%v split=%+v patience=%d", o.Paper, st.standardize, st.damping, pr.Split, st.patience)
	if st.ridge != nil {
		setup += fmt.Sprintf(" alpha=%+v", *st.ridge)
	}
	b, _ := json.Marshal(fingerprintInput{Spec: pr.Spec, Setup: setup, Data: pr.DataDesc, DataID: pr.DataID, N: pr.Source.Info().N,
		Partitions: o.Partitions, Init: pr.StartDesc, Seed: o.Seed, Method: o.method(), Step: o.Step})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16]), b
}

// readCheckpoint reads the checkpoint.json in dir and checks its format
// and checksum; it returns nil when there is none. A file of another
// format, not JSON, without a checksum or not matching it is an error
// naming it.
func readCheckpoint(dir string) (*Checkpoint, error) {
	path := filepath.Join(dir, "checkpoint.json")
	b, err := readRegular(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	var head struct{ Format string }
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("%w: %s is not a valid checkpoint: %v; use another --out, or --overwrite to train again into it", ErrCheckpoint, path, err)
	}
	switch head.Format {
	case CheckpointFormat:
	case "altmin-checkpoint/1", "altmin-checkpoint/2":
		return nil, fmt.Errorf("%w: %s has format %q, written by an earlier version of altmin without a checksum; this version resumes %q only: use another --out, or --overwrite to train again into it", ErrCheckpoint, path, head.Format, CheckpointFormat)
	default:
		return nil, fmt.Errorf("%w: %s has format %q, want %q; use another --out, or --overwrite to train again into it", ErrCheckpoint, path, head.Format, CheckpointFormat)
	}
	var c Checkpoint
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%w: %s is not a valid checkpoint: %v; use another --out, or --overwrite to train again into it", ErrCheckpoint, path, err)
	}
	if c.Checksum == "" {
		return nil, fmt.Errorf("%w: %s has no checksum: it was not written by this version of altmin, or was edited; use another --out, or --overwrite to train again into it", ErrCheckpoint, path)
	}
	sum, err := c.checksum()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCheckpoint, path, err)
	}
	if sum != c.Checksum {
		return nil, fmt.Errorf("%w: %s: checksum mismatch (the SHA-256 of its content is %s, the file records %s): it was damaged or edited after it was written and is not resumed; use another --out, or --overwrite to train again into it", ErrCheckpoint, path, sum, c.Checksum)
	}
	return &c, nil
}

// loadCheckpoint returns the checkpoint recorded in dir for a run with
// fingerprint fp, or nil when there is none; a finished run's is returned
// too (State.Stopped is not Running). A checkpoint of another format,
// configuration or arithmetic, damaged (readCheckpoint) or with values
// outside their domain (checkState against lim) is an error naming it.
func loadCheckpoint(dir, fp string, lim checkpointLimits) (*Checkpoint, error) {
	c, err := readCheckpoint(dir)
	if err != nil || c == nil {
		return nil, err
	}
	path := filepath.Join(dir, "checkpoint.json")
	if c.Fingerprint != fp {
		return nil, fmt.Errorf("%w: %s belongs to another configuration or data set (%s); use another --out, or --overwrite to train again into it", ErrCheckpoint, path, c.Config)
	}
	if own := arith.Build(); c.Arith != own {
		return nil, fmt.Errorf("%w: %s was written by a build for %s, this one is for %s: it would not continue with the same bits (fused multiply-adds round differently); resume with a build for %s, or use another --out", ErrCheckpoint, path, c.Arith, own, c.Arith)
	}
	if err := checkState(c.State, lim); err != nil {
		return nil, fmt.Errorf("%w: %s: %v; it is not resumed: use another --out, or --overwrite to train again into it", ErrCheckpoint, path, err)
	}
	return c, nil
}

// knownReason reports whether r is one of the stop reasons of the cores.
func knownReason(r coordinator.Reason) bool {
	switch r {
	case coordinator.Running, coordinator.FixedPoint, coordinator.Fit, coordinator.Tolerance,
		coordinator.IterLimit, coordinator.NoDescent, coordinator.Patience:
		return true
	}
	return false
}

// checkState checks the values of a checkpoint's state against their
// domain: the counters, the stop reasons, the finiteness and shape of
// every set of weights, the damping state and the best iterate. The core
// checks the rest against its configuration when it restores the state
// (the weights' widths and signs, the damping and revival settings).
func checkState(st coordinator.State, lim checkpointLimits) error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case st.Iter < 0:
		return fmt.Errorf("iteration %d is negative", st.Iter)
	case st.Stopped == coordinator.Running && st.Iter > lim.iters:
		return fmt.Errorf("the run is at iteration %d, beyond --iters %d (resume with --iters %d or more)", st.Iter, lim.iters, st.Iter)
	case st.Step < st.Iter:
		return fmt.Errorf("step %d is before iteration %d", st.Step, st.Iter)
	case st.Layer < 0:
		return fmt.Errorf("layer %d is negative", st.Layer)
	case !knownReason(st.Pending):
		return fmt.Errorf("unknown pending stop reason %q", st.Pending)
	case !knownReason(st.Stopped):
		return fmt.Errorf("unknown stop reason %q", st.Stopped)
	case st.Net == nil:
		return errors.New("no current weights")
	}
	type weights struct {
		what string
		n    *model.Net
	}
	nets := []weights{{"current", st.Net}, {"previous", st.Prev}, {"start", st.Start}}
	if st.Best != nil {
		if st.Best.Net == nil {
			return errors.New("the best iterate has no weights")
		}
		nets = append(nets, weights{"best", st.Best.Net})
	}
	for _, v := range nets {
		if v.n == nil {
			continue
		}
		if err := v.n.Validate(); err != nil {
			return fmt.Errorf("the %s weights: %v", v.what, err)
		}
		if v.n != st.Net && !v.n.SameShape(st.Net) {
			return fmt.Errorf("the %s weights have widths %v, the current ones %v", v.what, v.n.Dims, st.Net.Dims)
		}
	}
	if d := st.Descent; d != nil {
		for _, v := range []struct {
			name string
			v    float64
		}{{"lambda", d.Lambda}, {"solved lambda", d.Solved}, {"loss", d.Loss}, {"penalty term", d.Pen}, {"alpha", d.Alpha}} {
			if !(v.v >= 0) || !finite(v.v) {
				return fmt.Errorf("damping state: %s %v: need a finite value >= 0", v.name, v.v)
			}
		}
	}
	if b := st.Best; b != nil {
		switch {
		case b.Iter < 0 || b.Iter > st.Iter:
			return fmt.Errorf("the best iterate is at iteration %d, the run at iteration %d", b.Iter, st.Iter)
		case b.Since < 0 || b.Since > st.Iter:
			return fmt.Errorf("the best iterate counts %d iterations without improvement at iteration %d", b.Since, st.Iter)
		case !(b.Loss >= 0) || !finite(b.Loss) || !(b.Ref >= 0) || !finite(b.Ref):
			return fmt.Errorf("the best iterate's loss %v and reference %v: need finite values >= 0", b.Loss, b.Ref)
		case b.Loss > b.Ref:
			return fmt.Errorf("the best iterate's loss %v is above the reference loss %v it improves on", b.Loss, b.Ref)
		case b.Train.Check() != nil || b.Val.Check() != nil || b.Train.Rows > lim.rows || b.Val.Rows > lim.rows-b.Train.Rows:
			return fmt.Errorf("the best iterate's sums cover %d training and %d validation rows (sums %+v, %+v), the data have %d rows", b.Train.Rows, b.Val.Rows, b.Train, b.Val, lim.rows)
		}
	}
	return nil
}

// saveCheckpoint writes st atomically to checkpoint.json in dir, with the
// fingerprint fp of the configuration cfg and the checksum of the whole.
func saveCheckpoint(dir, fp string, cfg json.RawMessage, st coordinator.State) error {
	c := Checkpoint{Format: CheckpointFormat, Fingerprint: fp, Config: cfg, Arith: arith.Build(), State: st}
	var err error
	if c.Checksum, err = c.checksum(); err != nil {
		return fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	return writeFileAtomic(filepath.Join(dir, "checkpoint.json"), b)
}

// Metric is one line of metrics.jsonl: one round (an iteration).
type Metric struct {
	Iter    int      `json:"iter"`
	Loss    float64  `json:"loss"`    // (1/2n) ||f(X) - y||^2 of the weights evaluated in this iteration
	RelRes  float64  `json:"rel_res"` // ||f(X) - y|| / ||y||
	RelErr  *float64 `json:"rel_err,omitempty"`
	Flips   *int64   `json:"flips"` // null at iteration 0
	Seconds float64  `json:"seconds"`
	// The two phases of Seconds: broadcast, every partition's statistics,
	// their transfer and their additions in the reduction tree; then the
	// coordinator's solve.
	StatsSeconds float64 `json:"stats_seconds"`
	SolveSeconds float64 `json:"solve_seconds"`
	// Partials counts the partials the coordinator received in this
	// iteration's rounds (one per span: with shards holding aligned
	// ranges, about one per shard however many partitions there are);
	// InboundBytes is their bytes on the wire, 0 in process.
	Partials     int     `json:"partials"`
	InboundBytes int64   `json:"inbound_bytes"`
	Ridge        float64 `json:"ridge"`
	Step         float64 `json:"step,omitempty"` // gd: the step size
	Cond         float64 `json:"cond,omitempty"`
	Change       float64 `json:"change,omitempty"`
	Layers       []int   `json:"layers,omitempty"`             // deep: the layers solved; absent at the stop
	Rows         int     `json:"rows"`                         // training rows
	Skipped      []int   `json:"skipped_partitions,omitempty"` // left out (--allow-degraded)
	// Accepted reports that the weights evaluated were accepted (the
	// training loss did not rise); Lambda is the damping of this
	// iteration's solve.
	Accepted bool    `json:"accepted"`
	Lambda   float64 `json:"lambda"`
	// Objective is the objective the damping judged the weights by: Loss
	// plus the L2 penalty term (alpha/2) ||W||^2 of the hidden units'
	// weights, alpha the penalty in force (Loss without a penalty); it
	// never rises from one accepted iteration to the next. Alpha is the
	// penalty of this iteration's solve.
	Objective float64 `json:"objective"`
	Alpha     float64 `json:"alpha"`
	// Revived counts the hidden units found dead at accepted weights,
	// revived by the next candidates (--revive).
	Revived int `json:"revived,omitempty"`
	// R2 is the training R^2; ValRows, ValLoss and ValR2 those of the
	// validation rows (absent without them). Losses are of the
	// standardized label when it is standardized.
	R2      *float64 `json:"r2"`
	ValRows int      `json:"val_rows,omitempty"`
	ValLoss *float64 `json:"val_loss,omitempty"`
	ValR2   *float64 `json:"val_r2,omitempty"`
}

// ModelFormat names the model.json format. Version 2 added the checksums
// (ModelFile.SHA256 and Checksum), verified when a model is read;
// LegacyModelFormat is read without verification.
const ModelFormat = "altmin-model/2"

// LegacyModelFormat names the model.json format before checksums: such a
// model directory is still read (predict, eval, export, a deep --init or
// --truth), without verification, as it was when it was written.
const LegacyModelFormat = "altmin-model/1"

// ModelFile is the content of model.json. The learned weights are in the
// files Weights, float64, layer l of shape (k_l, k_{l-1}) with k_0 = d (d+1
// with --bias, the last column the bias) and k_1, ... the hidden widths:
// row q is unit q, as in PyTorch's nn.Linear.weight. For resnet they are
// the learned W without the +I.
type ModelFile struct {
	Format   string    `json:"format"` // ModelFormat
	Model    string    `json:"model"`  // relu, sum, resnet or deep
	D        int       `json:"d"`      // input features, without the bias feature
	K        int       `json:"k"`      // units of the (last) hidden layer
	Hidden   []int     `json:"hidden,omitempty"`
	Dims     []int     `json:"dims,omitempty"`     // deep: n_0 (d, or d+1 with bias), k1, ..., kL
	Signs    []float64 `json:"signs"`              // output signs of the (last) hidden layer's units
	Bias     bool      `json:"bias"`               // a constant-1 feature is appended to the input
	Linear   bool      `json:"linear,omitempty"`   // a linear term of the input (linear.npy; with bias, its last weight is the output's bias)
	Weights  []string  `json:"weights"`            // the weight files, layer 1 first, then linear.npy
	Schedule string    `json:"schedule,omitempty"` // deep: the schedule (joint)
	// Standardize, when present, is the standardization the weights work
	// in: predictions are made on the standardized features and turned
	// back into the label's units.
	Standardize *Standardization `json:"standardize,omitempty"`
	// ConstantFeatures lists the features (0-based) that were constant on
	// the training rows.
	ConstantFeatures []int `json:"constant_features,omitempty"`
	// Features, when present, are the names of the feature columns the
	// model was trained on (--features), in the order it takes them:
	// predict and eval read the same columns by name, and refuse a file
	// without column names.
	Features []string `json:"features,omitempty"`
	Damping  bool     `json:"damping"`
	// Iteration is the iteration whose weights are written: the best
	// accepted one (by validation loss, or by training loss), or the last
	// with --paper. Train and Validation are its scores, in the label's
	// units.
	Iteration   int      `json:"iteration"`
	Train       *Scores  `json:"train,omitempty"`
	Validation  *Scores  `json:"validation,omitempty"`
	Iterations  int      `json:"iterations"`
	StopReason  string   `json:"stop_reason"`
	FinalLoss   float64  `json:"final_loss"`
	FinalRelRes float64  `json:"final_rel_res"`           // training ||f(X) - y|| / ||y||
	FinalRelErr *float64 `json:"final_rel_err,omitempty"` // against a known teacher (deep: up to the network's symmetries)
	Rows        int      `json:"rows"`
	Partitions  int      `json:"partitions"`
	Data        string   `json:"data"`
	Init        string   `json:"init"`
	Method      string   `json:"method"`
	Seed        uint64   `json:"seed"`
	Version     string   `json:"version"`
	// Degraded lists the iterations that left partitions out
	// (--allow-degraded); empty for a complete run.
	Degraded []DegradedIter `json:"degraded,omitempty"`
	// SHA256 maps each weights file of the model (Weights) to the SHA-256,
	// in hex, of its content; Checksum is the SHA-256, in hex, of the
	// canonical JSON of the rest of model.json (json.Marshal of the
	// ModelFile without it). A model whose files do not match them,
	// damaged or edited after training, is refused when read (LoadModel).
	// Like the checkpoint's, they guard against accidents, not against a
	// forger who recomputes them.
	SHA256   map[string]string `json:"sha256,omitempty"`
	Checksum string            `json:"checksum,omitempty"`
}

// checksum returns the SHA-256, in hex, of the canonical JSON of mf
// without its Checksum (compact, fields in their order, map keys sorted).
func (mf ModelFile) checksum() (string, error) {
	mf.Checksum = ""
	b, err := json.Marshal(mf)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// readRegular reads the whole file at path, after checking that it is a
// regular file without opening it: a named pipe would block.
func readRegular(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (mode %s)", path, st.Mode())
	}
	return os.ReadFile(path)
}

// fileSHA256 returns the SHA-256, in hex, of the content of the file at
// path, which must be a regular file (checked before it is opened, so
// that a named pipe does not block).
func fileSHA256(path string) (string, error) {
	if st, err := os.Stat(path); err != nil {
		return "", err
	} else if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// WriteModel writes mf as the model.json of the model directory dir,
// atomically, in ModelFormat: with the SHA-256 of each of its weights
// files (mf.Weights, already written in dir) and the checksum of the
// whole.
func WriteModel(dir string, mf ModelFile) error {
	mf.Format = ModelFormat
	mf.SHA256 = make(map[string]string, len(mf.Weights))
	for _, name := range mf.Weights {
		sum, err := fileSHA256(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("job: model: %w", err)
		}
		mf.SHA256[name] = sum
	}
	var err error
	if mf.Checksum, err = mf.checksum(); err != nil {
		return fmt.Errorf("job: model: %w", err)
	}
	return writeJSON(filepath.Join(dir, "model.json"), mf)
}

// verifyJSON checks the checksum of a model.json read from path in
// ModelFormat.
func (mf *ModelFile) verifyJSON(path string) error {
	if mf.Checksum == "" {
		return fmt.Errorf("job: model: %s has no checksum (format %s records one): it was edited; it is not read", path, mf.Format)
	}
	sum, err := mf.checksum()
	if err != nil {
		return fmt.Errorf("job: model: %s: %w", path, err)
	}
	if sum != mf.Checksum {
		return fmt.Errorf("job: model: %s: checksum mismatch (the SHA-256 of its content is %s, the file records %s): it was damaged or edited after training; it is not read", path, sum, mf.Checksum)
	}
	return nil
}

// verifyFiles checks the SHA-256 of the weights files names of dir
// against those model.json (read from path in ModelFormat) records.
func (mf *ModelFile) verifyFiles(path, dir string, names []string) error {
	for _, name := range names {
		file := filepath.Join(dir, name)
		want, ok := mf.SHA256[name]
		if !ok {
			return fmt.Errorf("job: model: %s records no SHA-256 of %s; it is not read", path, file)
		}
		got, err := fileSHA256(file)
		if err != nil {
			return fmt.Errorf("job: model: %w", err)
		}
		if got != want {
			return fmt.Errorf("job: model: %s: its SHA-256 is %s, %s records %s: the weights were damaged or replaced after training; they are not read", file, got, path, want)
		}
	}
	return nil
}

// Standardization maps raw features and label to those the weights work
// on: x_j -> (x_j - XMean[j]) / XSD[j], y -> (y - YMean) / YSD.
type Standardization struct {
	XMean []float64 `json:"x_mean"`
	XSD   []float64 `json:"x_sd"`
	YMean float64   `json:"y_mean"`
	YSD   float64   `json:"y_sd"`
}

// standardization returns the model file's form of a transform (nil for
// none).
func standardization(t *msg.Affine) *Standardization {
	if t == nil {
		return nil
	}
	s := &Standardization{XMean: t.XShift, XSD: make([]float64, len(t.XScale)), YMean: t.YShift, YSD: 1 / t.YScale}
	for j, v := range t.XScale {
		s.XSD[j] = 1 / v
	}
	return s
}

// affine returns the transform of a standardization (nil for none).
func (s *Standardization) affine() *msg.Affine {
	if s == nil {
		return nil
	}
	a := &msg.Affine{XShift: s.XMean, XScale: make([]float64, len(s.XSD)), YShift: s.YMean, YScale: 1 / s.YSD}
	for j, v := range s.XSD {
		a.XScale[j] = 1 / v
	}
	return a
}

// Scores are a model's scores on some rows, in the label's units.
type Scores struct {
	Rows int     `json:"rows"`
	RMSE float64 `json:"rmse"`
	R2   float64 `json:"r2"`
}

// scores returns the scores of rows from their sums (of the label
// standardized under t, nil: none), in the label's units; nil for no rows
// or a NaN R^2.
func scores(e msg.Eval, t *msg.Affine) *Scores {
	r2 := msg.R2(e.Rows, e.SSE, e.YY, e.SumY)
	if math.IsNaN(r2) || e.Rows == 0 {
		return nil
	}
	rmse := math.Sqrt(e.SSE / float64(e.Rows))
	if t != nil {
		rmse /= t.YScale
	}
	return &Scores{Rows: e.Rows, RMSE: rmse, R2: r2}
}

// DegradedIter records partitions left out of one iteration.
type DegradedIter struct {
	Iter       int   `json:"iter"`
	Partitions []int `json:"partitions"`
}

// spec returns the model specification model.json describes, checked.
func (mf *ModelFile) spec() (model.Spec, error) {
	k, err := model.ParseKind(mf.Model)
	if err != nil {
		return model.Spec{}, err
	}
	s := model.Spec{Kind: k, D: mf.D, K: mf.K, Hidden: mf.Hidden, Signs: mf.Signs, Bias: mf.Bias, Linear: mf.Linear}
	if k == model.Deep && s.K == 0 && len(s.Hidden) > 0 {
		s.K = s.Hidden[len(s.Hidden)-1] // written without k
	}
	if mf.Bias {
		s.D++
	}
	if k == model.Deep && mf.Dims != nil && !slices.Equal(mf.Dims, s.Dims()) {
		return model.Spec{}, fmt.Errorf("dims %v do not match d = %d, bias %v and hidden %v", mf.Dims, mf.D, mf.Bias, mf.Hidden)
	}
	if err := msg.CheckDims(s.Dims()); err != nil {
		return model.Spec{}, fmt.Errorf("dims %v: %v", s.Dims(), err)
	}
	if err := s.Validate(); err != nil {
		return model.Spec{}, err
	}
	if mf.Features != nil && len(mf.Features) != mf.D {
		return model.Spec{}, fmt.Errorf("%d feature names %v for d = %d", len(mf.Features), mf.Features, mf.D)
	}
	if st := mf.Standardize; st != nil {
		if len(st.XMean) != mf.D || len(st.XSD) != mf.D {
			return model.Spec{}, fmt.Errorf("standardization of %d and %d features for d = %d", len(st.XMean), len(st.XSD), mf.D)
		}
		if err := st.affine().Check(s.D); err != nil {
			return model.Spec{}, err
		}
	}
	return s, nil
}

// LoadModel reads a model directory of any family and checks it: in
// ModelFormat, model.json's checksum and the SHA-256 of every weights
// file read (a LegacyModelFormat directory is read without them); the
// specification, the shapes and finiteness of every layer's weights. It
// returns model.json and the learned weights.
func LoadModel(dir string) (*ModelFile, *model.Net, error) {
	path := filepath.Join(dir, "model.json")
	b, err := readRegular(path)
	if err != nil {
		return nil, nil, fmt.Errorf("job: model: %w", err)
	}
	var mf ModelFile
	if err := json.Unmarshal(b, &mf); err != nil {
		return nil, nil, fmt.Errorf("job: model: %s: %w", path, err)
	}
	verified := mf.Format == ModelFormat
	switch {
	case !verified && mf.Format != LegacyModelFormat:
		return nil, nil, fmt.Errorf("job: model: %s: format %q, want %q (or %q)", path, mf.Format, ModelFormat, LegacyModelFormat)
	case verified:
		if err := mf.verifyJSON(path); err != nil {
			return nil, nil, err
		}
	}
	spec, err := mf.spec()
	if err != nil {
		return nil, nil, fmt.Errorf("job: model: %s: %w", path, err)
	}
	fam := familyOf(spec.Kind)
	if verified {
		if err := mf.verifyFiles(path, dir, fam.files(spec)); err != nil {
			return nil, nil, err
		}
	}
	w, err := fam.read(dir, spec)
	if err != nil {
		return nil, nil, err
	}
	return &mf, w, nil
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

// writeJSON writes v to path atomically.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'))
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

// ReadMetrics reads the metrics.jsonl of the run in dir: one Metric per
// line, blank lines skipped. A missing or unreadable file, a line that is
// not a JSON object with an "iter", and a file without lines are errors
// naming the file (and the line).
func ReadMetrics(dir string) ([]Metric, error) {
	path := filepath.Join(dir, "metrics.jsonl")
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("job: metrics: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	var ms []Metric
	for line := 1; sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var m Metric
		var has struct{ Iter *int }
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("job: metrics: %s line %d: %v", path, line, err)
		}
		if json.Unmarshal(b, &has); has.Iter == nil {
			return nil, fmt.Errorf("job: metrics: %s line %d: no \"iter\"", path, line)
		}
		ms = append(ms, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("job: metrics: %s: %w", path, err)
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("job: metrics: %s has no iterations", path)
	}
	return ms, nil
}

// runFiles is the output directory of a run: its checkpoint and its
// metrics.
type runFiles struct {
	dir     string
	fp      string          // fingerprint of the configuration
	config  json.RawMessage // what fp covers
	metrics *os.File
	enc     *json.Encoder
}

// openRun creates the output directory dir and opens it for a run of the
// configuration of fingerprint fp (of cfg). Without overwrite, it restores
// core from the directory's checkpoint when that is an unfinished run of
// the same configuration, saying so on out, and refuses a checkpoint of
// another configuration or damaged (loadCheckpoint against lim), a
// finished run whose model was written, and a model without a checkpoint
// (resumeFrom). With overwrite, the run starts from the beginning
// whatever the directory holds. It opens metrics.jsonl without the lines
// of the iterations still to come. The caller closes the files.
func openRun(dir, fp string, cfg json.RawMessage, core coordinator.Core, out io.Writer, overwrite bool, lim checkpointLimits) (*runFiles, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("job: output directory: %w", err)
	}
	iter := 0
	if !overwrite {
		c, err := loadCheckpoint(dir, fp, lim)
		if err != nil {
			return nil, err
		}
		resume, err := resumeFrom(dir, c, true) // loadCheckpoint refuses another fingerprint
		if err != nil {
			return nil, err
		}
		if resume {
			if err := core.Restore(c.State); err != nil {
				return nil, fmt.Errorf("%w: %s: %v; it is not resumed: use another --out, or --overwrite to train again into it", ErrCheckpoint, filepath.Join(dir, "checkpoint.json"), err)
			}
			iter = c.State.Iter
			fmt.Fprintf(out, "resuming from the checkpoint in %s at iteration %d\n", dir, iter)
		}
	}
	mf, err := openMetrics(dir, iter)
	if err != nil {
		return nil, err
	}
	return &runFiles{dir: dir, fp: fp, config: cfg, metrics: mf, enc: json.NewEncoder(mf)}, nil
}

// Close closes metrics.jsonl.
func (rf *runFiles) Close() error { return rf.metrics.Close() }

// record ends an iteration: it appends metric m to metrics.jsonl, writes
// the table row to out, and then the state st to checkpoint.json.
func (rf *runFiles) record(m Metric, out io.Writer, row string, st coordinator.State) error {
	if err := rf.enc.Encode(m); err != nil {
		return fmt.Errorf("job: metrics.jsonl: %w", err)
	}
	io.WriteString(out, row)
	return saveCheckpoint(rf.dir, rf.fp, rf.config, st)
}
