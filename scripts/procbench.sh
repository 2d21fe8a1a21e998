#!/usr/bin/env bash
# Distribution overhead: seconds per iteration of one training job run
# through S separate shard processes on loopback (gRPC + memberlist,
# plaintext) against the same job computed in one process (--local-shards 0).
#
#   scripts/procbench.sh [SPEC [SHARDS [PARTITIONS [ITERS]]]]
#
# Defaults: SPEC=model=sum,d=100,k=10,n=1000000,seed=1, SHARDS=3,
# PARTITIONS=6, ITERS=8 (random start, so every iteration does full work).
# SHARD_FLAGS, when set, is added to every shard's command line (e.g.
# SHARD_FLAGS="--parallel 1"), COORD_FLAGS to the cluster coordinator's
# (e.g. COORD_FLAGS="--parallel 2": at most two partitions requested at
# once, across the shards).
# Prints the per-iteration seconds of both runs (from metrics.jsonl), their
# medians over iterations 1..ITERS-1, the ratio, the medians of the two
# phases (stats_seconds: statistics, transfer, their additions in the
# reduction tree; solve_seconds: the solve), and the peak RSS of every
# process. Both runs must end with the
# same weights.npy, bit for bit; the script fails otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

SPEC=${1:-model=sum,d=100,k=10,n=1000000,seed=1}
SHARDS=${2:-3}
PARTS=${3:-6}
ITERS=${4:-8}
. scripts/bench-lib.sh
bench_setup procbench 0

echo "data: $SPEC, $SHARDS shard processes, $PARTS partitions, $ITERS iterations"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"

# One process.
/usr/bin/time -f "%M" -o "$WORK/single.rss" "$BIN/coordinator" train --synthetic "$SPEC" \
  --local-shards 0 --partitions "$PARTS" --iters "$ITERS" --tol 0 --out "$WORK/single" >/dev/null
single=$(secs "$WORK/single/metrics.jsonl" | sed -n "2,${ITERS}p" | median)

# Shard processes: partitions in placement's blocks (shard --partitions
# auto), so that each shard adds up its aligned block itself.
for s in $(seq 1 "$SHARDS"); do
  join=""
  [ "$s" -gt 1 ] && join="--join 127.0.0.1:17201"
  "$BIN/shard" --id "s$s" --partitions auto --shard-index $((s - 1)) --shards "$SHARDS" --num-partitions "$PARTS" --synthetic "$SPEC" \
    --grpc-addr "127.0.0.1:$((17100 + s))" --gossip-addr "127.0.0.1:$((17200 + s))" $join \
    --insecure ${SHARD_FLAGS:-} >"$WORK/s$s.log" 2>&1 &
  PIDS+=($!)
done
"$BIN/coordinator" train --join 127.0.0.1:17201 --gossip-addr 127.0.0.1:17200 --insecure \
  --synthetic "$SPEC" --partitions "$PARTS" --iters "$ITERS" --tol 0 --out "$WORK/multi" ${COORD_FLAGS:-} >/dev/null &
cpid=$!
# Sample the shards' peak RSS while the coordinator runs.
declare -A peak
sample_peaks "$cpid" 0.5
wait "$cpid"
multi=$(secs "$WORK/multi/metrics.jsonl" | sed -n "2,${ITERS}p" | median)

printf '%-28s %s\n' "iteration seconds, 1 process:" "$(secs "$WORK/single/metrics.jsonl" | tr '\n' ' ')"
printf '%-28s %s\n' "iteration seconds, shards:" "$(secs "$WORK/multi/metrics.jsonl" | tr '\n' ' ')"
echo "median s/iter (iterations 1..$((ITERS - 1))): one process $single, $SHARDS shard processes $multi, ratio $(awk -v a="$multi" -v b="$single" 'BEGIN {printf "%.3f", a/b}')"
for run in single multi; do
  echo "  $run: median stats phase $(secs "$WORK/$run/metrics.jsonl" stats_seconds | sed -n "2,${ITERS}p" | median) s, solve phase $(secs "$WORK/$run/metrics.jsonl" solve_seconds | sed -n "2,${ITERS}p" | median) s"
done
echo "peak RSS: one process $(($(cat "$WORK/single.rss") / 1024)) MiB; shards $(for i in "${!PIDS[@]}"; do printf '%s MiB ' $((${peak[$i]:-0} / 1024)); done)"
if cmp -s "$WORK/single/weights.npy" "$WORK/multi/weights.npy"; then
  echo "weights.npy: bit-identical"
else
  echo "weights.npy: DIFFERENT" >&2
  exit 1
fi
