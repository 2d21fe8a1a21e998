#!/usr/bin/env bash
# Runs altmin on a single-node Docker Swarm (deploy/swarm/stack.yml: four
# shard tasks placed by their slot, each partition on two of them, and a
# one-shot coordinator) and checks that killing a shard task in the middle
# of a run changes no bit of the model:
#
#   1. builds the image altmin-swarm:VERSION (scripts/image.sh: static,
#      reproducible binaries, FROM scratch), the certificates
#      (shard-{1..4}, coordinator) and the cluster key;
#   2. trains in one process on the host, without any network
#      (coordinator train --local-shards 0): the reference;
#   3. makes this machine a single-node swarm if it is in none;
#   4. deploys the stack and runs the job to completion;
#   5. deploys it again and, once iteration 1 is done, docker kills the
#      container of the shard task in slot 2; swarm restarts the task in the
#      same slot (shard-2 again), and the job must finish;
#   6. compares the weights (every .npy file of the model) of the three
#      runs byte for byte.
#
# It removes the stack and the image, and leaves the swarm if it joined it,
# at the end, on failure and on interruption too. It exits non-zero when a
# run fails or the weights differ, and is bounded in time:
# ALTMIN_SWARM_TIMEOUT seconds (default 900). ALTMIN_SYNTHETIC sets the
# planted data (default that of docker-compose.yml). Your own data instead:
# put the files in deploy/swarm/data (or the directory ALTMIN_DATA_DIR)
# and name them as the containers see them, under /data:
#
#   ALTMIN_DATA=/data/train.csv ALTMIN_LABEL=price ALTMIN_K=8 scripts/swarm.sh
#   ALTMIN_DATA=/data/X.npy ALTMIN_LABELS=/data/y.npy ALTMIN_K=8 scripts/swarm.sh
#
# (ALTMIN_FEATURES and ALTMIN_MODEL too); the reference run reads the same
# files from the host directory. Models and logs stay in deploy/swarm/out.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

BOUND=${ALTMIN_SWARM_TIMEOUT:-900}
if [ -z "${ALTMIN_SWARM_BOUNDED:-}" ]; then
  # The whole script under timeout; the trap below cleans up on its TERM.
  exec timeout -k 60 "$BOUND" env ALTMIN_SWARM_BOUNDED=1 scripts/swarm.sh "$@"
fi

STACK=altmin-swarm
NAME=altmin-swarm
DIR=deploy/swarm
OUT=$PWD/$DIR/out
DATA_DIR=$(realpath -m "${ALTMIN_DATA_DIR:-$DIR/data}")
BIN=$DIR/build/bin
# The reference run's data flags: the files of the containers' /data in
# DATA_DIR, or the planted data. The stack reads the same variables.
REF=()
if [ -n "${ALTMIN_DATA:-}" ]; then
  export ALTMIN_SYNTHETIC="" # the stack's default is the planted data
  REF=(--data "$DATA_DIR/${ALTMIN_DATA#/data/}")
  [ -z "${ALTMIN_LABEL:-}" ] || REF+=(--label "$ALTMIN_LABEL")
  [ -z "${ALTMIN_LABELS:-}" ] || REF+=(--labels "$DATA_DIR/${ALTMIN_LABELS#/data/}")
else
  export ALTMIN_SYNTHETIC=${ALTMIN_SYNTHETIC:-model=sum,d=50,k=5,n=4000000,seed=1}
  REF=(--synthetic "$ALTMIN_SYNTHETIC")
fi
[ -z "${ALTMIN_FEATURES:-}" ] || REF+=(--features "$ALTMIN_FEATURES")
[ -z "${ALTMIN_MODEL:-}" ] || REF+=(--model "$ALTMIN_MODEL")
[ -z "${ALTMIN_K:-}" ] || REF+=(--k "$ALTMIN_K")
T0=$SECONDS
JOINED=0
GWBRIDGE_BEFORE=1
VERSION=

log() { printf '[swarm %s] %s\n' "$(date +%T)" "$*"; }

