package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"altmin/internal/arith"
)

// The golden runs: a fixed list of training problems covering every model
// family, start, method, data format, storage and runtime, with the sha256
// of the weight files each must produce. Every runtime of a problem (in
// process, in-process gRPC shards, a cluster of shard processes, streaming
// partitions, a coordinator killed and resumed) must give the recorded
// bits. Every run is of the papers' method (--paper), which every default
// run was when the hashes were recorded. The hashes are those of the
// default build's arithmetic (amd64/v1, see internal/arith); other
// arithmetic skips the test.

// runtime names how a golden problem is trained.
type runtime string

const (
	inProcess   runtime = "in process"           // --local-shards 0
	localShards runtime = "2 local shards"       // the default: in-process shards over gRPC
	threeLocal  runtime = "3 local shards"       // --local-shards 3
	streaming   runtime = "streaming"            // --local-shards 0 --resident 1
	processes   runtime = "3 shard processes"    // a cluster of shard processes, --join
	killResume  runtime = "killed and resumed"   // a coordinator killed mid-run, then run again
	overlapping runtime = "2 processes, overlap" // partitions 2-5 on both shard processes
)

// goldenProblem is one training problem: the data and model flags given to
// every node that holds data (coordinator or shards), the coordinator's
// other flags, and the sha256 of each weight file.
type goldenProblem struct {
	name  string
	data  []string          // data flags (--synthetic, or --data ... made by files), also given to shards
	train []string          // the coordinator's model and training flags
	files func(dir string)  // writes the problem's data files into dir, when it has any
	want  map[string]string // weight file -> sha256
	runs  []runtime
}

// demoHash is the sha256 of the demo's weights.npy.
const demoHash = "398e9d77be5ba224555efe2eba577d15fb0d26eb01959a9dcff1925ab9d0e09d"

