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
	MaxIters   int     // maximum number of solves; 0 evaluates the start only
	Tol        float64 // stop when ||U_{t+1} - U_t||_F / ||U_t||_F < Tol; 0 disables
	// Step is GD's step size eta; 0 means the papers' rule
	// eta = 2 / (s_min^2 + s_max^2), s the extreme singular values of
	// B / sqrt(n), computed from each iteration's Gram matrix
	// (linalg.StepRule: the extreme eigenvalues by a deterministic Lanczos
	// iteration, to a relative accuracy of about 1e-4, with the full
	// eigendecomposition as fallback).
	Step float64
	// Damping makes the AM solves monotone (see Damping); nil is the
	// papers' plain step. GD is never damped.
	Damping *Damping
	// Ridge penalizes the hidden units' weights (see Ridge); nil: none.
	// It needs Damping.
	Ridge *Ridge
	// Patience stops training when the validation loss (the training
	// loss without validation rows) has not fallen by PatienceDelta for
	// that many accepted iterations; 0 disables.
	Patience int
	// Revive revives the hidden units inactive on every training row of
	// an accepted iterate (see Revival), with hyperplanes drawn from a
	// stream seeded by Seed. It needs Damping.
	Revive bool
	Seed   uint64
	// Transform and Split are sent with every request: the standardization
	// of the rows and the validation rows (nil: none).
	Transform *msg.Affine
	Split     *msg.Split
	// Pool, when set, takes back the Gram buffers of reduced partials.
	Pool *msg.Pool
}

// DefaultPartitions is the default P. It is fixed, independent of the
// machine, so that results do not depend on where they are computed.
const DefaultPartitions = 8

// DefaultShallowConfig returns the defaults: 8 partitions, 50 iterations,
// Tol 1e-12, the papers' plain step.
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
	if err := validateCommon(c.Partitions, c.MaxIters, c.Tol, c.Patience, c.Damping, c.Ridge); err != nil {
		return err
	}
	switch {
	case c.Method != "" && c.Method != AM && c.Method != GD:
		return fmt.Errorf("coordinator: method %q, want am or gd", c.Method)
	case !(c.Step >= 0) || math.IsInf(c.Step, 0):
		return fmt.Errorf("coordinator: step = %v, need a finite value >= 0", c.Step)
	case c.Method == GD && c.Damping != nil:
		return fmt.Errorf("coordinator: gradient descent is not damped")
	case c.Revive && c.Damping == nil:
		return fmt.Errorf("coordinator: reviving units needs damping (a candidate with revived units is judged by its loss)")
	}
	return nil
}

// validateCommon checks the settings every core has.
func validateCommon(partitions, maxIters int, tol float64, patience int, d *Damping, r *Ridge) error {
	switch {
	case partitions < 1:
		return fmt.Errorf("coordinator: partitions = %d, need at least 1", partitions)
	case maxIters < 0:
		return fmt.Errorf("coordinator: iters = %d, need >= 0", maxIters)
	case !(tol >= 0) || math.IsInf(tol, 0):
		return fmt.Errorf("coordinator: tol = %v, need a finite value >= 0", tol)
	case patience < 0:
		return fmt.Errorf("coordinator: patience = %d, need >= 0", patience)
	}
	if err := d.validate(); err != nil {
		return err
	}
	return r.validate(d)
}

// Shallow is the core of the 1-hidden-layer models, y = sum_q v_q
// relu(u_q . x) (+ w . x with a linear term) with fixed output signs v:
// each round evaluates the weights on every partition (msg.StatsRequest)
// and solves the normal equations of the least-squares step with the
// activation patterns held. The weights are the effective weights U,
// k x d, followed by the linear term's d weights.
type Shallow struct {
	cfg     ShallowConfig
	iter    int       // solves done
	round   int       // requests made: iterations and refreshes
	u       []float64 // the weights evaluated in this round
	prev    []float64 // the accepted iterate (the previous weights without damping); nil in round 0
	req     *msg.StatsRequest
	got     round.Set
	skipped []int // partitions given up for this round (Skip)
	pending Reason
	stopped Reason
	refresh bool // this round evaluates prev again, for its sums
	lm      DescentState
	best    BestState

	cur, acc sums // this round's reduced sums, the accepted iterate's
	haveAcc  bool // acc holds the sums of prev

	// revival is that of the candidates solved from the accepted iterate,
	// prevRevival that of the round that evaluated it (Revival).
	revival, prevRevival *Revival
}

