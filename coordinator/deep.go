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

// Schedule is the order of the per-layer solves within an outer iteration.
type Schedule string

// The schedules.
const (
	// Sequential (block Gauss-Seidel): an outer iteration is L steps; step l
	// recomputes every pattern at the current weights and solves layer l
	// with all other layers fixed at their newest values, l = 1..L.
	Sequential Schedule = "sequential"
	// Simultaneous (block Jacobi): an outer iteration is one step; one pass
	// at the current weights and patterns yields the normal equations of
	// every layer, each is solved with the other layers at their old values,
	// and all layers are replaced at once.
	Simultaneous Schedule = "simultaneous"
	// Joint (Gauss-Newton): an outer iteration is one step; one pass at the
	// current weights and patterns yields the joint normal equations of all
	// layers, linearized at the current weights (see msg.DeepRequest), and
	// all layers are solved together. The rescaling symmetry between layers
	// makes this system singular; the core removes it with a penalty on the
	// rescaling directions (see addGauge).
	Joint Schedule = "joint"
)

// DeepConfig configures the core of deep networks (Deep).
type DeepConfig struct {
	Schedule   Schedule // Sequential (also when empty), Simultaneous or Joint
	Partitions int      // P, number of partitions (contiguous row ranges)
	// MaxIters is the maximum number of outer iterations (each solves every
	// layer once); 0 evaluates the start only.
	MaxIters int
	// Tol stops training when the relative change of the balanced weights
	// over one outer iteration, ||theta_{t+1} - theta_t|| / ||theta_t|| over
	// all layers, is below Tol; 0 disables.
	Tol float64
	// FitTol stops training when the relative training residual
	// ||f(X) - y|| / ||y|| at the start of an outer iteration is at most
	// FitTol; 0 disables.
	FitTol float64
	// Damping makes the solves monotone (see Damping), with the Joint
	// schedule; nil is the plain step.
	Damping *Damping
	// Ridge penalizes the hidden layers' weights (see Ridge; not the
	// linear term); nil: none. It needs Damping.
	Ridge *Ridge
	// Patience stops training when the validation loss (the training
	// loss without validation rows) has not fallen by PatienceDelta for
	// that many accepted iterations; 0 disables.
	Patience int
	// Transform and Split are sent with every request: the standardization
	// of the rows and the validation rows (nil: none).
	Transform *msg.Affine
	Split     *msg.Split
	// Pool, when set, takes back the Gram buffers of reduced partials.
	Pool *msg.Pool
}

// DefaultDeepConfig returns the defaults: sequential schedule, 8
// partitions, 100 outer iterations, Tol 1e-13, FitTol 1e-13.
func DefaultDeepConfig() DeepConfig {
	return DeepConfig{Schedule: Sequential, Partitions: DefaultPartitions, MaxIters: 100, Tol: 1e-13, FitTol: 1e-13}
}

// Validate checks the configuration.
func (c DeepConfig) Validate() error {
	if err := validateCommon(c.Partitions, c.MaxIters, c.Tol, c.Patience, c.Damping, c.Ridge); err != nil {
		return err
	}
	switch {
	case c.Damping != nil && c.Schedule != Joint:
		return fmt.Errorf("coordinator: damping needs the joint schedule, not %q", c.Schedule)
	case c.Schedule != "" && c.Schedule != Sequential && c.Schedule != Simultaneous && c.Schedule != Joint:
		return fmt.Errorf("coordinator: schedule %q, want sequential, simultaneous or joint", c.Schedule)
	case !(c.FitTol >= 0) || math.IsInf(c.FitTol, 0):
		return fmt.Errorf("coordinator: fit tol = %v, need a finite value >= 0", c.FitTol)
	}
	return nil
}

// Deep is the core of deep networks (model.Net with L >= 2 hidden layers,
// or any L >= 1): each step evaluates the current weights on every
// partition (msg.DeepRequest) and solves the normal equations of the
// step's layers, for the change of their weights, with the activation
// patterns of every layer held.
type Deep struct {
	cfg   DeepConfig
	net   *model.Net // current weights
	prev  *model.Net // weights of the previous step; nil at step 0
	start *model.Net // balanced weights at the start of the outer iteration
	iter  int
	step  int
	layer int // sequential: next layer to solve (1-based)
	got   round.Set
	req   *msg.DeepRequest
	// pending is a stop decided at the end of an outer iteration, reported
	// at the next evaluation.
	pending Reason
	stopped Reason
	refresh bool // this step evaluates prev again, for its sums (Damping)
	lm      DescentState
	best    BestState

	cur, acc deepSums // this step's reduced sums, the accepted iterate's
	haveAcc  bool     // acc holds the sums of prev
}

