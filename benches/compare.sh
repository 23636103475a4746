#!/usr/bin/env bash
# The whole comparison in one command: our index on LMDB, redb and memory (warm and cold
# cache), the published hannoy crate, then hnswlib, faiss IndexHNSWFlat and usearch under the
# same protocol; writes docs/benchmarks/<dataset>.jsonl (every row), .md (tables) and .png.
#
#   benches/compare.sh [--dataset DIR] [--passes N] [--ef-search LIST] [--codes LIST]
#
# Our index runs on full vectors on every backend, then on LMDB once per compact-code scheme
# of --codes (a fresh build each, the walk on codes with full-vector rescoring).
#
# The dataset defaults to ../shared/data/debian-minilm-384 (HANNOY_DATASET overrides). The
# Python peers and matplotlib are installed into benches/peers/.venv on first use. Takes about
# twenty minutes on 2 cores; run it on a quiet machine, the ratios are what to read.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dataset="${HANNOY_DATASET:-$root/../shared/data/debian-minilm-384}"
passes=3
ef="10,16,24,32,48,64,96,128,256"
codes="sq8,rabitq1,rabitq2,rabitq4"
while [ $# -gt 0 ]; do
    case "$1" in
        --dataset) dataset="$2"; shift 2 ;;
        --passes) passes="$2"; shift 2 ;;
        --ef-search) ef="$2"; shift 2 ;;
        --codes) codes="$2"; shift 2 ;;
        *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ -f "$dataset/base.fvecs" ] || { echo "compare.sh: no dataset in $dataset" >&2; exit 1; }
out="$root/docs/benchmarks"
mkdir -p "$out"
rows="$(mktemp)"
trap 'rm -f "$rows"' EXIT

cd "$root"
cargo build --release --quiet -p hannoy-benches --bin hannoy-bench
echo "== hannoy (lmdb, redb, memory) and the hannoy crate" >&2
target/release/hannoy-bench --dataset "$dataset" --backend lmdb --backend redb --backend memory \
    --peer hannoy --cold --ef-search "$ef" --passes "$passes" --json >> "$rows"
echo "== hannoy on compact codes (lmdb): $codes" >&2
target/release/hannoy-bench --dataset "$dataset" --backend lmdb --quantization "$codes" \
    --ef-search "$ef" --passes "$passes" --json >> "$rows"
echo "== hnswlib, faiss, usearch" >&2
"$root/benches/peers/run_peers.sh" --dataset "$dataset" --cold --ef-search "$ef" \
    --passes "$passes" >> "$rows"

name="$(basename "$dataset")"
cp "$rows" "$out/$name.jsonl"
"$("$root/benches/peers/run_peers.sh" --python)" "$root/benches/report.py" "$out/$name.jsonl" \
    --out "$out" --command "benches/compare.sh --passes $passes --ef-search $ef --codes $codes"
