package coordinator

import (
	"fmt"
	"math"

	"altmin/linalg"
	"altmin/model"
	"altmin/msg"
)

// Damping configures the Levenberg-Marquardt damping of the solves that
// makes training monotone on any data: a solve's candidate is accepted only
// when its training loss is not above the last accepted iterate's;
// otherwise it is rejected and the next candidate is solved again, from
// the accepted iterate's statistics (kept in memory, so a rejection costs
// only the candidate's evaluation), with more damping:
//
//	(G + lambda D) w = r + lambda D w_acc,   D = diag(G),
//
// the Marquardt scaling (the step does not depend on the units of the
// weights); lambda = 0 is the plain least-squares step. Accepted steps
// lower lambda to 0 in the limit, so a problem the plain step solves (a
// planted network) converges at its pace. A nil *Damping is the papers'
// plain step: every solve accepted.
type Damping struct {
	// Lambda0 is the damping after a rejection of an undamped step.
	Lambda0 float64
	// Up multiplies lambda after a rejection, Down divides it after an
	// acceptance; below Min it becomes 0.
	Up, Down, Min float64
	// Max ends training (NoDescent) when a rejection would raise lambda
	// beyond it: no damped step lowers the loss any more.
	Max float64
}

// DefaultDamping returns the damping of the default training: lambda 0
// until a rejection, then 1e-3, x10 per rejection, /3 per acceptance,
// 0 below 1e-6, at most 1e10.
func DefaultDamping() *Damping {
	return &Damping{Lambda0: 1e-3, Up: 10, Down: 3, Min: 1e-6, Max: 1e10}
}

// validate checks a damping configuration.
func (d *Damping) validate() error {
	if d == nil {
		return nil
	}
	if !(d.Lambda0 > 0) || !(d.Up > 1) || !(d.Down > 1) || !(d.Min >= 0) || !(d.Max >= d.Lambda0) || math.IsInf(d.Max, 0) {
		return fmt.Errorf("coordinator: damping %+v: want Lambda0 > 0, Up > 1, Down > 1, Min >= 0, Lambda0 <= Max < Inf", *d)
	}
	return nil
}

// DescentState is the accept/reject state of a damped core (see Damping).
type DescentState struct {
	cfg *Damping
	// Lambda is the damping of the next solve; Solved that of the solve
	// that made the weights being evaluated.
	Lambda float64 `json:"lambda"`
	Solved float64 `json:"solved"`
	// Has records an accepted iterate, of training loss Loss and ridge
	// penalty term Pen (see Ridge); its objective is Loss + Alpha Pen.
	Has  bool    `json:"has"`
	Loss float64 `json:"loss"`
	Pen  float64 `json:"pen,omitempty"`
	// Alpha is the ridge penalty of the objective (0 without Ridge);
	// Chosen records that a Ridge with Select has chosen it.
	Alpha  float64 `json:"alpha,omitempty"`
	Chosen bool    `json:"chosen,omitempty"`
}

// objective returns the objective of weights of training loss loss and
// penalty term pen.
func (d *DescentState) objective(loss, pen float64) float64 { return loss + d.Alpha*pen }

// judge decides on weights of training loss loss and penalty term pen by
// their objective: accepted (the first weights always are) or rejected,
// and updates lambda. stop reports a rejection that would raise lambda
// beyond its maximum.
func (d *DescentState) judge(loss, pen float64) (accept, stop bool) {
	if d.cfg == nil || !d.Has || d.objective(loss, pen) <= d.objective(d.Loss, d.Pen) {
		d.Has, d.Loss, d.Pen = true, loss, pen
		if d.cfg != nil {
			if d.Lambda /= d.cfg.Down; d.Lambda < d.cfg.Min {
				d.Lambda = 0
			}
		}
		return true, false
	}
	next := d.Lambda * d.cfg.Up
	if d.Lambda == 0 {
		next = d.cfg.Lambda0
	}
	if next > d.cfg.Max {
		return false, true
	}
	d.Lambda = next
	return false, false
}

