package cluster

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
	"go.uber.org/zap"

	"altmin/pki"
)

// ErrConfig is wrapped by every error Config.Validate returns.
var ErrConfig = errors.New("cluster: invalid config")

// Config configures one cluster member. Start it from DefaultConfig (LAN)
// or LocalConfig (one machine) and set ID, Key and Meta.
type Config struct {
	// ID is the node's name in the cluster and the name its TLS
	// certificate is issued for: set explicitly, never derived from an
	// address, and valid under pki.ValidateName. It must be unique among
	// live members; a restarted node reuses its ID (see the package doc).
	ID string

	// BindAddr is the IP address the gossip listeners (UDP and TCP, same
	// port) bind to; "0.0.0.0" binds every interface. It must be an IP
	// literal: memberlist would bind every interface for a host name.
	BindAddr string
	// BindPort is the gossip port; 0 picks a free port (Node.Addr reports
	// it).
	BindPort int

	// AdvertiseAddr is the IP address other members use to reach this
	// node; empty means the bound address, or for a wildcard bind the
	// first private IPv4 address of the host.
	AdvertiseAddr string
	// AdvertisePort is the port other members use; 0 means BindPort. It
	// must be 0 when BindPort is 0 (memberlist then advertises the port
	// it picked).
	AdvertisePort int

	// Key is the gossip encryption key (AES-GCM): 16, 24 or 32 bytes, the
	// same on every member. Required unless Insecure. Every gossip
	// message, in and out, must be encrypted with it.
	Key []byte
	// Insecure allows plaintext gossip; Key must then be empty. Plaintext
	// members cannot join an encrypted cluster and the reverse.
	Insecure bool

	// Meta is what this node announces to the others. Meta.ID must be
	// empty or equal to ID; the encoded form must fit memberlist's 512
	// bytes (see Meta).
	Meta Meta

	// Timing sets failure detection and dissemination.
	Timing Timing

	// Log receives memberlist's own log lines at their levels (DEBUG,
	// INFO, WARN, ERR) and the package's warnings; nil discards them.
	Log *zap.Logger
}

// Timing holds memberlist's failure detection and gossip parameters. All
// durations must be positive except DeadNodeReclaimTime; all counts at
// least 1.
type Timing struct {
	// ProbeInterval is the time between probes of one random member.
	ProbeInterval time.Duration
	// ProbeTimeout is how long a probe waits for an ack before asking
	// other members to probe indirectly; less than ProbeInterval.
	ProbeTimeout time.Duration
	// IndirectChecks is how many members are asked to probe indirectly.
	IndirectChecks int
	// SuspicionMult sets how long an unreachable member stays suspect
	// before it is declared dead: SuspicionMult * max(1, log10(N)) *
	// ProbeInterval for N members, shortened by confirmations from others.
	SuspicionMult int
	// SuspicionMaxTimeoutMult bounds the suspicion time, before
	// confirmations arrive, at this multiple of the above.
	SuspicionMaxTimeoutMult int
	// GossipInterval is the time between gossip rounds, each to
	// GossipNodes random members.
	GossipInterval time.Duration
	GossipNodes    int
	// RetransmitMult: each update is gossiped RetransmitMult *
	// ceil(log10(N+1)) times.
	RetransmitMult int
	// PushPullInterval is the time between full state exchanges with one
	// random member over TCP. They repair missed gossip and let a node
	// restarted at a new address reclaim its ID (see the package doc).
	PushPullInterval time.Duration
	// TCPTimeout bounds connecting to a member and each read and write of
	// a full state exchange (including Join).
	TCPTimeout time.Duration
	// GossipToTheDeadTime is how long a dead member is still gossiped to
	// (so it can refute) and remembered; after it the ID is forgotten.
	GossipToTheDeadTime time.Duration
	// DeadNodeReclaimTime is how long after being declared dead a
	// member's ID may be taken by a node at a different address. 0 means
	// only once the ID is forgotten (GossipToTheDeadTime).
	DeadNodeReclaimTime time.Duration
	// UpdateTimeout bounds how long UpdateMeta waits for its broadcast to
	// be sent.
	UpdateTimeout time.Duration
}

// LANTiming returns memberlist's LAN preset (memberlist.DefaultLANConfig)
// with a dead member's ID reclaimable after 5 s.
func LANTiming() Timing {
	t := fromMemberlist(memberlist.DefaultLANConfig())
	t.DeadNodeReclaimTime = 5 * time.Second
	t.UpdateTimeout = 5 * time.Second
	return t
}

// LocalTiming returns memberlist's loopback preset
// (memberlist.DefaultLocalConfig: 1 s probes, 200 ms probe timeout, 100 ms
// gossip, 15 s push/pull) with a dead member's ID reclaimable after 1 s.
func LocalTiming() Timing {
	t := fromMemberlist(memberlist.DefaultLocalConfig())
	t.DeadNodeReclaimTime = time.Second
	t.UpdateTimeout = 2 * time.Second
	return t
}

