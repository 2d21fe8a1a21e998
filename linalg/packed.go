package linalg

// PackedLen returns the number of elements of the packed upper triangle of an
// m x m symmetric matrix.
func PackedLen(m int) int { return m * (m + 1) / 2 }

// PackedIndex returns the position of element (i, j), i <= j, of an m x m
// symmetric matrix in its packed upper triangle stored row by row.
func PackedIndex(m, i, j int) int {
	if i > j {
		i, j = j, i
	}
	return i*m - i*(i-1)/2 + (j - i)
}

// Unpack writes the full m x m symmetric matrix (row-major) held in packed
// upper-triangle form in p into dst, which must have length m*m.
func Unpack(dst, p []float64, m int) {
	if len(dst) != m*m || len(p) != PackedLen(m) {
		panic("linalg: bad length in Unpack")
	}
	k := 0
	for i := 0; i < m; i++ {
		for j := i; j < m; j++ {
			dst[i*m+j] = p[k]
			dst[j*m+i] = p[k]
			k++
		}
	}
}

// PackUpper writes the upper triangle of the m x m row-major matrix a into
// the packed form dst (length PackedLen(m)).
func PackUpper(dst, a []float64, m int) {
	if len(a) != m*m || len(dst) != PackedLen(m) {
		panic("linalg: bad length in PackUpper")
	}
	k := 0
	for i := 0; i < m; i++ {
		copy(dst[k:k+m-i], a[i*m+i:(i+1)*m])
		k += m - i
	}
}

// PackedMulVec sets y = G x for the m x m symmetric matrix G given by its
// packed upper triangle g.
func PackedMulVec(y, g, x []float64, m int) {
	if len(g) != PackedLen(m) || len(x) != m || len(y) != m {
		panic("linalg: bad dimensions in PackedMulVec")
	}
	clear(y)
	for i, k := 0, 0; i < m; i++ {
		row := g[k : k+m-i] // G[i][i:m]
		k += m - i
		s := row[0] * x[i]
		for j, v := range row[1:] {
			s += v * x[i+1+j]
		}
		y[i] += s
		if i+1 < m {
			axpy(x[i], row[1:], y[i+1:])
		}
	}
}
