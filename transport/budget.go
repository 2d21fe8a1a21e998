package transport

import (
	"context"
	"fmt"
	"sync"
	"time"

	"altmin/linalg"
	"altmin/msg"
)

// Bounds of the replies a shard has in flight. A reply's buffers live from
// the start of its computation until its last chunk is sent, so a client
// that opens many Compute streams and reads none to the end would
// otherwise make the shard hold every reply at once.
const (
	// DefaultReplyBudget is the bytes of replies a shard holds at once
	// when not told otherwise (--reply-budget): 1 GiB, about 4 times the
	// largest partial the limits allow (the packed Gram matrix of MaxM
	// unknowns, 268 MB).
	DefaultReplyBudget = 1 << 30
	// DefaultSendTimeout is the longest a shard waits for a client to take
	// one chunk of a reply (--send-timeout) before it cancels the stream
	// and frees the reply's buffers: generous, since a chunk is 1 MiB.
	DefaultSendTimeout = 2 * time.Minute
)

// ReplyBytes returns an upper bound of the bytes of the reply to req: the
// payload of its partial, whose size the request determines (the rows a
// Summary samples are bounded by req.Samples).
func ReplyBytes(req msg.Request) int64 {
	var n int64
	switch r := req.(type) {
	case *msg.StatsRequest:
		m := int64(len(r.U))
		n = m + int64(linalg.PackedLen(int(m)))
	case *msg.DeepRequest:
		for _, layers := range r.Systems() {
			m := r.Unknowns(layers)
			n += int64(m) + int64(linalg.PackedLen(m))
		}
	case *msg.Moments12Request:
		n = 2 * int64(r.D)
		if r.Order == 2 {
			n += int64(linalg.PackedLen(r.D))
		}
	case *msg.Moment4Request:
		n = int64(msg.Sym4Len(r.K))
	case *msg.SummaryRequest:
		c := int64(r.D) + 1
		n = 2*c + int64(r.Samples)*(c+1)
	}
	return 8*n + 1024 // and the header
}

// budget is a counting semaphore of reply bytes: a computation reserves
// its reply's bytes before it starts and gives them back once the reply
// is sent or abandoned.
type budget struct {
	mu    sync.Mutex
	total int64
	used  int64
	freed chan struct{} // closed and replaced whenever bytes are given back

	// For tests: the most bytes ever reserved at once, and the
	// reservations waiting.
	peak    int64
	waiting int
}

func newBudget(total int64) *budget {
	return &budget{total: total, freed: make(chan struct{})}
}

// acquire reserves n bytes, waiting while they would exceed the budget
// (back-pressure), until ctx is done. A reservation larger than the whole
// budget is refused at once (msg.ErrTooLarge).
func (b *budget) acquire(ctx context.Context, n int64) error {
	if n > b.total {
		return fmt.Errorf("%w: the reply takes %d bytes, more than the shard's whole reply budget of %d bytes (--reply-budget)", msg.ErrTooLarge, n, b.total)
	}
	for {
		b.mu.Lock()
		if b.used+n <= b.total {
			b.used += n
			b.peak = max(b.peak, b.used)
			b.mu.Unlock()
			return nil
		}
		freed := b.freed
		b.waiting++
		b.mu.Unlock()
		select {
		case <-ctx.Done():
			b.mu.Lock()
			b.waiting--
			b.mu.Unlock()
			return ctx.Err()
		case <-freed:
		}
		b.mu.Lock()
		b.waiting--
		b.mu.Unlock()
	}
}

// release gives back n bytes reserved by acquire.
func (b *budget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	close(b.freed)
	b.freed = make(chan struct{})
	b.mu.Unlock()
}

// state returns the bytes reserved, the most ever reserved at once and
// the reservations waiting.
func (b *budget) state() (used, peak int64, waiting int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used, b.peak, b.waiting
}
