package node

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestParseGossipResolvesAdvertise: an advertise host name is resolved to
// an IP address (memberlist announces IPs only), an IP is kept, and a
// name that does not resolve is a configuration error naming it.
func TestParseGossipResolvesAdvertise(t *testing.T) {
	for in, want := range map[string]string{"localhost:7946": "127.0.0.1:7946", "10.0.1.4:7000": "10.0.1.4:7000", "": ""} {
		g, err := ParseGossip("0.0.0.0:7946", in, nil, time.Second)
		if err != nil || g.Advertise != want {
			t.Errorf("advertise %q: got %q, %v, want %q", in, g.Advertise, err, want)
		}
	}
	_, err := ParseGossip("0.0.0.0:7946", "no-such-host.invalid:7946", nil, time.Second)
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), `cannot resolve "no-such-host.invalid"`) {
		t.Errorf("unresolvable name: err = %v", err)
	}
}
