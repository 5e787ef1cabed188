"""The asyncio examples in examples/python (the sans-IO ones, and asyncio_echo.py /
asyncio_client.py on wsmachine.asyncio): echo server and client, ws:// and wss://
(certificate generated at test time), backpressure, keepalive, the README snippet, the
command lines, and the Autobahn driver protocol against a stand-in fuzzingserver."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional
from urllib.parse import parse_qs, urlsplit

import pytest

from wsmachine import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    ConnectionState,
    ConnectionType,
    Ping,
    Request,
    TextMessage,
    WSConnection,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "python"
sys.path.insert(0, str(EXAMPLES))

import asyncio_client  # noqa: E402
import client as ws_client  # noqa: E402
import echo_server  # noqa: E402


def run(coro: Any, timeout: float = 60) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def server_port(server: asyncio.Server) -> int:
    port: int = server.sockets[0].getsockname()[1]
    return port


MESSAGES: list[Any] = ["hello", "wörld 😀", b"\x00\x01binary", "", b"", "x" * 70000, os.urandom(1 << 20)]


async def echo_roundtrip(url: str, context: Optional[ssl.SSLContext] = None) -> None:
    c = await ws_client.connect(url, ssl_context=context)
    for m in MESSAGES:
        await c.send_message(m)
        assert await c.recv() == m
    await c.close()
    assert c.close_code == 1000
    assert c.ws.state is ConnectionState.CLOSED


def test_echo_ws() -> None:
    async def main() -> None:
        server = await echo_server.serve("127.0.0.1", 0)
        async with server:
            await echo_roundtrip(f"ws://127.0.0.1:{server_port(server)}/")

    run(main())


@pytest.mark.parametrize("server_deflate", [True, False], ids=["server-deflate", "server-no-deflate"])
@pytest.mark.parametrize("client_deflate", [True, False], ids=["client-deflate", "client-no-deflate"])
def test_echo_deflate_flags(server_deflate: bool, client_deflate: bool) -> None:
    async def main() -> None:
        server = await echo_server.serve("127.0.0.1", 0, deflate=server_deflate)
        async with server:
            c = await ws_client.connect(f"ws://127.0.0.1:{server_port(server)}/", deflate=client_deflate)
            on = server_deflate and client_deflate
            assert c.ws.state is ConnectionState.OPEN
            text = "the quick brown fox jumps over the lazy dog " * 2000
            frames = c.ws.send(TextMessage(data=text))
            # Compressed (RSV1, a fraction of the size) only when both ends want it.
            assert bool(frames[0] & 0x40) == on
            assert (len(frames) < len(text) // 10) == on
            await c.write(frames)
            assert await c.recv() == text
            for m in MESSAGES:
                await c.send_message(m)
                assert await c.recv() == m
            await c.close()
            assert c.close_code == 1000

    run(main())


def test_echo_wss(certs: tuple[Path, Path]) -> None:
    cert, key = certs

    async def main() -> None:
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(cert, key)
        cctx = ssl.create_default_context(cafile=str(cert))
        server = await echo_server.serve("127.0.0.1", 0, sctx)
        async with server:
            await echo_roundtrip(f"wss://localhost:{server_port(server)}/chat", cctx)
            # Without trusting the certificate the TLS handshake fails.
            with pytest.raises(ssl.SSLError):
                await ws_client.connect(f"wss://localhost:{server_port(server)}/",
                                        ssl_context=ssl.create_default_context())

    run(main())


def test_backpressure_pauses_reading() -> None:
    protocols: list[echo_server.EchoProtocol] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()

        def factory() -> echo_server.EchoProtocol:
            p = echo_server.EchoProtocol(write_buffer_high=16 << 10)
            protocols.append(p)
            return p

        server = await loop.create_server(factory, "127.0.0.1", 0)
        async with server:
            c = await ws_client.connect(f"ws://127.0.0.1:{server_port(server)}/")
            big = os.urandom(4 << 20)
            for _ in range(3):
                await c.send_message(big)
            await asyncio.sleep(0.2)  # let the server's output pile up while we do not read
            for _ in range(3):
                assert await c.recv() == big
            await c.close()

    run(main())
    assert protocols[0].pauses > 0


def test_server_keepalive_detects_dead_peer() -> None:
    async def main() -> None:
        server = await echo_server.serve("127.0.0.1", 0, keepalive=0.2, keepalive_timeout=0.3)
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server_port(server))
            ws = WSConnection(ConnectionType.CLIENT)
            writer.write(ws.send(Request(host="localhost", target="/")))
            seen: list[Any] = []
            start = time.monotonic()
            while True:
                data = await reader.read(65536)
                ws.receive_data(data or None)
                seen += list(ws.events())  # never answer the pings
                if not data:
                    break
            elapsed = time.monotonic() - start
            writer.close()
            assert isinstance(seen[0], AcceptConnection)
            assert any(isinstance(e, Ping) for e in seen)
            assert seen[-1] == CloseConnection(code=1006)
            assert 0.4 < elapsed < 5

    run(main())


def test_client_keepalive_pings() -> None:
    async def main() -> None:
        server = await echo_server.serve("127.0.0.1", 0)
        async with server:
            c = await ws_client.connect(f"ws://127.0.0.1:{server_port(server)}/", keepalive=0.1)
            await asyncio.sleep(0.35)  # the client pings; the server answers with pongs
            await c.send_message("still here")
            assert await c.recv() == "still here"
            assert c.ws.state is ConnectionState.OPEN
            await c.close()

    run(main())


def test_invalid_upgrade_gets_http_error() -> None:
    async def main() -> None:
        server = await echo_server.serve("127.0.0.1", 0)
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server_port(server))
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            response = await reader.read()
            writer.close()
            assert response.startswith(b"HTTP/1.1 400 ")

    run(main())


async def wait_port(port: int, proc: asyncio.subprocess.Process) -> None:
    for _ in range(200):
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            assert proc.returncode is None
            await asyncio.sleep(0.05)
    raise TimeoutError(port)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.parametrize(
    "script, client_script",
    [("readme_echo.py", "client.py"), ("echo_server.py", "client.py"), ("asyncio_echo.py", "asyncio_client.py")],
)
def test_server_scripts(script: str, client_script: str) -> None:
    async def main() -> None:
        port = free_port()
        args = [str(port)] if script == "readme_echo.py" else ["--host", "127.0.0.1", "--port", str(port)]
        proc = await asyncio.create_subprocess_exec(sys.executable, str(EXAMPLES / script), *args)
        try:
            await wait_port(port, proc)
            await echo_roundtrip(f"ws://127.0.0.1:{port}/")
            cli = await asyncio.create_subprocess_exec(
                sys.executable, str(EXAMPLES / client_script), "echo", "--url",
                f"ws://127.0.0.1:{port}/", "one", "two", stdout=asyncio.subprocess.PIPE)
            out, _ = await cli.communicate()
            assert cli.returncode == 0
            assert out.decode().split() == ["one", "two"]
        finally:
            proc.terminate()
            await proc.wait()

    run(main())


@pytest.mark.parametrize("driver", ["client", "asyncio_client"])
def test_autobahn_driver_protocol(driver: str) -> None:
    """client.py / asyncio_client.py autobahn against a stand-in fuzzingserver built on the
    wheel's sans-IO API."""
    log: list[str] = []
    echoed: list[Any] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ws = WSConnection(ConnectionType.SERVER)
        out = b""
        pending: list[Any] = []
        while True:
            data = await reader.read(65536)
            ws.receive_data(data or None)
            for ev in ws.events():
                if isinstance(ev, Request):
                    url = urlsplit(ev.target)
                    log.append(url.path + ("?" + url.query if url.query else ""))
                    out += ws.send(AcceptConnection())
                    if url.path == "/getCaseCount":
                        out += ws.send(TextMessage(data="2"))
                        out += ws.send(CloseConnection(code=1000))
                    elif url.path == "/runCase":
                        case = int(parse_qs(url.query)["case"][0])
                        pending = ["text %d" % case, b"bin%d" % case]
                        out += ws.send(TextMessage(data=pending[0], message_finished=False))
                        out += ws.send(Ping(payload=b"p"))
                        out += ws.send(TextMessage(data="", message_finished=True))
                        out += ws.send(BytesMessage(data=pending[1]))
                    else:
                        out += ws.send(CloseConnection(code=1000))
                elif isinstance(ev, (TextMessage, BytesMessage)):
                    echoed.append(ev.data)
                    pending = pending[1:]
                    if not pending:
                        out += ws.send(CloseConnection(code=1000, reason="case done"))
                elif isinstance(ev, CloseConnection) and ws.state is ConnectionState.REMOTE_CLOSING:
                    out += ws.send(ev.response())
            writer.write(out)
            out = b""
            if ws.should_close_transport or not data:
                break
        writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        async with server:
            module = ws_client if driver == "client" else asyncio_client
            await module.autobahn(f"ws://127.0.0.1:{server_port(server)}", "agent x", True)

    run(main())
    assert log == ["/getCaseCount", "/runCase?case=1&agent=agent%20x",
                   "/runCase?case=2&agent=agent%20x", "/updateReports?agent=agent%20x"]
    assert echoed == ["text 1", b"bin1", "text 2", b"bin2"]


def test_deflate_benchmark_smoke() -> None:
    # benches/python/bench.py deflate, one short round: it runs and prints its table (so the
    # benchmark cannot rot; `make bench` runs it in full).
    bench = Path(__file__).resolve().parents[2] / "benches" / "python" / "bench.py"
    proc = subprocess.run([sys.executable, str(bench), "deflate", "--smoke"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line for line in proc.stdout.splitlines() if line.startswith(("1 KiB", "16 KiB", "1 MiB"))]
    assert len(rows) == 3, proc.stdout
