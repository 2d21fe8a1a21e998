package msg

import "sync"

// Pool recycles the buffers of Gram matrices. A partition's Gram matrix at
// m = 1000 is 4 MB; allocated fresh for every partition of every
// iteration, it costs page faults on first touch (the Go heap hands out
// new or returned pages until the next collection) that took as long as a
// third of a shard's statistics pass in a measurement with three shard
// processes (docs/PERFORMANCE.md). Whoever makes statistics (a shard
// engine, the transport's client assembling a reply) takes their buffer
// from a Pool; whoever consumes them last (the coordinator's core after its
// reduction, the transport's server after streaming them) gives it back
// with Partial.Release. A process owns its pools and passes them
// explicitly; a nil *Pool allocates and drops.
type Pool struct {
	maxBytes int64
	maxBufs  int

	mu    sync.Mutex
	bufs  [][]float64 // idle buffers, the most recently released last
	bytes int64
}

// DefaultPoolBytes and DefaultPoolBuffers bound the idle memory of
// NewPool's pools: at most one iteration's Gram matrices of the partitions
// a process computes or receives, and never more than this.
const (
	DefaultPoolBytes   = 512 << 20
	DefaultPoolBuffers = 64
)

// NewPool returns a pool keeping at most DefaultPoolBuffers idle buffers
// of DefaultPoolBytes in all.
func NewPool() *Pool {
	return &Pool{maxBytes: DefaultPoolBytes, maxBufs: DefaultPoolBuffers}
}

// Get returns a slice of n float64s: an idle buffer of exactly that size,
// else a new one. Its contents are unspecified; the caller overwrites
// every value.
func (p *Pool) Get(n int) []float64 {
	if p != nil {
		p.mu.Lock()
		defer p.mu.Unlock()
		for i := len(p.bufs) - 1; i >= 0; i-- {
			if b := p.bufs[i]; cap(b) == n {
				p.bufs = append(p.bufs[:i], p.bufs[i+1:]...)
				p.bytes -= int64(n) * 8
				return b[:n]
			}
		}
	}
	return make([]float64, n)
}

// Put keeps b for reuse, dropping the oldest buffers to stay within the
// pool's bounds; a buffer larger than the byte bound is dropped, and so is
// one that does not span its whole array (it may be part of memory still
// in use beyond it). Put it only when nothing reads b any more, and once.
func (p *Pool) Put(b []float64) {
	size := int64(cap(b)) * 8
	if p == nil || size == 0 || size > p.maxBytes || len(b) != cap(b) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	drop := 0
	for drop < len(p.bufs) && (len(p.bufs)-drop >= p.maxBufs || p.bytes+size > p.maxBytes) {
		p.bytes -= int64(cap(p.bufs[drop])) * 8
		p.bufs[drop] = nil
		drop++
	}
	p.bufs = append(p.bufs[drop:], b)
	p.bytes += size
}

// Idle returns the number of idle buffers and their bytes.
func (p *Pool) Idle() (bufs int, bytes int64) {
	if p == nil {
		return 0, 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.bufs), p.bytes
}