// sums are reduced statistics: the packed Gram matrix, the right-hand
// side, the scalars.
type sums struct {
	g, r          []float64
	rows          int
	yy, sse, sumY float64
	flips         int64
	val           msg.Eval
}

// NewShallow returns a core starting from the effective weights u0 (k x d,
// then the linear term's d weights).
func NewShallow(cfg ShallowConfig, u0 []float64) (*Shallow, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(u0) != cfg.Spec.M() {
		return nil, fmt.Errorf("coordinator: %d initial weights, want %d", len(u0), cfg.Spec.M())
	}
	return &Shallow{cfg: cfg, u: slices.Clone(u0), got: round.NewSet(cfg.Partitions), lm: DescentState{cfg: cfg.Damping}}, nil
}

// net returns u as the weights of a network of one hidden layer.
func (c *Shallow) net(u []float64) *model.Net {
	s := c.cfg.Spec
	n := &model.Net{Dims: []int{s.D, s.K}, W: [][]float64{slices.Clone(u[:s.K*s.D])}, V: slices.Clone(s.Signs)}
	if s.Linear {
		n.Skip = slices.Clone(u[s.K*s.D:])
	}
	return n
}

// weights returns the weights of a state's network, checking its shape.
func (c *Shallow) weights(what string, n *model.Net, optional bool) ([]float64, error) {
	s := c.cfg.Spec
	switch {
	case n == nil && optional:
		return nil, nil
	case n == nil:
		return nil, fmt.Errorf("coordinator: state has no %s weights", what)
	case !slices.Equal(n.Dims, []int{s.D, s.K}) || len(n.W) != 1 || !slices.Equal(n.V, s.Signs) || (n.Skip != nil) != s.Linear:
		return nil, fmt.Errorf("coordinator: state's %s weights have widths %v and signs %v, the model %v and %v", what, n.Dims, n.V, []int{s.D, s.K}, s.Signs)
	}
	if err := n.Validate(); err != nil {
		return nil, fmt.Errorf("coordinator: state's %s weights: %w", what, err)
	}
	return append(slices.Clone(n.W[0]), n.Skip...), nil
}

// State implements Core.
func (c *Shallow) State() State {
	st := State{Iter: c.iter, Step: c.round, Net: c.net(c.u), Pending: c.pending, Stopped: c.stopped, Refresh: c.refresh}
	if c.prev != nil {
		st.Prev = c.net(c.prev)
	}
	if c.cfg.Damping != nil {
		lm := c.lm
		st.Descent = &lm
	}
	if c.best.Net != nil {
		b := c.best.clone()
		st.Best = &b
	}
	st.Revival, st.PrevRevival = c.revival.clone(), c.prevRevival.clone()
	return st
}

