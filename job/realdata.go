package job

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"altmin/data"
	"altmin/model"
	"altmin/msg"
	"altmin/round"
)

// The passes over the data that training on real data needs before its
// first iteration (see setup): a summary of the training rows (package
// msg's SummaryRequest), from which the standardization and the start
// whose hidden units pass through data points are computed. Like the
// statistics, the partitions' summaries come from wherever the partitions
// are and are combined in the reduction tree (msg.Summary.Add).

// splitSeed seeds the validation split: a fixed seed, so that the held-out
// rows do not change with --seed (which seeds the start).
const splitSeed = 0x76616c696461 // "valida"

// summary is the reduced summary of the training rows: their count, the
// mean and standard deviation of every column (the features, bias
// included, then the label) and the sampled rows, by increasing hash.
type summary struct {
	rows     int
	mean, sd []float64
	points   [][]float64 // features and label of each sampled row
}

// summarize runs the summary pass over the partitions served by f, at most
// parallel at a time, sampling samples rows.
func summarize(ctx context.Context, f msg.Fetcher, o Options, pr *Problem, parallel, samples int, pool *msg.Pool) (*summary, error) {
	req := &msg.SummaryRequest{D: pr.Spec.D, Split: pr.Split, Samples: samples, Seed: o.Seed}
	sum, err := round.Collect(ctx, f, req, o.Partitions, parallel, "summary of the training rows", pool)
	if err != nil {
		return nil, err
	}
	q := sum.(*msg.Summary) // the partitions' summaries combined in the reduction tree (msg.Summary.Add)
	c := pr.Spec.D + 1
	s := &summary{rows: q.Rows, mean: q.Mean, sd: make([]float64, c)}
	if s.rows < 2 {
		return nil, fmt.Errorf("%w: %d training rows: need at least 2", ErrOptions, s.rows)
	}
	for j, v := range q.M2 {
		s.sd[j] = math.Sqrt(v / float64(s.rows))
	}
	for i := range q.Index { // by increasing hash
		s.points = append(s.points, q.Sample[i*c:(i+1)*c])
	}
	return s, nil
}

// affine returns the standardization of the data's d features (the bias
// feature is kept as it is) and label: each feature and the label centred
// on its mean and scaled to unit standard deviation. A constant feature is
// centred and not scaled (it is 0 for every row, and its weights learn
// nothing); a constant label is an error.
func (s *summary) affine(d int, labelName string) (*msg.Affine, error) {
	a := &msg.Affine{XShift: make([]float64, d), XScale: make([]float64, d), YShift: s.mean[len(s.mean)-1]}
	ysd := s.sd[len(s.sd)-1]
	if !(ysd > 1e-12*(1+math.Abs(a.YShift))) {
		return nil, fmt.Errorf("%w: the label %s is constant (%v) on the training rows: there is nothing to learn", ErrOptions, labelName, a.YShift)
	}
	a.YScale = 1 / ysd
	for j := 0; j < d; j++ {
		a.XShift[j], a.XScale[j] = s.mean[j], 1
		if sd := s.sd[j]; sd > 1e-12*(1+math.Abs(s.mean[j])) {
			a.XScale[j] = 1 / sd
		}
	}
	return a, nil
}

// constantFeatures lists the features (0-based) constant on the training
// rows, without the bias feature.
func (s *summary) constantFeatures(d int) []int {
	var c []int
	for j := 0; j < d; j++ {
		if !(s.sd[j] > 1e-12*(1+math.Abs(s.mean[j]))) {
			c = append(c, j)
		}
	}
	return c
}

// dataStart returns a start whose first hidden layer's units pass through
// data points: unit q's hyperplane has a random direction w_q ~ N(0, I/d)
// over the d (standardized) features and the bias that puts the sampled
// point q on it, so that no unit starts dead on every row. Deeper layers
// are drawn as data.RandomNet draws them; the linear term starts at 0. The
// points are rows of the data as held (features, bias feature, label),
// standardized here by t (nil: none). The model has a bias feature.
func dataStart(spec model.Spec, points [][]float64, t *msg.Affine, seed uint64) (*model.Net, error) {
	if !spec.Bias {
		return nil, fmt.Errorf("%w: --init data places hidden units through data points with a bias: it needs the bias feature (--bias)", ErrOptions)
	}
	if len(points) == 0 {
		return nil, fmt.Errorf("%w: --init data: no training rows to place the hidden units through", ErrOptions)
	}
	n := spec.Shape()
	if spec.Kind == model.Deep {
		n = data.RandomNet(n, seed)
	}
	in, k := spec.D, n.Dims[1]
	d := in - 1                                    // the last feature is the bias
	rng := rand.New(rand.NewPCG(seed, 0x64617461)) // "data"
	x := make([]float64, in)
	w := n.W[0]
	for q := 0; q < k; q++ {
		copy(x, points[q%len(points)][:in])
		t.Row(x)
		row := w[q*in : (q+1)*in]
		var b float64
		for j := 0; j < d; j++ {
			row[j] = rng.NormFloat64() / math.Sqrt(float64(d))
			b -= row[j] * x[j]
		}
		row[d] = b
	}
	if n.Skip != nil {
		clear(n.Skip)
	}
	return n, nil
}

// finish runs the passes a problem still needs over the partitions served
// by f, at most parallel at a time: the summary of the training rows (for
// the standardization and a data start) and a pending start (data or
// tensor).
func (pr *Problem) finish(ctx context.Context, o Options, f msg.Fetcher, parallel int, pool *msg.Pool) error {
	st := o.setup()
	if st.standardize || pr.StartDesc == "data" {
		samples := 0
		if pr.StartDesc == "data" && pr.Start == nil {
			samples = min(pr.Spec.Dims()[1], msg.MaxSamples)
		}
		s, err := summarize(ctx, f, o, pr, parallel, samples, pool)
		if err != nil {
			return err
		}
		d := pr.Spec.InputD()
		if st.standardize {
			if pr.Transform, err = s.affine(d, labelName(o)); err != nil {
				return err
			}
		}
		pr.Constant = s.constantFeatures(d)
		if pr.StartDesc == "data" && pr.Start == nil {
			if pr.Start, err = dataStart(pr.Spec, s.points, pr.Transform, o.Seed); err != nil {
				return err
			}
		}
	}
	return pr.initTensor(ctx, o, f, parallel, pool)
}

// labelName names the label for messages.
func labelName(o Options) string {
	if o.Label != "" {
		return fmt.Sprintf("%q", o.Label)
	}
	return "y"
}
