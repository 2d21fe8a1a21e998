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

// CheckpointFormat names the checkpoint.json format.
const CheckpointFormat = "altmin-checkpoint/2"

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

// loadCheckpoint returns the unfinished checkpoint recorded in dir for a
// run with fingerprint fp, or nil when there is none (no file, or a
// finished run). A checkpoint of another format, configuration or
// arithmetic is an error.
func loadCheckpoint(dir, fp string) (*Checkpoint, error) {
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
	if head.Format != CheckpointFormat {
		return nil, fmt.Errorf("%w: %s has format %q, want %q; use another --out or delete the directory", ErrCheckpoint, path, head.Format, CheckpointFormat)
	}
	var c Checkpoint
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%w: %s is not a valid checkpoint: %v", ErrCheckpoint, path, err)
	}
	if c.Fingerprint != fp {
		return nil, fmt.Errorf("%w: %s belongs to another configuration or data set (%s); use another --out or delete the directory", ErrCheckpoint, path, c.Config)
	}
	if own := arith.Build(); c.Arith != own {
		return nil, fmt.Errorf("%w: %s was written by a build for %s, this one is for %s: it would not continue with the same bits (fused multiply-adds round differently); resume with a build for %s, or use another --out", ErrCheckpoint, path, c.Arith, own, c.Arith)
	}
	if c.State.Stopped != coordinator.Running {
		return nil, nil
	}
	return &c, nil
}

// saveCheckpoint writes st atomically to checkpoint.json in dir, with the
// fingerprint fp of the configuration cfg.
func saveCheckpoint(dir, fp string, cfg json.RawMessage, st coordinator.State) error {
	b, err := json.Marshal(Checkpoint{Format: CheckpointFormat, Fingerprint: fp, Config: cfg, Arith: arith.Build(), State: st})
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
	// The two phases of Seconds: broadcast, every partition's statistics
	// and their transfer; then the coordinator's reduce and solve.
	StatsSeconds float64 `json:"stats_seconds"`
	SolveSeconds float64 `json:"solve_seconds"`
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
	// R2 is the training R^2; ValRows, ValLoss and ValR2 those of the
	// validation rows (absent without them). Losses are of the
	// standardized label when it is standardized.
	R2      *float64 `json:"r2"`
	ValRows int      `json:"val_rows,omitempty"`
	ValLoss *float64 `json:"val_loss,omitempty"`
	ValR2   *float64 `json:"val_r2,omitempty"`
}

// ModelFormat names the model.json format.
const ModelFormat = "altmin-model/1"

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
	Damping          bool  `json:"damping"`
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

// LoadModel reads a model directory of any family and checks it: the
// specification, the shapes and finiteness of every layer's weights. It
// returns model.json and the learned weights.
func LoadModel(dir string) (*ModelFile, *model.Net, error) {
	path := filepath.Join(dir, "model.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("job: model: %w", err)
	}
	var mf ModelFile
	if err := json.Unmarshal(b, &mf); err != nil {
		return nil, nil, fmt.Errorf("job: model: %s: %w", path, err)
	}
	if mf.Format != ModelFormat {
		return nil, nil, fmt.Errorf("job: model: %s: format %q, want %q", path, mf.Format, ModelFormat)
	}
	spec, err := mf.spec()
	if err != nil {
		return nil, nil, fmt.Errorf("job: model: %s: %w", path, err)
	}
	w, err := familyOf(spec.Kind).read(dir, spec)
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

// runFiles is the output directory of a run: its checkpoint and its
// metrics.
type runFiles struct {
	dir     string
	fp      string          // fingerprint of the configuration
	config  json.RawMessage // what fp covers
	metrics *os.File
	enc     *json.Encoder
}

// openRun creates the output directory dir, restores core from its
// checkpoint when that is an unfinished run of the same configuration
// (fingerprint fp of cfg), saying so on out, and opens metrics.jsonl
// without the lines of the iterations still to come. The caller closes the
// files.
func openRun(dir, fp string, cfg json.RawMessage, core coordinator.Core, out io.Writer) (*runFiles, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("job: output directory: %w", err)
	}
	c, err := loadCheckpoint(dir, fp)
	if err != nil {
		return nil, err
	}
	iter := 0
	if c != nil {
		if err := core.Restore(c.State); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCheckpoint, err)
		}
		iter = c.State.Iter
		fmt.Fprintf(out, "resuming from the checkpoint in %s at iteration %d\n", dir, iter)
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
