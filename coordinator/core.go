package coordinator

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"altmin/internal/partials"
	"altmin/linalg"
	"altmin/model"
	"altmin/shard"
)

// Errors returned by Core.Offer. A rejected partial is never reduced.
var (
	ErrStale     = errors.New("coordinator: partial for another iteration")
	ErrDuplicate = errors.New("coordinator: duplicate partial")
	ErrUnknown   = errors.New("coordinator: partial for an unknown partition")
	ErrInvalid   = errors.New("coordinator: invalid partial")
	ErrNotReady  = errors.New("coordinator: partials missing")
	ErrDone      = errors.New("coordinator: training has stopped")
	ErrNoSamples = errors.New("coordinator: no samples")
)

// refusals are the errors of Offer and Skip for partials that cannot be kept.
var refusals = partials.Errors{Stale: ErrStale, Duplicate: ErrDuplicate, Unknown: ErrUnknown, Round: "iteration"}

// Reason says why training stopped.
type Reason string

// Stop reasons.
const (
	Running    Reason = ""
	FixedPoint Reason = "fixed-point"     // no activation pattern changed
	Tolerance  Reason = "tolerance"       // relative change of the weights below Tol
	IterLimit  Reason = "iteration-limit" // MaxIters solves done
)

// Method is the weight update.
type Method string

// The methods.
const (
	// AM is alternating minimization: the exact least-squares solve.
	AM Method = "am"
	// GD is the papers' gradient-descent baseline on the same statistics:
	// u <- u + (eta/n) (B^T y - B^T B u).
	GD Method = "gd"
)

// Config configures the iteration core.
type Config struct {
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
}

// DefaultPartitions is the default P. It is fixed, independent of the
// machine, so that results do not depend on where they are computed.
const DefaultPartitions = 8

// DefaultConfig returns the defaults: 8 partitions, 50 iterations, Tol 1e-12.
func DefaultConfig() Config {
	return Config{Partitions: DefaultPartitions, MaxIters: 50, Tol: 1e-12}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if err := c.Spec.Validate(); err != nil {
		return err
	}
	switch {
	case c.Partitions < 1:
		return fmt.Errorf("coordinator: partitions = %d, need at least 1", c.Partitions)
	case c.MaxIters < 0:
		return fmt.Errorf("coordinator: iters = %d, need >= 0", c.MaxIters)
	case !(c.Tol >= 0) || math.IsInf(c.Tol, 0):
		return fmt.Errorf("coordinator: tol = %v, need a finite value >= 0", c.Tol)
	case c.Method != "" && c.Method != AM && c.Method != GD:
		return fmt.Errorf("coordinator: method %q, want am or gd", c.Method)
	case !(c.Step >= 0) || math.IsInf(c.Step, 0):
		return fmt.Errorf("coordinator: step = %v, need a finite value >= 0", c.Step)
	}
	return nil
}

// Report describes one completed iteration: the evaluation of the weights
// U_Iter on every partition and, unless training stops here, the solve that
// produced U_{Iter+1}.
type Report struct {
	Iter   int
	Rows   int       // samples reduced
	Loss   float64   // (1/2n) ||f(X; U_Iter) - y||^2
	Flips  int64     // pattern bits changed since U_{Iter-1}; -1 at the first iteration
	Solved bool      // a least-squares solve was done
	Ridge  float64   // ridge the solve needed, 0 if none
	Step   float64   // GD: the step size used
	Cond   float64   // condition number estimate of the solved matrix
	Change float64   // ||U_{Iter+1} - U_Iter||_F / ||U_Iter||_F
	Stop   Reason    // non-empty when training stopped at U_Iter
	U      []float64 // U_Iter, the weights evaluated
	Next   []float64 // U_{Iter+1}, the solution; nil when training stopped
	// Skipped lists the partitions left out of this iteration (Skip).
	Skipped []int
}

