#!/usr/bin/python3
"""The issue's dense baseline in NumPy: per iteration, read off the
activation patterns, form B = [v_q diag(p_q) X] (n x dk) and compute
B^T B and B^T y. Prints the median seconds of REPS iterations.

    /usr/bin/python3 scripts/numpy_baseline.py [N [D [K [REPS]]]]

Defaults: N=100000, D=100, K=10, REPS=5. Needs Debian's python3-numpy
(apt-get install python3-numpy), whose BLAS is OpenBLAS when
libopenblas0 is installed (update-alternatives --display
libblas.so.3-x86_64-linux-gnu tells).
"""
import sys
import time

import numpy as np

n, d, k, reps = (list(map(int, sys.argv[1:])) + [100000, 100, 10, 5][len(sys.argv) - 1:])[:4]
rng = np.random.default_rng(1)
X = rng.standard_normal((n, d))
W = rng.standard_normal((k, d)) / np.sqrt(d)
v = np.where(np.arange(k) % 2 == 0, 1.0, -1.0)
y = np.maximum(X @ W.T, 0) @ v
U = W + 0.3 * rng.standard_normal((k, d)) / np.sqrt(d)

times = []
for _ in range(reps):
    t = time.perf_counter()
    P = (X @ U.T > 0).astype(X.dtype)              # patterns, n x k
    B = np.empty((n, k * d))
    for q in range(k):
        B[:, q * d:(q + 1) * d] = (v[q] * P[:, q])[:, None] * X
    G = B.T @ B                                      # dk x dk
    r = B.T @ y
    times.append(time.perf_counter() - t)
print(f"numpy {np.__version__}, n={n}, d={d}, k={k}: median {sorted(times)[len(times) // 2]:.3f} s per iteration "
      f"(all: {' '.join(f'{s:.3f}' for s in times)})")
