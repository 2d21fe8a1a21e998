package linalg

import "slices"

// This file runs the plan of kernel_plan.go: one pass per block of neurons.

// statsJob holds what one call of Stats passes to its blocks.
type statsJob struct {
	x      Rows
	y      []float64
	d, ldx int
	dp     int // stripLen(ldx)
	k      int
	b      int // block size
	chunk  int // rows per call of the Gram kernel, so that they stay in L1
	piece  int // rows gathered at a time, so that they stay in L2
	pat    *Patterns
}

// pairOff returns the offset of pair (q, q'), q <= q', in ws.t.
func (j *statsJob) pairOff(q, q2 int) int { return PackedIndex(j.k, q, q2) * j.dp }

// runBlock runs the pass of the block of neurons s0..s0+bs-1: its pairs, its
// X^T y, and its pairs with every later neuron. The block is split in a low
// half L of (bs+1)/2 neurons and a high half H (see pass).
func (ws *StatsWorkspace) runBlock(j *statsJob, s0, bs int) {
	pat := j.pat
	ws.key = growU32(ws.key, pat.Rows)
	ws.idx = growI32(ws.idx, pat.Rows)
	ws.key2 = growU32(ws.key2, pat.Rows)
	ws.idx2 = growI32(ws.idx2, pat.Rows)
	n := 0
	for i := 0; i < pat.Rows; i++ {
		if kk := subBits(pat.Bits[i*pat.Words:(i+1)*pat.Words], s0, bs); kk != 0 {
			ws.key[n], ws.idx[n] = kk, int32(i)
			n++
		}
	}
	ws.sortKeys(n, bs)
	key, idx := ws.key[:n], ws.idx[:n]
	// The labels in sorted order, read once here rather than at random in
	// the groups.
	ws.ys = growF(ws.ys, pat.Rows)[:n] // sized once, as n varies from pass to pass
	for t, i := range idx {
		ws.ys[t] = j.y[i]
	}
	nl := (bs + 1) / 2
	p := pass{l0: s0, nl: nl, h0: s0 + nl, nh: bs - nl}
	cur := uint32(0) // high sub-pattern of the groups being accumulated; 0: none
	for a := 0; a < n; {
		kk := key[a]
		e := a + 1
		for e < n && key[e] == kk {
			e++
		}
		lo, hi := kk&(1<<uint(nl)-1), kk>>uint(nl)
		if hi != cur {
			ws.flushHigh(j, p, cur)
			cur = hi
		}
		ws.group(j, p, a, e, lo, hi)
		ws.flushCross(j, s0, bs, kk)
		a = e
	}
	ws.flushHigh(j, p, cur)
	ws.flushLow(j, p)
}

// group handles the sorted rows ws.idx[a:e] of a block pass, which share the
// block pattern lo | hi<<nl. It adds their Gram matrix and X^T y to the
// accumulators A[lo], B and V (into the single one directly when there is
// one), and, for each later block, the Gram matrices of their subgroups by
// pattern on that block to the accumulators W (crossGroups).
func (ws *StatsWorkspace) group(j *statsJob, p pass, a, e int, lo, hi uint32) {
	dp, d, ldx := j.dp, j.d, j.ldx
	tg := ws.tgt[:0]
	if lo != 0 {
		tg = append(tg, ws.a[int(lo)*dp:int(lo+1)*dp])
		ws.aUsed[lo] = true
	}
	if hi != 0 {
		tg = append(tg, ws.b[:dp])
		ws.bUsed = true
	}
	if lo != 0 && hi != 0 {
		for q := 0; q < p.nl; q++ {
			if lo>>uint(q)&1 == 1 {
				tg = append(tg, ws.v[q*dp:(q+1)*dp])
				ws.vUsed[q] = true
			}
		}
	}
	ws.tgt = tg
	dst := ws.s[:dp] // the group's Gram matrix when it has several targets
	var rt [2][]float64
	nr := 0
	if lo != 0 {
		rt[nr] = ws.ra[int(lo)*d : int(lo+1)*d]
		nr++
	}
	if hi != 0 {
		rt[nr] = ws.rb[:d]
		nr++
	}
	rd := ws.rg[:d]
	if nr == 1 {
		rd = rt[0]
	} else {
		clear(rd)
	}
	for p0 := a; p0 < e; p0 += j.piece {
		cnt := min(j.piece, e-p0)
		// Gather the piece once, prefetching the pass's next rows; the
		// subgroups of the cross blocks are gathered again from it.
		j.x.gather(ws.piece, ldx, ws.idx[p0:], cnt)
		for c0 := 0; c0 < cnt; c0 += j.chunk {
			c := min(j.chunk, cnt-c0)
			gramGroup(ws.piece[c0*ldx:], c, ldx, dst, tg, p0 == a && c0 == 0, p0+c0+c == e)
		}
		for t, yi := range ws.ys[p0 : p0+cnt] {
			axpy(yi, ws.piece[t*ldx:t*ldx+d], rd)
		}
		for t0 := p.l0 + p.nl + p.nh; t0 < j.k; t0 += j.b {
			ws.crossGroups(j, t0, min(j.b, j.k-t0), ws.idx[p0:p0+cnt])
		}
	}
	if nr > 1 {
		for _, t := range rt[:nr] {
			axpy(1, rd, t)
		}
	}
}