// NewDeep returns a core starting from init (copied).
func NewDeep(cfg DeepConfig, init *model.Net) (*Deep, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Schedule == "" {
		cfg.Schedule = Sequential
	}
	if init == nil {
		return nil, fmt.Errorf("coordinator: no initial weights")
	}
	if err := msg.CheckDims(init.Dims); err != nil {
		return nil, err
	}
	if err := init.Validate(); err != nil {
		return nil, err
	}
	c := &Deep{cfg: cfg, net: init.Clone(), layer: 1, got: round.NewSet(cfg.Partitions), lm: DescentState{cfg: cfg.Damping}}
	c.net.Balance()
	c.start = c.net.Clone()
	return c, nil
}

// Stopped implements Core.
func (c *Deep) Stopped() Reason { return c.stopped }

// Net returns a copy of the current weights.
func (c *Deep) Net() *model.Net { return c.net.Clone() }

// Request implements Core: the request of the current step.
func (c *Deep) Request() msg.Request {
	if c.req != nil {
		return c.req
	}
	r := &msg.DeepRequest{Step: c.step, Net: c.net.Clone(), Transform: c.cfg.Transform, Split: c.cfg.Split}
	if c.prev != nil {
		r.Prev = c.prev.Clone()
	}
	if c.cfg.Schedule == Sequential {
		r.Layers = []int{c.layer}
	} else {
		for l := 1; l <= c.net.Layers(); l++ {
			r.Layers = append(r.Layers, l)
		}
		r.Joint = c.cfg.Schedule == Joint
	}
	c.req = r
	return r
}

// Offer implements Core.
func (c *Deep) Offer(p msg.Partial) error {
	if c.stopped != Running {
		return ErrDone
	}
	return c.got.Offer(p, c.Request(), c.cfg.Pool)
}

// Skip implements Core: every partition is needed every step.
func (c *Deep) Skip(int) error { return ErrSkip }

// Len implements Core.
func (c *Deep) Len() int { return c.got.Len() }

// Missing returns the partitions not yet received for the current step.
func (c *Deep) Missing() []int { return c.got.Missing() }

// Ready reports whether every partition's statistics have been received.
func (c *Deep) Ready() bool { return c.got.Ready() }

// Advance implements Core: it reduces the received partials in partition
// order, judges the weights evaluated (accepted, or rejected with
// Damping), decides whether training stops at them, and otherwise solves
// the requested layers from the accepted iterate's sums and moves to the
// next step.
func (c *Deep) Advance() (Report, error) {
	if c.stopped != Running {
		return Report{}, ErrDone
	}
	if !c.Ready() {
		return Report{}, fmt.Errorf("%w: step %d lacks partitions %v", ErrNotReady, c.step, c.Missing())
	}
	c.Request()
	c.reduce()
	if c.cur.rows == 0 {
		return Report{}, fmt.Errorf("%w: the partitions hold no training rows", ErrNoSamples)
	}
	rep := c.report(&c.cur)
	if c.refresh { // the accepted iterate again: its sums, for the solve
		c.refresh, rep.Refresh, rep.Accepted = false, true, true
		c.cur, c.acc, c.haveAcc = c.acc, c.cur, true
		return c.solveNext(rep)
	}
	noDescent := c.lm.judgeReport(&c.best, &rep)
	if rep.Accepted {
		c.prev, c.cur, c.acc, c.haveAcc = c.net, c.acc, c.cur, true
	}
	if c.cfg.Schedule != Sequential || c.layer == 1 { // start of an outer iteration
		switch {
		case c.pending != Running:
			rep.Stop = c.pending
		case rep.Accepted && rep.RelRes <= c.cfg.FitTol:
			rep.Stop = Fit
		default:
			rep.Stop = stopAfter(rep, noDescent, c.iter, c.cfg.MaxIters, c.cfg.Patience, &c.best)
		}
	}
	if rep.Stop != Running {
		c.stopped = rep.Stop
		c.got.Release(c.cfg.Pool)
		return rep, nil
	}
	if !c.haveAcc { // rejected after a restore: evaluate the accepted iterate again
		c.refresh, c.net = true, c.prev.Clone()
		c.step++
		c.req = nil
		c.got.Release(c.cfg.Pool)
		return rep, nil
	}
	return c.solveNext(rep)
}

