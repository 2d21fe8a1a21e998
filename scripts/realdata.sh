#!/bin/sh
# The table of docs/REALDATA.md: altmin's default invocation against
# least squares and scikit-learn's MLPRegressor on real and non-realizable
# regression data (scripts/realdata.py says where the data come from).
#
#   scripts/realdata.sh [WORKDIR [SETS [KS]]]
#
# WORKDIR (default ./realdata-work) receives the data sets and the models;
# SETS (default "diabetes boston faithfuld diamonds friedman1") and KS
# (default "4 16 32") choose the rows of the table. Needs /usr/bin/python3
# with numpy and scikit-learn; the R data sets need Rscript with ggplot2 and
# MASS (skipped otherwise). Prints one markdown row per data set and K.
set -eu
cd "$(dirname "$0")/.."
work=${1:-realdata-work}
sets=${2:-diabetes boston faithfuld diamonds friedman1}
ks=${3:-4 16 32}
mkdir -p "$work/models"
go build -o "$work/coordinator" ./cmd/coordinator
[ -d "$work/sets" ] || /usr/bin/python3 scripts/realdata.py prepare "$work/sets"
echo "| data | rows (train/test) | K | altmin test R² | iters | seconds | MLP test R² | epochs | fit seconds | script seconds | least squares R² |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for s in $sets; do
	d=$work/sets/$s
	[ -f "$d/train.csv" ] || { echo "| $s | not available |" ; continue; }
	label=$(cat "$d/label")
	rows="$(($(wc -l <"$d/train.csv") - 1))/$(($(wc -l <"$d/test.csv") - 1))"
	for k in $ks; do
		out=$work/models/$s-k$k
		rm -rf "$out"
		t0=$(date +%s.%N)
		"$work/coordinator" train --data "$d/train.csv" --label "$label" --k "$k" --out "$out" >"$out.log" 2>&1
		t1=$(date +%s.%N)
		r2=$("$work/coordinator" eval --model "$out" --data "$d/test.csv" --label "$label" --json |
			/usr/bin/python3 -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["r2"])')
		iters=$(/usr/bin/python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["iterations"])' "$out/model.json")
		base=$(/usr/bin/python3 scripts/realdata.py baseline "$d" "$k")
		t2=$(date +%s.%N)
		/usr/bin/python3 scripts/realdata.py fit "$d" "$k"
		t3=$(date +%s.%N)
		echo "$base" | /usr/bin/python3 -c '
import json, sys
b = json.load(sys.stdin)
s, rows, k, r2, iters, t0, t1, t2, t3 = sys.argv[1:10]
sec, ssec = float(t1) - float(t0), float(t3) - float(t2)
mlp, epochs, msec, ols = b["mlp_r2"], b["mlp_epochs"], b["mlp_seconds"], b["ols_r2"]
print(f"| {s} | {rows} | {k} | {r2} | {iters} | {sec:.2f} | {mlp:.4f} | {epochs} | {msec:.2f} | {ssec:.2f} | {ols:.4f} |")
' "$s" "$rows" "$k" "$r2" "$iters" "$t0" "$t1" "$t2" "$t3"
	done
done
