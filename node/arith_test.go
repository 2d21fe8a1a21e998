package node

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"altmin/cluster"
	"altmin/internal/arith"
	"altmin/transport"
)

// A coordinator refuses shards built for another arithmetic than its own
// (their statistics would differ in the last bits from a run in one
// process), and shards of another protocol version, naming both builds or
// versions.
func TestCoordinatorRefusesOtherArithmetic(t *testing.T) {
	for _, c := range []struct {
		name, arith string
		protocol    int
		want        []string
	}{
		{"other level", "amd64/v9", transport.ProtocolVersion, []string{"built for amd64/v9", "this coordinator for " + arith.Build()}},
		{"unknown arithmetic", "", transport.ProtocolVersion, []string{"an unknown arithmetic", "this coordinator for " + arith.Build()}},
		{"older protocol", arith.Build(), 0, []string{"speaks protocol version 1 or 2 (not announced)", fmt.Sprintf("this coordinator %d", transport.ProtocolVersion)}},
		{"newer protocol", arith.Build(), transport.ProtocolVersion + 1, []string{fmt.Sprintf("speaks protocol version %d", transport.ProtocolVersion+1), fmt.Sprintf("this coordinator %d", transport.ProtocolVersion)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			schema, err := json.Marshal(transport.Schema{N: 8, D: 2, P: 1, DType: "float64", Fingerprint: "f", Arith: c.arith, Protocol: c.protocol, Rows: map[int]int{0: 8}})
			if err != nil {
				t.Fatal(err)
			}
			cc := cluster.LocalConfig()
			cc.ID, cc.BindAddr, cc.Insecure = "s1", "127.0.0.1", true
			cc.Meta = cluster.Meta{ID: "s1", Role: cluster.RoleShard, GRPCAddr: "127.0.0.1:1", Partitions: []int{0}, Schema: schema}
			shard, err := cluster.Start(cc)
			if err != nil {
				t.Fatal(err)
			}
			defer shard.Shutdown()
			ctx := context.Background()
			coord, err := StartCoordinator(ctx, CoordinatorConfig{
				Gossip:   Gossip{Bind: "127.0.0.1", Join: []string{shard.Addr()}, Timeout: 10 * time.Second},
				Security: Security{Insecure: true},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer coord.Close()
			_, err = coord.WaitReady(ctx, 1, 10*time.Second)
			for _, w := range c.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Fatalf("err = %v, want a refusal saying %q", err, w)
				}
			}
		})
	}
}
