"""Python benchmarks: the wsmachine wheel against wsproto, websockets and picows.

    python bench.py sansio  [--seconds S] [--json OUT]   # protocol layer, in memory
    python bench.py echo    [--seconds S] [--json OUT]   # asyncio echo round trips, loopback
    python bench.py memory  [--conns N]   [--json OUT]   # RSS per idle connection, loopback
    python bench.py deflate [--seconds S] [--json OUT] [--smoke]  # permessage-deflate, loopback

sansio — the same workloads as the Rust benchmarks (sizes 16 B .. 1 MiB, a pool of distinct
  messages, one FIN frame each), driven through each library's sans-IO API, one message per
  call, in one process:
  * wsmachine: ``WSConnection`` (wsproto's API): ``receive_data(frame)`` + ``events()`` /
    ``send(BytesMessage(...))``; handshake: request in, ``Request`` event, 101 out.
  * wsproto 1.3.2: the same calls.
  * websockets 17.4 (``websockets.server.ServerProtocol`` / ``websockets.client.ClientProtocol``
    created OPEN): ``receive_data`` + ``events_received()`` (text frames decoded with
    ``bytes.decode()``: its sans-IO layer leaves UTF-8 to the asyncio layer) /
    ``send_binary`` + ``data_to_send()``; handshake: ``receive_data`` + ``accept`` +
    ``send_response`` + ``data_to_send()``.
echo — messages/s of sequential round trips (send, wait for the echo) at 256 B, 8 KiB and
  100 KiB from ONE client (picows's, the fastest available, so the client costs the same for
  every server) to each server on 127.0.0.1: examples/python/echo_server.py (wsmachine),
  wsmachine-lean (the same wheel behind a minimal asyncio.Protocol, benches/python/servers.py),
  websockets' asyncio server (compression off, no size limit) and picows's server (also in
  servers.py). Each server runs in its own process on the default asyncio event loop; rounds
  interleave the servers and the best of 3 rounds counts.
deflate — permessage-deflate throughput and size on the wire: text-like messages of 1 KiB,
  16 KiB and 1 MiB (a pool of distinct messages, context takeover on) pipelined by a client
  through an echo server on 127.0.0.1 and back, each library against itself with the same
  settings (15-bit windows both ways, zlib level 6): the wsmachine wheel
  (examples/python/client.py and echo_server.py) and websockets 17.4 (servers.py
  websockets-deflate). MB/s is message payload per second each way (each message is
  compressed and inflated twice); wire bytes are the client socket's TCP bytes sent per
  message (TCP_INFO bytes_acked). Best of 3 interleaved rounds; prints a table with ratios.
  --smoke: one short round (checks that it works, for tests).
memory — a server process holds N idle connections (default 10,000) opened by a client
  process; (RSS with them - RSS before) / N, for wsmachine.asyncio's `serve`
  (servers.py wsmachine-asyncio), wsmachine's example echo server, and the websockets,
  picows and aiohttp servers of servers.py (default asyncio event loop).
asyncio_bench.py (next to this file) has the request-response benchmark: each library's
  client against its own server, asyncio and uvloop.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import socket
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SIZES = [16, 125, 1024, 16 << 10, 64 << 10, 1 << 20]
POOL_BYTES = 2 << 20

WORDS = (
    "the quick brown fox jumps over lazy dog message server client hello world websocket "
    "frame latency throughput connection price update order filled ticker BTC-USD 12345.67 "
    "café naïve résumé Zürich señor straße Kraków καλημέρα κόσμε привет мир 日本語 東京 "
    "中文 한국어 “quoted” … €42 😀 🚀 👍🏽 ok"
).split()


def text_payload(rng: random.Random, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        w = rng.choice(WORDS).encode()
        if len(out) + len(w) < n:
            out += w + b" "
        else:
            while len(out) < n:
                out.append(97 + rng.randrange(26))
    return bytes(out)


def pool_len(size: int) -> int:
    return max(4, min(256, POOL_BYTES // size))


def payloads(text: bool, size: int, seed: int) -> List[bytes]:
    rng = random.Random(seed * 1000003 + size)
    return [text_payload(rng, size) if text else rng.randbytes(size) for _ in range(pool_len(size))]


def frame(opcode: int, payload: bytes, mask: bytes | None) -> bytes:
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head = bytes([0x80 | opcode, m | n])
    elif n <= 0xFFFF:
        head = bytes([0x80 | opcode, m | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, m | 127]) + n.to_bytes(8, "big")
    if not mask:
        return head + payload
    k = int.from_bytes(mask * ((n + 3) // 4), "little") if n else 0
    body = (int.from_bytes(payload, "little") ^ k).to_bytes(((n + 3) // 4) * 4, "little")[:n] if n else b""
    return head + mask + body


def frames(text: bool, size: int, masked: bool) -> List[bytes]:
    rng = random.Random(77 + size)
    return [frame(1 if text else 2, p, rng.randbytes(4) if masked else None) for p in payloads(text, size, 1)]


REQUEST = (
    "GET /chat?room={room} HTTP/1.1\r\nHost: chat.example.com\r\nConnection: Upgrade\r\n"
    "Pragma: no-cache\r\nCache-Control: no-cache\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\nUpgrade: websocket\r\n"
    "Origin: https://chat.example.com\r\nSec-WebSocket-Version: 13\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en-US,en;q=0.9,de;q=0.8\r\n"
    "Cookie: session={session:016x}; theme=dark\r\nSec-WebSocket-Key: {key}\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "Sec-WebSocket-Protocol: chat, superchat\r\n\r\n"
)


def requests(n: int = 256) -> List[bytes]:
    import base64

    rng = random.Random(5)
    return [
        REQUEST.format(
            room=rng.randrange(1000), session=rng.getrandbits(64), key=base64.b64encode(rng.randbytes(16)).decode()
        ).encode()
        for _ in range(n)
    ]


def timeit(run: Callable[[int], None], seconds: float) -> float:
    """Seconds per call of run(1), measured over batches until `seconds` have passed (best of
    3 batches' rates)."""
    run(1)
    n = 1
    while True:
        t = time.perf_counter()
        run(n)
        dt = time.perf_counter() - t
        if dt > seconds / 10:
            break
        n *= 4
    best = float("inf")
    for _ in range(3):
        gc.collect()
        t = time.perf_counter()
        run(n)
        best = min(best, (time.perf_counter() - t) / n)
    return best


# ---------------------------------------------------------------------------------------------
# Sans-IO drivers: each returns run(n) closures
# ---------------------------------------------------------------------------------------------


def open_wsproto_like(mod: Any, server: bool) -> Any:
    """An OPEN connection of wsproto or wsmachine (same API), by an in-memory handshake."""
    from wsproto import ConnectionType as WPType

    ws_mod = mod
    ct = ws_mod.ConnectionType if hasattr(ws_mod, "ConnectionType") else WPType
    srv = ws_mod.WSConnection(ct.SERVER)
    cli = ws_mod.WSConnection(ct.CLIENT)
    req = cli.send(ws_mod.events.Request(host="example.com", target="/"))
    srv.receive_data(req)
    list(srv.events())
    resp = srv.send(ws_mod.events.AcceptConnection())
    cli.receive_data(resp)
    list(cli.events())
    return srv if server else cli


def lib_wsproto() -> Any:
    import wsproto
    import wsproto.events

    return wsproto


def lib_wsmachine() -> Any:
    import wsmachine.wsproto as w
    import wsmachine.wsproto.events  # noqa: F401

    return w


def sansio_drivers(name: str) -> Dict[str, Callable[..., Callable[[int], None]]]:
    if name in ("wsmachine", "wsproto"):
        mod = lib_wsmachine() if name == "wsmachine" else lib_wsproto()
        ev = mod.events

        def decode(fr: List[bytes], server: bool, text: bool) -> Callable[[int], None]:
            ws = open_wsproto_like(mod, server)
            kinds = (ev.TextMessage, ev.BytesMessage)

            def run(n: int) -> None:
                i = 0
                m = len(fr)
                for _ in range(n):
                    ws.receive_data(fr[i])
                    for e in ws.events():
                        assert isinstance(e, kinds) and e.message_finished
                    i = (i + 1) % m

            return run

        def encode(pl: List[bytes], server: bool) -> Callable[[int], None]:
            ws = open_wsproto_like(mod, server)
            Bytes = ev.BytesMessage

            def run(n: int) -> None:
                i = 0
                m = len(pl)
                for _ in range(n):
                    ws.send(Bytes(data=pl[i]))
                    i = (i + 1) % m

            return run

        def handshake(reqs: List[bytes]) -> Callable[[int], None]:
            ct = mod.ConnectionType

            def run(n: int) -> None:
                i = 0
                m = len(reqs)
                for _ in range(n):
                    ws = mod.WSConnection(ct.SERVER)
                    ws.receive_data(reqs[i])
                    for e in ws.events():
                        assert isinstance(e, ev.Request)
                    ws.send(ev.AcceptConnection())
                    i = (i + 1) % m

            return run

        return {"decode": decode, "encode": encode, "handshake": handshake}

    if name == "websockets":
        from websockets.client import ClientProtocol
        from websockets.frames import Opcode
        from websockets.protocol import State
        from websockets.server import ServerProtocol
        from websockets.uri import parse_uri

        def proto(server: bool) -> Any:
            if server:
                return ServerProtocol(state=State.OPEN, max_size=None)
            return ClientProtocol(parse_uri("ws://example.com/"), state=State.OPEN, max_size=None)

        def decode(fr: List[bytes], server: bool, text: bool) -> Callable[[int], None]:
            p = proto(server)
            TEXT = Opcode.TEXT

            def run(n: int) -> None:
                i = 0
                m = len(fr)
                for _ in range(n):
                    p.receive_data(fr[i])
                    for f in p.events_received():
                        if f.opcode is TEXT:
                            f.data.decode()
                    i = (i + 1) % m

            return run

        def encode(pl: List[bytes], server: bool) -> Callable[[int], None]:
            p = proto(server)

            def run(n: int) -> None:
                i = 0
                m = len(pl)
                for _ in range(n):
                    p.send_binary(pl[i])
                    p.data_to_send()
                    i = (i + 1) % m

            return run

        def handshake(reqs: List[bytes]) -> Callable[[int], None]:
            def run(n: int) -> None:
                i = 0
                m = len(reqs)
                for _ in range(n):
                    p = ServerProtocol()
                    p.receive_data(reqs[i])
                    (request,) = p.events_received()
                    p.send_response(p.accept(request))
                    p.data_to_send()
                    i = (i + 1) % m

            return run

        return {"decode": decode, "encode": encode, "handshake": handshake}
    raise ValueError(name)


SANSIO_LIBS = ["wsmachine", "wsproto", "websockets"]
DECODE = [
    ("server_decode_text", True, True),
    ("server_decode_binary", False, True),
    ("client_decode_text", True, False),
    ("client_decode_binary", False, False),
]
ENCODE = [("server_encode", True), ("client_encode", False)]


def sansio(seconds: float) -> Dict[str, float]:
    """{"lib/workload/size": seconds per message}"""
    res: Dict[str, float] = {}
    for lib in SANSIO_LIBS:
        d = sansio_drivers(lib)
        for group, text, masked in DECODE:
            for size in SIZES:
                fr = frames(text, size, masked)
                res["%s/%s/%d" % (lib, group, size)] = timeit(d["decode"](fr, masked, text), seconds)
                print("  %-11s %-21s %8d  %10.0f msg/s" % (lib, group, size, 1 / res["%s/%s/%d" % (lib, group, size)]), file=sys.stderr)
        for group, server in ENCODE:
            for size in SIZES:
                pl = payloads(False, size, 2)
                res["%s/%s/%d" % (lib, group, size)] = timeit(d["encode"](pl, server), seconds)
                print("  %-11s %-21s %8d  %10.0f msg/s" % (lib, group, size, 1 / res["%s/%s/%d" % (lib, group, size)]), file=sys.stderr)
        res["%s/server_handshake/0" % lib] = timeit(d["handshake"](requests()), seconds)
        print("  %-11s server_handshake  %10.0f /s" % (lib, 1 / res["%s/server_handshake/0" % lib]), file=sys.stderr)
    return res


# ---------------------------------------------------------------------------------------------
# End-to-end echo
# ---------------------------------------------------------------------------------------------

ECHO_SIZES = [256, 8 << 10, 100 << 10]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(impl: str, port: int) -> subprocess.Popen:
    py = sys.executable
    if impl == "wsmachine":
        cmd = [py, os.path.join(REPO, "examples", "python", "echo_server.py"), "--port", str(port)]
    else:
        cmd = [py, os.path.join(HERE, "servers.py"), impl, str(port)]

    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("%s server exited: %s" % (impl, proc.stderr.read().decode() if proc.stderr else ""))
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("%s server did not start" % impl)


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def echo_client(port: int, size: int, seconds: float) -> float:
    """Round trips per second, one message in flight (picows client)."""
    from picows import WSListener, WSMsgType, ws_connect

    payload = random.Random(size).randbytes(size)
    loop = asyncio.get_running_loop()

    class Client(WSListener):  # type: ignore[misc]
        def __init__(self) -> None:
            self.transport: Any = None
            self.got = 0
            self.count = 0
            self.limit = 0
            self.done: asyncio.Future[None] = loop.create_future()

        def on_ws_connected(self, transport: Any) -> None:
            self.transport = transport

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type not in (WSMsgType.BINARY, WSMsgType.CONTINUATION):
                return
            self.got += len(frame.get_payload_as_memoryview())
            if not frame.fin or self.got < size:
                return
            self.got = 0
            self.count += 1
            if self.count >= self.limit:
                if not self.done.done():
                    self.done.set_result(None)
                return
            transport.send(WSMsgType.BINARY, payload)

        async def run(self, n: int) -> float:
            self.count = 0
            self.limit = n
            self.done = loop.create_future()
            t = time.perf_counter()
            self.transport.send(WSMsgType.BINARY, payload)
            await asyncio.wait_for(self.done, 120)
            return time.perf_counter() - t

    transport, client = await ws_connect(Client, "ws://127.0.0.1:%d/" % port, max_frame_size=16 << 20)
    try:
        await client.run(50)  # warm-up
        n = 200
        while True:
            dt = await client.run(n)
            if dt > seconds / 4 or n >= 1 << 20:
                break
            n *= 2
        return n / await client.run(n)
    finally:
        transport.disconnect()


ECHO_IMPLS = ["wsmachine", "wsmachine-lean", "websockets", "picows"]
ECHO_ROUNDS = 3


def echo(seconds: float) -> Dict[str, float]:
    """Every server runs for the whole benchmark; rounds interleave the servers (so a burst
    of load elsewhere on the machine does not land on one of them only) and the best round
    counts."""
    res: Dict[str, float] = {}
    procs = {}
    try:
        for impl in ECHO_IMPLS:
            port = free_port()
            procs[impl] = (port, start_server(impl, port))
        for impl, (port, _) in procs.items():
            asyncio.run(echo_client(port, 256, 0.1))  # warm-up
        for r in range(ECHO_ROUNDS):
            for size in ECHO_SIZES:
                for impl, (port, _) in procs.items():
                    rate = asyncio.run(echo_client(port, size, seconds))
                    key = "%s/%d" % (impl, size)
                    res[key] = max(res.get(key, 0.0), rate)
                    print("  echo round %d %-14s %7d B  %9.0f round trips/s" % (r, impl, size, rate), file=sys.stderr)
    finally:
        for _, proc in procs.values():
            stop_server(proc)
    return res


# ---------------------------------------------------------------------------------------------
# Memory per idle connection
# ---------------------------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def hold_connections(port: int, n: int, ready: Callable[[], None]) -> None:
    import base64

    sem = asyncio.Semaphore(256)
    writers: List[asyncio.StreamWriter] = []

    async def one(i: int) -> None:
        async with sem:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            key = base64.b64encode(i.to_bytes(16, "little")).decode()
            w.write(
                (
                    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key
                ).encode()
            )
            head = await r.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 101"), head[:40]
            writers.append(w)

    await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), 300)
    ready()
    for w in writers:
        w.close()


