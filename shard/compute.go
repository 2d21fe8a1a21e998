package shard

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"

	"altmin/linalg"
)

// ErrRequest is wrapped by errors in a statistics request.
var ErrRequest = errors.New("shard: bad request")

// ErrNoPartition is returned for a partition this engine does not hold.
var ErrNoPartition = errors.New("shard: partition not held")

// Partition is one partition's rows, held in memory. Its features are held
// in X (float64 storage) or in X32 (float32 storage), never both; see
// LoadAs.
type Partition struct {
	ID   int
	Rows int
	D    int       // features per row, including the bias feature
	X    []float64 // Rows x D, row-major; nil with float32 storage
	X32  []float32 // Rows x D, row-major, with float32 storage; else nil
	Y    []float64 // Rows
}

// patterns computes the activation patterns of rows lo..hi-1 into pat and,
// when pred is non-nil, their predictions, from either storage.
func (p *Partition) patterns(pat *linalg.Patterns, pred []float64, lo, hi int, u, signs, z []float64) {
	d := p.D
	if p.X32 != nil {
		linalg.ComputePatterns32(pat, pred, p.X32[lo*d:hi*d], d, u, signs, z)
		return
	}
	linalg.ComputePatterns(pat, pred, p.X[lo*d:hi*d], d, u, signs, z)
}

// stats computes the partition's Gram matrix and B^T y into g and r, from
// either storage.
func (p *Partition) stats(ws *linalg.StatsWorkspace, g, r []float64, pat *linalg.Patterns, signs []float64) {
	if p.X32 != nil {
		linalg.Stats32(ws, g, r, p.X32, p.Y, p.D, pat, signs)
		return
	}
	linalg.Stats(ws, g, r, p.X, p.Y, p.D, pat, signs)
}

// Request asks for the statistics of iteration Iter.
type Request struct {
	Iter  int
	D     int       // features per row, including bias
	Signs []float64 // output signs, length k
	U     []float64 // effective weights, k x D, row-major
	Prev  []float64 // effective weights of iteration Iter-1; nil at the first
}

// Validate checks the request's internal consistency.
func (r *Request) Validate() error {
	k := len(r.Signs)
	if r.Iter < 0 {
		return fmt.Errorf("%w: negative iteration %d", ErrRequest, r.Iter)
	}
	if k < 1 || r.D < 1 {
		return fmt.Errorf("%w: d = %d, k = %d", ErrRequest, r.D, k)
	}
	if len(r.U) != k*r.D {
		return fmt.Errorf("%w: %d weights for d = %d, k = %d", ErrRequest, len(r.U), r.D, k)
	}
	if r.Prev != nil && len(r.Prev) != len(r.U) {
		return fmt.Errorf("%w: %d previous weights for d = %d, k = %d", ErrRequest, len(r.Prev), r.D, k)
	}
	for _, v := range r.Signs {
		if v != 1 && v != -1 {
			return fmt.Errorf("%w: output sign %v", ErrRequest, v)
		}
	}
	if !finite(r.U) || !finite(r.Prev) {
		return fmt.Errorf("%w: non-finite weights", ErrRequest)
	}
	return nil
}

func finite(v []float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// Stats are one partition's statistics for one iteration.
type Stats struct {
	Iter      int
	Partition int
	Rows      int
	M         int       // unknowns, d*k
	Gram      []float64 // packed upper triangle of B^T B, linalg.PackedLen(M)
	R         []float64 // B^T y, M
	YY        float64   // y^T y
	SSE       float64   // sum of squared residuals at the request's weights
	Flips     int64     // pattern bits changed since Prev; -1 when Prev is nil

	// finiteChecked records that the producer checked every value finite
	// (MarkFiniteChecked).
	finiteChecked bool
}

// Validate checks the sizes and counts (ValidateShape) and the finiteness
// of statistics received for unknowns m. The finiteness pass, a read of
// the whole Gram matrix, is skipped for statistics marked with
// MarkFiniteChecked.
func (s *Stats) Validate(m int) error {
	if err := s.ValidateShape(m); err != nil {
		return err
	}
	if !s.finiteChecked && (!finite(s.Gram) || !finite(s.R) || !finite([]float64{s.YY, s.SSE})) {
		return fmt.Errorf("partial of partition %d has NaN or Inf values", s.Partition)
	}
	return nil
}

// ValidateShape checks the sizes and counts of statistics received for
// unknowns m, not their values.
func (s *Stats) ValidateShape(m int) error {
	switch {
	case s.M != m || len(s.Gram) != linalg.PackedLen(m) || len(s.R) != m:
		return fmt.Errorf("partial of partition %d has m = %d, %d Gram and %d rhs values, want m = %d", s.Partition, s.M, len(s.Gram), len(s.R), m)
	case s.Rows < 0:
		return fmt.Errorf("partial of partition %d has %d rows", s.Partition, s.Rows)
	case s.Flips < -1:
		return fmt.Errorf("partial of partition %d has %d flips", s.Partition, s.Flips)
	}
	return nil
}

// MarkFiniteChecked records that every value of s (Gram, R, YY, SSE) was
// checked finite as s was built, as the transport's client does while it
// decodes a reply, so that Validate does not read them again. The values
// must not change afterwards; statistics computed in process are not
// marked, so Validate checks them whole.
func (s *Stats) MarkFiniteChecked() { s.finiteChecked = true }

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
	run   chan struct{} // one token per computation running; see SetParallel
	res   *residency    // nil: every partition's rows are held
}

