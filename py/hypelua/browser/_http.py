"""The worker's HTTP ops: a Lua app loaded into the worker's runtime answers ``hype.fetch``.

Ops (wired into :class:`hypelua.browser.WorkerHost`):

* ``httpLoad {path} | {source, chunkname}`` (+ ``options``: keyword arguments of
  :func:`hypelua.http.lua_app`) -> ``{"app": path | chunkname}``: load a Lua app
  (a project file, or source text such as the playground buffer) into the worker's
  runtime, replacing the app loaded before (which stays when loading fails).
* ``httpFetch {method, url, headers: [[name, value], ...], body, timeout}`` ->
  ``{"status", "headers": [[name, value], ...], "size"}``; the response body is the
  reply's binary payload (:meth:`WorkerHost.take_payload`), the request body the
  request's payload (or ``body`` in the JSON: text, or ``{"$bytes": base64}``).
* ``httpUnload {}`` -> whether an app was loaded.

Failures of the *app* are HTTP responses, as on a server: an exception escaping the
app before its response is complete becomes a 500 with
``{"error": {"code", "message"}}`` (the traceback goes to the reply's warnings), a
handler still running after ``timeout`` ms (default :data:`DEFAULT_HTTP_TIMEOUT_MS`;
a ``LuaApp`` enforces its own ``timeout`` option first, also on Lua that never yields)
a 503 with code ``TIMEOUT``.  Failures of the *request* are typed errors:
``NO_APP`` (nothing loaded), ``BAD_REQUEST`` (malformed method, URL, headers),
``FILE_NOT_FOUND`` / Lua errors / ``BAD_APP`` from ``httpLoad``.

``hypelua.http`` (Starlette, anyio) is imported on the first ``httpLoad``, never at
worker boot (SPEC 1.2: the core import stays light and snapshot-safe).  Pyodide has no
threads: there :func:`inline_to_thread` makes ``anyio.to_thread.run_sync`` call the
function in place, so Starlette's static files, ``FileResponse`` and sync endpoints work
(file I/O in Pyodide is in memory anyway).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import sys
import traceback
from typing import TYPE_CHECKING, Any

from .._errors import HypeError

if TYPE_CHECKING:
    from ._host import WorkerHost

#: default cap of one ``httpFetch`` (ms): past it the response is a 503 (the server's ``--timeout``)
DEFAULT_HTTP_TIMEOUT_MS = 30_000
#: extra seconds the host waits after ``timeout`` before answering 503 itself (the app's own limit first)
BACKSTOP_S = 1.0


def _json_response(status: int, code: str, message: str) -> tuple[int, list[tuple[str, str]], bytes]:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    return status, [("content-type", "application/json"), ("content-length", str(len(body)))], body


def _headers(headers: Any) -> list[tuple[str, str]]:
    """``[[name, value], ...]`` or ``{name: value}`` -> pairs (typed ``BAD_REQUEST`` otherwise)."""
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, dict) else headers
    if not isinstance(items, (list, type({}.items()))):
        raise HypeError("headers must be [[name, value], ...] or {name: value}", code="BAD_REQUEST")
    out = []
    for pair in items:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not all(isinstance(x, str) for x in pair):
            raise HypeError("each header must be a [name, value] pair of strings", code="BAD_REQUEST")
        out.append((pair[0], pair[1]))
    return out


def _body(body: Any, payload: bytes | None) -> bytes:
    if payload is not None:
        return payload
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    from ._host import from_jsonable

    data = from_jsonable(body)
    if not isinstance(data, bytes):
        raise HypeError("body must be text or {'$bytes': base64}", code="BAD_REQUEST")
    return data


def inline_to_thread() -> None:
    """Make ``anyio.to_thread.run_sync`` run the function in place (idempotent; for Pyodide).

    Starlette offloads blocking calls (``StaticFiles`` look-ups, ``FileResponse`` reads,
    sync endpoints) to a worker thread, which Pyodide cannot start ("can't start new
    thread").  Callers look the function up on the module at call time, so replacing the
    module attribute reaches all of them.
    """
    import anyio.to_thread

    if getattr(anyio.to_thread.run_sync, "_hype_inline", False):
        return

    async def run_sync(func: Any, *args: Any, abandon_on_cancel: bool = False, cancellable: Any = None,
                       limiter: Any = None) -> Any:
        return func(*args)

    run_sync._hype_inline = True  # type: ignore[attr-defined]
    anyio.to_thread.run_sync = run_sync  # type: ignore[assignment]


class HttpOps:
    """The Lua app of one :class:`WorkerHost` and the ops serving it."""

    def __init__(self, host: WorkerHost) -> None:
        self._host = host
        #: the loaded ASGI app (a ``hypelua.http.LuaApp``), or None
        self.app: Any = None
        #: what was loaded: the project path or the chunk name
        self.name: str | None = None

    def ops(self) -> dict[str, Any]:
        """The op name -> handler entries of the host's dispatch table."""
        return {"httpLoad": self.load, "httpFetch": self.fetch, "httpUnload": self.unload}

    async def _close(self, app: Any) -> None:
        close = getattr(app, "aclose", None) or getattr(app, "close", None)
        if close is not None:
            result = close()
            if inspect.isawaitable(result):
                await result

    async def load(self, path: str | None = None, source: str | None = None, chunkname: str | None = None,
                   options: dict[str, Any] | None = None) -> dict[str, Any]:
        """``httpLoad``: see the module docstring.

        Raises:
            HypeError: ``BAD_REQUEST`` (not exactly one of path/source, bad options),
                ``FILE_NOT_FOUND``, ``PATH_OUTSIDE_PROJECT``, ``LUA_SYNTAX_ERROR`` /
                ``LUA_RUNTIME_ERROR`` (the app's chunk failed), ``BAD_APP`` or whatever
                :func:`hypelua.http.lua_app` raises for a chunk that returns no app.
        """
        if (path is None) == (source is None):
            raise HypeError("httpLoad needs exactly one of {path} or {source}", code="BAD_REQUEST",
                            suggestion="Pass {path: 'app.lua'} (a project file) or {source: '...lua...'}.")
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise HypeError("options must be an object of lua_app() keyword arguments", code="BAD_REQUEST")
        from .. import http  # Starlette and anyio: imported only when an app is loaded

        if sys.platform == "emscripten":
            inline_to_thread()

        host = self._host
        if path is not None:
            if not isinstance(path, str):
                raise HypeError("path must be a string", code="BAD_REQUEST")
            full = host.project.resolve(path) if host.project is not None else os.path.abspath(path)
            if not os.path.isfile(full):
                raise HypeError(f"no such file {path!r} in the project", code="FILE_NOT_FOUND",
                                details={"path": path}, suggestion="Write it first (hype.writeFile) or fix the path.")
            app = http.lua_app(full, runtime=host.runtime, **options)
            name = path
        else:
            if not isinstance(source, str):
                raise HypeError("source must be Lua source text", code="BAD_REQUEST")
            if chunkname is not None and not isinstance(chunkname, str):
                raise HypeError("chunkname must be a string", code="BAD_REQUEST")
            name = chunkname or "=app"
            app = http.LuaApp.from_source(source, runtime=host.runtime, chunkname=name, **options)
        old, self.app, self.name = self.app, app, name
        if old is not None:
            await self._close(old)
        return {"app": name}

    async def unload(self) -> bool:
        """``httpUnload``: forget the loaded app; returns whether there was one."""
        old, self.app, self.name = self.app, None, None
        if old is not None:
            await self._close(old)
        return old is not None

    def forget(self) -> None:
        """Drop the app without closing it (its runtime is being replaced: ``reset``)."""
        self.app = self.name = None

    async def fetch(self, url: str, method: str = "GET", headers: Any = None, body: Any = None,
                    timeout: float | None = None, payload: bytes | None = None) -> dict[str, Any]:
        """``httpFetch``: one request through the loaded app (see the module docstring).

        Returns ``{"status", "headers", "size"}`` and leaves the body for
        :meth:`WorkerHost.take_payload`.
        Raises:
            HypeError: ``NO_APP``, ``BAD_REQUEST``.
        """
        from ..http._inprocess import BadRequest, call_asgi

        host = self._host
        if self.app is None:
            raise HypeError("no HTTP app is loaded in the worker", code="NO_APP",
                            suggestion="Load one first: await hype.loadApp({path: 'app.lua'}) or {source}.")
        if not isinstance(url, str) or not isinstance(method, str):
            raise HypeError("url and method must be strings", code="BAD_REQUEST")
        if timeout is None:
            timeout = DEFAULT_HTTP_TIMEOUT_MS
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise HypeError("timeout must be a positive number of milliseconds", code="BAD_REQUEST")
        pairs = _headers(headers)
        data = _body(body, payload)
        try:
            # a backstop: a LuaApp answers 503 TIMEOUT by itself (its `timeout` option, which also
            # stops Lua that never yields); this covers any ASGI app, a moment later
            status, out_headers, out = await asyncio.wait_for(
                call_asgi(self.app, method=method, url=url, headers=pairs, body=data),
                timeout / 1000.0 + BACKSTOP_S)
        except BadRequest:
            raise
        except TimeoutError:
            status, out_headers, out = _json_response(
                503, "TIMEOUT", f"the app did not answer {method.upper()} {url} within {timeout:g} ms")
        except Exception as exc:  # the app failed before its response: a server answers 500
            code = exc.code if isinstance(exc, HypeError) else "INTERNAL_ERROR"
            message = exc.message if isinstance(exc, HypeError) else f"{type(exc).__name__}: {exc}"
            host.warn(f"{method.upper()} {url}: the app failed: {message}\n{traceback.format_exc(limit=12)}")
            status, out_headers, out = _json_response(500, code, message)
        host.set_payload(out)
        return {"status": status, "headers": [[k, v] for k, v in out_headers], "size": len(out)}
