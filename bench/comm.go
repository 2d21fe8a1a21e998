package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"altmin/data"
	"altmin/job"
	"altmin/linalg"
	"altmin/msg"
	"altmin/shard"
	"altmin/transport"
)

// CommConfig sizes the communication benchmark (RunComm).
type CommConfig struct {
	// Iters is the number of iterations timed per run, after a first one
	// that warms caches and connections; the median is reported.
	Iters int
	// ShardBin is the path of the shard binary, for the runs through
	// shard processes; "" leaves them out.
	ShardBin string
	// Quick shrinks every size, for a smoke run.
	Quick bool
}

// RunComm measures how the cost of an iteration splits between the
// statistics, their transfer and reduction and the solve, and how the
// coordinator's inbound traffic scales, printing to out:
//
//	(a) n = 1e5, d = 100, k = 10, P = 8: in process, through 2 in-process
//	    shards over gRPC, and through 3 shard processes (with ShardBin);
//	(b) inbound partials, bytes and seconds per iteration for P = 8, 64,
//	    512 at 4 in-process shards (placement's aligned blocks);
//	(c) m = d k = 1000, 2000, 4096: the statistics pass, the transfer of
//	    one partial over loopback TCP, one addition of two partials of
//	    the reduction tree, and the solve, separately;
//	(d) beside each, the kernel's floor: n d^2 / 2 multiply-adds at the
//	    Gram kernel's measured peak on GOMAXPROCS cores.
func RunComm(ctx context.Context, cfg CommConfig, out io.Writer) error {
	cfg.Iters = max(cfg.Iters, 1)
	fmt.Fprintf(out, "machine: %s, GOMAXPROCS %d, %s\n", cpuModel(), runtime.GOMAXPROCS(0), runtime.Version())
	peak := linalg.GramPeak(300*time.Millisecond) * float64(runtime.GOMAXPROCS(0))
	fmt.Fprintf(out, "kernel peak: %.3g madd/s on GOMAXPROCS cores; floor = n d^2/2 / peak\n", peak)
	floor := func(n, d int) float64 { return float64(n) * float64(d) * float64(d) / 2 / peak }

	n, d, k := 100000, 100, 10
	if cfg.Quick {
		n = 10000
	}
	spec := fmt.Sprintf("model=sum,d=%d,k=%d,n=%d,seed=1", d, k, n)
	fmt.Fprintf(out, "\n(a) n=%d d=%d k=%d P=8: seconds per iteration, median of %d iterations\n", n, d, k, cfg.Iters)
	fmt.Fprintf(out, "%-22s %9s %9s %9s %8s %12s %9s\n", "runtime", "iter_s", "stats_s", "solve_s", "partials", "inbound_B", "floor_s")
	var base float64
	for _, rt := range []struct {
		name   string
		shards int
	}{{"in process", 0}, {"2 in-process shards", 2}} {
		it, err := trainIters(ctx, spec, 8, rt.shards, cfg.Iters, nil)
		if err != nil {
			return fmt.Errorf("(a) %s: %w", rt.name, err)
		}
		printIter(out, rt.name, it, floor(n, d))
		if rt.shards == 0 {
			base = it.Seconds
		} else {
			fmt.Fprintf(out, "%-22s %8.0f%%\n", "  over in process", 100*(it.Seconds/base-1))
		}
	}
	if cfg.ShardBin != "" {
		it, err := processIters(ctx, cfg.ShardBin, spec, 8, 3, cfg.Iters)
		if err != nil {
			return fmt.Errorf("(a) 3 shard processes: %w", err)
		}
		printIter(out, "3 shard processes", it, floor(n, d))
		fmt.Fprintf(out, "%-22s %8.0f%%\n", "  over in process", 100*(it.Seconds/base-1))
	} else {
		fmt.Fprintln(out, "3 shard processes: skipped (no --shard-bin)")
	}

	fmt.Fprintf(out, "\n(b) n=%d d=%d k=%d, 4 in-process shards, replication 1: per iteration, median of %d iterations\n", n, d, k, cfg.Iters)
	fmt.Fprintf(out, "%-6s %9s %9s %8s %12s %14s\n", "P", "iter_s", "stats_s", "partials", "inbound_B", "leaf_partial_B")
	for _, p := range []int{8, 64, 512} {
		it, err := trainIters(ctx, spec, p, 4, cfg.Iters, nil)
		if err != nil {
			return fmt.Errorf("(b) P=%d: %w", p, err)
		}
		fmt.Fprintf(out, "%-6d %9.4f %9.4f %8d %12d %14d\n", p, it.Seconds, it.StatsSeconds, it.Partials, it.InboundBytes, msg.PartialBytes(d*k))
	}

	fmt.Fprintf(out, "\n(c) the parts of an iteration by size, P=8; transfer = one partial over loopback TCP, reduce = one addition of two partials\n")
	fmt.Fprintf(out, "%-5s %6s %4s %3s %10s %9s %11s %9s %9s %9s %7s\n", "m", "n", "d", "k", "partial_MB", "stats_s", "transfer_s", "reduce_s", "solve_s", "floor_s", "x_floor")
	for _, c := range []struct{ n, d, k int }{{20000, 100, 10}, {20000, 100, 20}, {10000, 128, 32}} {
		if cfg.Quick {
			c.n = 2000
		}
		r, err := parts(ctx, c.n, c.d, c.k, cfg.Iters)
		if err != nil {
			return fmt.Errorf("(c) m=%d: %w", c.d*c.k, err)
		}
		f := floor(c.n, c.d)
		fmt.Fprintf(out, "%-5d %6d %4d %3d %10.1f %9.4f %11.4f %9.4f %9.4f %9.4f %7.1f\n", c.d*c.k, c.n, c.d, c.k,
			float64(msg.PartialBytes(c.d*c.k))/1e6, r.stats, r.transfer, r.reduce, r.solve, f, r.stats/f)
	}
	return nil
}

