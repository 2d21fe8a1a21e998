// Package msg holds the messages of a round, shared by the shards, the
// coordinator and the transport between them (as etcd's raftpb holds
// raft's): the requests the coordinator sends for one partition and the
// partial results a partition returns, of every kind; the limits every
// runtime checks them against; the errors that travel with them; the pool
// their large buffers are recycled through; and Fetcher, the one interface
// through which a round asks for a partition's partial, wherever it is
// computed.
//
// The kinds form a closed set (Kind): each request type has exactly one
// partial type, and both name their kind. Code that moves messages (the
// round's fan-out, the fleet's replicas and failover, the wire) handles the
// Request and Partial interfaces and never looks inside; code that
// computes or reduces them (the shard's kernels, a model family's core, the
// wire's per-kind codec) switches on the concrete type.
package msg

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// Kind names a kind of request and of its partial.
type Kind uint8

// The kinds.
const (
	// KindStats: the statistics of one iteration of a 1-hidden-layer
	// model (StatsRequest, Stats).
	KindStats Kind = iota + 1
	// KindDeep: the statistics of one solve step of a deep network
	// (DeepRequest, DeepStats).
	KindDeep
	// KindMoments12: first or second moment sums of the tensor
	// initialization (Moments12Request, Moments12).
	KindMoments12
	// KindMoment4: the projected fourth moment of the tensor
	// initialization (Moment4Request, Moment4).
	KindMoment4
	// KindSummary: column means and deviations and sampled rows, for the
	// standardization and start of training on real data
	// (SummaryRequest, Summary).
	KindSummary
)

