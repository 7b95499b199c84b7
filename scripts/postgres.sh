#!/usr/bin/env bash
# PostgreSQL for voxplug's persistence tests and for local development.
#
#   scripts/postgres.sh install          install Debian's postgresql (server binaries) if missing
#   scripts/postgres.sh bindir           print the server binaries' directory
#   scripts/postgres.sh start DIR PORT   throwaway cluster in DIR on 127.0.0.1:PORT (trust auth)
#   scripts/postgres.sh stop DIR         stop it (DIR is left for you to remove)
#
# PostgreSQL refuses to run as root: when run as root, the cluster belongs to the
# `postgres` system user that the Debian package creates. The tests do the same from
# Python (tests/persistence/pg.py); this script is the documented manual path.
set -euo pipefail

bindir() {
  local dir
  if [[ -n "${VOXPLUG_PG_BINDIR:-}" ]]; then echo "$VOXPLUG_PG_BINDIR"; return 0; fi
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -n "$dir" && -x "$dir/initdb" ]]; then echo "$dir"; return 0; fi
  return 1
}

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
  install)
    if bindir >/dev/null; then
      echo "postgresql already installed: $(bindir)"
      exit 0
    fi
    if [[ $(id -u) -ne 0 ]]; then
      echo "error: installing postgresql needs root (sudo $0 install)" >&2
      exit 1
    fi
    apt-get update -qq
    # policy-rc.d: do not start Debian's default cluster on 5432; the tests run their own.
    # An existing policy (Docker images ship one) is left alone.
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
      printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
      trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    echo "postgresql installed: $(bindir)"
    ;;
  bindir)
    bindir || { echo "error: postgresql not installed; run: $0 install" >&2; exit 1; }
    ;;
  start)
    dir=${2:?usage: $0 start DIR PORT}; port=${3:?usage: $0 start DIR PORT}
    bin=$(bindir) || { echo "error: postgresql not installed; run: $0 install" >&2; exit 1; }
    mkdir -p "$dir"
    if [[ $(id -u) -eq 0 ]]; then chown postgres: "$dir"; fi
    as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --no-sync >/dev/null
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    dir=${2:?usage: $0 stop DIR}
    bin=$(bindir)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    ;;
  *)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
