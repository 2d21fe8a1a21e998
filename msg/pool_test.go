package msg

import "testing"

func TestPoolReuseAndBounds(t *testing.T) {
	p := NewPool()
	a := make([]float64, 10)
	p.Put(a)
	if b := p.Get(9); &b[0] == &a[0] {
		t.Fatal("asked for 9 values, got the buffer of 10")
	}
	if b := p.Get(10); len(b) != 10 || &b[0] != &a[0] {
		t.Fatal("the released buffer of 10 values was not reused")
	}
	if b := p.Get(10); &b[0] == &a[0] {
		t.Fatal("one buffer handed out twice")
	}

	// Count bound: the oldest buffers go first.
	var first []float64
	for i := 0; i < DefaultPoolBuffers+5; i++ {
		b := make([]float64, 1)
		if i == 0 {
			first = b
		}
		p.Put(b)
	}
	if n, bytes := p.Idle(); n != DefaultPoolBuffers || bytes != 8*DefaultPoolBuffers {
		t.Fatalf("%d buffers, %d bytes kept; want %d, %d", n, bytes, DefaultPoolBuffers, 8*DefaultPoolBuffers)
	}
	for _, b := range p.bufs {
		if &b[0] == &first[0] {
			t.Fatal("the oldest buffer was kept over the count bound")
		}
	}

	// Byte bound: a buffer over the bound is not kept; one that fits
	// displaces older ones until the total fits.
	p.Put(make([]float64, DefaultPoolBytes/8+1))
	if _, bytes := p.Idle(); bytes != 8*DefaultPoolBuffers {
		t.Fatalf("a buffer larger than the bound was kept: %d bytes", bytes)
	}
	big := make([]float64, DefaultPoolBytes/8-2)
	p.Put(big)
	if n, bytes := p.Idle(); bytes > DefaultPoolBytes || n != 3 {
		t.Fatalf("%d bytes in %d buffers kept, bound %d", bytes, n, DefaultPoolBytes)
	}
	if b := p.Get(len(big)); &b[0] != &big[0] {
		t.Fatal("the big buffer was not kept")
	}
}

func TestStatsRelease(t *testing.T) {
	p := NewPool()
	s := &Stats{Gram: p.Get(12345)}
	g := s.Gram
	s.Release(p)
	if s.Gram != nil {
		t.Fatal("Release left s.Gram set")
	}
	s.Release(p) // a second release does nothing
	(*Stats)(nil).Release(p)
	if b := p.Get(12345); &b[0] != &g[0] {
		t.Fatal("Get did not reuse the released buffer")
	}
	if b := p.Get(12345); &b[0] == &g[0] {
		t.Fatal("a released buffer was handed out twice")
	}
}

func TestPoolDropsPartialSlices(t *testing.T) {
	p := NewPool()
	big := make([]float64, 100)
	p.Put(big[:50]) // the rest of big may be in use
	if n, _ := p.Idle(); n != 0 {
		t.Fatal("kept a slice that does not span its array")
	}
}

func TestNilPool(t *testing.T) {
	var p *Pool
	b := p.Get(5)
	if len(b) != 5 {
		t.Fatalf("nil pool: Get(5) gave %d values", len(b))
	}
	p.Put(b) // dropped
	if n, _ := p.Idle(); n != 0 {
		t.Fatal("a nil pool keeps buffers")
	}
}
