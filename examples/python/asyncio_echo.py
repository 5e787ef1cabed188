"""An echo server on ``wsmachine.asyncio.serve``.

    python asyncio_echo.py [--host 127.0.0.1] [--port 9001] [--certfile C --keyfile K]
                           [--no-deflate] [--ping-interval SECONDS]

Every message is echoed back unchanged. Messages may be up to 16 MiB and 131,072 frames
(enough for the Autobahn|Testsuite fuzzingclient, which scripts/test/autobahn.sh runs against
this server). With --certfile/--keyfile it serves wss://. permessage-deflate is accepted
when offered unless --no-deflate is given.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
from typing import Optional

from wsmachine.asyncio import ServerConnection, serve

MAX_SIZE = 16 << 20
# wstest splits 4 MiB into 64-byte fragments and ends with an empty final frame: 65,537 frames.
MAX_FRAGMENTS = 1 << 17


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def main(
    host: str, port: int, context: Optional[ssl.SSLContext], deflate: bool, ping_interval: Optional[float]
) -> None:
    async with serve(
        echo,
        host,
        port,
        ssl=context,
        compression="deflate" if deflate else None,
        max_size=MAX_SIZE,
        max_fragments=MAX_FRAGMENTS,
        ping_interval=ping_interval,
    ) as server:
        scheme = "wss" if context else "ws"
        print(f"echo server listening on {scheme}://{host}:{port}/", flush=True)
        await server.serve_forever()


def cli(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--certfile", help="serve wss:// with this certificate chain (PEM)")
    parser.add_argument("--keyfile", help="the certificate's private key (PEM)")
    parser.add_argument("--no-deflate", dest="deflate", action="store_false", help="decline permessage-deflate")
    parser.add_argument("--ping-interval", type=float, default=20.0, help="keepalive ping interval (0: off)")
    args = parser.parse_args(argv)
    context = None
    if args.certfile:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.certfile, args.keyfile)
    try:
        asyncio.run(main(args.host, args.port, context, args.deflate, args.ping_interval or None))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    cli()
