#!/usr/bin/env bash
# Fault-injection suite for the docker-compose cluster (1 coordinator, 4
# shards, P = 8, every partition on two shards). Each scenario injects a
# fault into a running training job and asserts, within a time bound, that
# the job either finishes with weights.npy byte-identical to a fault-free
# run or fails with an error naming what is missing.
#
#   scripts/faults.sh                 all scenarios
#   scripts/faults.sh kill-shard ...  the named ones
#
# Prints one result line per scenario and a summary table (also written to
# deploy/out/faults.md). Exits non-zero if any scenario fails.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/cluster.sh

DATA="${ALTMIN_SYNTHETIC:-model=sum,d=50,k=5,n=4000000,seed=1}"
export ALTMIN_SYNTHETIC="$DATA"
export ALTMIN_HEDGE_AFTER="${ALTMIN_HEDGE_AFTER:-10s}"
export ALTMIN_REJOIN_TIMEOUT="${ALTMIN_REJOIN_TIMEOUT:-30s}"
export ALTMIN_STEP_TIMEOUT="${ALTMIN_STEP_TIMEOUT:-60s}"
OUT=deploy/out
MODEL=$OUT/model
REF=$OUT/reference
RESULTS=()
FAILED=0

log() { printf '[faults %s] %s\n' "$(date +%T)" "$*"; }

cid() { compose ps -q "$1"; }

# start brings up a fresh cluster in the background.
start() {
  compose down -v --remove-orphans >/dev/null 2>&1 || true
  rm -rf "$MODEL"
  compose up -d >/dev/null 2>&1 || { log "compose up failed"; compose logs --tail 50; return 1; }
}

# wait_iter N: wait until the coordinator has completed iteration N.
wait_iter() {
  local n=$1 deadline=$((SECONDS + 300))
  while [ $SECONDS -lt $deadline ]; do
    if [ -f "$MODEL/metrics.jsonl" ] && grep -q "\"iter\":$n," "$MODEL/metrics.jsonl"; then
      return 0
    fi
    sleep 0.2
  done
  log "iteration $n not reached within 300 s"
  return 1
}

# wait_coordinator BOUND: wait for the coordinator container to exit;
# prints its exit code, or "timeout".
wait_coordinator() {
  local bound=$1 c
  c=$(cid coordinator)
  if ! timeout "$bound" docker wait "$c" 2>/dev/null; then
    echo timeout
  fi
}

wait_healthy() {
  local c deadline=$((SECONDS + 120))
  c=$(cid "$1")
  while [ $SECONDS -lt $deadline ]; do
    [ "$(docker inspect -f '{{.State.Health.Status}}' "$c" 2>/dev/null)" = healthy ] && return 0
    sleep 0.5
  done
  return 1
}

record() { # name outcome seconds
  RESULTS+=("| $1 | $2 | $3")
  log "$1: $2 (${3}s)"
}

expect_identical() { # name start-seconds code
  local name=$1 t=$((SECONDS - $2)) code=$3
  if [ "$code" = 0 ] && cmp -s "$MODEL/weights.npy" "$REF/weights.npy"; then
    record "$name" "finished, weights.npy bit-identical" "$t"
  else
    record "$name" "FAILED (exit $code, weights differ or missing)" "$t"
    compose logs --tail 40 coordinator
    FAILED=1
  fi
}

scenario_kill_shard() {
  local t0=$SECONDS code
  start || return
  wait_iter 1 && docker kill -s KILL "$(cid s2)" >/dev/null
  code=$(wait_coordinator 600)
  expect_identical "kill -9 shard s2 during iteration 2" $t0 "$code"
}

scenario_pause_shard() {
  local t0=$SECONDS code
  start || return
  wait_iter 1
  # The engine's cgroup freezer has been seen to fail transiently ("unable
  # to freeze"); try a few times, and report rather than fail if it never
  # works: that is the engine, not the system under test.
  if ! docker pause "$(cid s3)" >/dev/null && ! { sleep 1; docker pause "$(cid s3)" >/dev/null; } && ! { sleep 2; docker pause "$(cid s3)" >/dev/null; }; then
    wait_coordinator 600 >/dev/null
    record "docker pause shard s3 (straggler)" "NOT RUN: docker pause failed three times on this engine" $((SECONDS - t0))
    return
  fi
  code=$(wait_coordinator 600)
  docker unpause "$(cid s3)" >/dev/null 2>&1
  expect_identical "docker pause shard s3 (straggler, hedged after $ALTMIN_HEDGE_AFTER)" $t0 "$code"
}