// crossGroups splits the rows of a gathered piece (ws.piece, global indices
// rows) by their pattern h on the block of neurons t0..t0+bt-1 (sorted by h,
// then by position) and adds the Gram matrix of each subgroup with h != 0 to
// the accumulators W[q'] of the neurons q' in h.
func (ws *StatsWorkspace) crossGroups(j *statsJob, t0, bt int, rows []int32) {
	pat, dp, ldx := j.pat, j.dp, j.ldx
	n := len(rows)
	hk := ws.hkey[:n]
	order := ws.hidx[:n] // local row numbers, to be sorted by h
	for t, i := range rows {
		hk[t] = subBits(pat.Bits[int(i)*pat.Words:int(i+1)*pat.Words], t0, bt)
	}
	if n < 1<<uint(bt)/4 {
		// Few rows against the 2^bt values of h: sort h<<16 | t, unique.
		for t, h := range hk {
			ws.hsort[t] = h<<16 | uint32(t)
		}
		slices.Sort(ws.hsort[:n])
		for t, v := range ws.hsort[:n] {
			order[t] = int32(v & 0xffff)
		}
	} else {
		// Stable counting sort.
		cnt := ws.hcnt[:1<<uint(bt)+1]
		clear(cnt)
		for _, h := range hk {
			cnt[h+1]++
		}
		for h := 1; h < len(cnt); h++ {
			cnt[h] += cnt[h-1]
		}
		for t, h := range hk {
			order[cnt[h]] = int32(t)
			cnt[h]++
		}
	}
	for a := 0; a < n; {
		h := hk[order[a]]
		e := a + 1
		for e < n && hk[order[e]] == h {
			e++
		}
		if h == 0 {
			a = e
			continue
		}
		tg := ws.ctgt[:0]
		for q := 0; q < bt; q++ {
			if h>>uint(q)&1 == 1 {
				tg = append(tg, ws.w[(t0+q)*dp:(t0+q+1)*dp])
				ws.wUsed[t0+q] = true
			}
		}
		ws.ctgt = tg
		for c0 := a; c0 < e; c0 += j.chunk {
			c := min(j.chunk, e-c0)
			gather(ws.pack, ldx, ws.piece, ldx, order[c0:], c)
			gramGroup(ws.pack, c, ldx, ws.cs[:dp], tg, c0 == a, c0+c == e)
		}
		a = e
	}
}

// flushCross adds the accumulators W of the neurons after the block
// s0..s0+bs-1 to the pairs (q, q') with q in the block pattern kk, and
// clears them.
func (ws *StatsWorkspace) flushCross(j *statsJob, s0, bs int, kk uint32) {
	dp := j.dp
	for q2 := s0 + bs; q2 < j.k; q2++ {
		if !ws.wUsed[q2] {
			continue
		}
		w := ws.w[q2*dp : (q2+1)*dp]
		for q := 0; q < bs; q++ {
			if kk>>uint(q)&1 == 1 {
				o := j.pairOff(s0+q, q2)
				axpy(1, w, ws.t[o:o+dp])
			}
		}
		clear(w)
		ws.wUsed[q2] = false
	}
}

