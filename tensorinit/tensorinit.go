package tensorinit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"

	"gonum.org/v1/gonum/mat"

	"altmin/linalg"
	"altmin/model"
	"altmin/msg"
	"altmin/round"
)

// The Hermite coefficients c_n = E[relu(g) He_n(g)], g ~ N(0, 1), of the
// ReLU: for y = sum_q t_q relu(wbar_q . x) with unit wbar_q and x ~ N(0, I),
// the n-th Hermite moment of (x, y) is c_n sum_q t_q wbar_q^{(x)n}.
const (
	C1 = 0.5                             // E[relu(g) g]
	C2 = 1 / (math.Sqrt2 * math.SqrtPi)  // E[relu(g) (g^2 - 1)] = 1/sqrt(2 pi)
	C3 = 0.0                             // E[relu(g) (g^3 - 3g)]: vanishes, hence the fourth order
	C4 = -1 / (math.Sqrt2 * math.SqrtPi) // E[relu(g) (g^4 - 6g^2 + 3)] = -1/sqrt(2 pi)
)

// Errors. Every error about the model or the moments wraps one of them;
// an error of the msg.Fetcher is returned wrapped with its partition.
var (
	// ErrModel: the model is not one the moment method applies to.
	ErrModel = errors.New("tensorinit: unsupported model")
	// ErrMoments: missing, misnumbered or malformed partition moments, or
	// moments that carry no information (no rows, y = 0).
	ErrMoments = errors.New("tensorinit: bad moments")
	// ErrDecompose: no random contraction gave a well-conditioned
	// decomposition of the fourth-order tensor, or the tensor is zero.
	ErrDecompose = errors.New("tensorinit: tensor decomposition failed")
)

// Config configures the initialization.
type Config struct {
	// Seed seeds the random contraction vectors of the decomposition.
	Seed uint64
	// Trials is the number of random contraction pairs tried; the
	// decomposition that fits the tensor best is kept. At least 1.
	Trials int
	// Sweeps is the number of rounds of deflated power iteration that
	// polish the kept decomposition against the whole tensor; 0 disables.
	Sweeps int
	// MinGap is the smallest ratio |lambda_k| / |lambda_{k+1}| of the
	// k-th to the (k+1)-th largest eigenvalue (in absolute value) of the
	// second moment for which the spectrum counts as separated. Below it
	// the k-th eigenvector is barely distinguishable from noise (a neuron
	// of small norm, or two neurons of opposite sign at a small angle whose
	// terms nearly cancel): Result.Degenerate is set and, with FourthSpan,
	// the span is taken from the fourth moment. At least 1.
	MinGap float64
	// FourthSpan, for a degenerate spectrum, widens the projection to
	// min(d, 2k) eigenvectors of the second moment and narrows it to the
	// top-k left singular vectors of the fourth moment's unfolding, which
	// separates nearly parallel components better (their Khatri-Rao
	// products are less parallel) at the price of more noise. Measured
	// (docs/TENSOR_INIT.md): never fewer AM successes than keeping the
	// second moment's span, more on nearly cancelling pairs. On by default.
	FourthSpan bool
	// Parallel bounds the partitions whose moments are computed at once;
	// 0 means GOMAXPROCS.
	Parallel int
	// Transform and Split are sent with every request: the moments are
	// those of the standardized training rows (nil: none).
	Transform *msg.Affine
	Split     *msg.Split
}

// DefaultConfig returns 16 trials, 20 sweeps, MinGap 2, FourthSpan on,
// Parallel 0 and seed 1.
func DefaultConfig() Config {
	return Config{Seed: 1, Trials: 16, Sweeps: 20, MinGap: 2, FourthSpan: true}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case c.Trials < 1:
		return fmt.Errorf("tensorinit: trials = %d, need at least 1", c.Trials)
	case c.Sweeps < 0:
		return fmt.Errorf("tensorinit: sweeps = %d, need >= 0", c.Sweeps)
	case !(c.MinGap >= 1) || math.IsInf(c.MinGap, 0):
		return fmt.Errorf("tensorinit: min gap = %v, need a finite value >= 1", c.MinGap)
	case c.Parallel < 0:
		return fmt.Errorf("tensorinit: parallel = %d, need >= 0", c.Parallel)
	}
	return nil
}

