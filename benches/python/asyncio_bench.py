"""Request-response over loopback, each library's client against its own server: the shape of
tarasko/websocket-benchmark (one client: send a message, wait for its echo, send the next),
for wsmachine.asyncio, picows, websockets (its new asyncio API) and aiohttp, on the default
asyncio event loop and on uvloop, plus the total messages/s of 100 such clients at once.

    python asyncio_bench.py run [--seconds S] [--warmup W] [--rounds R] [--json OUT] [--smoke]
    python asyncio_bench.py client LIB LOOP PORT SIZE [--conns N] [--seconds S] [--warmup W]

run — for each library and loop, starts the echo server (benches/python/servers.py, its own
  process, pinned to CPU 0 with taskset when there is one) and, for each size (256 B, 8 KiB,
  100 KiB: binary messages), runs the same library's client in another process (pinned to
  CPU 1): one connection, one message in flight; round trips are counted for S seconds
  (default 3) after W seconds of warm-up (default 0.5). Then 100 connections of that client,
  each doing the same with 1 KiB messages: total messages/s. Rounds (default 2) interleave
  the libraries (a burst of load elsewhere on the machine does not land on one of them only);
  the best round counts. Prints the table with ratios to picows and to websockets.
  --smoke: one round of 0.3 s at 256 B and 100 connections (checks that it works).
client — one measurement (what `run` starts); prints a JSON line.

Every server and client is the library's ordinary API: wsmachine.asyncio `serve`/`connect`
(`async for` + `send` / `send` + `recv`), websockets.asyncio.server.serve / client.connect
(the same), aiohttp web.WebSocketResponse / ClientSession.ws_connect (`send_bytes` +
`receive_bytes`), picows ws_create_server / ws_connect (a WSListener whose on_ws_frame sends
the next message: picows has no awaitable receive). Compression is off everywhere and so is
keepalive (see servers.py); the size limits admit 100 KiB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench import free_port, stop_server  # noqa: E402

LIBS = ["wsmachine.asyncio", "picows", "websockets", "aiohttp"]
SERVER = {"wsmachine.asyncio": "wsmachine-asyncio", "picows": "picows", "websockets": "websockets", "aiohttp": "aiohttp"}
LOOPS = ["asyncio", "uvloop"]
SIZES = [256, 8 << 10, 100 << 10]
MANY_CONNS = 100
MANY_SIZE = 1 << 10


class Counter:
    """Round trips done; `stop` ends the clients' loops."""

    def __init__(self) -> None:
        self.n = 0
        self.stop = False


# ---------------------------------------------------------------------------------------------
# Clients: open(url, n) -> closers; each connection loops request -> echo until counter.stop
# ---------------------------------------------------------------------------------------------


async def run_wsmachine(url: str, msg: bytes, conns: int, c: Counter, opened: asyncio.Event) -> None:
    from wsmachine.asyncio import connect

    wss = [await connect(url, compression=None, ping_interval=None) for _ in range(conns)]

    async def one(ws: Any) -> None:
        size = len(msg)
        while not c.stop:
            await ws.send(msg)
            if len(await ws.recv()) != size:
                raise AssertionError("short echo")
            c.n += 1

    opened.set()
    await asyncio.gather(*(one(ws) for ws in wss))
    for ws in wss:
        await ws.close()


async def run_websockets(url: str, msg: bytes, conns: int, c: Counter, opened: asyncio.Event) -> None:
    from websockets.asyncio.client import connect

    wss = [await connect(url, compression=None, ping_interval=None, max_size=None) for _ in range(conns)]

    async def one(ws: Any) -> None:
        size = len(msg)
        while not c.stop:
            await ws.send(msg)
            if len(await ws.recv()) != size:
                raise AssertionError("short echo")
            c.n += 1

    opened.set()
    await asyncio.gather(*(one(ws) for ws in wss))
    for ws in wss:
        await ws.close()


async def run_aiohttp(url: str, msg: bytes, conns: int, c: Counter, opened: asyncio.Event) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        wss = [await session.ws_connect(url, compress=0) for _ in range(conns)]

        async def one(ws: Any) -> None:
            size = len(msg)
            while not c.stop:
                await ws.send_bytes(msg)
                if len(await ws.receive_bytes()) != size:
                    raise AssertionError("short echo")
                c.n += 1

        opened.set()
        await asyncio.gather(*(one(ws) for ws in wss))
        for ws in wss:
            await ws.close()


async def run_picows(url: str, msg: bytes, conns: int, c: Counter, opened: asyncio.Event) -> None:
    from picows import WSListener, WSMsgType, ws_connect

    size = len(msg)
    loop = asyncio.get_running_loop()

    class Client(WSListener):  # type: ignore[misc]
        def __init__(self) -> None:
            self.got = 0
            self.done: asyncio.Future[None] = loop.create_future()

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type != WSMsgType.BINARY and frame.msg_type != WSMsgType.CONTINUATION:
                return
            self.got += frame.payload_size
            if not frame.fin:
                return
            if self.got != size:
                raise AssertionError("short echo")
            self.got = 0
            c.n += 1
            if c.stop:
                self.done.set_result(None)
            else:
                transport.send(WSMsgType.BINARY, msg)

    pairs = [await ws_connect(Client, url, read_buffer_init_size=size + 1024) for _ in range(conns)]
    opened.set()
    for transport, _ in pairs:
        transport.send(WSMsgType.BINARY, msg)
    for transport, client in pairs:
        await client.done
        transport.disconnect()


CLIENTS = {"wsmachine.asyncio": run_wsmachine, "picows": run_picows, "websockets": run_websockets, "aiohttp": run_aiohttp}


