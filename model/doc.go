// Package model describes the networks altmin learns and the arithmetic
// that depends only on the model: outputs, the map between learned weights
// and the effective weights the least-squares step solves for, and the
// relative error against a known teacher.
//
// Every model has the form y = sum_q v_q relu(u_q . x) with fixed output
// signs v_q in {+1, -1} and effective weights U (k x d, row q is u_q):
//
//	relu    k = 1:                  U = W
//	sum     k >= 1:                 U = W
//	resnet  k = d (without bias):   U = W + I   (skip connection)
//
// With Bias, a constant-1 feature is appended to every input, so D counts
// it; for resnet the identity covers only the first K features.
package model