MEMORY_IMPLS = ["wsmachine-asyncio", "wsmachine", "websockets", "picows", "aiohttp"]


def memory(conns: int) -> Dict[str, float]:
    res: Dict[str, float] = {"conns": conns}
    for impl in MEMORY_IMPLS:
        port = free_port()
        proc = start_server(impl, port)
        try:
            time.sleep(0.5)
            before = rss_kib(proc.pid)
            after = [0]

            def ready() -> None:
                time.sleep(1.0)  # let the server settle (its last handshakes, GC)
                after[0] = rss_kib(proc.pid)

            asyncio.run(hold_connections(port, conns, ready))
            per = (after[0] - before) * 1024 / conns
            res["%s/bytes_per_conn" % impl] = per
            res["%s/rss_before_kib" % impl] = before
            res["%s/rss_after_kib" % impl] = after[0]
            print("  memory %-10s %d conns: RSS %d -> %d KiB, %.0f B/connection" % (impl, conns, before, after[0], per), file=sys.stderr)
        finally:
            stop_server(proc)
    return res


# ---------------------------------------------------------------------------------------------
# permessage-deflate over loopback
# ---------------------------------------------------------------------------------------------

DEFLATE_SIZES = [1 << 10, 16 << 10, 1 << 20]
DEFLATE_IMPLS = {"wsmachine": "wsmachine", "websockets": "websockets-deflate"}


