#!/bin/sh
# fuzz.sh runs every native Go fuzz target of the parsers of outside input
# for a bounded number of executions each, one target per invocation (go
# test -fuzz takes one). The bounds are counts, not durations: Go 1.26's
# fuzzing coordinator can report a spurious "context deadline exceeded"
# failure when a duration-bounded run ends while a worker is mid-call (Go
# issue 75804, fixed in Go 1.27), and a count is the same work on any
# machine. Each count is about 20 seconds of its target on 2 cores; the 13
# targets take about 6 minutes with their builds. FUZZTIME (a duration
# such as 1m, or a count such as 100000x) replaces every count, for longer
# runs by hand. A crash leaves its input in the package's
# testdata/fuzz/FuzzX/ directory: commit it as a regression test with the
# fix. Minimization is bounded too (-fuzzminimizetime), or a target that
# finds new coverage in large inputs spends its time there.
set -eu
cd "$(dirname "$0")/.."
targets="
./data FuzzNPYHeader 200000x
./data FuzzNPY 40000x
./data FuzzCSV 25000x
./data FuzzParquet 10000x
./data FuzzParsePlanted 150000x
./cmd/shard FuzzParseList 40000x
./job FuzzParseHidden 40000x
./job FuzzCheckpoint 30000x
./job FuzzModelJSON 20000x
./cluster FuzzParseKey 150000x
./transport FuzzRequestFromProto 80000x
./transport FuzzChunks 60000x
./transport FuzzInfo 50000x
"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
failed=""
for t in $(echo "$targets" | tr ' ' ':'); do
	pkg=${t%%:*}
	rest=${t#*:}
	target=${rest%%:*}
	budget=${FUZZTIME:-${rest#*:}}
	echo "== $pkg $target ($budget)"
	if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$budget" -fuzzminimizetime 200x "$pkg" >"$out" 2>&1; then
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
