#!/usr/bin/env bash
# Regenerates the Go code of the wire format (proto/altminpb) from
# proto/altmin/v1/*.proto with pinned plugin versions.
#
#   scripts/genproto.sh          regenerate into proto/altminpb
#   scripts/genproto.sh --check  regenerate into a temporary directory and
#                                fail, printing the diff, when the committed
#                                code differs (CI runs this)
#
# The plugins are installed with `go install` into a version-named cache
# directory ($GENPROTO_CACHE, default ~/.cache/altmin-genproto) when missing;
# protoc comes from Debian's protobuf-compiler package, installed with
# apt-get when missing. The protoc version appears in the generated headers
# ("// 	protoc v3.21.12"); --check ignores those lines so that another build
# of protoc does not fail the check, as long as it generates the same code.
set -euo pipefail

PROTOC_GEN_GO_VERSION=v1.36.12     # google.golang.org/protobuf, as in go.mod
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2  # needs google.golang.org/grpc >= v1.81 (go.mod: v1.85.0)

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

check=false
case "${1:-}" in
"") ;;
--check) check=true ;;
*)
	echo "usage: $0 [--check]" >&2
	exit 2
	;;
esac

cache=${GENPROTO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/altmin-genproto}

# install_plugin NAME PACKAGE VERSION prints the path of the plugin binary,
# installing it first when missing.
install_plugin() {
	local name=$1 pkg=$2 version=$3
	local dir="$cache/$name@$version"
	if [[ ! -x "$dir/$name" ]]; then
		echo "genproto: installing $pkg@$version" >&2
		mkdir -p "$dir"
		# Outside the module, so its go.mod and GOFLAGS do not interfere.
		(cd "$dir" && GOFLAGS= GOBIN="$dir" go install "$pkg@$version") >&2
	fi
	echo "$dir/$name"
}

if ! command -v protoc >/dev/null 2>&1; then
	echo "genproto: protoc not found; installing Debian's protobuf-compiler" >&2
	sudo=""
	if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
	$sudo apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq protobuf-compiler >&2
fi

gen_go=$(install_plugin protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOC_GEN_GO_VERSION")
gen_grpc=$(install_plugin protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION")

# generate OUT writes the generated files under OUT/proto/altminpb.
generate() {
	local out=$1
	mapfile -t protos < <(cd proto && find altmin -name '*.proto' | LC_ALL=C sort)
	(cd proto && protoc -I . \
		--plugin=protoc-gen-go="$gen_go" \
		--plugin=protoc-gen-go-grpc="$gen_grpc" \
		--go_out="$out" --go_opt=module=altmin \
		--go-grpc_out="$out" --go-grpc_opt=module=altmin \
		"${protos[@]}")
}

if ! $check; then
	rm -f proto/altminpb/*.pb.go
	generate "$root"
	echo "genproto: regenerated proto/altminpb" >&2
	exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/gen"
generate "$tmp/gen"

# Compare the generated files only (hand-written files such as doc.go stay),
# without the protoc version lines of the headers.
strip() { grep -Ev '^//[[:space:]]+(- )?protoc[[:space:]]+(v[0-9]|\(unknown\))' "$1" || true; }
status=0
want=$(cd "$tmp/gen/proto/altminpb" && ls -1 *.pb.go | LC_ALL=C sort)
have=$(cd proto/altminpb 2>/dev/null && ls -1 *.pb.go 2>/dev/null | LC_ALL=C sort || true)
if [[ "$want" != "$have" ]]; then
	echo "genproto: generated files differ: committed [$(echo $have)], generated [$(echo $want)]" >&2
	status=1
fi
for f in $want; do
	[[ -f "proto/altminpb/$f" ]] || continue
	if ! diff -u --label "proto/altminpb/$f (committed)" --label "proto/altminpb/$f (generated)" \
		<(strip "proto/altminpb/$f") <(strip "$tmp/gen/proto/altminpb/$f"); then
		status=1
	fi
done
if [[ $status -ne 0 ]]; then
	echo "genproto: committed code is out of date; run scripts/genproto.sh" >&2
	exit 1
fi
echo "genproto: proto/altminpb is up to date" >&2
