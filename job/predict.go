package job

import (
	"errors"
	"fmt"

	"altmin/data"
)

// PredictOptions are the settings of `coordinator predict`.
type PredictOptions struct {
	Model string // model directory
	Data  string // X.npy or a .csv file
	Label string // with CSV: label column to drop, if present
	Out   string // output .npy
}

// Predict applies a trained model of any family to data and writes the
// predictions. It refuses data whose number of features differs from the
// model's, and returns the number of rows.
func Predict(o PredictOptions) (int, error) {
	if o.Model == "" || o.Data == "" || o.Out == "" {
		return 0, errors.Join(ErrOptions, errors.New("predict needs --model, --data and --out"))
	}
	mf, w, err := LoadModel(o.Model)
	if err != nil {
		return 0, err
	}
	spec, err := mf.spec()
	if err != nil {
		return 0, err
	}
	predict := familyOf(spec.Kind).predictor(spec, w)
	var src data.Source
	if isCSV(o.Data) {
		src, err = data.OpenCSVFeatures(o.Data, o.Label)
	} else {
		src, err = data.OpenNPYFeatures(o.Data)
	}
	if err != nil {
		return 0, err
	}
	defer closeSource(src)
	info := src.Info()
	d := spec.InputD()
	if info.D != d {
		return 0, fmt.Errorf("%w: %s has %d features, the model in %s was trained on %d", ErrOptions, o.Data, info.D, o.Model, d)
	}
	yhat := make([]float64, info.N)
	const block = 1 << 16
	xr := make([]float64, 0, block*d)
	x := make([]float64, 0, block*spec.D)
	for lo := 0; lo < info.N; lo += block {
		hi := min(lo+block, info.N)
		xr = xr[:(hi-lo)*d]
		if err := src.Read(lo, hi, xr, nil); err != nil {
			return 0, err
		}
		x = x[:(hi-lo)*spec.D]
		for i := 0; i < hi-lo; i++ {
			copy(x[i*spec.D:], xr[i*d:(i+1)*d])
			if spec.Bias {
				x[i*spec.D+d] = 1
			}
		}
		predict(yhat[lo:hi], x)
	}
	if err := data.WriteNPY(o.Out, yhat, info.N); err != nil {
		return 0, err
	}
	return info.N, nil
}
