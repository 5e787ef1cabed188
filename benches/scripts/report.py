#!/usr/bin/env python3
"""Turns Criterion's estimates (target/criterion) into the benchmark table.

    report.py [--criterion DIR] [--markdown OUT.md] [--png OUT.png] [--python PY.json]
                    [--c C.json] [--meta KEY=VALUE ...]

Reads <dir>/<group>/<function>/<size>/new/sample.json (the fastest sample's time per
element: one message, or one handshake) and prints ONE table: wsmachine's MB/s and messages/s per
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

PEERS = ["tungstenite", "fastwebsockets", "embedded_websocket", "soketto"]
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
    """{(group, function, value): ns per element (fastest sample)}"""
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
                sample = os.path.join(fdir, val, "new", "sample.json")
                if os.path.isfile(sample):
                    with open(sample) as f:
                        d = json.load(f)
                    # The fastest sample (each sample is the mean of many iterations): on a
                    # machine shared with other jobs, preemption only ever adds time, so the
                    # minimum is the most faithful figure for CPU-bound code.
                    out[(group, fn, val)] = min(t / i for t, i in zip(d["times"], d["iters"]))
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
        "| workload | size | wsmachine (io) | tungstenite | fastwebsockets | embedded-websocket | soketto (base codec) |",
        "|---|---:|---:|---:|---:|---:|---:|",
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
        size = lambda r: int(r["size"]) / 1e6  # noqa: E731  MB per message
        series = [
            ("wsmachine (in place)", [r["mbps"] for r in rs], "#1f77b4"),
            ("floor (in place)", [r["floor_mbps"] or 0 for r in rs], "#7f7f7f"),
            ("wsmachine (via socket)", [r["io_msgs"] * size(r) for r in rs], "#17becf"),
            ("best peer (via socket)", [(r["peer_msgs"] or 0) * size(r) for r in rs], "#ff7f0e"),
        ]
        for k, (name, ys, color) in enumerate(series):
            ax.bar([x + (k - (len(series) - 1) / 2) * w for x in xs], ys, w, label=name, color=color)
        ax.set_yscale("log")
        ax.set_xticks(xs)
        ax.set_xticklabels(labels)
        ax.set_title(dict(WORKLOADS)[group])
        ax.set_ylabel("MB/s (log)")
        ax.grid(axis="y", alpha=0.3, which="both")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(groups):]:
        ax.axis("off")
    fig.suptitle(
        "wsmachine vs its floor (bytes already in the buffer) and vs the best peer (through the same in-memory socket); MB/s, log scale"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def _json(path):
    if path and os.path.isfile(path):
        with open(path) as f:
            return json.load(f)
    return None


PY_LIBS = ["wsmachine", "wsproto", "websockets"]
PY_SIZES = [16, 125, 1024, 16 << 10, 64 << 10, 1 << 20]


RR_LIBS = ["wsmachine.asyncio", "picows", "websockets", "aiohttp"]
RR_LOOPS = ["asyncio", "uvloop"]
RR_SIZES = [256, 8 << 10, 100 << 10]


def rr_rows(rr):
    """(loop, shape label, {lib: rate}) for each row of the request-response benchmark."""
    meta = rr.get("meta", {})
    conns = meta.get("many_conns", 100)
    many = meta.get("many_size", 1024)
    out = []
    for loop in RR_LOOPS:
        shapes = [(str(s), "%s, 1 connection" % human_size(s)) for s in RR_SIZES]
        shapes.append(("c%d" % conns, "%s, %d connections" % (human_size(many), conns)))
        for k, label in shapes:
            vals = {lib: rr.get("%s/%s/%s" % (lib, loop, k)) for lib in RR_LIBS}
            if None not in vals.values():
                out.append((loop, label, vals))
    return out


def rr_table(rr):
    meta = rr.get("meta", {})
    v = meta.get("versions", {})
    lines = [
        "### Request-response over loopback (round trips/s; each library's client against its own server)",
        "",
        "The shape of tarasko/websocket-benchmark: one client sends a binary message, waits for "
        "its echo, sends the next; %.1f s counted after %.1f s of warm-up, best of %d interleaved "
        "rounds; server and client in their own processes%s. The 100-connection rows: 100 such "
        "clients at once in one process, total messages/s. Compression and keepalive off "
        "everywhere (benches/python/asyncio_bench.py). Versions: %s."
        % (
            meta.get("seconds", 0),
            meta.get("warmup", 0),
            meta.get("rounds", 0),
            " (server pinned to CPU 0, client to CPU 1)" if meta.get("pinned") else "",
            ", ".join("%s %s" % kv for kv in sorted(v.items())),
        ),
        "",
        "| loop | shape | " + " | ".join(RR_LIBS) + " | x picows | x websockets |",
        "|---|---|" + "---:|" * (len(RR_LIBS) + 2),
    ]
    for loop, label, vals in rr_rows(rr):
        w = vals["wsmachine.asyncio"]
        lines.append(
            "| %s | %s | %s | %s | %s |"
            % (
                loop,
                label,
                " | ".join(fmt_msgs(vals[lib]) for lib in RR_LIBS),
                fmt_ratio(w / vals["picows"]),
                fmt_ratio(w / vals["websockets"]),
            )
        )
    return lines


MEM_IMPLS = [
    ("wsmachine-asyncio", "wsmachine.asyncio (`serve`)"),
    ("wsmachine", "wsmachine (examples/python/echo_server.py)"),
    ("websockets", "websockets"),
    ("picows", "picows"),
    ("aiohttp", "aiohttp"),
]


def python_tables(sansio_path, echo_path, memory_path, rr_path=None):
    out = []
    sansio = _json(sansio_path)
    if sansio:
        out += [
            "### Sans-IO protocol layer (messages/s, one message per call)",
            "",
            "| workload | size | wsmachine | wsproto | websockets | x wsproto | x websockets |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for group, title in WORKLOADS:
            sizes = [0] if group == "server_handshake" else PY_SIZES
            first = True
            for size in sizes:
                keys = ["%s/%s/%d" % (lib, group, size) for lib in PY_LIBS]
                if not all(k in sansio for k in keys):
                    continue
                w, p, s = (sansio[k] for k in keys)
                out.append(
                    "| %s | %s | %s | %s | %s | %s | %s |"
                    % (
                        title if first else "",
                        human_size(size) if size else "-",
                        fmt_msgs(1 / w),
                        fmt_msgs(1 / p),
                        fmt_msgs(1 / s),
                        fmt_ratio(p / w),
                        fmt_ratio(s / w),
                    )
                )
                first = False
        out.append("")
    echo = _json(echo_path)
    if echo:
        impls = ["wsmachine", "wsmachine-lean", "websockets", "picows"]
        out += [
            "### End-to-end asyncio echo over loopback (round trips/s, one message in flight, picows client)",
            "",
            "| size | " + " | ".join(impls) + " | wsmachine x picows | wsmachine-lean x picows |",
            "|---:|" + "---:|" * (len(impls) + 2),
        ]
        for size in [256, 8 << 10, 100 << 10]:
            vals = [echo.get("%s/%d" % (i, size)) for i in impls]
            if None in vals:
                continue
            out.append(
                "| %s | %s | %s | %s |"
                % (
                    human_size(size),
                    " | ".join(fmt_msgs(v) for v in vals),
                    fmt_ratio(vals[0] / vals[3]),
                    fmt_ratio(vals[1] / vals[3]),
                )
            )
        out.append("")
    rr = _json(rr_path)
    if rr:
        out += rr_table(rr) + [""]
    mem = _json(memory_path)
    if mem:
        out += [
            "### Memory per idle connection (asyncio server holding %s connections on loopback)" % "{:,}".format(int(mem.get("conns", 10000))),
            "",
            "| server | RSS before | RSS with the connections | per connection | x websockets |",
            "|---|---:|---:|---:|---:|",
        ]
        ref = mem.get("websockets/bytes_per_conn")
        for impl, name in MEM_IMPLS:
            if "%s/bytes_per_conn" % impl in mem:
                per = mem["%s/bytes_per_conn" % impl]
                out.append(
                    "| %s | %s KiB | %s KiB | %s | %s |"
                    % (
                        name,
                        "{:,}".format(int(mem["%s/rss_before_kib" % impl])),
                        "{:,}".format(int(mem["%s/rss_after_kib" % impl])),
                        "%.1f KiB" % (per / 1024),
                        fmt_ratio(per / ref) if ref else "-",
                    )
                )
        out.append("")
    return "\n".join(out).rstrip()


def c_table(path, data):
    c = _json(path)
    lines = [
        "| workload | size | C ABI ns/msg | Rust core ns/msg | FFI overhead | wsmachine (io) MB/s | wslay MB/s | x wslay |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for group, title in WORKLOADS:
        first = True
        for size in PY_SIZES:
            k = "%s/%%s/%d" % (group, size)
            if k % "wsmachine" not in c:
                continue
            ffi = c[k % "wsmachine"]
            rust = data.get((group, "wsmachine", str(size)))
            io = c[k % "wsmachine_io"]
            wl = c[k % "wslay"]
            lines.append(
                "| %s | %s | %.1f | %s | %s | %s | %s | %s |"
                % (
                    title if first else "",
                    human_size(size),
                    ffi,
                    "%.1f" % rust if rust else "-",
                    ("%+.0f %%" % ((ffi / rust - 1) * 100)) if rust else "-",
                    fmt_rate(size / io * 1e3),
                    fmt_rate(size / wl * 1e3),
                    fmt_ratio(wl / io),
                )
            )
            first = False
    return "\n".join(lines)


def goals(table, data, c_path, sansio_path, echo_path, rr_path=None, memory_path=None):
    """The brief's goals, each with the figures that decide it (all from this run)."""
    by = {(r["group"], r["size"]): r for r in table}
    big = [str(n) for n in (1024, 16 << 10, 64 << 10, 1 << 20)]
    out = ["| goal | figures (this run) | reached |", "|---|---|---|"]

    def floor_goal(label, group, need, sizes):
        xs = [(v, by[(group, v)]["x_floor"]) for v in sizes if (group, v) in by and by[(group, v)]["x_floor"]]
        if not xs:
            return
        ok = [v for v, x in xs if x >= need]
        fig = ", ".join("%s %.2fx" % (human_size(v), x) for v, x in xs)
        verdict = "yes" if len(ok) == len(xs) else ("from %s up" % human_size(ok[0]) if ok and all(x >= need for _, x in xs[xs.index((ok[0], by[(group, ok[0])]["x_floor"])):]) else "no (%d of %d sizes)" % (len(ok), len(xs)))
        out.append("| %s | %s | %s |" % (label, fig, verdict))

    floor_goal("server text decode >= 0.9x unmask+simdutf8 floor, 1 KiB up", "server_decode_text", 0.9, big)
    floor_goal("server binary decode >= 0.8x masking floor", "server_decode_binary", 0.8, [str(n) for n in PY_SIZES])
    floor_goal("client masked encode >= 0.8x masking floor", "client_encode", 0.8, [str(n) for n in PY_SIZES])
    hs = by.get(("server_handshake", "0"))
    if hs and hs["x_floor"]:
        out.append(
            "| handshake >= 0.9x httparse+SHA-1+base64 floor | %.2fx (%s vs %s handshakes/s) | %s |"
            % (hs["x_floor"], fmt_msgs(hs["msgs"]), fmt_msgs(hs["floor_msgs"]), "yes" if hs["x_floor"] >= 0.9 else "no")
        )
    roomy = [r for r in table if r["room"] and r["room"] >= 2.0 and r["x_peer"]]
    if roomy:
        ok = [r for r in roomy if r["x_peer"] >= 2.0]
        worst = sorted(roomy, key=lambda r: r["x_peer"])[:4]
        out.append(
            "| >= 2x the best peer where the floor leaves room (room >= 2x) | %d of %d rows; lowest: %s | %s |"
            % (
                len(ok),
                len(roomy),
                ", ".join("%s %s %.2fx (%s)" % (r["group"], r["size_label"], r["x_peer"], r["best_peer"]) for r in worst),
                "yes" if len(ok) == len(roomy) else "partly",
            )
        )
    small = [r for r in table if r["size"] == "16"]
    if small:
        out.append(
            "| messages/s at 16 B (report) | %s | - |"
            % ", ".join("%s %s" % (r["group"], fmt_msgs(r["msgs"])) for r in small)
        )
    sansio = _json(sansio_path)
    if sansio:
        rows = [k for k in sansio if k.startswith("wsmachine/")]
        xs = sorted((sansio[k.replace("wsmachine/", "wsproto/", 1)] / sansio[k], k.split("/", 1)[1]) for k in rows)
        ok = [x for x, _ in xs if x >= 10]
        out.append(
            "| Python: >= 10x wsproto (sans-IO) | %d of %d rows; lowest: %s | %s |"
            % (len(ok), len(xs), ", ".join("%s %.1fx" % (k, x) for x, k in xs[:4]), "yes" if len(ok) == len(xs) else "partly")
        )
    echo = _json(echo_path)
    if echo:
        cells = []
        ahead = float("inf")
        for size in (256, 8 << 10, 100 << 10):
            w, l, p = (echo.get("%s/%d" % (i, size)) for i in ("wsmachine", "wsmachine-lean", "picows"))
            if None in (w, l, p):
                continue
            cells.append("%s: example %.2fx, lean %.2fx" % (human_size(size), w / p, l / p))
            best = max(w, l) / p
            ahead = min(ahead, best)
        if cells:
            out.append(
                "| Python: ahead of picows (echo round trips) | %s | %s |"
                % (
                    "; ".join(cells),
                    "yes" if ahead >= 1.05 else ("level (within 5 %: noise)" if ahead >= 0.95 else "no"),
                )
            )
    rr = _json(rr_path)
    if rr:
        rows = rr_rows(rr)
        for peer, need, label in (("picows", 1.0, "ahead of picows"), ("websockets", 2.5, ">= 2.5x websockets")):
            xs = [(vals["wsmachine.asyncio"] / vals[peer], loop, shape) for loop, shape, vals in rows]
            ok = [x for x in xs if x[0] >= need]
            out.append(
                "| Python: request-response, wsmachine.asyncio %s (every row) | %d of %d rows; %s | %s |"
                % (
                    label,
                    len(ok),
                    len(xs),
                    "; ".join("%s %s %.2fx" % (loop, shape, x) for x, loop, shape in xs),
                    "yes" if len(ok) == len(xs) else ("partly" if ok else "no"),
                )
            )
    mem = _json(memory_path)
    if mem and "wsmachine-asyncio/bytes_per_conn" in mem:
        cells = ["%s %.1f KiB" % (name.split(" ")[0], mem["%s/bytes_per_conn" % impl] / 1024)
                 for impl, name in MEM_IMPLS if "%s/bytes_per_conn" % impl in mem]
        out.append("| Python: memory per idle connection (report) | %s | - |" % ", ".join(cells))
    c = _json(c_path)
    if c:
        ovs = []
        for group in ("server_decode_binary", "client_decode_binary", "server_encode", "client_encode"):
            for size in PY_SIZES:
                rust = data.get((group, "wsmachine", str(size)))
                ffi = c.get("%s/wsmachine/%d" % (group, size))
                if rust and ffi:
                    ovs.append((ffi / rust - 1, group, size))
        if ovs:
            ok = [o for o in ovs if o[0] <= 0.05]
            out.append(
                "| C: FFI overhead <= 5 %% | %d of %d rows; by size (median over workloads): %s | %s |"
                % (
                    len(ok),
                    len(ovs),
                    ", ".join(
                        "%s %+.0f %%" % (human_size(sz), 100 * sorted(o[0] for o in ovs if o[2] == sz)[len([o for o in ovs if o[2] == sz]) // 2])
                        for sz in PY_SIZES
                    ),
                    "yes" if len(ok) == len(ovs) else "partly",
                )
            )
    return "\n".join(out)


DEFLATE_GROUPS = [
    ("deflate_decode_takeover", "decode (read + inflate), context takeover"),
    ("deflate_decode_no_takeover", "decode (read + inflate), no context takeover"),
    ("deflate_encode_takeover", "encode (send_compressed), context takeover"),
    ("deflate_encode_no_takeover", "encode (send_compressed), no context takeover"),
]
DEFLATE_SUBJECTS = [("wsmachine", "caller-memory"), ("wsmachine_zlib", "zlib-rs backend"), ("flate2", "flate2 peer")]


def deflate_table(data, wire_path):
    """permessage-deflate: MB/s of message data and bytes on the wire per message for each
    subject, and the ratios of wsmachine's two codecs to the flate2 peer (> 1: faster)."""
    wire = _json(wire_path) or {}
    lines = [
        "| workload | size | "
        + " | ".join("%s MB/s | wire B" % label for _, label in DEFLATE_SUBJECTS)
        + " | x flate2 (caller-memory) | x flate2 (zlib-rs backend) |",
        "|---|---:|" + "---:|---:|" * len(DEFLATE_SUBJECTS) + "---:|---:|",
    ]
    any_row = False
    for group, title in DEFLATE_GROUPS:
        name = title
        for v in sizes_of(data, group):
            ns = {fn: data.get((group, fn, v)) for fn, _ in DEFLATE_SUBJECTS}
            if all(t is None for t in ns.values()):
                continue
            any_row = True
            size = int(v)
            cells = []
            for fn, _ in DEFLATE_SUBJECTS:
                t = ns[fn]
                w = wire.get("%s/%s/%s" % (group, fn, v))
                cells.append(fmt_rate(size / t * 1e3) if t else "-")
                cells.append("{:,.0f}".format(w) if w is not None else "-")
            peer = ns["flate2"]
            ratios = [fmt_ratio(peer / ns[fn]) if (peer and ns[fn]) else "-" for fn in ("wsmachine", "wsmachine_zlib")]
            lines.append("| %s | %s | %s | %s |" % (name, human_size(v), " | ".join(cells), " | ".join(ratios)))
            name = ""
    return "\n".join(lines) if any_row else ""


def python_only(args):
    """`bench.sh --python`: the Python figures of this run in the docs of the last full run."""
    with open(args.markdown) as f:
        lines = f.read().rstrip("\n").split("\n")
    # The meta lines: replaced by key, new keys after the last one.
    for m in args.meta:
        k, _, v = m.partition("=")
        line = "- **%s**: %s" % (k, v)
        at = [i for i, l in enumerate(lines) if l.startswith("- **%s**:" % k)]
        if at:
            lines[at[0]] = line
        else:
            last = max(i for i, l in enumerate(lines) if l.startswith("- **"))
            lines.insert(last + 1, line)
    # The Python goal rows, where the old ones were (else before the C row, else at the end).
    # A goal row or a subsection whose JSON is missing keeps its old text.
    new_rows = goals([], {}, None, args.py_sansio, args.py_echo, args.py_rr, args.py_memory).split("\n")[2:]
    start = lines.index("## Goals")
    end = next(i for i in range(start + 3, len(lines)) if not lines[i].startswith("|"))
    rows = lines[start + 2 : end]
    name = lambda r: r.split("|")[1]  # noqa: E731
    fresh = {name(r): r for r in new_rows}
    rows = [fresh.pop(name(r), r) for r in rows]
    at = next((i for i, r in enumerate(rows) if r.startswith("| C:")), len(rows))
    rows[at:at] = list(fresh.values())
    lines[start + 2 : end] = rows

    def section(title):
        i = lines.index(title)
        j = next((k for k in range(i + 1, len(lines)) if lines[k].startswith("## ")), len(lines))
        return i, j

    i, j = section("## Python")

    def subsections(text_lines):
        out, cur = [], None
        for l in text_lines:
            if l.startswith("### "):
                cur = [l]
                out.append(cur)
            elif cur is not None:
                cur.append(l)
        return [(sec[0].split("(")[0].strip(), "\n".join(sec).rstrip()) for sec in out]

    old_secs = subsections(lines[i + 1 : j])
    new_secs = dict(subsections(python_tables(args.py_sansio, args.py_echo, args.py_memory, args.py_rr).split("\n")))
    merged = [new_secs.pop(k, v) for k, v in old_secs]
    mem_at = next((n for n, (k, _) in enumerate(old_secs) if k.startswith("### Memory")), len(merged))
    merged[mem_at:mem_at] = list(new_secs.values())
    lines[i:j] = ["## Python", ""] + "\n\n".join(merged).split("\n") + [""]
    if args.notes and os.path.isfile(args.notes):
        with open(args.notes) as f:
            notes = f.read().rstrip().split("\n")
        i = lines.index(notes[0])
        lines[i:] = notes
    with open(args.markdown, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--criterion", default="target/criterion")
    ap.add_argument("--markdown")
    ap.add_argument("--png")
    ap.add_argument("--py-sansio", help="JSON of benches/python/bench.py sansio")
    ap.add_argument("--py-echo", help="JSON of benches/python/bench.py echo")
    ap.add_argument("--py-memory", help="JSON of benches/python/bench.py memory")
    ap.add_argument("--py-rr", help="JSON of benches/python/asyncio_bench.py run")
    ap.add_argument("--c", help="JSON of benches/c/bench.c")
    ap.add_argument("--notes", help="markdown file appended after the tables")
    ap.add_argument("--deflate-wire", help="JSON of bytes on the wire per message (benches/deflate)")
    ap.add_argument("--meta", action="append", default=[])
    ap.add_argument("--python-only", action="store_true",
                    help="rewrite only the Python parts of an existing --markdown file (its "
                    "Python goal rows, the Python section and the notes) and its --meta lines")
    args = ap.parse_args()
    if args.python_only:
        python_only(args)
        return
    data = load(args.criterion)
    table = rows(data)
    dfl = deflate_table(data, args.deflate_wire)
    if not table and not dfl:
        sys.exit("no criterion results under %s" % args.criterion)
    md = markdown_table(table) if table else ""
    print(md)
    if dfl:
        print()
        print("permessage-deflate (MB/s of message data; wire B = frame bytes per message):")
        print(dfl)
    if args.png:
        chart(table, args.png)
    if args.markdown:
        parts = ["# Benchmarks", ""]
        for m in args.meta:
            k, _, v = m.partition("=")
            parts.append("- **%s**: %s" % (k, v))
        parts += ["", "## Goals", "", goals(table, data, args.c, args.py_sansio, args.py_echo, args.py_rr, args.py_memory), ""]
        parts += ["## Rust core", "", md, "", "### Peers (messages/s through the in-memory socket)", "", peers_table(table), ""]
        if args.png:
            parts += ["![chart](%s)" % os.path.basename(args.png), ""]
        if dfl:
            parts += [
                "## permessage-deflate",
                "",
                "Server side, text-like payloads (chat text), 15-bit windows, level 6. MB/s of "
                "uncompressed message data; wire B = bytes of the frame per message; "
                "x flate2 = flate2's time / ours (benches/deflate).",
                "",
                dfl,
                "",
            ]
        py = python_tables(args.py_sansio, args.py_echo, args.py_memory, args.py_rr)
        if py:
            parts += ["## Python", "", py, ""]
        if args.c and os.path.isfile(args.c):
            parts += ["## C", "", c_table(args.c, data), ""]
        if args.notes and os.path.isfile(args.notes):
            with open(args.notes) as f:
                parts += [f.read().rstrip(), ""]
        with open(args.markdown, "w") as f:
            f.write("\n".join(parts))


if __name__ == "__main__":
    main()
