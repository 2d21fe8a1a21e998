package job_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"go.uber.org/zap/zaptest"

	"altmin/data"
	"altmin/job"
)

// houseRow is a row of a table with a column of every Parquet type read,
// a string column that must be left out, and the label.
type houseRow struct {
	A     float64 `parquet:"a"`
	B     float32 `parquet:"b"`
	C     int32   `parquet:"c"`
	D     int64   `parquet:"d,dict"`
	Name  string  `parquet:"name"`
	Price float64 `parquet:"price"`
}

// houseTable returns n rows of raw-unit features and a nonlinear label.
func houseTable(seed uint64, n int) []houseRow {
	rng := rand.New(rand.NewPCG(seed, 7))
	rows := make([]houseRow, n)
	for i := range rows {
		a := 1000 + 200*rng.Float64()
		b := float32(0.001 * rng.Float64())
		c := int32(rng.IntN(200) - 100)
		d := int64(rng.IntN(1_000_000))
		price := 5000 + 3*math.Abs(a-1100) + 2e6*float64(b)*float64(b) + 10*math.Max(float64(c), 0) + 1e-3*float64(d) + 20*rng.NormFloat64()
		rows[i] = houseRow{A: a, B: b, C: c, D: d, Name: fmt.Sprintf("house %d", i), Price: price}
	}
	return rows
}

// writeHouseParquet writes rows as Parquet in row groups of the given
// sizes, one row per write and with small pages (many per row group).
func writeHouseParquet(t *testing.T, path string, rows []houseRow, groups ...int) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[houseRow](f, parquet.PageBufferSize(256))
	i := 0
	for _, g := range append(groups, len(rows)-sum(groups)) {
		for _, r := range rows[i : i+g] {
			if _, err := w.Write([]houseRow{r}); err != nil {
				t.Fatal(err)
			}
		}
		i += g
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := errors.Join(w.Close(), f.Close()); err != nil {
		t.Fatal(err)
	}
	return path
}

func sum(v []int) (s int) {
	for _, x := range v {
		s += x
	}
	return s
}

// writeHouseCSV writes rows as CSV with the columns in the order given,
// every value in its shortest exact form.
func writeHouseCSV(t *testing.T, path string, rows []houseRow, cols ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(strings.Join(cols, ",") + "\n")
	for _, r := range rows {
		cells := make([]string, len(cols))
		for j, c := range cols {
			switch c {
			case "a":
				cells[j] = fmt.Sprint(r.A)
			case "b":
				cells[j] = fmt.Sprint(float64(r.B))
			case "c":
				cells[j] = fmt.Sprint(r.C)
			case "d":
				cells[j] = fmt.Sprint(r.D)
			case "name":
				cells[j] = r.Name
			case "price":
				cells[j] = fmt.Sprint(r.Price)
			}
		}
		b.WriteString(strings.Join(cells, ",") + "\n")
	}
	return writeFile(t, path, []byte(b.String()))
}

// houseOptions trains the default real-data model on a house table with
// the features chosen by name, in another order than the file's.
func houseOptions(path string, out string) job.Options {
	o := job.DefaultOptions()
	o.Data, o.Label, o.Features = path, "price", []string{"c", "a", "d", "b"}
	o.K, o.Iters, o.Partitions = 4, 12, 7
	o.LocalShards, o.Parallel, o.Out = 0, 2, out
	return o
}

// sameWeightFiles reports whether output directories a and b hold the
// same weight files, byte for byte.
func sameWeightFiles(t *testing.T, a, b string) bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(a, "*.npy"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no weights in %s: %v", a, err)
	}
	for _, f := range files {
		x, err1 := os.ReadFile(f)
		y, err2 := os.ReadFile(filepath.Join(b, filepath.Base(f)))
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(x, y) {
			return false
		}
	}
	return true
}

// modelJSON reads dir/model.json as a map, without its description of
// the data (which names the file).
func modelJSON(t *testing.T, dir string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "model.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "data")
	delete(m, "checksum") // covers "data" too
	return m
}

