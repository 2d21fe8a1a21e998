package coordinator

import (
	"fmt"
	"math"
	"slices"

	"altmin/linalg"
	"altmin/model"
	"altmin/msg"
	"altmin/round"
)

// Method is the weight update of a 1-hidden-layer model.
type Method string

// The methods.
const (
	// AM is alternating minimization: the exact least-squares solve.
	AM Method = "am"
	// GD is the papers' gradient-descent baseline on the same statistics:
	// u <- u + (eta/n) (B^T y - B^T B u).
	GD Method = "gd"
)

// ShallowConfig configures the core of the 1-hidden-layer models (relu,
// sum, resnet).
type ShallowConfig struct {
	Method     Method // AM (also when empty) or GD
	Spec       model.Spec
	Partitions int     // P, number of partitions; the data are rows split into P contiguous ranges
	MaxIters   int     // maximum number of least-squares solves; 0 evaluates the start only
	Tol        float64 // stop when ||U_{t+1} - U_t||_F / ||U_t||_F < Tol; 0 disables
	// Step is GD's step size eta; 0 means the papers' rule
	// eta = 2 / (s_min^2 + s_max^2), s the extreme singular values of
	// B / sqrt(n), computed from each iteration's Gram matrix
	// (linalg.StepRule: the extreme eigenvalues by a deterministic Lanczos
	// iteration, to a relative accuracy of about 1e-4, with the full
	// eigendecomposition as fallback).
	Step float64
	// Pool, when set, takes back the Gram buffers of reduced partials.
	Pool *msg.Pool
}

// DefaultPartitions is the default P. It is fixed, independent of the
// machine, so that results do not depend on where they are computed.
const DefaultPartitions = 8

// DefaultShallowConfig returns the defaults: 8 partitions, 50 iterations,
// Tol 1e-12.
func DefaultShallowConfig() ShallowConfig {
	return ShallowConfig{Partitions: DefaultPartitions, MaxIters: 50, Tol: 1e-12}
}

// Validate checks the configuration.
func (c ShallowConfig) Validate() error {
	if err := c.Spec.Validate(); err != nil {
		return err
	}
	if c.Spec.Kind == model.Deep {
		return fmt.Errorf("coordinator: the 1-hidden-layer core cannot train a deep model (use NewDeep)")
	}
	if err := validateCommon(c.Partitions, c.MaxIters, c.Tol); err != nil {
		return err
	}
	switch {
	case c.Method != "" && c.Method != AM && c.Method != GD:
		return fmt.Errorf("coordinator: method %q, want am or gd", c.Method)
	case !(c.Step >= 0) || math.IsInf(c.Step, 0):
		return fmt.Errorf("coordinator: step = %v, need a finite value >= 0", c.Step)
	}
	return nil
}

// validateCommon checks the settings every core has.
func validateCommon(partitions, maxIters int, tol float64) error {
	switch {
	case partitions < 1:
		return fmt.Errorf("coordinator: partitions = %d, need at least 1", partitions)
	case maxIters < 0:
		return fmt.Errorf("coordinator: iters = %d, need >= 0", maxIters)
	case !(tol >= 0) || math.IsInf(tol, 0):
		return fmt.Errorf("coordinator: tol = %v, need a finite value >= 0", tol)
	}
	return nil
}

// Shallow is the core of the 1-hidden-layer models, y = sum_q v_q
// relu(u_q . x) with fixed output signs v: each iteration evaluates the
// effective weights U_t on every partition (msg.StatsRequest) and solves
// the normal equations of the least-squares step with the activation
// patterns held for U_{t+1}.
type Shallow struct {
	cfg     ShallowConfig
	iter    int
	u, prev []float64
	req     *msg.StatsRequest // the current round's, made on demand
	got     round.Set
	skipped []int // partitions given up for this iteration (Skip)
	pending Reason
	stopped Reason

	gsum, rsum []float64 // Advance's sums, reused
}

// NewShallow returns a core starting from the effective weights u0 (k x d).
func NewShallow(cfg ShallowConfig, u0 []float64) (*Shallow, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(u0) != cfg.Spec.M() {
		return nil, fmt.Errorf("coordinator: %d initial weights, want k*d = %d", len(u0), cfg.Spec.M())
	}
	return &Shallow{cfg: cfg, u: slices.Clone(u0), got: round.NewSet(cfg.Partitions)}, nil
}

