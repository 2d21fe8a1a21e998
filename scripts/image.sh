#!/usr/bin/env bash
# Builds the altmin image: the two commands as static binaries, copied into
# a FROM scratch image (deploy/Dockerfile), both with the same version.
#
#   scripts/image.sh CONTEXT NAME [TAG...]
#
# writes CONTEXT/bin/coordinator and CONTEXT/bin/shard and tags the image
# NAME:VERSION and NAME:TAG for every TAG; prints the version last. The
# build is reproducible: CGO_ENABLED=0, -trimpath, -buildvcs=false (no VCS
# stamp: the version is passed in) and GOAMD64=v1 unless set, so the same
# source and toolchain give the same bytes. The version, in --version and
# in model.json, is $ALTMIN_VERSION, else `git describe --always --dirty`,
# else 0.1.0-dev (job.Version's default), made a valid image tag.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
if [ $# -lt 2 ]; then
  echo "usage: scripts/image.sh CONTEXT NAME [TAG...]" >&2
  exit 2
fi
ctx=$1 name=$2
shift 2
version=${ALTMIN_VERSION:-$(git describe --always --dirty 2>/dev/null || echo 0.1.0-dev)}
version=$(printf '%s' "$version" | tr -c 'A-Za-z0-9_.-' '-' | cut -c1-128)
mkdir -p "$ctx/bin"
for c in coordinator shard; do
  CGO_ENABLED=0 GOAMD64=${GOAMD64:-v1} go build -trimpath -buildvcs=false \
    -ldflags "-X altmin/job.Version=$version" -o "$ctx/bin/$c" "./cmd/$c"
done
tags=(-t "$name:$version")
for t in "$@"; do tags+=(-t "$name:$t"); done
if ! out=$(docker build -q -f deploy/Dockerfile --label "org.opencontainers.image.version=$version" "${tags[@]}" "$ctx" 2>&1); then
  echo "$out" >&2
  exit 1
fi
echo "$version"