type slot struct {
	mu      sync.Mutex // serializes ComputeContext for the partition
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
	ws    linalg.StatsWorkspace
	pat   *linalg.Patterns // scratch for the patterns of the request
	lastU []float64        // weights whose patterns are in last; nil when last holds none
	last  *linalg.Patterns
	pred  []float64 // predictions of one chunk of rows
	z     []float64
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

// SetParallel bounds the computations that run at once (Compute, Moments12,
// Moment4 and their Context forms, and whatever runs under Acquire or Use,
// over all partitions) to n, at least 1; further calls wait their turn.
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
// fn's error, ErrNoPartition, ctx's error while waiting, or the error of
// reading the rows.
func (e *Engine) Use(ctx context.Context, id int, fn func(p *Partition) error) error {
	s := e.slots[id]
	if s == nil {
		return fmt.Errorf("%w: %d", ErrNoPartition, id)
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

// Compute returns the statistics of partition id for req.
func (e *Engine) Compute(req *Request, id int) (*Stats, error) {
	return e.ComputeContext(context.Background(), req, id)
}

// ComputeContext is Compute giving up, with ctx's error, while it waits for
// a computation token (SetParallel) once ctx is done.
func (e *Engine) ComputeContext(ctx context.Context, req *Request, id int) (*Stats, error) {
	s := e.slots[id]
	if s == nil {
		return nil, fmt.Errorf("%w: %d", ErrNoPartition, id)
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if req.D != s.d {
		return nil, fmt.Errorf("%w: request has d = %d, partition %d has d = %d", ErrRequest, req.D, id, s.d)
	}
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
	return sc.compute(p, req)
}

// compute returns the statistics of p for req, keeping the request's
// patterns in sc.last for the next request's flip count.
func (sc *scratch) compute(p *Partition, req *Request) (*Stats, error) {
	k, d := len(req.Signs), p.D
	if sc.last == nil || sc.last.Rows != p.Rows || sc.last.K != k {
		sc.lastU = nil // last holds no patterns of these rows and neurons
	}
	sc.pat = fitPatterns(sc.pat, p.Rows, k)
	sc.last = fitPatterns(sc.last, p.Rows, k)
	sc.pred = grow(sc.pred, min(p.Rows, predChunk))
	sc.z = grow(sc.z, k)
	st := &Stats{Iter: req.Iter, Partition: p.ID, Rows: p.Rows, M: d * k, Flips: -1}
	for lo := 0; lo < p.Rows; lo += predChunk {
		hi := min(p.Rows, lo+predChunk)
		pred := sc.pred[:hi-lo]
		p.patterns(sc.pat.Slice(lo, hi), pred, lo, hi, req.U, req.Signs, sc.z)
		for i, yi := range p.Y[lo:hi] {
			st.YY += yi * yi
			r := pred[i] - yi
			st.SSE += r * r
		}
	}
	if req.Prev != nil {
		if sc.lastU == nil || !slices.Equal(sc.lastU, req.Prev) {
			// A second pass: a streaming engine never has the previous
			// patterns. (One pass over 2k neurons, U and Prev, was tried:
			// no measurable gain, and the prediction's sum over the Prev
			// neurons with sign 0 turns an infinite z into NaN.)
			p.patterns(sc.last, nil, 0, p.Rows, req.Prev, req.Signs, sc.z)
		}
		st.Flips = sc.pat.Flips(sc.last)
	}
	st.Gram = GramBuffer(linalg.PackedLen(st.M)) // overwritten by stats
	st.R = make([]float64, st.M)
	p.stats(&sc.ws, st.Gram, st.R, sc.pat, req.Signs)

	// Keep this request's patterns for the next iteration's flip count.
	sc.pat, sc.last = sc.last, sc.pat
	sc.lastU = append(sc.lastU[:0], req.U...)
	return st, nil
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