func goldenProblems() []goldenProblem {
	demo := "model=sum,d=50,k=5,n=50000,seed=1"
	return []goldenProblem{
		{name: "demo", data: nil, runs: []runtime{localShards, inProcess},
			want: map[string]string{"weights.npy": demoHash}},
		{name: "demo as a cluster", data: []string{"--synthetic", demo}, runs: []runtime{processes, overlapping},
			want: map[string]string{"weights.npy": demoHash}},
		{name: "relu random", data: []string{"--synthetic", "model=relu,d=10,n=3000,seed=2"}, runs: []runtime{inProcess, localShards},
			want: map[string]string{"weights.npy": "c1776d56c209edee3235291d2a469e3ba5c5e395606cc2a717597ab9d8623118"}},
		{name: "resnet identity", data: []string{"--synthetic", "model=resnet,d=8,n=4000,seed=3"}, runs: []runtime{inProcess, localShards, processes},
			want: map[string]string{"weights.npy": "8c7054b1f2ea9afb09cba0551cd17a0118ef9bec9d6c5f7618f4952dab1f8c2b"}},
		{name: "sum tensor", data: []string{"--synthetic", "model=sum,d=12,k=3,n=6000,seed=11"}, train: []string{"--init", "tensor"},
			runs: []runtime{inProcess, threeLocal, processes}, want: map[string]string{"weights.npy": "68625d52b0e075b056c71efdff7ae92494e58280deeeeae5cc2eda3e46e1cfc0"}},
		{name: "relu tensor bias", data: []string{"--synthetic", "model=relu,d=6,n=3000,seed=7", "--bias"}, train: []string{"--init", "tensor"},
			runs: []runtime{inProcess, localShards}, want: map[string]string{"weights.npy": "b5178a8d976977cb7c8bb25e9125f82f49cbd47d47e7ea650d35ca44760a8099"}},
		{name: "sum gd rule", data: []string{"--synthetic", "model=sum,d=10,k=2,n=4000,seed=5"}, train: []string{"--method", "gd", "--iters", "15"},
			runs: []runtime{inProcess, localShards}, want: map[string]string{"weights.npy": "709f9d257ffd7e23f3013a85093c4ab9cf3fc534dd0f8bd5ab28fc905c86eacd"}},
		{name: "sum gd step", data: []string{"--synthetic", "model=sum,d=10,k=2,n=4000,seed=5"}, train: []string{"--method", "gd", "--step", "0.5", "--iters", "10"},
			runs: []runtime{inProcess}, want: map[string]string{"weights.npy": "f53141849ee77f4790212c16bbf9a2236a208c5f079f68bdc56cf5a0602ce7c8"}},
		{name: "sum perturb alternate", data: []string{"--synthetic", "model=sum,d=10,k=4,n=5000,seed=6,signs=alternate"}, train: []string{"--init", "perturb:0.3"},
			runs: []runtime{inProcess, localShards}, want: map[string]string{"weights.npy": "98b884f34ede21c2f976a1f923a55176fb3b8adab1555d804c0a67e2fae9349b"}},
		{name: "deep perturb", data: []string{"--synthetic", "model=deep,d=10,hidden=6-3,n=4000,seed=5"}, train: []string{"--init", "perturb:0.1"},
			runs: []runtime{inProcess, localShards, processes}, want: map[string]string{"weights_1.npy": "19776c194a22d92dfac47d56020e44b0a60cf0756927675d1e6180d3c2a40974", "weights_2.npy": "9bd786f84b3ec58b7750a67715021ea9171cfdf9e474609823c4f20c3c386706"}},
		{name: "deep random bias", data: []string{"--synthetic", "model=deep,d=8,hidden=5-4-3,n=5000,seed=2", "--bias"}, train: []string{"--iters", "8"},
			runs: []runtime{inProcess, localShards, streaming}, want: map[string]string{"weights_1.npy": "a8276289351d36d7c57bdd1c3f0a8234aca4ab17bdd0c10a5d1b542d3ced6732", "weights_2.npy": "361653a9eeeacda0206f53550f2f2ad207ccb0831204acc74325ed3447193671", "weights_3.npy": "62a35381a63b38a0eb2cc497beafe1f33ea1563fb3a9caaf16b600403247f020"}},
		{name: "npy float32 bias", data: []string{"--data", "X.npy", "--labels", "y.npy", "--bias", "--storage", "float32"}, train: []string{"--k", "3"},
			files: genFiles("model=sum,d=9,k=3,n=7000,seed=8,dtype=float32"),
			runs:  []runtime{inProcess, localShards, streaming, processes}, want: map[string]string{"weights.npy": "7b08159b629e507696fc1fa28e8aa9e3dba0f3afa5409b16361a78129e2b90b4"}},
		{name: "csv sum", data: []string{"--data", "t.csv", "--label", "y"}, train: []string{"--k", "4", "--iters", "10"},
			files: csvFile, runs: []runtime{inProcess, localShards, streaming}, want: map[string]string{"weights.npy": "5c6076e01a1d6885e7ba6d0668c95e8149196c6d8dcde6e81874f06a69eab59b"}},
		{name: "csv deep", data: []string{"--data", "t.csv", "--label", "y", "--bias"}, train: []string{"--model", "deep", "--hidden", "4,3", "--iters", "6", "--signs", "alternate"},
			files: csvFile, runs: []runtime{inProcess, localShards}, want: map[string]string{"weights_1.npy": "818d621bf7502b76271b371708c95dd1019c9dd8c5a6d33c015e41508ebd57f6", "weights_2.npy": "72b9cf554b12548e84022f9c9e504471b594f32ead642a6b42d95f979f06342a"}},
		{name: "resume sum", data: []string{"--synthetic", "model=sum,d=40,k=6,n=400000,seed=21"}, train: []string{"--iters", "12", "--tol", "0"},
			runs: []runtime{inProcess, killResume}, want: map[string]string{"weights.npy": "a839003c8aa798c90f732badab795c7b00dfb0109a885729c4141d646b1f3575"}},
		{name: "resume deep", data: []string{"--synthetic", "model=deep,d=20,hidden=10-5,n=40000,seed=4"}, train: []string{"--iters", "10", "--tol", "0"},
			runs: []runtime{inProcess, killResume}, want: map[string]string{"weights_1.npy": "9789694ef098ee358663ba96621e6c26e867f1f8e9ea5c717f53fa548093c7ac", "weights_2.npy": "67761fb08971652d11b00de38e31f0fa16af80dd1a6bea22fbc2a0d899ccfba5"}},
	}
}

// genFiles returns a files function writing planted data with coordinator
// gen.
func genFiles(spec string) func(dir string) {
	return func(dir string) {
		out, err := exec.Command(filepath.Join(bin, "coordinator"), "gen", "--synthetic", spec, "--out", dir).CombinedOutput()
		if err != nil {
			panic(fmt.Sprintf("gen: %v\n%s", err, out))
		}
	}
}

// csvFile writes t.csv: 3000 rows of 5 features and a label y that no
// small ReLU network fits exactly (a smooth function plus seeded noise),
// the numbers printed with %.17g so they read back exactly.
func csvFile(dir string) {
	rng := rand.New(rand.NewPCG(42, 7))
	var b strings.Builder
	b.WriteString("a,b,y,c,d,e\n")
	for i := 0; i < 3000; i++ {
		x := make([]float64, 5)
		for j := range x {
			x[j] = rng.NormFloat64()
		}
		y := math.Sin(x[0]) + math.Max(0, x[1]-0.5*x[2]) + 0.3*x[3]*x[4] + 0.1*rng.NormFloat64()
		fmt.Fprintf(&b, "%.17g,%.17g,%.17g,%.17g,%.17g,%.17g\n", x[0], x[1], y, x[2], x[3], x[4])
	}
	if err := os.WriteFile(filepath.Join(dir, "t.csv"), []byte(b.String()), 0o644); err != nil {
		panic(err)
	}
}

