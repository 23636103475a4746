#!/usr/bin/env bash
# The larger-than-RAM run of issue 12 (docs/larger-than-ram.md): searches an index whose f32
# vectors do not fit in the memory the search process may use, walking on f32 and on compact
# codes, and hnswlib under the same limit. A documented command, not run by CI: it builds a
# 1M x 384 index (tens of minutes on 2 cores), needs root and cgroup v1's memory controller,
# and writes several GB under --dir.
#
#   benches/larger_than_ram.sh [--dir /work/ltr-data] [--limit-mb 700] [--ef 64]
#       [--rescore R] [--warm-up 2000] [--max-seconds 240] [--configs f32,sq8,rabitq1,sq8-only]
#       [--read-ahead both|on|off] [--lock-codes] [--hold] [--no-hnswlib] [--no-warm]
#
# For each configuration (f32; sq8 codes; rabitq1 codes; sq8-only: a compacted copy of the
# store in DIR/db-sq8-only that keeps the sq8 codes and no vectors, made once by
# `hannoy-ltr codes --codes-only`) it re-encodes the codes as needed,
# drops the directory's files from the page cache and runs `hannoy-ltr search` twice in a
# fresh memory cgroup limited to --limit-mb (page cache included: cgroup v1 charges it to
# the group that reads it), with LMDB's default read-ahead and with MDB_NORDAHEAD (only one
# of them with --read-ahead on|off); then once
# with no limit, after the same warm-up, for reference. hnswlib is built outside the group
# and loaded and searched inside it. Each run adds one JSON line to DIR/results.jsonl, with
# the group's failcnt, peak usage, OOM kills and the exit status. --lock-codes pins the code
# and link chunks in memory first (mlock), to measure what keeping them resident would give;
# --hold has the library keep them in its own memory (`Reader::hold_in_memory`).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
dir=/work/ltr-data
limit_mb=700
ef=64
rescore=""
warm_up=2000
max_seconds=240
configs="f32,sq8,rabitq1"
hnswlib=1
warm=1
read_ahead=both
lock=""
hold=""
while [ $# -gt 0 ]; do
    case "$1" in
        --dir) dir="$2"; shift 2 ;;
        --limit-mb) limit_mb="$2"; shift 2 ;;
        --ef) ef="$2"; shift 2 ;;
        --rescore) rescore="$2"; shift 2 ;;
        --warm-up) warm_up="$2"; shift 2 ;;
        --max-seconds) max_seconds="$2"; shift 2 ;;
        --configs) configs="$2"; shift 2 ;;
        --read-ahead) read_ahead="$2"; shift 2 ;;
        --lock-codes) lock=1; shift ;;
        --hold) hold=1; shift ;;
        --no-hnswlib) hnswlib=0; shift ;;
        --no-warm) warm=0; shift ;;
        *) echo "unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done

group=/sys/fs/cgroup/memory/hannoy-ltr
if [ ! -d /sys/fs/cgroup/memory ]; then
    echo "needs cgroup v1's memory controller at /sys/fs/cgroup/memory" >&2
    exit 1
fi
remove_group() {
    if [ -d "$group" ]; then
        rmdir "$group" 2>/dev/null || echo "could not remove $group (a process still in it?)" >&2
    fi
}
trap remove_group EXIT
trap 'exit 130' INT TERM

(cd "$root" && nice -n 19 cargo build --release -p hannoy-benches --bin hannoy-ltr)
bin="$root/target/release/hannoy-ltr"
results="$dir/results.jsonl"
mkdir -p "$dir"

if [ ! -f "$dir/db/data.mdb" ]; then
    echo "== build (nice 19)"
    nice -n 19 "$bin" build --dir "$dir" --warmup "$warm_up" | tee -a "$dir/build.jsonl"
fi

# Adds the cgroup's figures (or, when the process printed nothing, what became of it) to
# the JSON line in $1, and appends it to the results.
record() {
    local line="$1" label="$2" status="$3" limit="$4" failcnt="$5" max_usage="$6" oom_kills="$7"
    python3 - "$line" "$label" "$status" "$limit" "$failcnt" "$max_usage" "$oom_kills" <<'EOF' | tee -a "$results"
import json, sys
line, label, status, limit, failcnt, max_usage, oom = sys.argv[1:]
row = json.loads(line) if line.strip() else {"label": label}
row.update({"label": label, "exit_status": int(status),
            "limit_mib": int(limit) if limit else None,
            "cgroup_failcnt": int(failcnt) if failcnt else None,
            "cgroup_max_usage_mib": int(max_usage) / 2**20 if max_usage else None,
            "cgroup_oom_kills": int(oom) if oom else None})
print(json.dumps(row))
EOF
}

