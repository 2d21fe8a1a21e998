package job

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"altmin/coordinator"
	"altmin/internal/metrics"
	"altmin/msg"
	"altmin/round"
)

// What a run shows while it trains, besides its table: progress bars on a
// terminal (Options.Progress) and Prometheus metrics (Options.Metrics).
// Both only observe: they see the partials go by and the reports come
// out, and change nothing of what is fetched, in which order, or what is
// computed from it.

// bar is one progress bar; a nil *bar draws nothing.
type bar struct{ pb *progressbar.ProgressBar }

// newBar returns a bar of total units described by desc, drawn on w and
// cleared once complete; nil when w is nil or there is nothing to count.
// A unit ("rows") shows the units per second and the time left; without
// one the bar shows the count only.
func newBar(w io.Writer, desc string, total int64, unit string) *bar {
	if w == nil || total <= 0 {
		return nil
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetRenderBlankState(true), // drawn, and its clock started, now
	}
	if unit != "" {
		opts = append(opts, progressbar.OptionShowIts(), progressbar.OptionSetItsString(unit))
	} else {
		opts = append(opts, progressbar.OptionSetPredictTime(false))
	}
	return &bar{pb: progressbar.NewOptions64(total, opts...)}
}

// add counts n more units done.
func (b *bar) add(n int) {
	if b != nil && b.pb != nil {
		b.pb.Add(n)
	}
}

// end clears a bar left incomplete (one complete is cleared already); the
// bar draws nothing more.
func (b *bar) end() {
	if b == nil || b.pb == nil {
		return
	}
	if !b.pb.IsFinished() {
		b.pb.Clear()
		b.pb.Exit()
	}
	b.pb = nil
}

// roundProgress is a msg.Fetcher that passes every fetch on to the
// runtime's and draws, one round at a time, the partitions answered out
// of the round's partitions: of each iteration, and of the passes before
// the first (summary, tensor start).
type roundProgress struct {
	msg.Fetcher
	w     io.Writer
	parts int

	mu   sync.Mutex
	cur  roundKey // the round bar draws
	done int      // its partitions answered
	bar  *bar
}

// roundKey tells rounds apart: the kind and round of their request.
type roundKey struct {
	kind  msg.Kind
	round int
}

var _ round.Planner = (*roundProgress)(nil)

// Fetch implements msg.Fetcher.
func (f *roundProgress) Fetch(ctx context.Context, req msg.Request, sp msg.Span) (msg.Partial, error) {
	if req != nil {
		f.begin(roundKey{req.Kind(), req.Round()})
	}
	v, err := f.Fetcher.Fetch(ctx, req, sp)
	if err == nil {
		n := sp.Count(f.parts)
		f.mu.Lock()
		f.done += n
		f.bar.add(n)
		f.mu.Unlock()
	}
	return v, err
}

// Plan implements round.Planner as the runtime's fetcher does, if it
// does; otherwise it asks for every partition alone, as a round does for
// a fetcher without a plan.
func (f *roundProgress) Plan(missing []int, parts int) []msg.Span {
	if pl, ok := f.Fetcher.(round.Planner); ok {
		return pl.Plan(missing, parts)
	}
	return msg.Leaves(missing)
}

// begin starts the bar of round k, unless it is drawing it.
func (f *roundProgress) begin(k roundKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.bar != nil && k == f.cur && f.done < f.parts {
		return
	}
	f.bar.end()
	f.cur, f.done = k, 0
	f.bar = newBar(f.w, fmt.Sprintf("%s round %d: partitions", k.kind, k.round), int64(f.parts), "")
}

// end clears the bar of the round in progress, before the table's row of
// the round is printed, and at the end of the run.
func (f *roundProgress) end() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bar.end()
	f.bar = nil
}

// observe wraps the runtime's fetcher in a roundProgress when o draws
// progress.
func (rt *backend) observe(o Options) {
	if o.Progress != nil {
		rt.rounds = &roundProgress{Fetcher: rt.fetcher, w: o.Progress, parts: o.Partitions}
		rt.fetcher = rt.rounds
	}
}

// observedCore is a core whose accepted partials are counted, and whose
// refused ones are counted by reason in m (nil: not counted).
type observedCore struct {
	coordinator.Core
	m        *metrics.Coordinator
	partials int // accepted so far
}

// Offer implements coordinator.Core.
func (c *observedCore) Offer(p msg.Partial) error {
	err := c.Core.Offer(p)
	if err != nil {
		c.m.Refused(offerRefusal(err))
	} else {
		c.partials++
	}
	return err
}

// offerRefusal returns the reason label of a core's refusal of a partial.
func offerRefusal(err error) string {
	switch {
	case errors.Is(err, round.ErrStale):
		return metrics.ReasonStale
	case errors.Is(err, round.ErrDuplicate):
		return metrics.ReasonDuplicate
	case errors.Is(err, round.ErrUnknown):
		return metrics.ReasonUnknown
	}
	return metrics.ReasonInvalid
}

// table returns where the header and the per-iteration table go: out, or
// nowhere with Quiet.
func (o *Options) table(out io.Writer) io.Writer {
	if o.Quiet {
		return io.Discard
	}
	return out
}