// Restore implements Core. The accepted iterate's sums are not part of a
// state: a rejection after a restore evaluates it again first (a refresh).
func (c *Shallow) Restore(st State) error {
	u, err := c.weights("current", st.Net, false)
	if err != nil {
		return err
	}
	prev, err := c.weights("previous", st.Prev, true)
	if err != nil {
		return err
	}
	if st.Best != nil {
		if _, err := c.weights("best", st.Best.Net, false); err != nil {
			return err
		}
	}
	switch {
	case st.Iter < 0 || st.Step < st.Iter || st.Layer != 0 || st.Start != nil:
		return fmt.Errorf("coordinator: state at iteration %d, step %d, layer %d is not one of a 1-hidden-layer model", st.Iter, st.Step, st.Layer)
	case (prev == nil) != (st.Step == 0):
		return fmt.Errorf("coordinator: state at round %d: previous weights are given exactly after round 0", st.Step)
	case !st.Pending.known() || !st.Stopped.known() || st.Pending == Fit || st.Stopped == Fit:
		return fmt.Errorf("coordinator: state has unknown stop reasons %q, %q", st.Pending, st.Stopped)
	case (st.Descent != nil) != (c.cfg.Damping != nil) || (st.Refresh && st.Descent == nil):
		return fmt.Errorf("coordinator: state of a run with%s damping", without(st.Descent != nil))
	case !c.cfg.Revive && (st.Revival != nil || st.PrevRevival != nil):
		return fmt.Errorf("coordinator: state revives units, the configuration does not")
	}
	s := c.cfg.Spec
	for _, r := range []struct {
		what string
		rv   *Revival
	}{{"candidates'", st.Revival}, {"previous", st.PrevRevival}} {
		if err := r.rv.validate(r.what, s.K, s.D); err != nil {
			return err
		}
	}
	c.iter, c.round, c.u, c.prev, c.refresh = st.Iter, st.Step, u, prev, st.Refresh
	c.pending, c.stopped = st.Pending, st.Stopped
	c.lm, c.best, c.haveAcc = DescentState{cfg: c.cfg.Damping}, BestState{}, false
	if st.Descent != nil {
		c.lm = *st.Descent
		c.lm.cfg = c.cfg.Damping
	}
	if st.Best != nil {
		c.best = st.Best.clone()
	}
	c.revival, c.prevRevival = st.Revival.clone(), st.PrevRevival.clone()
	c.req = nil
	c.got.Release(c.cfg.Pool)
	c.skipped = nil
	return nil
}

// without returns "" or "out".
func without(has bool) string {
	if has {
		return ""
	}
	return "out"
}

// Iter returns the current iteration.
func (c *Shallow) Iter() int { return c.iter }

// Stopped implements Core.
func (c *Shallow) Stopped() Reason { return c.stopped }

// signs returns the output signs of the request: the model's, and +1 for
// the linear unit.
func (c *Shallow) signs() []float64 {
	s := slices.Clone(c.cfg.Spec.Signs)
	if c.cfg.Spec.Linear {
		s = append(s, 1)
	}
	return s
}

// Request implements Core: the statistics request of the current round.
func (c *Shallow) Request() msg.Request {
	if c.req == nil {
		s := c.cfg.Spec
		c.req = &msg.StatsRequest{Iter: c.round, D: s.D, Signs: c.signs(), U: slices.Clone(c.u), Linear: s.Linear,
			Transform: c.cfg.Transform, Split: c.cfg.Split}
		if c.prev != nil {
			c.req.Prev = slices.Clone(c.prev)
		}
		if rv := c.requestRevival(); rv != nil {
			c.req.Revive, c.req.ReviveW = slices.Clone(rv.Units), slices.Clone(rv.W)
		}
	}
	return c.req
}

// requestRevival returns the revival of the current round's request: the
// accepted iterate's own in a refresh, else that of the candidates solved
// from it (none at round 0).
func (c *Shallow) requestRevival() *Revival {
	switch {
	case c.round == 0:
		return nil
	case c.refresh:
		return c.prevRevival
	}
	return c.revival
}

// Offer implements Core.
func (c *Shallow) Offer(p msg.Partial) error {
	if c.stopped != Running {
		return ErrDone
	}
	return c.got.Offer(p, c.Request(), c.cfg.Pool)
}

// Skip implements Core: partition p's samples are left out of this
// round's solve; training does not stop at a fixed point in a degraded
// round.
func (c *Shallow) Skip(p int) error {
	if c.stopped != Running {
		return ErrDone
	}
	if err := c.got.Check(msg.Leaf(p), c.round, c.round); err != nil {
		return err
	}
	m := c.cfg.Spec.M()
	req := c.Request()
	flips := int64(-1)
	if req.(*msg.StatsRequest).Prev != nil {
		flips = 0
	}
	c.got.Put(&msg.Stats{Iter: c.round, Partition: p, M: m, Gram: zeroed(c.cfg.Pool.Get(linalg.PackedLen(m))), R: make([]float64, m), Flips: flips}, req, c.cfg.Pool)
	c.skipped = append(c.skipped, p)
	return nil
}

