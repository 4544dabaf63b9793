#!/usr/bin/env bash
# Builds kube-apiserver and kubectl from pinned Go modules, and etcd from its server module.
# Binaries are cached under ~/.cache/shoal/bin/<version>/; a second run does nothing.
set -euo pipefail

# Pinned versions live in hack/versions.env (hack/binaries.ts reads the same file); the environment overrides them.
VERSIONS_FILE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/versions.env"
K8S_VERSION="${K8S_VERSION:-$(sed -n 's/^K8S_VERSION=//p' "$VERSIONS_FILE")}"
ETCD_VERSION="${ETCD_VERSION:-$(sed -n 's/^ETCD_VERSION=//p' "$VERSIONS_FILE")}"
[[ -n "$K8S_VERSION" && -n "$ETCD_VERSION" ]] || { echo "K8S_VERSION/ETCD_VERSION missing from $VERSIONS_FILE" >&2; exit 1; }
CACHE="${SHOAL_CACHE:-$HOME/.cache/shoal}"
BIN="$CACHE/bin"
SRC="$CACHE/src"
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false

log() { printf '{"level":"info","msg":"%s"}\n' "$*" >&2; }

build_k8s() {
  local out="$BIN/v$K8S_VERSION"
  if [[ -x "$out/kube-apiserver" && -x "$out/kubectl" ]]; then return; fi
  local mod="$SRC/k8s-$K8S_VERSION"
  rm -rf "$mod" && mkdir -p "$mod" "$out"
  cd "$mod"
  # Upstream's go.mod lists each staging module as a local replace; republish each at its v0.N.M tag.
  local upstream_mod
  upstream_mod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  local go_directive
  go_directive=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$upstream_mod")
  {
    echo "module shoal.dev/hack/k8s"
    echo
    echo "go $go_directive"
  } >go.mod
  local staging_version="v0.${K8S_VERSION#1.}"
  local staging
  staging=$(sed -n 's|^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/.*|\1|p' "$upstream_mod")
  [[ -n "$staging" ]] || { echo "no staging modules found in $upstream_mod" >&2; exit 1; }
  for m in $staging; do go mod edit -replace="$m=$m@$staging_version"; done
  log "k8s v$K8S_VERSION: $(echo "$staging" | wc -l) staging modules replaced at $staging_version"
  # Pin the packages at the release: a bare `go get pkg` would upgrade k8s.io/kubernetes to the newest.
  go get "k8s.io/kubernetes/cmd/kube-apiserver@v$K8S_VERSION" "k8s.io/kubernetes/cmd/kubectl@v$K8S_VERSION"
  local minor="${K8S_VERSION#1.}"; minor="${minor%%.*}"
  local pkg=k8s.io/component-base/version
  local ldflags="-s -w -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=v$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  log "building kube-apiserver v$K8S_VERSION"
  go build -trimpath -ldflags "$ldflags" -o "$out/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
  log "building kubectl v$K8S_VERSION"
  go build -trimpath -ldflags "$ldflags" -o "$out/kubectl.tmp" k8s.io/kubernetes/cmd/kubectl
  mv "$out/kube-apiserver.tmp" "$out/kube-apiserver"
  mv "$out/kubectl.tmp" "$out/kubectl"
}

build_etcd() {
  local out="$BIN/etcd-v$ETCD_VERSION"
  if [[ -x "$out/etcd" ]]; then return; fi
  local mod="$SRC/etcd-$ETCD_VERSION"
  rm -rf "$mod" && mkdir -p "$mod" "$out"
  cd "$mod"
  cat >main.go <<'GO'
// Command etcd wraps the etcd server module so it can be built from a pinned version.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  go mod init shoal.dev/hack/etcd >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
  go mod tidy
  log "building etcd v$ETCD_VERSION"
  go build -trimpath -ldflags "-s -w" -o "$out/etcd.tmp" .
  mv "$out/etcd.tmp" "$out/etcd"
}

build_etcd
build_k8s
log "binaries ready in $BIN"
