package shard

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"altmin/data"
	"altmin/linalg"
)

// ErrRequest is wrapped by errors in a statistics request.
var ErrRequest = errors.New("shard: bad request")

// ErrNoPartition is returned for a partition this engine does not hold.
var ErrNoPartition = errors.New("shard: partition not held")

// Partition is one partition's rows, held in memory.
type Partition struct {
	ID   int
	Rows int
	D    int       // features per row, including the bias feature
	X    []float64 // Rows x D, row-major
	Y    []float64 // Rows
}

// Load reads partition id of parts from src, appending a constant-1 feature
// to every row when bias is set.
func Load(src data.Source, parts, id int, bias bool) (*Partition, error) {
	info := src.Info()
	if parts < 1 || id < 0 || id >= parts {
		return nil, fmt.Errorf("shard: partition %d out of range [0, %d)", id, parts)
	}
	lo, hi := data.Bounds(info.N, parts, id)
	rows, d := hi-lo, info.D
	x := make([]float64, rows*d)
	y := make([]float64, rows)
	if err := src.Read(lo, hi, x, y); err != nil {
		return nil, fmt.Errorf("shard: loading partition %d (rows %d..%d): %w", id, lo, hi, err)
	}
	if bias {
		xb := make([]float64, rows*(d+1))
		for i := 0; i < rows; i++ {
			copy(xb[i*(d+1):], x[i*d:(i+1)*d])
			xb[i*(d+1)+d] = 1
		}
		x, d = xb, d+1
	}
	return &Partition{ID: id, Rows: rows, D: d, X: x, Y: y}, nil
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
}

// Validate checks the sizes and finiteness of statistics received for
// unknowns m.
func (s *Stats) Validate(m int) error {
	switch {
	case s.M != m || len(s.Gram) != linalg.PackedLen(m) || len(s.R) != m:
		return fmt.Errorf("partial of partition %d has m = %d, %d Gram and %d rhs values, want m = %d", s.Partition, s.M, len(s.Gram), len(s.R), m)
	case s.Rows < 0:
		return fmt.Errorf("partial of partition %d has %d rows", s.Partition, s.Rows)
	case !finite(s.Gram) || !finite(s.R) || !finite([]float64{s.YY, s.SSE}):
		return fmt.Errorf("partial of partition %d has NaN or Inf values", s.Partition)
	case s.Flips < -1:
		return fmt.Errorf("partial of partition %d has %d flips", s.Partition, s.Flips)
	}
	return nil
}

// Engine computes statistics for the partitions it holds. It is safe for
// concurrent use; calls for one partition are serialized.
type Engine struct {
	slots map[int]*slot
	ids   []int
}

type slot struct {
	mu    sync.Mutex
	p     *Partition
	ws    linalg.StatsWorkspace
	pat   *linalg.Patterns // scratch for the patterns of the request
	lastU []float64        // weights whose patterns are in last
	last  *linalg.Patterns
	pred  []float64
	z     []float64
}

// NewEngine returns an engine for the given partitions, which must have
// distinct IDs.
func NewEngine(parts ...*Partition) (*Engine, error) {
	e := &Engine{slots: make(map[int]*slot)}
	for _, p := range parts {
		if _, dup := e.slots[p.ID]; dup {
			return nil, fmt.Errorf("shard: partition %d given twice", p.ID)
		}
		e.slots[p.ID] = &slot{p: p}
		e.ids = append(e.ids, p.ID)
	}
	slices.Sort(e.ids)
	return e, nil
}

// Partitions returns the IDs of the partitions held, ascending.
func (e *Engine) Partitions() []int { return slices.Clone(e.ids) }

// Partition returns the partition with the given ID, or nil.
func (e *Engine) Partition(id int) *Partition {
	if s := e.slots[id]; s != nil {
		return s.p
	}
	return nil
}

// Compute returns the statistics of partition id for req.
func (e *Engine) Compute(req *Request, id int) (*Stats, error) {
	s := e.slots[id]
	if s == nil {
		return nil, fmt.Errorf("%w: %d", ErrNoPartition, id)
	}
	if err := req.Validate(); err != nil {
		return nil, err
	}
	p := s.p
	if req.D != p.D {
		return nil, fmt.Errorf("%w: request has d = %d, partition %d has d = %d", ErrRequest, req.D, id, p.D)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, d := len(req.Signs), p.D
	if s.pat == nil || s.pat.K != k {
		s.pat = linalg.NewPatterns(p.Rows, k)
		s.last, s.lastU = nil, nil
	}
	s.pred = grow(s.pred, p.Rows)
	s.z = grow(s.z, k)
	linalg.ComputePatterns(s.pat, s.pred, p.X, d, req.U, req.Signs, s.z)

	st := &Stats{Iter: req.Iter, Partition: id, Rows: p.Rows, M: d * k, Flips: -1}
	if req.Prev != nil {
		prev := s.last
		if prev == nil || !slices.Equal(s.lastU, req.Prev) {
			prev = linalg.NewPatterns(p.Rows, k)
			linalg.ComputePatterns(prev, nil, p.X, d, req.Prev, req.Signs, s.z)
		}
		st.Flips = s.pat.Flips(prev)
	}
	for i, yi := range p.Y {
		st.YY += yi * yi
		r := s.pred[i] - yi
		st.SSE += r * r
	}
	st.Gram = make([]float64, linalg.PackedLen(st.M))
	st.R = make([]float64, st.M)
	linalg.Stats(&s.ws, st.Gram, st.R, p.X, p.Y, d, s.pat, req.Signs)

	// Keep this request's patterns for the next iteration's flip count.
	if s.last == nil || s.last.K != k {
		s.last = linalg.NewPatterns(p.Rows, k)
	}
	s.pat, s.last = s.last, s.pat
	s.lastU = append(s.lastU[:0], req.U...)
	return st, nil
}

func grow(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}