// net returns u as the weights of a network of one hidden layer.
func (c *Shallow) net(u []float64) *model.Net {
	s := c.cfg.Spec
	return &model.Net{Dims: []int{s.D, s.K}, W: [][]float64{slices.Clone(u)}, V: slices.Clone(s.Signs)}
}

// weights returns the effective weights of a state's network, checking
// its shape.
func (c *Shallow) weights(what string, n *model.Net, optional bool) ([]float64, error) {
	s := c.cfg.Spec
	switch {
	case n == nil && optional:
		return nil, nil
	case n == nil:
		return nil, fmt.Errorf("coordinator: state has no %s weights", what)
	case !slices.Equal(n.Dims, []int{s.D, s.K}) || len(n.W) != 1 || !slices.Equal(n.V, s.Signs):
		return nil, fmt.Errorf("coordinator: state's %s weights have widths %v and signs %v, the model %v and %v", what, n.Dims, n.V, []int{s.D, s.K}, s.Signs)
	}
	if err := n.Validate(); err != nil {
		return nil, fmt.Errorf("coordinator: state's %s weights: %w", what, err)
	}
	return slices.Clone(n.W[0]), nil
}

// State implements Core.
func (c *Shallow) State() State {
	st := State{Iter: c.iter, Step: c.iter, Net: c.net(c.u), Pending: c.pending, Stopped: c.stopped}
	if c.prev != nil {
		st.Prev = c.net(c.prev)
	}
	return st
}

// Restore implements Core.
func (c *Shallow) Restore(st State) error {
	u, err := c.weights("current", st.Net, false)
	if err != nil {
		return err
	}
	prev, err := c.weights("previous", st.Prev, true)
	if err != nil {
		return err
	}
	switch {
	case st.Iter < 0 || st.Step != st.Iter || st.Layer != 0 || st.Start != nil:
		return fmt.Errorf("coordinator: state at iteration %d, step %d, layer %d is not one of a 1-hidden-layer model", st.Iter, st.Step, st.Layer)
	case (prev == nil) != (st.Iter == 0):
		return fmt.Errorf("coordinator: state at iteration %d: previous weights are given exactly after iteration 0", st.Iter)
	case !st.Pending.known() || !st.Stopped.known() || st.Pending == Fit || st.Stopped == Fit:
		return fmt.Errorf("coordinator: state has unknown stop reasons %q, %q", st.Pending, st.Stopped)
	}
	c.iter, c.u, c.prev = st.Iter, u, prev
	c.pending, c.stopped = st.Pending, st.Stopped
	c.req = nil
	c.got.Release(c.cfg.Pool)
	c.skipped = nil
	return nil
}

// Iter returns the current iteration.
func (c *Shallow) Iter() int { return c.iter }

// Stopped implements Core.
func (c *Shallow) Stopped() Reason { return c.stopped }

// Request implements Core: the statistics request of the current
// iteration.
func (c *Shallow) Request() msg.Request {
	if c.req == nil {
		s := c.cfg.Spec
		c.req = &msg.StatsRequest{Iter: c.iter, D: s.D, Signs: slices.Clone(s.Signs), U: slices.Clone(c.u)}
		if c.prev != nil {
			c.req.Prev = slices.Clone(c.prev)
		}
	}
	return c.req
}

// Offer implements Core.
func (c *Shallow) Offer(p msg.Partial) error {
	if c.stopped != Running {
		return ErrDone
	}
	return c.got.Offer(p, c.Request())
}

// Skip implements Core: partition p's samples are left out of this
// iteration's solve; training does not stop at a fixed point in a degraded
// iteration.
func (c *Shallow) Skip(p int) error {
	if c.stopped != Running {
		return ErrDone
	}
	if err := c.got.Check(p, c.iter, c.iter); err != nil {
		return err
	}
	m := c.cfg.Spec.M()
	c.got.Put(p, &msg.Stats{Iter: c.iter, Partition: p, M: m, Gram: make([]float64, linalg.PackedLen(m)), R: make([]float64, m)})
	c.skipped = append(c.skipped, p)
	return nil
}

// Missing implements Core.
func (c *Shallow) Missing() []int { return c.got.Missing() }

// Ready implements Core.
func (c *Shallow) Ready() bool { return c.got.Ready() }

