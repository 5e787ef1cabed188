"""``wsproto.handshake``: the opening handshake on its own (``H11Handshake``) and the two
extension negotiation helpers.

wsmachine parses and writes the handshake in Rust (no h11): an ``H11Handshake`` runs a
``WSConnection`` until the handshake is over, and its :attr:`H11Handshake.connection` is that
same connection from then on (open, with what was agreed, and with any bytes that followed
the handshake still to be read).
"""

from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Union

from .._types import ConnectionState, ConnectionType, LocalProtocolError, RemoteProtocolError
from .._wsmachine import (
    AcceptConnection,
    Event,
    RejectConnection,
    RejectData,
    Request,
    WSConnection,
)
from .extensions import Extension
from .typing import Headers

__all__ = ["H11Handshake", "client_extensions_handshake", "server_extensions_handshake"]

_HANDSHAKE_EVENTS = (Request, AcceptConnection, RejectConnection, RejectData)
_OPENED = (ConnectionState.OPEN, ConnectionState.LOCAL_CLOSING, ConnectionState.REMOTE_CLOSING)


class H11Handshake:
    """The opening handshake of an HTTP/1.1 WebSocket connection (wsproto's class): send and
    receive ``Request``, ``AcceptConnection``, ``RejectConnection`` and ``RejectData``."""

    def __init__(self, connection_type: ConnectionType) -> None:
        self.client = connection_type is ConnectionType.CLIENT
        self._ws = WSConnection(connection_type)
        # The handshake succeeded (server: AcceptConnection sent; client: the 101 parsed).
        self._opened = False
        # Client: AcceptConnection was handed out; later events belong to `connection`.
        self._done = False

    @property
    def state(self) -> ConnectionState:
        """The connection's state (CONNECTING until the handshake is over)."""
        return self._ws.state

    @property
    def connection(self) -> Optional[WSConnection]:
        """The open connection once the handshake succeeded, else ``None``. It is a
        ``WSConnection`` (wsproto's is a ``Connection``) with the same methods: ``send``,
        ``receive_data``, ``events`` and ``state``."""
        return self._ws if self._opened else None

    def initiate_upgrade_connection(self, headers: Headers, path: Union[bytes, str]) -> None:
        """Server: takes a request that was already parsed elsewhere."""
        self._ws.initiate_upgrade_connection(headers, path)

    def send(self, event: Event) -> bytes:
        """The bytes to send for a handshake event (``LocalProtocolError`` for any other)."""
        if not isinstance(event, _HANDSHAKE_EVENTS):
            raise LocalProtocolError(f"Event {event} cannot be sent during the handshake")
        data = self._ws.send(event)
        if isinstance(event, AcceptConnection):
            self._opened = self._done = True
        return data

    def receive_data(self, data: Optional[bytes]) -> None:
        """Feeds received bytes (``None``: end-of-file)."""
        self._ws.receive_data(data)
        if self.client and self._ws.state in _OPENED:
            self._opened = True

    def events(self) -> Iterator[Event]:
        """The handshake events the received data produced (frames that followed the
        handshake are left to :attr:`connection`)."""
        while not self._done:
            event = next(iter(self._ws.events()), None)
            if event is None:
                return
            if isinstance(event, AcceptConnection):
                self._done = True
            yield event

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(client={self.client}, state={self.state})"


def server_extensions_handshake(
    requested: Iterable[str], supported: List[Extension]
) -> Optional[bytes]:
    """Server: the Sec-WebSocket-Extensions value that accepts, among the request's
    elements ``requested``, those the ``supported`` extensions' ``accept`` agree to (one per
    name, the last answer winning); ``None`` when none is accepted."""
    accepts: Dict[str, str] = {}
    for offer in requested:
        name = offer.split(";", 1)[0].strip()
        for extension in supported:
            if extension.name != name:
                continue
            answer = extension.accept(offer)
            if answer is True or (isinstance(answer, str) and answer == ""):
                accepts[name] = name
            elif isinstance(answer, str):
                accepts[name] = f"{name}; {answer}"
    if not accepts:
        return None
    return ", ".join(accepts.values()).encode("ascii")


def client_extensions_handshake(
    accepted: Iterable[str], supported: Sequence[Extension]
) -> List[Extension]:
    """Client: the extensions the server's response elements ``accepted`` agree to, after
    each one's ``finalize`` took its element. ``RemoteProtocolError`` for an element no
    extension of ``supported`` is named by (the client must fail the connection)."""
    agreed: List[Extension] = []
    for element in accepted:
        name = element.split(";", 1)[0].strip()
        extension = next((e for e in supported if e.name == name), None)
        if extension is None:
            raise RemoteProtocolError(
                f"unrecognized extension {name}", event_hint=RejectConnection()
            )
        extension.finalize(element)
        agreed.append(extension)
    return agreed