// Result is the initialization and how it was found.
type Result struct {
	// W is the initial learned weight matrix, k x D (row-major); the
	// bias column, if any, is zero.
	W []float64
	// Eigenvalues of the second moment, sorted by decreasing absolute
	// value.
	Eigenvalues []float64
	// Gap is |lambda_k| / |lambda_{k+1}| (+Inf when k = d).
	Gap float64
	// Degenerate reports a gap below MinGap: the start may be poor.
	Degenerate bool
	// Fallback reports that, the spectrum being degenerate and FourthSpan
	// set, the span was estimated from the fourth moment.
	Fallback bool
	// Fit is the relative residual ||T - sum_q lambda_q a_q^(x)4||_F /
	// ||T||_F of the kept decomposition of the projected fourth moment.
	Fit float64
	// Scales are the estimated v_q ||w_q|| of the components assigned to
	// neurons 0..k-1, by least squares on the second moment. Alternating
	// minimization depends on their signs, not their magnitudes: its first
	// step reads activation patterns only.
	Scales []float64
	// Mismatched counts neurons given a component whose estimated output
	// sign differs from theirs (more estimated positive components than
	// neurons with v = +1, or fewer).
	Mismatched int
	// Rows is the number of samples the moments were summed over.
	Rows int
}

// Run computes the tensor initialization for spec from the partitions
// 0..P-1 of src in three passes: the first moment, the second moment of
// the labels less their linear part, and the projected fourth moment of
// the labels less their quadratic part. Partials are reduced in partition
// order, so the result does not depend on where each partition was
// computed.
func Run(ctx context.Context, f msg.Fetcher, spec model.Spec, P int, cfg Config, pool *msg.Pool) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := checkSpec(spec); err != nil {
		return nil, err
	}
	if P < 1 {
		return nil, fmt.Errorf("%w: %d partitions", ErrMoments, P)
	}
	par := cfg.Parallel
	if par == 0 {
		par = runtime.GOMAXPROCS(0)
	}
	pass := func(req msg.Request) (msg.Partial, error) {
		sum, err := round.Collect(ctx, f, req, P, par, fmt.Sprintf("tensorinit: %s pass", req.Kind()), pool)
		if errors.Is(err, msg.ErrInvalid) { // misnumbered, missing or malformed moments
			err = fmt.Errorf("%w: %w", ErrMoments, err)
		}
		return sum, err
	}
	pass12 := func(base *msg.Baseline, order int) (*msg.Moments12, error) {
		sum, err := pass(&msg.Moments12Request{D: spec.D, Order: order, Base: base, Transform: cfg.Transform, Split: cfg.Split})
		if err != nil {
			return nil, err
		}
		return sum.(*msg.Moments12), nil
	}
	first, err := pass12(nil, 1)
	if err != nil {
		return nil, err
	}
	plan, err := NewPlan(first, spec, cfg)
	if err != nil {
		return nil, err
	}
	second, err := pass12(plan.SecondBaseline(), 2)
	if err != nil {
		return nil, err
	}
	if err := plan.SecondMoments(second); err != nil {
		return nil, err
	}
	v, k, base := plan.Projection()
	m4, err := pass(&msg.Moment4Request{D: spec.D, K: k, V: v, Base: base, Transform: cfg.Transform, Split: cfg.Split})
	if err != nil {
		return nil, err
	}
	return plan.Finish(m4.(*msg.Moment4))
}

func checkSpec(spec model.Spec) error {
	if err := spec.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrModel, err)
	}
	switch {
	case spec.Kind != model.Sum && spec.Kind != model.ReLU:
		return fmt.Errorf("%w: the tensor initialization is for models sum and relu, not %s (use identity)", ErrModel, spec.Kind)
	case spec.K > spec.InputD():
		return fmt.Errorf("%w: k = %d neurons exceed d = %d input features; the moments identify at most d directions", ErrModel, spec.K, spec.InputD())
	}
	return nil
}

