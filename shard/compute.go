package shard

import (
	"altmin/msg"
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"altmin/linalg"
)

// Partition is one partition's rows, held in memory. Its features are held
// in X (float64 storage) or in X32 (float32 storage), never both; see
// LoadAs.
type Partition struct {
	ID   int
	Lo   int // global index of the first row (a validation split is by global index)
	Rows int
	D    int       // features per row, including the bias feature
	X    []float64 // Rows x D, row-major; nil with float32 storage
	X32  []float32 // Rows x D, row-major, with float32 storage; else nil
	Y    []float64 // Rows
}

// rows returns rows lo..hi-1 for the kernels of package linalg, read
// through the standardization t (nil: none).
func (p *Partition) rows(lo, hi int, t *msg.Affine) linalg.Rows {
	d := p.D
	x := linalg.Rows{D: d}
	if p.X32 != nil {
		x.F32 = p.X32[lo*d : hi*d]
	} else {
		x.F64 = p.X[lo*d : hi*d]
	}
	if t != nil {
		x.Shift, x.Scale = t.XShift, t.XScale
	}
	return x
}

// row returns row i's features and label through the standardization t
// (nil: none): a slice of X, or buf (room for D values) holding the row
// converted from float32 and standardized. The result must not be
// modified.
func (p *Partition) row(i int, buf []float64, t *msg.Affine) ([]float64, float64) {
	x := p.Row(i, buf)
	if t != nil {
		x = buf[:copy(buf[:p.D], x)]
		t.Row(x)
	}
	return x, t.Label(p.Y[i])
}

// labels returns the partition's labels through the standardization t:
// p.Y itself, or buf (grown) holding them standardized.
func (p *Partition) labels(t *msg.Affine, buf []float64) []float64 {
	if t == nil {
		return p.Y
	}
	buf = grow(buf, p.Rows)
	for i, y := range p.Y {
		buf[i] = t.Label(y)
	}
	return buf
}

// Engine computes statistics for the partitions it serves. It is safe for
// concurrent use; calls for one partition are serialized.
//
// An engine made by NewEngine holds its partitions' rows in memory; one made
// by NewStreamingEngine reads them from the data source when a computation
// needs them and holds at most a configured number at once (see
// stream.go). Both compute the same bits.
type Engine struct {
	slots map[int]*slot
	ids   []int
	total int           // partitions of the data set, P; 0: unknown (see SetPartitionCount)
	run   chan struct{} // one token per computation running; see SetParallel
	res   *residency    // nil: every partition's rows are held
	pool  *msg.Pool     // Gram buffers of the statistics; see SetPool
}

type slot struct {
	mu      sync.Mutex // serializes the partition's statistics (they keep its last patterns)
	id      int
	rows, d int
	p       *Partition // the rows; nil while a streaming engine does not hold them
	sc      *scratch   // the partition's own scratch when the rows are held (keeps its last patterns)
	pins    int        // computations using p (streaming engines; under residency.mu)
	used    uint64     // residency.tick of the last pin
	loading sync.Mutex // serializes reads of the partition's rows
}

// scratch is the working memory of one statistics computation.
type scratch struct {
	ws      linalg.StatsWorkspace
	pat     *linalg.Patterns  // scratch for the patterns of the request
	lastU   []float64         // weights whose patterns are in last; nil when last holds none
	lastReq *msg.StatsRequest // the request of lastU, for its settings
	last    *linalg.Patterns
	pred    []float64 // predictions of one chunk of rows
	y       []float64 // standardized labels
	// revived holds the revived units' patterns of one chunk of rows, ones
	// their output signs (all +1, unread: no prediction is made);
	// lastRevived records that the patterns in last had revived units.
	revived     *linalg.Patterns
	ones        []float64
	lastRevived bool
}

// predChunk is the number of rows whose predictions are held at a time: the
// residual sum is accumulated chunk by chunk, in row order, so a partition
// keeps no per-row predictions.
const predChunk = 4096

// NewEngine returns an engine for the given partitions, held in memory,
// which must have distinct IDs and consistent sizes.
func NewEngine(parts ...*Partition) (*Engine, error) {
	e := newEngine()
	for _, p := range parts {
		if err := p.validate(); err != nil {
			return nil, err
		}
		if err := e.add(&slot{id: p.ID, rows: p.Rows, d: p.D, p: p, sc: new(scratch)}); err != nil {
			return nil, err
		}
	}
	slices.Sort(e.ids)
	return e, nil
}

func newEngine() *Engine {
	return &Engine{slots: make(map[int]*slot), run: make(chan struct{}, runtime.GOMAXPROCS(0))}
}

