package job

import (
	"fmt"

	"altmin/data"
	"altmin/shard"
)

// storage returns the feature storage the options name ("" is float64).
func (o *Options) storage() (shard.Storage, error) {
	if o.Storage == "" {
		return shard.Float64, nil
	}
	st, err := shard.ParseStorage(o.Storage)
	if err != nil {
		return "", fmt.Errorf("%w: --storage %q: want float64 or float32", ErrOptions, o.Storage)
	}
	return st, nil
}

// storeAs makes the problem's data those held in storage st: with float32,
// the features rounded to float32 (data.Float32), under their own
// fingerprint, so that checkpoints and model.json tell the rounded data
// from the original (float32-exact data keep their fingerprint). The
// teacher and the initial weights, already drawn, are unchanged.
func (pr *Problem) storeAs(st shard.Storage) error {
	if st != shard.Float32 {
		return nil
	}
	pr.Source = data.Float32(pr.Source)
	fp, err := data.Fingerprint(pr.Source)
	if err != nil {
		return err
	}
	pr.DataID = fp
	return nil
}