// Plan is the pure core of the initialization. Built from the first pass
// (NewPlan), it names the baseline of the second pass (SecondBaseline),
// takes its moments (SecondMoments), names the projection and baseline of
// the third (Projection) and turns that fourth moment into the weights
// (Finish). Every input is a sum over all partitions.
type Plan struct {
	spec     model.Spec
	cfg      Config
	d        int       // input features without bias
	rows     int       // samples
	ybar     float64   // mean label
	m1       []float64 // E[y x], d
	m2       []float64 // E[y (x x^T - I)], d x d
	eig      []float64 // eigenvalues of m2, by decreasing |.|
	vecs     []float64 // d x d, column c the eigenvector of eig[c]
	kk       int       // order of the projected fourth moment
	gap      float64
	degen    bool
	fallback bool
}

// NewPlan builds the plan from the first pass: the first-order moment sums
// (order 1) over all partitions of the labels themselves (no baseline).
func NewPlan(first *msg.Moments12, spec model.Spec, cfg Config) (*Plan, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := checkSpec(spec); err != nil {
		return nil, err
	}
	if err := first.Check(&msg.Moments12Request{D: spec.D, Order: 1}); err != nil {
		return nil, fmt.Errorf("%w: first pass: %v", ErrMoments, err)
	}
	if first.Rows < 1 {
		return nil, fmt.Errorf("%w: no rows", ErrMoments)
	}
	d := spec.InputD()
	n := float64(first.Rows)
	pl := &Plan{spec: spec, cfg: cfg, d: d, rows: first.Rows, m1: make([]float64, d)}
	// Centred labels: E[(y - ybar) x] has the same expectation as E[y x]
	// (x has mean zero) but less variance.
	pl.ybar = first.SumY / n
	for a := 0; a < d; a++ {
		pl.m1[a] = first.SumYX[a]/n - pl.ybar*first.SumX[a]/n
	}
	return pl, nil
}

// SecondBaseline returns the baseline of the second pass, the labels'
// Hermite expansion up to degree one, ybar + M1 . x: subtracting it leaves
// E[y (x x^T - I)] unchanged and removes much of its variance.
func (pl *Plan) SecondBaseline() *msg.Baseline {
	base := &msg.Baseline{C: pl.ybar, B: make([]float64, pl.spec.D)}
	copy(base.B, pl.m1)
	return base
}

// SecondMoments takes the second pass, the moment sums of order 2 over all
// partitions of the labels minus SecondBaseline, and estimates the span.
func (pl *Plan) SecondMoments(m *msg.Moments12) error {
	if err := m.Check(&msg.Moments12Request{D: pl.spec.D, Order: 2}); err != nil {
		return fmt.Errorf("%w: second pass: %v", ErrMoments, err)
	}
	if m.Rows != pl.rows {
		return fmt.Errorf("%w: second pass over %d rows, first over %d", ErrMoments, m.Rows, pl.rows)
	}
	d, D, k := pl.d, pl.spec.D, pl.spec.K
	n := float64(m.Rows)
	full := make([]float64, D*D)
	linalg.Unpack(full, m.SumYXX, D)
	pl.m2 = make([]float64, d*d)
	for a := 0; a < d; a++ {
		for b := 0; b < d; b++ {
			pl.m2[a*d+b] = full[a*D+b] / n
		}
		pl.m2[a*d+a] -= m.SumY / n
	}
	var es mat.EigenSym
	if !es.Factorize(mat.NewSymDense(d, slices.Clone(pl.m2)), true) {
		return fmt.Errorf("%w: eigendecomposition of the second moment failed", ErrMoments)
	}
	vals := es.Values(nil)
	var vecs mat.Dense
	es.VectorsTo(&vecs)
	order := make([]int, d)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(math.Abs(vals[b]), math.Abs(vals[a])) })
	pl.eig = make([]float64, d)
	pl.vecs = make([]float64, d*d)
	for c, o := range order {
		pl.eig[c] = vals[o]
		for j := 0; j < d; j++ {
			pl.vecs[j*d+c] = vecs.At(j, o)
		}
	}
	if pl.eig[0] == 0 {
		return fmt.Errorf("%w: the second moment is zero (constant labels?)", ErrMoments)
	}
	pl.kk, pl.gap = k, math.Inf(1)
	if k < d {
		pl.gap = math.Abs(pl.eig[k-1]) / math.Abs(pl.eig[k])
		if pl.eig[k-1] == 0 {
			pl.gap = 0 // rank below k
		}
		pl.degen = pl.gap < pl.cfg.MinGap
		if pl.degen && pl.cfg.FourthSpan {
			pl.fallback, pl.kk = true, min(d, 2*k)
		}
	}
	return nil
}

