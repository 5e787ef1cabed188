"""A client on ``wsmachine.asyncio.connect``.

    python asyncio_client.py echo --url ws://127.0.0.1:9001/ [--cafile CA.pem] [--no-deflate] MESSAGE...
    python asyncio_client.py autobahn --url ws://127.0.0.1:9002 --agent NAME [--no-deflate]

``echo`` sends each MESSAGE and prints the echo. ``autobahn`` drives an Autobahn|Testsuite
fuzzingserver (scripts/test/autobahn.sh): ``/getCaseCount``, then
``/runCase?case=n&agent=NAME`` for every case, echoing every message, then
``/updateReports?agent=NAME``. Both offer permessage-deflate unless --no-deflate is given.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
from typing import Optional
from urllib.parse import quote

from wsmachine.asyncio import ConnectionClosed, Data, InvalidHandshake, connect

MAX_SIZE = 16 << 20
MAX_FRAGMENTS = 1 << 17


async def echo(url: str, messages: list[str], context: Optional[ssl.SSLContext], deflate: bool) -> list[Data]:
    compression = "deflate" if deflate else None
    async with connect(url, ssl=context, compression=compression) as ws:
        replies = []
        for m in messages:
            await ws.send(m)
            replies.append(await ws.recv())
        return replies


async def autobahn(url: str, agent: str, deflate: bool) -> None:
    base = url.rstrip("/")
    async with connect(f"{base}/getCaseCount") as ws:
        count = int(await ws.recv())
    compression = "deflate" if deflate else None
    for case in range(1, count + 1):
        try:
            async with connect(
                f"{base}/runCase?case={case}&agent={quote(agent)}",
                compression=compression,
                max_size=MAX_SIZE,
                max_fragments=MAX_FRAGMENTS,
                ping_interval=None,
            ) as ws:
                async for message in ws:
                    await ws.send(message)
        except (ConnectionClosed, InvalidHandshake, OSError) as e:
            # The fuzzingserver fails connections on purpose; the report judges them.
            print(f"case {case}: {e}", file=sys.stderr)
    async with connect(f"{base}/updateReports?agent={quote(agent)}"):
        pass


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    e = sub.add_parser("echo", help="send messages and print the echoes")
    e.add_argument("--url", required=True)
    e.add_argument("--cafile", help="trust this CA certificate (PEM) for wss://")
    e.add_argument("messages", nargs="*", default=["hello"])
    a = sub.add_parser("autobahn", help="drive an Autobahn fuzzingserver")
    a.add_argument("--url", required=True)
    a.add_argument("--agent", default="wsmachine-python")
    for p in (e, a):
        p.add_argument("--no-deflate", dest="deflate", action="store_false", help="do not offer permessage-deflate")
    args = parser.parse_args(argv)
    if args.mode == "autobahn":
        asyncio.run(autobahn(args.url, args.agent, args.deflate))
        return 0
    context = ssl.create_default_context(cafile=args.cafile) if args.cafile else None
    for reply in asyncio.run(echo(args.url, args.messages, context, args.deflate)):
        print(reply)
    return 0


if __name__ == "__main__":
    sys.exit(main())