// damp returns the normal equations of a damped step with the damping of
// the next solve, (G + lambda D) w = r + lambda D center (center nil: 0),
// or g and r themselves for lambda 0 unless clone. g is packed, m unknowns.
func (d *DescentState) damp(g, r []float64, m int, center []float64, clone bool) ([]float64, []float64) {
	if d.Lambda == 0 && !clone {
		return g, r
	}
	gd, rd := append([]float64(nil), g...), append([]float64(nil), r...)
	if d.Lambda == 0 {
		return gd, rd
	}
	var mean float64
	for a := 0; a < m; a++ {
		mean += g[linalg.PackedIndex(m, a, a)]
	}
	floor := 1e-12 * mean / float64(max(m, 1))
	for a := 0; a < m; a++ {
		i := linalg.PackedIndex(m, a, a)
		l := d.Lambda * max(g[i], floor)
		gd[i] += l
		if center != nil {
			rd[a] += l * center[a]
		}
	}
	return gd, rd
}

// judgeReport judges the weights of rep (DescentState.judge) by its loss and
// penalty term, records accepted weights in best and puts the best so far
// in rep. noDescent reports a rejection that ends training.
func (d *DescentState) judgeReport(best *BestState, rep *Report) (noDescent bool) {
	rep.Accepted, noDescent = d.judge(rep.Loss, rep.Penalty)
	if rep.Accepted {
		best.see(*rep)
	}
	if best.Net != nil {
		b := best.clone()
		rep.Best = &b
	}
	return noDescent
}

// stopAfter returns the stop reasons both cores share, after their own:
// no descent, the iteration limit, patience run out (with accepted
// weights); Running for none.
func stopAfter(rep Report, noDescent bool, iter, maxIters, patience int, best *BestState) Reason {
	switch {
	case noDescent:
		return NoDescent
	case iter >= maxIters:
		return IterLimit
	case patience > 0 && rep.Accepted && best.Since >= patience:
		return Patience
	}
	return Running
}

// penalize adds the ridge penalty r to the normal equations g, rd of sys
// (copies the caller owns), choosing it first when fresh (new sums, with a
// Ridge that selects).
func (d *DescentState) penalize(r *Ridge, sys *ridgeSystem, g, rd []float64, fresh bool) {
	if fresh {
		d.Alpha, d.Chosen = sys.choose(r.candidates(d.Alpha, !d.Chosen)), true
	}
	sys.add(g, rd, d.Alpha)
}

// BestState tracks the best accepted iterate: by validation loss when the
// data have validation rows, else by training loss (the last accepted).
type BestState struct {
	Iter int        `json:"iter"`
	Loss float64    `json:"loss"`
	Net  *model.Net `json:"net,omitempty"`
	// Since counts the accepted iterations since the loss last fell by
	// more than PatienceDelta (relative) below Ref, the loss then.
	Since int     `json:"since"`
	Ref   float64 `json:"ref"`
	// Train and Val are the sums of the best iterate's training and
	// validation rows.
	Train msg.Eval `json:"train"`
	Val   msg.Eval `json:"val"`
}

// see records the accepted weights of rep (its iteration, validation or
// training loss, sums); it reports whether they are the best so far.
func (b *BestState) see(rep Report) bool {
	loss := rep.Loss
	if rep.Val.Rows > 0 {
		loss = rep.ValLoss
	}
	first := b.Net == nil
	if first || loss < b.Ref*(1-PatienceDelta) {
		b.Since, b.Ref = 0, loss
	} else {
		b.Since++
	}
	if first || loss < b.Loss {
		b.Iter, b.Loss, b.Net, b.Train, b.Val = rep.Iter, loss, rep.Net, rep.Train, rep.Val
		return true
	}
	return false
}

// PatienceDelta is the relative decrease of the loss that counts as an
// improvement for patience (Patience in the core configurations): smaller
// improvements still make a better iterate (BestState), but do not keep
// training going.
const PatienceDelta = 1e-3

// clone returns a deep copy of b.
func (b BestState) clone() BestState {
	if b.Net != nil {
		b.Net = b.Net.Clone()
	}
	return b
}
