#!/usr/bin/env bash
# Runs podman with the settings this machine needs, so the image, compose and test scripts
# all use containers the same way.
#   scripts/podman.sh ARGS...   -> podman ARGS... (with CONTAINERS_CONF set when needed)
#   scripts/podman.sh --conf    -> prints the containers.conf to export as CONTAINERS_CONF
#                                  (empty when podman's defaults work; podman-compose uses it too)
#
# Two host limits break podman's defaults in a sandboxed VM (both measured on the CI machine,
# a root shell with cgroup v1 + a hybrid cgroup2 mount and RLIMIT_NOFILE 20000):
# - crun refuses hybrid cgroups ("cgroups in hybrid mode not supported, drop all
#   controllers from cgroupv2"): runc (Debian package) works there.
# - podman asks for RLIMIT_NOFILE 1048576 and RLIMIT_NPROC 4194304 inside the container;
#   without CAP_SYS_RESOURCE that is EPERM ("setrlimit `RLIMIT_NOFILE`: Operation not
#   permitted"). The container gets the host's hard limits instead; nproc stays at or under
#   32768, the limit podman gives conmon here (a container limit above it is refused too).
set -euo pipefail

CACHE="${VOXPLUG_CACHE_DIR:-$HOME/.cache/voxplug}"

conf() {
  local lines=() nofile nproc
  if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" != "cgroup2fs" ] && [ -e /sys/fs/cgroup/unified ]; then
    lines+=("[engine]" 'runtime = "runc"')
  fi
  nofile=$(ulimit -Hn)
  nproc=$(ulimit -Hu)
  [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
  if [ "$nofile" != unlimited ] && [ "$nofile" -lt 1048576 ]; then
    lines=("[containers]" "default_ulimits = [\"nofile=$nofile:$nofile\", \"nproc=$nproc:$nproc\"]" "${lines[@]}")
  fi
  [ ${#lines[@]} -eq 0 ] && return 0
  local file="$CACHE/podman/containers.conf"
  mkdir -p "$(dirname "$file")"
  printf '%s\n' "# written by scripts/podman.sh for this machine" "${lines[@]}" > "$file.tmp"
  mv "$file.tmp" "$file"
  echo "$file"
}

if [ "${1:-}" = "--conf" ]; then
  conf
  exit 0
fi
command -v podman >/dev/null || { echo "error: podman is not installed (make container-deps, or apt-get install podman)" >&2; exit 1; }
file=$(conf)
[ -n "$file" ] && export CONTAINERS_CONF="${CONTAINERS_CONF:-$file}"
exec podman "$@"