async def measure(lib: str, port: int, size: int, conns: int, warmup: float, seconds: float) -> Dict[str, float]:
    """Round trips per second over `seconds` after `warmup`, all connections together."""
    msg = os.urandom(size)
    c = Counter()
    opened = asyncio.Event()
    task = asyncio.ensure_future(CLIENTS[lib]("ws://127.0.0.1:%d/" % port, msg, conns, c, opened))
    await asyncio.wait([task, asyncio.ensure_future(opened.wait())], timeout=30, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()  # failed while connecting
    if not opened.is_set():
        raise RuntimeError("%s: connections not open after 30 s" % lib)
    await asyncio.sleep(warmup)
    n0, t0 = c.n, time.perf_counter()
    await asyncio.sleep(seconds)
    n1, t1 = c.n, time.perf_counter()
    c.stop = True
    await asyncio.wait_for(task, 30)
    return {"rate": (n1 - n0) / (t1 - t0), "count": n1 - n0, "seconds": t1 - t0}


# ---------------------------------------------------------------------------------------------
# The driver: servers and clients in their own processes
# ---------------------------------------------------------------------------------------------


def pin(cpu: int) -> List[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > cpu:
        return ["taskset", "-c", str(cpu)]
    return []


def start(lib: str, loop: str) -> tuple[int, subprocess.Popen]:
    import socket

    port = free_port()
    cmd = pin(0) + [sys.executable, os.path.join(HERE, "servers.py"), SERVER[lib], str(port), loop]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return port, proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("%s server exited: %s" % (lib, proc.stderr.read().decode() if proc.stderr else ""))
            time.sleep(0.05)
    stop_server(proc)
    raise RuntimeError("%s server did not start" % lib)


def client(lib: str, loop: str, port: int, size: int, conns: int, warmup: float, seconds: float) -> float:
    cmd = pin(1) + [
        sys.executable, os.path.abspath(__file__), "client", lib, loop, str(port), str(size),
        "--conns", str(conns), "--warmup", str(warmup), "--seconds", str(seconds),
    ]
    out = subprocess.run(cmd, capture_output=True, timeout=warmup + seconds + 60, check=False)
    if out.returncode != 0:
        raise RuntimeError("%s/%s client failed: %s" % (lib, loop, out.stderr.decode()[-2000:]))
    return float(json.loads(out.stdout.decode().strip().splitlines()[-1])["rate"])


def key(lib: str, loop: str, size: int, conns: int) -> str:
    return "%s/%s/%s" % (lib, loop, size if conns == 1 else "c%d" % conns)


def label(size: int) -> str:
    return "%d KiB" % (size >> 10) if size >= 1024 else "%d B" % size


def table(res: Dict[str, Any]) -> str:
    rows = [(s, 1) for s in SIZES] + [(MANY_SIZE, MANY_CONNS)]
    lines = ["request-response over loopback, each library's client against its own server (round trips/s)",
             "%-8s %-18s | %10s %10s %10s %10s | %9s %9s"
             % ("loop", "shape", *LIBS, "x picows", "x websockets")]
    for loop in LOOPS:
        for size, conns in rows:
            vals = [res.get(key(lib, loop, size, conns)) for lib in LIBS]
            if None in vals:
                continue
            shape = "%s, %s" % (label(size), "1 conn" if conns == 1 else "%d conns" % conns)
            lines.append("%-8s %-18s | %10.0f %10.0f %10.0f %10.0f | %8.2fx %8.2fx"
                         % (loop, shape, *vals, vals[0] / vals[1], vals[0] / vals[2]))
    return "\n".join(lines)


def run(seconds: float, warmup: float, rounds: int, smoke: bool) -> Dict[str, Any]:
    sizes = [256] if smoke else SIZES
    shapes = [(s, 1) for s in sizes] + [(MANY_SIZE, MANY_CONNS)]
    res: Dict[str, Any] = {}
    procs: Dict[tuple[str, str], tuple[int, subprocess.Popen]] = {}
    try:
        for lib in LIBS:
            for loop in LOOPS:
                procs[(lib, loop)] = start(lib, loop)
        for r in range(rounds):
            for size, conns in shapes:
                for (lib, loop), (port, _) in procs.items():
                    rate = client(lib, loop, port, size, conns, warmup, seconds)
                    k = key(lib, loop, size, conns)
                    res[k] = max(res.get(k, 0.0), rate)
                    print("  rr round %d %-17s %-7s %7d B x %3d conns  %9.0f round trips/s"
                          % (r, lib, loop, size, conns, rate), file=sys.stderr)
    finally:
        for _, proc in procs.values():
            stop_server(proc)
    res["meta"] = {"seconds": seconds, "warmup": warmup, "rounds": rounds, "pinned": bool(pin(1)),
                   "many_conns": MANY_CONNS, "many_size": MANY_SIZE, "versions": versions()}
    print(table(res))
    return res


def versions() -> Dict[str, str]:
    from importlib.metadata import version

    out = {}
    for dist in ["wsmachine", "picows", "websockets", "aiohttp", "uvloop"]:
        try:
            out[dist] = version(dist)
        except Exception:  # pragma: no cover - not installed
            out[dist] = "-"
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["run", "client"])
    ap.add_argument("args", nargs="*")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--conns", type=int, default=1)
    ap.add_argument("--json")
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    if a.what == "client":
        lib, loop, port, size = a.args[0], a.args[1], int(a.args[2]), int(a.args[3])
        sys.path.insert(0, HERE)
        from servers import run as run_on

        out: Dict[str, float] = {}

        async def go() -> None:
            out.update(await measure(lib, port, size, a.conns, a.warmup, a.seconds))

        run_on(go(), loop)
        print(json.dumps(out))
        return
    if a.smoke:
        res = run(0.3, 0.1, 1, True)
    else:
        res = run(a.seconds, a.warmup, a.rounds, False)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
