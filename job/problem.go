package job

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"altmin/data"
	"altmin/model"
	"altmin/msg"
	"altmin/shard"
	"altmin/tensorinit"
	"altmin/transport"
)

// Problem is a training problem ready to run: data, model and start.
type Problem struct {
	Source   data.Source
	DataDesc string // description of the data for the table and model.json
	DataID   string // data.Fingerprint of the data as stored (see --storage)
	Demo     bool   // no data was given: the embedded demo
	Spec     model.Spec
	// Start is the learned weights training starts from; nil while a
	// tensor start is pending (computed by whatever holds the data, see
	// initTensor).
	Start     *model.Net
	StartDesc string
	// Teacher is the learned weights of a known teacher in the model's
	// shape (planted, or --truth), or nil.
	Teacher *model.Net
	// Transform standardizes the rows (nil: none), Split holds the
	// validation rows out (nil: none); Constant lists the features
	// constant on the training rows.
	Transform *msg.Affine
	Split     *msg.Split
	Constant  []int

	fam family
}

// Close releases the data source's files, if it holds any.
func (pr *Problem) Close() error { return closeSource(pr.Source) }

// Prepare opens the local data and builds the model, the teacher and the
// start. A tensor start (--init tensor) is computed in this process from
// the data's moments over an in-process engine; with --join the data live
// on the shards and it is refused: Train computes it over the cluster. The
// caller closes the Problem.
func Prepare(o Options) (*Problem, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if len(o.Join) > 0 {
		return nil, fmt.Errorf("%w: with --join the data live on the shards; Prepare reads local data only (use Train)", ErrOptions)
	}
	pr, err := prepareLocal(context.Background(), o)
	if err != nil {
		return nil, err
	}
	if pr.Start == nil || o.setup().standardize {
		err = func() error {
			eng, err := localEngine(context.Background(), o, pr)
			if err != nil {
				return err
			}
			return pr.finish(context.Background(), o, eng, 0, nil)
		}()
		if err != nil {
			pr.Close()
			return nil, err
		}
	}
	return pr, nil
}

// prepareLocal opens the local data and builds the problem; a tensor start
// is left pending. The data are those held in the chosen storage from here
// on (rounded to float32 with --storage float32), for the tensor start
// too. The data are read only while ctx is not done.
func prepareLocal(ctx context.Context, o Options) (*Problem, error) {
	src, demo, err := OpenSourceContext(ctx, o)
	if err != nil {
		return nil, err
	}
	st, err := o.storage()
	if err != nil {
		closeSource(src)
		return nil, err
	}
	stored := src
	if st == shard.Float32 {
		stored = data.Float32(src)
	}
	fp, err := data.Fingerprint(stored)
	if err != nil {
		closeSource(src)
		return nil, err
	}
	pr, err := prepare(o, stored, plantedOf(src), fp, valFrom(src))
	if err != nil {
		closeSource(src)
		return nil, err
	}
	pr.Demo = demo
	return pr, nil
}

// OpenSource opens the data the options name: --data (.npy, CSV or
// Parquet, with --label and --features; the rows of --val-data, opened
// the same way, after its own), --synthetic (planted data of any kind),
// or, with neither, the demo's planted data (demo is true).
func OpenSource(o Options) (src data.Source, demo bool, err error) {
	return OpenSourceContext(context.Background(), o)
}

// OpenSourceContext is OpenSource whose files are parsed and read only
// while ctx is not done (data.OpenContext): then the parse, and every
// read of the source, stop with an error wrapping ctx.Err().
func OpenSourceContext(ctx context.Context, o Options) (src data.Source, demo bool, err error) {
	open := func(x, y string) (data.Source, error) {
		return data.OpenContext(ctx, data.Table{Path: x, Labels: y, Label: o.Label, Features: o.Features})
	}
	switch {
	case o.Data != "":
		if src, err = open(o.Data, o.Labels); err == nil && o.ValData != "" {
			var val data.Source
			if val, err = open(o.ValData, o.ValLabels); err == nil {
				if src, err = data.Concat(src, val); err != nil {
					closeSource(val)
				}
			}
		}
	case o.Synthetic != "":
		if src, err = data.ParsePlanted(o.Synthetic); err != nil && data.IsDeepSpec(o.Synthetic) {
			err = fmt.Errorf("--synthetic: %w", err)
		}
	default:
		src, err = data.ParseSynthetic(DemoSynthetic)
		demo = true
	}
	if err != nil {
		return nil, false, err
	}
	return src, demo, nil
}

// split returns the validation split (nil: none): the rows from valFrom
// on (> 0: those of --val-data), or a fraction of the rows by hash.
func (o *Options) split(valFrom int) *msg.Split {
	switch {
	case valFrom > 0:
		return &msg.Split{From: valFrom}
	case o.setup().validation > 0:
		return &msg.Split{Fraction: o.setup().validation, Seed: splitSeed}
	}
	return nil
}

// valFrom returns the first validation row of a source that appends
// --val-data's rows (data.Concat), else 0.
func valFrom(src data.Source) int {
	if h, ok := src.(interface{ Head() int }); ok {
		return h.Head()
	}
	return 0
}

