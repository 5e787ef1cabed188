#!/usr/bin/env python3
"""many-conns.py PORT N [--pid PID] -- holds N WebSocket connections to an echo server at once.

Opens N connections to 127.0.0.1:PORT (standard library only), completes every handshake,
echoes a distinct binary message on each while all are open, then checks the server's
connection limit: connection N+1 must get no handshake response while the N are held (the
server runs with --max-conns N), and must be served once one of them closes. With --pid it
prints the server's resident memory per held connection. Exit status 0 on success, 1 with
a message otherwise; every wait is bounded.
"""
import asyncio
import base64
import os
import sys

TIMEOUT = 30.0


async def handshake(port: int):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    w.write(
        (
            "GET /many HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    return r, w


async def echo(r, w, payload: bytes) -> None:
    mask = os.urandom(4)
    w.write(bytes([0x82, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    head = await r.readexactly(2)
    got = await r.readexactly(head[1] & 0x7F)
    if head[0] != 0x82 or got != payload:
        raise AssertionError(f"bad echo {head!r} {got!r} for {payload!r}")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def main() -> int:
    port, n = int(sys.argv[1]), int(sys.argv[2])
    pid = int(sys.argv[sys.argv.index("--pid") + 1]) if "--pid" in sys.argv else 0
    before = rss_kib(pid) if pid else 0
    conns = []
    # Connect in batches so the listen backlog never overflows.
    for start in range(0, n, 200):
        batch = await asyncio.gather(*(handshake(port) for _ in range(start, min(n, start + 200))))
        for r, w in batch:
            resp = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), TIMEOUT)
            if not resp.startswith(b"HTTP/1.1 101"):
                raise AssertionError(f"handshake refused: {resp[:60]!r}")
            conns.append((r, w))
    await asyncio.wait_for(
        asyncio.gather(*(echo(r, w, b"conn %d" % i) for i, (r, w) in enumerate(conns))), TIMEOUT
    )
    held = rss_kib(pid) if pid else 0
    # One more: no response while every slot is taken...
    r, w = await handshake(port)
    try:
        early = await asyncio.wait_for(r.read(1), 0.5)
        raise AssertionError(f"connection {n + 1} was served beyond --max-conns: {early!r}")
    except asyncio.TimeoutError:
        pass
    # ...and served once a slot frees up.
    conns[0][1].close()
    resp = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), TIMEOUT)
    if not resp.startswith(b"HTTP/1.1 101"):
        raise AssertionError(f"handshake refused after a slot freed: {resp[:60]!r}")
    await asyncio.wait_for(echo(r, w, b"late"), TIMEOUT)
    msg = f"many-conns: {n} connections held and echoed; connection {n + 1} waited for a free slot"
    if pid:
        msg += f"; server RSS {before} -> {held} KiB ({(held - before) / n:.1f} KiB per connection)"
    print(msg)
    for _, w in conns[1:] + [(r, w)]:
        w.close()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except (AssertionError, OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
        print(f"many-conns: FAILED: {e!r}")
        sys.exit(1)
