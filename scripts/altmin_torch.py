"""An altmin model directory as a PyTorch module (docs/PYTHON.md): raw
features in, predictions in the label's units out, in float64. Not run by
the tests: they run where PyTorch is not installed."""
import json
import os

import numpy as np
import torch
from torch import nn


class Altmin(nn.Module):
    """y = signs . relu(W_L ... relu(W_1 x)) + linear . x, on the features
    standardized as in training (with a constant-1 feature appended when
    the model has a bias), turned back into the label's units. One hidden
    layer for the models relu, sum and resnet, 2 to 4 for deep."""

    def __init__(self, model_dir):
        super().__init__()
        with open(os.path.join(model_dir, "model.json")) as f:
            spec = json.load(f)
        self.bias = spec["bias"]
        files = [os.path.join(model_dir, name) for name in spec["weights"]]
        self.hidden = nn.ModuleList()
        for path in files:
            if path.endswith("linear.npy"):
                continue
            w = torch.from_numpy(np.load(path))
            if spec["model"] == "resnet":  # the file holds W; the network uses W + I
                w = w + torch.eye(*w.shape, dtype=w.dtype)
            layer = nn.Linear(w.shape[1], w.shape[0], bias=False, dtype=torch.float64)
            layer.weight.data.copy_(w)
            self.hidden.append(layer)
        self.register_buffer("signs", torch.tensor(spec["signs"], dtype=torch.float64))
        self.linear = None
        if spec.get("linear"):
            s = torch.from_numpy(np.load(files[-1]))
            self.linear = nn.Linear(len(s), 1, bias=False, dtype=torch.float64)
            self.linear.weight.data.copy_(s[None, :])
        st = spec.get("standardize") or {"x_mean": [0.0] * spec["d"], "x_sd": [1.0] * spec["d"], "y_mean": 0.0, "y_sd": 1.0}
        for name in ("x_mean", "x_sd", "y_mean", "y_sd"):
            self.register_buffer(name, torch.tensor(st[name], dtype=torch.float64))

    def forward(self, x):
        x = (x - self.x_mean) / self.x_sd
        if self.bias:
            x = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)
        h = x
        for layer in self.hidden:
            h = torch.relu(layer(h))
        y = h @ self.signs
        if self.linear is not None:
            y = y + self.linear(x).squeeze(1)
        return y * self.y_sd + self.y_mean
