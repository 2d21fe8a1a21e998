package model

import "math"

// Assign solves the n x n linear assignment problem for the row-major cost
// matrix c (entries may be +Inf for forbidden pairs, as long as a finite
// assignment exists) and returns, for each row a, its column. It is the
// Hungarian method with potentials, O(n^3).
func Assign(c []float64, n int) []int {
	const inf = math.MaxFloat64
	big := 0.0
	for _, v := range c {
		if !math.IsInf(v, 1) && v > big {
			big = v
		}
	}
	forbid := (big + 1) * float64(n+1) * 4
	cost := func(i, j int) float64 {
		v := c[(i-1)*n+(j-1)]
		if math.IsInf(v, 1) {
			return forbid
		}
		return v
	}
	u := make([]float64, n+1)
	v := make([]float64, n+1)
	p := make([]int, n+1) // p[j]: row matched to column j (1-based), 0 none
	way := make([]int, n+1)
	minv := make([]float64, n+1)
	used := make([]bool, n+1)
	for i := 1; i <= n; i++ {
		p[0] = i
		j0 := 0
		for j := range minv {
			minv[j] = inf
			used[j] = false
		}
		for {
			used[j0] = true
			i0 := p[j0]
			delta := inf
			j1 := 0
			for j := 1; j <= n; j++ {
				if used[j] {
					continue
				}
				cur := cost(i0, j) - u[i0] - v[j]
				if cur < minv[j] {
					minv[j] = cur
					way[j] = j0
				}
				if minv[j] < delta {
					delta = minv[j]
					j1 = j
				}
			}
			for j := 0; j <= n; j++ {
				if used[j] {
					u[p[j]] += delta
					v[j] -= delta
				} else {
					minv[j] -= delta
				}
			}
			j0 = j1
			if p[j0] == 0 {
				break
			}
		}
		for {
			j1 := way[j0]
			p[j0] = p[j1]
			j0 = j1
			if j0 == 0 {
				break
			}
		}
	}
	out := make([]int, n)
	for j := 1; j <= n; j++ {
		out[p[j]-1] = j - 1
	}
	return out
}
