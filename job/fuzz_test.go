package job

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"altmin/coordinator"
	"altmin/data"
	"altmin/model"
)

// FuzzParseHidden: --hidden never panics, and widths it accepts are written
// (hiddenString) to a value parsed to the same widths.
func FuzzParseHidden(f *testing.F) {
	for _, s := range []string{"20,10", " 8 , 4 ", "", "x", "1,,2", "-3", "99999999999999999999", "100000,4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ks, err := ParseHidden(s)
		if err != nil || ks == nil {
			return
		}
		again, err := ParseHidden(hiddenString(ks))
		if err != nil || len(again) != len(ks) {
			t.Fatalf("%q written as %q: %v, %v", s, hiddenString(ks), again, err)
		}
		for i := range ks {
			if again[i] != ks[i] {
				t.Fatalf("%q written as %q: %v", s, hiddenString(ks), again)
			}
		}
	})
}

// FuzzCheckpoint: checkpoint.json, whatever its bytes, is read
// (readCheckpoint: format, checksum) without a panic; one accepted is
// written back (saveCheckpoint) and read to the same state.
func FuzzCheckpoint(f *testing.F) {
	seeds := f.TempDir()
	net := model.NewNet(2, 2, 1)
	net.V = []float64{1}
	for i, st := range []coordinator.State{
		{Iter: 2, Step: 2, Net: &model.Net{Dims: []int{2, 1}, W: [][]float64{{0.1, -2}}, V: []float64{1}}, Prev: &model.Net{Dims: []int{2, 1}, W: [][]float64{{1, 3e-300}}, V: []float64{1}}},
		{Iter: 1, Step: 1, Layer: 1, Net: net, Prev: net, Start: net},
	} {
		dir := filepath.Join(seeds, string(rune('a'+i)))
		os.MkdirAll(dir, 0o755)
		if err := saveCheckpoint(dir, "fp", json.RawMessage(`{"seed":1}`), st); err != nil {
			f.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "checkpoint.json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"format":"altmin-checkpoint/2","state":{"net":{"dims":[1000000000,1000000000]}}}`))
	f.Add([]byte(`{`))
	dir, out := f.TempDir(), f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, "checkpoint.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := readCheckpoint(dir)
		if err != nil || c == nil {
			return
		}
		want, err := json.Marshal(c.State)
		if err != nil {
			return // e.g. a state json.Marshal refuses (non-finite values are checked later, by checkState)
		}
		if err := saveCheckpoint(out, c.Fingerprint, c.Config, c.State); err != nil {
			return
		}
		c2, err := readCheckpoint(out)
		if err != nil || c2 == nil {
			t.Fatalf("written back: %v", err)
		}
		got, _ := json.Marshal(c2.State)
		if !bytes.Equal(got, want) {
			t.Fatalf("round trip: state %s, want %s", got, want)
		}
	})
}

// FuzzModelJSON: model.json, whatever its bytes, next to the weights of a
// small model, is loaded (LoadModel: the specification and its limits,
// then every layer's shape, checked before it is read) without a panic.
func FuzzModelJSON(f *testing.F) {
	dir := f.TempDir()
	w := []float64{0.5, -1, 2, 0.25}
	if err := data.WriteNPY(filepath.Join(dir, "weights.npy"), w, 2, 2); err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		`{"format":"` + ModelFormat + `","model":"sum","d":2,"k":2,"signs":[1,-1]}`,
		`{"format":"` + ModelFormat + `","model":"relu","d":4,"k":1,"signs":[1]}`,
		`{"format":"` + ModelFormat + `","model":"deep","d":2,"hidden":[2,2],"signs":[1,1]}`,
		`{"format":"` + ModelFormat + `","model":"deep","d":1000000,"hidden":[1000000,1000000],"signs":[1]}`,
		`{"format":"` + ModelFormat + `","model":"sum","d":2,"k":1000000000000,"signs":[1]}`,
		`{"format":"` + ModelFormat + `","model":"sum","d":2,"k":2,"signs":[1,1],"standardize":{"x_mean":[0,0],"x_sd":[1,0]}}`,
		`[]`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, "model.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		LoadModel(dir)
	})
}
