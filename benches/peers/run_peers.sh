#!/usr/bin/env bash
# Runs the Python HNSW peers (hnswlib, faiss-cpu, usearch) with hannoy-bench's protocol,
# installing them into benches/peers/.venv first. Arguments go to peers.py.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet numpy "hnswlib==0.8.0" faiss-cpu usearch
fi
exec "$venv/bin/python" "$here/peers.py" "$@"
