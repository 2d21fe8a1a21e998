package job

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"altmin/data"
	"altmin/model"
)

// PredictOptions are the settings of `coordinator predict`.
type PredictOptions struct {
	Model string // model directory
	Data  string // X.npy or a .csv file
	Label string // with CSV: label column to drop, if present
	Out   string // output .npy
}

// LoadModel reads a model directory written by Train.
func LoadModel(dir string) (model.Spec, []float64, error) {
	path := filepath.Join(dir, "model.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return model.Spec{}, nil, fmt.Errorf("job: model: %w", err)
	}
	var mf ModelFile
	if err := json.Unmarshal(b, &mf); err != nil {
		return model.Spec{}, nil, fmt.Errorf("job: model: %s: %w", path, err)
	}
	if mf.Format != ModelFormat {
		return model.Spec{}, nil, fmt.Errorf("job: model: %s: format %q, want %q", path, mf.Format, ModelFormat)
	}
	spec := model.Spec{Kind: model.Kind(mf.Model), D: mf.D, K: mf.K, Signs: mf.Signs, Bias: mf.Bias}
	if mf.Bias {
		spec.D++
	}
	if err := spec.Validate(); err != nil {
		return model.Spec{}, nil, fmt.Errorf("job: model: %s: %w", path, err)
	}
	wpath := filepath.Join(dir, "weights.npy")
	w, shape, err := data.ReadNPY(wpath)
	if err != nil {
		return model.Spec{}, nil, fmt.Errorf("job: model: %w", err)
	}
	if len(shape) != 2 || shape[0] != spec.K || shape[1] != spec.D {
		return model.Spec{}, nil, fmt.Errorf("job: model: %s has shape %s, model.json says (%d, %d)", wpath, pyShape(shape), spec.K, spec.D)
	}
	return spec, w, nil
}

// Predict applies a trained model to data and writes the predictions. It
// returns the number of rows.
func Predict(o PredictOptions) (int, error) {
	if o.Model == "" || o.Data == "" || o.Out == "" {
		return 0, errors.Join(ErrOptions, errors.New("predict needs --model, --data and --out"))
	}
	spec, w, err := LoadModel(o.Model)
	if err != nil {
		return 0, err
	}
	return predictRows(o, spec.InputD(), spec.Bias, func(yhat, x []float64) { spec.Predict(yhat, x, w) })
}

// predictRows reads the data of o (d features a row, as the model was
// trained on), appends the constant-1 feature when bias is set, applies
// predict to blocks of rows and writes the predictions to o.Out. It
// returns the number of rows.
func predictRows(o PredictOptions, d int, bias bool, predict func(yhat, x []float64)) (int, error) {
	var src data.Source
	var err error
	if isCSV(o.Data) {
		src, err = data.OpenCSVFeatures(o.Data, o.Label)
	} else {
		src, err = data.OpenNPYFeatures(o.Data)
	}
	if err != nil {
		return 0, err
	}
	if c, ok := src.(io.Closer); ok {
		defer c.Close()
	}
	info := src.Info()
	if info.D != d {
		return 0, fmt.Errorf("%w: %s has %d features, the model in %s was trained on %d", ErrOptions, o.Data, info.D, o.Model, d)
	}
	in := d
	if bias {
		in++
	}
	yhat := make([]float64, info.N)
	const block = 1 << 16
	xr := make([]float64, 0, block*info.D)
	x := make([]float64, 0, block*in)
	for lo := 0; lo < info.N; lo += block {
		hi := min(lo+block, info.N)
		xr = xr[:(hi-lo)*info.D]
		if err := src.Read(lo, hi, xr, nil); err != nil {
			return 0, err
		}
		x = x[:(hi-lo)*in]
		for i := 0; i < hi-lo; i++ {
			copy(x[i*in:], xr[i*info.D:(i+1)*info.D])
			if bias {
				x[i*in+info.D] = 1
			}
		}
		predict(yhat[lo:hi], x)
	}
	if err := data.WriteNPY(o.Out, yhat, info.N); err != nil {
		return 0, err
	}
	return info.N, nil
}