// report returns the report of the weights evaluated in this step, from
// their reduced sums.
func (c *Deep) report(s *deepSums) Report {
	rep := Report{Iter: c.iter, Step: c.step, Rows: s.rows, Loss: s.sse / (2 * float64(s.rows)), RelRes: relRes(s.sse, s.yy), Flips: s.flips,
		Net: c.net.Clone(), R2: msg.R2(s.rows, s.sse, s.yy, s.sumY), Val: s.val, ValLoss: math.NaN(), ValR2: math.NaN(),
		Train: msg.Eval{Rows: s.rows, SSE: s.sse, YY: s.yy, SumY: s.sumY}}
	if s.val.Rows > 0 {
		rep.ValLoss, rep.ValR2 = s.val.SSE/(2*float64(s.val.Rows)), msg.R2(s.val.Rows, s.val.SSE, s.val.YY, s.val.SumY)
	}
	if c.req.Prev == nil {
		rep.Flips = -1
	}
	if c.cfg.Ridge != nil {
		rep.Penalty = penalty(c.net)
	}
	rep.Objective = c.lm.objective(rep.Loss, rep.Penalty)
	return rep
}

// penalty returns the ridge penalty term of n, (1/2) sum_l ||W_l||^2.
func penalty(n *model.Net) float64 {
	var p float64
	for _, w := range n.W {
		for _, v := range w {
			p += v * v
		}
	}
	return p / 2
}

// ridgeSystem returns the normal equations of system i (layers sy) of the
// sums s, for the change of base's weights, with the ridge penalty on the
// layers' weights: the penalty of base + delta vanishes at delta = -base.
// The linearized residual sum of squares of a change is s.sse - 2 delta'r
// + delta'G delta.
func (c *Deep) ridgeSystem(s *deepSums, i int, sy []int, base *model.Net) *ridgeSystem {
	m := len(s.rs[i])
	sys := &ridgeSystem{g: s.gs[i], r: s.rs[i], yy: s.sse, n: s.rows, m: m, pen: make([]bool, m), center: make([]float64, m)}
	off := 0
	for _, l := range sy {
		for j, v := range base.W[l-1] {
			sys.pen[off+j], sys.center[off+j] = true, -v
		}
		off += len(base.W[l-1])
	}
	return sys
}

// solveNext solves the step's layers from the accepted iterate's sums,
// records the solve in rep and moves to the next step.
func (c *Deep) solveNext(rep Report) (Report, error) {
	req := c.req
	next, err := c.solve(&rep, req.Systems(), rep.Accepted && !rep.Refresh)
	if err != nil {
		return rep, err
	}
	rep.Layers = append([]int(nil), req.Layers...)
	rep.Solved = true
	c.net = next
	c.step++
	c.req = nil
	c.got.Release(c.cfg.Pool)
	if c.cfg.Schedule == Sequential && c.layer < c.net.Layers() {
		c.layer++
		return rep, nil
	}
	// End of an outer iteration.
	c.layer = 1
	c.net.Balance()
	if c.cfg.Damping != nil {
		c.start = c.prev // the accepted iterate, balanced when it was made
	}
	rep.Change = relChange(c.net, c.start)
	if rep.Change < c.cfg.Tol {
		c.pending = Tolerance
	}
	c.start = c.net.Clone()
	c.iter++
	return rep, nil
}

// deepSums are the sums of a step's partials.
type deepSums struct {
	rows          int
	yy, sse, sumY float64
	flips         int64
	val           msg.Eval
	gs, rs        [][]float64 // per system: the packed Gram matrix, the right-hand side
}