// Projection returns the projection V (D x k, row-major, orthonormal
// columns, zero rows for the bias feature) and its order k whose fourth
// moment Finish needs, and the baseline to subtract from the labels: their
// Hermite expansion up to degree two, ybar + M1 . x + (x^T M2 x - tr M2)/2,
// with M2 cut to its k leading eigenpairs (the rest is noise), which leaves
// the expected fourth moment unchanged and removes most of its variance.
func (pl *Plan) Projection() ([]float64, int, *msg.Baseline) {
	if pl.m2 == nil {
		panic("tensorinit: Projection before SecondMoments")
	}
	D, d, kk := pl.spec.D, pl.d, pl.kk
	v := make([]float64, D*kk)
	for j := 0; j < d; j++ {
		copy(v[j*kk:(j+1)*kk], pl.vecs[j*d:j*d+kk])
	}
	base := &msg.Baseline{C: pl.ybar, B: make([]float64, D), L: v, S: make([]float64, kk)}
	copy(base.B, pl.m1)
	for c := 0; c < kk; c++ {
		base.S[c] = pl.eig[c] / 2
		base.C -= pl.eig[c] / 2
	}
	return v, kk, base
}

// Finish turns the fourth moment sum over all partitions, for the
// projection of Projection, into the initialization.
func (pl *Plan) Finish(m4 *msg.Moment4) (*Result, error) {
	kk, k, d := pl.kk, pl.spec.K, pl.d
	if err := m4.Check(&msg.Moment4Request{D: pl.spec.D, K: kk}); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMoments, err)
	}
	if m4.Rows != pl.rows {
		return nil, fmt.Errorf("%w: fourth moment over %d rows, second over %d", ErrMoments, m4.Rows, pl.rows)
	}
	t := make([]float64, kk*kk*kk*kk)
	msg.Sym4Unpack(t, m4.Sum, kk)
	for i := range t {
		t[i] /= float64(pl.rows)
	}
	// basis: d x k, the span the components are sought in.
	basis := make([]float64, d*k)
	var ref []float64
	if pl.fallback {
		u := topSpan(t, kk, k)
		t = project4(t, kk, u, k)
		for j := 0; j < d; j++ {
			for c := 0; c < k; c++ {
				var s float64
				for e := 0; e < kk; e++ {
					s += pl.vecs[j*d+e] * u[e*k+c]
				}
				basis[j*k+c] = s
			}
		}
	} else {
		for j := 0; j < d; j++ {
			copy(basis[j*k:(j+1)*k], pl.vecs[j*d:j*d+k])
		}
		ref = make([]float64, k*k)
		for a := 0; a < k; a++ {
			for b := 0; b < k; b++ {
				ref[a*k+b] = quad(pl.m2, d, basis, k, a, b)
			}
		}
	}
	rng := rand.New(rand.NewPCG(pl.cfg.Seed, 0x74656e736f72)) // "tensor"
	a, lambda, fit, err := decompose(t, k, ref, rng, pl.cfg.Trials, pl.cfg.Sweeps)
	if err != nil {
		return nil, err
	}

	// Unit directions wbar_q = basis a_q.
	wbar := make([]float64, k*d) // row q is wbar_q
	for q := 0; q < k; q++ {
		row := wbar[q*d : (q+1)*d]
		for j := 0; j < d; j++ {
			for c := 0; c < k; c++ {
				row[j] += basis[j*k+c] * a[c*k+q]
			}
		}
		normalize(row)
	}
	// Scales t_q = v_q ||w_q||: least squares on the second moment,
	// M2 = C2 sum_q t_q wbar_q wbar_q^T. If the directions are too nearly
	// parallel for it, the tensor's weights lambda_q = C4 t_q after a
	// fallback, else the diagonal estimate, which ignores their overlap.
	// (Alternating minimization does not depend on their magnitudes, since
	// its first step reads activation patterns only, but on their signs,
	// through the orientations and the assignment to neurons.)
	g := make([]float64, k*k)
	r := make([]float64, k)
	for p := 0; p < k; p++ {
		for q := 0; q < k; q++ {
			c := dot(wbar[p*d:(p+1)*d], wbar[q*d:(q+1)*d])
			g[p*k+q] = c * c
		}
		r[p] = quadVec(pl.m2, d, wbar[p*d:(p+1)*d]) / C2
	}
	scales, err := solve(g, r, k)
	if err != nil {
		scales = r
		if pl.fallback {
			for q := range scales {
				scales[q] = lambda[q] / C4
			}
		}
	}
	// Orientation: M1 = C1 sum_q t_q s_q wbar_q with s_q = +-1.
	g, r = make([]float64, k*k), make([]float64, k)
	for p := 0; p < k; p++ {
		for q := 0; q < k; q++ {
			g[p*k+q] = dot(wbar[p*d:(p+1)*d], wbar[q*d:(q+1)*d])
		}
		r[p] = dot(wbar[p*d:(p+1)*d], pl.m1) / C1
	}
	beta, err := solve(g, r, k)
	if err != nil {
		beta = r // nearly parallel directions: the diagonal estimate
	}

	// Assign components to neurons: the most positive scales to the
	// neurons with v = +1, the most negative to those with v = -1.
	order := make([]int, k)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(x, y int) int { return cmp.Compare(scales[y], scales[x]) })
	res := &Result{W: make([]float64, k*pl.spec.D), Eigenvalues: pl.eig, Gap: pl.gap, Degenerate: pl.degen, Fallback: pl.fallback,
		Fit: fit, Scales: make([]float64, k), Rows: pl.rows}
	lo, hi := 0, k-1
	for q, v := range pl.spec.Signs {
		var c int
		if v > 0 {
			c, lo = order[lo], lo+1
		} else {
			c, hi = order[hi], hi-1
		}
		if scales[c]*v <= 0 {
			res.Mismatched++
		}
		s := 1.0
		if beta[c]*scales[c] < 0 {
			s = -1
		}
		f := s * math.Abs(scales[c])
		for j := 0; j < d; j++ {
			res.W[q*pl.spec.D+j] = f * wbar[c*d+j]
		}
		res.Scales[q] = scales[c]
	}
	return res, nil
}

// quad returns basis_a^T M basis_b for the d x d matrix m and columns a, b
// of the d x k basis.
func quad(m []float64, d int, basis []float64, k, a, b int) float64 {
	var s float64
	for i := 0; i < d; i++ {
		var r float64
		for j := 0; j < d; j++ {
			r += m[i*d+j] * basis[j*k+b]
		}
		s += basis[i*k+a] * r
	}
	return s
}

func quadVec(m []float64, d int, x []float64) float64 {
	var s float64
	for i := 0; i < d; i++ {
		s += x[i] * dot(m[i*d:(i+1)*d], x)
	}
	return s
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func normalize(x []float64) {
	n := math.Sqrt(dot(x, x))
	if n == 0 {
		return
	}
	for i := range x {
		x[i] /= n
	}
}
