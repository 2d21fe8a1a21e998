package data

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"altmin/model"
)

// TestTeacherTooLarge: widths whose weights would not fit in memory (or
// whose product overflows int) are refused with ErrSynthetic before anything
// is allocated, rather than crashing the process (out of memory, or a
// makeslice panic).
func TestTeacherTooLarge(t *testing.T) {
	for spec, msg := range map[string]string{
		"model=deep,d=5,hidden=99999-99999,n=10":           "more than 16777216 weights",
		"model=deep,d=5,hidden=3-4611686018427387904,n=10": "at most 16777216 supported",
		"model=deep,d=3037000500,hidden=3037000500-2,n=10": "at most 16777216 supported",
		"model=deep,d=4096,hidden=4096-4096,n=10":          "more than 16777216 weights",
		"model=deep,d=5,hidden=16777216-1,n=10":            "more than 16777216 weights",
	} {
		if _, err := ParseDeepTeacher(spec); !errors.Is(err, ErrSynthetic) || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v, want ErrSynthetic with %q", spec, err, msg)
		}
	}
}

// TestTeacherRows: the rows do not depend on how they are read (one range
// or pieces, as partitions read them), and held-out rows are new rows.
func TestTeacherRows(t *testing.T) {
	tch, err := NewDeepTeacher(300, []int{5, 4, 2}, 9, "alternate")
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
	var fw model.Pass
	fw.Init(net)
	active := make([]int, net.Dims[2])
	for i := 0; i < 300; i++ {
		fw.Run(net, x[i*d:(i+1)*d])
		for q, z := range fw.Z[2] {
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
	if _, err := NewDeepTeacher(10, []int{5}, 1, "ones"); err == nil {
		t.Error("teacher without a hidden layer accepted")
	}
	if _, err := NewDeepTeacher(10, []int{5, 2}, 1, "random"); err == nil {
		t.Error("unknown signs accepted")
	}
}

// TestParseTeacher: the specification round-trips through Spec, and bad
// ones are refused naming the key.
func TestParseTeacher(t *testing.T) {
	tch, err := ParseDeepTeacher("model=deep,d=7,hidden=5-3-2,n=100,seed=9,signs=ones")
	if err != nil {
		t.Fatal(err)
	}
	want, err := NewDeepTeacher(100, []int{7, 5, 3, 2}, 9, "ones")
	if err != nil {
		t.Fatal(err)
	}
	got, wnet := tch.Net(), want.Net()
	same := slices.Equal(got.Dims, wnet.Dims) && slices.Equal(got.V, wnet.V) && len(got.W) == len(wnet.W)
	for l := 0; same && l < len(got.W); l++ {
		same = slices.Equal(got.W[l], wnet.W[l])
	}
	if !same || tch.Spec() != "model=deep,d=7,hidden=5-3-2,n=100,seed=9,signs=ones" {
		t.Errorf("parsed %s, want the teacher of NewDeepTeacher", tch.Spec())
	}
	again, err := ParseDeepTeacher(tch.Spec())
	if err != nil || again.Spec() != tch.Spec() {
		t.Errorf("round trip: %v, %v", again, err)
	}
	def, err := ParseDeepTeacher("model=deep,d=3,hidden=2-2,n=5")
	if err != nil || def.Seed != 1 || def.Signs != "alternate" {
		t.Errorf("defaults: %v, %v", def, err)
	}
	if !IsDeepSpec("d=3, model=deep ,n=4") || IsDeepSpec("model=sum,d=3,k=2,n=4") || IsDeepSpec("") {
		t.Error("IsDeepSpec")
	}
	for spec, msg := range map[string]string{
		"model=sum,d=3,hidden=2-2,n=5":        "model must be deep",
		"model=deep,d=0,hidden=2-2,n=5":       "d must be a positive integer",
		"model=deep,d=3,hidden=2-0,n=5":       "every hidden width must be a positive integer",
		"model=deep,d=3,hidden=2,n=5,x":       `"x" is not key=value`,
		"model=deep,d=3,n=5":                  "needs model=deep, d, hidden",
		"model=deep,d=3,hidden=2,seed=-1,n=5": "seed=-1",
	} {
		if _, err := ParseDeepTeacher(spec); !errors.Is(err, ErrSynthetic) || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v, want ErrSynthetic with %q", spec, err, msg)
		}
	}
}
