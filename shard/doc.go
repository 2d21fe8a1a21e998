// Package shard computes the per-partition statistics of an
// alternating-minimization iteration and serves them.
//
// A Partition is a fixed, contiguous range of the samples. For the weights
// of iteration t, Compute reads off every neuron's activation pattern on
// every sample of the partition and returns the packed Gram matrix B_p^T B_p,
// B_p^T y_p, y_p^T y_p, the squared training residual at those weights and
// the number of pattern bits that changed since the previous iteration's
// weights. The result is a pure function of the request and the partition's
// rows; the Engine only caches the previous patterns to save work.
package shard
