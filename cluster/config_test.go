package cluster

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"
)

func validConfig() Config {
	c := LocalConfig()
	c.ID = "shard-1"
	c.Key = make([]byte, 32)
	c.Meta = Meta{Role: RoleShard, GRPCAddr: "127.0.0.1:9000", Partitions: []int{0, 1}}
	return c
}

func TestValidate(t *testing.T) {
	if err := validConfig().Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	d := DefaultConfig()
	d.ID, d.Insecure, d.Meta = "coord", true, Meta{Role: RoleCoordinator}
	if err := d.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	cases := map[string]func(*Config){
		"no ID":                  func(c *Config) { c.ID = "" },
		"ID with upper case":     func(c *Config) { c.ID = "Shard1" },
		"host name bind":         func(c *Config) { c.BindAddr = "localhost" },
		"empty bind":             func(c *Config) { c.BindAddr = "" },
		"bad advertise":          func(c *Config) { c.AdvertiseAddr = "example" },
		"port range":             func(c *Config) { c.BindPort = 70000 },
		"advertise port, bind 0": func(c *Config) { c.AdvertisePort = 7946 },
		"no key":                 func(c *Config) { c.Key = nil },
		"short key":              func(c *Config) { c.Key = make([]byte, 8) },
		"key and insecure":       func(c *Config) { c.Insecure = true },
		"meta ID mismatch":       func(c *Config) { c.Meta.ID = "shard-2" },
		"no role":                func(c *Config) { c.Meta.Role = "" },
		"zero probe interval":    func(c *Config) { c.Timing.ProbeInterval = 0 },
		"probe timeout too long": func(c *Config) { c.Timing.ProbeTimeout = c.Timing.ProbeInterval },
		"negative reclaim":       func(c *Config) { c.Timing.DeadNodeReclaimTime = -time.Second },
		"zero update timeout":    func(c *Config) { c.Timing.UpdateTimeout = 0 },
		"zero suspicion mult":    func(c *Config) { c.Timing.SuspicionMult = 0 },
		"zero push/pull":         func(c *Config) { c.Timing.PushPullInterval = 0 },
	}
	for name, mutate := range cases {
		c := validConfig()
		mutate(&c)
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: Validate() = %v, want ErrConfig", name, err)
		}
		if _, err := Start(c); err == nil {
			t.Errorf("%s: Start succeeded", name)
		}
	}
}

func TestKeys(t *testing.T) {
	s, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseKey(s + "\n")
	if err != nil || len(k) != 32 {
		t.Fatalf("ParseKey(GenerateKey()) = %d bytes, %v", len(k), err)
	}
	for _, n := range []int{16, 24} {
		if _, err := ParseKey(base64.StdEncoding.EncodeToString(make([]byte, n))); err != nil {
			t.Errorf("%d-byte key: %v", n, err)
		}
	}
	for _, bad := range []string{"", "not base64!", base64.StdEncoding.EncodeToString(make([]byte, 20)), base64.URLEncoding.EncodeToString([]byte{0xfb, 0xff, 0xfe, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
}
