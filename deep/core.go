package deep

import (
	"errors"
	"fmt"
	"math"

	"altmin/internal/partials"
	"altmin/linalg"
	"altmin/model"
)

// Errors returned by Core.Offer and Core.Advance. A rejected partial is
// never reduced.
var (
	ErrStale     = errors.New("deep: partial for another step")
	ErrDuplicate = errors.New("deep: duplicate partial")
	ErrUnknown   = errors.New("deep: partial for an unknown partition")
	ErrInvalid   = errors.New("deep: invalid partial")
	ErrNotReady  = errors.New("deep: partials missing")
	ErrDone      = errors.New("deep: training has stopped")
	ErrNoSamples = errors.New("deep: no samples")
)

// refusals are the errors of Offer for partials that cannot be kept.
var refusals = partials.Errors{Stale: ErrStale, Duplicate: ErrDuplicate, Unknown: ErrUnknown, Round: "step"}

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
	// layers, linearized at the current weights (see PartitionStats), and
	// all layers are solved together. The rescaling symmetry between layers
	// makes this system singular; the core removes it with a penalty on the
	// rescaling directions (see addGauge).
	Joint Schedule = "joint"
)

// Reason says why training stopped.
type Reason string

// Stop reasons.
const (
	Running   Reason = ""
	Fit       Reason = "fit"             // relative training residual <= FitTol
	Tolerance Reason = "tolerance"       // relative change of the weights over an outer iteration < Tol
	IterLimit Reason = "iteration-limit" // MaxIters outer iterations done
)

// Config configures the deep alternating-minimization core.
type Config struct {
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
}

// DefaultConfig returns the defaults: sequential schedule, 8 partitions,
// 100 outer iterations, Tol 1e-13, FitTol 1e-13.
func DefaultConfig() Config {
	return Config{Schedule: Sequential, Partitions: 8, MaxIters: 100, Tol: 1e-13, FitTol: 1e-13}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case c.Schedule != "" && c.Schedule != Sequential && c.Schedule != Simultaneous && c.Schedule != Joint:
		return fmt.Errorf("deep: schedule %q, want sequential, simultaneous or joint", c.Schedule)
	case c.Partitions < 1:
		return fmt.Errorf("deep: partitions = %d, need at least 1", c.Partitions)
	case c.MaxIters < 0:
		return fmt.Errorf("deep: iters = %d, need >= 0", c.MaxIters)
	case !(c.Tol >= 0) || math.IsInf(c.Tol, 0):
		return fmt.Errorf("deep: tol = %v, need a finite value >= 0", c.Tol)
	case !(c.FitTol >= 0) || math.IsInf(c.FitTol, 0):
		return fmt.Errorf("deep: fit tol = %v, need a finite value >= 0", c.FitTol)
	}
	return nil
}

// Report describes one step: the evaluation of the weights model.Net on every
// partition and, unless training stops here, the solves of Layers.
type Report struct {
	Iter   int     // outer iteration
	Step   int     // solve step, counted from 0
	Rows   int     // samples reduced
	Loss   float64 // (1/2n) ||f(X; model.Net) - y||^2
	RelRes float64 // ||f(X; model.Net) - y|| / ||y||
	Flips  int64   // pattern bits (all layers) changed since the previous step; -1 at step 0
	Layers []int   // layers solved in this step; nil when training stopped
	Ridge  float64 // largest ridge the solves needed, 0 if none
	Cond   float64 // largest condition number estimate of the solved matrices
	// Change is set on the last step of an outer iteration: the relative
	// change of the balanced weights over that iteration.
	Change float64
	Stop   Reason     // non-empty when training stopped at model.Net
	Net    *model.Net // the weights evaluated (a copy)
}

// Core is the iteration logic of deep alternating minimization as a pure
// state machine (no goroutines, clocks or I/O), in the shape of
// coordinator.Core: the driver takes the Request of the current step, offers
// every partition's Partial, and calls Advance once none is missing.
// Partials are reduced in partition order, so the result does not depend on
// the order they arrive in or on who computed them.
type Core struct {
	cfg   Config
	net   *model.Net // current weights
	prev  *model.Net // weights of the previous step; nil at step 0
	start *model.Net // balanced weights at the start of the outer iteration
	iter  int
	step  int
	layer int // sequential: next layer to solve (1-based)
	got   partials.Set[Partial]
	req   *Request
	// pending is a stop decided at the end of an outer iteration, reported
	// at the next evaluation.
	pending Reason
	stopped Reason
}