// TestParquetSameAsCSV trains on one table stored as CSV and as Parquet
// (several row groups, partitions straddling them), with the feature
// columns chosen by name in another order than the files': the answer
// does not depend on the format, whether the partitions are held, streamed
// (--resident) or computed by local shards, and with --val-data too. The
// choice is recorded in model.json; predict and eval read the same columns
// by name from either format (and any column order) and give the same
// bits, and refuse a file without column names or lacking a column.
func TestParquetSameAsCSV(t *testing.T) {
	dir := t.TempDir()
	rows := houseTable(1, 1500)
	pq := writeHouseParquet(t, filepath.Join(dir, "train.parquet"), rows, 400, 1, 600)
	csv := writeHouseCSV(t, filepath.Join(dir, "train.csv"), rows, "a", "b", "c", "d", "name", "price")

	ref := houseOptions(csv, filepath.Join(dir, "csv"))
	res, err := job.Train(context.Background(), ref, io.Discard, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Model.Features, ref.Features) {
		t.Fatalf("model.json features %v, want %v", res.Model.Features, ref.Features)
	}
	t.Logf("CSV: %d iterations (%s), train R^2 %.4f", res.Final.Iter, res.Final.Stop, res.Model.Train.R2)

	val := houseTable(2, 300)
	valPQ := writeHouseParquet(t, filepath.Join(dir, "val.parquet"), val, 120)
	valCSV := writeHouseCSV(t, filepath.Join(dir, "val.csv"), val, "price", "name", "d", "c", "b", "a")
	for _, v := range []struct {
		name string
		set  func(o *job.Options)
	}{
		{"Parquet", func(o *job.Options) {}},
		{"Parquet streamed, 1 resident", func(o *job.Options) { o.Resident = 1 }},
		{"Parquet, 2 local shards streaming", func(o *job.Options) { o.LocalShards, o.Resident, o.Parallel = 2, 2, 0 }},
	} {
		o := houseOptions(pq, t.TempDir())
		v.set(&o)
		if _, err := job.Train(context.Background(), o, io.Discard, zaptest.NewLogger(t)); err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		if !sameWeightFiles(t, ref.Out, o.Out) {
			t.Errorf("%s: the weights differ from the CSV run's", v.name)
		}
		if a, b := modelJSON(t, ref.Out), modelJSON(t, o.Out); fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("%s: model.json differs from the CSV run's:\n%v\n%v", v.name, a, b)
		}
	}

	// --val-data of either format.
	var outs []string
	for _, files := range [][2]string{{csv, valCSV}, {pq, valPQ}} {
		o := houseOptions(files[0], t.TempDir())
		o.ValData = files[1]
		res, err := job.Train(context.Background(), o, io.Discard, zaptest.NewLogger(t))
		if err != nil {
			t.Fatalf("--val-data %s: %v", files[1], err)
		}
		if res.Model.Validation == nil || res.Model.Validation.Rows != len(val) {
			t.Fatalf("--val-data %s: validation %+v, want %d rows", files[1], res.Model.Validation, len(val))
		}
		outs = append(outs, o.Out)
	}
	if !sameWeightFiles(t, outs[0], outs[1]) {
		t.Error("--val-data: the weights of the Parquet run differ from the CSV run's")
	}

	// predict and eval on a test table, the CSV with its columns in
	// another order: the same bits.
	test := houseTable(3, 500)
	testPQ := writeHouseParquet(t, filepath.Join(dir, "test.parquet"), test, 100, 250)
	testCSV := writeHouseCSV(t, filepath.Join(dir, "test.csv"), test, "name", "d", "price", "b", "a", "c")
	var preds [][]float64
	var evals []*job.Evaluation
	for _, f := range []string{testCSV, testPQ} {
		out := filepath.Join(dir, filepath.Base(f)+".yhat.npy")
		if n, err := job.Predict(job.PredictOptions{Model: ref.Out, Data: f, Label: "price", Out: out}); err != nil || n != len(test) {
			t.Fatalf("predict %s: %d rows, %v", f, n, err)
		}
		preds = append(preds, readNPYFloats(t, out))
		e, err := job.Eval(job.PredictOptions{Model: ref.Out, Data: f, Label: "price"})
		if err != nil {
			t.Fatalf("eval %s: %v", f, err)
		}
		evals = append(evals, e)
	}
	if !bitsEqual(preds[0], preds[1]) {
		t.Error("predictions from the Parquet file differ from those from the CSV")
	}
	if e, f := evals[0], evals[1]; e.N != f.N || e.RMSE != f.RMSE || e.MAE != f.MAE || e.R2 != f.R2 {
		t.Errorf("eval: CSV %+v, Parquet %+v", e, f)
	}
	t.Logf("test R^2 %.4f on %d rows", evals[1].R2, evals[1].N)
	// Every prediction is the model's on the features in the recorded
	// order: the Parquet rows read in that order give the same values.
	src, err := data.Open(data.Table{Path: testPQ, Features: ref.Features, Unlabeled: true})
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float64, len(test)*4)
	if err := src.Read(0, len(test), x, nil); err != nil {
		t.Fatal(err)
	}
	src.(io.Closer).Close()
	for i, r := range test[:3] {
		if want := []float64{float64(r.C), r.A, float64(r.D), float64(r.B)}; !slices.Equal(x[4*i:4*i+4], want) {
			t.Fatalf("row %d read as %v, want %v", i, x[4*i:4*i+4], want)
		}
	}

	// Refused: a file without column names, a file lacking a column.
	npy := writeNPY(t, filepath.Join(dir, "x.npy"), x, len(test), 4)
	_, err = job.Predict(job.PredictOptions{Model: ref.Out, Data: npy, Out: filepath.Join(dir, "bad.npy")})
	if !errors.Is(err, job.ErrOptions) || !strings.Contains(err.Error(), "no column names") || !strings.Contains(err.Error(), "c,a,d,b") {
		t.Errorf("predict on .npy: %v", err)
	}
	lacking := writeHouseCSV(t, filepath.Join(dir, "lacking.csv"), test, "a", "b", "c", "price")
	_, err = job.Eval(job.PredictOptions{Model: ref.Out, Data: lacking, Label: "price"})
	if !errors.Is(err, data.ErrColumns) || !strings.Contains(err.Error(), `no feature column "d"`) || !strings.Contains(err.Error(), lacking) {
		t.Errorf("eval on a file without column d: %v", err)
	}
}

