#!/usr/bin/python3
"""Real and non-realizable regression data for docs/REALDATA.md, and the
baselines a user would pick instead of altmin.

  realdata.py prepare OUT [NAME...]
                                 write OUT/NAME/{train,test}.csv and OUT/NAME/label
                                 for the named data sets (default: all)
  realdata.py baseline DIR K     fit least squares and scikit-learn's MLPRegressor
                                 (K ReLUs) on DIR/train.csv, score DIR/test.csv;
                                 print one JSON line
  realdata.py fit DIR K          what a user's script would do to train the MLP:
                                 read DIR/train.csv (numpy.loadtxt), standardize,
                                 fit; prints nothing (realdata.sh times the whole
                                 process, interpreter start and imports included)

Data sets, from files Debian packages install (nothing is downloaded):
  diabetes   scikit-learn's diabetes table (python3-sklearn), 442 x 10
  friedman1  Friedman #1, y = 10 sin(pi x1 x2) + 20 (x3 - 0.5)^2 + 10 x4 + 5 x5
             + N(0, 1), x uniform in [0, 1]^10: 1e6 training rows, 1e5 test rows
  diamonds   ggplot2's diamonds (r-cran-ggplot2), 53,940 x 9, target log(price),
             cut, color and clarity as their ordinal codes
  faithfuld  ggplot2's faithfuld, 5,625 x 2, target the density
  boston     MASS's Boston (r-cran-mass), 506 x 13, target medv
The tables from R are exported with Rscript when it and the package are
installed; a table whose source is missing is skipped with a note.

Every split is 80/20 by a permutation seeded with 0 (Friedman #1 draws its
test rows separately). Baselines standardize features and target on the
training rows, as the MLP needs; least squares does not care.
"""
import csv
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

R_EXPORT = {
    "diamonds": ("ggplot2", "logprice", """
d <- as.data.frame(ggplot2::diamonds)
d$cut <- as.integer(d$cut); d$color <- as.integer(d$color); d$clarity <- as.integer(d$clarity)
d$logprice <- log(d$price); d$price <- NULL
write.csv(d, OUT, row.names=FALSE)"""),
    "faithfuld": ("ggplot2", "density", "write.csv(as.data.frame(ggplot2::faithfuld), OUT, row.names=FALSE)"),
    "boston": ("MASS", "medv", "write.csv(MASS::Boston, OUT, row.names=FALSE)"),
}


def write(path, names, x, y):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names)
        for row, t in zip(x, y):
            w.writerow([repr(float(v)) for v in row] + [repr(float(t))])


def split_write(out, name, names, x, y):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    perm = np.random.default_rng(0).permutation(len(y))
    cut = int(0.8 * len(y))
    write(os.path.join(d, "train.csv"), names, x[perm[:cut]], y[perm[:cut]])
    write(os.path.join(d, "test.csv"), names, x[perm[cut:]], y[perm[cut:]])
    with open(os.path.join(d, "label"), "w") as f:
        f.write(names[-1] + "\n")
    print(f"{name}: {cut} training rows, {len(y) - cut} test rows, {x.shape[1]} features", file=sys.stderr)


def friedman1(rng, n):
    x = rng.uniform(size=(n, 10))
    y = (10 * np.sin(np.pi * x[:, 0] * x[:, 1]) + 20 * (x[:, 2] - 0.5) ** 2
         + 10 * x[:, 3] + 5 * x[:, 4] + rng.normal(size=n))
    return x, y


def prepare(out, only):
    want = lambda name: not only or name in only
    if want("diabetes"):
        from sklearn.datasets import load_diabetes
        ds = load_diabetes()
        names = [n for n in ds.feature_names] + ["target"]
        split_write(out, "diabetes", names, ds.data, ds.target)
    if want("friedman1"):
        prepare_friedman1(out)
    for name, (pkg, label, script) in R_EXPORT.items():
        if want(name):
            prepare_r(out, name, pkg, label, script)


def prepare_friedman1(out):
    d = os.path.join(out, "friedman1")
    os.makedirs(d, exist_ok=True)
    names = [f"x{j + 1}" for j in range(10)] + ["y"]
    rng = np.random.default_rng(1)
    x, y = friedman1(rng, 1_000_000)
    write(os.path.join(d, "train.csv"), names, x, y)
    x, y = friedman1(rng, 100_000)
    write(os.path.join(d, "test.csv"), names, x, y)
    with open(os.path.join(d, "label"), "w") as f:
        f.write("y\n")
    print("friedman1: 1000000 training rows, 100000 test rows, 10 features", file=sys.stderr)


def prepare_r(out, name, pkg, label, script):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, name + ".csv")
        try:
            subprocess.run(["Rscript", "-e", f'OUT <- "{path}"\n' + script], check=True,
                           capture_output=True)
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"{name}: skipped: Rscript with R package {pkg} not available ({e})", file=sys.stderr)
            return
        with open(path) as f:
            rows = list(csv.reader(f))
    names = rows[0]
    a = np.array(rows[1:], dtype=float)
    j = names.index(label)
    x, y = np.delete(a, j, axis=1), a[:, j]
    split_write(out, name, [n for i, n in enumerate(names) if i != j] + [label], x, y)


def load(path, label):
    with open(path) as f:
        rows = list(csv.reader(f))
    a = np.array(rows[1:], dtype=float)
    j = rows[0].index(label)
    return np.delete(a, j, axis=1), a[:, j]


def r2(y, p):
    return 1 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2)


def baseline(d, k):
    from sklearn.linear_model import LinearRegression
    from sklearn.neural_network import MLPRegressor
    from sklearn.preprocessing import StandardScaler
    with open(os.path.join(d, "label")) as f:
        label = f.read().strip()
    x, y = load(os.path.join(d, "train.csv"), label)
    xt, yt = load(os.path.join(d, "test.csv"), label)
    ols = LinearRegression().fit(x, y)
    sx = StandardScaler().fit(x)
    my, sy = y.mean(), y.std()
    t0 = time.perf_counter()
    mlp = MLPRegressor(hidden_layer_sizes=(k,), activation="relu", solver="adam", random_state=0)
    mlp.fit(sx.transform(x), (y - my) / sy)
    sec = time.perf_counter() - t0
    pred = mlp.predict(sx.transform(xt)) * sy + my
    print(json.dumps({"ols_r2": r2(yt, ols.predict(xt)), "mlp_r2": r2(yt, pred),
                      "mlp_seconds": sec, "mlp_epochs": mlp.n_iter_}))


def fit(d, k):
    from sklearn.neural_network import MLPRegressor
    with open(os.path.join(d, "label")) as f:
        label = f.read().strip()
    path = os.path.join(d, "train.csv")
    with open(path) as f:
        j = next(csv.reader(f)).index(label)
    a = np.loadtxt(path, delimiter=",", skiprows=1)
    x, y = np.delete(a, j, axis=1), a[:, j]
    mx, sx, my, sy = x.mean(axis=0), x.std(axis=0), y.mean(), y.std()
    sx[sx == 0] = 1
    MLPRegressor(hidden_layer_sizes=(k,), activation="relu", solver="adam",
                 random_state=0).fit((x - mx) / sx, (y - my) / sy)


if __name__ == "__main__":
    import warnings
    warnings.filterwarnings("ignore")  # MLPRegressor's ConvergenceWarning: the epochs are reported
    if len(sys.argv) >= 3 and sys.argv[1] == "prepare":
        prepare(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) == 4 and sys.argv[1] == "baseline":
        baseline(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 4 and sys.argv[1] == "fit":
        fit(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)
