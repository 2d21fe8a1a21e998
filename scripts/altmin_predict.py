#!/usr/bin/python3
"""Predicts with a model directory of `coordinator train` in NumPy, as
`coordinator predict` does (docs/PYTHON.md).

    /usr/bin/python3 scripts/altmin_predict.py MODEL_DIR X.npy YHAT.npy
"""
import json
import os
import sys

import numpy as np


def load(model_dir):
    """Returns model.json, the hidden layers' weights (layer l of shape
    (k_l, k_{l-1}), as in nn.Linear.weight) and the linear term (or None)."""
    with open(os.path.join(model_dir, "model.json")) as f:
        spec = json.load(f)
    files = [os.path.join(model_dir, name) for name in spec["weights"]]
    layers = [np.load(p) for p in files if not p.endswith("linear.npy")]
    linear = np.load(files[-1]) if spec.get("linear") else None
    if spec["model"] == "resnet":  # the file holds W; the network uses W + I
        k = spec["k"]
        layers[0][np.arange(k), np.arange(k)] += 1
    return spec, layers, linear


def predict(model_dir, X):
    """Returns the predictions, in the label's units, for the rows of X
    (n x d raw features, in the training data's column order)."""
    spec, layers, linear = load(model_dir)
    x = np.asarray(X, dtype=np.float64)
    st = spec.get("standardize")
    if st:
        x = (x - np.array(st["x_mean"])) * (1 / np.array(st["x_sd"]))
    if spec["bias"]:
        x = np.hstack([x, np.ones((len(x), 1))])
    h = x
    for w in layers:
        h = np.maximum(h @ w.T, 0)
    y = h @ np.array(spec["signs"], dtype=np.float64)
    if linear is not None:
        y = y + x @ linear
    if st:
        y = y / (1 / st["y_sd"]) + st["y_mean"]
    return y


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: altmin_predict.py MODEL_DIR X.npy YHAT.npy")
    np.save(sys.argv[3], predict(sys.argv[1], np.load(sys.argv[2])))
