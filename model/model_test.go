package model_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"altmin/model"
)

func frob(a []float64) float64 {
	var s float64
	for _, v := range a {
		s += v * v
	}
	return math.Sqrt(s)
}

func randMat(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

// permuteRows returns the rows of w (k x d) in the order perm: row a of the
// result is row perm[a] of w.
func permuteRows(w []float64, d int, perm []int) []float64 {
	out := make([]float64, len(w))
	for a, b := range perm {
		copy(out[a*d:(a+1)*d], w[b*d:(b+1)*d])
	}
	return out
}

// permutations calls f with every permutation of 0..n-1.
func permutations(n int, f func([]int)) {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	var rec func(int)
	rec = func(i int) {
		if i == n {
			f(p)
			return
		}
		for j := i; j < n; j++ {
			p[i], p[j] = p[j], p[i]
			rec(i + 1)
			p[i], p[j] = p[j], p[i]
		}
	}
	rec(0)
}

func TestAssignMatchesBruteForce(t *testing.T) {
	const seed = 31
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for trial := 0; trial < 300; trial++ {
		n := 1 + trial%5
		if trial >= 50 {
			n = 5
		}
		c := make([]float64, n*n)
		for i := range c {
			switch {
			case trial%3 == 0:
				c[i] = float64(rng.IntN(4)) // many ties
			default:
				c[i] = rng.Float64() * 10
			}
		}
		if trial%4 == 1 {
			// Forbid some pairs, keeping the diagonal allowed so that a
			// finite assignment exists.
			for i := 0; i < n; i++ {
				for j := 0; j < n; j++ {
					if i != j && rng.IntN(2) == 0 {
						c[i*n+j] = math.Inf(1)
					}
				}
			}
		}
		best := math.Inf(1)
		permutations(n, func(p []int) {
			var s float64
			for a, b := range p {
				s += c[a*n+b]
			}
			best = min(best, s)
		})
		got := model.Assign(c, n)
		if len(got) != n {
			t.Fatalf("trial %d: Assign returned %d columns for n = %d", trial, len(got), n)
		}
		used := make([]bool, n)
		var s float64
		for a, b := range got {
			if b < 0 || b >= n || used[b] {
				t.Fatalf("trial %d: Assign = %v is not a permutation", trial, got)
			}
			used[b] = true
			s += c[a*n+b]
		}
		if math.Abs(s-best) > 1e-9*max(1, best) {
			t.Fatalf("trial %d: cost %v (assignment %v), brute force %v; costs %v", trial, s, got, best, c)
		}
	}
}

func TestRelErrPermutation(t *testing.T) {
	const seed = 32
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	d, k := 6, 4

	// All signs equal: every permutation of the teacher is the teacher.
	spec := model.Spec{Kind: model.Sum, D: d, K: k, Signs: []float64{1, 1, 1, 1}}
	wstar := randMat(rng, k*d)
	permutations(k, func(p []int) {
		if e := spec.RelErr(permuteRows(wstar, d, p), wstar); e != 0 {
			t.Errorf("perm %v of the teacher: RelErr = %v, want 0", p, e)
		}
	})

	// Mixed signs: permuting within a sign group is free, across is not.
	spec.Signs = []float64{1, -1, 1, -1}
	within := permuteRows(wstar, d, []int{2, 3, 0, 1})
	if e := spec.RelErr(within, wstar); e != 0 {
		t.Errorf("permutation within sign groups: RelErr = %v, want 0", e)
	}
	across := permuteRows(wstar, d, []int{1, 0, 3, 2})
	// Reference: brute force over the sign-preserving permutations.
	want := math.Inf(1)
	permutations(k, func(p []int) {
		for a, b := range p {
			if spec.Signs[a] != spec.Signs[b] {
				return
			}
		}
		pw := permuteRows(wstar, d, p)
		var s float64
		for i := range across {
			t := across[i] - pw[i]
			s += t * t
		}
		want = min(want, math.Sqrt(s)/frob(wstar))
	})
	if e := spec.RelErr(across, wstar); e == 0 || math.Abs(e-want) > 1e-14*want {
		t.Errorf("permutation across sign groups: RelErr = %v, want %v > 0", e, want)
	}

	// A perturbed, permuted teacher: the error of the perturbation.
	noise := randMat(rng, k*d)
	for i := range noise {
		noise[i] *= 1e-3
	}
	w := make([]float64, k*d)
	for i := range w {
		w[i] = within[i] + noise[i]
	}
	if e, want := spec.RelErr(w, wstar), frob(noise)/frob(wstar); math.Abs(e-want) > 1e-12 {
		t.Errorf("perturbed permuted teacher: RelErr = %v, want %v", e, want)
	}

	// Single ReLU: plain relative error.
	relu := model.Spec{Kind: model.ReLU, D: 3, K: 1, Signs: []float64{1}}
	if e := relu.RelErr([]float64{1, 2, 2}, []float64{1, 2, 4}); math.Abs(e-2/math.Sqrt(21)) > 1e-15 {
		t.Errorf("relu RelErr = %v, want %v", e, 2/math.Sqrt(21))
	}
}

func TestRelErrResNet(t *testing.T) {
	const seed = 33
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	d := 5
	spec := model.Spec{Kind: model.ResNet, D: d, K: d, Signs: []float64{1, 1, 1, 1, 1}}
	wstar := randMat(rng, d*d)
	w := randMat(rng, d*d)
	diff := make([]float64, d*d)
	for i := range diff {
		diff[i] = w[i] - wstar[i]
	}
	den := frob(spec.Effective(wstar)) // ||W* + I||_F
	if e, want := spec.RelErr(w, wstar), frob(diff)/den; math.Abs(e-want) > 1e-15*want {
		t.Errorf("resnet RelErr = %v, want ||W - W*|| / ||W* + I|| = %v", e, want)
	}
	if e := spec.RelErr(wstar, wstar); e != 0 {
		t.Errorf("resnet RelErr of the teacher = %v", e)
	}
	// Neurons of the skip model are tied to their input: no permutation.
	swapped := permuteRows(wstar, d, []int{1, 0, 2, 3, 4})
	if e := spec.RelErr(swapped, wstar); e == 0 {
		t.Error("resnet RelErr ignores a permutation of the neurons")
	}
	// With W* = 0 the denominator is ||I|| = sqrt(d).
	zero := make([]float64, d*d)
	if e := spec.RelErr(diff, zero); math.Abs(e-frob(diff)/math.Sqrt(float64(d))) > 1e-15 {
		t.Errorf("resnet RelErr against W* = 0: %v, want %v", e, frob(diff)/math.Sqrt(float64(d)))
	}
}

func TestEffectiveLearned(t *testing.T) {
	const seed = 34
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for _, spec := range []model.Spec{
		{Kind: model.ReLU, D: 4, K: 1, Signs: []float64{1}},
		{Kind: model.Sum, D: 3, K: 2, Signs: []float64{1, -1}},
		{Kind: model.ResNet, D: 3, K: 3, Signs: []float64{1, 1, -1}},
		{Kind: model.ResNet, D: 4, K: 3, Signs: []float64{1, 1, 1}, Bias: true},
	} {
		if err := spec.Validate(); err != nil {
			t.Fatalf("%+v: %v", spec, err)
		}
		w := randMat(rng, spec.M())
		orig := append([]float64(nil), w...)
		u := spec.Effective(w)
		for q := 0; q < spec.K; q++ {
			for j := 0; j < spec.D; j++ {
				want := w[q*spec.D+j]
				if spec.Kind == model.ResNet && q == j {
					want++
				}
				if u[q*spec.D+j] != want {
					t.Errorf("%s bias=%v: Effective[%d][%d] = %v, want %v", spec.Kind, spec.Bias, q, j, u[q*spec.D+j], want)
				}
			}
		}
		back := spec.Learned(u)
		for i := range w {
			if w[i] != orig[i] {
				t.Fatalf("%s: Effective modified its argument", spec.Kind)
			}
			if math.Abs(back[i]-w[i]) > 1e-15*max(1, math.Abs(w[i])) {
				t.Errorf("%s: Learned(Effective(w))[%d] = %v, want %v", spec.Kind, i, back[i], w[i])
			}
		}
		u[0] = 1234
		if w[0] == 1234 {
			t.Errorf("%s: Effective aliases its argument", spec.Kind)
		}
	}
}

func TestPredict(t *testing.T) {
	spec := model.Spec{Kind: model.Sum, D: 2, K: 2, Signs: []float64{1, -1}}
	w := []float64{1, 0, 0, 1} // y = relu(x0) - relu(x1)
	x := []float64{2, 3, -1, 4, 5, -6}
	out := make([]float64, 3)
	spec.Predict(out, x, w)
	want := []float64{-1, -4, 5}
	for i := range want {
		if out[i] != want[i] {
			t.Errorf("Predict row %d = %v, want %v", i, out[i], want[i])
		}
	}
	// ResNet uses W + I.
	res := model.Spec{Kind: model.ResNet, D: 2, K: 2, Signs: []float64{1, 1}}
	res.Predict(out[:1], []float64{1, -2}, []float64{0, 0, 0, 0})
	if out[0] != 1 {
		t.Errorf("resnet Predict with W = 0: %v, want relu(1) + relu(-2) = 1", out[0])
	}
}

func TestValidate(t *testing.T) {
	ok := []model.Spec{
		{Kind: model.ReLU, D: 1, K: 1, Signs: []float64{1}},
		{Kind: model.Sum, D: 3, K: 4, Signs: []float64{1, -1, -1, 1}},
		{Kind: model.ResNet, D: 2, K: 2, Signs: []float64{-1, 1}},
		{Kind: model.ResNet, D: 3, K: 2, Signs: []float64{1, 1}, Bias: true},
	}
	for _, s := range ok {
		if err := s.Validate(); err != nil {
			t.Errorf("%+v: unexpected error %v", s, err)
		}
	}
	bad := []struct {
		name string
		spec model.Spec
	}{
		{"unknown kind", model.Spec{Kind: "mlp", D: 2, K: 1, Signs: []float64{1}}},
		{"k = 0", model.Spec{Kind: model.Sum, D: 2, K: 0, Signs: nil}},
		{"k < 0", model.Spec{Kind: model.Sum, D: 2, K: -1, Signs: nil}},
		{"d = 0", model.Spec{Kind: model.Sum, D: 0, K: 1, Signs: []float64{1}}},
		{"bias only", model.Spec{Kind: model.Sum, D: 1, K: 1, Signs: []float64{1}, Bias: true}},
		{"resnet k != d", model.Spec{Kind: model.ResNet, D: 3, K: 2, Signs: []float64{1, 1}}},
		{"resnet bias k != d", model.Spec{Kind: model.ResNet, D: 3, K: 3, Signs: []float64{1, 1, 1}, Bias: true}},
		{"relu k != 1", model.Spec{Kind: model.ReLU, D: 3, K: 2, Signs: []float64{1, 1}}},
		{"too few signs", model.Spec{Kind: model.Sum, D: 3, K: 2, Signs: []float64{1}}},
		{"sign 0.5", model.Spec{Kind: model.Sum, D: 3, K: 2, Signs: []float64{1, 0.5}}},
		{"sign 0", model.Spec{Kind: model.Sum, D: 3, K: 2, Signs: []float64{0, 1}}},
		{"sign NaN", model.Spec{Kind: model.Sum, D: 3, K: 2, Signs: []float64{1, math.NaN()}}},
	}
	for _, c := range bad {
		err := c.spec.Validate()
		if !errors.Is(err, model.ErrSpec) {
			t.Errorf("%s: err = %v, want ErrSpec", c.name, err)
		}
	}
	if _, err := model.ParseKind("relu"); err != nil {
		t.Error(err)
	}
	if _, err := model.ParseKind("ReLU"); !errors.Is(err, model.ErrSpec) {
		t.Errorf("ParseKind(ReLU) = %v, want ErrSpec", err)
	}
}

func TestMakeSigns(t *testing.T) {
	v, err := model.MakeSigns("alternate", 3)
	if err != nil || len(v) != 3 || v[0] != 1 || v[1] != -1 || v[2] != 1 {
		t.Errorf("alternate: %v, %v", v, err)
	}
	v, err = model.MakeSigns("ones", 2)
	if err != nil || len(v) != 2 || v[0] != 1 || v[1] != 1 {
		t.Errorf("ones: %v, %v", v, err)
	}
	if _, err := model.MakeSigns("random", 2); !errors.Is(err, model.ErrSpec) {
		t.Errorf("unknown signs: err = %v, want ErrSpec", err)
	}
}
