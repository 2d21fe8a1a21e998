package coordinator

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"altmin/linalg"
	"altmin/msg"
)

// Revival re-places hidden units that died: a unit inactive on every
// training row of the accepted iterate has no rows in the statistics, so
// no solve can move it, and the ridge penalty holds it at zero. With
// ShallowConfig.Revive, the candidates solved from such an iterate are
// evaluated with the dead units' activation patterns, in their statistics
// only, taken from a random hyperplane through the origin (the training
// rows' mean, on standardized data, so that the unit is active on some of
// them); their prediction, and so the loss that judges them, is still that
// of their weights. The solve after an accepted one of them places the
// units on those rows. Damping judges every candidate as before, so the
// objective still never increases.
type Revival struct {
	Units []int     `json:"units"` // the dead units, increasing
	W     []float64 `json:"w"`     // their hyperplanes, len(Units) x d, row-major
}

// reviveSeed separates the revival hyperplanes' random stream from the
// other uses of the seed.
const reviveSeed = 0x7265766976650000 // "revive"

// findRevival returns the revival of the dead units among the first k
// (ReLU) units of d features whose packed Gram matrix of m unknowns is g:
// those whose diagonal block is zero. Unit q's hyperplane has a direction
// drawn from N(0, I/f) over the f = d (d-1 with a bias feature, whose
// weight is 0) features, from a stream seeded by seed and the iteration
// (not the round: a resumed run's refreshes take rounds); nil when no
// unit is dead.
func findRevival(g []float64, m, d, k int, bias bool, seed uint64, iter int) *Revival {
	var rv *Revival
	f := d
	if bias {
		f--
	}
	var rng *rand.Rand
	for q := 0; q < k && f > 0; q++ {
		dead := true
		for j := 0; j < d && dead; j++ {
			dead = g[linalg.PackedIndex(m, q*d+j, q*d+j)] == 0
		}
		if !dead {
			continue
		}
		if rv == nil {
			rv, rng = &Revival{}, rand.New(rand.NewPCG(seed, reviveSeed^uint64(iter)))
		}
		w := make([]float64, d)
		for j := 0; j < f; j++ {
			w[j] = rng.NormFloat64() / math.Sqrt(float64(f))
		}
		rv.Units = append(rv.Units, q)
		rv.W = append(rv.W, w...)
	}
	return rv
}

// clone returns a deep copy of r.
func (r *Revival) clone() *Revival {
	if r == nil {
		return nil
	}
	return &Revival{Units: slices.Clone(r.Units), W: slices.Clone(r.W)}
}

// count returns the number of revived units.
func (r *Revival) count() int {
	if r == nil {
		return 0
	}
	return len(r.Units)
}

// validate checks a revival of a state against k ReLU units of d features.
func (r *Revival) validate(what string, k, d int) error {
	if r == nil {
		return nil
	}
	if len(r.Units) == 0 {
		return fmt.Errorf("coordinator: state's %s revival has no units", what)
	}
	if err := msg.CheckRevive(r.Units, r.W, k, d); err != nil {
		return fmt.Errorf("coordinator: state's %s revival: %w", what, err)
	}
	return nil
}
