package job

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"altmin/coordinator"
	"altmin/data"
	"altmin/model"
	"altmin/msg"
)

// A family is a kind of model altmin trains, plugged into the one Run: it
// says which options it accepts, shapes and starts a problem, makes the
// core that trains it (package coordinator) and reads and writes its
// weight files. The 1-hidden-layer models (relu, sum, resnet) are
// shallowFamily (shallow.go), deep networks deepFamily (deep.go). Both
// train a model.Net with fixed output signs; the shards compute the
// family's kind of statistics (package msg, package shard's kernels).
type family interface {
	// check checks the options of the family, after those of every run
	// (Options.Validate).
	check(o *Options) error
	// shape returns the model's specification for data of d features
	// (bias excluded) and the learned weights of a known teacher in the
	// model's shape (planted, or --truth; nil for none).
	shape(o Options, d int, planted teacher) (model.Spec, *model.Net, error)
	// start returns the learned weights of an --init other than the
	// tensor start (a pending tensor start returns nil, "tensor"), and
	// its description.
	start(o Options, spec model.Spec, teacher *model.Net) (*model.Net, string, error)
	// core returns the core that trains the problem from its start.
	core(o Options, pr *Problem, pool *msg.Pool) (coordinator.Core, error)
	// learned returns the learned weights of the weights a core reports.
	learned(spec model.Spec, n *model.Net) *model.Net
	// relErr returns the relative error of learned weights w against the
	// teacher's.
	relErr(spec model.Spec, w, teacher *model.Net) float64
	// files names the weight files of spec, in the model directory.
	files(spec model.Spec) []string
	// write writes the learned weights w into the weight files.
	write(dir string, spec model.Spec, w *model.Net) error
	// read reads the learned weights of spec from the weight files of a
	// model directory, checking their shapes.
	read(dir string, spec model.Spec) (*model.Net, error)
	// predictor returns the function computing the outputs of the learned
	// weights w on rows x (bias feature included): out[i] = f(x_i).
	predictor(spec model.Spec, w *model.Net) func(out, x []float64)
}

// familyOf returns the family of a model kind.
func familyOf(k model.Kind) family {
	if k == model.Deep {
		return deepFamily{}
	}
	return shallowFamily{}
}

// teacher is the planted teacher of a data source, if it has one: its
// specification (without bias), learned weights and planted-data
// specification.
type teacher struct {
	spec model.Spec
	w    *model.Net
	desc string
}

// plantedOf returns the teacher of planted data (data.Synthetic,
// data.DeepTeacher), or the zero teacher.
func plantedOf(src data.Source) teacher {
	switch g := src.(type) {
	case *data.Synthetic:
		spec, w := g.Teacher()
		return teacher{spec: spec, w: &model.Net{Dims: spec.Dims(), W: [][]float64{w}, V: spec.Signs}}
	case *data.DeepTeacher:
		n := g.Net()
		hidden := append([]int(nil), n.Dims[1:]...)
		return teacher{spec: model.Spec{Kind: model.Deep, D: n.Dims[0], K: hidden[len(hidden)-1], Hidden: hidden, Signs: n.V}, w: n, desc: g.Spec()}
	}
	return teacher{}
}

// widenNet returns a copy of the learned weights n whose first layer has
// in inputs, in >= n's: zero weights for the added ones (the bias feature).
func widenNet(n *model.Net, in int) *model.Net {
	c := n.Clone()
	c.Dims[0] = in
	c.W[0] = widen(n.W[0], n.Dims[1], n.Dims[0], in)
	return c
}

// widen copies the k x d matrix w into a k x D one, D >= d, padding zeros.
func widen(w []float64, k, d, D int) []float64 {
	out := make([]float64, k*D)
	for q := 0; q < k; q++ {
		copy(out[q*D:q*D+d], w[q*d:(q+1)*d])
	}
	return out
}

