package job_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"altmin/job"
)

// TestTensorInitOverShards computes the --init tensor start in process and
// through 2 and 3 in-process shards over gRPC (the moment passes of
// the same msg.Fetcher as the statistics), and compares weights.npy byte for byte: of the start
// alone (--iters 0) and after three solves.
func TestTensorInitOverShards(t *testing.T) {
	for _, iters := range []int{0, 3} {
		o := options("model=sum,d=12,k=3,n=6000,seed=11,signs=alternate")
		o.Init, o.Iters, o.Tol = "tensor", iters, 0
		var want []byte
		var wantInit string
		for _, shards := range []int{0, 2, 3} {
			o.LocalShards, o.Out = shards, t.TempDir()
			var out bytes.Buffer
			res, err := job.Train(context.Background(), o, &out, zaptest.NewLogger(t))
			if err != nil {
				t.Fatalf("iters %d, %d shards: %v\n%s", iters, shards, err, out.String())
			}
			overGRPC := strings.Contains(out.String(), "tensor initialization: moments of 8 partitions from the shards")
			if overGRPC != (shards > 0) {
				t.Errorf("iters %d, %d shards: moments from the shards = %v\n%s", iters, shards, overGRPC, out.String())
			}
			got, err := os.ReadFile(filepath.Join(o.Out, "weights.npy"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(res.Model.Init, "tensor") {
				t.Fatalf("init %q", res.Model.Init)
			}
			if want == nil {
				want, wantInit = got, res.Model.Init
				continue
			}
			if !bytes.Equal(got, want) || res.Model.Init != wantInit {
				t.Fatalf("iters %d: weights.npy (init %q) through %d shards differs from the in-process run (init %q)", iters, res.Model.Init, shards, wantInit)
			}
		}
	}
}

// TestPrepareTensor: Prepare computes a tensor start in process; the
// tensor start is refused for resnet (use identity) and by Prepare with
// --join (the shards compute it when training).
func TestPrepareTensor(t *testing.T) {
	o := options("model=sum,d=8,k=2,n=4000,seed=3")
	o.Init, o.Out = "tensor", t.TempDir()
	pr, err := job.Prepare(o)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	if pr.Start == nil || len(pr.Start.W[0]) != pr.Spec.M() || !strings.HasPrefix(pr.StartDesc, "tensor") {
		t.Fatalf("start %v (%q), want a tensor start of %d weights", pr.Start, pr.StartDesc, pr.Spec.M())
	}
	r := options("model=resnet,d=4,n=400,seed=1")
	r.Init, r.Out = "tensor", t.TempDir()
	if _, err := job.Prepare(r); !errors.Is(err, job.ErrOptions) || !strings.Contains(err.Error(), "identity") {
		t.Errorf("resnet with --init tensor: %v, want ErrOptions naming identity", err)
	}
	j := o
	j.Join = []string{"127.0.0.1:1"}
	if _, err := job.Prepare(j); !errors.Is(err, job.ErrOptions) || !strings.Contains(err.Error(), "--join") {
		t.Errorf("Prepare with --join: %v, want ErrOptions naming --join", err)
	}
}