def tcp_bytes(sock: Any) -> Tuple[int, int]:
    """(bytes_acked, bytes_received) of a connected TCP socket (Linux struct tcp_info)."""
    import struct

    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
    return struct.unpack_from("QQ", info, 120)


class DeflateClient:
    """One library's client: send(msg), recv() -> msg, the socket, close()."""

    async def open(self, impl: str, port: int) -> None:
        url = "ws://127.0.0.1:%d/" % port
        if impl == "wsmachine":
            sys.path.insert(0, os.path.join(REPO, "examples", "python"))
            import client as ws_client  # examples/python/client.py

            c = await ws_client.connect(url)  # offers permessage-deflate
            assert any(e.enabled() for e in c.extensions), "permessage-deflate not agreed"
            self.sock = c.writer.get_extra_info("socket")
            self.send = c.send_message
            self.recv = c.recv
            self.close = c.close
        else:
            from websockets.asyncio.client import connect

            sys.path.insert(0, HERE)
            from servers import websockets_deflate

            ws = await connect(url, compression=None, extensions=[websockets_deflate(False)],
                               max_size=None, ping_interval=None)
            assert ws.response is not None
            assert "permessage-deflate" in ws.response.headers.get("Sec-WebSocket-Extensions", "")
            self.sock = ws.transport.get_extra_info("socket")
            self.send = ws.send
            self.recv = ws.recv
            self.close = ws.close

    async def run(self, msgs: List[str], n: int) -> Tuple[float, int, int]:
        """Pipelines n messages through the echo server: (seconds, bytes sent, received)."""
        sent0, recv0 = tcp_bytes(self.sock)

        async def sender() -> None:
            for i in range(n):
                await self.send(msgs[i % len(msgs)])

        t = time.perf_counter()
        task = asyncio.ensure_future(sender())
        for i in range(n):
            m = await self.recv()
            if m != msgs[i % len(msgs)]:
                raise AssertionError("echo %d differs" % i)
        await task
        dt = time.perf_counter() - t
        sent1, recv1 = tcp_bytes(self.sock)
        return dt, sent1 - sent0, recv1 - recv0