// NewCore returns a core starting from init (copied).
func NewCore(cfg Config, init *model.Net) (*Core, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Schedule == "" {
		cfg.Schedule = Sequential
	}
	if err := init.Validate(); err != nil {
		return nil, err
	}
	c := &Core{cfg: cfg, net: init.Clone(), layer: 1, got: partials.New[Partial](cfg.Partitions, refusals)}
	c.net.Balance()
	c.start = c.net.Clone()
	return c, nil
}

// Stopped returns the stop reason, or Running.
func (c *Core) Stopped() Reason { return c.stopped }

// model.Net returns a copy of the current weights.
func (c *Core) Net() *model.Net { return c.net.Clone() }

// Request returns the request of the current step. The core keeps its own
// copy; callers may not modify the returned one.
func (c *Core) Request() *Request {
	if c.req != nil {
		return c.req
	}
	r := &Request{Step: c.step, Net: c.net.Clone()}
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

// Offer hands the core one partition's statistics. It returns an error, and
// keeps nothing, for a partial of another step (ErrStale), of a partition
// already received (ErrDuplicate) or out of range (ErrUnknown), or with
// wrong sizes or non-finite values (ErrInvalid).
func (c *Core) Offer(p *Partial) error {
	req := c.Request()
	switch {
	case c.stopped != Running:
		return ErrDone
	case p == nil:
		return fmt.Errorf("%w: nil", ErrInvalid)
	}
	if err := c.got.Check(p.Partition, p.Step, c.step); err != nil {
		return err
	}
	if (req.Prev != nil) != (p.Flips >= 0) {
		return fmt.Errorf("%w: partition %d: flip count %d does not match the request", ErrInvalid, p.Partition, p.Flips)
	}
	if err := p.Validate(req); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	c.got.Put(p.Partition, p)
	return nil
}

// Missing returns the partitions not yet received for the current step.
func (c *Core) Missing() []int { return c.got.Missing() }

// Ready reports whether every partition's statistics have been received.
func (c *Core) Ready() bool { return c.got.Ready() }

// Advance reduces the received partials in partition order, decides
// whether training stops at the current weights, and otherwise solves the
// requested layers and moves to the next step.
func (c *Core) Advance() (Report, error) {
	if c.stopped != Running {
		return Report{}, ErrDone
	}
	if !c.Ready() {
		return Report{}, fmt.Errorf("%w: step %d lacks partitions %v", ErrNotReady, c.step, c.Missing())
	}
	req := c.Request()
	systems := req.Systems()
	gs := make([][]float64, len(systems))
	rs := make([][]float64, len(systems))
	for i, sy := range systems {
		m := c.net.UnknownsOf(sy)
		gs[i], rs[i] = make([]float64, linalg.PackedLen(m)), make([]float64, m)
	}
	var yy, sse float64
	var rows int
	var flips int64
	for _, p := range c.got.All() { // partition order: the only reduction order
		yy += p.YY
		sse += p.SSE
		rows += p.Rows
		flips += p.Flips
		for i, sy := range p.Systems {
			for j, v := range sy.Gram {
				gs[i][j] += v
			}
			for j, v := range sy.R {
				rs[i][j] += v
			}
		}
	}
	if rows == 0 {
		return Report{}, fmt.Errorf("%w: the partitions hold no rows", ErrNoSamples)
	}
	rep := Report{Iter: c.iter, Step: c.step, Rows: rows, Loss: sse / (2 * float64(rows)), Flips: flips, Net: c.net.Clone()}
	rep.RelRes = math.Sqrt(sse)
	if yy > 0 {
		rep.RelRes = math.Sqrt(sse / yy)
	}
	if req.Prev == nil {
		rep.Flips = -1
	}
	if c.cfg.Schedule != Sequential || c.layer == 1 { // start of an outer iteration
		switch {
		case c.pending != Running:
			rep.Stop = c.pending
		case rep.RelRes <= c.cfg.FitTol:
			rep.Stop = Fit
		case c.iter >= c.cfg.MaxIters:
			rep.Stop = IterLimit
		}
	}
	if rep.Stop != Running {
		c.stopped = rep.Stop
		return rep, nil
	}
	next := c.net.Clone()
	for i, sy := range systems {
		m := len(rs[i])
		if len(sy) > 1 {
			addGauge(gs[i], c.net, sy)
		}
		delta := make([]float64, m)
		sol, err := linalg.SolveNormal(delta, gs[i], rs[i], m, make([]float64, m))
		if err != nil {
			return rep, fmt.Errorf("deep: step %d (iteration %d), layers %v: %w", c.step, c.iter, sy, err)
		}
		for _, l := range sy {
			w := next.W[l-1]
			for j := range w {
				w[j] += delta[j]
			}
			delta = delta[len(w):]
		}
		rep.Ridge = math.Max(rep.Ridge, sol.Ridge)
		rep.Cond = math.Max(rep.Cond, sol.Cond)
	}
	rep.Layers = append([]int(nil), req.Layers...)
	c.prev, c.net = c.net, next
	c.step++
	c.req = nil
	c.got.Reset()
	if c.cfg.Schedule == Sequential && c.layer < c.net.Layers() {
		c.layer++
		return rep, nil
	}
	// End of an outer iteration.
	c.layer = 1
	c.net.Balance()
	rep.Change = relChange(c.net, c.start)
	if rep.Change < c.cfg.Tol {
		c.pending = Tolerance
	}
	c.start = c.net.Clone()
	c.iter++
	return rep, nil
}

// addGauge adds to the packed joint Gram matrix g over layers (ascending,
// consecutive) the penalty alpha sum_j g_j g_j^T on the rescaling
// directions of the hidden units shared by two of the layers: for unit j of
// layer l with l, l+1 both in the system, g_j is W_l's row j in layer l's
// block and minus W_{l+1}'s column j in layer l+1's block, normalized. With
// the patterns held, B g_j = 0 exactly (growing row j and shrinking column
// j by the same factor leaves f unchanged to first order), so the joint
// system is singular along these directions and the right-hand side has no
// component there; the penalty makes the solve pick the step with no
// rescaling component, without changing it otherwise. alpha is the mean
// diagonal of g.
func addGauge(g []float64, n *model.Net, layers []int) {
	m := n.UnknownsOf(layers)
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

// State is a core's complete state between steps, for checkpoints: a core
// with the same Config restored from it continues exactly as the core it
// was taken from (bit for bit: JSON's shortest round-trip form of the
// floats gives back the same bits).
type State struct {
	Iter    int        `json:"iter"`
	Step    int        `json:"step"`
	Layer   int        `json:"layer"` // sequential: next layer to solve (1-based)
	Net     *model.Net `json:"net"`   // current weights
	Prev    *model.Net `json:"prev"`  // weights of the previous step; nil at step 0
	Start   *model.Net `json:"start"` // balanced weights at the start of the outer iteration
	Pending Reason     `json:"pending"`
	Stopped Reason     `json:"stopped"`
}

// State returns a copy of the core's state. Partials received for the
// current step are not part of it: a restored core asks for them again.
func (c *Core) State() State {
	s := State{Iter: c.iter, Step: c.step, Layer: c.layer, Net: c.net.Clone(), Start: c.start.Clone(), Pending: c.pending, Stopped: c.stopped}
	if c.prev != nil {
		s.Prev = c.prev.Clone()
	}
	return s
}

// Restore replaces the core's state by s (copied), after checking that it
// fits the core: the same network shape, consistent counters, known stop
// reasons. Partials already received are dropped.
func (c *Core) Restore(s State) error {
	valid := func(what string, n *model.Net, optional bool) error {
		if n == nil {
			if optional {
				return nil
			}
			return fmt.Errorf("deep: state has no %s weights", what)
		}
		if err := n.Validate(); err != nil {
			return fmt.Errorf("deep: state's %s weights: %w", what, err)
		}
		if !n.SameShape(c.net) {
			return fmt.Errorf("deep: state's %s weights have widths %v and signs %v, the core %v and %v", what, n.Dims, n.V, c.net.Dims, c.net.V)
		}
		return nil
	}
	reason := func(r Reason) bool { return r == Running || r == Fit || r == Tolerance || r == IterLimit }
	switch {
	case s.Iter < 0 || s.Step < s.Iter || s.Layer < 1 || s.Layer > c.net.Layers():
		return fmt.Errorf("deep: state at iteration %d, step %d, layer %d is inconsistent", s.Iter, s.Step, s.Layer)
	case (s.Prev == nil) != (s.Step == 0):
		return fmt.Errorf("deep: state at step %d: previous weights are given exactly after step 0", s.Step)
	case !reason(s.Pending) || !reason(s.Stopped):
		return fmt.Errorf("deep: state has unknown stop reasons %q, %q", s.Pending, s.Stopped)
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
	c.req = nil
	c.got.Reset()
	return nil
}

func norm(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}
