package job_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"altmin/fleet"
	"altmin/internal/arith"
	"altmin/job"
	"altmin/msg"
	"altmin/shard"
)

// engineFetcher computes every partition in process.
func engineFetcher(t *testing.T, pr *job.Problem, parts int) msg.Fetcher {
	t.Helper()
	var ps []*shard.Partition
	for p := 0; p < parts; p++ {
		pt, err := shard.Load(pr.Source, parts, p, pr.Spec.Bias)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, pt)
	}
	eng, err := shard.NewEngine(ps...)
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// failAt makes every fetch of round iter fail: the coordinator dies there,
// after the checkpoint of round iter-1.
type failAt struct {
	f    msg.Fetcher
	iter int
}

func (f failAt) Fetch(ctx context.Context, req msg.Request, p msg.Span) (msg.Partial, error) {
	if req.Round() == f.iter {
		return nil, fleet.ErrInjected
	}
	return f.f.Fetch(ctx, req, p)
}

func resumeOptions(out string) job.Options {
	o := job.DefaultOptions()
	o.Synthetic = "model=sum,d=15,k=3,n=3000,seed=4"
	o.LocalShards, o.Parallel, o.Out = 0, 2, out
	return o
}

func TestResumeBitIdentical(t *testing.T) {
	ctx := context.Background()
	ref := resumeOptions(t.TempDir())
	if _, err := job.Train(ctx, ref, io.Discard, zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(ref.Out, "weights.npy"))
	if err != nil {
		t.Fatal(err)
	}

	for _, crashAt := range []int{1, 3, 5} {
		o := resumeOptions(t.TempDir())
		pr, err := job.Prepare(o)
		if err != nil {
			t.Fatal(err)
		}
		_, err = job.Run(ctx, o, pr, failAt{engineFetcher(t, pr, o.Partitions), crashAt}, io.Discard, zaptest.NewLogger(t))
		if !errors.Is(err, fleet.ErrInjected) {
			t.Fatalf("crash at %d: err = %v, want the injected fault", crashAt, err)
		}
		var out bytes.Buffer
		if _, err := job.Train(ctx, o, &out, zaptest.NewLogger(t)); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "resuming from the checkpoint") {
			t.Errorf("crash at %d: the second run did not resume:\n%s", crashAt, out.String())
		}
		got, err := os.ReadFile(filepath.Join(o.Out, "weights.npy"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("crash at %d: resumed weights differ from the uninterrupted run", crashAt)
		}
		// metrics.jsonl has exactly one line per iteration after the resume.
		m, err := os.ReadFile(filepath.Join(o.Out, "metrics.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		r, _ := os.ReadFile(filepath.Join(ref.Out, "metrics.jsonl"))
		if a, b := bytes.Count(m, []byte("\n")), bytes.Count(r, []byte("\n")); a != b {
			t.Errorf("crash at %d: %d metrics lines, uninterrupted run has %d", crashAt, a, b)
		}
		pr.Close()
	}
}

// interrupted runs the resume test's job until a fault stops it at
// iteration 2, leaving an unfinished checkpoint in o.Out, and returns o.
func interrupted(t *testing.T) job.Options {
	t.Helper()
	o := resumeOptions(t.TempDir())
	pr, err := job.Prepare(o)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	if _, err := job.Run(context.Background(), o, pr, failAt{engineFetcher(t, pr, o.Partitions), 2}, io.Discard, zaptest.NewLogger(t)); err == nil {
		t.Fatal("the injected fault did not stop the run")
	}
	return o
}

func TestForeignCheckpointRefused(t *testing.T) {
	ctx := context.Background()
	o := interrupted(t)
	for name, change := range map[string]func(*job.Options){
		"other data":       func(o *job.Options) { o.Synthetic = "model=sum,d=15,k=3,n=3000,seed=5" },
		"other partitions": func(o *job.Options) { o.Partitions = 4 },
		"other init seed":  func(o *job.Options) { o.Seed = 2 },
		"other method":     func(o *job.Options) { o.Method = "gd" },
	} {
		o2 := o
		change(&o2)
		_, err := job.Train(ctx, o2, io.Discard, zaptest.NewLogger(t))
		if !errors.Is(err, job.ErrCheckpoint) || !strings.Contains(err.Error(), "another configuration") {
			t.Errorf("%s: err = %v, want a refused checkpoint", name, err)
		}
	}
}

// A checkpoint written by a build for another floating-point arithmetic is
// refused, naming both builds, and so is one without the field (every
// build writes it).
func TestCheckpointOfOtherArithmeticRefused(t *testing.T) {
	ctx := context.Background()
	o := interrupted(t)
	path := filepath.Join(o.Out, "checkpoint.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cp map[string]json.RawMessage
	if err := json.Unmarshal(b, &cp); err != nil {
		t.Fatal(err)
	}
	var own string
	if err := json.Unmarshal(cp["arith"], &own); err != nil || own != arith.Build() {
		t.Fatalf("checkpoint records arith %s (%v), want %q", cp["arith"], err, arith.Build())
	}
	write := func(v json.RawMessage) {
		if v == nil {
			delete(cp, "arith")
		} else {
			cp["arith"] = v
		}
		nb, err := json.Marshal(cp)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, nb, 0o644); err != nil {
			t.Fatal(err)
		}
		// The checksum of the edited content, for the arithmetic to
		// be what is refused.
		if err := job.ResealCheckpoint(o.Out); err != nil {
			t.Fatal(err)
		}
	}
	write(json.RawMessage(`"riscv64/rva99"`))
	_, err = job.Train(ctx, o, io.Discard, zaptest.NewLogger(t))
	if !errors.Is(err, job.ErrCheckpoint) || !strings.Contains(err.Error(), "riscv64/rva99") || !strings.Contains(err.Error(), arith.Build()) {
		t.Errorf("other arithmetic: err = %v, want a refused checkpoint naming both builds", err)
	}
	write(nil)
	if _, err := job.Train(ctx, o, io.Discard, zaptest.NewLogger(t)); !errors.Is(err, job.ErrCheckpoint) {
		t.Errorf("checkpoint without arith: err = %v, want a refused checkpoint", err)
	}
	write(json.RawMessage(`"` + arith.Build() + `"`))
	if _, err := job.Train(ctx, o, io.Discard, zaptest.NewLogger(t)); err != nil {
		t.Errorf("checkpoint of this arithmetic: %v, want it resumed", err)
	}
}