# remove_stack removes the stack and waits until its containers, network
# and secrets are gone (docker stack rm returns before).
remove_stack() {
  docker stack rm "$STACK" >/dev/null 2>&1 || return 0
  local deadline=$((SECONDS + 120)) f="label=com.docker.stack.namespace=$STACK"
  while [ $SECONDS -lt $deadline ]; do
    if [ -z "$(docker ps -aq --filter "$f")$(docker network ls -q --filter "$f")$(docker secret ls -q --filter "$f" 2>/dev/null)" ]; then
      return 0
    fi
    sleep 1
  done
  log "the stack $STACK was not gone after 120 s"
}

cleanup() {
  local rc=$?
  trap - EXIT TERM INT
  if [ "$(docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null)" = active ]; then
    remove_stack
  fi
  if [ $JOINED = 1 ]; then
    docker swarm leave --force >/dev/null && log "left the swarm"
    if [ $GWBRIDGE_BEFORE = 0 ]; then
      docker network rm docker_gwbridge >/dev/null 2>&1
    fi
  fi
  if [ -n "$VERSION" ]; then
    docker rmi "$NAME:$VERSION" >/dev/null 2>&1
  fi
  log "finished in $((SECONDS - T0)) s, exit status $rc"
  exit $rc
}
trap cleanup EXIT
trap 'log "interrupted (or past the bound of $BOUND s)"; exit 124' TERM INT

fail() {
  log "FAILED: $*"
  exit 1
}

# coordinator_state prints Complete, Failed or Running once the
# coordinator's first task has ended or is running, else Pending.
coordinator_state() {
  local s
  s=$(docker service ps "${STACK}_coordinator" --format '{{.CurrentState}}' 2>/dev/null)
  case "$s" in
    *Complete*) echo Complete ;;
    *Failed* | *Rejected* | *Shutdown*) echo Failed ;;
    *Running*) echo Running ;;
    *) echo Pending ;;
  esac
}

# run NAME [kill]: deploys the stack, runs the job to completion (killing
# the shard task of slot 2 after iteration 1 with kill), keeps the model in
# $OUT/NAME and removes the stack.
run() {
  local name=$1 kill=${2:-} t=$SECONDS state c
  rm -rf "$OUT/model" "$OUT/$name"
  log "$name: deploying the stack $STACK (image $NAME:$VERSION)"
  ALTMIN_IMAGE="$NAME:$VERSION" ALTMIN_OUT_DIR="$OUT" ALTMIN_DATA_DIR="$DATA_DIR" \
    docker stack deploy --resolve-image never -c "$DIR/stack.yml" "$STACK" >"$OUT/$name.deploy.log" 2>&1 ||
    { cat "$OUT/$name.deploy.log"; fail "$name: docker stack deploy"; }
  if [ -n "$kill" ]; then
    local deadline=$((SECONDS + 400))
    until [ -f "$OUT/model/metrics.jsonl" ] && grep -q '"iter":1,' "$OUT/model/metrics.jsonl"; do
      [ $SECONDS -lt $deadline ] || fail "$name: iteration 1 not reached within 400 s"
      [ "$(coordinator_state)" = Failed ] && break
      sleep 0.2
    done
    if [ "$(coordinator_state)" != Running ]; then
      log "$name: the coordinator is no longer running after iteration 1: the kill below is not mid-run"
      MIDRUN=no
    fi
    c=$(docker ps --filter "label=com.docker.swarm.service.name=${STACK}_shard" --format '{{.ID}} {{.Label "com.docker.swarm.task.name"}}' |
      awk -v p="${STACK}_shard.2." 'index($2, p) == 1 {print $1}')
    [ -n "$c" ] || fail "$name: no running container of the shard task in slot 2"
    docker kill -s KILL "$c" >/dev/null || fail "$name: docker kill $c"
    log "$name: killed container $c (shard task in slot 2, shard-2) after iteration 1"
  fi
  local deadline=$((SECONDS + 600))
  while state=$(coordinator_state); [ "$state" = Running ] || [ "$state" = Pending ]; do
    [ $SECONDS -lt $deadline ] || fail "$name: the coordinator did not finish within 600 s"
    sleep 1
  done
  docker service logs --raw "${STACK}_coordinator" >"$OUT/$name.coordinator.log" 2>&1
  docker service logs --raw "${STACK}_shard" >"$OUT/$name.shards.log" 2>&1
  if [ -n "$kill" ]; then
    docker service ps "${STACK}_shard" --format '{{.Name}} {{.CurrentState}} {{.Error}}' >"$OUT/$name.tasks"
    if grep -q "^${STACK}_shard.2 Running" "$OUT/$name.tasks"; then
      log "$name: swarm restarted the task in slot 2 (shard-2): $(grep -c "^${STACK}_shard.2 " "$OUT/$name.tasks") tasks in that slot"
    else
      log "$name: the task in slot 2 is not running again:"
      cat "$OUT/$name.tasks"
      RESTARTED=no
    fi
  fi
  if [ "$state" != Complete ]; then
    tail -n 40 "$OUT/$name.coordinator.log"
    fail "$name: the coordinator's task ended $state"
  fi
  if grep -q "under-replicated" "$OUT/$name.coordinator.log"; then
    log "$name: the coordinator warned: $(grep -m1 "WARNING: under-replicated" "$OUT/$name.coordinator.log")"
  fi
  mv "$OUT/model" "$OUT/$name"
  log "$name: finished in $((SECONDS - t)) s, $(grep -c '"iter"' "$OUT/$name/metrics.jsonl") iterations; $(grep -m1 -o '"final_rel_res":[^,]*' "$OUT/$name/model.json")"
  remove_stack
}

