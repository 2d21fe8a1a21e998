package coordinator

import (
	"fmt"
	"math"
	"slices"

	"altmin/linalg"
)

// Ridge is an L2 penalty on the hidden units' weights, which makes the
// training objective
//
//	J(w) = (1/2n) ||f(X; w) - y||^2 + (alpha/2) ||P (w - c)||^2,
//
// P selecting the hidden units' weights (not a linear term's), c their
// weights at which the penalty vanishes (0; the identity of resnet's
// effective weights). With the patterns held, its solve is
// (G + alpha n P) w = r + alpha n P c. It needs Damping, which then judges
// candidates by J.
//
// With Select, alpha is chosen before every solve from the statistics
// already reduced, by generalized cross-validation (Golub, Heath and Wahba
// 1979) of the ridge regression the solve is:
//
//	GCV(alpha) = n RSS(alpha) / (n - df(alpha))^2,  df = tr((G + alpha n P)^-1 G),
//
// which estimates the leave-one-out error of that regression with no pass
// over the data. The first solve considers the grid Alpha, Alpha/10, ...,
// SelectMin, 0; every later one alpha and alpha/sqrt(10) of the last (0
// below SelectMin), so alpha never grows: the objective of
// the accepted iterates, J with the current alpha, then never increases
// either (lowering alpha lowers J).
type Ridge struct {
	Alpha  float64 // the penalty; with Select, the largest considered
	Select bool
}

// sqrt10 is the ratio of consecutive penalties a selection considers.
const sqrt10 = 3.1622776601683795

// SelectMin is the smallest nonzero penalty a Ridge with Select considers.
const SelectMin = 1e-6

// DefaultRidge returns the penalty of the default training on real data:
// selected, at most 10 (on standardized data, a penalty that leaves the
// hidden units next to nothing: the model is then about least squares).
func DefaultRidge() *Ridge { return &Ridge{Alpha: 10, Select: true} }

// validate checks a ridge configuration.
func (r *Ridge) validate(d *Damping) error {
	switch {
	case r == nil:
		return nil
	case !(r.Alpha >= 0) || math.IsInf(r.Alpha, 0):
		return fmt.Errorf("coordinator: ridge penalty %v: want a finite value >= 0", r.Alpha)
	case d == nil:
		return fmt.Errorf("coordinator: a ridge penalty needs damping (the candidates are judged by the penalized objective)")
	}
	return nil
}

// candidates returns the penalties a solve considers after one of alpha
// (first: none yet).
func (r *Ridge) candidates(alpha float64, first bool) []float64 {
	if !r.Select {
		return []float64{r.Alpha}
	}
	var c []float64
	if first {
		for a := r.Alpha; a >= SelectMin*(1-1e-9); a /= 10 {
			c = append(c, a)
		}
		return append(c, 0)
	}
	for _, a := range []float64{alpha, alpha / sqrt10} {
		if a < SelectMin*(1-1e-9) {
			a = 0
		}
		if len(c) == 0 || a != c[len(c)-1] {
			c = append(c, a)
		}
	}
	return c
}

// ridgeSystem is the normal equations of a solve with a ridge penalty:
// the packed Gram matrix g of m unknowns, the right-hand side r, y'y and
// the rows n of the sums; pen marks the penalized unknowns, center their
// weights without penalty (nil: 0).
type ridgeSystem struct {
	g, r   []float64
	yy     float64
	n, m   int
	pen    []bool
	center []float64
}

// add adds the penalty alpha to g and r: g + alpha n P, r + alpha n P c.
// g and r must be copies the caller owns.
func (s *ridgeSystem) add(g, r []float64, alpha float64) {
	if alpha == 0 {
		return
	}
	an := alpha * float64(s.n)
	for a, p := range s.pen {
		if !p {
			continue
		}
		g[linalg.PackedIndex(s.m, a, a)] += an
		if s.center != nil {
			r[a] += an * s.center[a]
		}
	}
}

// penalty returns (1/2) ||P (w - c)||^2.
func (s *ridgeSystem) penalty(w []float64) float64 {
	var p float64
	for a, on := range s.pen {
		if !on {
			continue
		}
		t := w[a]
		if s.center != nil {
			t -= s.center[a]
		}
		p += t * t
	}
	return p / 2
}

// gcv returns the generalized cross-validation score of the ridge
// regression with penalty alpha, +Inf when it cannot be scored (the
// matrix is not positive definite, or df >= n).
func (s *ridgeSystem) gcv(alpha float64) float64 {
	m := s.m
	// A = G + alpha n P, with the jitter SolveNormal starts from, so that a
	// feature constant on the training rows (a zero column of the
	// unpenalized linear term) does not make every alpha unscorable.
	var trace float64
	for i := 0; i < m; i++ {
		trace += s.g[linalg.PackedIndex(m, i, i)]
	}
	jitter := 1e-10 * max(trace/float64(m), 1e-300)
	diag := make([]float64, m)
	r := slices.Clone(s.r)
	for i := range diag {
		diag[i] = jitter
	}
	if alpha > 0 {
		an := alpha * float64(s.n)
		for a, p := range s.pen {
			if p {
				diag[a] += an
				if s.center != nil {
					r[a] += an * s.center[a]
				}
			}
		}
	}
	var f linalg.Factor
	if !f.FactorPacked(s.g, m, diag) {
		return math.Inf(1)
	}
	w := r
	f.Solve(w)
	// RSS = y'y - 2 w'r + w'G w, with the unpenalized r and G.
	gw := make([]float64, m)
	linalg.PackedMulVec(gw, s.g, w, m)
	rss := s.yy
	for i, v := range w {
		rss += v * (gw[i] - 2*s.r[i])
	}
	// df = tr(A^-1 G) = m - alpha n tr(P A^-1).
	df := float64(m)
	if alpha > 0 {
		t, ok := f.InvDiag(s.pen)
		if !ok {
			return math.Inf(1)
		}
		df -= alpha * float64(s.n) * t
	}
	n := float64(s.n)
	if df >= n {
		return math.Inf(1)
	}
	return n * max(rss, 0) / ((n - df) * (n - df))
}

// choose returns the candidate of least GCV score, the first when none
// can be scored; ties go to the larger penalty.
func (s *ridgeSystem) choose(cands []float64) float64 {
	if len(cands) == 1 {
		return cands[0]
	}
	best, score := cands[0], math.Inf(1)
	for _, a := range cands {
		if v := s.gcv(a); v < score {
			best, score = a, v
		}
	}
	return best
}
