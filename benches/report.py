#!/usr/bin/env python3
"""Turns the JSON lines of `hannoy-bench --json` and `benches/peers/peers.py` into
`<out>/<dataset>.md` (tables) and `<out>/<dataset>.png` (recall@k against queries/s, one
curve per system and backend, and build-time bars).

Usage: report.py ROWS.jsonl [MORE.jsonl ...] --out docs/benchmarks [--command "..."]

Every ratio is taken between rows of the same files, measured on the same machine one after
the other. Speeds are compared at equal recall: each system's queries/s at a target recall
is interpolated (linear in recall, logarithmic in queries/s) between the two ef_search
points around it, because two libraries at the same ef_search do not reach the same recall.
"""

import argparse
import json
import math
import os
import platform
import time
from collections import defaultdict
from pathlib import Path

OURS = "hannoy (this repo)"
RECALL_TARGETS = (0.95, 0.97, 0.99)
MIB = 1 << 20


def load_rows(paths):
    rows = []
    for path in paths:
        with open(path) as lines:
            for line in lines:
                line = line.strip()
                if line.startswith("{"):
                    rows.append(json.loads(line))
    if not rows:
        raise SystemExit("report.py: no JSON rows in " + ", ".join(map(str, paths)))
    return rows


def label(row):
    if row["system"].startswith(OURS):
        codes = row.get("codes")
        return f"hannoy [{row['backend']}, {codes}]" if codes else f"hannoy [{row['backend']}]"
    if row["backend"] != "in-memory":
        return f"{row['system']} [{row['backend']}]"
    return row["system"]


def is_plain(row):
    """A warm, unfiltered row of a fresh build: the points of the recall/speed curves."""
    return row.get("cache", "warm") == "warm" and row.get("filter_ratio") is None and row.get("churn") is None


def curves(rows):
    by_label = defaultdict(list)
    for row in rows:
        if is_plain(row):
            by_label[label(row)].append(row)
    return {name: sorted(points, key=lambda r: r["ef_search"]) for name, points in by_label.items()}


def qps_at_recall(points, target):
    """Queries/s at `target` recall, interpolated; (value, exact) or (None, _) if unreached.
    When the curve's lowest point is already above the target, its speed is a lower bound
    (exact is then False)."""
    pts = sorted(points, key=lambda r: r["recall"])
    if not pts or pts[-1]["recall"] < target:
        return None, False
    if pts[0]["recall"] >= target:
        return max(p["qps"] for p in pts if p["recall"] >= target), False
    for low, high in zip(pts, pts[1:]):
        if low["recall"] <= target <= high["recall"]:
            if high["recall"] == low["recall"]:
                return max(low["qps"], high["qps"]), True
            t = (target - low["recall"]) / (high["recall"] - low["recall"])
            return math.exp(math.log(low["qps"]) + t * (math.log(high["qps"]) - math.log(low["qps"]))), True
    return None, False


def fmt_qps(value, exact=True):
    if value is None:
        return "not reached"
    return f"{value:,.0f}" if exact else f">= {value:,.0f}"


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}"


def first(rows, **match):
    for row in rows:
        if all(row.get(k) == v for k, v in match.items()):
            return row
    return None


