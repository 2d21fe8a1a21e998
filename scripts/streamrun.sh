#!/usr/bin/env bash
# Train on .npy files (written by `coordinator gen`) through S shard
# processes on loopback that stream their partitions from the files, and
# report seconds per iteration and every process's peak RSS.
#
#   scripts/streamrun.sh DIR [SHARDS [PARTITIONS [RESIDENT [STORAGE]]]]
#
# DIR holds X.npy, y.npy, truth.npy and signs.npy. Defaults: SHARDS=4,
# PARTITIONS=64, RESIDENT=2 (partitions' rows held per shard; 0 holds every
# partition), STORAGE=float32. Partitions are dealt to the shards in
# contiguous ranges. SHARD_FLAGS is added to every shard's command line.
# The model is read off the teacher: k from truth.npy, signs from signs.npy.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=$(cd "$1" && pwd)
SHARDS=${2:-4}
PARTS=${3:-64}
RESIDENT=${4:-2}
STORAGE=${5:-float32}
. scripts/bench-lib.sh
bench_setup streamrun 1
K=$(od -An -j 0 -N 200 -c "$DIR/truth.npy" | tr -d ' \n' | sed -n "s/.*'shape':(\([0-9]*\),.*/\1/p")

echo "data: $DIR ($(du -sh "$DIR/X.npy" | cut -f1) X.npy), k=$K, $SHARDS shards, $PARTS partitions, resident $RESIDENT, storage $STORAGE"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
start=$(date +%s.%N)
per=$(( (PARTS + SHARDS - 1) / SHARDS ))
for s in $(seq 1 "$SHARDS"); do
  lo=$(( (s - 1) * per )); hi=$(( s * per - 1 )); [ $hi -ge "$PARTS" ] && hi=$((PARTS - 1))
  join=""
  [ "$s" -gt 1 ] && join="--join 127.0.0.1:17301"
  "$BIN/shard" --id "s$s" --partitions "$lo-$hi" --num-partitions "$PARTS" --data "$DIR/X.npy" --labels "$DIR/y.npy" \
    --storage "$STORAGE" --resident "$RESIDENT" --log-level warn \
    --grpc-addr "127.0.0.1:$((17400 + s))" --gossip-addr "127.0.0.1:$((17300 + s))" $join \
    --insecure ${SHARD_FLAGS:-} >"$WORK/s$s.log" 2>&1 &
  PIDS+=($!)
done
/usr/bin/time -f "%M" -o "$WORK/coord.rss" "$BIN/coordinator" train --join 127.0.0.1:17301 --gossip-addr 127.0.0.1:17300 --insecure \
  --model sum --k "$K" --signs "$DIR/signs.npy" --truth "$DIR/truth.npy" --partitions "$PARTS" \
  --join-timeout 30m --step-timeout 60m --out "$WORK/out" >"$WORK/coord.out" 2>&1 &
cpid=$!
declare -A peak
sample_peaks "$cpid" 1
wait "$cpid" || { cat "$WORK/coord.out"; for s in $(seq 1 "$SHARDS"); do tail -5 "$WORK/s$s.log"; done; exit 1; }
end=$(date +%s.%N)
tail -3 "$WORK/coord.out"
echo "iteration seconds: $(secs "$WORK/out/metrics.jsonl" | tr '\n' ' ')"
echo "median s/iter (iterations 1..): $(secs "$WORK/out/metrics.jsonl" | sed 1d | median)"
echo "peak RSS KiB: shards $(for i in "${!PIDS[@]}"; do printf '%s ' "${peak[$i]:-0}"; done); coordinator $(cat "$WORK/coord.rss")"
echo "wall: $(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.0f", b-a}') s from the start of the shards; outputs in $WORK/out"
