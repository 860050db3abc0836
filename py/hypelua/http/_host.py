"""The Python side of ``hype.http`` in one runtime: what Lua calls, what calls Lua.

One :class:`HttpHost` per :class:`~hypelua.Runtime`, created when Lua first
``require("hype.http")`` (``package.preload``, see :func:`install`).  It keeps the
requests and WebSockets in flight, keyed by integer ids that cross the bridge, and
turns a finished Lua response into a Starlette ``Response``.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from .._errors import HttpError, HypeError

if TYPE_CHECKING:
    import asyncio

    from .._runtime import Runtime
    from ..lua import LuaFunction

log = logging.getLogger("hypelua.http")

class Exchange:
    """One request in flight: the Lua response, once Lua has finished it.

    The response fields start as class attributes (a request that Lua answers at once
    sets them in one go): ``status``, ``content`` (str/bytes, a file path, ...),
    ``headers`` ("name\\0value..." or None), ``cookies``, ``kind`` (None: a body;
    "stream", "file", "static", "error:CODE"), ``waiter``, ``stream``, ``closed``, ``static``.
    """

    done = False
    status = 200
    content: Any = b""
    headers: Any = None
    cookies: Any = None
    kind: Any = None
    waiter: asyncio.Future[None] | None = None
    stream: asyncio.Queue[bytes | None] | None = None
    closed = False
    static: Any = None  # (StaticFiles, path) found by an app:static layer

    def __init__(self, scope: dict[str, Any], receive: Any, body: bytes, app: Any) -> None:
        self.scope = scope
        self.receive = receive
        self.body = body
        self.app = app

    def finish(self) -> None:
        self.done = True
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)


class WsConn:
    """One accepted WebSocket: frames Lua sends go through a queue to one sender task."""

    __slots__ = ("closed", "queue", "ws")

    def __init__(self, ws: Any) -> None:
        import asyncio

        self.ws = ws
        self.queue: asyncio.Queue[tuple[str, Any, Any]] = asyncio.Queue()
        self.closed = False


class HttpHost:
    """Per-runtime state of ``hype.http`` (see module docstring).

    Attributes:
        exchanges: request id -> :class:`Exchange`.
        sockets: connection id -> :class:`WsConn`.
        apps: app id -> the :class:`~hypelua.http.LuaApp` serving it (statics, options).
    """

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.exchanges: dict[int, Exchange] = {}
        self.sockets: dict[int, WsConn] = {}
        self.apps: dict[int, Any] = {}
        self.module: dict[str, LuaFunction] = {}
        self.next_id = 0
        self.timeout: float | None = None   # seconds; the watch deadline re-armed per entry into Lua
        self._message: tuple[float | None, str] = (None, "")
        self.servers: dict[int, Any] = {}    # app id -> uvicorn.Server of app:listen

    @classmethod
    def of(cls, rt: Runtime) -> HttpHost:
        """The runtime's host (created on first use)."""
        host = getattr(rt, "_http_host", None)
        if host is None:
            host = cls(rt)
            rt._http_host = host  # type: ignore[attr-defined]
        return host

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    # ------------------------------------------------------------ Lua module
    def lua_table(self) -> dict[str, Any]:
        """The host table handed to ``lua/hype/http.lua``."""
        return {
            "bind": self._bind,
            "respond": self._respond,
            "stream_start": self._stream_start,
            "stream_write": self._stream_write,
            "stream_end": self._stream_end,
            "query": self._query,
            "headers": self._headers,
            "cookies": self._cookies,
            "form": self.rt.loop.register_async(None, self._form),
            "static": self._static,
            "ws_send": self._ws_send,
            "ws_close": self._ws_close,
            "log_error": self._log_error,
            "rearm": self.rearm,
            "listen": self.rt.loop.register_async(None, self._listen),
            "stop": self._stop,
            "dev": False,
        }

    def _bind(self, fns: dict[str, Any]) -> None:
        self.module = dict(fns)

    def ensure_module(self) -> dict[str, LuaFunction]:
        """Load ``hype.http`` into the runtime (if no Lua code required it yet)."""
        if not self.module:
            self.rt.execute('require("hype.http")', chunkname="=(hype http)")
        return self.module

    def rearm(self, timeout: float | None = None) -> None:
        """Re-arm the watch deadline (per entry into Lua; after a fired TIMEOUT).

        Args:
            timeout: seconds for this entry (an app's own limit); None: :attr:`timeout`.
        """
        t = self.timeout if timeout is None else timeout
        if t is not None:
            if self._message[0] != t:
                self._message = (t, f"the handler ran longer than {t:g} s")
            self.rt.set_deadline(t, message=self._message[1])

    # --------------------------------------------------------------- requests
    def _respond(self, rid: int, status: int, content: Any, headers: Any, cookies: Any, kind: Any) -> bool:
        ex = self.exchanges.get(rid)
        if ex is None or ex.done:
            return False
        ex.status, ex.content, ex.headers, ex.cookies, ex.kind = status, content, headers, cookies, kind
        ex.finish()
        return True

    def _stream_start(self, rid: int, status: int, headers: Any, cookies: Any) -> bool:
        ex = self.exchanges.get(rid)
        if ex is None or ex.done:
            return False
        import asyncio

        ex.status, ex.headers, ex.cookies, ex.kind = status, headers, cookies, "stream"
        ex.stream = asyncio.Queue()
        ex.finish()
        return True

    def _stream_write(self, rid: int, chunk: Any) -> bool:
        ex = self.exchanges.get(rid)
        if ex is None or ex.stream is None or ex.closed:
            return False
        ex.stream.put_nowait(chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk))
        return True

    def _stream_end(self, rid: int) -> bool:
        ex = self.exchanges.get(rid)
        if ex is None or ex.stream is None or ex.closed:
            return False
        ex.closed = True
        ex.stream.put_nowait(None)
        return True

    def client_gone(self, rid: int) -> None:
        """Tell Lua that request ``rid`` ended without its response (disconnect, timeout)."""
        ex = self.exchanges.get(rid)
        if ex is not None:
            ex.closed = True
            if ex.stream is not None:
                ex.stream.put_nowait(None)
        closed = self.module.get("closed")
        if closed is not None:
            try:
                self.rearm()
                self.rt.vm.call(closed, rid)
            except HypeError as exc:  # a "close" listener's error is logged by Lua; this is the VM failing
                log.error("hype.http: notifying request %s of its end failed: %s", rid, exc)

    def _request(self, rid: int) -> Any:
        from starlette.requests import Request

        ex = self.exchanges.get(rid)
        if ex is None:
            conn = self.sockets.get(-rid)
            return None if conn is None else conn.ws
        return Request(ex.scope, ex.receive)

    def _query(self, rid: int) -> dict[str, Any]:
        req = self._request(rid)
        if req is None:
            return {}
        q = req.query_params
        out: dict[str, Any] = {}
        for key in q:
            values = q.getlist(key)
            out[key] = values[0] if len(values) == 1 else values
        return out

    def _headers(self, rid: int) -> dict[str, str]:
        req = self._request(rid)
        if req is None:
            return {}
        out: dict[str, str] = {}
        for key, value in req.headers.items():
            out[key] = out[key] + ", " + value if key in out else value
        return out

    def _cookies(self, rid: int) -> dict[str, str]:
        req = self._request(rid)
        return {} if req is None else dict(req.cookies)

    async def _form(self, rid: int) -> dict[str, Any]:
        from starlette.datastructures import UploadFile

        ex = self.exchanges.get(rid)
        if ex is None:
            return {}
        req = self._request(rid)
        req._body = ex.body  # already read (and size-checked): Starlette parses it from here
        out: dict[str, Any] = {}
        async with req.form() as form:
            for key in form:
                values = []
                for v in form.getlist(key):
                    if isinstance(v, UploadFile):
                        content = await v.read()
                        values.append({"filename": v.filename or "", "content_type": v.content_type or "",
                                       "size": len(content), "content": content})
                    else:
                        values.append(v)
                out[key] = values[0] if len(values) == 1 else values
        return out

    def _static(self, rid: int, index: int, subpath: str) -> Any:
        ex = self.exchanges.get(rid)
        if ex is None:
            return False
        return ex.app.static_lookup(ex, index, subpath)

    def _log_error(self, message: str, traceback: str) -> None:
        log.error("hype.http: %s%s", message, ("\n" + traceback) if traceback else "")

    # ------------------------------------------------------------- websockets
    def _ws_send(self, cid: int, data: Any) -> bool:
        conn = self.sockets.get(cid)
        if conn is None or conn.closed:
            return False
        conn.queue.put_nowait(("text" if isinstance(data, str) else "bytes", data, None))
        return True

    def _ws_close(self, cid: int, code: int, reason: str) -> bool:
        conn = self.sockets.get(cid)
        if conn is None or conn.closed:
            return False
        conn.closed = True
        conn.queue.put_nowait(("close", code, reason))
        return True

    # ------------------------------------------------------------------ listen
    async def _listen(self, app_id: int, port: int, hostname: str, callback: Any) -> int:
        from ._lua_app import _serve

        if self.rt.sandbox:
            raise HttpError("app:listen is not available in the sandbox (untrusted code may not open ports)",
                            code="SANDBOXED", suggestion="Serve the app from the host: hype serve / lua_app().")

        return await _serve(self.rt, app_id, hostname, port, callback)

    def _stop(self, app_id: int) -> bool:
        server = self.servers.get(app_id)
        if server is None:
            return False
        server.should_exit = True
        return True


def within(root: str, path: str) -> bool:
    """True when ``path`` (made absolute, symlinks resolved) is inside ``root``."""
    real = os.path.realpath(path)
    root = os.path.realpath(root)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)