def markdown(rows, curve, command):
    any_row = rows[0]
    dataset, n, dim = any_row["dataset"], any_row["n"], any_row["dim"]
    raw = n * dim * 4
    out = [f"# Benchmarks on `{dataset}`", ""]
    out += [
        f"{n:,} vectors of {dim} dimensions, metric {any_row['metric']}, top-{any_row['k']} recall "
        f"against the exact ground truth; M = {any_row['m']}, M0 = {any_row['m0']}, "
        f"ef_construction = {any_row['ef_construction']}, {any_row['threads']} build threads, "
        "single-threaded search (one query per call). Queries/s is the median of the timed passes "
        "after a warm-up pass; p50/p99 are over every timed query.",
        "",
        f"Machine: {machine()}. Generated {time.strftime('%Y-%m-%d %H:%M')}"
        + (f" by `{command}`." if command else "."),
        "",
        "![recall against queries per second, and build times](" + f"{dataset}.png)",
        "",
    ]

    # Build, size, memory.
    out += ["## Build, size and memory", ""]
    out += [
        "| system | build (s) | size (MiB) | bytes/vector over raw f32 | RSS anon (MiB) | RSS file (MiB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, points in curve.items():
        last = points[-1]
        over = (last["size_bytes"] - raw) / n
        out.append(
            f"| {name} | {last['build_s']:.1f} | {last['size_bytes'] / MIB:.1f} | {over:+,.0f} | "
            f"{last['rss_anon_bytes'] / MIB:.0f} | {last['rss_file_bytes'] / MIB:.0f} |"
        )
    out += [
        "",
        "Size is the store on disk (the memory backend: bytes committed; the peers: the saved "
        "index file). RSS is the whole benchmark process after the searches (it also holds the "
        "dataset, and each process runs several systems one after the other), so compare the "
        "split between anonymous memory and file-backed pages rather than the totals.",
        "",
    ]

    # Speed at equal recall.
    out += ["## Queries per second at equal recall", ""]
    head = "| system | " + " | ".join(f"q/s at recall {t}" for t in RECALL_TARGETS) + " |"
    out += [head, "|---|" + "---:|" * len(RECALL_TARGETS)]
    at = {name: {t: qps_at_recall(points, t) for t in RECALL_TARGETS} for name, points in curve.items()}
    for name in curve:
        out.append(f"| {name} | " + " | ".join(fmt_qps(*at[name][t]) for t in RECALL_TARGETS) + " |")
    out.append("")
    peers = [name for name in curve if not name.startswith("hannoy [")]
    ours = [name for name in curve if name.startswith("hannoy [")]
    if peers and ours:
        out += ["Ratios (ours / peer) of queries/s at equal recall and of build time:", ""]
        out += ["| ours | peer | " + " | ".join(f"q/s at {t}" for t in RECALL_TARGETS) + " | build |",
                "|---|---|" + "---:|" * (len(RECALL_TARGETS) + 1)]
        for mine in ours:
            for peer in peers:
                cells = []
                for t in RECALL_TARGETS:
                    (a, _), (b, _) = at[mine][t], at[peer][t]
                    cells.append(f"x{a / b:.2f}" if a and b else "-")
                build = curve[mine][-1]["build_s"] / max(curve[peer][-1]["build_s"], 1e-9)
                out.append(f"| {mine} | {peer} | " + " | ".join(cells) + f" | x{build:.2f} |")
        out.append("")

    # Every point.
    out += ["## Every point", ""]
    out += [
        "Ours also: the distances the walk computed per query, the stored bytes each of them "
        "read (a code, or a full vector), and the candidates rescored with full vectors.",
        "",
        "| system | ef_search | recall | q/s | p50 (µs) | p99 (µs) | walk distances | bytes each | rescored |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, points in curve.items():
        for p in points:
            walk = (
                f"{p['walk_distances']:.0f} | {p['bytes_per_distance']} | {p['rescored']:.1f}"
                if p.get("walk_distances") is not None
                else "- | - | -"
            )
            out.append(
                f"| {name} | {p['ef_search']} | {p['recall']:.4f} | {p['qps']:,.0f} | "
                f"{p['p50_us']:.0f} | {p['p99_us']:.0f} | {walk} |"
            )
    out.append("")

    # Cold cache.
    cold = [r for r in rows if r.get("cache", "warm") != "warm"]
    if cold:
        out += ["## Cold cache: the first pass after opening", ""]
        out += [
            "The store is closed and opened again, then every query runs once: `reopened` with "
            "its files still in the page cache, `cold` after dropping them from it "
            "(`posix_fadvise(DONTNEED)`; the in-memory peers load their saved index file; "
            "the memory backend has no file and is not measured cold), `cold+prefetch` "
            "dropped again, then `Reader::prefetch(Prefetch::All)` reads the index ahead "
            "before the first query (its time counted in the opening's). "
            "Open is the time to open the store and the index (the peers: to load the file); "
            "the warm row is the same ef_search after warm-up.",
            "",
            "| system | cache | open (ms) | recall | q/s | p50 (µs) | p99 (µs) |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        # The warm row follows each system's last first-pass row.
        last_cache = {label(row): row["cache"] for row in cold}
        for row in cold:
            name = label(row)
            out.append(
                f"| {name} | {row['cache']} | {row['open_ms']:.1f} | {row['recall']:.4f} | "
                f"{row['qps']:,.0f} | {row['p50_us']:.0f} | {row['p99_us']:.0f} |"
            )
            warm = first(curve.get(name, []), ef_search=row["ef_search"])
            if row["cache"] == last_cache[name] and warm:
                out.append(
                    f"| {name} | warm | - | {warm['recall']:.4f} | {warm['qps']:,.0f} | "
                    f"{warm['p50_us']:.0f} | {warm['p99_us']:.0f} |"
                )
        out.append("")

    out += targets(curve, at, raw, n)
    return "\n".join(out) + "\n"


def targets(curve, at, raw, n):
    """The targets of the benchmark issue, met or missed, on LMDB."""
    ours = curve.get("hannoy [lmdb]")
    hnsw = next((name for name in curve if name.startswith("hnswlib")), None)
    crate = next((name for name in curve if name.startswith("hannoy ") and not name.startswith("hannoy [")), None)
    if not ours:
        return []
    out = ["## Targets (LMDB, warm cache, at recall 0.95)", "", "| target | measured | met |", "|---|---|---|"]

    def check(text, value, limit, higher_is_better):
        if value is None:
            out.append(f"| {text} | not measured | - |")
            return
        met = value >= limit if higher_is_better else value <= limit
        out.append(f"| {text} | x{value:.2f} | {'yes' if met else 'no'} |")

    def ratio(peer):
        if not peer:
            return None
        a, b = at["hannoy [lmdb]"][0.95][0], at[peer][0.95][0]
        return a / b if a and b else None

    def build_ratio(peer):
        return ours[-1]["build_s"] / curve[peer][-1]["build_s"] if peer else None

    def ratio_at(name, peer, target):
        if not peer or name not in at:
            return None
        a, b = at[name][target][0], at[peer][target][0]
        return a / b if a and b else None

    check("search q/s >= 4x the hannoy crate", ratio(crate), 4.0, True)
    for target in RECALL_TARGETS:
        check(f"f32 search q/s >= 1.0x hnswlib at recall {target}", ratio_at("hannoy [lmdb]", hnsw, target), 1.0, True)
    check("build time <= 0.3x the hannoy crate", build_ratio(crate), 0.3, False)
    check("build time <= 1.5x hnswlib", build_ratio(hnsw), 1.5, False)
    over = (ours[-1]["size_bytes"] - raw) / n
    out.append(f"| store size <= raw f32 + 200 B/vector | raw + {over:.0f} B/vector | {'yes' if over <= 200 else 'no'} |")

    # Compact codes (issue 12): the best code configuration against hnswlib, build and size.
    coded = [name for name in curve if name.startswith("hannoy [lmdb, ")]
    for target, limit in ((0.95, 2.0), (0.99, 1.5)):
        best = max(coded, key=lambda name: ratio_at(name, hnsw, target) or 0, default=None)
        value = ratio_at(best, hnsw, target) if best else None
        text = f"best codes ({best[len('hannoy [lmdb, '):-1] if best else '-'}) q/s >= {limit}x hnswlib at recall {target}"
        check(text, value, limit, True)
    for name in coded:
        last = curve[name][-1]
        scheme = name[len("hannoy [lmdb, "):-1]
        check(f"{scheme}: build time <= 1.2x the f32 build", last["build_s"] / max(ours[-1]["build_s"], 1e-9), 1.2, False)
        code = last.get("bytes_per_distance") or 0
        over = (last["size_bytes"] - raw) / n - code
        out.append(
            f"| {scheme}: store <= raw f32 + codes ({code} B) + 200 B/vector | raw + codes + {over:.0f} B/vector | "
            f"{'yes' if over <= 200 else 'no'} |"
        )
    out.append("")
    return out


def plot(curve, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 6), gridspec_kw={"width_ratios": [3, 2]})
    styles = {"hannoy [lmdb]": "-o", "hannoy [redb]": "-s", "hannoy [memory]": "-^"}
    for name, points in curve.items():
        pts = sorted(points, key=lambda r: r["recall"])
        style = styles.get(name, "-D" if name.startswith("hannoy [lmdb, ") else "--x")
        left.plot([p["recall"] for p in pts], [p["qps"] for p in pts], style, label=name)
    left.set_yscale("log")
    left.set_xlabel("recall@10")
    left.set_ylabel("queries per second (1 thread, log scale)")
    left.set_title("recall against speed (up and to the right is better)")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8)

    names = list(curve)
    builds = [curve[name][-1]["build_s"] for name in names]
    bars = right.barh(names, builds, color=["tab:blue" if n.startswith("hannoy [") else "tab:gray" for n in names])
    right.bar_label(bars, fmt="%.1f s", fontsize=8)
    right.set_xlim(0, max(builds) * 1.18)
    right.invert_yaxis()
    right.set_xlabel("build time (s), 2 threads")
    right.set_title("build time (shorter is better)")
    right.tick_params(axis="y", labelsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks"))
    parser.add_argument("--command", default=None, help="the command to quote in the report")
    args = parser.parse_args()
    rows = load_rows(args.rows)
    curve = curves(rows)
    dataset = rows[0]["dataset"]
    args.out.mkdir(parents=True, exist_ok=True)
    md = args.out / f"{dataset}.md"
    md.write_text(markdown(rows, curve, args.command))
    png = args.out / f"{dataset}.png"
    plot(curve, png, f"{dataset}: {rows[0]['n']:,} x {rows[0]['dim']}, {rows[0]['metric']}, M={rows[0]['m']}, ef_construction={rows[0]['ef_construction']}")
    print(f"wrote {md} and {png}")


if __name__ == "__main__":
    main()
