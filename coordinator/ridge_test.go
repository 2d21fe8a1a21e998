package coordinator

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"gonum.org/v1/gonum/mat"

	"altmin/linalg"
)

// TestRidgeGCVMatchesHatMatrix: the GCV score computed from the normal
// equations equals n RSS / (n - tr H)^2 with the hat matrix
// H = B (B'B + alpha n P)^-1 B' and the residuals of the penalized fit,
// computed from the design matrix itself; with a center, too.
func TestRidgeGCVMatchesHatMatrix(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, m = 40, 6
	b := mat.NewDense(n, m, nil)
	y := mat.NewVecDense(n, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < m; j++ {
			b.Set(i, j, rng.NormFloat64())
		}
		y.SetVec(i, rng.NormFloat64())
	}
	pen := []bool{true, true, true, true, false, false}
	var g mat.Dense
	g.Mul(b.T(), b)
	var r mat.VecDense
	r.MulVec(b.T(), y)
	gp := make([]float64, linalg.PackedLen(m))
	linalg.PackUpper(gp, g.RawMatrix().Data, m)
	for _, center := range [][]float64{nil, {0.5, -1, 0, 2, 0, 0}} {
		sys := &ridgeSystem{g: gp, r: r.RawVector().Data, yy: mat.Dot(y, y), n: n, m: m, pen: pen, center: center}
		for _, alpha := range []float64{0, 1e-3, 0.1, 3} {
			// Naive: A = G + alpha n P, w = A^-1 (r + alpha n P c), H = B A^-1 B'.
			a := mat.NewDense(m, m, nil)
			a.Copy(&g)
			rhs := mat.VecDenseCopyOf(&r)
			for j, p := range pen {
				if p {
					a.Set(j, j, a.At(j, j)+alpha*n)
					if center != nil {
						rhs.SetVec(j, rhs.AtVec(j)+alpha*n*center[j])
					}
				}
			}
			var ainv mat.Dense
			if err := ainv.Inverse(a); err != nil {
				t.Fatal(err)
			}
			var w, fit, res mat.VecDense
			w.MulVec(&ainv, rhs)
			fit.MulVec(b, &w)
			res.SubVec(y, &fit)
			var h, tmp mat.Dense
			tmp.Mul(b, &ainv)
			h.Mul(&tmp, b.T())
			want := n * mat.Dot(&res, &res) / math.Pow(n-mat.Trace(&h), 2)
			got := sys.gcv(alpha)
			if math.Abs(got-want) > 1e-9*want {
				t.Errorf("center %v, alpha %v: gcv %v, hat matrix %v", center, alpha, got, want)
			}
		}
	}
}

// TestRidgeGCVUnscorable: more unknowns than rows without a penalty (df >=
// n) and a matrix that is not positive definite cannot be scored.
func TestRidgeGCVUnscorable(t *testing.T) {
	const m = 3
	g := make([]float64, linalg.PackedLen(m)) // G = I, two rows
	for j := 0; j < m; j++ {
		g[linalg.PackedIndex(m, j, j)] = 1
	}
	sys := &ridgeSystem{g: g, r: []float64{1, 1, 1}, yy: 5, n: 2, m: m, pen: []bool{true, true, true}}
	if v := sys.gcv(0); !math.IsInf(v, 1) {
		t.Errorf("df = 3 >= n = 2: gcv %v, want +Inf", v)
	}
	if v := sys.gcv(10); math.IsInf(v, 1) || math.IsNaN(v) {
		t.Errorf("a large penalty brings df below n: gcv %v", v)
	}
	g[linalg.PackedIndex(m, 0, 1)] = 5 // indefinite
	if v := sys.gcv(0); !math.IsInf(v, 1) {
		t.Errorf("indefinite matrix: gcv %v, want +Inf", v)
	}
	if a := sys.choose([]float64{0}); a != 0 {
		t.Errorf("choose with nothing scorable = %v, want the first candidate", a)
	}
}

// TestRidgeCandidates: the first selection spans the grid down to
// SelectMin and 0; later ones never raise the penalty.
func TestRidgeCandidates(t *testing.T) {
	r := DefaultRidge()
	first := r.candidates(0, true)
	if len(first) != 9 || first[0] != 10 || first[len(first)-1] != 0 || math.Abs(first[len(first)-2]-SelectMin)/SelectMin > 1e-9 {
		t.Errorf("first grid %v", first)
	}
	if got := r.candidates(0.1, false); len(got) != 2 || got[0] != 0.1 || math.Abs(got[1]-0.1/sqrt10) > 1e-15 {
		t.Errorf("after 0.1: %v", got)
	}
	if got := r.candidates(SelectMin, false); !slices.Equal(got, []float64{SelectMin, 0}) {
		t.Errorf("after SelectMin: %v", got)
	}
	if got := r.candidates(0, false); !slices.Equal(got, []float64{0}) {
		t.Errorf("after 0: %v", got)
	}
	if got := (&Ridge{Alpha: 0.3}).candidates(0, true); !slices.Equal(got, []float64{0.3}) {
		t.Errorf("fixed penalty: %v", got)
	}
	for _, bad := range []*Ridge{{Alpha: -1}, {Alpha: math.NaN()}, {Alpha: math.Inf(1)}} {
		if bad.validate(DefaultDamping()) == nil {
			t.Errorf("%+v accepted", *bad)
		}
	}
	if DefaultRidge().validate(nil) == nil {
		t.Error("a penalty without damping accepted")
	}
}

// TestJudgeByObjective: candidates are judged by loss + alpha * penalty,
// with the alpha in force, and a lower alpha lowers the bar's objective.
func TestJudgeByObjective(t *testing.T) {
	d := DescentState{cfg: DefaultDamping(), Alpha: 0.1}
	if ok, _ := d.judge(1, 1); !ok { // first: accepted, objective 1.1
		t.Fatal("first weights rejected")
	}
	if ok, _ := d.judge(0.9, 3); ok { // 1.2 > 1.1
		t.Error("a lower loss with a larger objective accepted")
	}
	if ok, _ := d.judge(1.05, 0.2); !ok { // 1.07 <= 1.1
		t.Error("a higher loss with a lower objective rejected")
	}
	d.Alpha = 0 // objective of the accepted: 1.05
	if ok, _ := d.judge(1.06, 0); ok {
		t.Error("objective 1.06 accepted over 1.05")
	}
}
