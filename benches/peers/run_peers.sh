#!/usr/bin/env bash
# Runs the Python HNSW peers (hnswlib, faiss-cpu, usearch) with hannoy-bench's protocol,
# installing them (and matplotlib, for the report) into benches/peers/.venv first.
# Arguments go to peers.py; `run_peers.sh --python` prints the venv's interpreter instead.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
packages="numpy hnswlib==0.8.0 faiss-cpu usearch matplotlib"
# Reinstall when the package list changes.
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.packages" 2>/dev/null)" != "$packages" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    # shellcheck disable=SC2086
    "$venv/bin/pip" install --quiet $packages
    echo "$packages" > "$venv/.packages"
fi
if [ "${1:-}" = "--python" ]; then
    echo "$venv/bin/python"
    exit 0
fi
exec "$venv/bin/python" "$here/peers.py" "$@"