// iterStats are the medians of the timed iterations of a run.
type iterStats struct {
	Seconds, StatsSeconds, SolveSeconds float64
	Partials                            int
	InboundBytes                        int64
}

func printIter(out io.Writer, name string, it iterStats, floor float64) {
	fmt.Fprintf(out, "%-22s %9.4f %9.4f %9.4f %8d %12d %9.4f\n", name, it.Seconds, it.StatsSeconds, it.SolveSeconds, it.Partials, it.InboundBytes, floor)
}

// trainIters trains iters+1 iterations of spec in P partitions, in process
// (shards 0) or through that many in-process shards, or joining the
// cluster of join, and returns the medians of iterations 1..iters from
// metrics.jsonl.
func trainIters(ctx context.Context, spec string, p, shards, iters int, join []string) (iterStats, error) {
	dir, err := os.MkdirTemp("", "altmin-bench-")
	if err != nil {
		return iterStats{}, err
	}
	defer os.RemoveAll(dir)
	o := job.DefaultOptions()
	o.Synthetic, o.Partitions, o.Iters, o.Tol, o.Out, o.LocalShards = spec, p, iters, 0, dir, shards
	o.Init = "perturb:0.3"
	if join != nil {
		ports, err := freePorts(1)
		if err != nil {
			return iterStats{}, err
		}
		o.Join, o.Insecure, o.GossipBind, o.LocalShards = join, true, fmt.Sprintf("127.0.0.1:%d", ports[0]), 0
	}
	if _, err := job.Train(ctx, o, io.Discard, nil); err != nil {
		return iterStats{}, err
	}
	f, err := os.Open(dir + "/metrics.jsonl")
	if err != nil {
		return iterStats{}, err
	}
	defer f.Close()
	var secs, stats, solve, partials, bytes []float64
	sc := bufio.NewScanner(f)
	for i := 0; sc.Scan(); i++ {
		if i == 0 {
			continue // the first iteration warms caches and connections
		}
		var m job.Metric
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return iterStats{}, err
		}
		secs, stats, solve = append(secs, m.Seconds), append(stats, m.StatsSeconds), append(solve, m.SolveSeconds)
		partials, bytes = append(partials, float64(m.Partials)), append(bytes, float64(m.InboundBytes))
	}
	return iterStats{Seconds: medianOf(secs), StatsSeconds: medianOf(stats), SolveSeconds: medianOf(solve),
		Partials: int(medianOf(partials)), InboundBytes: int64(medianOf(bytes))}, sc.Err()
}

