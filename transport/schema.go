package transport

import (
	"fmt"
	"maps"

	"altmin/data"
)

// ShardInfo describes a shard: its id and the data it holds.
type ShardInfo struct {
	ID     string `json:"id"`
	Schema Schema `json:"schema"`
}

// Validate checks the id and the schema.
func (i ShardInfo) Validate() error {
	switch {
	case i.ID == "":
		return fmt.Errorf("%w: empty shard id", ErrSchema)
	case len(i.ID) > MaxShardIDLen:
		return fmt.Errorf("%w: shard id of %d bytes, at most %d allowed", ErrSchema, len(i.ID), MaxShardIDLen)
	}
	if err := i.Schema.Validate(); err != nil {
		return fmt.Errorf("shard %q: %w", i.ID, err)
	}
	return nil
}

// Schema describes the data set of a cluster and, in Rows, the part of it
// one shard holds. Every shard of a cluster must have a Compatible schema.
// It is JSON-friendly, for gossip metadata.
type Schema struct {
	N    int  `json:"n"`    // rows of the whole data set
	D    int  `json:"d"`    // features of the data, without the bias feature
	P    int  `json:"p"`    // partitions (contiguous row ranges, data.Bounds)
	Bias bool `json:"bias"` // a constant-1 feature is appended; requests have D+1 features
	// DType is the element type of the stored data, e.g. "float64".
	DType string `json:"dtype"`
	// Fingerprint identifies the data content; equal data sets have equal
	// fingerprints.
	Fingerprint string `json:"fingerprint"`
	// Arith is the floating-point arithmetic of the shard's build
	// (arith.Build, e.g. "amd64/v1"): statistics computed by builds that
	// fuse multiply-adds differently differ in their last bits.
	Arith string `json:"arith,omitempty"`
	// Protocol is the protocol version the shard speaks (ProtocolVersion
	// of its build); 0 from a shard of a version before 3, which did not
	// announce it.
	Protocol int `json:"protocol,omitempty"`
	// ValFrom, when positive, is the first row of the validation rows
	// appended after the training rows (shard --val-data).
	ValFrom int `json:"val_from,omitempty"`
	// Columns is the data.FeaturesDigest of the feature columns the shard
	// chose by name (shard --features); "" when it chose none.
	Columns string `json:"columns,omitempty"`
	// Rows maps each partition the shard holds to its number of rows.
	Rows map[int]int `json:"rows,omitempty"`
}

// Validate checks the schema's own consistency: positive sizes and held
// partitions with the row counts that data.Bounds gives them.
func (s Schema) Validate() error {
	switch {
	case s.N < 1:
		return fmt.Errorf("%w: n = %d rows, need at least 1", ErrSchema, s.N)
	case s.D < 1:
		return fmt.Errorf("%w: d = %d features, need at least 1", ErrSchema, s.D)
	case s.P < 1:
		return fmt.Errorf("%w: %d partitions, need at least 1", ErrSchema, s.P)
	}
	for p, rows := range s.Rows {
		if p < 0 || p >= s.P {
			return fmt.Errorf("%w: partition %d out of range [0, %d)", ErrSchema, p, s.P)
		}
		if lo, hi := data.Bounds(s.N, s.P, p); rows != hi-lo {
			return fmt.Errorf("%w: partition %d has %d rows, want %d for n = %d, P = %d", ErrSchema, p, rows, hi-lo, s.N, s.P)
		}
	}
	return nil
}

// Compatible returns nil when s and other describe the same data set split
// the same way, held by builds with the same protocol and arithmetic, and
// otherwise an error wrapping ErrSchema that explains the first difference,
// checked in the order protocol, d, P, n, fingerprint, bias, validation
// rows, feature columns, dtype, arithmetic build. Rows, which differ from
// shard to shard, are not compared.
func (s Schema) Compatible(other Schema) error {
	switch {
	case s.Protocol != other.Protocol:
		return fmt.Errorf("%w: protocol version %s here, %s there", ErrSchema, protocolName(s.Protocol), protocolName(other.Protocol))
	case s.D != other.D:
		return fmt.Errorf("%w: d = %d here, %d there", ErrSchema, s.D, other.D)
	case s.P != other.P:
		return fmt.Errorf("%w: P = %d partitions here, %d there", ErrSchema, s.P, other.P)
	case s.N != other.N:
		return fmt.Errorf("%w: n = %d rows here, %d there", ErrSchema, s.N, other.N)
	case s.Fingerprint != other.Fingerprint:
		return fmt.Errorf("%w: data fingerprint %q here, %q there", ErrSchema, s.Fingerprint, other.Fingerprint)
	case s.Bias != other.Bias:
		return fmt.Errorf("%w: bias %t here, %t there", ErrSchema, s.Bias, other.Bias)
	case s.ValFrom != other.ValFrom:
		return fmt.Errorf("%w: validation rows from row %d here, %d there", ErrSchema, s.ValFrom, other.ValFrom)
	case s.Columns != other.Columns:
		return fmt.Errorf("%w: feature columns chosen by name (--features) with digest %q here, %q there", ErrSchema, s.Columns, other.Columns)
	case s.DType != other.DType:
		return fmt.Errorf("%w: dtype %q here, %q there", ErrSchema, s.DType, other.DType)
	case s.Arith != other.Arith:
		return fmt.Errorf("%w: built for %s here, %s there: such builds round differently (fused multiply-adds), so their statistics differ in the last bits; build every node for the same GOARCH and GOAMD64 level", ErrSchema, orUnknown(s.Arith), orUnknown(other.Arith))
	}
	return nil
}

// Equal reports whether s and other are Compatible and hold the same
// partitions with the same rows.
func (s Schema) Equal(other Schema) bool {
	return s.Compatible(other) == nil && maps.Equal(s.Rows, other.Rows)
}

// Features returns the number of features per row of a request, D plus
// one for the bias feature.
func (s Schema) Features() int {
	if s.Bias {
		return s.D + 1
	}
	return s.D
}

// protocolName names a schema's protocol version; 0 is that of a shard
// that did not announce one (a version before 3).
func protocolName(v int) string {
	if v == 0 {
		return "1 or 2 (not announced)"
	}
	return fmt.Sprint(v)
}

// orUnknown names an empty build as unknown (a shard of protocol version 1).
func orUnknown(arith string) string {
	if arith == "" {
		return "an unknown build"
	}
	return arith
}
