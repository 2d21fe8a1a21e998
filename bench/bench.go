package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"altmin/data"
	"altmin/linalg"
	"altmin/msg"
	"altmin/shard"
)

// Case is one benchmark size.
type Case struct {
	Name       string
	N, D, K    int
	Partitions int
	Dense      bool // also time the dense baseline (on DenseRows rows, scaled to N)
	DenseRows  int
	Shards     int // > 0: also time whole iterations through that many in-process shards over gRPC
}

// Row is one measured line.
type Row struct {
	Case       Case
	StatsSec   float64 // statistics pass over all partitions (patterns + Gram), GOMAXPROCS partitions at a time
	SolveSec   float64 // reduce + Cholesky solve on the coordinator
	IterSec    float64 // StatsSec + SolveSec
	MaddsPerS  float64 // N d^2/2 / StatsSec
	PeakFrac   float64 // MaddsPerS against the Gram kernel's in-cache rate on GOMAXPROCS cores (linalg.GramPeak)
	DenseSec   float64 // baseline statistics pass, scaled to N
	Ratio      float64 // DenseSec / StatsSec
	ShardIter  float64 // seconds per whole iteration through Shards gRPC shards
	InProcIter float64 // seconds per whole iteration in process (driver + engine)
	PeakRSSMiB float64
}

// Standard returns the sizes of the performance issue.
func Standard() []Case {
	cs := []Case{
		{Name: "target", N: 100000, D: 100, K: 10, Partitions: 8, Dense: true, DenseRows: 5000},
		// One partition per core, as one shard process on 2 cores holds them.
		{Name: "target/P2", N: 100000, D: 100, K: 10, Partitions: 2, Dense: true, DenseRows: 5000},
	}
	for _, k := range []int{1, 2, 4, 8, 16, 32, 64} {
		cs = append(cs, Case{Name: "k-sweep", N: 100000, D: 50, K: k, Partitions: 8})
	}
	for _, n := range []int{10000, 100000, 1000000, 10000000} {
		cs = append(cs, Case{Name: "n-sweep", N: n, D: 50, K: 5, Partitions: 8})
	}
	cs = append(cs, Case{Name: "overhead", N: 1000000, D: 100, K: 10, Partitions: 8, Shards: 3})
	return cs
}

// Quick returns small sizes for a smoke run.
func Quick() []Case {
	return []Case{
		{Name: "target/20", N: 5000, D: 100, K: 10, Partitions: 8, Dense: true, DenseRows: 1000},
		{Name: "k-sweep", N: 5000, D: 20, K: 16, Partitions: 4},
		{Name: "overhead", N: 20000, D: 20, K: 4, Partitions: 4, Shards: 2},
	}
}

// Run measures every case, reps times each (the median is kept), and prints
// a table to out.
func Run(ctx context.Context, cases []Case, reps int, out io.Writer) ([]Row, error) {
	fmt.Fprintf(out, "machine: %s, GOMAXPROCS %d, %s\n", cpuModel(), runtime.GOMAXPROCS(0), runtime.Version())
	core := linalg.GramPeak(300 * time.Millisecond)
	peak := core * float64(runtime.GOMAXPROCS(0))
	fmt.Fprintf(out, "dense baseline: %s\n", DenseBLAS)
	fmt.Fprintf(out, "kernel peak: %.3g madd/s on one core (Gram kernel, data in L1), %.3g on GOMAXPROCS cores; %%peak = madd/s of the case against the latter\n", core, peak)
	fmt.Fprintf(out, "%-9s %9s %4s %3s %9s %9s %9s %10s %6s %9s %7s %9s %9s %8s\n",
		"case", "n", "d", "k", "stats_s", "solve_s", "iter_s", "madd/s", "%peak", "dense_s", "ratio", "inproc_s", "grpc_s", "peakMiB")
	var rows []Row
	for _, c := range cases {
		if err := ctx.Err(); err != nil {
			return rows, err
		}
		r, err := measure(ctx, c, reps)
		if err != nil {
			return rows, fmt.Errorf("bench %s n=%d d=%d k=%d: %w", c.Name, c.N, c.D, c.K, err)
		}
		r.PeakFrac = r.MaddsPerS / peak
		rows = append(rows, r)
		fmt.Fprintf(out, "%-9s %9d %4d %3d %9.4f %9.4f %9.4f %10.3g %6.0f %9s %7s %9s %9s %8.0f\n",
			c.Name, c.N, c.D, c.K, r.StatsSec, r.SolveSec, r.IterSec, r.MaddsPerS, 100*r.PeakFrac,
			opt(r.DenseSec, "%.3f"), opt(r.Ratio, "%.1f"), opt(r.InProcIter, "%.4f"), opt(r.ShardIter, "%.4f"), r.PeakRSSMiB)
	}
	return rows, nil
}

