package data

import (
	"math"
	"testing"
)

func TestBounds(t *testing.T) {
	check := func(n, P int) {
		t.Helper()
		next := 0
		minSize, maxSize := n+1, -1
		for p := range P {
			lo, hi := Bounds(n, P, p)
			if lo != next || hi < lo {
				t.Fatalf("Bounds(%d, %d, %d) = [%d, %d), want lo = %d <= hi", n, P, p, lo, hi, next)
			}
			minSize, maxSize = min(minSize, hi-lo), max(maxSize, hi-lo)
			next = hi
		}
		if next != n || maxSize-minSize > 1 {
			t.Fatalf("n=%d P=%d: covered [0, %d), sizes %d..%d", n, P, next, minSize, maxSize)
		}
	}
	for n := 0; n <= 40; n++ {
		for P := 1; P <= 50; P++ {
			check(n, P)
		}
	}
	check(100_000_000, 7)
	check(100_000_007, 64)
	check(math.MaxInt64, 1000) // p*n overflows int64
	if lo, hi := Bounds(10, 4, 1); lo != 2 || hi != 5 {
		t.Errorf("Bounds(10, 4, 1) = [%d, %d), want [2, 5)", lo, hi)
	}
	for _, a := range [][3]int{{-1, 1, 0}, {5, 0, 0}, {5, 2, 2}, {5, 2, -1}} {
		if !panics(func() { Bounds(a[0], a[1], a[2]) }) {
			t.Errorf("Bounds%v did not panic", a)
		}
	}
}