// prepare builds the problem of the options' family for an open source
// (as stored) whose fingerprint is dataID, with the teacher of its planted
// data and its validation rows from valFrom on (0: none, or by hash). A
// start that needs the data (data, tensor) is left pending.
func prepare(o Options, src data.Source, planted teacher, dataID string, valFrom int) (*Problem, error) {
	fam := o.family()
	info := src.Info()
	pr := &Problem{Source: src, DataDesc: info.Desc, DataID: dataID, fam: fam, Split: o.split(valFrom)}
	if planted.spec.Kind == model.Deep {
		pr.DataDesc = "synthetic " + planted.desc
	}
	var err error
	if pr.Spec, pr.Teacher, err = fam.shape(o, info.D, planted); err != nil {
		return nil, err
	}
	if pr.Start, pr.StartDesc, err = fam.start(o, pr.Spec, pr.Teacher); err != nil {
		return nil, err
	}
	return pr, nil
}

// initTensor computes a pending tensor start (--init tensor) from the
// moments of the partitions served by f (in process, or by the shards over
// gRPC), at most parallel partitions at a time (0: GOMAXPROCS). The
// partials are added in the reduction tree, so the start is the same bits
// wherever the partitions are computed. Without a pending start it does
// nothing.
func (pr *Problem) initTensor(ctx context.Context, o Options, f msg.Fetcher, parallel int, pool *msg.Pool) error {
	if pr.Start != nil {
		return nil
	}
	cfg := tensorinit.DefaultConfig()
	cfg.Seed, cfg.Parallel, cfg.Transform, cfg.Split = o.Seed, parallel, pr.Transform, pr.Split
	res, err := tensorinit.Run(ctx, f, pr.Spec, o.Partitions, cfg, pool)
	if err != nil {
		if errors.Is(err, tensorinit.ErrModel) {
			return fmt.Errorf("%w: --init tensor: %v", ErrOptions, err)
		}
		return fmt.Errorf("--init tensor: %w", err)
	}
	desc := "tensor"
	switch {
	case res.Fallback:
		desc += fmt.Sprintf(" (second-moment spectrum nearly degenerate, eigenvalue gap %.2f: span from the fourth moment; the start may be poor)", res.Gap)
	case res.Degenerate:
		desc += fmt.Sprintf(" (second-moment spectrum nearly degenerate, eigenvalue gap %.2f: the start may be poor)", res.Gap)
	}
	if res.Mismatched > 0 {
		desc += fmt.Sprintf(" (%d neurons given a component of the other output sign)", res.Mismatched)
	}
	pr.Start, pr.StartDesc = shallowNet(pr.Spec, res.W), desc
	return nil
}

// remoteSource describes data that live on the shards: the coordinator
// knows its size, not its rows.
type remoteSource struct{ info data.Info }

func (r remoteSource) Info() data.Info { return r.info }

func (r remoteSource) Read(lo, hi int, x, y []float64) error {
	return errors.New("job: the data live on the shards and cannot be read by the coordinator")
}

// prepareRemote builds the problem for data held by shards with the given
// schema, whose bias feature it takes into o (a --bias the shards do not
// apply, or the reverse, is an error). With --synthetic, the coordinator
// regenerates the planted data, for the teacher, and checks that the
// shards hold the same.
func prepareRemote(o Options, schema transport.Schema) (*Problem, error) {
	if o.Bias != Auto && o.Bias.or(false) != schema.Bias {
		return nil, fmt.Errorf("%w: --bias=%v but the shards hold their data with bias %v (start them with --bias=%v)", ErrOptions, o.Bias.or(false), schema.Bias, o.Bias.or(false))
	}
	o.Bias = Off
	if schema.Bias {
		o.Bias = On
	}
	if err := checkColumns(o.Features, schema); err != nil {
		return nil, err
	}
	desc := fmt.Sprintf("cluster data n=%d d=%d fingerprint=%s", schema.N, schema.D, schema.Fingerprint)
	if o.Features != nil {
		desc += " features=" + strings.Join(o.Features, ",")
	}
	var src data.Source = remoteSource{data.Info{N: schema.N, D: schema.D, Desc: desc, Features: o.Features}}
	if o.Synthetic != "" {
		g, _, err := OpenSource(o)
		if err != nil {
			return nil, err
		}
		stored := g
		if schema.DType == string(shard.Float32) {
			stored = data.Float32(g) // the data as the shards hold them
		}
		fp, err := data.Fingerprint(stored)
		if err != nil {
			return nil, err
		}
		if fp != schema.Fingerprint {
			return nil, fmt.Errorf("%w: the shards hold other data than --synthetic %s stored as %s (fingerprint %s, shards %s)", ErrOptions, o.Synthetic, schema.DType, fp, schema.Fingerprint)
		}
		src = g
	}
	return prepare(o, src, plantedOf(src), schema.Fingerprint, schema.ValFrom)
}

// checkColumns checks the coordinator's --features against the feature
// columns the shards chose by name (their digest in the schema), so that
// model.json records the columns the model was trained on.
func checkColumns(features []string, schema transport.Schema) error {
	switch {
	case data.FeaturesDigest(features) == schema.Columns:
		return nil
	case features == nil:
		return fmt.Errorf("%w: the shards read feature columns chosen by name (shard --features): give the coordinator the same --features, to be recorded in model.json", ErrOptions)
	case schema.Columns == "":
		return fmt.Errorf("%w: --features %s, but the shards chose no feature columns by name: start them with the same --features, or leave it out here", ErrOptions, strings.Join(features, ","))
	}
	return fmt.Errorf("%w: --features %s are not the feature columns the shards chose (shard --features): give the same names in the same order", ErrOptions, strings.Join(features, ","))
}

// pyShape formats a shape as NumPy does: (3,), (2, 4).
func pyShape(shape []int) string {
	s := "("
	for i, v := range shape {
		if i > 0 {
			s += ", "
		}
		s += strconv.Itoa(v)
	}
	if len(shape) == 1 {
		s += ","
	}
	return s + ")"
}