// Len implements Core.
func (c *Shallow) Len() int { return c.got.Len() }

// Missing implements Core.
func (c *Shallow) Missing() []int { return c.got.Missing() }

// Ready implements Core.
func (c *Shallow) Ready() bool { return c.got.Ready() }

// Advance implements Core: it takes the sum of the partials,
// judges the weights evaluated (accepted, or rejected with Damping),
// decides whether training stops, and otherwise solves for the next
// weights (or takes a gradient step) from the accepted iterate's sums.
func (c *Shallow) Advance() (Report, error) {
	if c.stopped != Running {
		return Report{}, ErrDone
	}
	if !c.Ready() {
		return Report{}, fmt.Errorf("%w: iteration %d lacks partitions %v", ErrNotReady, c.iter, c.Missing())
	}
	c.reduce()
	if c.cur.rows == 0 {
		return Report{}, fmt.Errorf("%w: the partitions hold no training rows", ErrNoSamples)
	}
	rep := c.report(&c.cur)
	flips := c.cur.flips
	if c.refresh { // the accepted iterate again: its sums, for the solve
		c.refresh, rep.Refresh, rep.Accepted = false, true, true
		c.cur, c.acc, c.haveAcc = c.acc, c.cur, true
		return c.solveNext(rep)
	}
	used := c.requestRevival()
	noDescent := c.lm.judgeReport(&c.best, &rep)
	if rep.Accepted {
		c.prev, c.cur, c.acc, c.haveAcc = c.u, c.acc, c.cur, true
		if c.cfg.Revive {
			s := c.cfg.Spec
			c.prevRevival = used
			c.revival = findRevival(c.acc.g, s.M(), s.D, s.K, s.Bias, c.cfg.Seed, c.iter)
			rep.Revived = c.revival.count()
		}
	}
	switch {
	case c.pending != Running:
		rep.Stop = c.pending
	case rep.Accepted && c.round > 0 && flips == 0 && c.lm.Solved == 0 && c.cfg.Method != GD && len(c.skipped) == 0:
		rep.Stop = FixedPoint
	default:
		rep.Stop = stopAfter(rep, noDescent, c.iter, c.cfg.MaxIters, c.cfg.Patience, &c.best)
	}
	if rep.Stop != Running {
		c.stopped = rep.Stop
		c.endRound()
		return rep, nil
	}
	if !c.haveAcc { // rejected after a restore: evaluate the accepted iterate again
		c.refresh, c.u = true, slices.Clone(c.prev)
		c.round++
		c.endRound()
		return rep, nil
	}
	return c.solveNext(rep)
}

// report returns the report of the weights evaluated in this round, from
// their reduced sums.
func (c *Shallow) report(s *sums) Report {
	rep := Report{Iter: c.iter, Step: c.round, Rows: s.rows, Loss: s.sse / (2 * float64(s.rows)), RelRes: relRes(s.sse, s.yy),
		Flips: s.flips, Net: c.net(c.u), Skipped: slices.Sorted(slices.Values(c.skipped)), R2: msg.R2(s.rows, s.sse, s.yy, s.sumY),
		Val: s.val, ValLoss: math.NaN(), ValR2: math.NaN(),
		Train: msg.Eval{Rows: s.rows, SSE: s.sse, YY: s.yy, SumY: s.sumY}}
	if s.val.Rows > 0 {
		rep.ValLoss, rep.ValR2 = s.val.SSE/(2*float64(s.val.Rows)), msg.R2(s.val.Rows, s.val.SSE, s.val.YY, s.val.SumY)
	}
	if c.round == 0 {
		rep.Flips = -1
	}
	if c.cfg.Ridge != nil {
		rep.Penalty = c.ridgeSystem(nil).penalty(c.u)
	}
	rep.Objective = c.lm.objective(rep.Loss, rep.Penalty)
	return rep
}

