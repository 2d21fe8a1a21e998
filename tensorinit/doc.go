// Package tensorinit computes a start for the 1-hidden-layer models (sum
// and relu) without a teacher, by the method of moments of Zhong, Song,
// Jain, Bartlett and Dhillon ("Recovery guarantees for one-hidden-layer
// neural networks", ICML 2017).
//
// For x ~ N(0, I) and y = sum_q v_q relu(w_q . x), write t_q = v_q ||w_q||
// and wbar_q = w_q / ||w_q||. The Hermite moments of (x, y) are
//
//	M1 = E[y x]                = C1 sum_q t_q wbar_q           C1 = 1/2
//	M2 = E[y (x x^T - I)]      = C2 sum_q t_q wbar_q wbar_q^T   C2 = 1/sqrt(2 pi)
//	M3                         = 0                              C3 = 0
//	T  = E[y He4(V^T x)]       = C4 sum_q t_q (V^T wbar_q)^(x)4 C4 = -1/sqrt(2 pi)
//
// where V (d x k) has orthonormal columns and He4 is the fourth Hermite
// tensor. The third moment vanishes for the ReLU, so the fourth is used.
// The steps, three passes over the partitions, each reduced in partition
// order:
//
//  1. sum y, sum y x, sum x (msg.Moments12Request, order 1): the mean
//     label ybar and M1 = E[(y - ybar) x].
//  2. sum r, sum r x, sum r x x^T for r = y - ybar - M1 . x (a baseline,
//     msg.Baseline; order 2): M2. Subtracting the labels' Hermite
//     expansion of lower degree leaves the expectation unchanged (x x^T - I
//     is orthogonal to polynomials of degree < 2) and removes much of the
//     variance. V = the top-k eigenvectors of M2 by |eigenvalue|.
//  3. The projected fourth moment sum (y - b(x)) He4(V^T x)
//     (msg.Moment4Request), with b the expansion up to degree two,
//     ybar + M1 . x + (x^T M2_k x - tr M2_k)/2, M2_k the part of M2 on its
//     top-k eigenvectors (the rest is noise; rank k keeps the cost at D k
//     per row), as a packed symmetric k^4 tensor. The baselines cut the
//     noise of T several-fold (measured: the relative residual of the
//     rank-k fit fell from about 0.5 to 0.1 at d = 20, k = 3, n = 20000).
//
// Then, in the coordinator: T is decomposed into its k rank-one terms by
// Jennrich's simultaneous diagonalization of a random contraction
// T(., ., x, y) against V^T M2 V, over Config.Trials seeded contractions,
// keeping the best fit, and polished by Config.Sweeps rounds of deflated
// power iteration on the whole tensor. wbar_q = V a_q, normalized; t_q by
// least squares on M2; the orientation of each wbar_q by least squares on
// M1; the components with the most positive t_q go to the neurons with
// v_q = +1, the most negative to those with v_q = -1 (Result.Mismatched
// counts neurons whose component has the other sign). With a bias feature
// the bias weights start at zero.
//
// A degenerate spectrum: if |lambda_k| < Config.MinGap |lambda_{k+1}|,
// the k-th direction of M2 is barely above the noise. With linearly
// independent directions M2 restricted to their span is nonsingular
// whatever the signs, so cancellation between neurons of opposite sign
// makes the k-th eigenvalue small, never zero, and only when the neurons
// are nearly parallel (or a neuron is small). Result.Degenerate reports
// it, and with Config.FourthSpan (the default) the span is then taken from
// the fourth moment instead: the projection of step 3 is widened to
// min(d, 2k) eigenvectors of M2, and narrowed to the top-k left singular
// vectors of T's unfolding before the decomposition, which runs against a
// second random contraction of T (V^T M2 V is near-singular).
// Result.Fallback reports it. The measurements behind this default are in
// docs/TENSOR_INIT.md.
//
// The moments are those of Gaussian inputs: on other data (real features,
// not whitened) the start has no guarantee, though it is still computed.
//
// Plan is the pure core (no goroutines, no I/O); Run does the three passes
// through any msg.Fetcher (round.Collect): a shard.Engine in process, or a
// fleet.Fetcher asking the shards of a cluster over gRPC, with the
// failover of the statistics.
package tensorinit