scenario_disconnect_shard() {
  local t0=$SECONDS code net
  start || return
  net=$(docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}' "$(cid s1)")
  wait_iter 1 && docker network disconnect "$net" "$(cid s1)"
  code=$(wait_coordinator 600)
  expect_identical "disconnect shard s1 from the network" $t0 "$code"
}

scenario_restart_coordinator() {
  local t0=$SECONDS code
  start || return
  wait_iter 2 && docker kill -s KILL "$(cid coordinator)" >/dev/null
  sleep 1
  docker start "$(cid coordinator)" >/dev/null
  code=$(wait_coordinator 600)
  # Read the whole log before searching it: with pipefail, `compose logs |
  # grep -q` fails when grep exits at the match while compose is still
  # writing (SIGPIPE) -- the likely cause of the one spurious failure seen.
  local logs
  logs=$(compose logs --no-color coordinator 2>&1)
  if ! grep -q "resuming from the checkpoint" <<<"$logs"; then
    record "kill -9 the coordinator after iteration 2, restart it" "FAILED (did not resume from the checkpoint)" $((SECONDS - t0))
    compose logs --tail 30 coordinator
    ls -la "$MODEL"
    FAILED=1
    return
  fi
  expect_identical "kill -9 the coordinator after iteration 2, restart it (resumed)" $t0 "$code"
}

scenario_kill_replicas() {
  local t0=$SECONDS code logs
  start || return
  # Partitions 0 and 1 live on s1 and s4 only.
  wait_iter 1 && docker kill -s KILL "$(cid s1)" "$(cid s4)" >/dev/null
  code=$(wait_coordinator 300)
  logs=$(compose logs coordinator 2>&1)
  if [ "$code" != 0 ] && [ "$code" != timeout ] && grep -Eq "partition [01]:.*(s1|s4)" <<<"$logs"; then
    record "kill -9 both replicas (s1, s4) of partitions 0-1" "clear error: $(grep -Eo 'partition [01]: no live shard[^;]*' <<<"$logs" | head -1)" $((SECONDS - t0))
  else
    record "kill -9 both replicas (s1, s4) of partitions 0-1" "FAILED (exit $code, no clear error)" $((SECONDS - t0))
    tail -20 <<<"$logs"
    FAILED=1
  fi
}

scenario_restart_shard() {
  local t0=$SECONDS code
  start || return
  wait_iter 1 && docker restart -t 5 "$(cid s2)" >/dev/null
  wait_healthy s2
  # s1 is the only other holder of partitions 2 and 3: once it is gone they
  # can only come from the restarted s2.
  docker kill -s KILL "$(cid s1)" >/dev/null
  code=$(wait_coordinator 600)
  expect_identical "restart shard s2 (same ID), then kill s1: s2 serves partitions 2-3 again" $t0 "$code"
}

ALL=(kill_shard pause_shard disconnect_shard restart_coordinator kill_replicas restart_shard)
if [ $# -gt 0 ]; then ALL=("${@//-/_}"); fi

trap 'log "faults.sh ended (status $?)"' EXIT
build
key
log "fault-free reference run in one process: $DATA"
rm -rf "$REF"
deploy/bin/coordinator train --synthetic "$DATA" --local-shards 0 --out "$REF" >/dev/null || { log "reference run failed"; exit 1; }
for s in "${ALL[@]}"; do
  # One retry, reported loudly: a scenario that passes only on its second
  # attempt is flaky and is marked so in the table.
  failed_before=$FAILED
  for attempt in 1 2; do
    FAILED=0
    log "scenario $s (attempt $attempt)"
    "scenario_$s"
    last=$((${#RESULTS[@]} - 1))
    if [ "$FAILED" = 0 ]; then
      if [ "$attempt" = 2 ]; then
        RESULTS[$last]="${RESULTS[$last]} (passed on retry: FLAKY)"
      fi
      FAILED=$failed_before
      break
    fi
    if [ "$attempt" = 1 ]; then
      log "scenario $s failed; retrying once"
      unset "RESULTS[$last]"
      RESULTS=("${RESULTS[@]}")
    else
      FAILED=1
    fi
  done
done
compose down -v --remove-orphans >/dev/null 2>&1 || true

{
  echo "| scenario | outcome | seconds |"
  echo "|---|---|---|"
  printf "%s |\n" "${RESULTS[@]}"
} | tee "$OUT/faults.md"
exit $FAILED
