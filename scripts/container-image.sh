#!/usr/bin/env bash
# Builds the voxplug image (Containerfile) with podman, once per set of inputs.
#
#   scripts/container-image.sh [--tag REF] [--extras LIST] [--local-models] [--base REF]
#     -> prints the image reference
#
# --base defaults to the image scripts/container-base.sh makes from Debian packages (no
# registry needed); pass e.g. docker.io/library/python:3.11-slim-bookworm where a registry is
# reachable. The host's pip cache is bound into the builder stage, so wheels that pip built
# before (llama-cpp-python: ~8 min on 2 cores) are reused, not compiled again.
#
# Stamp: the image carries a label with the hash of its inputs (Containerfile, .dockerignore,
# pyproject.toml, README.md, src/, the build arguments, the base image's id); when an image
# with that label exists, nothing is built.
set -euo pipefail
cd "$(dirname "$0")/.."

TAG="" EXTRAS="all" LOCAL_MODELS=0 BASE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) TAG="$2"; shift 2 ;;
    --extras) EXTRAS="$2"; shift 2 ;;
    --local-models) LOCAL_MODELS=1; shift ;;
    --base) BASE="$2"; shift 2 ;;
    *) echo "usage: $0 [--tag REF] [--extras LIST] [--local-models] [--base REF]" >&2; exit 2 ;;
  esac
done
[ -n "$TAG" ] || { [ "$LOCAL_MODELS" = 1 ] && TAG=localhost/voxplug:local || TAG=localhost/voxplug:latest; }
[ -n "$BASE" ] || BASE=$(scripts/container-base.sh)
PODMAN=scripts/podman.sh

base_id=$($PODMAN image inspect "$BASE" --format '{{.Id}}' 2>/dev/null) \
  || { echo "error: base image $BASE is not present (pull it, or omit --base to make one)" >&2; exit 1; }
key=$( {
  echo "extras=$EXTRAS local=$LOCAL_MODELS base=$base_id"
  sha256sum Containerfile .dockerignore pyproject.toml README.md
  find src -type f -not -name '*.pyc' -not -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum
} | sha256sum | cut -c1-16)
have=$($PODMAN image inspect "$TAG" --format '{{index .Labels "org.voxplug.inputs"}}' 2>/dev/null || true)
if [ "$have" = "$key" ]; then echo "$TAG"; exit 0; fi
old_id=$($PODMAN image inspect "$TAG" --format '{{.Id}}' 2>/dev/null || true)

pip_cache="${PIP_CACHE_DIR:-$HOME/.cache/pip}"
mkdir -p "$pip_cache"
# pip in the builder trusts what pip on the host trusts (a TLS-inspecting proxy's CA too)
host_ca="${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}"
ca_args=()
[ -f "$host_ca" ] && ca_args=(--build-arg PIP_CERT=/run/host-ca.crt --volume "$host_ca:/run/host-ca.crt:ro")
echo "building $TAG (extras=$EXTRAS, local models=$LOCAL_MODELS) on $BASE..." >&2
start=$SECONDS
# --format docker: the OCI image format has no HEALTHCHECK; --network host: apt and pip
# reach the package registries the way the host does
$PODMAN build --format docker --network host \
  --build-arg "BASE_IMAGE=$BASE" --build-arg "EXTRAS=$EXTRAS" --build-arg "LOCAL_MODELS=$LOCAL_MODELS" \
  --build-arg PIP_CACHE_DIR=/var/cache/host-pip --volume "$pip_cache:/var/cache/host-pip" "${ca_args[@]}" \
  --label "org.voxplug.inputs=$key" --tag "$TAG" --file Containerfile . >&2
new_id=$($PODMAN image inspect "$TAG" --format '{{.Id}}')
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
  $PODMAN rmi "$old_id" >/dev/null 2>&1 || true  # the image this one replaces (layers it shares stay)
fi
size=$($PODMAN image inspect "$TAG" --format '{{.Size}}')
echo "built $TAG in $((SECONDS - start)) s, $((size / 1000000)) MB" >&2
echo "$TAG"
