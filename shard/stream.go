package shard

import (
	"altmin/msg"
	"errors"
	"fmt"
	"slices"
	"sync"

	"altmin/data"
)

// Streaming engines. A shard whose data do not fit in memory serves its
// partitions from the data source (a .npy file is read by row range), with
// at most Resident partitions' rows in memory at once: a computation reads
// its partition's rows when the engine does not hold them, into the memory
// of the least recently used partition no computation is using. The
// statistics are the same bits as an in-memory engine's (they are a pure
// function of the rows and the request); what streaming costs is the
// reading, once per partition per iteration when Resident is below the
// partitions served, and a second pattern pass for the flip count (the
// previous iteration's patterns are not kept). Memory: Resident partitions'
// rows, plus one computation's scratch (O(rows) indices and patterns, O(m^2)
// sums) per computation running.

// ErrStream is wrapped by errors in a streaming engine's configuration.
var ErrStream = errors.New("shard: bad streaming configuration")

// StreamConfig describes the partitions of a streaming engine.
type StreamConfig struct {
	Source     data.Source
	Partitions int   // partitions of the whole data set
	IDs        []int // the partitions served, each in [0, Partitions)
	Bias       bool  // append a constant-1 feature to every row
	Storage    Storage
	Resident   int // partitions whose rows are held at once, >= 1
	// Loaded, when set, is called with the rows of each partition as the
	// check at start has read them (a progress display).
	Loaded func(rows int)
}

// residency tracks the partitions a streaming engine holds.
type residency struct {
	cfg     StreamConfig
	max     int
	maxRows int           // rows of the largest partition served: the room of every read
	bufs    chan *loadBuf // scratch of reads, at most one per read at once
	mu      sync.Mutex
	spare   *Partition // memory for a read, left by the check at start; under mu
	held    int        // partitions held or being read
	tick    uint64     // for least-recently-used eviction
	scratch chan *scratch
}

// NewStreamingEngine returns an engine serving the partitions cfg.IDs of
// cfg.Source, reading their rows when computations need them and holding
// at most cfg.Resident partitions' rows at once; it computes at most
// min(GOMAXPROCS, Resident) partitions at once (see SetParallel). It reads
// every partition once here, one at a time, so that data errors (a
// non-finite value, a short file, a value beyond float32 with float32
// storage) are reported before it serves; afterwards it holds none.
func NewStreamingEngine(cfg StreamConfig) (*Engine, error) {
	if cfg.Source == nil {
		return nil, fmt.Errorf("%w: no data source", ErrStream)
	}
	if cfg.Resident < 1 {
		return nil, fmt.Errorf("%w: %d resident partitions, want at least 1", ErrStream, cfg.Resident)
	}
	if cfg.Partitions < 1 || len(cfg.IDs) == 0 {
		return nil, fmt.Errorf("%w: serves %d of %d partitions", ErrStream, len(cfg.IDs), cfg.Partitions)
	}
	if _, err := ParseStorage(string(cfg.Storage)); err != nil {
		return nil, err
	}
	cfg.IDs = slices.Clone(cfg.IDs)
	e := newEngine()
	e.total = cfg.Partitions
	info := cfg.Source.Info()
	d := info.D
	if cfg.Bias {
		d++
	}
	var buf *Partition
	rbuf := new(loadBuf)
	maxRows := 0
	for _, id := range cfg.IDs {
		if id < 0 || id >= cfg.Partitions {
			return nil, fmt.Errorf("shard: partition %d out of range [0, %d)", id, cfg.Partitions)
		}
		var err error
		if buf, err = loadInto(buf, 0, rbuf, cfg.Source, cfg.Partitions, id, cfg.Bias, cfg.Storage); err != nil {
			return nil, err
		}
		maxRows = max(maxRows, buf.Rows)
		if err := e.add(&slot{id: id, rows: buf.Rows, d: d}); err != nil {
			return nil, err
		}
		if cfg.Loaded != nil {
			cfg.Loaded(buf.Rows)
		}
	}
	slices.Sort(e.ids)
	// The memory of the check's reads is the first partition's.
	e.res = &residency{cfg: cfg, max: cfg.Resident, maxRows: maxRows, spare: buf, bufs: make(chan *loadBuf, cfg.Resident)}
	e.res.bufs <- rbuf
	e.SetParallel(cap(e.run))
	e.res.scratch = make(chan *scratch, e.res.max) // at most one per computation running
	return e, nil
}

// Resident returns the most partitions whose rows a streaming engine holds
// at once, or 0 for an engine holding all of them (NewEngine).
func (e *Engine) Resident() int {
	if e.res == nil {
		return 0
	}
	return e.res.max
}

// Held returns the number of partitions whose rows the engine holds in
// memory: every partition of an engine made by NewEngine; those held or
// being read by a streaming engine, at most Resident.
func (e *Engine) Held() int {
	r := e.res
	if r == nil {
		return len(e.slots)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.held
}

// pin returns s's rows and counts one more computation using them; unpin
// ends that use. The caller holds a computation token. A streaming engine
// that does not hold the rows reads them, first giving up the least
// recently used partition no computation uses when it holds Resident
// already: as each pin holds a token and there are at most Resident
// tokens, there is always one.
func (e *Engine) pin(s *slot) (*Partition, error) {
	r := e.res
	if r == nil {
		return s.p, nil
	}
	s.loading.Lock() // one read of these rows at a time
	defer s.loading.Unlock()
	r.mu.Lock()
	r.tick++
	if s.p != nil {
		s.pins++
		s.used = r.tick
		r.mu.Unlock()
		return s.p, nil
	}
	var reuse *Partition
	for r.held >= r.max {
		var victim *slot
		for _, o := range e.slots {
			if o.p != nil && o.pins == 0 && (victim == nil || o.used < victim.used) {
				victim = o
			}
		}
		if victim == nil { // cannot happen: see above
			r.mu.Unlock()
			return nil, fmt.Errorf("shard: partition %d: all %d resident partitions are in use", s.id, r.max)
		}
		reuse, victim.p = victim.p, nil
		r.held--
	}
	if reuse == nil {
		reuse, r.spare = r.spare, nil
	}
	r.held++ // reserved for s while it is read
	r.mu.Unlock()

	var buf *loadBuf
	select {
	case buf = <-r.bufs:
	default:
		buf = new(loadBuf)
	}
	p, err := loadInto(reuse, r.maxRows, buf, r.cfg.Source, r.cfg.Partitions, s.id, r.cfg.Bias, r.cfg.Storage)
	select {
	case r.bufs <- buf:
	default:
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.held--
		return nil, fmt.Errorf("%w: %w", msg.ErrData, err)
	}
	if p.Rows != s.rows || p.D != s.d {
		r.held--
		return nil, fmt.Errorf("%w: partition %d now reads as %d rows of %d features, was %d of %d: the data changed", msg.ErrData, s.id, p.Rows, p.D, s.rows, s.d)
	}
	s.p, s.pins, s.used = p, 1, r.tick
	return p, nil
}

func (e *Engine) unpin(s *slot) {
	if r := e.res; r != nil {
		r.mu.Lock()
		s.pins--
		r.mu.Unlock()
	}
}

// getScratch returns a computation's scratch: one left by an earlier
// computation (there are at most as many as computations at once), or a
// new one.
func (r *residency) getScratch() *scratch {
	select {
	case sc := <-r.scratch:
		return sc
	default:
		return new(scratch)
	}
}

func (r *residency) putScratch(sc *scratch) {
	select {
	case r.scratch <- sc:
	default:
	}
}
