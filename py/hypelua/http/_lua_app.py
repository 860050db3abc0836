"""A ``hype.http`` Lua app as an ASGI 3 application (Starlette requests/responses).

Per HTTP request: match the path against the app's layers (:mod:`._router`,
Starlette's compiled paths), read the body (at most ``max_body`` bytes), then one
call into Lua runs the middleware chain as an async function on the runtime's
event loop.  A handler that finishes without awaiting answers in that same call;
one that awaits (timers, promises, Python awaitables, storage) answers later, and
many such requests interleave on the one VM.  The response is a Starlette
``Response`` / ``StreamingResponse`` / ``FileResponse``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette._utils import get_route_path  # the path below a Mount (Starlette's own rule)
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse

from .._errors import HttpError, HypeError, LuaError
from ._host import Exchange, HttpHost, WsConn, within
from ._router import Router

if TYPE_CHECKING:
    from .._runtime import Runtime

log = logging.getLogger("hypelua.http")

DEFAULT_TIMEOUT = 30.0          # seconds
DEFAULT_MAX_BODY = 1024 * 1024  # bytes
_NO_BODY = frozenset((b"content-length", b"transfer-encoding"))


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status)


class LuaApp:
    """An ASGI application serving one ``hype.http`` app of a runtime.

    Make one with :func:`lua_app` (a file) or :meth:`from_source`.

    Args:
        runtime: the runtime the app lives in.
        app_id: the app's id (``hype.http``'s ``_register``).
        timeout: seconds a request may take (Lua running without a break *and* the
            whole request); past it the answer is 503 ``TIMEOUT`` and the VM keeps
            serving.  None: no limit.
        max_body: request bodies larger than this many bytes get 413 without being read whole.
        dev: error responses carry the Lua traceback.
        root: directory relative paths (``app:static``, ``res:sendfile``) start from.

    Attributes:
        runtime: the :class:`~hypelua.Runtime`; Python code may call into it
            (:meth:`call` for the app's ``exports``).
    """

    def __init__(self, runtime: Runtime, app_id: int, *, timeout: float | None = DEFAULT_TIMEOUT,
                 max_body: int = DEFAULT_MAX_BODY, dev: bool = False, root: str | os.PathLike[str] | None = None,
                 owns_runtime: bool = False) -> None:
        self.runtime = runtime
        self.app_id = app_id
        self.timeout = timeout
        self.max_body = int(max_body)
        self.dev = dev
        self.root = os.path.abspath(os.fspath(root)) if root is not None else os.getcwd()
        self._owns_runtime = owns_runtime
        host = HttpHost.of(runtime)
        self._host = host
        module = host.ensure_module()
        self._dispatch = module["dispatch"]
        self._ws_open = module["ws_open"]
        self._ws_event = module["ws_event"]
        host.apps[app_id] = self
        if timeout is not None:
            host.timeout = timeout  # timers and promises between requests: the latest app's limit
            if not runtime.watching:
                runtime.watch(every=100_000)
            prev = runtime.loop.before_tick
            if prev is None:
                runtime.loop.before_tick = host.rearm
        runtime.vm.call(module["configure"], {"dev": dev})
        self._gen = -1
        self._live: Any = None          # LiveEndpoint of app:live routes
        self._live_routes: list[tuple[str, int]] = []
        self._live_router: Any = None
        self._router: Router | None = None
        self._statics: dict[int, Any] = {}
        self._compile()

    # ------------------------------------------------------------- building
    @classmethod
    def from_source(cls, source: str, *, runtime: Runtime | None = None, chunkname: str = "=app",
                    root: str | os.PathLike[str] | None = None, **options: Any) -> LuaApp:
        """Run ``source`` (a Lua chunk returning a ``hype.http`` app) and serve its app.

        Args:
            source: Lua code; its result must be an app (``return app``).
            runtime: the runtime to run it in (default: a new ``Runtime(":memory:")``).
            chunkname: Lua chunk name (``@path`` for files).
            options: ``timeout``, ``max_body``, ``dev`` (see :class:`LuaApp`).
        Raises:
            LuaSyntaxError, LuaError (the chunk failed), HttpError ``HTTP_NOT_AN_APP``.
        """
        from .._runtime import Runtime

        owns = runtime is None
        rt = runtime if runtime is not None else Runtime(":memory:", project_root=root)
        module = HttpHost.of(rt).ensure_module()
        fn = rt.vm.load(source, chunkname, "t")
        try:
            (app_id,) = rt.vm.execute("local fn, register, as_app = ...; return register(as_app((fn())))", fn,
                                      module["register"], module["as_app"], chunkname="=(hype http load)")
        except LuaError as exc:
            if "[HTTP_NOT_AN_APP]" in exc.message:
                raise HttpError(exc.message.split("] ", 1)[-1], code="HTTP_NOT_AN_APP",
                                suggestion="End the app's file with `return app`.") from None
            raise
        finally:
            rt._commit_if_open()
        return cls(rt, int(app_id), root=root if root is not None else rt_root(rt), owns_runtime=owns, **options)

    def _compile(self) -> None:
        gen, desc = self.runtime.vm.call(self._host.module["compile"], self.app_id)
        layers: list[tuple[str, str | None, str]] = []
        statics: dict[int, Any] = {}
        for i, d in enumerate(desc or [], start=1):
            kind, method, path, directory, _fallthrough, html = d
            layers.append((kind, method or None, path))
            if kind == "static":
                statics[i] = self._static_files(directory, bool(html))
        self._router = Router(layers)
        self._statics = statics
        self._gen = int(gen)
        self._compile_live()

    def _compile_live(self) -> None:
        """``app:live(path, view)`` routes: a :class:`~hypelua.live.LiveEndpoint` (page, WebSocket,
        connector) in front of the Lua layers, made on the first live route."""
        (lives,) = self.runtime.vm.call(self._host.module["lives"], self.app_id)
        routes = [(str(path), int(def_id)) for path, def_id in (lives or [])]
        if not routes or routes == self._live_routes:
            return
        from starlette.routing import Router as StarletteRouter

        from ..live import LiveEndpoint
        from ..live._lua import LiveHost, LuaViewFactory

        live_host = LiveHost.of(self.runtime)
        live_host.set_timeout(self.timeout)
        endpoint = LiveEndpoint(dev=self.dev or None)
        for path, def_id in routes:
            endpoint.add(path, LuaViewFactory(live_host, def_id, path))
        if self._live is not None:  # keep the sessions and settings of the running endpoint
            self._live.routes = endpoint.routes
            endpoint = self._live
        self._live = endpoint
        self._live_routes = routes
        self._live_router = StarletteRouter(routes=endpoint.starlette_routes())

    def _is_live(self, scope: dict[str, Any]) -> bool:
        from ..live._app import JS_PATH, SESSIONS_PATH, WS_PATH

        path = get_route_path(scope) if scope.get("root_path") else scope["path"]
        if path in (WS_PATH, JS_PATH) or (path == SESSIONS_PATH and self.dev):
            return True
        return scope["type"] == "http" and scope["method"] in ("GET", "HEAD") \
            and self._live.match(path) is not None  # type: ignore[union-attr]

    def _static_files(self, directory: str, html: bool) -> Any:
        from starlette.staticfiles import StaticFiles

        full = os.path.normpath(os.path.join(self.root, directory))
        if self.runtime.sandbox and not within(self.root, full):
            raise HttpError(f"app:static: {directory!r} is outside the project", code="HTTP_OUTSIDE_ROOT",
                            suggestion="Serve a directory inside the project.")
        return StaticFiles(directory=full, html=html, check_dir=False)

    # ------------------------------------------------------------------ ASGI
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if self._live is not None and kind != "lifespan" and self._is_live(scope):
            await self._live.startup()
            await self._live_router(scope, receive, send)
            return
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._live is not None:
                    await self._live.shutdown()
                self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _body_length(self, scope: dict[str, Any]) -> int | Response | None:
        """None: no body; -1: a body of unknown length (chunked); else its declared length.
        A Response (400, 413) when the request must be refused before reading it."""
        length: int | Response | None = None
        for name, value in scope["headers"]:
            if name in _NO_BODY:
                if name == b"content-length":
                    try:
                        length = int(value)
                    except ValueError:
                        return _error(400, "BAD_REQUEST", "invalid Content-Length")
                    if length > self.max_body:
                        return _error(413, "PAYLOAD_TOO_LARGE",
                                      f"the request body is {length} bytes; the limit is {self.max_body}",
                                      limit=self.max_body)
                elif length is None:
                    length = -1
        return length

    async def _read_body(self, receive: Any) -> bytes | Response:
        limit = self.max_body
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return _error(413, "PAYLOAD_TOO_LARGE", f"the request body exceeds the limit of {limit} bytes",
                              limit=limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        length = self._body_length(scope)
        if length is None:
            body = b""
        else:
            if type(length) is not int:
                await length(scope, receive, send)  # type: ignore[operator]
                return
            body = await self._read_body(receive)  # type: ignore[assignment]
            if type(body) is not bytes:
                await body(scope, receive, send)  # type: ignore[operator]
                return
        host = self._host
        rid = host.new_id()
        ex = Exchange(scope, receive, body, self)
        host.exchanges[rid] = ex
        try:
            method = scope["method"]
            path = get_route_path(scope) if scope.get("root_path") else scope["path"]
            qs = scope["query_string"]  # bytes: a Lua string as it is
            client = scope.get("client")
            ip = client[0] if client else ""
            self._enter(rid, method, path, qs, ip, body)
            if not ex.done:
                await self._wait(rid, ex)
            response = self._response(ex, scope)
            if ex.kind == "stream":
                await self._stream(rid, ex, response, scope, receive, send)
            else:
                await response(scope, receive, send)
        finally:
            host.exchanges.pop(rid, None)

    def _enter(self, rid: int, method: str, path: str, qs: bytes, ip: str, body: bytes) -> None:
        rt = self.runtime
        self._host.rearm(self.timeout)
        try:
            for _ in range(3):
                matches = self._router.match(method, path)  # type: ignore[union-attr]
                out = rt.vm.call(self._dispatch, self.app_id, self._gen, rid, method, path, qs, ip, body,
                                 len(matches), *matches)
                if not out[0]:
                    if len(out) > 1:  # answered before its first await: the response came back here
                        ex = self._host.exchanges[rid]
                        ex.status, ex.content, ex.headers, ex.cookies, ex.kind = out[1:6]
                        ex.done = True
                    return
                self._compile()
        except HypeError as exc:  # the chain catches handler errors: this is the runtime failing
            log.error("hype.http: dispatch failed: %s", exc)
            self._fail(rid, exc)
        finally:
            rt._commit_if_open()

    def _fail(self, rid: int, exc: HypeError) -> None:
        ex = self._host.exchanges.get(rid)
        if ex is not None and not ex.done:
            status = 503 if exc.code in ("TIMEOUT", "INTERRUPTED") else 500
            ex.status, ex.kind = status, "error:" + exc.code
            ex.content = exc.message
            ex.finish()
            self._host.rearm(self.timeout)

    async def _wait(self, rid: int, ex: Exchange) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        ex.waiter = fut
        try:
            if self.timeout is None:
                await fut
            else:
                await asyncio.wait_for(fut, self.timeout)
        except (TimeoutError, asyncio.CancelledError) as exc:
            if not ex.done:
                ex.status, ex.kind, ex.content = 503, "error:TIMEOUT", f"no response within {self.timeout:g} s"
                ex.done = True
                self._host.client_gone(rid)
            if isinstance(exc, asyncio.CancelledError):
                raise

    def _response(self, ex: Exchange, scope: dict[str, Any]) -> Any:
        kind = ex.kind
        headers = ex.headers
        if headers:
            flat = headers.split("\0") if type(headers) is str else os.fsdecode(headers).split("\0")
            hdrs = dict(zip(flat[::2], flat[1::2], strict=True))
        else:
            hdrs = None
        if kind is None or kind is False:
            content = ex.content
            response = Response(content.encode("utf-8") if type(content) is str else content, ex.status, hdrs)
        elif kind == "stream":
            response = StreamingResponse(_drain(ex.stream), ex.status, hdrs)  # type: ignore[arg-type]
        elif kind == "file":
            response = self._file_response(ex, hdrs)
        elif kind == "static":
            return _StaticResponse(ex.static)
        else:  # "error:CODE": Lua could not build its own error response (out of memory, ...)
            code = str(kind).partition(":")[2] or "INTERNAL_ERROR"
            message = ex.content if isinstance(ex.content, str) and ex.content else "internal error"
            return _error(ex.status, code, message)
        if ex.cookies:
            try:
                for c in ex.cookies:
                    response.set_cookie(**{k: v for k, v in c.items()})
            except (TypeError, ValueError, AssertionError) as exc:
                log.error("hype.http: res:cookie: %s", exc)
                return _error(500, "HTTP_BAD_COOKIE", f"res:cookie: {exc}")
        return response

    def _file_response(self, ex: Exchange, hdrs: dict[str, str] | None) -> Response:
        path = ex.content if isinstance(ex.content, str) else os.fsdecode(ex.content)
        full = os.path.normpath(os.path.join(self.root, path))
        if self.runtime.sandbox and not within(self.root, full):
            return _error(404, "NOT_FOUND", "res:sendfile: no such file")
        try:
            st = os.stat(full)
        except (OSError, ValueError):
            return _error(404, "NOT_FOUND", "res:sendfile: no such file")
        if not stat.S_ISREG(st.st_mode):
            return _error(404, "NOT_FOUND", "res:sendfile: not a file")
        if hdrs:
            hdrs.pop("content-type", None) if hdrs.get("content-type", "").startswith("text/html") else None
        return FileResponse(full, status_code=ex.status, headers=hdrs, stat_result=st)

    async def _stream(self, rid: int, ex: Exchange, response: Any, scope: dict[str, Any], receive: Any,
                      send: Any) -> None:
        async def watch_disconnect() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    if not ex.closed:
                        self._host.client_gone(rid)
                    return

        watcher = asyncio.ensure_future(watch_disconnect())
        try:
            await response({**scope, "asgi": {"version": "3.0", "spec_version": "2.4"}}, receive, send)
        except OSError:
            pass
        finally:
            watcher.cancel()
            if not ex.closed:
                self._host.client_gone(rid)

    def static_lookup(self, ex: Exchange, index: int, subpath: str) -> Any:
        """Called by Lua for an ``app:static`` layer: True (and remembered) when a file answers."""
        sf = self._statics.get(index)
        if sf is None or ex.scope["method"] not in ("GET", "HEAD"):
            return False
        path = os.path.normpath(os.path.join(*subpath.split("/"))) if subpath else "."
        try:
            _full, st = sf.lookup_path(path)
        except (OSError, ValueError):
            return False
        if st is None:
            return False
        if stat.S_ISDIR(st.st_mode):
            if not sf.html:
                return False
            _, st = sf.lookup_path(os.path.join(path, "index.html"))
            if st is None:
                return False
        ex.static = (sf, path)
        return True

    # ------------------------------------------------------------ websockets
    async def _websocket(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        from starlette.websockets import WebSocket, WebSocketDisconnect

        path = get_route_path(scope) if scope.get("root_path") else scope["path"]
        found = self._router.match_ws(path)  # type: ignore[union-attr]
        if found is None:
            await send({"type": "websocket.close", "code": 1008, "reason": "no such WebSocket route"})
            return
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        host = self._host
        cid = host.new_id()
        conn = WsConn(ws)
        host.sockets[cid] = conn
        sender = asyncio.ensure_future(self._ws_sender(cid, conn))
        rt = self.runtime
        code = 1000
        try:
            index, params = found
            client = scope.get("client")
            host.rearm(self.timeout)
            for _ in range(3):
                stale = rt.vm.call(self._ws_open, self.app_id, self._gen, cid, index, params or False,
                                   path, scope["query_string"].decode("latin-1"),
                                   client[0] if client else "")
                if not (stale and stale[0]):
                    break
                self._compile()
                found = self._router.match_ws(path)  # type: ignore[union-attr]
                if found is None:
                    return
                index, params = found
            rt._commit_if_open()
            while True:
                try:
                    message = await receive()
                except (WebSocketDisconnect, OSError):
                    break
                mtype = message["type"]
                if mtype == "websocket.receive":
                    data = message.get("text")
                    if data is None:
                        data = message.get("bytes") or b""
                    host.rearm(self.timeout)
                    rt.vm.call(self._ws_event, cid, "message", data)
                    rt._commit_if_open()
                elif mtype == "websocket.disconnect":
                    code = int(message.get("code", 1005))
                    break
        except HypeError as exc:
            log.error("hype.http: websocket %s: %s", scope["path"], exc)
            if not conn.closed:
                conn.closed = True
                conn.queue.put_nowait(("close", 1011, "internal error"))
        finally:
            conn.closed = True
            host.sockets.pop(cid, None)
            try:
                host.rearm(self.timeout)
                rt.vm.call(self._ws_event, cid, "close", code, "")
            except HypeError as exc:
                log.error("hype.http: websocket close handler: %s", exc)
            conn.queue.put_nowait(("stop", None, None))
            with contextlib.suppress(Exception):
                await sender

    async def _ws_sender(self, cid: int, conn: WsConn) -> None:
        ws = conn.ws
        while True:
            kind, a, b = await conn.queue.get()
            try:
                if kind == "text":
                    await ws.send_text(a)
                elif kind == "bytes":
                    await ws.send_bytes(a)
                elif kind == "close":
                    await ws.close(a, b)
                    return
                else:
                    return
            except (RuntimeError, OSError):
                return  # the connection is already closed

    # ---------------------------------------------------------------- misc
    async def call(self, name: str, *args: Any) -> Any:
        """Call ``app.exports[name](*args)`` in the app's runtime (awaiting a returned promise).

        Returns:
            The first result as plain data (the promise's value when it returns one).
        Raises:
            HttpError ``HTTP_NO_EXPORT``; LuaError when the function raises.
        """
        (fn,) = self.runtime.vm.call(self._host.module["export"], self.app_id, name)
        if fn is None:
            raise HttpError(f"the app exports no function {name!r}", code="HTTP_NO_EXPORT",
                            suggestion=f"Set app.exports.{name} = function(...) ... end in the Lua app.")
        self._host.rearm(self.timeout)
        try:
            result = await self.runtime.loop.call_async(fn, *args)
        finally:
            self.runtime._commit_if_open()
        if isinstance(result, tuple):
            return result[0] if result else None
        return result

    def close(self) -> None:
        """Stop serving: the app is forgotten by its runtime (Python and Lua side), and the
        runtime is closed if this app created it (commits external tables).  Idempotent."""
        host = self._host
        if host.apps.pop(self.app_id, None) is not None:
            try:
                self.runtime.vm.call(host.module["unregister"], self.app_id)
            except HypeError as exc:
                log.error("hype.http: unregistering app %s: %s", self.app_id, exc)
        if self._owns_runtime:
            self._owns_runtime = False
            self.runtime.close()


class _StaticResponse:
    """Starlette's ``StaticFiles.get_response`` for a file found by :meth:`LuaApp.static_lookup`."""

    def __init__(self, found: Any) -> None:
        self.sf, self.path = found

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        from starlette.exceptions import HTTPException

        try:
            response = await self.sf.get_response(self.path, scope)
        except HTTPException as exc:
            response = _error(exc.status_code, "NOT_FOUND" if exc.status_code == 404 else "HTTP_ERROR",
                              str(exc.detail))
        await response(scope, receive, send)


async def _drain(queue: asyncio.Queue[bytes | None]) -> Any:
    while True:
        chunk = await queue.get()
        if chunk is None:
            return
        yield chunk


def rt_root(rt: Runtime) -> str:
    """The project root of a runtime (its ``require`` base)."""
    root = getattr(rt, "project_root", None)
    return os.fspath(root) if root else os.getcwd()


def lua_app(app: str | os.PathLike[str], *, runtime: Runtime | None = None, database: Any = ":memory:",
            timeout: float | None = DEFAULT_TIMEOUT, max_body: int = DEFAULT_MAX_BODY,
            max_memory: int | None = None, dev: bool = False, sandbox: bool = False) -> LuaApp:
    """Load a Lua file returning a ``hype.http`` app and return it as an ASGI app.

    Args:
        app: path of the ``.lua`` file (relative paths: from the working directory,
            or from ``runtime``'s project root when one is given).
        runtime: run it in this runtime (default: a new one rooted at the file's directory).
        database: storage of a new runtime (``":memory:"`` or an SQLite path).
        timeout: seconds per request before 503 ``TIMEOUT`` (None: none).
        max_body: request body limit in bytes (413 above it).
        max_memory: Lua heap limit of a new runtime, in bytes.
        dev: error responses include Lua tracebacks.
        sandbox: a new runtime runs the app sandboxed (``Runtime(sandbox=True)``).
    Returns:
        :class:`LuaApp` (ASGI 3; ``.runtime``, ``await .call(name, ...)``).
    Raises:
        HypeError ``FILE_NOT_FOUND``; LuaSyntaxError/LuaError from the file;
        HttpError ``HTTP_NOT_AN_APP`` when it does not return an app.
    """
    from .._runtime import Runtime, _read_lua_file

    path = Path(app)
    if runtime is not None and not path.is_absolute():
        path = Path(rt_root(runtime)) / path
    path = path.resolve()
    text, name = _read_lua_file(path)
    owns = runtime is None
    rt = runtime if runtime is not None else Runtime(database, max_memory=max_memory, project_root=path.parent,
                                                     sandbox=sandbox)
    try:
        served = LuaApp.from_source(text, runtime=rt, chunkname=name, root=path.parent, timeout=timeout,
                                    max_body=max_body, dev=dev)
    except BaseException:
        if owns:
            rt.close()
        raise
    served._owns_runtime = owns
    return served


async def _serve(rt: Runtime, app_id: int, hostname: str, port: int, callback: Any) -> int:
    """``app:listen``: serve a Lua app on uvicorn inside the running program (``hype run``).

    Resolves (with the port) when the server has stopped: ``server:close()``, or
    SIGINT/SIGTERM (uvicorn's handlers, while it runs).
    """
    import uvicorn

    host = HttpHost.of(rt)
    app = LuaApp(rt, app_id, timeout=host.timeout or DEFAULT_TIMEOUT, root=rt_root(rt))
    from ._shutdown import GoingAway

    config = uvicorn.Config(GoingAway(app), host=hostname, port=port, log_level="warning", lifespan="off",
                            access_log=False)
    server = uvicorn.Server(config)
    host.servers[app_id] = server
    task = asyncio.ensure_future(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()  # raises what stopped it (SystemExit when the port is taken)
                raise HttpError(f"the server on {hostname}:{port} stopped while starting", code="HTTP_LISTEN")
            await asyncio.sleep(0.01)
        bound = port
        for srv in server.servers:
            for sock in srv.sockets:
                bound = sock.getsockname()[1]
        if callback:
            host.rearm(app.timeout)
            await rt.loop.call_async(callback, bound)
        await task
    except SystemExit:
        raise HttpError(f"cannot listen on {hostname}:{port} (in use, or not allowed)", code="HTTP_LISTEN",
                        suggestion="Choose another port (0 picks a free one).") from None
    finally:
        host.servers.pop(app_id, None)
    return bound
