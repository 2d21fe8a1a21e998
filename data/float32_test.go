package data_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"altmin/data"
)

// TestSyntheticFloat32 checks the dtype=float32 option of planted data:
// features are float32 values, labels are the teacher's outputs on them,
// rows agree with the float64 draw up to that rounding, and the data have
// their own fingerprint, which the float32 view leaves unchanged.
func TestSyntheticFloat32(t *testing.T) {
	const spec = "model=sum,d=7,k=3,n=200,seed=9"
	g64, err := data.ParseSynthetic(spec)
	if err != nil {
		t.Fatal(err)
	}
	g32, err := data.ParseSynthetic(spec + ",dtype=float32")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(g32.String(), "dtype=float32") || strings.Contains(g64.String(), "dtype") {
		t.Errorf("specifications %q, %q", g64.String(), g32.String())
	}
	n, d := 200, 7
	x64, y64 := make([]float64, n*d), make([]float64, n)
	x32, y32 := make([]float64, n*d), make([]float64, n)
	if err := g64.Read(0, n, x64, y64); err != nil {
		t.Fatal(err)
	}
	if err := g32.Read(0, n, x32, y32); err != nil {
		t.Fatal(err)
	}
	for i, v := range x32 {
		if v != float64(float32(x64[i])) {
			t.Fatalf("feature %d: %v, want float32(%v)", i, v, x64[i])
		}
	}
	spec32, w := g32.Teacher()
	want := make([]float64, n)
	spec32.Predict(want, x32, w)
	if !slices.Equal(y32, want) {
		t.Fatal("labels are not the teacher's outputs on the rounded features")
	}
	fp := func(src data.Source) string {
		s, err := data.Fingerprint(src)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if fp(g32) == fp(g64) {
		t.Error("dtype=float32 data have the fingerprint of the float64 data")
	}
	if fp(data.Float32(g32)) != fp(g32) {
		t.Error("the float32 view changed float32 data")
	}
	if fp(data.Float32(g64)) == fp(g64) {
		t.Error("the float32 view left float64 normals unchanged")
	}
	if _, err := data.ParseSynthetic(spec + ",dtype=float16"); !errors.Is(err, data.ErrSynthetic) {
		t.Errorf("dtype=float16: %v, want ErrSynthetic", err)
	}
}

// TestFloat32View rounds features (labels unchanged), names the view in
// its description and refuses values beyond the float32 range.
func TestFloat32View(t *testing.T) {
	g, err := data.ParseSynthetic("model=relu,d=3,n=20,seed=2")
	if err != nil {
		t.Fatal(err)
	}
	v := data.Float32(g)
	if data.Float32(v) != v || !strings.HasSuffix(v.Info().Desc, "(features rounded to float32)") {
		t.Errorf("view %q", v.Info().Desc)
	}
	x, y := make([]float64, 30), make([]float64, 10)
	xv, yv := make([]float64, 30), make([]float64, 10)
	if err := g.Read(5, 15, x, y); err != nil {
		t.Fatal(err)
	}
	if err := v.Read(5, 15, xv, yv); err != nil {
		t.Fatal(err)
	}
	for i := range x {
		if xv[i] != float64(float32(x[i])) {
			t.Fatalf("feature %d: %v, want %v", i, xv[i], float32(x[i]))
		}
	}
	if !slices.Equal(y, yv) {
		t.Error("the view changed the labels")
	}
	big := []float64{1, 2, 3, 4e38}
	err = data.RoundFloat32(big, 2, 10)
	if !errors.Is(err, data.ErrFloat32Range) || !strings.Contains(err.Error(), "feature 1 of row 11") {
		t.Errorf("4e38: %v, want ErrFloat32Range naming feature 1 of row 11", err)
	}
}

// A planted teacher too large to draw is refused before any allocation.
func TestSyntheticTooLarge(t *testing.T) {
	for _, spec := range []string{
		"model=sum,d=99999999,k=3,n=10",
		"model=resnet,d=70000,n=10",
		"model=sum,d=5000,k=5000,n=10",
		"model=sum,d=10,k=9223372036854775807,n=10",
	} {
		if _, err := data.ParseSynthetic(spec); !errors.Is(err, data.ErrSynthetic) || !strings.Contains(err.Error(), "too large") {
			t.Errorf("%s: got %v, want a too-large error", spec, err)
		}
	}
}
