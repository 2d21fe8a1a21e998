#!/usr/bin/env bash
# Builds the altmin image and runs the docker-compose cluster.
#
#   scripts/cluster.sh build     static binaries, the FROM-scratch image, certificates, cluster key
#   scripts/cluster.sh up        build, then run the cluster to completion; prints where the model went
#   scripts/cluster.sh down      stop and remove the containers
#
# Works with Debian's docker-compose (v1) and with `docker compose` (v2).
# ALTMIN_SYNTHETIC overrides the planted data of every node, e.g.
#   ALTMIN_SYNTHETIC=model=sum,d=20,k=3,n=20000,seed=2 scripts/cluster.sh up
# (it is the nodes' --synthetic; see docker-compose.yml for the others).
# Your own data, from a directory the shards see as /data (docs/DEPLOY.md):
#   ALTMIN_DATA_DIR=$PWD/mydata ALTMIN_DATA=/data/train.csv ALTMIN_LABEL=price ALTMIN_K=16 scripts/cluster.sh up
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

# The compose project is named explicitly so container and network names do
# not depend on the checkout's folder.
compose() {
  if command -v docker-compose >/dev/null 2>&1; then
    docker-compose -p altmin "$@"
  else
    docker compose -p altmin "$@"
  fi
}

build() {
  mkdir -p deploy/bin deploy/out "${ALTMIN_DATA_DIR:-deploy/data}"
  echo "== static binaries (CGO_ENABLED=0, reproducible) and the image altmin:dev (FROM scratch), scripts/image.sh"
  local version
  version=$(scripts/image.sh deploy altmin dev)
  echo "   version $version, also tagged altmin:$version"
  if [ ! -f deploy/certs/ca.pem ]; then
    echo "== certificates in deploy/certs"
    deploy/bin/coordinator certs --out deploy/certs --nodes coordinator,s1,s2,s3,s4
  fi
  # The containers run as root from scratch images; keys must be readable there.
  if [ ! -f deploy/.env ]; then
    echo "== cluster key in deploy/.env"
    echo "ALTMIN_CLUSTER_KEY=$(deploy/bin/coordinator keygen)" > deploy/.env
  fi
}

key() {
  # shellcheck disable=SC1091
  set -a; . deploy/.env; set +a
}

# When sourced (by scripts/faults.sh), only define the functions.
if [ "${BASH_SOURCE[0]}" != "$0" ]; then
  return 0
fi

case "${1:-up}" in
  build)
    build
    ;;
  up)
    build
    key
    # Your data (docker-compose.yml): no planted data unless asked for.
    if [ -n "${ALTMIN_DATA:-}" ] && [ -z "${ALTMIN_SYNTHETIC+set}" ]; then
      export ALTMIN_SYNTHETIC=
    fi
    compose down -v --remove-orphans >/dev/null 2>&1 || true
    rm -rf deploy/out/model
    compose up --abort-on-container-exit --exit-code-from coordinator
    echo "model written to deploy/out/model (weights.npy, model.json, metrics.jsonl)"
    compose down -v --remove-orphans >/dev/null 2>&1 || true
    ;;
  down)
    key
    compose down -v --remove-orphans
    ;;
  *)
    echo "usage: scripts/cluster.sh [build|up|down]" >&2
    exit 2
    ;;
esac
