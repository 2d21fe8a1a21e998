// Package deep learns ReLU networks with L >= 2 hidden layers by alternating
// minimization, the "deeper networks" extension of Jagatap and Hegde's
// method, whose exact form the papers leave open (docs/DEEP.md):
//
//	f(x) = v . relu(W_L ... relu(W_2 relu(W_1 x))),  v in {+1, -1}^{k_L} fixed and known.
//
// # Method
//
// Hold the activation patterns of every layer at the current weights. Then
// f is linear in each layer's weights separately: with the backward
// coefficients c_L = p_L o v and c_l = p_l o (W_{l+1}^T c_{l+1}) (real-valued
// for l < L) and h_{l-1} the layer's input, f(x_i) = c_li^T W_l h_{l-1,i}, and
// the gradient of f(x_i) with respect to vec(W_l) is b_li = c_li (x) h_{l-1,i}.
// The normal equations of any set of layers are therefore sums over samples
// of Kronecker products, G = sum_i b_i b_i^T and R = sum_i (y_i - f(x_i)) b_i,
// exactly the shape of the 1-hidden-layer statistics (linalg.Stats) with
// real instead of {0, +-1} coefficients (Accum). For the last layer they are
// the 1-hidden-layer problem on inputs h_{L-1} with signs v.
//
// Three schedules (Config.Schedule) are implemented:
//
//   - Joint (the default): one data pass per outer iteration yields the
//     joint system of all layers, b_i = [b_1i, ..., b_Li]; its solution is
//     the Gauss-Newton step of the network with its patterns held. The
//     rescaling symmetry between consecutive layers (relu(a z) = a relu(z),
//     a > 0) makes this system singular; a penalty on exactly those
//     directions removes it. Once the patterns are right, convergence is
//     quadratic: to machine precision in a handful of iterations.
//   - Sequential (block Gauss-Seidel, the literal per-layer reading of the
//     papers): L passes per outer iteration, each recomputing the patterns
//     and solving one layer exactly with all others fixed. It converges
//     linearly, slowly (tens to hundreds of iterations to 1e-10), because
//     no single layer can absorb another layer's error.
//   - Simultaneous (block Jacobi): every layer solved from one pass at the
//     same old weights. Both layers then correct the same residual and
//     overshoot; it does not converge, and is kept for the comparison.
//
// All solves are written for the change of the weights (right-hand side
// B^T (y - f)), so rounding stays proportional to the residual, and use
// linalg.SolveNormal with its proximal ridge centred at no change for
// directions the data do not determine (dead units).
//
// # Distribution
//
// The statistics of a partition (PartitionStats) are a pure function of its
// rows and the request; Core, a state machine without goroutines, clocks or
// I/O in the shape of coordinator.Core, reduces them in partition order, so
// any partitioning gives the same weights up to rounding and a given one
// the same bits. Driver runs a Core through a Fetcher (LocalFetcher
// computes partitions in process; over a cluster, fleet.DeepFetcher asks
// shards for them with the DeepStep gRPC call, which calls PartitionStats
// on the shard); its duties each step:
//
//  1. take the current Request from the core (weights, layers, previous
//     weights for the pattern-flip count);
//  2. fetch every missing partition's Partial, at most Parallel at a time;
//  3. offer them to the core as they arrive (it rejects stale, duplicate,
//     unknown and malformed partials);
//  4. advance the core (reduce in partition order, decide a stop, solve)
//     and hand the Report to OnReport;
//  5. stop when the core reports a stop reason.
//
// Trainer is the older in-process loop (used by the experiments), which
// gives the same bits. Core.State and Core.Restore checkpoint a run.
//
// # Experiments
//
// data.DeepTeacher generates planted data (rows from per-row PCG streams, as
// data.Synthetic); Experiment measures recovery over seeds and writes
// deep.csv and deep.md. See docs/DEEP.md for the results.
package deep
