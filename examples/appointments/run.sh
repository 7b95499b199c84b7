#!/usr/bin/env bash
# The appointment example end to end, keyless: start the clinic's backend (REST + MCP) on
# 127.0.0.1:8787, run the scripted conversation through the agent, stop the backend.
#   examples/appointments/run.sh [--out DIR] [other voxplug simulate options]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
# the credentials the tool sends and the backend checks (any values: they only have to agree)
export APPOINTMENTS_TOKEN="${APPOINTMENTS_TOKEN:-example-token-$RANDOM$RANDOM}"
export APPOINTMENTS_SIGNING_SECRET="${APPOINTMENTS_SIGNING_SECRET:-example-signing-secret-$RANDOM$RANDOM}"
export ORT_DISABLE_TELEMETRY=1

"$python" "$here/server.py" --port 8787 >"${TMPDIR:-/tmp}/voxplug-appointments-backend.log" 2>&1 &
backend=$!
trap 'kill "$backend" 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  if "$python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8787/health', timeout=1)" 2>/dev/null; then
    break
  fi
  kill -0 "$backend" 2>/dev/null || { cat "${TMPDIR:-/tmp}/voxplug-appointments-backend.log"; exit 1; }
  sleep 0.2
done
"$python" -m voxplug config check --config "$here/voxplug.yaml" --connect
"$python" -m voxplug simulate --config "$here/voxplug.yaml" "$here/conversation.yaml" "$@"
