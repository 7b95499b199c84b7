#!/usr/bin/env bash
# Installs the LiveKit server (Go, from the Go module proxy) once into a cache, and runs it.
#   scripts/livekit-server.sh install   -> prints the binary's path
#   scripts/livekit-server.sh run       -> dev server on ws://127.0.0.1:7880 (devkey / secret)
set -euo pipefail
# shellcheck source=scripts/go-install.sh
source "$(dirname "$0")/go-install.sh"

VERSION="${LIVEKIT_SERVER_VERSION:-v1.13.5}"
CACHE="${VOXPLUG_CACHE_DIR:-$HOME/.cache/voxplug}"
BIN_DIR="$CACHE/livekit-server-$VERSION"
BIN="$BIN_DIR/livekit-server"

install() {
  go_install_cached "$BIN" "github.com/livekit/livekit-server/cmd/server@$VERSION" server \
    "the LiveKit server" "a few minutes, once"
}

case "${1:-install}" in
  install) install ;;
  run) exec "$(install)" --dev --bind 127.0.0.1 --node-ip 127.0.0.1 ;;
  *) echo "usage: $0 install|run" >&2; exit 2 ;;
esac