// add registers a partition's slot; IDs must be distinct. The caller sorts
// e.ids once all are added.
func (e *Engine) add(s *slot) error {
	if _, dup := e.slots[s.id]; dup {
		return fmt.Errorf("shard: partition %d given twice", s.id)
	}
	e.slots[s.id] = s
	e.ids = append(e.ids, s.id)
	return nil
}

// SetParallel bounds the computations that run at once (Fetch, and
// whatever runs under Acquire or Use, over all partitions) to n, at least 1; further calls wait their turn.
// NewEngine sets GOMAXPROCS: a shard holding more partitions than cores,
// asked for all of them at once (as the coordinator of a cluster does),
// computes them a core's worth at a time instead of thrashing the caches
// with all of them. A streaming engine computes at most as many partitions
// at once as it may hold. Call it before the engine is used, not
// concurrently with its other methods.
func (e *Engine) SetParallel(n int) {
	n = max(n, 1)
	if e.res != nil {
		n = min(n, e.res.max)
	}
	e.run = make(chan struct{}, n)
}

// SetPool makes the engine take the Gram buffers of the statistics it
// computes from pool (nil: allocate each), for whoever consumes them last
// to give back (msg.Partial.Release). Call it before the engine is used.
func (e *Engine) SetPool(pool *msg.Pool) { e.pool = pool }

// Pool returns the engine's pool of Gram buffers (see SetPool).
func (e *Engine) Pool() *msg.Pool { return e.pool }