func fromMemberlist(c *memberlist.Config) Timing {
	return Timing{
		ProbeInterval:           c.ProbeInterval,
		ProbeTimeout:            c.ProbeTimeout,
		IndirectChecks:          c.IndirectChecks,
		SuspicionMult:           c.SuspicionMult,
		SuspicionMaxTimeoutMult: c.SuspicionMaxTimeoutMult,
		GossipInterval:          c.GossipInterval,
		GossipNodes:             c.GossipNodes,
		RetransmitMult:          c.RetransmitMult,
		PushPullInterval:        c.PushPullInterval,
		TCPTimeout:              c.TCPTimeout,
		GossipToTheDeadTime:     c.GossipToTheDeadTime,
		DeadNodeReclaimTime:     c.DeadNodeReclaimTime,
	}
}

// DefaultConfig returns a configuration for a LAN: gossip on every
// interface at port 7946 with LANTiming. ID, Key (or Insecure) and Meta
// must still be set.
func DefaultConfig() Config {
	return Config{BindAddr: "0.0.0.0", BindPort: 7946, Timing: LANTiming()}
}

// LocalConfig returns a configuration for members on one machine: gossip
// on 127.0.0.1 at a free port with LocalTiming.
func LocalConfig() Config {
	return Config{BindAddr: "127.0.0.1", BindPort: 0, Timing: LocalTiming()}
}

// Validate checks the configuration, including that Meta encodes within
// the metadata limit. It fills in nothing.
func (c Config) Validate() error {
	if err := pki.ValidateName(c.ID); err != nil {
		return fmt.Errorf("%w: node ID: %w", ErrConfig, err)
	}
	if net.ParseIP(c.BindAddr) == nil {
		return fmt.Errorf("%w: bind address %q is not an IP address", ErrConfig, c.BindAddr)
	}
	if c.AdvertiseAddr != "" && net.ParseIP(c.AdvertiseAddr) == nil {
		return fmt.Errorf("%w: advertise address %q is not an IP address", ErrConfig, c.AdvertiseAddr)
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"bind", c.BindPort}, {"advertise", c.AdvertisePort}} {
		if p.v < 0 || p.v > 65535 {
			return fmt.Errorf("%w: %s port %d out of range [0, 65535]", ErrConfig, p.name, p.v)
		}
	}
	if c.BindPort == 0 && c.AdvertisePort != 0 {
		return fmt.Errorf("%w: advertise port %d with bind port 0 (a picked port is always advertised)", ErrConfig, c.AdvertisePort)
	}
	switch {
	case c.Insecure && len(c.Key) > 0:
		return fmt.Errorf("%w: both a gossip key and Insecure are set", ErrConfig)
	case !c.Insecure && len(c.Key) == 0:
		return fmt.Errorf("%w: no gossip key (set Insecure to allow plaintext gossip)", ErrConfig)
	case !c.Insecure:
		if err := checkKeyLen(len(c.Key)); err != nil {
			return fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	if err := c.Timing.validate(); err != nil {
		return err
	}
	if c.Meta.ID != "" && c.Meta.ID != c.ID {
		return fmt.Errorf("%w: metadata ID %q differs from node ID %q", ErrConfig, c.Meta.ID, c.ID)
	}
	if _, err := encodeMeta(c.Meta); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

func (t Timing) validate() error {
	durs := []struct {
		name string
		v    time.Duration
	}{
		{"probe interval", t.ProbeInterval},
		{"probe timeout", t.ProbeTimeout},
		{"gossip interval", t.GossipInterval},
		{"push/pull interval", t.PushPullInterval},
		{"TCP timeout", t.TCPTimeout},
		{"gossip-to-the-dead time", t.GossipToTheDeadTime},
		{"update timeout", t.UpdateTimeout},
	}
	for _, d := range durs {
		if d.v <= 0 {
			return fmt.Errorf("%w: %s %v must be positive", ErrConfig, d.name, d.v)
		}
	}
	if t.DeadNodeReclaimTime < 0 {
		return fmt.Errorf("%w: dead node reclaim time %v is negative", ErrConfig, t.DeadNodeReclaimTime)
	}
	if t.ProbeTimeout >= t.ProbeInterval {
		return fmt.Errorf("%w: probe timeout %v must be less than the probe interval %v", ErrConfig, t.ProbeTimeout, t.ProbeInterval)
	}
	counts := []struct {
		name string
		v    int
	}{
		{"indirect checks", t.IndirectChecks},
		{"suspicion multiplier", t.SuspicionMult},
		{"suspicion max timeout multiplier", t.SuspicionMaxTimeoutMult},
		{"gossip nodes", t.GossipNodes},
		{"retransmit multiplier", t.RetransmitMult},
	}
	for _, c := range counts {
		if c.v < 1 {
			return fmt.Errorf("%w: %s %d must be at least 1", ErrConfig, c.name, c.v)
		}
	}
	return nil
}

func checkKeyLen(n int) error {
	switch n {
	case 16, 24, 32:
		return nil
	}
	return fmt.Errorf("gossip key is %d bytes, want 16, 24 or 32 (AES-128, -192, -256)", n)
}

// ParseKey decodes a gossip key written in standard base64 (as
// GenerateKey makes it); it must decode to 16, 24 or 32 bytes.
func ParseKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("cluster: gossip key is not standard base64: %w", err)
	}
	if err := checkKeyLen(len(key)); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return key, nil
}

// GenerateKey returns a random 32-byte gossip key in standard base64.
func GenerateKey() (string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("cluster: generating gossip key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(key), nil
}
