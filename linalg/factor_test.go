package linalg

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestFactorMatchesDense: FactorPacked, Solve, InvDiag and PackedMulVec
// against gonum's dense inverse and product, across orders around the
// blocked factorization's panel and parallel sizes; an indefinite matrix
// is reported.
func TestFactorMatchesDense(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, m := range []int{1, 3, 47, 48, 49, 100, 230} {
		b := mat.NewDense(m+5, m, nil)
		for i := 0; i < m+5; i++ {
			for j := 0; j < m; j++ {
				b.Set(i, j, rng.NormFloat64())
			}
		}
		var a mat.SymDense
		a.SymOuterK(1, b.T())
		g := make([]float64, PackedLen(m))
		full := make([]float64, m*m)
		for i := 0; i < m; i++ {
			for j := 0; j < m; j++ {
				full[i*m+j] = a.At(i, j)
			}
		}
		PackUpper(g, full, m)
		diag, x, sel := make([]float64, m), make([]float64, m), make([]bool, m)
		for i := range diag {
			diag[i], x[i], sel[i] = rng.Float64(), rng.NormFloat64(), i%3 != 0
		}
		// Dense reference: A + diag.
		ad := mat.NewDense(m, m, nil)
		for i := 0; i < m; i++ {
			for j := 0; j < m; j++ {
				ad.Set(i, j, a.At(i, j))
			}
			ad.Set(i, i, ad.At(i, i)+diag[i])
		}
		var inv mat.Dense
		if err := inv.Inverse(ad); err != nil {
			t.Fatal(err)
		}
		var want mat.VecDense
		want.MulVec(&inv, mat.NewVecDense(m, x))
		var wantTr float64
		for i, on := range sel {
			if on {
				wantTr += inv.At(i, i)
			}
		}
		var f Factor
		if !f.FactorPacked(g, m, diag) {
			t.Fatalf("m = %d: not positive definite", m)
		}
		got := append([]float64(nil), x...)
		f.Solve(got)
		for i := range got {
			if math.Abs(got[i]-want.AtVec(i)) > 1e-8*(1+math.Abs(want.AtVec(i))) {
				t.Fatalf("m = %d: solution %d is %v, want %v", m, i, got[i], want.AtVec(i))
			}
		}
		tr, ok := f.InvDiag(sel)
		if !ok || math.Abs(tr-wantTr) > 1e-8*math.Abs(wantTr) {
			t.Fatalf("m = %d: trace of the selected inverse %v (%v), want %v", m, tr, ok, wantTr)
		}
		y := make([]float64, m)
		PackedMulVec(y, g, x, m)
		var yw mat.VecDense
		yw.MulVec(&a, mat.NewVecDense(m, x))
		for i := range y {
			if math.Abs(y[i]-yw.AtVec(i)) > 1e-12*(1+math.Abs(yw.AtVec(i)))*float64(m) {
				t.Fatalf("m = %d: G x [%d] = %v, want %v", m, i, y[i], yw.AtVec(i))
			}
		}
		// Indefinite: -A.
		neg := make([]float64, len(g))
		for i, v := range g {
			neg[i] = -v
		}
		if f.FactorPacked(neg, m, nil) {
			t.Fatalf("m = %d: -A factored", m)
		}
	}
}
