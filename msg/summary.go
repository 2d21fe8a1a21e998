package msg

import "fmt"

// SummaryRequest asks a partition for a summary of its training rows (the
// validation rows of Split left out), as the kernels read them without
// standardization: the count, mean and sum of squared deviations of every
// feature and of the label (for the standardization of training on real
// data), and the Samples training rows of smallest RowHash(Seed, i) (for a
// start whose hidden units pass through data points). The rows sampled
// over all partitions are those of smallest hash among all rows, whatever
// the partitioning.
type SummaryRequest struct {
	D       int // features per row, including the bias feature
	Split   *Split
	Samples int // rows to sample, at most MaxSamples
	Seed    uint64
}

// Kind implements Request.
func (*SummaryRequest) Kind() Kind { return KindSummary }

// Round implements Request: summaries have round 0.
func (*SummaryRequest) Round() int { return 0 }

// Features implements Request.
func (r *SummaryRequest) Features() int { return r.D }

func (*SummaryRequest) request() {}

// Validate implements Request.
func (r *SummaryRequest) Validate() error {
	if err := checkMomentD(r.D); err != nil {
		return err
	}
	switch {
	case r.Samples < 0:
		return fmt.Errorf("%w: %d rows to sample", ErrRequest, r.Samples)
	case r.Samples > MaxSamples:
		return fmt.Errorf("%w: %d rows to sample, at most %d supported", ErrTooLarge, r.Samples, MaxSamples)
	case r.Samples*(r.D+1) > maxSampleValues:
		return fmt.Errorf("%w: %d rows of %d values to sample, at most %d values supported", ErrTooLarge, r.Samples, r.D+1, maxSampleValues)
	}
	return r.Split.check()
}

// maxSampleValues bounds the values of a summary's sampled rows: 64 MB.
const maxSampleValues = 1 << 23

// Summary is a partition's summary of its training rows (SummaryRequest).
type Summary struct {
	Partition int // the first partition summed
	// Parts is the number of partitions summed: the node (Partition, Parts)
	// of the reduction tree (Span); 0 means 1.
	Parts int
	Rows  int       // training rows
	Mean  []float64 // D + 1 values: every feature's mean, then the label's
	M2    []float64 // D + 1 values: the sums of squared deviations from the means
	// Index and Sample are the sampled rows, by increasing hash: their
	// global indices (exact as float64 below 2^53) and their values, D + 1
	// each (features, then the label).
	Index  []float64
	Sample []float64
}

// Kind implements Partial.
func (*Summary) Kind() Kind { return KindSummary }

// Round implements Partial.
func (*Summary) Round() int { return 0 }

// Span implements Partial.
func (s *Summary) Span() Span { return span(s.Partition, s.Parts) }

func (s *Summary) setSpan(sp Span) { s.Partition, s.Parts = sp.Lo, sp.N }

func (*Summary) partial() {}

// Release implements Partial; summaries are not pooled.
func (*Summary) Release(*Pool) {}

// Check implements Partial.
func (s *Summary) Check(req Request) error {
	if err := checkAnswer(s, req); err != nil {
		return err
	}
	r := req.(*SummaryRequest)
	c := r.D + 1
	switch {
	case len(s.Mean) != c || len(s.M2) != c:
		return fmt.Errorf("%w: summary of partition %d has %d means and %d deviations, want %d", ErrInvalid, s.Partition, len(s.Mean), len(s.M2), c)
	case s.Rows < 0 || len(s.Index) > r.Samples || len(s.Index) > s.Rows || len(s.Sample) != len(s.Index)*c:
		return fmt.Errorf("%w: summary of partition %d has %d rows and %d samples of %d values, want at most %d samples of %d", ErrInvalid, s.Partition, s.Rows, len(s.Index), len(s.Sample), r.Samples, c)
	case !finiteAll(s.Mean, s.M2, s.Index, s.Sample):
		return fmt.Errorf("%w: summary of partition %d has NaN or Inf values", ErrInvalid, s.Partition)
	}
	for _, v := range s.M2 {
		if v < 0 {
			return fmt.Errorf("%w: summary of partition %d has a negative sum of squares", ErrInvalid, s.Partition)
		}
	}
	seen := make(map[float64]bool, len(s.Index))
	for _, v := range s.Index {
		if v < 0 || v != float64(int64(v)) || v >= 1<<53 || seen[v] {
			return fmt.Errorf("%w: summary of partition %d samples row index %v: want distinct integers in [0, 2^53)", ErrInvalid, s.Partition, v)
		}
		seen[v] = true
	}
	return nil
}
