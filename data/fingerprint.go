package data

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
)

// fingerprintRows is the number of rows hashed at each end of a data set.
const fingerprintRows = 1024

// Fingerprint returns a short hex digest identifying a data set: its size
// and the values of its first and last rows (up to 1024 each), labels
// included. Nodes that must hold the same data (replicas of a partition, a
// coordinator resuming a run) compare fingerprints; it is cheap to compute
// from any row-range Source and does not depend on file paths.
func Fingerprint(src Source) (string, error) {
	info := src.Info()
	h := sha256.New()
	var b [8]byte
	for _, v := range []int{info.N, info.D} {
		binary.LittleEndian.PutUint64(b[:], uint64(v))
		h.Write(b[:])
	}
	write := func(lo, hi int) error {
		x := make([]float64, (hi-lo)*info.D)
		y := make([]float64, hi-lo)
		if err := src.Read(lo, hi, x, y); err != nil {
			return err
		}
		for _, vs := range [][]float64{x, y} {
			for _, v := range vs {
				binary.LittleEndian.PutUint64(b[:], math.Float64bits(v))
				h.Write(b[:])
			}
		}
		return nil
	}
	head := min(info.N, fingerprintRows)
	if err := write(0, head); err != nil {
		return "", err
	}
	if tail := max(head, info.N-fingerprintRows); tail < info.N {
		if err := write(tail, info.N); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:12]), nil
}