// TestParquetOptions checks the options of Parquet data and --features.
func TestParquetOptions(t *testing.T) {
	dir := t.TempDir()
	pq := writeHouseParquet(t, filepath.Join(dir, "t.parquet"), houseTable(1, 50))
	x := writeNPY(t, filepath.Join(dir, "x.npy"), make([]float64, 20), 10, 2)
	for _, tc := range []struct {
		name string
		set  func(o *job.Options)
		subs []string
	}{
		{"no label", func(o *job.Options) { o.Data = pq }, []string{pq, "parquet", "--label"}},
		{"features of .npy", func(o *job.Options) { o.Data, o.Labels, o.Features = x, x, []string{"a"} }, []string{"--features", "no column names"}},
		{"features without data", func(o *job.Options) { o.Synthetic, o.Features = "model=sum,d=4,k=2,n=100", []string{"a"} }, []string{"--features"}},
		{"val-data of another format", func(o *job.Options) { o.Data, o.Label, o.ValData = pq, "price", filepath.Join(dir, "v.csv") }, []string{"same format"}},
		{"val-labels with Parquet", func(o *job.Options) {
			o.Data, o.Label, o.ValData, o.ValLabels = pq, "price", filepath.Join(dir, "v.parquet"), x
		}, []string{"--val-labels"}},
	} {
		o := job.DefaultOptions()
		tc.set(&o)
		err := o.Validate()
		if !errors.Is(err, job.ErrOptions) {
			t.Errorf("%s: %v, want ErrOptions", tc.name, err)
			continue
		}
		for _, s := range tc.subs {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: %q does not contain %q", tc.name, err, s)
			}
		}
	}
	// The string column is refused unless left out; the error names it.
	o := job.DefaultOptions()
	o.Data, o.Label, o.Out, o.LocalShards = pq, "price", t.TempDir(), 0
	_, err := job.Train(context.Background(), o, io.Discard, zaptest.NewLogger(t))
	if !errors.Is(err, data.ErrColumnType) || !strings.Contains(err.Error(), `column "name"`) || !strings.Contains(err.Error(), pq) {
		t.Errorf("a string column among the features: %v", err)
	}
	for s, want := range map[string][]string{"": nil, "a": {"a"}, " c , a,d ": {"c", "a", "d"}} {
		if got, err := job.ParseFeatures(s); err != nil || !slices.Equal(got, want) {
			t.Errorf("ParseFeatures(%q) = %q, %v; want %q", s, got, err, want)
		}
	}
	if _, err := job.ParseFeatures("a,,b"); !errors.Is(err, job.ErrOptions) {
		t.Errorf("ParseFeatures with an empty name: %v", err)
	}
}

// TestParquetJoin: shards reading a Parquet file with feature columns
// chosen by name, joined by a coordinator: one without the shards'
// --features, or with another list, is refused; one with the same list
// trains the in-process run's weights and records the list in model.json.
func TestParquetJoin(t *testing.T) {
	ctx := context.Background()
	pq := writeHouseParquet(t, filepath.Join(t.TempDir(), "train.parquet"), houseTable(1, 1500), 400, 1, 600)
	ref := houseOptions(pq, t.TempDir())
	if _, err := job.Train(ctx, ref, io.Discard, zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	o := houseOptions(pq, t.TempDir())
	o.LocalShards = 2
	seeds := startShards(t, o)
	log := zaptest.NewLogger(t)
	j := job.DefaultOptions()
	j.K, j.Iters, j.Partitions = ref.K, ref.Iters, ref.Partitions
	j.Join, j.Insecure, j.GossipBind = seeds, true, "127.0.0.1:0"
	for _, tc := range []struct {
		features []string
		want     string
	}{
		{nil, "give the coordinator the same --features"},
		{[]string{"a", "c", "d", "b"}, "are not the feature columns the shards chose"},
	} {
		j.Features, j.Out = tc.features, t.TempDir()
		_, err := job.Train(ctx, j, io.Discard, log)
		if !errors.Is(err, job.ErrOptions) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--features %v: %v, want %q", tc.features, err, tc.want)
		}
	}
	j.Features, j.Out = ref.Features, t.TempDir()
	res, err := job.Train(ctx, j, io.Discard, log)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Model.Features, ref.Features) || !sameWeightFiles(t, ref.Out, j.Out) {
		t.Errorf("on the cluster: features %v, weights equal to the in-process run's: %v", res.Model.Features, sameWeightFiles(t, ref.Out, j.Out))
	}
}