// flushHigh adds the accumulators B and V of high sub-pattern hi to the
// pairs inside the block that they serve and clears them.
func (ws *StatsWorkspace) flushHigh(j *statsJob, p pass, hi uint32) {
	if hi == 0 {
		return
	}
	dp, d := j.dp, j.d
	if ws.bUsed {
		b := ws.b[:dp]
		for q := 0; q < p.nh; q++ {
			if hi>>uint(q)&1 == 0 {
				continue
			}
			for q2 := q; q2 < p.nh; q2++ {
				if hi>>uint(q2)&1 == 1 {
					o := j.pairOff(p.h0+q, p.h0+q2)
					axpy(1, b, ws.t[o:o+dp])
				}
			}
			axpy(1, ws.rb[:d], ws.r[(p.h0+q)*d:(p.h0+q+1)*d])
		}
		clear(b)
		clear(ws.rb[:d])
		ws.bUsed = false
	}
	for ql := 0; ql < p.nl; ql++ {
		if !ws.vUsed[ql] {
			continue
		}
		v := ws.v[ql*dp : (ql+1)*dp]
		for q := 0; q < p.nh; q++ {
			if hi>>uint(q)&1 == 1 {
				o := j.pairOff(p.l0+ql, p.h0+q)
				axpy(1, v, ws.t[o:o+dp])
			}
		}
		clear(v)
		ws.vUsed[ql] = false
	}
}

// flushLow adds the accumulators A of a diagonal pass to the pairs inside
// their low sub-patterns and clears them.
func (ws *StatsWorkspace) flushLow(j *statsJob, p pass) {
	dp, d := j.dp, j.d
	for lo := 1; lo < 1<<uint(p.nl); lo++ {
		if !ws.aUsed[lo] {
			continue
		}
		a := ws.a[lo*dp : (lo+1)*dp]
		for q := 0; q < p.nl; q++ {
			if lo>>uint(q)&1 == 0 {
				continue
			}
			for q2 := q; q2 < p.nl; q2++ {
				if lo>>uint(q2)&1 == 1 {
					o := j.pairOff(p.l0+q, p.l0+q2)
					axpy(1, a, ws.t[o:o+dp])
				}
			}
			axpy(1, ws.ra[lo*d:(lo+1)*d], ws.r[(p.l0+q)*d:(p.l0+q+1)*d])
		}
		clear(a)
		clear(ws.ra[lo*d : (lo+1)*d])
		ws.aUsed[lo] = false
	}
}

func growU32(s []uint32, n int) []uint32 {
	if cap(s) < n {
		return make([]uint32, n)
	}
	return s[:n]
}

func growI32(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n)
	}
	return s[:n]
}

func growInt(s []int, n int) []int {
	if cap(s) < n {
		return make([]int, n)
	}
	return s[:n]
}

func growBool(s []bool, n int) []bool {
	if cap(s) < n {
		return make([]bool, n)
	}
	return s[:n]
}

// subBits returns the n <= 32 pattern bits of neurons a..a+n-1 of one row.
func subBits(row []uint64, a, n int) uint32 {
	if n == 0 {
		return 0
	}
	w, o := a/64, uint(a%64)
	v := row[w] >> o
	if int(o)+n > 64 {
		v |= row[w+1] << (64 - o)
	}
	return uint32(v & (1<<uint(n) - 1))
}

// radixBits is the digit size of the key sort.
const radixBits = 11

// sortKeys sorts ws.key[:n] ascending, carrying ws.idx[:n] along, for keys
// below 2^bits. The sort is stable (LSD radix), so rows of equal key stay in
// ascending row order.
func (ws *StatsWorkspace) sortKeys(n, bits int) {
	ws.cnt = growInt(ws.cnt, 1<<radixBits)
	for shift := 0; shift < bits; shift += radixBits {
		key, idx, key2, idx2 := ws.key[:n], ws.idx[:n], ws.key2[:n], ws.idx2[:n]
		cnt := ws.cnt
		clear(cnt)
		for _, kk := range key {
			cnt[kk>>uint(shift)&(1<<radixBits-1)]++
		}
		sum := 0
		for i, c := range cnt {
			cnt[i] = sum
			sum += c
		}
		for i, kk := range key {
			dg := kk >> uint(shift) & (1<<radixBits - 1)
			p := cnt[dg]
			key2[p], idx2[p] = kk, idx[i]
			cnt[dg] = p + 1
		}
		ws.key, ws.key2 = ws.key2, ws.key
		ws.idx, ws.idx2 = ws.idx2, ws.idx
	}
}
