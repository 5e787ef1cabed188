#!/usr/bin/env python3
"""Turns Criterion's estimates (target/criterion) into the benchmark table.

    bench_report.py [--criterion DIR] [--markdown OUT.md] [--png OUT.png] [--python PY.json]
                    [--c C.json] [--meta KEY=VALUE ...]

Reads <dir>/<group>/<function>/<size>/new/estimates.json (the median time of one element:
one message, or one handshake) and prints ONE table: wsmachine's MB/s and messages/s per
workload and size, the floor and the best peer, and wsmachine's ratio to each. With
--markdown it writes docs/benchmarks.md (the meta lines, the table, the Python and C tables
when given); with --png it draws the chart (matplotlib, from the repo venv).

Ratios: `x floor` compares `wsmachine` (in place, on bytes already in the caller's buffer)
with `floor` measured the same way; `x best peer` compares `wsmachine_io` (through the same
in-memory socket as the peers: one copy in, one copy out) with the fastest peer. `room` is how far the transport floor (`floor_io`: the floor's work
plus the same socket copies) is ahead of that peer: where it is below 2x, being 2x faster
than the peer is impossible by construction.
"""
import argparse
import json
import os
import sys

PEERS = ["tungstenite", "fastwebsockets", "embedded_websocket"]
WORKLOADS = [
    ("server_decode_text", "server decode, masked text"),
    ("server_decode_binary", "server decode, masked binary"),
    ("client_decode_text", "client decode, text"),
    ("client_decode_binary", "client decode, binary"),
    ("server_encode", "server encode, binary"),
    ("client_encode", "client encode, masked binary"),
    ("server_handshake", "server handshake (14 headers -> 101)"),
]
FLOOR_NAME = {
    "server_decode_text": "unmask+simdutf8",
    "server_decode_binary": "unmask (AVX2)",
    "client_decode_text": "simdutf8",
    "client_decode_binary": "-",
    "server_encode": "memcpy",
    "client_encode": "mask-copy (AVX2)",
    "server_handshake": "httparse+SHA-1+b64",
}


def load(root):
    """{(group, function, value): median ns per element}"""
    out = {}
    if not os.path.isdir(root):
        return out
    for group in os.listdir(root):
        gdir = os.path.join(root, group)
        if not os.path.isdir(gdir):
            continue
        for fn in os.listdir(gdir):
            fdir = os.path.join(gdir, fn)
            if not os.path.isdir(fdir):
                continue
            for val in os.listdir(fdir):
                est = os.path.join(fdir, val, "new", "estimates.json")
                if os.path.isfile(est):
                    with open(est) as f:
                        d = json.load(f)
                    out[(group, fn, val)] = d["median"]["point_estimate"]
    return out


def sizes_of(data, group):
    vals = {v for (g, _, v) in data if g == group}
    return sorted(vals, key=lambda v: int(v) if v.isdigit() else 0)


def human_size(v):
    n = int(v)
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return "%d MiB" % (n >> 20)
    if n >= 1024 and n % 1024 == 0:
        return "%d KiB" % (n >> 10)
    return "%d B" % n


def fmt_rate(x):
    if x is None:
        return "-"
    if x >= 100:
        return "{:,.0f}".format(x)
    if x >= 10:
        return "%.1f" % x
    return "%.2f" % x


def fmt_msgs(x):
    if x is None:
        return "-"
    if x >= 1e6:
        return "%.2f M" % (x / 1e6)
    if x >= 1e3:
        return "%.1f k" % (x / 1e3)
    return "%.0f" % x


def fmt_ratio(x):
    return "-" if x is None else "%.2fx" % x


def rows(data):
    table = []
    for group, title in WORKLOADS:
        for v in sizes_of(data, group):
            ws = data.get((group, "wsmachine", v))
            if ws is None:
                continue
            size = int(v) if group != "server_handshake" else 0
            fl = data.get((group, "floor", v))
            io = data.get((group, "wsmachine_io", v), ws)
            fio = data.get((group, "floor_io", v), fl)
            peers = {p: data[(group, p, v)] for p in PEERS if (group, p, v) in data}
            best = min(peers.items(), key=lambda kv: kv[1]) if peers else None
            row = {
                "group": group,
                "title": title,
                "size": v,
                "size_label": human_size(v) if size else "-",
                "ns": ws,
                "mbps": size / ws * 1e3 if size else None,  # bytes/ns * 1e3 = MB/s
                "msgs": 1e9 / ws,
                "floor_name": FLOOR_NAME.get(group, "-"),
                "floor_mbps": size / fl * 1e3 if (fl and size) else None,
                "floor_msgs": 1e9 / fl if fl else None,
                "x_floor": fl / ws if fl else None,
                "io_msgs": 1e9 / io,
                "best_peer": best[0] if best else None,
                "peer_msgs": 1e9 / best[1] if best else None,
                "x_peer": best[1] / io if best else None,
                "room": best[1] / fio if (best and fio) else None,
                "peers": {p: 1e9 / t for p, t in peers.items()},
            }
            table.append(row)
    return table


