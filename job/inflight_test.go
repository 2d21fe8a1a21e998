package job

import (
	"runtime"
	"testing"

	"go.uber.org/zap"

	"altmin/fleet"
)

func TestInFlight(t *testing.T) {
	loop := []fleet.Member{{ID: "a", Addr: "127.0.0.1:7001"}, {ID: "b", Addr: "[::1]:7002"}, {ID: "c", Addr: "localhost:7003"}}
	mixed := append(loop[:2:2], fleet.Member{ID: "d", Addr: "10.0.0.4:7000"})
	for _, c := range []struct {
		name     string
		parallel int
		shards   []fleet.Member
		want     int
	}{
		{"loopback shards share this machine's cores", 0, loop, runtime.GOMAXPROCS(0)},
		{"a shard elsewhere: every partition", 0, mixed, 16},
		{"no shard in view yet", 0, nil, 16},
		{"--parallel wins", 5, loop, 5},
		{"--parallel wins elsewhere too", 3, mixed, 3},
		{"unparsable address", 0, []fleet.Member{{ID: "x", Addr: "nohostport"}}, 16},
	} {
		o := Options{Partitions: 16, Parallel: c.parallel}
		if got := inFlight(o, c.shards, zap.NewNop()); got != c.want {
			t.Errorf("%s: %d partitions at once, want %d", c.name, got, c.want)
		}
	}
}
