# Shared by procbench.sh and streamrun.sh (sourced, not run): a work
# directory, the binaries built into it, the processes started (PIDS),
# killed on exit, and the helpers that read the results.
#
#   bench_setup NAME KEEP   WORK=/tmp/altmin-NAME.XXXXXX, BIN=$WORK/bin; on
#                           exit the processes are killed and WORK removed
#                           (only BIN when KEEP is 1, so outputs stay)

bench_setup() {
  WORK=$(mktemp -d "/tmp/altmin-$1.XXXXXX")
  BIN=$WORK/bin
  BENCH_KEEP=$2
  PIDS=()
  trap bench_cleanup EXIT
  go build -o "$BIN/" ./cmd/coordinator ./cmd/shard
}

bench_cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$BENCH_KEEP" = 1 ]; then rm -rf "$BIN"; else rm -rf "$WORK"; fi
}

# peak KiB of a process (VmHWM), read while it runs.
hwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# per-iteration seconds of a metrics.jsonl, one per line (FIELD: seconds,
# stats_seconds or solve_seconds).
secs() { sed -n "s/.*\"${2:-seconds}\":\([0-9.e+-]*\).*/\1/p" "$1"; }

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# sample_peaks PID SECONDS: until process PID ends, every SECONDS record
# the peak RSS (KiB) of every process in PIDS into the array peak (by
# index in PIDS). The caller declares peak: declare -A peak.
sample_peaks() {
  while kill -0 "$1" 2>/dev/null; do
    for i in "${!PIDS[@]}"; do
      v=$(hwm "${PIDS[$i]}")
      [ "${v:-0}" -gt "${peak[$i]:-0}" ] && peak[$i]=$v
    done
    sleep "$2"
  done
}
