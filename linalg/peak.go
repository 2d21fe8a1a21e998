package linalg

import "time"

// peakInput returns the operands of the peak measurement: 48 rows of 48
// floats (18 KiB, within any L1 data cache) and a strip-layout result,
// and the multiply-adds one call of gram performs on them (whole 4 x 4
// tiles on the diagonal included).
func peakInput() (x []float64, m, ldx int, c []float64, madds float64) {
	m, ldx = 48, 48
	x = make([]float64, m*ldx)
	for i := range x {
		x[i] = float64(i%7) * 1e-3
	}
	for s := 0; s < ldx/4; s++ {
		madds += float64(4 * (ldx - 4*s) * m)
	}
	return x, m, ldx, make([]float64, stripLen(ldx)), madds
}

// GramPeak measures, for about d of wall time on the calling goroutine, the
// rate of the statistics pass's Gram kernel on data that stay in the L1
// cache, in multiply-adds per second: the best one core can do with this
// build's kernels (AVX2 and FMA where available), the reference against
// which `coordinator bench` reports its rates.
func GramPeak(d time.Duration) float64 {
	x, m, ldx, c, madds := peakInput()
	calls := 0
	start := time.Now()
	for time.Since(start) < d {
		for range 64 {
			gram(x, m, ldx, c)
		}
		calls += 64
	}
	return madds * float64(calls) / time.Since(start).Seconds()
}