// Core is the iteration logic of alternating minimization as a pure state
// machine: no goroutines, clocks or I/O. The driver asks for the Request of
// the current iteration, offers every partial it receives, and calls Advance
// once no partition is missing. Partials are reduced in partition order, so
// the result does not depend on the order they arrive in or on who computed
// them.
type Core struct {
	cfg     Config
	iter    int
	u, prev []float64
	got     partials.Set[shard.Stats]
	skipped []int // partitions given up for this iteration (Skip)
	pending Reason
	stopped Reason

	gsum, rsum []float64 // Advance's sums, reused
}

// NewCore returns a core starting from the effective weights u0 (k x d).
func NewCore(cfg Config, u0 []float64) (*Core, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(u0) != cfg.Spec.M() {
		return nil, fmt.Errorf("coordinator: %d initial weights, want k*d = %d", len(u0), cfg.Spec.M())
	}
	return &Core{cfg: cfg, u: append([]float64(nil), u0...), got: partials.New[shard.Stats](cfg.Partitions, refusals)}, nil
}

// State is the part of a Core that a checkpoint must keep to resume: the
// iteration, its weights, the previous weights and a pending stop.
type State struct {
	Iter    int       `json:"iter"`
	U       []float64 `json:"u"`
	Prev    []float64 `json:"prev"`
	Pending Reason    `json:"pending,omitempty"`
	Stopped Reason    `json:"stopped,omitempty"`
}

// State returns a copy of the core's state between iterations.
func (c *Core) State() State {
	return State{Iter: c.iter, U: c.Weights(), Prev: c.Previous(), Pending: c.pending, Stopped: c.stopped}
}

// Restore positions the core at a state recorded by State. Partials
// received so far are dropped.
func (c *Core) Restore(st State) error {
	m := c.cfg.Spec.M()
	if st.Iter < 0 || len(st.U) != m || (st.Iter > 0 && len(st.Prev) != m) || (st.Iter == 0 && st.Prev != nil) {
		return fmt.Errorf("coordinator: bad state to restore: iteration %d, %d weights, %d previous, want %d", st.Iter, len(st.U), len(st.Prev), m)
	}
	c.iter = st.Iter
	c.u = append([]float64(nil), st.U...)
	c.prev = nil
	if st.Prev != nil {
		c.prev = append([]float64(nil), st.Prev...)
	}
	c.pending, c.stopped = st.Pending, st.Stopped
	c.got.Reset()
	c.skipped = nil
	return nil
}

// Iter returns the current iteration.
func (c *Core) Iter() int { return c.iter }

// Stopped returns the stop reason, or Running.
func (c *Core) Stopped() Reason { return c.stopped }

// Weights returns a copy of the current effective weights U_Iter.
func (c *Core) Weights() []float64 { return append([]float64(nil), c.u...) }

// Previous returns a copy of U_{Iter-1}, or nil at the first iteration.
func (c *Core) Previous() []float64 {
	if c.prev == nil {
		return nil
	}
	return append([]float64(nil), c.prev...)
}

// Request returns the statistics request of the current iteration.
func (c *Core) Request() *shard.Request {
	s := c.cfg.Spec
	return &shard.Request{Iter: c.iter, D: s.D, Signs: append([]float64(nil), s.Signs...), U: c.Weights(), Prev: c.Previous()}
}

// Offer hands the core one partition's statistics. It returns an error,
// and keeps nothing, for a partial of another iteration (ErrStale), of a
// partition already received (ErrDuplicate), of a partition out of range
// (ErrUnknown), or with wrong sizes or non-finite values (ErrInvalid).
// Statistics it accepts become the core's: Advance gives their Gram buffer
// back for reuse (shard.Stats.Release), so the caller must not read them
// afterwards.
func (c *Core) Offer(s *shard.Stats) error {
	switch {
	case c.stopped != Running:
		return ErrDone
	case s == nil:
		return fmt.Errorf("%w: nil", ErrInvalid)
	}
	if err := c.got.Check(s.Partition, s.Iter, c.iter); err != nil {
		return err
	}
	if s.Iter > 0 && s.Flips < 0 {
		return fmt.Errorf("%w: partition %d has no flip count at iteration %d", ErrInvalid, s.Partition, s.Iter)
	}
	if err := s.Validate(c.cfg.Spec.M()); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	c.got.Put(s.Partition, s)
	return nil
}

