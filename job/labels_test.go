package job_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"altmin/job"
)

// TestLabelFlagOfTheOtherFormatRefused: --labels with CSV or Parquet data
// and --label with .npy data are errors naming the flag, for train,
// predict and eval, instead of being silently ignored.
func TestLabelFlagOfTheOtherFormatRefused(t *testing.T) {
	dir := t.TempDir()
	x := writeNPY(t, filepath.Join(dir, "x.npy"), []float64{1, 2, 3, 4}, 2, 2)
	y := writeNPY(t, filepath.Join(dir, "y.npy"), []float64{1, 2}, 2)
	csv := writeFile(t, filepath.Join(dir, "t.csv"), []byte("a,b,y\n1,2,3\n4,5,6\n"))
	for _, tc := range []struct {
		name string
		set  func(o *job.Options)
		flag string
	}{
		{"--labels with CSV", func(o *job.Options) { o.Data, o.Label, o.Labels = csv, "y", y }, "--labels"},
		{"--label with .npy", func(o *job.Options) { o.Data, o.Labels, o.Label = x, y, "y" }, "--label y"},
	} {
		o := job.DefaultOptions()
		o.K = 1
		tc.set(&o)
		err := o.Validate()
		if !errors.Is(err, job.ErrOptions) || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("train, %s: %v, want ErrOptions naming %s", tc.name, err, tc.flag)
		}
	}
	model := t.TempDir() // never read: the options are refused first
	for _, tc := range []struct {
		name string
		o    job.PredictOptions
		flag string
	}{
		{"eval --labels with CSV", job.PredictOptions{Model: model, Data: csv, Label: "y", Labels: y}, "--labels"},
		{"eval --label with .npy", job.PredictOptions{Model: model, Data: x, Labels: y, Label: "y"}, "--label y"},
	} {
		_, err := job.Eval(tc.o)
		if !errors.Is(err, job.ErrOptions) || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("%s: %v, want ErrOptions naming %s", tc.name, err, tc.flag)
		}
	}
	_, err := job.Predict(job.PredictOptions{Model: model, Data: x, Label: "y", Out: filepath.Join(dir, "yhat.npy")})
	if !errors.Is(err, job.ErrOptions) || !strings.Contains(err.Error(), "--label y") {
		t.Errorf("predict --label with .npy: %v, want ErrOptions naming --label", err)
	}
}
