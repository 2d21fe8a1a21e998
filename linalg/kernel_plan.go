package linalg

import "math"

// This file holds the plan of the statistics pass: which rows are grouped
// together, in which order, and how the Gram matrices of the groups are added
// into the blocks of G. kernel_block.go runs it.
//
// Block (q, q') of G is v_q v_q' times the sum of x_i x_i^T over the rows i
// on which neurons q and q' are both active. Rows that share their activation
// bits on a set of neurons share a_i a_i^T on those neurons, so one Gram
// matrix S = X_g^T X_g per group g of such rows (d^2/2 multiply-adds per row)
// serves every block (q, q') with both bits set in g.
//
// The neurons are cut into consecutive blocks of b. There is one pass per
// block; it sorts the rows with a non-zero pattern on the block by that
// pattern (stable radix sort, so the order depends on the patterns only) and
// takes each run of equal pattern as a group:
//
//   - Pairs inside the block. The block is split in a low half L and a high
//     half H, the pattern in l (bits on L) and h (bits on H); h is the high
//     part of the sort key, so the groups of one h are consecutive. Each
//     group's S is added, rather than to each of the about (b/2)^2/2 pairs it
//     serves, to a few accumulators:
//
//     A[l]  sum over the groups with low part l, added at the end of the
//     pass to the pairs inside l;
//     B     sum over the groups of the current h, added to the pairs
//     inside h when h changes;
//     V[q]  for q in L, sum over the groups of the current h whose l holds
//     q, added to the pairs (q, q'), q' in h, when h changes;
//
//     about 2 + b/4 additions of d^2/2 floats per group. X^T y of a group
//     follows A and B.
//   - Pairs with later neurons. The rows of the group, gathered once into a
//     buffer that stays in cache, are split again, for every later block t,
//     by their pattern h' on t; the Gram matrix of each such subgroup is
//     added to accumulators W[q'] of the neurons q' in h', which go to the
//     pairs (q, q') with q in the group's pattern when the group ends.
//
// With b = k there is a single pass grouping rows by their full pattern,
// about n d^2/2 multiply-adds in all; with b = 1 the passes amount to masked
// Gram matrices per neuron and per neuron pair.
//
// Cost model (planCost). In rows of the Gram kernel (one row is d^2/2
// multiply-adds, precisely stripLen(padTo4(d))), the pass of a block of bs
// bits over n rows costs
//
//	rows * (1 + (rowCost + rowCostD*d) / (d^2/2))   Gram, gather from x
//	+ n * keyCost / (d^2/2)                          pattern and sort
//	+ groups * (groupCost + addCost * (2 + bs/4))    per group
//	+ runs * addCost * flush                         per high part h
//
// plus, for each later block t of bt bits,
//
//	rows_t * (1 + (localCost + localCostD*d) / (d^2/2))   Gram, gather
//	+ rows * subKeyCost / (d^2/2)                         pattern on t
//	+ subgroups * (groupCost + addCost * bt/2)            per subgroup
//	+ groups * addCost * bs*bt/2 * P(W used)               W into pairs
//
// where rows (rows_t) is the expected number of rows with a bit set on the
// block (and on t), groups, runs and subgroups the expected numbers of
// distinct values of the bs, bs/2 and bs+bt pattern bits among n rows, and
// flush the expected additions of B and V into pairs. Every pattern bit is
// taken as a fair coin independent of the others (Gaussian rows and weights,
// as at a random start); patterns with fewer distinct values make large
// blocks cheaper than modelled, so the plan errs towards smaller blocks. The
// block size b in 1..min(k, maxBlockBits) of least total cost is chosen.
// The constants were fitted by hand to timings of every b for n = 2000 to
// 100000, d = 8..100, k = 10..64 on a 2-core AMD EPYC (Zen 2) VM shared with
// other jobs, with the AVX2 kernels; on those shapes the model picked the
// fastest b or one within the run-to-run noise (about 20%) of it. It
// underestimates large blocks (b >= 7 with k >= 16) by up to 3x, which did
// not change the choice there. BenchmarkStatsBlockSize checks one shape.

// maxBlockBits is the largest block size b. A pass keeps 2^ceil(b/2)
// accumulators A of d^2/2 floats, at most about as many floats as G itself
// for b <= k.
const maxBlockBits = 12

// Cost model constants: the ...Cost and ...CostD in multiply-adds of the
// Gram kernel (the latter per feature), groupCost and addCost in rows of it.
const (
	rowCost    = 200.0
	rowCostD   = 20.0
	keyCost    = 50.0
	localCost  = 50.0
	localCostD = 1.0
	subKeyCost = 30.0
	groupCost  = 4.0
	addCost    = 2.0
)

// pass describes the split of a block in halves L and H.
type pass struct {
	l0, nl int // low half: neurons l0..l0+nl-1
	h0, nh int // high half: neurons h0..h0+nh-1 (nh may be 0)
}

// planBlock returns the block size b chosen by the cost model for n rows,
// k neurons and d features.
func planBlock(n, k, d int) int {
	best, bestCost := 1, math.Inf(1)
	for b := 1; b <= min(k, maxBlockBits); b++ {
		if c := planCost(n, k, d, b); c < bestCost {
			best, bestCost = b, c
		}
	}
	return best
}

// planCost is the modelled cost of the block passes for block size b, in
// rows of the Gram kernel; see the comment at the top of the file.
func planCost(n, k, d, b int) float64 {
	nf, df, dp := float64(n), float64(d), float64(stripLen(padTo4(d)))
	// distinct is the expected number of distinct values of kb fair bits
	// among the n rows.
	distinct := func(kb int) float64 {
		p := math.Exp2(float64(kb))
		return p * -math.Expm1(nf*math.Log1p(-1/p))
	}
	// active is the expected fraction of rows with one of kb bits set.
	active := func(kb int) float64 { return -math.Expm1(-float64(kb) * math.Ln2) }
	var c float64
	for s0 := 0; s0 < k; s0 += b {
		bs := min(b, k-s0)
		nl, nh := (bs+1)/2, bs/2
		rows, groups, runs := nf*active(bs), distinct(bs), distinct(nh)
		c += rows*(1+(rowCost+rowCostD*df)/dp) + nf*keyCost/dp +
			groups*(groupCost+addCost*(2+float64(nl)/2)) +
			runs*addCost*(float64(nh*(nh+2))/8+float64(nl*nh)/2*active(int(groups/runs)))
		for t0 := s0 + bs; t0 < k; t0 += b {
			bt := min(b, k-t0)
			sub := distinct(bs + bt)
			c += rows*active(bt)*(1+(localCost+localCostD*df)/dp) + rows*subKeyCost/dp +
				sub*(groupCost+addCost*float64(bt)/2) +
				groups*addCost*float64(bt*bs)/2*active(int(sub/groups))
		}
	}
	return c
}
