package deep

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestTeacherRows: the rows do not depend on how they are read (one range
// or pieces, as partitions read them), and held-out rows are new rows.
func TestTeacherRows(t *testing.T) {
	tch, err := NewTeacher(300, []int{5, 4, 2}, 9, "alternate")
	if err != nil {
		t.Fatal(err)
	}
	d := 5
	x, y := make([]float64, 300*d), make([]float64, 300)
	if err := tch.Read(0, 300, x, y); err != nil {
		t.Fatal(err)
	}
	for _, cut := range [][2]int{{0, 1}, {17, 120}, {299, 300}} {
		lo, hi := cut[0], cut[1]
		xp, yp := make([]float64, (hi-lo)*d), make([]float64, hi-lo)
		if err := tch.Read(lo, hi, xp, yp); err != nil {
			t.Fatal(err)
		}
		for i := range yp {
			if yp[i] != y[lo+i] {
				t.Fatalf("row %d: label %v read alone, %v read whole", lo+i, yp[i], y[lo+i])
			}
		}
		for i := range xp {
			if xp[i] != x[lo*d+i] {
				t.Fatalf("rows [%d, %d): features differ", lo, hi)
			}
		}
	}
	ho := tch.HeldOut(10)
	xh, yh := make([]float64, 10*d), make([]float64, 10)
	if err := ho.Read(0, 10, xh, yh); err != nil {
		t.Fatal(err)
	}
	if xh[0] == x[0] {
		t.Error("held-out row 0 equals training row 0")
	}
	// The teacher's units of layers >= 2 are active on a fair share of rows.
	net := tch.Net()
	var fw forward
	fw.init(net)
	active := make([]int, net.Dims[2])
	for i := 0; i < 300; i++ {
		fw.run(net, x[i*d:(i+1)*d])
		for q, z := range fw.z[2] {
			if z > 0 {
				active[q]++
			}
		}
	}
	for q, a := range active {
		if a < 30 || a > 270 {
			t.Errorf("layer-2 unit %d active on %d of 300 rows", q, a)
		}
	}
	if _, err := NewTeacher(10, []int{5}, 1, "ones"); err == nil {
		t.Error("teacher without a hidden layer accepted")
	}
	if _, err := NewTeacher(10, []int{5, 2}, 1, "random"); err == nil {
		t.Error("unknown signs accepted")
	}
}

// permuteScale returns n with the units of every hidden layer permuted and
// (except the last layer, whose scale the signs fix) positively rescaled,
// the incoming rows and outgoing columns moved to match: the same function.
func permuteScale(n *Net, rng *rand.Rand) *Net {
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
		tch, err := NewTeacher(200, dims, 4, "alternate")
		if err != nil {
			t.Fatal(err)
		}
		truth := tch.Net()
		same := permuteScale(truth, rng)
		x, y := loadAll(t, tch)
		if e := PredErr(same, x, y); e > 1e-14 {
			t.Fatalf("dims %v: the permuted, rescaled network predicts differently (%.3g)", dims, e)
		}
		if e := WeightErr(same, truth); e > 1e-14 {
			t.Errorf("dims %v: WeightErr of a permuted, rescaled teacher is %.3g, want ~0", dims, e)
		}
		moved := Perturb(truth, 0.1, 3)
		if e := WeightErr(moved, truth); e < 0.01 || e > 0.2 {
			t.Errorf("dims %v: WeightErr of a 10%% perturbation is %.3g", dims, e)
		}
	}
}

// TestBalanceKeepsFunction: Balance changes the weights, not the function.
func TestBalanceKeepsFunction(t *testing.T) {
	tch, err := NewTeacher(200, []int{6, 5, 4, 2}, 2, "ones")
	if err != nil {
		t.Fatal(err)
	}
	x, y := loadAll(t, tch)
	n := Perturb(tch.Net(), 0.5, 1)
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