// TestGoldenWeights trains every golden problem in each of its runtimes and
// compares the sha256 of the weight files with the recorded ones.
func TestGoldenWeights(t *testing.T) {
	if testing.Short() {
		t.Skip("trains about forty models")
	}
	if b := arith.Build(); b != "amd64/v1" {
		t.Skipf("the hashes are of the amd64/v1 arithmetic; this build is %s", b)
	}
	for _, pb := range goldenProblems() {
		t.Run(pb.name, func(t *testing.T) {
			dir := t.TempDir()
			if pb.files != nil {
				pb.files(dir)
			}
			for _, rt := range pb.runs {
				got := trainGolden(t, pb, rt, dir)
				for file, want := range pb.want {
					if got[file] != want {
						t.Errorf("%s, %s: %s has sha256 %s, want %s", pb.name, rt, file, got[file], want)
					}
				}
			}
		})
	}
}

// dataArgs returns the problem's data flags with file names made absolute
// in dir.
func dataArgs(pb goldenProblem, dir string) []string {
	args := slices.Clone(pb.data)
	for i := 1; i < len(args); i++ {
		if (args[i-1] == "--data" || args[i-1] == "--labels") && !filepath.IsAbs(args[i]) {
			args[i] = filepath.Join(dir, args[i])
		}
	}
	return args
}

// trainGolden trains pb in runtime rt and returns the sha256 of each of its
// weight files.
func trainGolden(t *testing.T, pb goldenProblem, rt runtime, dir string) map[string]string {
	t.Helper()
	c := newCluster(t)
	out := filepath.Join(c.dir, "model")
	// --paper: the papers' model and step, as the hashes were recorded.
	args := append([]string{"train", "--paper", "--out", out}, dataArgs(pb, dir)...)
	args = append(args, pb.train...)
	switch rt {
	case inProcess:
		args = append(args, "--local-shards", "0")
	case threeLocal:
		args = append(args, "--local-shards", "3")
	case streaming:
		args = append(args, "--local-shards", "0", "--resident", "1")
	case processes, overlapping:
		layout := []string{"0-2", "3-5", "6,7"}
		if rt == overlapping {
			layout = []string{"0-5", "2-7"}
		}
		for i, parts := range layout {
			sargs := append([]string{"--id", fmt.Sprintf("s%d", i+1), "--partitions", parts, "--insecure"}, dataArgs(pb, dir)...)
			if _, err := c.startShard(sargs...); err != nil {
				t.Fatal(err)
			}
		}
		// The data live on the shards: the coordinator keeps only
		// --synthetic (to report the error against the teacher) and the
		// model flags.
		args = append([]string{"train", "--paper", "--out", out, "--join", c.seed, "--gossip-addr", "127.0.0.1:0", "--insecure", "--join-timeout", "20s"}, coordinatorData(dataArgs(pb, dir))...)
		args = append(args, pb.train...)
	case killResume:
		killMidRun(t, c, args, out)
	}
	o, err := c.coordinator(args...)
	if err != nil {
		t.Fatalf("%s: coordinator %s: %v\n%s", rt, strings.Join(args, " "), err, o)
	}
	if rt == killResume && !strings.Contains(o, "resuming from the checkpoint") {
		t.Fatalf("the second run did not resume:\n%s", o)
	}
	got := map[string]string{}
	for file := range pb.want {
		sum := sha256.Sum256(readFile(t, filepath.Join(out, file)))
		got[file] = hex.EncodeToString(sum[:])
	}
	return got
}

// coordinatorData keeps the flags of a cluster's coordinator among data
// flags: --synthetic (its teacher) and --bias; file data and storage live
// on the shards.
func coordinatorData(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "--synthetic":
			out = append(out, args[i], args[i+1])
			i++
		case "--bias":
			out = append(out, args[i])
		case "--data", "--labels", "--label", "--storage":
			i++
		}
	}
	return out
}

// killMidRun starts the coordinator with args, kills it (SIGKILL) once
// metrics.jsonl in out has two lines and before the run ends, and checks
// that it left an unfinished checkpoint; the caller then runs the same
// command again, which resumes.
func killMidRun(t *testing.T, c *cluster, args []string, out string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "coordinator"), args...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			t.Fatalf("the run ended (%v) before it could be killed after two iterations; make the problem larger\n%s", err, buf.String())
		case <-tick.C:
		}
		if lines(filepath.Join(out, "metrics.jsonl")) >= 2 {
			break
		}
	}
	cmd.Process.Kill()
	<-done
	b, err := os.ReadFile(filepath.Join(out, "checkpoint.json"))
	if err != nil {
		t.Fatalf("no checkpoint after the kill: %v", err)
	}
	if bytes.Contains(b, []byte(`"stopped":"`)) && !bytes.Contains(b, []byte(`"stopped":""`)) {
		t.Fatalf("the run had finished when it was killed; make the problem larger")
	}
}

// lines counts the complete lines of a file (0 when it does not exist).
func lines(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		n++
	}
	return n
}
