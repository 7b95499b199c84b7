#!/usr/bin/env bash
# Installs the LiveKit server (Go, from the Go module proxy) once into a cache, and runs it.
#   scripts/livekit-server.sh install   -> prints the binary's path
#   scripts/livekit-server.sh run       -> dev server on ws://127.0.0.1:7880 (devkey / secret)
set -euo pipefail

VERSION="${LIVEKIT_SERVER_VERSION:-v1.13.5}"
CACHE="${VOXPLUG_CACHE_DIR:-$HOME/.cache/voxplug}"
BIN_DIR="$CACHE/livekit-server-$VERSION"
BIN="$BIN_DIR/livekit-server"

install() {
  if [ -x "$BIN" ]; then echo "$BIN"; return; fi
  command -v go >/dev/null || { echo "error: Go is needed to install the LiveKit server (apt-get install golang, or go.dev)" >&2; exit 1; }
  mkdir -p "$BIN_DIR"
  # one build at a time (parallel test runs share the cache); the binary appears atomically
  exec 9>"$BIN_DIR/.lock"
  flock 9
  if [ -x "$BIN" ]; then echo "$BIN"; return; fi
  echo "building livekit-server $VERSION with Go (a few minutes, once)..." >&2
  local start=$SECONDS tmp
  tmp=$(mktemp -d "$BIN_DIR/build.XXXXXX")
  GOBIN="$tmp" GOFLAGS="-trimpath" go install "github.com/livekit/livekit-server/cmd/server@$VERSION" >&2
  mv "$tmp/server" "$BIN"
  rmdir "$tmp"
  echo "built in $((SECONDS - start)) s: $BIN" >&2
  echo "$BIN"
}

case "${1:-install}" in
  install) install ;;
  run) exec "$(install)" --dev --bind 127.0.0.1 --node-ip 127.0.0.1 ;;
  *) echo "usage: $0 install|run" >&2; exit 2 ;;
esac
