// Package linalg holds the numerical kernels of altmin: the partition
// statistics of the alternating-minimization least-squares problem and the
// solve of its normal equations.
//
// The unknown is u = vec(U), the k x d effective weight matrix flattened row
// by row (u[q*d+j] = U[q][j]). Row i of the design matrix B is
// b_i = a_i (x) x_i, where a_iq = v_q * p_iq is the signed activation of
// neuron q on sample i. The statistics of a block of rows are
//
//	G = B^T B = sum_i (a_i a_i^T) (x) (x_i x_i^T)   (m x m, m = d*k)
//	r = B^T y = sum_i y_i (a_i (x) x_i)
//
// G is stored as its packed upper triangle, row by row: element (i, j) with
// i <= j lives at PackedIndex(m, i, j). B itself is never formed: Stats
// groups samples by activation pattern, computes each group's d x d Gram
// matrix once and adds it into the blocks of G its pattern touches (about
// n d^2 / 2 multiply-adds for small k; for large k, neurons are split into
// blocks chosen by a cost model). The inner kernels are AVX2+FMA assembly on
// amd64 CPUs that have it, with portable Go kernels elsewhere (or with
// -tags purego) that perform the same fused multiply-adds in the same order,
// so both give the same bits.
//
// Every kernel here is single-threaded and performs its floating-point
// operations in an order that depends only on its inputs, so the same inputs
// give the same bits on every run.
package linalg