// reduce takes the sums of this step from the sum of the received
// partials (round.Set adds them in the reduction tree).
func (c *Deep) reduce() {
	p := c.got.Sum().(*msg.DeepStats)
	s := deepSums{rows: p.Rows, yy: p.YY, sumY: p.SumY, sse: p.SSE, flips: p.Flips, val: p.Val,
		gs: make([][]float64, len(p.Systems)), rs: make([][]float64, len(p.Systems))}
	for i, sy := range p.Systems {
		s.gs[i], s.rs[i] = slices.Clone(sy.Gram), slices.Clone(sy.R)
	}
	c.cur = s
}

// solve solves every system for the change of its layers' weights (and of
// the linear term, in a joint system) from the accepted iterate's sums,
// damped with Damping and penalized with Ridge, and returns the accepted
// weights moved by it, recording the largest ridge and condition number in
// rep. fresh reports sums not solved from before (a Ridge with Select
// chooses its penalty for them).
func (c *Deep) solve(rep *Report, systems [][]int, fresh bool) (*model.Net, error) {
	base := c.prev
	next := base.Clone()
	for i, sy := range systems {
		g, r := c.acc.gs[i], c.acc.rs[i]
		m := len(r)
		if c.cfg.Damping != nil {
			// The accepted sums serve every solve until a candidate is
			// accepted: damp and penalize a copy.
			g, r = c.lm.damp(g, r, m, nil, true)
		}
		if c.cfg.Ridge != nil {
			c.lm.penalize(c.cfg.Ridge, c.ridgeSystem(&c.acc, i, sy, base), g, r, fresh)
		}
		if len(sy) > 1 {
			addGauge(g, m, base, sy)
		}
		delta := make([]float64, m)
		sol, err := linalg.SolveNormal(delta, g, r, m, make([]float64, m))
		if err != nil {
			return nil, fmt.Errorf("coordinator: step %d (iteration %d), layers %v: %w", c.step, c.iter, sy, err)
		}
		for _, l := range sy {
			w := next.W[l-1]
			for j := range w {
				w[j] += delta[j]
			}
			delta = delta[len(w):]
		}
		for j := range delta { // the linear term of a joint system
			next.Skip[j] += delta[j]
		}
		rep.Ridge = math.Max(rep.Ridge, sol.Ridge)
		rep.Cond = math.Max(rep.Cond, sol.Cond)
	}
	c.lm.Solved = c.lm.Lambda
	rep.Lambda, rep.NextAlpha = c.lm.Lambda, c.lm.Alpha
	return next, nil
}

// addGauge adds to the packed joint Gram matrix g of m unknowns over layers
// (ascending, consecutive; a linear term's unknowns after them) the penalty alpha sum_j g_j g_j^T on the rescaling
// directions of the hidden units shared by two of the layers: for unit j of
// layer l with l, l+1 both in the system, g_j is W_l's row j in layer l's
// block and minus W_{l+1}'s column j in layer l+1's block, normalized. With
// the patterns held, B g_j = 0 exactly (growing row j and shrinking column
// j by the same factor leaves f unchanged to first order), so the joint
// system is singular along these directions and the right-hand side has no
// component there; the penalty makes the solve pick the step with no
// rescaling component, without changing it otherwise. alpha is the mean
// diagonal of g.
func addGauge(g []float64, m int, n *model.Net, layers []int) {
	var trace float64
	for a := 0; a < m; a++ {
		trace += g[linalg.PackedIndex(m, a, a)]
	}
	alpha := trace / float64(m)
	if !(alpha > 0) {
		alpha = 1
	}
	start := make(map[int]int, len(layers))
	off := 0
	for _, l := range layers {
		start[l] = off
		off += n.Unknowns(l)
	}
	var idx []int
	var val []float64
	for _, l := range layers {
		s1, ok := start[l+1]
		if !ok {
			continue
		}
		in, k, out := n.Dims[l-1], n.Dims[l], n.Dims[l+1]
		for j := 0; j < k; j++ {
			idx, val = idx[:0], val[:0]
			for i := 0; i < in; i++ {
				idx, val = append(idx, start[l]+j*in+i), append(val, n.W[l-1][j*in+i])
			}
			for r := 0; r < out; r++ {
				idx, val = append(idx, s1+r*k+j), append(val, -n.W[l][r*k+j])
			}
			s := norm(val)
			if s == 0 {
				continue
			}
			f := alpha / (s * s)
			for a, ia := range idx { // idx is ascending
				for b := a; b < len(idx); b++ {
					g[linalg.PackedIndex(m, ia, idx[b])] += f * val[a] * val[b]
				}
			}
		}
	}
}

