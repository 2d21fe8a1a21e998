package job_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"altmin/job"
)

// TestTensorInitOverShards computes the --init tensor start in process and
// through 2 and 3 in-process shards over gRPC (the moment passes of
// fleet.MomentSource), and compares weights.npy byte for byte: of the start
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
