"""``live.app({...})``: LiveViews served over HTTP + WebSocket (an ASGI app on Starlette).

``GET <path>`` mounts the view (not connected), renders it to HTML inside a layout with a
signed session token, and loads the connector (``/_hype/live.js``); the connector then
opens the WebSocket ``/_hype/live/ws`` and joins with that token
(``docs/live-protocol.md``).  Sessions outlive their connection by the grace period, so a
reconnect finds them; after a server restart the snapshot store brings the assigns back.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from .._errors import HypeError, LiveError
from ._pubsub import pubsub_from
from ._session import VERSION, Limits, Session, error_frame
from ._store import MemoryStore, SQLiteStore
from ._token import Signer

log = logging.getLogger("hypelua.live")

WS_PATH = "/_hype/live/ws"
JS_PATH = "/_hype/live.js"
SESSIONS_PATH = "/_hype/live/sessions"

DEFAULT_LAYOUT = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>.hype-error-banner{{background:#fee;border:1px solid #c00;color:#900;padding:.5em 1em;margin:.5em 0}}
.hype-disconnected{{opacity:.6}}</style>
{head}
</head>
<body>
{body}
<script src="{js}"></script>
</body>
</html>
"""


def connector_path() -> Path | None:
    """The built connector bundle: the package's ``static/hype-live.js`` (a wheel, or
    ``./build.sh dist`` in a checkout), else ``dist/web/hype-live.js`` of the checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "static" / "hype-live.js", here.parents[2] / "dist" / "web" / "hype-live.js"):
        if candidate.is_file():
            return candidate
    return None


def view_factory(view: Any) -> Callable[[], Any]:
    """A view class (Python), a Lua view factory, or any zero-argument callable -> a factory."""
    if isinstance(view, type) or callable(view):
        return view
    raise LiveError(f"not a view: {view!r}", code="NO_VIEW", suggestion="Pass a LiveView subclass.")


class LiveEndpoint:
    """The sessions, routes and settings behind ``live.app`` (also used by ``app:live`` in
    Lua apps, which add views with :meth:`add` and route to :meth:`page` / :meth:`websocket`).

    Args:
        secret_key: signs session tokens (default ``$HYPE_SECRET_KEY`` or a random key).
        snapshot_store: None (in memory; under ``hype serve``: ``$HYPE_LIVE_SNAPSHOTS``), a
            path (SQLite file: survives restarts), or an object with ``save/load/delete``.
        pubsub: None (in-process; under ``hype serve --pubsub``: ``$HYPE_LIVE_PUBSUB``),
            ``"redis://..."``, or a PubSub object.
        limits: :class:`~hypelua.live.Limits` (frame size, rate, grace period).
        layout: page template with ``{title}``, ``{head}``, ``{body}``, ``{js}`` (``str.format``).
        title: the page title.
        dev: error replies carry tracebacks; ``GET /_hype/live/sessions`` lists sessions
            (default: ``hype serve --dev``).
    """

    def __init__(self, *, secret_key: str | None = None, snapshot_store: Any = None, pubsub: Any = None,
                 limits: Limits | None = None, layout: str | None = None, title: str = "hypelua",
                 dev: bool | None = None) -> None:
        import os

        self.routes: list[tuple[str, Callable[[], Any], Any]] = []
        self.signer = Signer(secret_key)
        # `hype serve` settings (see hypelua.http._serve.LIVE_ENV) when not given here
        snapshot_store = snapshot_store if snapshot_store is not None else os.environ.get("HYPE_LIVE_SNAPSHOTS") or None
        pubsub = pubsub if pubsub is not None else os.environ.get("HYPE_LIVE_PUBSUB") or None
        dev = dev if dev is not None else os.environ.get("HYPE_SERVE_DEV") == "1"
        if snapshot_store is None:
            self.store: Any = MemoryStore()
        elif isinstance(snapshot_store, (str, Path)):
            self.store = SQLiteStore(snapshot_store)
        else:
            self.store = snapshot_store
        self.pubsub = pubsub_from(pubsub)
        self.limits = limits or Limits()
        self.layout = layout or DEFAULT_LAYOUT
        self.title = title
        self.dev = dev
        self.sessions: dict[str, Session] = {}
        self._expiry: dict[str, asyncio.TimerHandle] = {}
        self._seen: dict[WebSocket, float] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._started = False

    def add(self, path: str, view: Any) -> None:
        """Serve ``view`` at ``path`` (Starlette path syntax: ``/users/{id}``)."""
        from starlette.routing import compile_path

        regex, _, convertors = compile_path(path)
        self.routes.append((path, view_factory(view), (regex, convertors)))

    def match(self, path: str) -> tuple[str, Callable[[], Any], dict[str, Any]] | None:
        """(route path, factory, path params) of the first route matching ``path``."""
        for route, factory, (regex, convertors) in self.routes:
            m = regex.match(path)
            if m:
                params = {k: convertors[k].convert(v) for k, v in m.groupdict().items()}
                return route, factory, params
        return None

    # -- lifespan -------------------------------------------------------------------------
    async def startup(self) -> None:
        if not self._started:
            self._started = True
            await self.pubsub.start()

    async def shutdown(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for sid in list(self.sessions):
            await self._expire(sid, "shutdown")
        await self.pubsub.stop()
        close = getattr(self.store, "close", None)
        if close is not None:
            close()

    # -- HTTP ---------------------------------------------------------------------------------
    async def page(self, request: Request) -> Response:
        """The server-rendered page of the view at ``request.url.path``."""
        found = self.match(request.url.path)
        if found is None:
            return PlainTextResponse("no view here", status_code=404)
        route, factory, path_params = found
        url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        session = Session(factory, push=_no_push, path=route, path_params=path_params, limits=self.limits,
                          pubsub=self.pubsub, debug=self.dev)
        try:
            await session.mount(url, {})
            body = session.render_html()
        except HypeError as exc:
            return _error_page(exc.code, exc.message, 500)
        except Exception as exc:
            log.exception("mounting %s failed", route)
            return _error_page("VIEW_CRASHED", f"{type(exc).__name__}: {exc}" if self.dev else "mount failed", 500)
        finally:
            with contextlib.suppress(Exception):
                await session.close("page", terminate=False)
        root = live_root(url, self.signer.sign({"sid": session.sid, "path": route}), body)
        page = self.layout.format(title=html.escape(self.title), head="", body=root, js=JS_PATH)
        return HTMLResponse(page)

    async def connector(self, request: Request) -> Response:
        """``/_hype/live.js``: the connector bundle."""
        path = connector_path()
        if path is None:
            return PlainTextResponse("// hype-live.js is not built: run ./build.sh dist\n", status_code=404,
                                     media_type="application/javascript")
        return FileResponse(path, media_type="application/javascript")

    async def sessions_page(self, request: Request) -> Response:
        """``--dev``: every session with its memory (bytes) and state."""
        items = [s.info_dict() for s in self.sessions.values()]
        return JSONResponse({"sessions": items, "count": len(items),
                             "memory_bytes": sum(i["memory_bytes"] for i in items)})

    # -- WebSocket ----------------------------------------------------------------------------
    async def websocket(self, ws: WebSocket) -> None:
        """One connection: frames in, replies and pushes out; never dies of a bad frame."""
        await ws.accept()
        session: Session | None = None
        send_lock = asyncio.Lock()

        async def send(frame: dict[str, Any]) -> None:
            async with send_lock:
                await ws.send_text(json.dumps(frame, separators=(",", ":")))

        self._watch(ws)
        try:
            while True:
                try:
                    text = await ws.receive_text()
                except KeyError:  # a binary frame
                    await send(error_frame(None, "BAD_FRAME", "frames are JSON text"))
                    continue
                self._seen[ws] = time.monotonic()
                if session is None or session.closed:
                    session = await self._join_frame(text, send)
                    continue
                reply = await session.handle(text)
                if reply is not None:
                    await send(reply)
                if session.closed:
                    self.sessions.pop(session.sid, None)
                    session = None
        except WebSocketDisconnect:
            pass
        except Exception:
            log.debug("live socket ended", exc_info=True)
        finally:
            self._seen.pop(ws, None)
            if session is not None and not session.closed:
                session.detach()
                self._schedule_expiry(session.sid)

    def _watch(self, ws: WebSocket) -> None:
        """Track ``ws`` for the heartbeat sweep (one task closes connections silent too long)."""
        self._seen[ws] = time.monotonic()
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.ensure_future(self._sweep())

    async def _sweep(self) -> None:
        while self._seen:
            await asyncio.sleep(max(0.05, self.limits.heartbeat_s / 4))
            limit = time.monotonic() - self.limits.heartbeat_s
            for ws, seen in list(self._seen.items()):
                if seen < limit:
                    self._seen.pop(ws, None)
                    with contextlib.suppress(Exception):
                        await ws.close(1001, "heartbeat timeout")

    async def _join_frame(self, text: str, send: Callable[[dict[str, Any]], Any]) -> Session | None:
        """The first frame of a connection: must be a join with a valid token."""
        if len(text) > self.limits.max_frame:
            await send(error_frame(None, "FRAME_TOO_LARGE", "the join frame is too large"))
            return None
        try:
            msg = json.loads(text)
        except ValueError as exc:
            await send(error_frame(None, "BAD_FRAME", f"the frame is not JSON: {exc}"))
            return None
        ref = msg.get("ref") if isinstance(msg, dict) and type(msg.get("ref")) is int else None
        if not isinstance(msg, dict):
            await send(error_frame(None, "BAD_FRAME", "a frame is a JSON object"))
            return None
        if msg.get("v") != VERSION:
            await send(error_frame(ref, "BAD_VERSION", f"protocol version {msg.get('v')!r} is not supported",
                                   "Reload the page.", versions=[VERSION]))
            return None
        if msg.get("t") != "join":
            await send(error_frame(ref, "NOT_JOINED", "the first frame must be a join"))
            return None
        try:
            data = self.signer.verify(msg.get("session"))
        except LiveError as exc:
            await send(error_frame(ref, exc.code, exc.message, exc.suggestion))
            return None
        url = msg.get("path") if isinstance(msg.get("path"), str) else data.get("path", "/")
        found = self.match(url.split("?", 1)[0])
        if found is None or found[0] != data.get("path"):
            await send(error_frame(ref, "NO_VIEW", f"no view at {url!r} for this session"))
            return None
        route, factory, path_params = found
        sid = data["sid"]
        timer = self._expiry.pop(sid, None)
        if timer is not None:
            timer.cancel()
        session = self.sessions.get(sid)
        if session is None or session.closed:
            session = Session(factory, push=send, path=route, sid=sid, path_params=path_params, store=self.store,
                              pubsub=self.pubsub, limits=self.limits, debug=self.dev,
                              session_data={k: v for k, v in data.items() if k not in ("sid", "path")})
            self.sessions[sid] = session
        else:
            session.push_callback = send  # a reconnect: the same state, a new socket
        reply = await session.handle(msg)
        if reply is not None:
            await send(reply)
        if (reply is None or reply.get("status") != "ok") and session.view is None:
            # the mount failed: nothing to keep for a reconnect
            self.sessions.pop(sid, None)
            await session.close("crash", terminate=False)
            return None
        return session

    def _schedule_expiry(self, sid: str) -> None:
        loop = asyncio.get_running_loop()
        old = self._expiry.pop(sid, None)
        if old is not None:
            old.cancel()
        self._expiry[sid] = loop.call_later(self.limits.grace_s,
                                            lambda: asyncio.ensure_future(self._expire(sid, "timeout")))

    async def _expire(self, sid: str, reason: str) -> None:
        self._expiry.pop(sid, None)
        session = self.sessions.get(sid)
        if session is None or (session.connected and reason == "timeout"):
            return
        self.sessions.pop(sid, None)
        await session.close(reason)

    def starlette_routes(self) -> list[BaseRoute]:
        """The routes: a page per view, the WebSocket, the connector, (dev) the sessions list."""
        routes: list[BaseRoute] = [WebSocketRoute(WS_PATH, self.websocket), Route(JS_PATH, self.connector)]
        if self.dev:
            routes.append(Route(SESSIONS_PATH, self.sessions_page))
        for path, _, _ in self.routes:
            routes.append(Route(path, self.page))
        return routes


_ROOT = re.compile(r'<div data-hype-live="([^"]*)" data-hype-session="([^"]+)" data-hype-ws="([^"]+)">')


def live_root(url: str, token: str, body: str) -> str:
    """The element a served page wraps a view in: what the connector connects (``connectAll``)."""
    return (f'<div data-hype-live="{html.escape(url)}" data-hype-session="{token}" '
            f'data-hype-ws="{WS_PATH}">{body}</div>')


def read_root(page: str) -> tuple[str, str, str]:
    """``(url, session token, WebSocket path)`` of the first :func:`live_root` in ``page``
    (what a non-browser client, a test or a benchmark, needs to join).

    Raises:
        LiveError: ``NO_VIEW`` when the page has no live root.
    """
    m = _ROOT.search(page)
    if m is None:
        raise LiveError("the page has no LiveView root", code="NO_VIEW")
    return html.unescape(m.group(1)), m.group(2), m.group(3)


def _no_push(frame: dict[str, Any]) -> None:
    """The first page render has no connection to push to."""


def _error_page(code: str, message: str, status: int) -> Response:
    return HTMLResponse(f"<!doctype html><title>{code}</title><h1>{html.escape(code)}</h1>"
                        f"<p>{html.escape(message)}</p>", status_code=status)


def app(routes: Mapping[str, Any], **options: Any) -> Starlette:
    """An ASGI app serving LiveViews: ``live.app({"/": Counter, "/todo": Todo})``.

    Args:
        routes: path (Starlette syntax) -> view (a LiveView subclass, or a Lua view factory).
        options: those of :class:`LiveEndpoint` (``secret_key``, ``snapshot_store``,
            ``pubsub``, ``limits``, ``layout``, ``title``, ``dev``).

    Returns:
        a Starlette app (``hype serve module:app``, ``uvicorn module:app``); its endpoint
        is ``app.state.live``.
    """
    endpoint = LiveEndpoint(**options)
    for path, view in routes.items():
        endpoint.add(path, view)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> Any:
        await endpoint.startup()
        try:
            yield
        finally:
            await endpoint.shutdown()

    starlette = Starlette(routes=endpoint.starlette_routes(), lifespan=lifespan)
    starlette.state.live = endpoint
    return starlette