func (k Kind) String() string {
	switch k {
	case KindStats:
		return "stats"
	case KindDeep:
		return "deep"
	case KindMoments12:
		return "moments12"
	case KindMoment4:
		return "moment4"
	case KindSummary:
		return "summary"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Request asks one partition for its partial of one round. The concrete
// types are *StatsRequest, *DeepRequest, *Moments12Request,
// *Moment4Request and *SummaryRequest.
type Request interface {
	// Kind names the request's kind.
	Kind() Kind
	// Round names the round: the iteration, the solve step, or 0 for a
	// moment pass. Its partial echoes it.
	Round() int
	// Features is the number of features per row, bias included, of the
	// rows the request is for; a partition of another width refuses it.
	Features() int
	// Validate checks the request's consistency and its sizes against
	// the limits (errors wrap ErrRequest or ErrTooLarge), before anything
	// of its size is allocated.
	Validate() error
	request()
}

// Partial is one partition's result for a request. The concrete types are
// *Stats, *DeepStats, *Moments12, *Moment4 and *Summary.
type Partial interface {
	// Kind names the partial's kind, that of its request.
	Kind() Kind
	// Round echoes the request's round.
	Round() int
	// Span is the node of the reduction tree the partial is the sum of:
	// one partition (Leaf), or an aligned range of them that a shard
	// holding them all added in the tree's order.
	Span() Span
	// Check checks the partial against the request it answers: kind,
	// round, sizes, counts, and that every value is finite (errors wrap
	// ErrInvalid).
	Check(req Request) error
	// Release gives the partial's large buffers back to pool for reuse
	// once nothing reads them any more (a nil pool drops them).
	Release(pool *Pool)
	// Add adds o, the partial of the next node of the reduction tree (the
	// right sibling of the partial's node), into the partial, for req
	// (see Tree); both have been checked against req.
	Add(o Partial, req Request)
	setSpan(Span)
	partial()
}

// Fetcher obtains the partial of one span of partitions (a node of the
// reduction tree: one partition, or an aligned range a holder of all of
// them adds up) for a request: computed in process (a shard engine), by a
// shard over the network, or by another replica after a failure. A round
// only requires that the answer be the partial of the requested span for
// the request; the core checks that (Partial.Check) before it reduces
// anything.
type Fetcher interface {
	Fetch(ctx context.Context, req Request, s Span) (Partial, error)
}

// Errors shared by every layer that handles messages. Test with errors.Is.
var (
	// ErrRequest: a request is malformed (wrong sizes, non-finite
	// values, a partition of another shape).
	ErrRequest = errors.New("msg: bad request")
	// ErrTooLarge: a request's sizes exceed a limit (MaxM, MaxMomentD,
	// MaxProjection, MaxLayers). No replica can serve it.
	ErrTooLarge = errors.New("msg: too large")
	// ErrInvalid: a partial is not a valid answer to its request.
	ErrInvalid = errors.New("msg: invalid partial")
	// ErrNoPartition: the partition is not held where it was asked for.
	ErrNoPartition = errors.New("msg: partition not held")
	// ErrData: the partition's rows could not be read from the data
	// source (they broke after the shard checked them). Not an outage:
	// asking the same shard again gives the same error.
	ErrData = errors.New("msg: cannot read the partition's data")
	// ErrUnavailable: no node can currently compute the partition.
	ErrUnavailable = errors.New("msg: partition unavailable")
	// ErrPermanent: a shard refused a call in a way asking it again cannot
	// change (its certificate is not trusted or does not trust ours, it
	// speaks another protocol version). Other replicas may still answer;
	// when none can, the fetch fails at once instead of waiting for a
	// holder to rejoin.
	ErrPermanent = errors.New("msg: permanent refusal")
)

// IsRequestRefusal reports whether err refuses the request itself
// (ErrTooLarge, ErrRequest): every replica gives the same answer, so a
// round fails at once with it.
func IsRequestRefusal(err error) bool {
	return errors.Is(err, ErrTooLarge) || errors.Is(err, ErrRequest)
}

// Limits of every request, in every runtime (in process, local shards, a
// cluster): sizes beyond them are refused with ErrTooLarge before anything
// of their size is allocated.
const (
	// MaxM is the largest number of unknowns m of a system of normal
	// equations: d*k of a 1-hidden-layer model, the weights of a deep
	// network. Its packed Gram matrix is m(m+1)/2 doubles: 268 MB at 8192.
	MaxM = 8192
	// MaxMomentD is the largest number of features per row of a moment
	// pass; its second-order sum is d(d+1)/2 doubles, as a Gram matrix.
	MaxMomentD = MaxM
	// MaxProjection bounds d*k, the values of a fourth-moment projection,
	// and d*r, those of a baseline's quadratic factor. With k <= d it
	// keeps k <= 128: a fourth moment of at most C(131, 4) doubles (94 MB).
	MaxProjection = 2 * MaxM
	// MaxLayers is the largest number of hidden layers of a deep network.
	MaxLayers = 16
	// MaxSamples bounds the rows a Summary samples.
	MaxSamples = MaxM
	// MaxPartitions is the largest number of partitions P of a data set:
	// the coordinator holds one partial per partition each round, and
	// sizes its bookkeeping by P.
	MaxPartitions = 1 << 16
)

// PartialBytes returns an upper bound of the bytes of one partition's
// partial for m unknowns: its packed Gram matrix, m(m+1)/2 doubles, and
// two vectors of m. The coordinator holds P of them each round.
func PartialBytes(m int) int64 {
	mm := int64(max(m, 0))
	return (mm*(mm+1)/2 + 2*mm + 16) * 8
}

func finite(v ...float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

func finiteAll(vs ...[]float64) bool {
	for _, v := range vs {
		if !finite(v...) {
			return false
		}
	}
	return true
}

// checkAnswer checks what every partial shares with its request: the kind
// and the round.
func checkAnswer(p Partial, req Request) error {
	switch {
	case req == nil:
		return fmt.Errorf("%w: partial of %s for no request", ErrInvalid, p.Span())
	case p.Kind() != req.Kind():
		return fmt.Errorf("%w: %s partial of %s for a %s request", ErrInvalid, p.Kind(), p.Span(), req.Kind())
	case p.Round() != req.Round():
		return fmt.Errorf("%w: partial of %s for round %d, request of round %d", ErrInvalid, p.Span(), p.Round(), req.Round())
	}
	return nil
}