// signsOf returns the output signs of --signs for k units of the last
// hidden layer: the teacher's when not given, def (ones when "") without a
// teacher, ones or alternate by name, or a .npy file of k values +-1.
func signsOf(o Options, k int, planted []float64, def string) ([]float64, error) {
	switch {
	case o.Signs == "" && planted != nil:
		return append([]float64(nil), planted...), nil
	case o.Signs == "" && def != "":
		return model.MakeSigns(def, k)
	case o.Signs == "":
		return model.MakeSigns("ones", k)
	case isNPY(o.Signs):
		v, _, err := data.ReadNPYShape(o.Signs, func(sh []int) error {
			if len(sh) != 1 || sh[0] != k {
				return fmt.Errorf("%w: --signs %s has shape %s, want (%d,), one sign per unit of the last hidden layer", ErrOptions, o.Signs, pyShape(sh), k)
			}
			return nil
		})
		if err != nil {
			if errors.Is(err, ErrOptions) {
				return nil, err
			}
			return nil, fmt.Errorf("--signs: %w", err)
		}
		return v, nil
	}
	v, err := model.MakeSigns(o.Signs, k)
	if err != nil {
		return nil, fmt.Errorf("%w: --signs: %v", ErrOptions, err)
	}
	return v, nil
}

// readMatrix reads a .npy file of shape (rows, cols), naming flag in
// errors.
func readMatrix(flag, path string, rows, cols int, what string) ([]float64, error) {
	w, _, err := data.ReadNPYShape(path, func(shape []int) error {
		if len(shape) != 2 || shape[0] != rows || shape[1] != cols {
			return fmt.Errorf("%w: %s %s has shape %s, want %s = (%d, %d)", ErrOptions, flag, path, pyShape(shape), what, rows, cols)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrOptions) {
			return nil, err
		}
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	return w, nil
}

// isDir reports whether path is a directory.
func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// linearFile holds a model's linear term: d values (d+1 with the bias
// feature, the last the output's bias).
const linearFile = "linear.npy"

// writeWeights writes the layers of w to the files names in dir, then its
// linear term to the last (linearFile) if w has one.
func writeWeights(dir string, names []string, w *model.Net) error {
	for l, name := range names {
		if l == len(w.W) {
			return data.WriteNPY(filepath.Join(dir, name), w.Skip, len(w.Skip))
		}
		if err := data.WriteNPY(filepath.Join(dir, name), w.W[l], w.Dims[l+1], w.Dims[l]); err != nil {
			return err
		}
	}
	return nil
}

// readWeights reads the layers of a network of spec's widths and signs
// from the files names in dir (then its linear term, if spec has one),
// checking every shape and that the weights are finite.
func readWeights(dir string, names []string, spec model.Spec) (*model.Net, error) {
	n := spec.Shape()
	for l, name := range names {
		path := filepath.Join(dir, name)
		if l == len(n.W) {
			v, _, err := data.ReadNPYShape(path, func(shape []int) error {
				if len(shape) != 1 || shape[0] != spec.D {
					return fmt.Errorf("%s has shape %s, model.json says (%d,)", path, pyShape(shape), spec.D)
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("job: model: %w", err)
			}
			n.Skip = v
			continue
		}
		w, _, err := data.ReadNPYShape(path, func(shape []int) error {
			if len(shape) != 2 || shape[0] != n.Dims[l+1] || shape[1] != n.Dims[l] {
				return fmt.Errorf("%s has shape %s, model.json says (%d, %d)", path, pyShape(shape), n.Dims[l+1], n.Dims[l])
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("job: model: %w", err)
		}
		n.W[l] = w
	}
	if err := n.Validate(); err != nil {
		return nil, fmt.Errorf("job: model: %s: %w", dir, err)
	}
	return n, nil
}

// addLinear adds the linear term skip . x_i to out[i] for the rows of x
// (nothing for a nil skip).
func addLinear(out, x, skip []float64) {
	if skip == nil {
		return
	}
	d := len(skip)
	for i := range out {
		var s float64
		for j, v := range x[i*d : (i+1)*d] {
			s += skip[j] * v
		}
		out[i] += s
	}
}

// closeSource releases a data source's files, if it holds any.
func closeSource(src data.Source) error {
	if c, ok := src.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
