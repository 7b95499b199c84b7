#!/usr/bin/env bash
# Makes a slim Python base image from Debian packages (debootstrap + podman import), for
# machines where no image registry is reachable. Elsewhere, build on an official image:
#   --build-arg BASE_IMAGE=docker.io/library/python:3.11-slim-bookworm
#
#   scripts/container-base.sh [TAG]   -> prints the image reference (default below)
#
# Debian bookworm minbase + python3 (3.11) + python3-venv + ca-certificates, with security
# updates applied, apt lists, caches, docs, man pages and locales removed. The image carries
# a label keyed on this script, the suite and the mirror: with that image present the script
# only prints its name (measured here: about 2 min cold, under 1 s warm).
set -euo pipefail

TAG="${1:-localhost/voxplug-base:bookworm}"
SUITE="${VOXPLUG_BASE_SUITE:-bookworm}"
MIRROR="${VOXPLUG_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY="${VOXPLUG_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}"
PACKAGES="python3,python3-venv,ca-certificates"
CACHE="${VOXPLUG_CACHE_DIR:-$HOME/.cache/voxplug}"
PODMAN="$(dirname "$0")/podman.sh"

key=$( { cat "$0"; echo "$SUITE $MIRROR $SECURITY $PACKAGES"; } | sha256sum | cut -c1-16)
have=$("$PODMAN" image inspect "$TAG" --format '{{index .Labels "org.voxplug.base-key"}}' 2>/dev/null || true)
if [ "$have" = "$key" ]; then echo "$TAG"; exit 0; fi

for tool in debootstrap podman; do
  command -v "$tool" >/dev/null || { echo "error: $tool is needed (make container-deps)" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "error: debootstrap needs root" >&2; exit 1; }

start=$SECONDS
work=$(mktemp -d /var/tmp/voxplug-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
debs="$CACHE/debootstrap-$SUITE"  # downloaded .debs, kept for the next base build
mkdir -p "$debs"
echo "debootstrap $SUITE from $MIRROR (about 2 minutes, once)..." >&2
debootstrap --variant=minbase --include="$PACKAGES" --cache-dir="$debs" "$SUITE" "$root" "$MIRROR" >&2

cat > "$root/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY $SUITE-security main
EOF
# the image's apt (builder stages install compilers with it) keeps no .debs and no docs
cat > "$root/etc/apt/apt.conf.d/90voxplug-slim" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Binary::apt::APT::Keep-Downloaded-Packages "false";
EOF
cat > "$root/etc/dpkg/dpkg.cfg.d/90voxplug-slim" <<'EOF'
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
EOF
chroot "$root" /usr/bin/env DEBIAN_FRONTEND=noninteractive sh -c \
  'apt-get update -qq && apt-get -y -qq upgrade >/dev/null && apt-get clean' >&2
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/usr/share/man/* \
  "$root"/usr/share/info/* "$root"/usr/share/locale/* "$root"/var/log/* "$root"/tmp/*

tar --numeric-owner -C "$root" -c . | "$PODMAN" import \
  --change "LABEL org.voxplug.base-key=$key" \
  --change "LABEL org.opencontainers.image.description=Debian $SUITE minbase with python3, from debootstrap" \
  --change "ENV LANG=C.UTF-8" \
  --change 'CMD ["python3"]' \
  - "$TAG" >&2
echo "base image $TAG built in $((SECONDS - start)) s" >&2
echo "$TAG"
