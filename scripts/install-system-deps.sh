#!/usr/bin/env bash
# Installs the given Debian packages, only those that are missing (the Makefile names them:
# espeak-ng and sox make test speech; postgresql and prometheus are real servers for tests;
# redis-server and the opus/soxr libraries serve the LiveKit SIP service).
# Usage: scripts/install-system-deps.sh package ...
set -euo pipefail

packages=("$@")
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "error: need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
echo "installing Debian packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