# Runs "$@" with no limit (after dropping the page cache) and records its JSON line.
unlimited() {
    local label="$1"; shift
    "$bin" drop-cache --dir "$dir"
    local out status=0
    out="$("$@" --label "$label")" || status=$?
    record "$(printf '%s\n' "$out" | tail -n 1)" "$label" "$status" "" "" "" ""
}

# Runs "$@" in a fresh memory cgroup of $limit_mb (after dropping the page cache) and
# records its JSON line with the group's figures.
limited() {
    local label="$1"; shift
    "$bin" drop-cache --dir "$dir"
    remove_group
    mkdir "$group"
    echo $((limit_mb << 20)) > "$group/memory.limit_in_bytes"
    local out status=0
    # The shell joins the group, then becomes the search: everything it reads is charged.
    out="$(sh -c 'echo $$ > "$0/cgroup.procs"; exec "$@"' "$group" "$@" --label "$label")" \
        || status=$?
    local oom
    oom="$(awk '$1 == "oom_kill" { print $2 }' "$group/memory.oom_control")"
    record "$(printf '%s\n' "$out" | tail -n 1)" "$label" "$status" "$limit_mb" \
        "$(cat "$group/memory.failcnt")" "$(cat "$group/memory.max_usage_in_bytes")" "${oom:-}"
    remove_group
}

search_args=(--ef "$ef" --warm-up "$warm_up" --max-seconds "$max_seconds")
for config in ${configs//,/ }; do
    case "$config" in
        f32) mode=f32 ;;
        sq8|rabitq1)
            mode=codes
            echo "== codes: $config (nice 19)"
            nice -n 19 "$bin" codes --dir "$dir" --quantization "$config" | tee -a "$dir/build.jsonl"
            ;;
        sq8-only)
            mode=codes
            if [ ! -f "$dir/db-sq8-only/data.mdb" ]; then
                echo "== codes-only copy: sq8 (nice 19)"
                nice -n 19 "$bin" codes --dir "$dir" --quantization sq8 --codes-only \
                    --out db-sq8-only | tee -a "$dir/build.jsonl"
            fi
            ;;
        *) echo "unknown configuration $config" >&2; exit 2 ;;
    esac
    store=db
    if [ "$config" = sq8-only ]; then
        store=db-sq8-only
    fi
    args=(search --dir "$dir" --db "$store" --mode "$mode" "${search_args[@]}")
    if [ "$mode" = codes ] && [ -n "$rescore" ]; then
        args+=(--rescore "$rescore")
    fi
    if [ -n "$lock" ]; then
        # mlock the code and link chunks: what keeping them resident would do.
        args+=(--lock-codes)
    fi
    if [ -n "$hold" ]; then
        args+=(--hold-in-memory)
    fi
    echo "== $config, limited to $limit_mb MiB"
    if [ "$read_ahead" != off ]; then
        limited "$config" "$bin" "${args[@]}"
    fi
    if [ "$read_ahead" != on ]; then
        limited "$config no-read-ahead" "$bin" "${args[@]}" --no-read-ahead
    fi
    if [ "$warm" = 1 ]; then
        echo "== $config, no limit"
        unlimited "$config warm" "$bin" "${args[@]}"
    fi
done

if [ "$hnswlib" = 1 ]; then
    python="$("$here/peers/run_peers.sh" --python)"
    if [ ! -f "$dir/hnswlib.bin" ]; then
        echo "== hnswlib build, no limit (nice 19)"
        nice -n 19 "$python" "$here/peers/ltr_hnswlib.py" build --dir "$dir" | tee -a "$dir/build.jsonl"
    fi
    hnsw_args=("$python" "$here/peers/ltr_hnswlib.py" search --dir "$dir" "${search_args[@]}")
    echo "== hnswlib, limited to $limit_mb MiB"
    limited "hnswlib" "${hnsw_args[@]}"
    if [ "$warm" = 1 ]; then
        echo "== hnswlib, no limit"
        unlimited "hnswlib warm" "${hnsw_args[@]}"
    fi
fi
echo "results: $results"