async def deflate_measure(impl: str, port: int, size: int, seconds: float, smoke: bool) -> Dict[str, float]:
    msgs = [p.decode() for p in payloads(True, size, 3)]
    c = DeflateClient()
    await c.open(impl, port)
    try:
        if smoke:
            n = 1 if size >= 1 << 20 else 10
        else:
            await c.run(msgs, max(2, len(msgs) // 4))  # warm-up
            n = 8
            while True:
                dt, _, _ = await c.run(msgs, n)
                if dt > seconds or n >= 1 << 20:
                    break
                n *= 2
        dt, sent, received = await c.run(msgs, n)
    finally:
        await c.close()
    return {"mb_per_s": n * size / dt / 1e6, "wire_per_msg": sent / n, "wire_in_per_msg": received / n, "n": n}


def deflate_table(res: Dict[str, float], sizes: List[int]) -> str:
    lines = [
        "permessage-deflate echo over loopback: text-like messages, context takeover, 15-bit windows, zlib level 6",
        "%-8s | %15s %15s %7s | %17s %17s %7s %9s"
        % ("size", "wsmachine MB/s", "websockets MB/s", "ratio", "wsmachine B/msg", "websockets B/msg", "ratio", "wsm/raw"),
    ]
    for size in sizes:
        a = res["wsmachine/%d/mb_per_s" % size]
        b = res["websockets/%d/mb_per_s" % size]
        wa = res["wsmachine/%d/wire_per_msg" % size]
        wb = res["websockets/%d/wire_per_msg" % size]
        label = "%d KiB" % (size >> 10) if size < 1 << 20 else "%d MiB" % (size >> 20)
        lines.append("%-8s | %15.1f %15.1f %6.2fx | %17.0f %17.0f %6.3fx %8.1f%%"
                     % (label, a, b, a / b, wa, wb, wa / wb, 100 * wa / size))
    lines.append("ratio: wsmachine / websockets (MB/s: higher is faster; B/msg: lower is smaller). "
                 "B/msg: TCP bytes the client sent per message (frame headers and mask included).")
    return "\n".join(lines)


def deflate(seconds: float, smoke: bool) -> Dict[str, float]:
    sizes = DEFLATE_SIZES
    rounds = 1 if smoke else ECHO_ROUNDS
    res: Dict[str, float] = {}
    procs = {}
    try:
        for impl, server in DEFLATE_IMPLS.items():
            port = free_port()
            procs[impl] = (port, start_server(server, port))
        for r in range(rounds):
            for size in sizes:
                for impl, (port, _) in procs.items():
                    m = asyncio.run(deflate_measure(impl, port, size, seconds, smoke))
                    key = "%s/%d/" % (impl, size)
                    if m["mb_per_s"] > res.get(key + "mb_per_s", 0.0):
                        for k, v in m.items():
                            res[key + k] = v
                    print("  deflate round %d %-10s %8d B  %8.1f MB/s  %8.0f B/msg on the wire"
                          % (r, impl, size, m["mb_per_s"], m["wire_per_msg"]), file=sys.stderr)
    finally:
        for _, proc in procs.values():
            stop_server(proc)
    print(deflate_table(res, sizes))
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["sansio", "echo", "memory", "deflate"])
    ap.add_argument("--seconds", type=float, default=0.3)
    ap.add_argument("--conns", type=int, default=10_000)
    ap.add_argument("--json")
    ap.add_argument("--smoke", action="store_true", help="deflate: one short round")
    a = ap.parse_args()
    if a.what == "sansio":
        res = sansio(a.seconds)
    elif a.what == "echo":
        res = echo(a.seconds)
    elif a.what == "deflate":
        res = deflate(a.seconds, a.smoke)
    else:
        res = memory(a.conns)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
