#!/usr/bin/env bash
# Builds the LiveKit SIP service (github.com/livekit/sip, Go with CGO) once into a cache, and runs it.
#   scripts/livekit-sip.sh install   -> prints the binary's path
#   scripts/livekit-sip.sh run       -> SIP on udp/tcp 127.0.0.1:5060 for a LiveKit server that shares
#                                       Redis at $REDIS_ADDRESS (default 127.0.0.1:6379)
# Needs Debian's pkg-config libopus-dev libopusfile-dev libsoxr-dev (the Makefile installs them).
set -euo pipefail

# v1.8.0 is the newest tag the Go module proxy serves by exact version (v1.9.0 .. v1.11.0 answer
# "not available"); it is from the same weeks as livekit-server v1.13.5 and works with it.
VERSION="${LIVEKIT_SIP_VERSION:-v1.8.0}"
CACHE="${VOXPLUG_CACHE_DIR:-$HOME/.cache/voxplug}"
BIN_DIR="$CACHE/livekit-sip-$VERSION"
BIN="$BIN_DIR/livekit-sip"

install() {
  if [ -x "$BIN" ]; then echo "$BIN"; return; fi
  command -v go >/dev/null || { echo "error: Go is needed to build livekit-sip (apt-get install golang, or go.dev)" >&2; exit 1; }
  pkg-config --exists opus opusfile soxr 2>/dev/null || {
    echo "error: livekit-sip needs libopus, libopusfile and libsoxr: scripts/install-system-deps.sh pkg-config libopus-dev libopusfile-dev libsoxr-dev" >&2
    exit 1
  }
  echo "building livekit-sip $VERSION with Go and CGO (a few minutes, once)..." >&2
  local start=$SECONDS build
  build="$(mktemp -d)"
  trap 'rm -rf "$build"' RETURN
  # `go install github.com/livekit/sip/cmd/livekit-sip@VERSION` fails: the proxy refuses the
  # module's version list (403), so the command is built from a scratch module that requires
  # the exact version.
  (
    cd "$build"
    go mod init sipbuild >/dev/null 2>&1
    printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/livekit/sip/cmd/livekit-sip"\n' > tools.go
    go mod edit -require="github.com/livekit/sip@$VERSION"
    # the checksum database has no entries for the livekit pseudo-versions this tag requires;
    # go.sum still records every module's hash
    GONOSUMDB=github.com/livekit GOFLAGS="-mod=mod -trimpath" CGO_ENABLED=1 \
      go build -o "$build/livekit-sip" github.com/livekit/sip/cmd/livekit-sip
  ) >&2
  mkdir -p "$BIN_DIR"
  mv "$build/livekit-sip" "$BIN"
  echo "built in $((SECONDS - start)) s: $BIN" >&2
  echo "$BIN"
}

run() {
  local bin
  bin="$(install)"
  export SIP_CONFIG_BODY="${SIP_CONFIG_BODY:-"
api_key: ${LIVEKIT_API_KEY:-devkey}
api_secret: ${LIVEKIT_API_SECRET:-secret}
ws_url: ${LIVEKIT_URL:-ws://127.0.0.1:7880}
redis:
  address: ${REDIS_ADDRESS:-127.0.0.1:6379}
sip_port: 5060
rtp_port: 10000-10100
listen_ip: 127.0.0.1
nat_1_to_1_ip: 127.0.0.1
"}"
  exec "$bin"
}

case "${1:-install}" in
  install) install ;;
  run) run ;;
  *) echo "usage: $0 install|run" >&2; exit 2 ;;
esac
