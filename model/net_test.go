package model_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"altmin/data"
	"altmin/model"
)

// loadAll reads every row of a teacher.
func loadAll(t *testing.T, tch *data.DeepTeacher) (x, y []float64) {
	t.Helper()
	info := tch.Info()
	x, y = make([]float64, info.N*info.D), make([]float64, info.N)
	if err := tch.Read(0, info.N, x, y); err != nil {
		t.Fatal(err)
	}
	return x, y
}

func norm(v []float64) float64 { return math.Sqrt(dot(v, v)) }

func dot(a, b []float64) float64 {
	var s float64
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// permuteScale returns n with the units of every hidden layer permuted and
// (except the last layer, whose scale the signs fix) positively rescaled,
// the incoming rows and outgoing columns moved to match: the same function.
func permuteScale(n *model.Net, rng *rand.Rand) *model.Net {
	p := n.Clone()
	L := p.Layers()
	for l := 1; l <= L; l++ {
		in, k := p.Dims[l-1], p.Dims[l]
		perm := rng.Perm(k)
		if l == L { // keep the signs in place: permute within equal signs
			perm = make([]int, k)
			for q := range perm {
				perm[q] = q
			}
			if k >= 3 && p.V[0] == p.V[2] {
				perm[0], perm[2] = 2, 0
			}
		}
		scale := make([]float64, k)
		for q := range scale {
			scale[q] = 1
			if l < L {
				scale[q] = math.Exp(rng.NormFloat64())
			}
		}
		w := make([]float64, len(p.W[l-1]))
		for q, src := range perm {
			for j := 0; j < in; j++ {
				w[q*in+j] = p.W[l-1][src*in+j] * scale[q]
			}
		}
		p.W[l-1] = w
		if l < L {
			out := p.Dims[l+1]
			nx := make([]float64, len(p.W[l]))
			for r := 0; r < out; r++ {
				for q, src := range perm {
					nx[r*k+q] = p.W[l][r*k+src] / scale[q]
				}
			}
			p.W[l] = nx
		}
	}
	return p
}

// TestWeightErrSymmetries: WeightErr is blind to permutations and
// positive rescaling of hidden units (which leave the function unchanged)
// and sees a perturbation.
func TestWeightErrSymmetries(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	for _, dims := range [][]int{{6, 4, 2}, {7, 5, 3}, {5, 6, 4, 3}} {
		tch, err := data.NewDeepTeacher(200, dims, 4, "alternate")
		if err != nil {
			t.Fatal(err)
		}
		truth := tch.Net()
		same := permuteScale(truth, rng)
		x, y := loadAll(t, tch)
		if e := model.PredErr(same, x, y); e > 1e-14 {
			t.Fatalf("dims %v: the permuted, rescaled network predicts differently (%.3g)", dims, e)
		}
		if e := model.WeightErr(same, truth); e > 1e-14 {
			t.Errorf("dims %v: WeightErr of a permuted, rescaled teacher is %.3g, want ~0", dims, e)
		}
		moved := data.PerturbNet(truth, 0.1, 3)
		if e := model.WeightErr(moved, truth); e < 0.01 || e > 0.2 {
			t.Errorf("dims %v: WeightErr of a 10%% perturbation is %.3g", dims, e)
		}
	}
}

// TestBalanceKeepsFunction: Balance changes the weights, not the function.
func TestBalanceKeepsFunction(t *testing.T) {
	tch, err := data.NewDeepTeacher(200, []int{6, 5, 4, 2}, 2, "ones")
	if err != nil {
		t.Fatal(err)
	}
	x, y := loadAll(t, tch)
	n := data.PerturbNet(tch.Net(), 0.5, 1)
	before := make([]float64, len(y))
	n.Predict(before, x)
	n.Balance()
	after := make([]float64, len(y))
	n.Predict(after, x)
	for i := range before {
		if math.Abs(before[i]-after[i]) > 1e-13*(1+math.Abs(before[i])) {
			t.Fatalf("row %d: %v before Balance, %v after", i, before[i], after[i])
		}
	}
	for l := 1; l < n.Layers(); l++ {
		in := n.Dims[l-1]
		for q := 0; q < n.Dims[l]; q++ {
			if s := norm(n.W[l-1][q*in : (q+1)*in]); math.Abs(s-1) > 1e-14 {
				t.Errorf("layer %d row %d has norm %v after Balance", l, q, s)
			}
		}
	}
}