// Advance implements Core: it reduces the partials in partition order,
// decides whether training stops at U_t, and otherwise solves for U_{t+1}
// (or takes a gradient step) and moves to the next iteration.
func (c *Shallow) Advance() (Report, error) {
	if c.stopped != Running {
		return Report{}, ErrDone
	}
	if !c.Ready() {
		return Report{}, fmt.Errorf("%w: iteration %d lacks partitions %v", ErrNotReady, c.iter, c.Missing())
	}
	rows, yy, sse, flips := c.reduce()
	if rows == 0 {
		return Report{}, fmt.Errorf("%w: the partitions hold no rows", ErrNoSamples)
	}
	rep := Report{Iter: c.iter, Step: c.iter, Rows: rows, Loss: sse / (2 * float64(rows)), RelRes: relRes(sse, yy), Flips: flips,
		Net: c.net(c.u), Skipped: slices.Sorted(slices.Values(c.skipped))}
	if c.iter == 0 {
		rep.Flips = -1
	}
	switch {
	case c.pending != Running:
		rep.Stop = c.pending
	case c.iter > 0 && flips == 0 && c.cfg.Method != GD && len(c.skipped) == 0:
		rep.Stop = FixedPoint
	case c.iter >= c.cfg.MaxIters:
		rep.Stop = IterLimit
	}
	if rep.Stop != Running {
		c.stopped = rep.Stop
		c.endRound()
		return rep, nil
	}
	next, err := c.step(&rep, rows)
	if err != nil {
		return rep, err
	}
	rep.Change = relChangeOf(next, c.u)
	if rep.Change < c.cfg.Tol {
		c.pending = Tolerance
	}
	c.prev, c.u = c.u, next
	c.iter++
	c.endRound()
	rep.Next = c.net(c.u)
	return rep, nil
}

// reduce adds the received partials in partition order into the core's
// sums of the Gram matrices and right-hand sides, and returns the totals
// of the scalars.
func (c *Shallow) reduce() (rows int, yy, sse float64, flips int64) {
	m := c.cfg.Spec.M()
	// The sums are reused from one iteration to the next: at m = 1000 the
	// Gram matrix is 4 MB, and fresh memory costs more than the sum.
	c.gsum = grow(c.gsum, linalg.PackedLen(m))
	c.rsum = grow(c.rsum, m)
	for _, p := range c.got.All() { // partition order: the only reduction order
		s := p.(*msg.Stats)
		addTo(c.gsum, s.Gram)
		addTo(c.rsum, s.R)
		yy += s.YY
		sse += s.SSE
		rows += s.Rows
		flips += s.Flips
	}
	return rows, yy, sse, flips
}

// step returns the next weights from the reduced sums: the least-squares
// solution (AM) or a gradient step (GD), recording the solve in rep.
func (c *Shallow) step(rep *Report, rows int) ([]float64, error) {
	m := c.cfg.Spec.M()
	g, r := c.gsum, c.rsum
	next := make([]float64, m)
	if c.cfg.Method == GD {
		eta := c.cfg.Step
		if eta == 0 {
			var err error
			if eta, err = linalg.StepRule(g, m, rows); err != nil {
				return nil, fmt.Errorf("coordinator: iteration %d: %w", c.iter, err)
			}
		}
		linalg.GradientStep(next, g, r, c.u, m, rows, eta)
		rep.Solved, rep.StepSize = true, eta
		return next, nil
	}
	sol, err := linalg.SolveNormal(next, g, r, m, c.u)
	if err != nil {
		return nil, fmt.Errorf("coordinator: iteration %d: %w", c.iter, err)
	}
	rep.Solved, rep.Ridge, rep.Cond = true, sol.Ridge, sol.Cond
	return next, nil
}

// relChangeOf returns ||next - u|| / ||u||, or ||next - u|| when u = 0.
func relChangeOf(next, u []float64) float64 {
	var dn, un float64
	for i := range next {
		t := next[i] - u[i]
		dn += t * t
		un += u[i] * u[i]
	}
	if un > 0 {
		return math.Sqrt(dn / un)
	}
	return math.Sqrt(dn)
}

// endRound gives the Gram buffers of the received partials back to the
// pool and forgets them and the round's request: they have been reduced.
func (c *Shallow) endRound() {
	c.got.Release(c.cfg.Pool)
	c.req = nil
	c.skipped = nil
}

// relRes returns sqrt(sse / yy), or sqrt(sse) when yy is 0.
func relRes(sse, yy float64) float64 {
	if yy > 0 {
		return math.Sqrt(sse / yy)
	}
	return math.Sqrt(sse)
}

// grow returns s resized to n and zeroed, reallocating only when it is too
// small.
func grow(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// addTo sets dst[i] += src[i]; len(src) == len(dst) (Offer checks sizes).
func addTo(dst, src []float64) {
	dst = dst[:len(src)]
	for i, v := range src {
		dst[i] += v
	}
}