// ridgeSystem returns the normal equations of the sums s (nil: none) with
// the model's ridge penalty: on the hidden units' effective weights,
// vanishing at the effective weights of zero learned weights.
func (c *Shallow) ridgeSystem(s *sums) *ridgeSystem {
	spec, m := c.cfg.Spec, c.cfg.Spec.M()
	kd := spec.K * spec.D
	sys := &ridgeSystem{m: m, pen: make([]bool, m)}
	for a := range kd {
		sys.pen[a] = true
	}
	if spec.Kind == model.ResNet {
		sys.center = append(spec.Effective(make([]float64, kd)), make([]float64, m-kd)...)
	}
	if s != nil {
		sys.g, sys.r, sys.yy, sys.n = s.g, s.r, s.yy, s.rows
	}
	return sys
}

// solveNext solves for the weights of the next round from the accepted
// iterate's sums, records the solve in rep and moves to the next round.
func (c *Shallow) solveNext(rep Report) (Report, error) {
	next, err := c.step(&rep, rep.Accepted && !rep.Refresh)
	if err != nil {
		return rep, err
	}
	rep.Change = relChangeOf(next, c.prev)
	if rep.Change < c.cfg.Tol {
		c.pending = Tolerance
	}
	c.u = next
	c.iter++
	c.round++
	c.endRound()
	rep.Next = c.net(c.u)
	return rep, nil
}

// reduce takes the sums of this round from the sum of the received
// partials (round.Set adds them in the reduction tree).
func (c *Shallow) reduce() {
	m := c.cfg.Spec.M()
	st := c.got.Sum().(*msg.Stats)
	s := &c.cur
	// The sums are reused from one round to the next: at m = 1000 the
	// Gram matrix is 4 MB, and fresh memory costs more than the copy.
	*s = sums{g: grow(s.g, linalg.PackedLen(m)), r: grow(s.r, m),
		yy: st.YY, sumY: st.SumY, sse: st.SSE, rows: st.Rows, flips: st.Flips, val: st.Val}
	copy(s.g, st.Gram)
	copy(s.r, st.R)
}

// step returns the next weights from the accepted iterate's sums: the
// (damped, penalized) least-squares solution (AM) or a gradient step (GD),
// recording the solve in rep. fresh reports sums not solved from before
// (a Ridge with Select chooses its penalty for them).
func (c *Shallow) step(rep *Report, fresh bool) ([]float64, error) {
	m := c.cfg.Spec.M()
	g, r := c.acc.g, c.acc.r
	next := make([]float64, m)
	if c.cfg.Method == GD {
		eta := c.cfg.Step
		if eta == 0 {
			var err error
			if eta, err = linalg.StepRule(g, m, c.acc.rows); err != nil {
				return nil, fmt.Errorf("coordinator: iteration %d: %w", c.iter, err)
			}
		}
		linalg.GradientStep(next, g, r, c.prev, m, c.acc.rows, eta)
		rep.Solved, rep.StepSize = true, eta
		return next, nil
	}
	gd, rd := c.lm.damp(g, r, m, c.prev, c.cfg.Ridge != nil)
	if c.cfg.Ridge != nil {
		c.lm.penalize(c.cfg.Ridge, c.ridgeSystem(&c.acc), gd, rd, fresh)
	}
	sol, err := linalg.SolveNormal(next, gd, rd, m, c.prev)
	if err != nil {
		return nil, fmt.Errorf("coordinator: iteration %d: %w", c.iter, err)
	}
	c.lm.Solved = c.lm.Lambda
	rep.Solved, rep.Ridge, rep.Cond, rep.Lambda, rep.NextAlpha = true, sol.Ridge, sol.Cond, c.lm.Lambda, c.lm.Alpha
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

// zeroed clears s and returns it.
func zeroed(s []float64) []float64 {
	clear(s)
	return s
}