mkdir -p "$OUT" "$DATA_DIR"
log "building the image (scripts/image.sh)"
VERSION=$(scripts/image.sh "$DIR/build" "$NAME") || fail "image build"
log "image $NAME:$VERSION; $("$BIN/coordinator" --version)"
rm -rf "$DIR/secrets"
"$BIN/coordinator" certs --out "$DIR/secrets" --nodes 'shard-{1..4},coordinator' >/dev/null || fail "certs"
"$BIN/coordinator" keygen >"$DIR/secrets/cluster-key" || fail "keygen"

log "reference: coordinator train ${REF[*]} --local-shards 0"
rm -rf "$OUT/local"
t=$SECONDS
env -u ALTMIN_SYNTHETIC -u ALTMIN_DATA -u ALTMIN_LABEL -u ALTMIN_LABELS -u ALTMIN_FEATURES -u ALTMIN_MODEL -u ALTMIN_K \
  "$BIN/coordinator" train "${REF[@]}" --local-shards 0 --quiet --out "$OUT/local" >"$OUT/local.log" 2>&1 ||
  { cat "$OUT/local.log"; fail "the in-process reference run"; }
log "reference: finished in $((SECONDS - t)) s"

case "$(docker info --format '{{.Swarm.LocalNodeState}}')" in
  inactive)
    docker network inspect docker_gwbridge >/dev/null 2>&1 || GWBRIDGE_BEFORE=0
    docker swarm init --advertise-addr 127.0.0.1 >/dev/null || fail "docker swarm init"
    JOINED=1
    log "made this machine a single-node swarm (it leaves it at the end)"
    ;;
  active)
    [ "$(docker info --format '{{.Swarm.ControlAvailable}}')" = true ] || fail "this machine is in a swarm but not a manager: cannot deploy"
    log "this machine is already a swarm manager: deploying there (and staying in the swarm)"
    ;;
  *) fail "the swarm state of this machine is $(docker info --format '{{.Swarm.LocalNodeState}}')" ;;
esac
remove_stack

RESTARTED=yes
MIDRUN=yes
run clean
run kill kill

ok=1
for r in clean kill; do
  for f in "$OUT"/local/*.npy; do # weights.npy, and linear.npy of your data's model
    if cmp -s "$f" "$OUT/$r/$(basename "$f")"; then
      log "$r: $(basename "$f") bit-identical to the in-process run"
    else
      log "$r: $(basename "$f") DIFFERS from the in-process run (or is missing)"
      ok=0
    fi
  done
done
[ "$RESTARTED" = yes ] || { log "the killed task was not restarted in its slot"; ok=0; }
[ "$MIDRUN" = yes ] || { log "the shard was killed after the run had finished: no fault was injected mid-run"; ok=0; }
if [ $ok = 1 ]; then
  log "PASSED: the swarm's weights, fault-free and with shard-2 killed mid-run, are bit-identical to the in-process run"
else
  fail "see above"
fi
