// Package metrics holds the Prometheus metrics of the two commands and
// serves them: Coordinator, the metrics of `coordinator train`, and Shard,
// those of a shard process, each registered on a private registry made by
// NewRegistry (with the Go runtime and process collectors), which Serve
// exposes at /metrics over plain HTTP.
//
// The packages that observe something (fleet, transport, node, job) take
// a *Coordinator or a *Shard in their configuration. Every method of both
// does nothing on a nil receiver, so nil turns the metrics off and those
// packages work, and are tested, without a registry. The metrics only
// observe: nothing reads them back into a decision, so a run's results do
// not depend on them.
//
// Names follow the Prometheus conventions: the altmin_ prefix, then
// coordinator_ or shard_, base units in the name (_seconds, _bytes) and
// _total on counters. Labels take few values: a shard ID, a request kind,
// a gRPC code or a refusal reason, never a partition or an iteration.
package metrics

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Reasons a coordinator refuses a partial, the values of the reason label
// of altmin_coordinator_refused_partials_total.
const (
	// ReasonMalformed: a reply that is not a well-formed partial of the
	// request's kind and shape (transport.ErrBadReply).
	ReasonMalformed = "malformed"
	// ReasonStale: a partial for another round (or, on the wire, another
	// partition) than the one asked for.
	ReasonStale = "stale"
	// ReasonWrongShard: a reply from another shard than the one asked.
	ReasonWrongShard = "wrong_shard"
	// ReasonVersion: a reply of another protocol version.
	ReasonVersion = "version"
	// ReasonDuplicate: a partition already received in the round.
	ReasonDuplicate = "duplicate"
	// ReasonUnknown: a partial of a partition out of range.
	ReasonUnknown = "unknown_partition"
	// ReasonInvalid: a partial that is not a valid answer to the request
	// (msg.ErrInvalid), or any other refusal.
	ReasonInvalid = "invalid"
)

// reasons lists every refusal reason, so that each series exists (at 0)
// from the start.
var reasons = []string{ReasonMalformed, ReasonStale, ReasonWrongShard, ReasonVersion, ReasonDuplicate, ReasonUnknown, ReasonInvalid}

// latencyBuckets are the upper bounds, in seconds, of the histograms of
// calls and computations: 1 ms to about 4 minutes, by factors of 4 (a
// statistics call lasts milliseconds on small partitions and minutes on
// large ones; --step-timeout defaults to 5 minutes).
var latencyBuckets = prometheus.ExponentialBuckets(0.001, 4, 10)

// Coordinator is the metrics of a coordinator's training run. Make it with
// NewCoordinator; a nil *Coordinator observes nothing.
type Coordinator struct {
	iteration      prometheus.Gauge
	trainingLoss   prometheus.Gauge
	validationLoss prometheus.Gauge
	rowsPerSecond  prometheus.Gauge
	partialSeconds *prometheus.HistogramVec
	failovers      prometheus.Counter
	hedges         prometheus.Counter
	rejoinWaits    prometheus.Counter
	refused        *prometheus.CounterVec
	receivedBytes  prometheus.Counter
}

// NewCoordinator returns the metrics of a coordinator, registered on reg.
// It panics if reg already holds metrics of the same names (two
// coordinators on one registry).
func NewCoordinator(reg prometheus.Registerer) *Coordinator {
	m := &Coordinator{
		iteration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "altmin_coordinator_iteration",
			Help: "The last iteration completed (the table's iter; 0 until the first).",
		}),
		trainingLoss: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "altmin_coordinator_training_loss",
			Help: "Training loss of the weights evaluated in the last iteration (metrics.jsonl loss; NaN before the first).",
		}),
		validationLoss: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "altmin_coordinator_validation_loss",
			Help: "Validation loss of the weights evaluated in the last iteration (metrics.jsonl val_loss; NaN without validation rows).",
		}),
		rowsPerSecond: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "altmin_coordinator_rows_per_second",
			Help: "Rows reduced in the last iteration divided by its wall time.",
		}),
		partialSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "altmin_coordinator_partial_seconds",
			Help:    "Seconds from asking a shard for the partial of one span of partitions (statistics, moments or summary; one partition, or an aligned range the shard adds up) to its answer, by shard; answered calls only.",
			Buckets: latencyBuckets,
		}, []string{"shard"}),
		failovers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "altmin_coordinator_failovers_total",
			Help: "Calls to a replica that failed (an error, the call deadline, the shard leaving) after which the partition was asked of another replica or awaited.",
		}),
		hedges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "altmin_coordinator_hedges_total",
			Help: "Calls to a second replica of a partition not answered within --hedge-after.",
		}),
		rejoinWaits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "altmin_coordinator_rejoin_waits_total",
			Help: "Fetches of a partition that found no live holder left to ask and began waiting (up to --rejoin-timeout) for one to answer or rejoin.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "altmin_coordinator_refused_partials_total",
			Help: "Partials refused and never reduced, by reason: malformed, stale, wrong_shard, version (replies refused by the gRPC client), duplicate, unknown_partition, invalid (answers refused by the round).",
		}, []string{"reason"}),
		receivedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "altmin_coordinator_received_bytes_total",
			Help: "Bytes of the Compute reply messages received from the shards (protobuf encoding, without gRPC framing or TLS).",
		}),
	}
	m.trainingLoss.Set(math.NaN())
	m.validationLoss.Set(math.NaN())
	for _, r := range reasons {
		m.refused.WithLabelValues(r)
	}
	reg.MustRegister(m.iteration, m.trainingLoss, m.validationLoss, m.rowsPerSecond, m.partialSeconds,
		m.failovers, m.hedges, m.rejoinWaits, m.refused, m.receivedBytes)
	return m
}