func opt(v float64, f string) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf(f, v)
}

func measure(ctx context.Context, c Case, reps int) (Row, error) {
	spec := fmt.Sprintf("model=sum,d=%d,k=%d,n=%d,seed=1", c.D, c.K, c.N)
	g, err := data.ParseSynthetic(spec)
	if err != nil {
		return Row{}, err
	}
	mspec, wstar := g.Teacher()
	parts := make([]*shard.Partition, c.Partitions)
	for p := range parts {
		if parts[p], err = shard.Load(g, c.Partitions, p, false); err != nil {
			return Row{}, err
		}
	}
	eng, err := shard.NewEngine(parts...)
	if err != nil {
		return Row{}, err
	}
	// Weights: the teacher perturbed, so patterns are realistic.
	u := make([]float64, len(wstar))
	for i, w := range wstar {
		u[i] = w + 0.3*math.Sin(float64(7*i+1))/math.Sqrt(float64(c.D))
	}
	req := &msg.StatsRequest{Iter: 0, D: c.D, Signs: mspec.Signs, U: u}
	row := Row{Case: c}
	var stats []*msg.Stats
	row.StatsSec, err = median(reps, func() error {
		stats, err = computeAll(eng, req, c.Partitions)
		return err
	})
	if err != nil {
		return row, err
	}
	m := c.D * c.K
	row.SolveSec, err = median(reps, func() error {
		gsum := make([]float64, linalg.PackedLen(m))
		rsum := make([]float64, m)
		for _, s := range stats {
			for i, v := range s.Gram {
				gsum[i] += v
			}
			for i, v := range s.R {
				rsum[i] += v
			}
		}
		_, err := linalg.SolveNormal(make([]float64, m), gsum, rsum, m, u)
		return err
	})
	if err != nil {
		return row, err
	}
	row.IterSec = row.StatsSec + row.SolveSec
	row.MaddsPerS = float64(c.N) * float64(c.D) * float64(c.D) / 2 / row.StatsSec
	if c.Dense {
		p := parts[0]
		rows := min(c.DenseRows, p.Rows)
		pat := linalg.NewPatterns(rows, c.K)
		linalg.ComputePatterns(pat, nil, p.X[:rows*c.D], c.D, u, mspec.Signs)
		g := make([]float64, linalg.PackedLen(m))
		r := make([]float64, m)
		sec, _ := median(1, func() error {
			DenseStats(g, r, p.X[:rows*c.D], p.Y[:rows], c.D, pat, mspec.Signs)
			return nil
		})
		// Single-threaded on rows rows; scale to N rows on GOMAXPROCS cores.
		row.DenseSec = sec * float64(c.N) / float64(rows) / float64(runtime.GOMAXPROCS(0))
		row.Ratio = row.DenseSec / row.StatsSec
	}
	if c.Shards > 0 {
		if row.InProcIter, err = iterTime(ctx, spec, c, 0); err != nil {
			return row, err
		}
		if row.ShardIter, err = iterTime(ctx, spec, c, c.Shards); err != nil {
			return row, err
		}
	}
	row.PeakRSSMiB = peakRSS()
	return row, nil
}

// computeAll computes every partition, GOMAXPROCS at a time, as a shard does.
func computeAll(eng *shard.Engine, req *msg.StatsRequest, parts int) ([]*msg.Stats, error) {
	out := make([]*msg.Stats, parts)
	errs := make([]error, parts)
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for p := 0; p < parts; p++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var st msg.Partial
			if st, errs[p] = eng.Fetch(context.Background(), req, msg.Leaf(p)); errs[p] == nil {
				out[p] = st.(*msg.Stats)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// iterTime trains 4 iterations through the job runtime (in process when
// shards is 0, else through that many in-process shards over gRPC) and
// returns the median seconds of iterations 1..3.
func iterTime(ctx context.Context, spec string, c Case, shards int) (float64, error) {
	it, err := trainIters(ctx, spec, c.Partitions, shards, 3, nil)
	return it.Seconds, err
}

func median(reps int, f func() error) (float64, error) {
	var ts []float64
	for i := 0; i < max(1, reps); i++ {
		t0 := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		ts = append(ts, time.Since(t0).Seconds())
	}
	return medianOf(ts), nil
}

func medianOf(ts []float64) float64 {
	if len(ts) == 0 {
		return 0
	}
	s := append([]float64(nil), ts...)
	for i := range s { // insertion sort, tiny slices
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2]
}

// peakRSS returns the process's peak resident set (VmHWM) in MiB, or 0.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			if _, v, ok := strings.Cut(line, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return runtime.GOARCH
}
