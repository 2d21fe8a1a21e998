#!/bin/sh
# fuzz.sh runs every native Go fuzz target of the parsers of outside input
# for a bounded time each, one target per invocation (go test -fuzz takes
# one). FUZZTIME (default 20s) bounds each target: the 13 targets take
# about 6 minutes with their builds on 2 cores. A crash leaves its input in
# the package's testdata/fuzz/FuzzX/ directory: commit it as a regression
# test with the fix. Minimization is bounded too (-fuzzminimizetime), or a
# target that finds new coverage in large inputs spends its time there.
set -eu
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-20s}
targets="
./data FuzzNPYHeader
./data FuzzNPY
./data FuzzCSV
./data FuzzParquet
./data FuzzParsePlanted
./cmd/shard FuzzParseList
./job FuzzParseHidden
./job FuzzCheckpoint
./job FuzzModelJSON
./cluster FuzzParseKey
./transport FuzzRequestFromProto
./transport FuzzChunks
./transport FuzzInfo
"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
failed=""
for t in $(echo "$targets" | tr ' ' ':'); do
	pkg=${t%%:*}
	target=${t#*:}
	echo "== $pkg $target ($FUZZTIME)"
	if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 2s "$pkg" >"$out" 2>&1; then
		grep '^fuzz: elapsed' "$out" | tail -1
	else
		cat "$out"
		failed="$failed $target"
	fi
done
if [ -n "$failed" ]; then
	echo "fuzz.sh: FAILED:$failed (the inputs are in testdata/fuzz/)"
	exit 1
fi
echo "fuzz.sh: every target passed"
