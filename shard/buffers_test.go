package shard

import "testing"

func TestFreeListReuseAndBounds(t *testing.T) {
	var f freeList
	if b := f.get(10); b != nil {
		t.Fatalf("empty list gave a buffer of %d", len(b))
	}
	a := make([]float64, 10)
	f.put(a)
	if b := f.get(9); b != nil {
		t.Fatalf("asked for 9 values, got a buffer of %d", cap(b))
	}
	if b := f.get(10); len(b) != 10 || &b[0] != &a[0] {
		t.Fatal("the released buffer of 10 values was not reused")
	}
	if b := f.get(10); b != nil {
		t.Fatal("one buffer handed out twice")
	}

	// Count bound: the oldest buffers go first.
	var first []float64
	for i := 0; i < maxFree+5; i++ {
		b := make([]float64, 1)
		if i == 0 {
			first = b
		}
		f.put(b)
	}
	if len(f.bufs) != maxFree || f.bytes != 8*maxFree {
		t.Fatalf("%d buffers, %d bytes kept; want %d, %d", len(f.bufs), f.bytes, maxFree, 8*maxFree)
	}
	for _, b := range f.bufs {
		if &b[0] == &first[0] {
			t.Fatal("the oldest buffer was kept over the count bound")
		}
	}

	// Byte bound: a buffer over the bound is not kept; one that fits
	// displaces older ones until the total fits.
	f.put(make([]float64, maxFreeBytes/8+1))
	if f.bytes != 8*maxFree {
		t.Fatalf("a buffer larger than the bound was kept: %d bytes", f.bytes)
	}
	big := make([]float64, maxFreeBytes/8-2)
	f.put(big)
	if f.bytes > maxFreeBytes || len(f.bufs) != 3 {
		t.Fatalf("%d bytes in %d buffers kept, bound %d", f.bytes, len(f.bufs), maxFreeBytes)
	}
	if b := f.get(len(big)); len(b) != len(big) {
		t.Fatal("the big buffer was not kept")
	}
}

func TestStatsRelease(t *testing.T) {
	s := &Stats{Gram: GramBuffer(12345)}
	g := s.Gram
	s.Release()
	if s.Gram != nil {
		t.Fatal("Release left s.Gram set")
	}
	s.Release() // a second release does nothing
	(*Stats)(nil).Release()
	if b := GramBuffer(12345); &b[0] != &g[0] {
		t.Fatal("GramBuffer did not reuse the released buffer")
	}
	if b := GramBuffer(12345); &b[0] == &g[0] {
		t.Fatal("a released buffer was handed out twice")
	}
}

func TestFreeListDropsPartialSlices(t *testing.T) {
	var f freeList
	big := make([]float64, 100)
	f.put(big[:50]) // the rest of big may be in use
	if len(f.bufs) != 0 {
		t.Fatal("kept a slice that does not span its array")
	}
}