HEADER = (
    "| workload | size | wsmachine MB/s | msg/s | floor | floor MB/s | x floor "
    "| best peer | peer msg/s | x best peer | room |"
)
SEP = "|---|---:|---:|---:|---|---:|---:|---|---:|---:|---:|"


def markdown_table(table):
    lines = [HEADER, SEP]
    last = None
    for r in table:
        name = r["title"] if r["group"] != last else ""
        last = r["group"]
        lines.append(
            "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |"
            % (
                name,
                r["size_label"],
                fmt_rate(r["mbps"]),
                fmt_msgs(r["msgs"]),
                r["floor_name"] if r["x_floor"] is not None else "-",
                fmt_rate(r["floor_mbps"]) if r["floor_mbps"] else fmt_msgs(r["floor_msgs"]),
                fmt_ratio(r["x_floor"]),
                (r["best_peer"] or "-").replace("_", "-"),
                fmt_msgs(r["peer_msgs"]),
                fmt_ratio(r["x_peer"]),
                fmt_ratio(r["room"]),
            )
        )
    return "\n".join(lines)


def peers_table(table):
    lines = [
        "| workload | size | wsmachine (io) | tungstenite | fastwebsockets | embedded-websocket |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    last = None
    for r in table:
        name = r["title"] if r["group"] != last else ""
        last = r["group"]
        cells = [fmt_msgs(r["peers"].get(p)) for p in PEERS]
        lines.append(
            "| %s | %s | %s | %s |" % (name, r["size_label"], fmt_msgs(r["io_msgs"]), " | ".join(cells))
        )
    return "\n".join(lines)


def chart(table, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [g for g, _ in WORKLOADS if g != "server_handshake" and any(r["group"] == g for r in table)]
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5), sharey=False)
    for ax, group in zip(axes.flat, groups):
        rs = [r for r in table if r["group"] == group]
        xs = list(range(len(rs)))
        labels = [r["size_label"] for r in rs]
        w = 0.2
        series = [("wsmachine", [r["mbps"] for r in rs], "#1f77b4")]
        if any(r["floor_mbps"] for r in rs):
            series.append(("floor", [r["floor_mbps"] or 0 for r in rs], "#7f7f7f"))
        series.append(
            ("best peer", [(r["peer_msgs"] or 0) * int(r["size"]) / 1e6 for r in rs], "#ff7f0e")
        )
        for k, (name, ys, color) in enumerate(series):
            ax.bar([x + (k - (len(series) - 1) / 2) * w for x in xs], ys, w, label=name, color=color)
        ax.set_yscale("log")
        ax.set_xticks(xs)
        ax.set_xticklabels(labels)
        ax.set_title(dict(WORKLOADS)[group])
        ax.set_ylabel("MB/s (log)")
        ax.grid(axis="y", alpha=0.3, which="both")
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(groups):]:
        ax.axis("off")
    fig.suptitle("wsmachine vs floor and best peer (MB/s, higher is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--criterion", default="target/criterion")
    ap.add_argument("--markdown")
    ap.add_argument("--png")
    ap.add_argument("--python", help="JSON written by benches/python/bench.py")
    ap.add_argument("--c", help="JSON written by benches/c/bench")
    ap.add_argument("--notes", help="markdown file appended after the tables")
    ap.add_argument("--meta", action="append", default=[])
    args = ap.parse_args()
    data = load(args.criterion)
    table = rows(data)
    if not table:
        sys.exit("no criterion results under %s" % args.criterion)
    md = markdown_table(table)
    print(md)
    if args.png:
        chart(table, args.png)
    if args.markdown:
        parts = ["# Benchmarks", ""]
        for m in args.meta:
            k, _, v = m.partition("=")
            parts.append("- **%s**: %s" % (k, v))
        parts += ["", "## Rust core", "", md, "", "### Peers (messages/s through the in-memory socket)", "", peers_table(table), ""]
        if args.png:
            parts += ["![chart](%s)" % os.path.basename(args.png), ""]
        for extra in (args.python, args.c):
            if extra and os.path.isfile(extra):
                with open(extra) as f:
                    parts += [f.read().rstrip(), ""]
        if args.notes and os.path.isfile(args.notes):
            with open(args.notes) as f:
                parts += [f.read().rstrip(), ""]
        with open(args.markdown, "w") as f:
            f.write("\n".join(parts))


if __name__ == "__main__":
    main()
