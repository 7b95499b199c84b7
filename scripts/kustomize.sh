#!/usr/bin/env bash
# Installs kustomize (Go, from the Go module proxy) once into a cache, for rendering
# deploy/k8s in the tests; `kubectl kustomize` renders the same manifests.
#   scripts/kustomize.sh install      -> prints the binary's path
#   scripts/kustomize.sh build DIR    -> the rendered manifests
set -euo pipefail

VERSION="${KUSTOMIZE_VERSION:-v5.7.1}"
CACHE="${VOXPLUG_CACHE_DIR:-$HOME/.cache/voxplug}"
BIN_DIR="$CACHE/kustomize-$VERSION"
BIN="$BIN_DIR/kustomize"

install() {
  if [ -x "$BIN" ]; then echo "$BIN"; return; fi
  command -v go >/dev/null || { echo "error: Go is needed to install kustomize (apt-get install golang, or go.dev)" >&2; exit 1; }
  mkdir -p "$BIN_DIR"
  # one build at a time (parallel test runs share the cache); the binary appears atomically
  exec 9>"$BIN_DIR/.lock"
  flock 9
  if [ -x "$BIN" ]; then echo "$BIN"; return; fi
  echo "building kustomize $VERSION with Go (once; see docs/deployment.md for the time)..." >&2
  local start=$SECONDS tmp
  tmp=$(mktemp -d "$BIN_DIR/build.XXXXXX")
  GOBIN="$tmp" GOFLAGS="-trimpath" go install "sigs.k8s.io/kustomize/kustomize/v5@$VERSION" >&2
  mv "$tmp/kustomize" "$BIN"
  rmdir "$tmp"
  echo "built in $((SECONDS - start)) s: $BIN" >&2
  echo "$BIN"
}

case "${1:-install}" in
  install) install ;;
  build) shift; exec "$(install)" build "$@" ;;
  *) echo "usage: $0 install|build DIR" >&2; exit 2 ;;
esac
