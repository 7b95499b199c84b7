#!/usr/bin/env bash
# Installs kustomize (Go, from the Go module proxy) once into a cache, for rendering
# deploy/k8s in the tests; `kubectl kustomize` renders the same manifests.
#   scripts/kustomize.sh install      -> prints the binary's path
#   scripts/kustomize.sh build DIR    -> the rendered manifests
set -euo pipefail
# shellcheck source=scripts/go-install.sh
source "$(dirname "$0")/go-install.sh"

VERSION="${KUSTOMIZE_VERSION:-v5.7.1}"
CACHE="${VOXPLUG_CACHE_DIR:-$HOME/.cache/voxplug}"
BIN_DIR="$CACHE/kustomize-$VERSION"
BIN="$BIN_DIR/kustomize"

install() {
  go_install_cached "$BIN" "sigs.k8s.io/kustomize/kustomize/v5@$VERSION" kustomize kustomize \
    "once; see docs/deployment.md for the time"
}

case "${1:-install}" in
  install) install ;;
  build) shift; exec "$(install)" build "$@" ;;
  *) echo "usage: $0 install|build DIR" >&2; exit 2 ;;
esac
