"""Drive an ASGI application in memory: one HTTP request in, one response out, no socket.

This is how the browser worker answers ``hype.fetch`` (and the service worker) with a
Lua app, and it works the same on CPython.  Pure Python; the standard library only.

    status, headers, body = await call_asgi(app, method="GET", url="/users/1?q=x",
                                            headers=[("accept", "application/json")], body=b"")

The request is one ``http.request`` message (the whole body, ``more_body: False``);
a later ``receive()`` blocks until the response is complete and then answers
``http.disconnect`` (what a server does while its client waits), so streaming
responses that listen for a disconnect are not cut short.  ``HEAD`` responses and
statuses that carry no content (1xx, 204, 304) come back with an empty body, like a
server puts them on the wire.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import unquote, urlsplit

from .._errors import HypeError

__all__ = ["ASGIApp", "BadRequest", "build_scope", "call_asgi"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
                   Awaitable[None]]

_log = logging.getLogger("hypelua.http")

#: characters allowed in a method token (RFC 9110 tchar)
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_DEFAULT_PORTS = {"http": 80, "https": 443}


class BadRequest(HypeError):
    """The request itself is malformed (method, URL, headers): raised before the app runs."""

    default_code = "BAD_REQUEST"
    default_suggestion = ("Pass a method token, an http(s) URL or a path starting with '/', and header "
                          "names/values without CR, LF or NUL.")


def _bad(message: str, **details: Any) -> BadRequest:
    return BadRequest(message, details=details)


def _header_bytes(text: str, what: str) -> bytes:
    if "\r" in text or "\n" in text or "\0" in text:
        raise _bad(f"header {what} contains CR, LF or NUL", header=text[:100])
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def build_scope(*, method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes = b"",
                client: tuple[str, int] | None = ("127.0.0.1", 0)) -> dict[str, Any]:
    """The ASGI ``http`` scope of one request.

    Args:
        method: the HTTP method (any case; sent upper-cased).
        url: an absolute ``http``/``https`` URL, or a path with an optional query
            (``/users/1?q=x``; then the server is ``localhost:80``).  The fragment is dropped.
        headers: ``(name, value)`` pairs; names are lower-cased, both sent as latin-1 bytes
            (UTF-8 for other text).  A ``host`` header is added from the URL when missing, and
            ``content-length`` when there is a body and neither it nor ``transfer-encoding`` is given.
        body: the request body (only used for ``content-length``).
        client: ``(host, port)`` of the client, or None.
    Returns:
        The scope (``type``, ``asgi``, ``http_version``, ``method``, ``scheme``, ``path``,
        ``raw_path``, ``query_string``, ``root_path``, ``headers``, ``server``, ``client``,
        ``state``, ``extensions``).
    Raises:
        BadRequest: (a :class:`HypeError`, code ``BAD_REQUEST``) for a malformed method, URL or header.
    """
    if not isinstance(method, str) or not method or not set(method) <= _TCHAR:
        raise _bad(f"malformed HTTP method {method!r}"[:200])
    if not isinstance(url, str):
        raise _bad("the URL must be a string")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _bad(f"malformed URL: {exc}", url=url[:200]) from None
    scheme = parts.scheme.lower() or "http"
    if scheme not in _DEFAULT_PORTS:
        raise _bad(f"unsupported URL scheme {scheme!r} (http or https)", url=url[:200])
    if parts.scheme and not parts.netloc:
        raise _bad("an absolute URL needs a host", url=url[:200])
    if not parts.scheme and (parts.netloc or not parts.path.startswith("/")):
        raise _bad("a URL without a scheme must be a path starting with '/'", url=url[:200])
    host = parts.hostname or "localhost"
    server_port = port if port is not None else _DEFAULT_PORTS[scheme]
    raw = parts.path or "/"
    if any(c in raw for c in "\r\n\0") or any(c in parts.query for c in "\r\n\0"):
        raise _bad("the URL contains CR, LF or NUL", url=url[:200])
    raw_path = raw.encode("utf-8")
    scope_headers: list[tuple[bytes, bytes]] = []
    have_host = have_length = False
    for pair in headers:
        try:
            name, value = pair
        except (TypeError, ValueError):
            raise _bad("headers must be (name, value) pairs") from None
        if not isinstance(name, str) or not isinstance(value, str):
            raise _bad("header names and values must be strings")
        lname = name.strip().lower()
        if not lname or not set(lname) <= _TCHAR:
            raise _bad(f"malformed header name {name!r}"[:200])
        have_host = have_host or lname == "host"
        have_length = have_length or lname in ("content-length", "transfer-encoding")
        scope_headers.append((lname.encode("ascii"), _header_bytes(value, f"{lname!r} value")))
    if not have_host:
        netloc = host if ":" not in host else f"[{host}]"
        if port is not None:
            netloc += f":{port}"
        scope_headers.insert(0, (b"host", netloc.encode("idna") if not netloc.isascii() else netloc.encode()))
    if body and not have_length:
        scope_headers.append((b"content-length", str(len(body)).encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method.upper(),
        "scheme": scheme,
        "path": unquote(raw),
        "raw_path": raw_path,
        "query_string": parts.query.encode("utf-8"),
        "root_path": "",
        "headers": scope_headers,
        "server": (host, server_port),
        "client": tuple(client) if client is not None else None,
        "state": {},
        "extensions": {},
    }


def _no_content(method: str, status: int) -> bool:
    return method == "HEAD" or 100 <= status < 200 or status in (204, 304)


async def call_asgi(app: ASGIApp, *, method: str, url: str, headers: list[tuple[str, str]], body: bytes,
                    client: tuple[str, int] | None = ("127.0.0.1", 0)) -> tuple[int, list[tuple[str, str]], bytes]:
    """Send one request to an ASGI 3 application and collect its response.

    Args:
        app: an ASGI 3 application (``await app(scope, receive, send)``), e.g. a
            ``hypelua.http.LuaApp`` or a Starlette app.
        method, url, headers, client: see :func:`build_scope`.
        body: the whole request body.
    Returns:
        ``(status, [(name, value), ...], body)``: header names as the app sent them
        (latin-1 text), the body chunks joined (empty for ``HEAD``, 1xx, 204 and 304).
    Raises:
        BadRequest: (code ``BAD_REQUEST``) for a malformed request (see :func:`build_scope`).
        Exception: whatever the app raised before its response was complete, or
            ``RuntimeError`` when it returned without completing one or sent messages out
            of order.  An exception raised *after* a complete response (Starlette's
            ``ServerErrorMiddleware`` re-raises after sending its 500) is logged to the
            ``hypelua.http`` logger and the response returned.
    """
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise _bad("the body must be bytes")
    body = bytes(body)
    scope = build_scope(method=method, url=url, headers=headers, body=body, client=client)
    status: int | None = None
    out_headers: list[tuple[str, str]] = []
    chunks: list[bytes] = []
    complete = asyncio.Event()
    request_sent = False

    async def receive() -> Message:
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await complete.wait()  # the client waits for its response, then goes away
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        kind = message.get("type")
        if complete.is_set():
            raise RuntimeError(f"unexpected ASGI message {kind!r} after the response was complete")
        if kind == "http.response.start":
            if status is not None:
                raise RuntimeError("ASGI app sent 'http.response.start' twice")
            code = message.get("status")
            if type(code) is not int or not 100 <= code <= 999:
                raise RuntimeError(f"ASGI app sent an invalid status {code!r}")
            status = code
            for name, value in message.get("headers", ()):
                out_headers.append((bytes(name).decode("latin-1"), bytes(value).decode("latin-1")))
        elif kind == "http.response.body":
            if status is None:
                raise RuntimeError("ASGI app sent 'http.response.body' before 'http.response.start'")
            chunk = message.get("body", b"")
            if chunk:
                chunks.append(bytes(chunk))
            if not message.get("more_body", False):
                complete.set()
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r}")

    try:
        await app(scope, receive, send)
    except Exception:
        if not complete.is_set():
            complete.set()  # wake a receive() still waiting (a listener task of the app)
            raise
        _log.exception("the ASGI app raised after its response was sent (%s %s)", scope["method"], scope["path"])
    except BaseException:  # cancelled (a timeout) or interrupted
        complete.set()
        raise
    if not complete.is_set() or status is None:
        complete.set()
        state = "without starting a response" if status is None else "before the response body was complete"
        raise RuntimeError(f"the ASGI app returned {state}")
    data = b"" if _no_content(scope["method"], status) else b"".join(chunks)
    return status, out_headers, data
