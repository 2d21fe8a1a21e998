package coordinator

import (
	"errors"

	"altmin/model"
	"altmin/msg"
)

// Errors of the cores. Offers are refused with round.ErrStale,
// round.ErrDuplicate, round.ErrUnknown or msg.ErrInvalid.
var (
	ErrNotReady  = errors.New("coordinator: partials missing")
	ErrDone      = errors.New("coordinator: training has stopped")
	ErrNoSamples = errors.New("coordinator: no samples")
	// ErrSkip: the core cannot leave a partition out of a round.
	ErrSkip = errors.New("coordinator: partitions cannot be left out")
)

// Reason says why training stopped.
type Reason string

// Stop reasons.
const (
	Running    Reason = ""
	FixedPoint Reason = "fixed-point"     // no activation pattern changed (1-hidden-layer models)
	Fit        Reason = "fit"             // relative training residual <= FitTol (deep networks)
	Tolerance  Reason = "tolerance"       // relative change of the weights below Tol
	IterLimit  Reason = "iteration-limit" // MaxIters iterations done
	NoDescent  Reason = "no-descent"      // no damped step lowers the training loss (Damping.Max)
	Patience   Reason = "patience"        // the validation loss did not improve for Patience accepted iterations
)

// known reports whether r is a stop reason of this package.
func (r Reason) known() bool {
	switch r {
	case Running, FixedPoint, Fit, Tolerance, IterLimit, NoDescent, Patience:
		return true
	}
	return false
}

// Core is the iteration logic of one model family as a pure state machine:
// no goroutines, clocks or I/O; the iteration (or step) number is its only
// clock. The driver takes the Request of the current round, offers the
// partials of spans of partitions (msg.Span) until every partition is
// covered, and calls Advance. Partials are added in the reduction tree
// (round.Set), so the result does not depend on the order they arrive in,
// on the spans they come in or on who computed them.
type Core interface {
	// Request returns the request of the current round. The core keeps
	// it; callers must not modify it.
	Request() msg.Request
	// Offer hands the core the partial of one span of partitions. It
	// returns an error, and keeps nothing, for a partial of another round,
	// of a partition already received, of a span that is not a node of the
	// reduction tree, or not a valid answer to the request (see
	// round.Set.Offer), and ErrDone once training stopped.
	// Partials it accepts become the core's: it releases their buffers
	// to its pool after reducing them.
	Offer(msg.Partial) error
	// Len returns the number of partitions.
	Len() int
	// Missing returns the partitions not yet received, ascending.
	Missing() []int
	// Ready reports whether every partition's partial has been received.
	Ready() bool
	// Skip gives up partition p for the current round (a user's explicit
	// choice to continue degraded), or returns ErrSkip.
	Skip(p int) error
	// Advance takes the sum of the partials, decides whether
	// training stops at the current weights, and otherwise solves and
	// moves to the next round.
	Advance() (Report, error)
	// State returns a copy of the core's state between rounds, for
	// checkpoints; Restore positions the core at one (partials received
	// so far are dropped).
	State() State
	Restore(State) error
	// Stopped returns the stop reason, or Running.
	Stopped() Reason
}

// Report describes one round: the evaluation of the weights Net on every
// partition and, unless training stops here, the solve that follows.
type Report struct {
	Iter   int     // iteration
	Step   int     // solve step (deep networks' sequential schedule: several per iteration); else Iter
	Rows   int     // samples reduced
	Loss   float64 // (1/2n) ||f(X; Net) - y||^2
	RelRes float64 // ||f(X; Net) - y|| / ||y||
	// Flips counts the pattern bits changed since the previous round's
	// weights; -1 at the first round.
	Flips  int64
	Solved bool    // a solve was done
	Layers []int   // deep networks: the layers solved; nil when training stopped
	Ridge  float64 // (largest) ridge the solve needed, 0 if none
	Cond   float64 // (largest) condition number estimate of the solved matrices
	// Change is the relative change of the weights by the solve (deep
	// networks: over the iteration, set on its last step).
	Change   float64
	StepSize float64 // gradient descent: the step size used
	Stop     Reason  // non-empty when training stopped at Net
	// Skipped lists the partitions left out of this round (Skip).
	Skipped []int
	// Net is the weights evaluated (a copy); a 1-hidden-layer model's are
	// its effective weights U as a network of one hidden layer.
	Net *model.Net
	// Next is the solution of a 1-hidden-layer model's solve (a copy);
	// nil when training stopped, and for deep networks.
	Next *model.Net

	// Accepted reports that the weights evaluated were accepted (always,
	// without Damping); Lambda is the damping of this round's solve.
	Accepted bool
	Lambda   float64
	// Penalty is the ridge penalty term of Net, (1/2) ||P (w - c)||^2, 0
	// without Ridge; Objective = Loss + alpha Penalty with the alpha in
	// force, the objective that damping never lets increase; NextAlpha the
	// penalty of this round's solve.
	Penalty, Objective, NextAlpha float64
	// Refresh marks a round that evaluated the accepted iterate again,
	// after a resume, for the statistics a rejection needs: not an
	// iteration (Iter is the next one's).
	Refresh bool
	// R2 is the training R^2; Val the validation rows' sums (zero without
	// a validation split), ValLoss = Val.SSE / (2 Val.Rows), ValR2 theirs.
	R2      float64
	Val     msg.Eval
	ValLoss float64
	ValR2   float64
	// Train is the training rows' sums (Rows, SSE, YY, SumY).
	Train msg.Eval
	// Revived counts the units found dead at these accepted weights, which
	// the next candidates revive (see Revival).
	Revived int
	// Best is the best accepted iterate so far (by validation loss, or by
	// training loss without validation rows), a copy; nil before the
	// first.
	Best *BestState
}

// State is a core's complete state between rounds, for checkpoints: a core
// with the same configuration restored from it continues exactly as the
// core it was taken from (bit for bit: JSON's shortest round-trip form of
// the floats gives back the same bits).
type State struct {
	Iter int `json:"iter"`
	Step int `json:"step"`
	// Layer is the next layer to solve (deep networks' sequential
	// schedule, 1-based); 0 otherwise.
	Layer   int        `json:"layer,omitempty"`
	Net     *model.Net `json:"net"`             // current weights
	Prev    *model.Net `json:"prev,omitempty"`  // weights of the previous round (the accepted iterate with Damping); nil at the first
	Start   *model.Net `json:"start,omitempty"` // deep networks: balanced weights at the start of the iteration
	Pending Reason     `json:"pending,omitempty"`
	Stopped Reason     `json:"stopped,omitempty"`
	// Round counts the rounds (iterations and refreshes), Refresh marks
	// a refresh to come, Descent is the damping state, Best the best
	// accepted iterate.
	Round   int           `json:"round,omitempty"`
	Refresh bool          `json:"refresh,omitempty"`
	Descent *DescentState `json:"descent,omitempty"`
	Best    *BestState    `json:"best,omitempty"`
	// Revival is the revival of the candidates solved from the accepted
	// iterate, PrevRevival that of the round that evaluated it (see
	// Revival); nil for none.
	Revival     *Revival `json:"revival,omitempty"`
	PrevRevival *Revival `json:"prev_revival,omitempty"`
}