// Iteration records a completed iteration: its number, its training loss,
// its validation loss (NaN without validation rows), and the rows it
// reduced in its wall time d.
func (m *Coordinator) Iteration(iter int, loss, valLoss float64, rows int, d time.Duration) {
	if m == nil {
		return
	}
	m.iteration.Set(float64(iter))
	m.trainingLoss.Set(loss)
	m.validationLoss.Set(valLoss)
	if s := d.Seconds(); s > 0 {
		m.rowsPerSecond.Set(float64(rows) / s)
	}
}

// Partial records a partial that shard answered d after it was asked.
func (m *Coordinator) Partial(shard string, d time.Duration) {
	if m == nil {
		return
	}
	m.partialSeconds.WithLabelValues(shard).Observe(d.Seconds())
}

// Failover records a failed call after which another replica is asked,
// or one awaited.
func (m *Coordinator) Failover() {
	if m != nil {
		m.failovers.Inc()
	}
}

// Hedge records a call that backs up a slow replica.
func (m *Coordinator) Hedge() {
	if m != nil {
		m.hedges.Inc()
	}
}

// RejoinWait records a fetch that began waiting for a holder of its
// partition to answer or (re)join.
func (m *Coordinator) RejoinWait() {
	if m != nil {
		m.rejoinWaits.Inc()
	}
}

// Refused records a partial refused for reason, one of the Reason
// constants.
func (m *Coordinator) Refused(reason string) {
	if m != nil {
		m.refused.WithLabelValues(reason).Inc()
	}
}

// Received records n bytes of reply messages received.
func (m *Coordinator) Received(n int) {
	if m != nil {
		m.receivedBytes.Add(float64(n))
	}
}

// Shard is the metrics of a shard process. Make it with NewShard; a nil
// *Shard observes nothing.
type Shard struct {
	requests       *prometheus.CounterVec
	sentBytes      prometheus.Counter
	computeSeconds *prometheus.HistogramVec
	partitions     prometheus.Gauge
	resident       atomic.Pointer[func() int]
}

// NewShard returns the metrics of a shard, registered on reg. It panics if
// reg already holds metrics of the same names.
func NewShard(reg prometheus.Registerer) *Shard {
	m := &Shard{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "altmin_shard_requests_total",
			Help: "Compute requests served, by kind (stats, deep, moments12, moment4, summary; unknown when refused before it was read) and gRPC code.",
		}, []string{"kind", "code"}),
		sentBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "altmin_shard_sent_bytes_total",
			Help: "Bytes of the Compute reply messages sent (protobuf encoding, without gRPC framing or TLS).",
		}),
		computeSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "altmin_shard_compute_seconds",
			Help:    "Seconds computing the partial of one span of partitions (one partition, or an aligned range added up), waiting for a computation slot (--parallel) and reading streamed rows included, by kind.",
			Buckets: latencyBuckets,
		}, []string{"kind"}),
		partitions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "altmin_shard_partitions",
			Help: "Partitions the shard serves.",
		}),
	}
	resident := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "altmin_shard_resident_partitions",
		Help: "Partitions whose rows are in memory (or being read): all of them, or at most --resident.",
	}, func() float64 {
		if f := m.resident.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	})
	reg.MustRegister(m.requests, m.sentBytes, m.computeSeconds, m.partitions, resident)
	return m
}

// Holds records the number of partitions the shard serves and the
// function that counts those whose rows are in memory, called at every
// scrape.
func (m *Shard) Holds(partitions int, resident func() int) {
	if m == nil {
		return
	}
	m.partitions.Set(float64(partitions))
	m.resident.Store(&resident)
}

// Served records a Compute request of kind answered with the gRPC code.
func (m *Shard) Served(kind, code string) {
	if m != nil {
		m.requests.WithLabelValues(kind, code).Inc()
	}
}

// Computed records the time a partial of kind took to compute.
func (m *Shard) Computed(kind string, d time.Duration) {
	if m != nil {
		m.computeSeconds.WithLabelValues(kind).Observe(d.Seconds())
	}
}

// Sent records n bytes of reply messages sent.
func (m *Shard) Sent(n int) {
	if m != nil {
		m.sentBytes.Add(float64(n))
	}
}

// NewRegistry returns a registry holding the Go runtime collector (memory,
// garbage collection, goroutines: go_*) and the process collector (CPU,
// resident memory, open files: process_*), for the metrics of one process.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}
