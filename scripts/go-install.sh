# shellcheck shell=bash
# Sourced by the scripts that install a Go binary from the Go module proxy once into the cache
# (scripts/livekit-server.sh, scripts/kustomize.sh).
#   go_install_cached BIN PACKAGE@VERSION BUILT LABEL NOTE
# builds PACKAGE@VERSION with `go install` unless BIN exists, one build at a time (parallel test
# runs share the cache), and moves the built binary BUILT to BIN atomically; prints BIN. LABEL
# names the program in messages, NOTE says how long the build takes.
go_install_cached() {
  local bin=$1 package=$2 built=$3 label=$4 note=$5
  local dir start tmp
  dir=$(dirname "$bin")
  if [ -x "$bin" ]; then echo "$bin"; return; fi
  command -v go >/dev/null || { echo "error: Go is needed to install $label (apt-get install golang, or go.dev)" >&2; exit 1; }
  mkdir -p "$dir"
  exec 9>"$dir/.lock"
  flock 9
  if [ -x "$bin" ]; then echo "$bin"; return; fi
  echo "building $(basename "$bin") ${package##*@} with Go ($note)..." >&2
  start=$SECONDS
  tmp=$(mktemp -d "$dir/build.XXXXXX")
  GOBIN="$tmp" GOFLAGS="-trimpath" go install "$package" >&2
  mv "$tmp/$built" "$bin"
  rmdir "$tmp"
  echo "built in $((SECONDS - start)) s: $bin" >&2
  echo "$bin"
}