// Acquire takes a computation token (see SetParallel), waiting until one
// is free or ctx is done, and returns the function that gives it back.
func (e *Engine) Acquire(ctx context.Context) (release func(), err error) {
	ch := e.run
	select {
	case ch <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := ctx.Err(); err != nil { // both were ready: do not start
		<-ch
		return nil, err
	}
	return func() { <-ch }, nil
}

// SetPartitionCount tells the engine the number of partitions P of the
// data set, which it needs to serve spans of several partitions (they are
// nodes of the reduction tree of P partitions, msg.Span). Without it the
// engine serves single partitions only. Call it before the engine is used.
func (e *Engine) SetPartitionCount(p int) { e.total = p }

// Partitions returns the IDs of the partitions served, ascending.
func (e *Engine) Partitions() []int { return slices.Clone(e.ids) }

// Shape returns the rows and the features per row (bias included) of
// partition id, and whether the engine serves it, without reading its rows.
func (e *Engine) Shape(id int) (rows, d int, ok bool) {
	s := e.slots[id]
	if s == nil {
		return 0, 0, false
	}
	return s.rows, s.d, true
}

// Partition returns the partition with the given ID held in memory by an
// engine made by NewEngine, or nil: for a partition not served, and for
// every partition of a streaming engine (see Use).
func (e *Engine) Partition(id int) *Partition {
	if s := e.slots[id]; s != nil && e.res == nil {
		return s.p
	}
	return nil
}

// Use runs fn with partition id's rows under a computation token, waiting
// for one as Acquire does; a streaming engine reads the rows if it does not
// hold them, and keeps them while fn runs. fn must not keep p. It returns
// fn's error, msg.ErrNoPartition, ctx's error while waiting, or the error
// of reading the rows.
func (e *Engine) Use(ctx context.Context, id int, fn func(p *Partition) error) error {
	s := e.slots[id]
	if s == nil {
		return fmt.Errorf("%w: %d", msg.ErrNoPartition, id)
	}
	p, done, err := e.hold(ctx, s)
	if err != nil {
		return err
	}
	defer done()
	return fn(p)
}

// hold takes a computation token (waiting as Acquire does) and then s's
// rows (pin); done gives both back.
func (e *Engine) hold(ctx context.Context, s *slot) (p *Partition, done func(), err error) {
	release, err := e.Acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	if p, err = e.pin(s); err != nil {
		release()
		return nil, nil, err
	}
	return p, func() { e.unpin(s); release() }, nil
}

// Fetch implements msg.Fetcher: the partial for req, of any kind, of the
// span sp, a node of the reduction tree of the data set's partitions
// (SetPartitionCount) all of which the engine holds: one partition's
// partial, or the sum of the span's partials computed concurrently (each
// under a computation token, SetParallel) and added in the tree's order
// (msg.Tree) as they end, which is the same bits as the coordinator's own
// sum of them. It gives up with ctx's error once ctx is done. Requests are
// checked (Validate, and the partitions' width against req.Features())
// before anything of their size is allocated.
func (e *Engine) Fetch(ctx context.Context, req msg.Request, sp msg.Span) (msg.Partial, error) {
	if sp.N == 1 {
		return e.fetch(ctx, req, sp.Lo)
	}
	switch {
	case e.total == 0:
		return nil, fmt.Errorf("%w: %s: this engine serves single partitions only (the data set's partition count is not set)", msg.ErrNoPartition, sp)
	case sp.Check(e.total) != nil:
		return nil, fmt.Errorf("%w: %v", msg.ErrRequest, sp.Check(e.total))
	}
	for p := sp.Lo; p < sp.End(e.total); p++ {
		if e.slots[p] == nil {
			return nil, fmt.Errorf("%w: %s: partition %d", msg.ErrNoPartition, sp, p)
		}
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type leaf struct {
		v   msg.Partial
		err error
	}
	// The leaves start in partition order, at most as many at once as run
	// at once, so that few wait, finished, for their siblings.
	ahead := make(chan struct{}, cap(e.run))
	done := make(chan leaf)
	go func() {
		for p := sp.Lo; p < sp.End(e.total); p++ {
			select {
			case ahead <- struct{}{}:
			case <-ctx.Done():
				done <- leaf{err: ctx.Err()}
				continue
			}
			go func() {
				v, err := e.fetch(ctx, req, p)
				<-ahead
				done <- leaf{v, err}
			}()
		}
	}()
	tree := msg.NewTree(e.total)
	var first error
	for range sp.Count(e.total) {
		l := <-done
		switch {
		case l.err != nil:
			if first == nil {
				first = l.err
				cancel()
			}
		case first == nil:
			tree.Put(l.v, req, e.pool)
		default:
			l.v.Release(e.pool)
		}
	}
	if first != nil {
		tree.Release(e.pool)
		return nil, first
	}
	return tree.Take(sp), nil
}

// fetch returns partition id's partial for req.
func (e *Engine) fetch(ctx context.Context, req msg.Request, id int) (msg.Partial, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := e.slots[id]
	if s == nil {
		return nil, fmt.Errorf("%w: %d", msg.ErrNoPartition, id)
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if f := req.Features(); f != s.d {
		return nil, fmt.Errorf("%w: request for d = %d, partition %d has d = %d", msg.ErrRequest, f, id, s.d)
	}
	switch r := req.(type) {
	case *msg.StatsRequest:
		return partial(e.stats(ctx, s, r))
	case *msg.DeepRequest:
		return partial(e.deep(ctx, s, r))
	case *msg.Moments12Request:
		return partial(e.moments12(ctx, s, r))
	case *msg.Moment4Request:
		return partial(e.moment4(ctx, s, r))
	case *msg.SummaryRequest:
		return partial(e.summary(ctx, s, r))
	}
	return nil, fmt.Errorf("%w: %s requests are not served", msg.ErrRequest, req.Kind())
}

// partial returns p as a msg.Partial, and a nil one (not a typed nil) with
// an error.
func partial[P msg.Partial](p P, err error) (msg.Partial, error) {
	if err != nil {
		return nil, err
	}
	return p, nil
}

// stats returns the statistics of slot s for req, keeping the request's
// patterns for the next iteration's flip count.
func (e *Engine) stats(ctx context.Context, s *slot, req *msg.StatsRequest) (*msg.Stats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// After the partition's lock: a token is never held waiting.
	p, done, err := e.hold(ctx, s)
	if err != nil {
		return nil, err
	}
	defer done()
	sc := s.sc
	if e.res != nil {
		// A shared scratch holds no patterns of this partition.
		sc = e.res.getScratch()
		defer e.res.putScratch(sc)
		sc.lastU = nil
	}
	return sc.compute(p, req, e.pool)
}

// compute returns the statistics of p for req, keeping the request's
// patterns in sc.last for the next request's flip count. Validation rows
// (req.Split) have their patterns cleared, so they take no part in the
// Gram matrix, the right-hand side or the flip count; their residuals go
// to the validation sums.
func (sc *scratch) compute(p *Partition, req *msg.StatsRequest, pool *msg.Pool) (*msg.Stats, error) {
	k, d := len(req.Signs), p.D
	if sc.last == nil || sc.last.Rows != p.Rows || sc.last.K != k || !sameRows(sc.lastReq, req) {
		sc.lastU = nil // last holds no patterns of these rows, units and settings
	}
	linear := 0
	if req.Linear {
		linear = 1
	}
	sc.pat = fitPatterns(sc.pat, p.Rows, k)
	sc.last = fitPatterns(sc.last, p.Rows, k)
	sc.pred = grow(sc.pred, min(p.Rows, predChunk))
	y := p.labels(req.Transform, sc.y)
	if req.Transform != nil {
		sc.y = y // p.Y otherwise, not scratch
	}
	st := &msg.Stats{Iter: req.Iter, Partition: p.ID, M: d * k, Flips: -1}
	for lo := 0; lo < p.Rows; lo += predChunk {
		hi := min(p.Rows, lo+predChunk)
		pred := sc.pred[:hi-lo]
		p.rows(lo, hi, req.Transform).Patterns(sc.pat.Slice(lo, hi), pred, req.U, req.Signs, linear)
		sc.revive(p, lo, hi, req)
		for i, yi := range y[lo:hi] {
			r := pred[i] - yi
			if req.Split.Holds(p.Lo + lo + i) {
				st.Val.Add(msg.Eval{Rows: 1, SSE: r * r, YY: yi * yi, SumY: yi})
				sc.pat.Clear(lo + i)
				continue
			}
			st.Rows++
			st.YY += yi * yi
			st.SumY += yi
			st.SSE += r * r
		}
	}
	if req.Prev != nil {
		if sc.lastU == nil || sc.lastRevived || !slices.Equal(sc.lastU, req.Prev) {
			// A second pass: a streaming engine never has the previous
			// patterns. (One pass over 2k neurons, U and Prev, was tried:
			// no measurable gain, and the prediction's sum over the Prev
			// neurons with sign 0 turns an infinite z into NaN.)
			p.rows(0, p.Rows, req.Transform).Patterns(sc.last, nil, req.Prev, req.Signs, linear)
			for i := 0; i < p.Rows && req.Split != nil; i++ {
				if req.Split.Holds(p.Lo + i) {
					sc.last.Clear(i)
				}
			}
		}
		st.Flips = sc.pat.Flips(sc.last)
	}
	st.Gram = pool.Get(linalg.PackedLen(st.M)) // overwritten by Stats
	st.R = make([]float64, st.M)
	p.rows(0, p.Rows, req.Transform).Stats(&sc.ws, st.Gram, st.R, y, sc.pat, req.Signs)

	// Keep this request's patterns for the next iteration's flip count.
	sc.pat, sc.last = sc.last, sc.pat
	sc.lastU = append(sc.lastU[:0], req.U...)
	sc.lastReq = req
	// Revived patterns are not those of U: the next flip count computes
	// the patterns of its Prev afresh, as a streaming engine does.
	sc.lastRevived = len(req.Revive) > 0
	return st, nil
}

// revive sets the patterns of the request's revived units on rows lo..hi-1
// of p (the chunk sc.pat holds them for) from their revival weights.
func (sc *scratch) revive(p *Partition, lo, hi int, req *msg.StatsRequest) {
	r := len(req.Revive)
	if r == 0 {
		return
	}
	if len(sc.ones) < r {
		sc.ones = make([]float64, r)
		for j := range sc.ones {
			sc.ones[j] = 1
		}
	}
	sc.revived = fitPatterns(sc.revived, hi-lo, r)
	p.rows(lo, hi, req.Transform).Patterns(sc.revived, nil, req.ReviveW, sc.ones[:r], 0)
	pat := sc.pat.Slice(lo, hi)
	for j, q := range req.Revive {
		pat.CopyUnit(q, sc.revived, j)
	}
}

// sameRows reports whether two requests read the rows alike: the same
// linear unit, standardization and validation split.
func sameRows(a, b *msg.StatsRequest) bool {
	if a == nil || a.Linear != b.Linear || (a.Split == nil) != (b.Split == nil) || (a.Split != nil && *a.Split != *b.Split) ||
		(a.Transform == nil) != (b.Transform == nil) {
		return false
	}
	if t, u := a.Transform, b.Transform; t != nil {
		return t.YShift == u.YShift && t.YScale == u.YScale && slices.Equal(t.XShift, u.XShift) && slices.Equal(t.XScale, u.XScale)
	}
	return true
}

// fitPatterns returns patterns for rows x k, reusing pt's memory when it is
// large enough; their bits are unspecified.
func fitPatterns(pt *linalg.Patterns, rows, k int) *linalg.Patterns {
	w := (k + 63) / 64
	if pt == nil || cap(pt.Bits) < rows*w {
		return linalg.NewPatterns(rows, k)
	}
	if pt.Rows == rows && pt.K == k {
		return pt
	}
	return &linalg.Patterns{Rows: rows, K: k, Words: w, Bits: pt.Bits[:rows*w]}
}

func grow(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}