// Skip gives up partition p for the current iteration: its samples are
// left out of this iteration's solve. Only for a user's explicit choice to
// continue degraded; the report lists skipped partitions and training does
// not stop at a fixed point in a degraded iteration.
func (c *Core) Skip(p int) error {
	if c.stopped != Running {
		return ErrDone
	}
	if err := c.got.Check(p, c.iter, c.iter); err != nil {
		return err
	}
	m := c.cfg.Spec.M()
	c.got.Put(p, &shard.Stats{Iter: c.iter, Partition: p, M: m, Gram: make([]float64, linalg.PackedLen(m)), R: make([]float64, m)})
	c.skipped = append(c.skipped, p)
	return nil
}

// Missing returns the partitions whose statistics for the current
// iteration have not been received, ascending.
func (c *Core) Missing() []int { return c.got.Missing() }

// Ready reports whether every partition's statistics have been received.
func (c *Core) Ready() bool { return c.got.Ready() }

// Advance reduces the received partials in partition order, decides whether
// training stops at the current weights, and otherwise solves for the next
// weights and moves to the next iteration.
func (c *Core) Advance() (Report, error) {
	if c.stopped != Running {
		return Report{}, ErrDone
	}
	if !c.Ready() {
		return Report{}, fmt.Errorf("%w: iteration %d lacks partitions %v", ErrNotReady, c.iter, c.Missing())
	}
	m := c.cfg.Spec.M()
	// The sums are reused from one iteration to the next: at m = 1000 the
	// Gram matrix is 4 MB, and fresh memory costs more than the sum.
	c.gsum = grow(c.gsum, linalg.PackedLen(m))
	c.rsum = grow(c.rsum, m)
	g, r := c.gsum, c.rsum
	var sse float64
	var rows int
	var flips int64
	for _, s := range c.got.All() { // partition order: the only reduction order
		addTo(g, s.Gram)
		addTo(r, s.R)
		sse += s.SSE
		rows += s.Rows
		flips += s.Flips
	}
	if rows == 0 {
		return Report{}, fmt.Errorf("%w: the partitions hold no rows", ErrNoSamples)
	}
	rep := Report{Iter: c.iter, Rows: rows, Loss: sse / (2 * float64(rows)), Flips: flips, U: c.Weights(), Skipped: slices.Sorted(slices.Values(c.skipped))}
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
		c.release()
		return rep, nil
	}
	next := make([]float64, m)
	if c.cfg.Method == GD {
		eta := c.cfg.Step
		if eta == 0 {
			var err error
			if eta, err = linalg.StepRule(g, m, rows); err != nil {
				return rep, fmt.Errorf("coordinator: iteration %d: %w", c.iter, err)
			}
		}
		linalg.GradientStep(next, g, r, c.u, m, rows, eta)
		rep.Solved, rep.Step = true, eta
	} else {
		sol, err := linalg.SolveNormal(next, g, r, m, c.u)
		if err != nil {
			return rep, fmt.Errorf("coordinator: iteration %d: %w", c.iter, err)
		}
		rep.Solved, rep.Ridge, rep.Cond = true, sol.Ridge, sol.Cond
	}
	var dn, un float64
	for i := range next {
		t := next[i] - c.u[i]
		dn += t * t
		un += c.u[i] * c.u[i]
	}
	if un > 0 {
		rep.Change = math.Sqrt(dn / un)
	} else {
		rep.Change = math.Sqrt(dn)
	}
	if rep.Change < c.cfg.Tol {
		c.pending = Tolerance
	}
	c.prev, c.u = c.u, next
	c.iter++
	c.release()
	c.skipped = nil
	rep.Next = c.Weights()
	return rep, nil
}

// release gives the Gram buffers of the received partials back for reuse
// (shard.Stats.Release) and forgets the partials: they have been reduced,
// and the core is done with the iteration.
func (c *Core) release() {
	for _, s := range c.got.All() {
		s.Release()
	}
	c.got.Reset()
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