// relChange returns ||a - b|| / ||b|| over all layers' weights.
func relChange(a, b *model.Net) float64 {
	var dn, bn float64
	for l, w := range a.W {
		for i, v := range w {
			t := v - b.W[l][i]
			dn += t * t
			bn += b.W[l][i] * b.W[l][i]
		}
	}
	if bn == 0 {
		return math.Sqrt(dn)
	}
	return math.Sqrt(dn / bn)
}

// State implements Core. Partials received for the current step are not
// part of it: a restored core asks for them again.
func (c *Deep) State() State {
	s := State{Iter: c.iter, Step: c.step, Layer: c.layer, Net: c.net.Clone(), Start: c.start.Clone(), Pending: c.pending, Stopped: c.stopped, Refresh: c.refresh}
	if c.prev != nil {
		s.Prev = c.prev.Clone()
	}
	if c.cfg.Damping != nil {
		lm := c.lm
		s.Descent = &lm
	}
	if c.best.Net != nil {
		b := c.best.clone()
		s.Best = &b
	}
	return s
}

// Restore implements Core: it replaces the core's state by s (copied),
// after checking that it fits the core: the same network shape, consistent
// counters, known stop reasons. Partials already received are dropped.
func (c *Deep) Restore(s State) error {
	valid := func(what string, n *model.Net, optional bool) error {
		if n == nil {
			if optional {
				return nil
			}
			return fmt.Errorf("coordinator: state has no %s weights", what)
		}
		if err := n.Validate(); err != nil {
			return fmt.Errorf("coordinator: state's %s weights: %w", what, err)
		}
		if !n.SameShape(c.net) {
			return fmt.Errorf("coordinator: state's %s weights have widths %v and signs %v, the core %v and %v", what, n.Dims, n.V, c.net.Dims, c.net.V)
		}
		return nil
	}
	reason := func(r Reason) bool { return r.known() && r != FixedPoint }
	switch {
	case s.Iter < 0 || s.Step < s.Iter || s.Layer < 1 || s.Layer > c.net.Layers():
		return fmt.Errorf("coordinator: state at iteration %d, step %d, layer %d is inconsistent", s.Iter, s.Step, s.Layer)
	case (s.Prev == nil) != (s.Step == 0):
		return fmt.Errorf("coordinator: state at step %d: previous weights are given exactly after step 0", s.Step)
	case !reason(s.Pending) || !reason(s.Stopped):
		return fmt.Errorf("coordinator: state has unknown stop reasons %q, %q", s.Pending, s.Stopped)
	case (s.Descent != nil) != (c.cfg.Damping != nil) || (s.Refresh && s.Descent == nil):
		return fmt.Errorf("coordinator: state of a run with%s damping", without(s.Descent != nil))
	}
	if s.Best != nil {
		if err := valid("best", s.Best.Net, false); err != nil {
			return err
		}
	}
	for _, v := range []struct {
		what     string
		n        *model.Net
		optional bool
	}{{"current", s.Net, false}, {"previous", s.Prev, true}, {"start", s.Start, false}} {
		if err := valid(v.what, v.n, v.optional); err != nil {
			return err
		}
	}
	c.iter, c.step, c.layer, c.pending, c.stopped = s.Iter, s.Step, s.Layer, s.Pending, s.Stopped
	c.net, c.start, c.prev = s.Net.Clone(), s.Start.Clone(), nil
	if s.Prev != nil {
		c.prev = s.Prev.Clone()
	}
	c.refresh, c.haveAcc = s.Refresh, false
	c.lm, c.best = DescentState{cfg: c.cfg.Damping}, BestState{}
	if s.Descent != nil {
		c.lm = *s.Descent
		c.lm.cfg = c.cfg.Damping
	}
	if s.Best != nil {
		c.best = s.Best.clone()
	}
	c.req = nil
	c.got.Release(c.cfg.Pool)
	return nil
}

func norm(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}
