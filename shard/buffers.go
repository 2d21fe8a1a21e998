package shard

import "sync"

// Gram buffers are recycled. A partition's Gram matrix at m = 1000 is 4 MB;
// allocated fresh for every partition of every iteration, it costs page
// faults on first touch (the Go heap hands out new or returned pages until
// the next collection) that took as long as a third of the shard's
// statistics pass in a measurement with three shard processes (see
// docs/PERFORMANCE.md). The statistics computed by an Engine and those
// assembled by the transport's client take their Gram buffer from here,
// and whoever consumes them last (the coordinator's core after its
// reduction, the transport's server after streaming them) gives it back
// with Release.

// maxFreeBytes bounds the memory the free list keeps idle, for the life of
// the process: at most one iteration's Gram matrices of the partitions a
// process computes or receives, and never more than this.
const maxFreeBytes = 512 << 20

// maxFree bounds the number of buffers the free list keeps idle.
const maxFree = 64

var gramFree freeList

// freeList keeps idle buffers, the most recently released last.
type freeList struct {
	mu    sync.Mutex
	bufs  [][]float64
	bytes int64
}

// get returns a buffer of exactly n values from the free list, or nil.
func (f *freeList) get(n int) []float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.bufs) - 1; i >= 0; i-- {
		if b := f.bufs[i]; cap(b) == n {
			f.bufs = append(f.bufs[:i], f.bufs[i+1:]...)
			f.bytes -= int64(n) * 8
			return b[:n]
		}
	}
	return nil
}

// put keeps b for reuse, dropping the oldest buffers to stay within
// maxFree and maxFreeBytes; a buffer larger than maxFreeBytes is dropped,
// and so is one that does not span its whole array (it may be part of
// memory still in use beyond it).
func (f *freeList) put(b []float64) {
	size := int64(cap(b)) * 8
	if size == 0 || size > maxFreeBytes || len(b) != cap(b) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	drop := 0
	for drop < len(f.bufs) && (len(f.bufs)-drop >= maxFree || f.bytes+size > maxFreeBytes) {
		f.bytes -= int64(cap(f.bufs[drop])) * 8
		f.bufs[drop] = nil
		drop++
	}
	f.bufs = append(f.bufs[drop:], b)
	f.bytes += size
}

// GramBuffer returns a slice of n float64s for a Gram matrix: a buffer
// given back by Release when one of that size is free, else a new one. Its
// contents are unspecified; the caller overwrites every value.
func GramBuffer(n int) []float64 {
	if b := gramFree.get(n); b != nil {
		return b
	}
	return make([]float64, n)
}

// Release gives s's Gram buffer back for reuse by later statistics
// (GramBuffer) and clears s.Gram. Call it when nothing reads s's Gram
// values any more, and at most once: the buffer will hold another
// partition's values. Release of nil statistics, or of statistics already
// released, does nothing.
func (s *Stats) Release() {
	if s == nil || s.Gram == nil {
		return
	}
	gramFree.put(s.Gram)
	s.Gram = nil
}
