package job

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"altmin/data"
)

// PredictOptions are the settings of `coordinator predict` and
// `coordinator eval`.
type PredictOptions struct {
	Model  string // model directory
	Data   string // X.npy, a .csv or a .parquet file
	Label  string // with CSV or Parquet: the label column (predict: dropped, if present; eval: required)
	Labels string // eval with an .npy Data: y.npy
	Out    string // predict: output .npy
	// Overwrite lets predict replace an existing Out; an input (the data,
	// the labels, a file of the model) is never replaced.
	Overwrite bool
}

// Predict applies a trained model of any family to data and writes the
// predictions, in the label's units. A model trained on feature columns
// chosen by name (model.json's features) reads the same columns by name,
// from a CSV or Parquet file; otherwise every column but the label is a
// feature. It refuses data whose number of features differs from the
// model's, an existing Out without Overwrite and an Out that is one of
// its inputs (CheckOutput), and returns the number of rows.
func Predict(o PredictOptions) (int, error) { return PredictContext(context.Background(), o) }

// PredictContext is Predict stopping once ctx is done, while the data are
// read, with an error wrapping ctx.Err(); the output is then not written.
func PredictContext(ctx context.Context, o PredictOptions) (int, error) {
	if o.Model == "" || o.Data == "" || o.Out == "" {
		return 0, errors.Join(ErrOptions, errors.New("predict needs --model, --data and --out"))
	}
	if err := o.checkLabels(); err != nil {
		return 0, err
	}
	ins := append([]Input{{"--data", o.Data}, {"--labels", o.Labels}}, ModelInputs("--model", o.Model)...)
	if err := CheckOutput("--out", o.Out, o.Overwrite, ins...); err != nil {
		return 0, err
	}
	yhat, _, err := predictions(ctx, o, false)
	if err != nil {
		return 0, err
	}
	if err := data.WriteNPY(o.Out, yhat, len(yhat)); err != nil {
		return 0, err
	}
	return len(yhat), nil
}

// Evaluation is a model's scores on labelled data, in the label's units.
type Evaluation struct {
	Model string  `json:"model"`
	Data  string  `json:"data"`
	N     int     `json:"n"`
	RMSE  float64 `json:"rmse"`
	MAE   float64 `json:"mae"`
	R2    float64 `json:"r2"`
}

// Eval applies a trained model to labelled data and scores its
// predictions: RMSE, MAE and R^2 (NaN for constant labels).
func Eval(o PredictOptions) (*Evaluation, error) { return EvalContext(context.Background(), o) }

// EvalContext is Eval stopping once ctx is done, while the data are read,
// with an error wrapping ctx.Err().
func EvalContext(ctx context.Context, o PredictOptions) (*Evaluation, error) {
	switch {
	case o.Model == "" || o.Data == "":
		return nil, errors.Join(ErrOptions, errors.New("eval needs --model and --data"))
	case named(o.Data) && o.Label == "":
		return nil, fmt.Errorf("%w: --data %s is %s: name the label column with --label", ErrOptions, o.Data, data.FormatOf(o.Data))
	case !named(o.Data) && o.Labels == "":
		return nil, fmt.Errorf("%w: --data %s needs --labels y.npy", ErrOptions, o.Data)
	}
	if err := o.checkLabels(); err != nil {
		return nil, err
	}
	yhat, y, err := predictions(ctx, o, true)
	if err != nil {
		return nil, err
	}
	e := &Evaluation{Model: o.Model, Data: o.Data, N: len(y)}
	var sse, sae, sum, sumsq float64
	for i, v := range y {
		r := yhat[i] - v
		sse += r * r
		sae += math.Abs(r)
		sum += v
		sumsq += v * v
	}
	n := float64(len(y))
	e.RMSE, e.MAE = math.Sqrt(sse/n), sae/n
	e.R2 = math.NaN()
	if ss := sumsq - sum*sum/n; ss > 0 {
		e.R2 = 1 - sse/ss
	}
	return e, nil
}

// checkLabels refuses the label flag of the other format: --labels with a
// CSV or Parquet --data, --label with an .npy one.
func (o PredictOptions) checkLabels() error {
	switch {
	case named(o.Data) && o.Labels != "":
		return fmt.Errorf("%w: --labels %s is for an .npy --data; --data %s is %s: name its label column with --label", ErrOptions, o.Labels, o.Data, data.FormatOf(o.Data))
	case !named(o.Data) && o.Label != "":
		return fmt.Errorf("%w: --label %s names a column of a CSV or Parquet --data; --data %s (.npy) has none", ErrOptions, o.Label, o.Data)
	}
	return nil
}

// predictions reads the data of o (and its labels, with labels) and
// returns the model's predictions in the label's units: the rows are
// standardized as the model was trained (model.json's standardize), the
// bias feature appended, the network applied, and the outputs turned back
// into the label's units. It stops once ctx is done.
func predictions(ctx context.Context, o PredictOptions, labels bool) (yhat, y []float64, err error) {
	mf, w, err := LoadModel(o.Model)
	if err != nil {
		return nil, nil, err
	}
	spec, err := mf.spec()
	if err != nil {
		return nil, nil, err
	}
	predict := familyOf(spec.Kind).predictor(spec, w)
	t := mf.Standardize.affine()
	if mf.Features != nil && !named(o.Data) {
		return nil, nil, fmt.Errorf("%w: the model in %s reads the feature columns %s by name, and %s (.npy) has no column names: give a CSV or Parquet file", ErrOptions, o.Model, strings.Join(mf.Features, ","), o.Data)
	}
	src, err := data.OpenContext(ctx, data.Table{Path: o.Data, Labels: o.Labels, Label: o.Label, Features: mf.Features, Unlabeled: !labels})
	if err != nil {
		return nil, nil, err
	}
	defer closeSource(src)
	info := src.Info()
	d := spec.InputD()
	if info.D != d {
		return nil, nil, fmt.Errorf("%w: %s has %d features, the model in %s was trained on %d", ErrOptions, o.Data, info.D, o.Model, d)
	}
	yhat = make([]float64, info.N)
	if labels {
		y = make([]float64, info.N)
	}
	const block = 1 << 16
	xr := make([]float64, 0, block*d)
	x := make([]float64, 0, block*spec.D)
	for lo := 0; lo < info.N; lo += block {
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", o.Data, err)
		}
		hi := min(lo+block, info.N)
		xr = xr[:(hi-lo)*d]
		var yb []float64
		if labels {
			yb = y[lo:hi]
		}
		if err := src.Read(lo, hi, xr, yb); err != nil {
			return nil, nil, err
		}
		x = x[:(hi-lo)*spec.D]
		for i := 0; i < hi-lo; i++ {
			row := x[i*spec.D : (i+1)*spec.D]
			copy(row, xr[i*d:(i+1)*d])
			t.Row(row)
			if spec.Bias {
				row[d] = 1
			}
		}
		predict(yhat[lo:hi], x)
		if t != nil {
			for i := lo; i < hi; i++ {
				yhat[i] = yhat[i]/t.YScale + t.YShift
			}
		}
	}
	return yhat, y, nil
}
