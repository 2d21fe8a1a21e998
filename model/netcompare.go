package model

import (
	"math"
)

// Canonical returns a copy of n in the canonical form used to compare
// weights: Balance'd (every row of W_1..W_{L-1} of unit norm, the scale
// moved into the next layer), so the only symmetries left are permutations
// of each hidden layer's units (for the last layer, among units of equal
// output sign).
func Canonical(n *Net) *Net {
	c := n.Clone()
	c.Balance()
	return c
}

// WeightErr returns the relative weight error of n against the truth t, up
// to the network's symmetries: both are put in canonical form, the units of
// each layer l = 1..L of n are matched to those of t (minimum squared
// distance between rows, given the matching of layer l-1; last-layer units
// only to units of the same output sign), and the result is
//
//	sqrt(sum_l ||W_l - W_l*||_F^2) / sqrt(sum_l ||W_l*||_F^2)
//
// over the matched canonical forms. It is 0 exactly when the two networks
// are the same up to permutation and positive rescaling of hidden units.
// The matching is layer by layer (greedy across layers, optimal within a
// layer), which is exact once the error is small.
func WeightErr(n, t *Net) float64 {
	if !n.SameShape(t) {
		panic("model: WeightErr of networks of different shapes")
	}
	a, b := Canonical(n), Canonical(t)
	L := a.Layers()
	var num, den float64
	for l := 1; l <= L; l++ {
		in, k := a.Dims[l-1], a.Dims[l]
		wa, wb := a.W[l-1], b.W[l-1]
		cost := make([]float64, k*k)
		for p := 0; p < k; p++ {
			for q := 0; q < k; q++ {
				if l == L && a.V[p] != b.V[q] {
					cost[p*k+q] = math.Inf(1)
					continue
				}
				var s float64
				for j := 0; j < in; j++ {
					d := wa[p*in+j] - wb[q*in+j]
					s += d * d
				}
				cost[p*k+q] = s
			}
		}
		perm := Assign(cost, k) // unit p of a is unit perm[p] of b
		for p, q := range perm {
			num += cost[p*k+q]
		}
		for _, v := range wb {
			den += v * v
		}
		if l == L {
			break
		}
		// Reorder the columns of a's next layer to b's unit order.
		next := a.W[l]
		out := a.Dims[l+1]
		moved := make([]float64, len(next))
		for r := 0; r < out; r++ {
			for p, q := range perm {
				moved[r*k+q] = next[r*k+p]
			}
		}
		a.W[l] = moved
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

// PredErr returns ||f(X) - y|| / ||y|| for the rows of x (row-major,
// len(y) x d); ||f(X) - y|| when y is zero.
func PredErr(n *Net, x, y []float64) float64 {
	f := make([]float64, len(y))
	n.Predict(f, x)
	var num, den float64
	for i, v := range y {
		e := f[i] - v
		num += e * e
		den += v * v
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}
