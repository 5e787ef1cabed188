"""Shared helpers: an in-memory client/server pair, a fake clock, a raw frame builder and a
self-signed TLS certificate."""

from __future__ import annotations

import datetime
import ipaddress
import os
import struct
from pathlib import Path
from typing import Any, Optional

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import settings

from wsmachine import (
    AcceptConnection,
    BytesMessage,
    ConnectionState,
    ConnectionType,
    Event,
    Message,
    Request,
    TextMessage,
    WSConnection,
)


# No example database: nothing is written into the work tree.
settings.register_profile("wsmachine", database=None)
settings.load_profile("wsmachine")


class FakeClock:
    """A settable clock (seconds), passed as ``clock=``."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> float:
        self.t += dt
        return self.t


def state(ws: WSConnection) -> ConnectionState:
    """The state, unnarrowed (mypy narrows ``ws.state`` after an assert on it)."""
    return ws.state


def drain(ws: WSConnection) -> list[Event]:
    return list(ws.events())


def handshake(
    client: WSConnection,
    server: WSConnection,
    *,
    subprotocols: Optional[list[str]] = None,
    accept_subprotocol: Optional[str] = None,
) -> None:
    server.receive_data(
        client.send(Request(host="example.com", target="/chat", subprotocols=subprotocols or []))
    )
    (req,) = drain(server)
    assert isinstance(req, Request)
    client.receive_data(server.send(AcceptConnection(subprotocol=accept_subprotocol)))
    (acc,) = drain(client)
    assert isinstance(acc, AcceptConnection)


def pair(**opts: Any) -> tuple[WSConnection, WSConnection]:
    """A connected (client, server) pair with the same options."""
    client = WSConnection(ConnectionType.CLIENT, **opts)
    server = WSConnection(ConnectionType.SERVER, **opts)
    handshake(client, server)
    return client, server


def transfer(src: WSConnection, dst: WSConnection, event: Event) -> list[Event]:
    """Sends ``event`` from ``src`` and returns what ``dst`` makes of it."""
    dst.receive_data(src.send(event))
    return drain(dst)


def collect_message(events: list[Event]) -> tuple[Any, ...]:
    """Joins the chunks of one message: (kind, data)."""
    assert events and all(isinstance(e, Message) for e in events)
    assert isinstance(events[-1], Message) and events[-1].message_finished
    if isinstance(events[0], TextMessage):
        return ("text", "".join(e.data for e in events if isinstance(e, TextMessage)))
    return ("bytes", b"".join(e.data for e in events if isinstance(e, BytesMessage)))


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: bool = True,
    length: Optional[int] = None,
) -> bytes:
    """A raw frame (``mask=True`` for frames a client sends)."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 1 << 16:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost / 127.0.0.1: (cert.pem, key.pem)."""
    d = tmp_path_factory.mktemp("certs")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = d / "cert.pem", d / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