// processIters starts shards shard processes of bin on loopback holding
// spec's P partitions in placement's blocks, trains through them as
// trainIters does, and stops them.
func processIters(ctx context.Context, bin, spec string, p, shards, iters int) (iterStats, error) {
	ports, err := freePorts(2 * shards)
	if err != nil {
		return iterStats{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var cmds []*exec.Cmd
	defer func() {
		cancel()
		for _, c := range cmds {
			_ = c.Wait()
		}
	}()
	seed := fmt.Sprintf("127.0.0.1:%d", ports[0])
	for i := 0; i < shards; i++ {
		args := []string{"--id", fmt.Sprintf("bench-%d", i), "--insecure", "--synthetic", spec,
			"--num-partitions", fmt.Sprint(p), "--partitions", "auto", "--shard-index", fmt.Sprint(i), "--shards", fmt.Sprint(shards),
			"--gossip-addr", fmt.Sprintf("127.0.0.1:%d", ports[2*i]), "--grpc-addr", fmt.Sprintf("127.0.0.1:%d", ports[2*i+1]), "--log-level", "warn"}
		if i > 0 {
			args = append(args, "--join", seed)
		}
		c := exec.CommandContext(ctx, bin, args...)
		c.Stderr = os.Stderr
		if err := c.Start(); err != nil {
			return iterStats{}, fmt.Errorf("starting %s: %w", bin, err)
		}
		cmds = append(cmds, c)
	}
	return trainIters(ctx, spec, p, 0, iters, []string{seed})
}

// freePorts returns n distinct loopback ports free when asked.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// partTimes are the medians of the parts of an iteration at one size.
type partTimes struct {
	stats, transfer, reduce, solve float64
}

// parts times, at n rows of d features and k units in 8 partitions, the
// statistics pass (every partition, GOMAXPROCS at a time, added in the
// reduction tree), the transfer of one partial from a shard server to a
// client over loopback TCP (without computing it), one addition of two
// partials and the Cholesky solve.
func parts(ctx context.Context, n, d, k, reps int) (partTimes, error) {
	const P = 8
	g, err := data.ParseSynthetic(fmt.Sprintf("model=sum,d=%d,k=%d,n=%d,seed=1", d, k, n))
	if err != nil {
		return partTimes{}, err
	}
	spec, wstar := g.Teacher()
	ps := make([]*shard.Partition, P)
	for p := range ps {
		if ps[p], err = shard.Load(g, P, p, false); err != nil {
			return partTimes{}, err
		}
	}
	eng, err := shard.NewEngine(ps...)
	if err != nil {
		return partTimes{}, err
	}
	eng.SetPartitionCount(P)
	u := make([]float64, len(wstar))
	for i, w := range wstar {
		u[i] = w + 0.3*math.Sin(float64(7*i+1))/math.Sqrt(float64(d))
	}
	req := &msg.StatsRequest{D: d, Signs: spec.Signs, U: u}
	var t partTimes
	var sum msg.Partial
	if t.stats, err = median(reps, func() error {
		sum, err = eng.Fetch(ctx, req, msg.Root(P))
		return err
	}); err != nil {
		return t, err
	}
	st := sum.(*msg.Stats)
	m := d * k
	if t.transfer, err = transferTime(ctx, st, req, reps); err != nil {
		return t, err
	}
	if t.solve, err = median(reps, func() error {
		_, err := linalg.SolveNormal(make([]float64, m), slices.Clone(st.Gram), slices.Clone(st.R), m, u)
		return err
	}); err != nil {
		return t, err
	}
	other := cloneStats(st)
	t.reduce, _ = median(reps, func() error {
		st.Add(other, req) // st is not read again
		return nil
	})
	return t, nil
}

// cloneStats returns a copy of s with buffers of its own.
func cloneStats(s *msg.Stats) *msg.Stats {
	c := *s
	c.Gram, c.R = slices.Clone(s.Gram), slices.Clone(s.R)
	return &c
}

// transferTime serves st from a shard server on loopback TCP and returns
// the median time of a client's call for it (encode, chunks, gRPC,
// decode and the finiteness check), less the time of the copy the server
// is handed each call.
func transferTime(ctx context.Context, st *msg.Stats, req *msg.StatsRequest, reps int) (float64, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	serve := msg.Fetcher(fetchFunc(func(context.Context, msg.Request, msg.Span) (msg.Partial, error) {
		c := cloneStats(st)
		c.Partition, c.Parts = 0, 1
		return c, nil
	}))
	srv := transport.NewServer(serve, nil, transport.ShardInfo{ID: "bench", Schema: transport.Schema{P: 1, D: st.M, N: st.Rows, Rows: map[int]int{0: st.Rows}}}, nil)
	gs := grpc.NewServer(transport.StreamServerOptions()...)
	transport.Register(gs, srv)
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()
	cl, err := transport.Dial(ctx, lis.Addr().String(), nil, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, transport.StreamDialOptions()...)...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	call, err := median(reps+1, func() error {
		_, err := cl.Call(ctx, "bench", req, msg.Leaf(0))
		return err
	})
	if err != nil {
		return 0, err
	}
	clone, _ := median(reps, func() error {
		cloneStats(st)
		return nil
	})
	return max(call-clone, 0), nil
}

// fetchFunc adapts a function to msg.Fetcher.
type fetchFunc func(context.Context, msg.Request, msg.Span) (msg.Partial, error)

func (f fetchFunc) Fetch(ctx context.Context, req msg.Request, s msg.Span) (msg.Partial, error) {
	return f(ctx, req, s)
}
