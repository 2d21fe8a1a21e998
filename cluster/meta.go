package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/memberlist"
)

// Role is what a member does in the cluster.
type Role string

// The roles.
const (
	RoleCoordinator Role = "coordinator"
	RoleShard       Role = "shard"
)

// MetaVersion is the version of the metadata encoding; members announcing
// another version are skipped.
const MetaVersion = 1

// MaxPartitions bounds the number of partitions one member may announce,
// and MaxPartition the largest partition index.
const (
	MaxPartitions = 1 << 20
	MaxPartition  = 999_999_999
)

// ErrMeta is wrapped by errors about metadata that cannot be encoded or
// decoded.
var ErrMeta = errors.New("cluster: bad metadata")

// Meta is what a member announces to the cluster.
//
// It travels as compact JSON in memberlist's node metadata, which is
// limited to memberlist.MetaMaxSize (512) bytes: the ID is not encoded
// (it is the member's name), partitions are encoded as sorted ranges
// ("0-7,9"), the schema is compacted. Start and UpdateMeta return an
// error wrapping ErrMeta when the encoding exceeds the limit.
type Meta struct {
	// ID is the member's node ID. Members fills it in from the member's
	// name; in a Config or UpdateMeta it must be empty or the node's ID.
	ID string
	// Role is RoleCoordinator or RoleShard.
	Role Role
	// GRPCAddr is the host:port where the member serves gRPC; empty if it
	// serves none.
	GRPCAddr string
	// Partitions are the partition indices the member holds, distinct and
	// non-negative; Members returns them in increasing order.
	Partitions []int
	// Schema is an opaque JSON value describing what the member serves
	// (for example its protocol versions); empty for none.
	Schema json.RawMessage
}

// wireMeta is Meta's encoding.
type wireMeta struct {
	V int             `json:"v"`
	R Role            `json:"r"`
	G string          `json:"g,omitempty"`
	P string          `json:"p,omitempty"`
	S json.RawMessage `json:"s,omitempty"`
}

// encodeMeta validates m and returns its encoding.
func encodeMeta(m Meta) ([]byte, error) {
	if m.Role != RoleCoordinator && m.Role != RoleShard {
		return nil, fmt.Errorf("%w: role %q, want %q or %q", ErrMeta, m.Role, RoleCoordinator, RoleShard)
	}
	if m.GRPCAddr != "" {
		if _, _, err := net.SplitHostPort(m.GRPCAddr); err != nil {
			return nil, fmt.Errorf("%w: gRPC address %q: %w", ErrMeta, m.GRPCAddr, err)
		}
	}
	p, err := formatRanges(m.Partitions)
	if err != nil {
		return nil, err
	}
	w := wireMeta{V: MetaVersion, R: m.Role, G: m.GRPCAddr, P: p}
	if len(m.Schema) > 0 {
		var buf bytes.Buffer
		if err := json.Compact(&buf, m.Schema); err != nil {
			return nil, fmt.Errorf("%w: schema is not valid JSON: %w", ErrMeta, err)
		}
		w.S = buf.Bytes()
	}
	b, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMeta, err)
	}
	if len(b) > memberlist.MetaMaxSize {
		return nil, fmt.Errorf("%w: encoded metadata is %d bytes, the limit is %d (shorten the schema or hold contiguous partitions)",
			ErrMeta, len(b), memberlist.MetaMaxSize)
	}
	return b, nil
}

// decodeMeta decodes the metadata of the member named id.
func decodeMeta(id string, b []byte) (Meta, error) {
	var w wireMeta
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Meta{}, fmt.Errorf("%w: member %q: %w", ErrMeta, id, err)
	}
	if w.V != MetaVersion {
		return Meta{}, fmt.Errorf("%w: member %q: metadata version %d, supported %d", ErrMeta, id, w.V, MetaVersion)
	}
	if w.R != RoleCoordinator && w.R != RoleShard {
		return Meta{}, fmt.Errorf("%w: member %q: role %q", ErrMeta, id, w.R)
	}
	parts, err := parseRanges(w.P)
	if err != nil {
		return Meta{}, fmt.Errorf("member %q: %w", id, err)
	}
	return Meta{ID: id, Role: w.R, GRPCAddr: w.G, Partitions: parts, Schema: w.S}, nil
}

// formatRanges writes distinct non-negative integers as increasing ranges,
// for example [9 0 1 2] as "0-2,9".
func formatRanges(parts []int) (string, error) {
	if len(parts) > MaxPartitions {
		return "", fmt.Errorf("%w: %d partitions, the limit is %d", ErrMeta, len(parts), MaxPartitions)
	}
	s := slices.Clone(parts)
	slices.Sort(s)
	if n := len(s); n > 0 && (s[0] < 0 || s[n-1] > MaxPartition) {
		return "", fmt.Errorf("%w: partitions %d..%d out of range [0, %d]", ErrMeta, s[0], s[n-1], MaxPartition)
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] == s[j]+1 {
			j++
		}
		if j+1 < len(s) && s[j+1] == s[j] {
			return "", fmt.Errorf("%w: partition %d listed twice", ErrMeta, s[j])
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(s[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(s[j]))
		}
		i = j + 1
	}
	return b.String(), nil
}

// parseRanges is the inverse of formatRanges; it accepts only increasing,
// non-overlapping ranges.
func parseRanges(s string) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	var out []int
	prev := -1
	for _, r := range strings.Split(s, ",") {
		loS, hiS, isRange := strings.Cut(r, "-")
		lo, err := parseIndex(loS)
		if err != nil {
			return nil, fmt.Errorf("%w: partition range %q: %w", ErrMeta, r, err)
		}
		hi := lo
		if isRange {
			if hi, err = parseIndex(hiS); err != nil {
				return nil, fmt.Errorf("%w: partition range %q: %w", ErrMeta, r, err)
			}
		}
		if lo <= prev || hi < lo {
			return nil, fmt.Errorf("%w: partition ranges %q not increasing at %q", ErrMeta, s, r)
		}
		if len(out)+(hi-lo+1) > MaxPartitions {
			return nil, fmt.Errorf("%w: more than %d partitions", ErrMeta, MaxPartitions)
		}
		for p := lo; p <= hi; p++ {
			out = append(out, p)
		}
		prev = hi
	}
	return out, nil
}

func parseIndex(s string) (int, error) {
	if s == "" || len(s) > 9 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a partition index", s)
	}
	return strconv.Atoi(s)
}
