"""The opening handshake's HTTP request and response, as the application sees them."""

from __future__ import annotations

from http.cookies import CookieError, SimpleCookie
from typing import Iterable, Iterator, Mapping, Optional, Tuple, Union
from urllib.parse import parse_qs, urlsplit

__all__ = ["Headers", "HeadersLike", "Request", "Response"]


class Headers(Mapping[str, str]):
    """HTTP headers: a read-only mapping with case-insensitive names that keeps repeated
    headers. ``headers[name]`` is the first value (``KeyError`` when absent),
    ``get_all(name)`` every value, ``raw_items()`` the ``(name, value)`` pairs in order."""

    __slots__ = ("_items", "_index")

    def __init__(self, items: Iterable[Tuple[Union[str, bytes], Union[str, bytes]]] = ()) -> None:
        self._items: list[tuple[str, str]] = []
        self._index: dict[str, list[str]] = {}
        for name, value in items:
            n, v = _str(name), _str(value)
            self._items.append((n, v))
            self._index.setdefault(n.lower(), []).append(v)

    def __getitem__(self, name: str) -> str:
        return self._index[name.lower()][0]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name``, in order (empty when absent)."""
        return list(self._index.get(name.lower(), ()))

    def raw_items(self) -> list[tuple[str, str]]:
        """The ``(name, value)`` pairs as given, in order."""
        return list(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


#: What ``additional_headers`` and ``Response(headers=...)`` accept: :class:`Headers`, a
#: mapping, or ``(name, value)`` pairs of ``str`` or ``bytes``.
HeadersLike = Union[
    Headers, Mapping[str, str], Iterable[Tuple[Union[str, bytes], Union[str, bytes]]]
]


def _str(v: Union[str, bytes]) -> str:
    return v.decode("latin-1") if isinstance(v, bytes) else str(v)


def _pairs(headers: Optional[HeadersLike]) -> list[tuple[str, str]]:
    if headers is None:
        return []
    if isinstance(headers, Headers):
        return headers.raw_items()
    if isinstance(headers, Mapping):
        return [(str(k), str(v)) for k, v in headers.items()]
    return [(_str(k), _str(v)) for k, v in headers]


class Request:
    """The upgrade request a server received (``ServerConnection.request``), or the one a
    client sent (``ClientConnection.request``).

    ``target`` is the request target as sent (path and query string); ``path`` is its path
    and ``query`` its query string parsed into lists of values (``?a=1&a=2`` gives
    ``{"a": ["1", "2"]}``). ``headers`` holds every request header, ``cookies`` the
    ``Cookie`` header's pairs, ``subprotocols`` the offered subprotocols.
    """

    __slots__ = ("target", "headers", "subprotocols", "_cookies")

    def __init__(self, target: str, headers: Headers, subprotocols: Optional[list[str]] = None) -> None:
        self.target = target
        self.headers = headers
        self.subprotocols = subprotocols or []
        self._cookies: Optional[dict[str, str]] = None

    @property
    def path(self) -> str:
        """The target's path (without the query string)."""
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        """The target's query string, parsed (blank values kept)."""
        return parse_qs(urlsplit(self.target).query, keep_blank_values=True)

    @property
    def host(self) -> Optional[str]:
        """The Host header, or ``None``."""
        return self.headers.get("host")

    @property
    def cookies(self) -> dict[str, str]:
        """The cookies of the ``Cookie`` headers, by name (an unparseable header adds none)."""
        if self._cookies is None:
            jar: SimpleCookie = SimpleCookie()
            for value in self.headers.get_all("cookie"):
                try:
                    jar.load(value)
                except CookieError:
                    pass
            self._cookies = {k: m.value for k, m in jar.items()}
        return self._cookies

    def __repr__(self) -> str:
        return f"Request(target={self.target!r}, headers={self.headers!r})"


class Response:
    """An HTTP response: one a server's ``process_request`` returns to refuse the upgrade,
    or the one a client received (``ClientConnection.response``, ``InvalidStatus.response``).

    ``headers`` may be a :class:`Headers`, a mapping or ``(name, value)`` pairs; a body is
    sent with ``Content-Type: text/plain; charset=utf-8`` unless the headers name a type
    (and framed by the engine: Content-Length, Transfer-Encoding and Connection headers given
    here are dropped).
    """

    __slots__ = ("status_code", "headers", "body")

    def __init__(self, status_code: int, headers: Optional[HeadersLike] = None, body: bytes = b"") -> None:
        self.status_code = status_code
        self.headers = headers if isinstance(headers, Headers) else Headers(_pairs(headers))
        self.body = bytes(body)

    @property
    def status(self) -> int:
        """``status_code``."""
        return self.status_code

    def __repr__(self) -> str:
        return f"Response(status_code={self.status_code}, headers={self.headers!r}, body={self.body!r})"
