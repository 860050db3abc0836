"""One LiveView session: the server side of ``docs/live-protocol.md`` (version 1).

A :class:`Session` owns a view instance (Python :class:`~hypelua.live.LiveView` or a Lua
view) and answers client frames with :meth:`Session.handle`; frames the server starts
(pub/sub ``diff``, ``redirect``, ``patch``, ``crash``) go out through the ``push`` callback.
It is transport-free: the WebSocket endpoint (:mod:`._app`) and the browser worker
(:mod:`hypelua.browser._live`) both feed it frames.  No frame, payload or view error
escapes :meth:`Session.handle`: each becomes an error reply and the session goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import secrets
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .._errors import HypeError, LiveError
from ._forms import coerce, validate
from ._render import ComponentCall, Context, diff
from ._view import maybe_await

VERSION = 1
FRAME_TYPES = frozenset(("join", "event", "patch", "heartbeat", "leave"))
MODEL_EVENT = "hype:model"

#: the view whose hook is running (``live.subscribe``/``live.broadcast`` act for it)
current_session: contextvars.ContextVar[Session | None] = contextvars.ContextVar("hype_live_session", default=None)


@dataclass
class Limits:
    """Per-connection limits (``docs/live-protocol.md``, Limits).

    Attributes:
        max_frame: bytes of one client frame (default 64 KiB).
        rate: sustained events per second; ``burst``: bucket size.
        grace_s: seconds a disconnected session is kept for a reconnect.
        heartbeat_s: seconds of silence after which a connection is closed.
        max_event_name: characters of an event name.
    """

    max_frame: int = 64 * 1024
    rate: float = 50.0
    burst: int = 100
    grace_s: float = 30.0
    heartbeat_s: float = 60.0
    max_event_name: int = 200


Push = Callable[[dict[str, Any]], Awaitable[None] | None]
ViewFactory = Callable[[], Any]


def error_frame(ref: Any, code: str, message: str, hint: str = "", **extra: Any) -> dict[str, Any]:
    """A ``reply`` frame with ``status: "error"`` (``ref`` None when the frame had none)."""
    return {"v": VERSION, "t": "reply", "ref": ref, "status": "error",
            "error": {"code": code, "message": message, "hint": hint}, **extra}


def _error_of(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, HypeError):
        return {"code": exc.code, "message": exc.message, "hint": exc.suggestion}
    return {"code": type(exc).__name__, "message": str(exc), "hint": ""}


def _field_name(name: Any) -> bool:
    """A ``hype-model`` field may set any public assign: an identifier not starting with ``_``."""
    return isinstance(name, str) and name.isidentifier() and not name.startswith("_") and len(name) <= 100


def params_of(url: str) -> dict[str, Any]:
    """Query parameters of ``url`` (repeated names -> the last value, like Phoenix)."""
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


class Session:
    """A view instance behind the protocol.

    Args:
        factory: makes the view instance (a :class:`~hypelua.live.LiveView` subclass, or a
            Lua view factory from :func:`hypelua.live.load_view`).
        push: called with each server-initiated frame (dict); may be async.
        path: the route the view is mounted at (for ``patch`` URLs).
        sid: session id (snapshots are kept under it); random when None.
        session_data: what ``mount`` receives as ``session`` (the signed token's data).
        store: snapshot store (``save/load/delete``), or None for no snapshots.
        pubsub: a :class:`~hypelua.live.PubSub` for ``subscribe``/``broadcast``.
        limits: :class:`Limits`.
        path_params: route parameters merged into ``params`` (``/users/{id}``).
        debug: error replies carry the traceback.
    """

    def __init__(self, factory: ViewFactory, *, push: Push, path: str = "/", sid: str | None = None,
                 session_data: Mapping[str, Any] | None = None, store: Any = None, pubsub: Any = None,
                 limits: Limits | None = None, path_params: Mapping[str, Any] | None = None,
                 debug: bool = False) -> None:
        self.factory = factory
        self.push_callback = push
        self.path = path
        self.sid = sid or secrets.token_urlsafe(16)
        self.session_data = dict(session_data or {})
        self.store = store
        self.pubsub = pubsub
        self.limits = limits or Limits()
        self.path_params = dict(path_params or {})
        self.debug = debug
        self.view: Any = None
        self.connected = False
        self.url = path
        self.params: dict[str, Any] = {}
        self._lock = asyncio.Lock()
        self._sent: set[int] = set()
        self._prev: dict[str, Any] | None = None
        self._comps: dict[tuple[Any, Any], Any] = {}
        self._by_cid: dict[int, Any] = {}
        self._crender: dict[int, dict[str, Any]] = {}
        self._fresh: dict[int, dict[str, Any]] = {}
        self._next_cid = 1
        self._tokens = float(self.limits.burst)
        self._refill = time.monotonic()
        self._topics: set[str] = set()
        self._pending: list[dict[str, Any]] = []
        self._patch_to: str | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closed = False
        self.events_handled = 0
        self.last_seen = time.monotonic()
        self._ctx = Context(self._component)
        self._save_pending = False

    # -- the protocol -------------------------------------------------------------------
    async def handle(self, frame: str | bytes | Mapping[str, Any]) -> dict[str, Any] | None:
        """Answer one client frame (JSON text or an already-decoded dict).

        Returns:
            the ``reply`` frame (dict), or None for ``leave``. Never raises for bad input or
            a failing view: those are error replies (codes in ``docs/live-protocol.md``).
        """
        self.last_seen = time.monotonic()
        msg, err = self._decode(frame)
        if err is not None:
            return err
        assert msg is not None
        ref, kind = msg.get("ref"), msg["t"]
        if kind == "heartbeat":
            return {"v": VERSION, "t": "reply", "ref": ref, "status": "ok"}
        if kind == "event" and not self._take_token():
            return error_frame(ref, "RATE_LIMITED", f"more than {self.limits.rate:g} events/s",
                               "Debounce or throttle the event (hype-on:input.debounce.300ms).")
        async with self._lock:
            token = current_session.set(self)
            try:
                if kind == "join":
                    return await self._join(ref, msg)
                if kind == "leave":
                    await self.close("leave")
                    return None
                if self.view is None or not self.connected:
                    return error_frame(ref, "NOT_JOINED", f"a {kind!r} frame before join", "Send a join frame first.")
                if kind == "event":
                    return await self._event(ref, msg)
                return await self._patch(ref, msg)
            finally:
                current_session.reset(token)

    def _decode(self, frame: Any) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        if isinstance(frame, (str, bytes, bytearray)):
            if len(frame) > self.limits.max_frame:
                limit = self.limits.max_frame
                return None, error_frame(None, "FRAME_TOO_LARGE",
                                         f"a frame of {len(frame)} bytes is over the {limit}-byte limit",
                                         "Send smaller payloads.")
            try:
                frame = json.loads(frame)
            except (ValueError, UnicodeDecodeError) as exc:
                return None, error_frame(None, "BAD_FRAME", f"the frame is not JSON: {exc}")
        if not isinstance(frame, Mapping):
            return None, error_frame(None, "BAD_FRAME", "a frame is a JSON object")
        ref = frame.get("ref")
        if ref is not None and (type(ref) is not int):
            return None, error_frame(None, "BAD_FRAME", "ref must be an integer")
        if frame.get("v") != VERSION:
            return None, error_frame(ref, "BAD_VERSION", f"protocol version {frame.get('v')!r} is not supported",
                                     "Reload the page to get a matching client.", versions=[VERSION])
        if frame.get("t") not in FRAME_TYPES:
            return None, error_frame(ref, "BAD_FRAME", f"unknown frame type {frame.get('t')!r}")
        return dict(frame), None

    def _take_token(self) -> bool:
        now = time.monotonic()
        self._tokens = min(float(self.limits.burst), self._tokens + (now - self._refill) * self.limits.rate)
        self._refill = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    async def _join(self, ref: Any, msg: dict[str, Any]) -> dict[str, Any]:
        url = msg.get("path") if isinstance(msg.get("path"), str) else self.url
        params = msg.get("params") if isinstance(msg.get("params"), Mapping) else {}
        form = msg.get("form") if isinstance(msg.get("form"), Mapping) else {}
        try:
            self.connected = True  # mount sees connected == True (Phoenix's connected?(socket))
            if self.view is None:
                await self.mount(url, dict(params))
                snapshot = self.store.load(self.sid) if self.store is not None else None
                if snapshot:
                    self.view._lv_restore(snapshot)
            if form:
                self._apply_form(form)
            self._sent = set()  # a new connection: statics again; components from _crender come along
            self._prev = None
            rendered = self._render(full=True)
        except Exception as exc:
            self.connected = False
            self.view = None
            return error_frame(ref, "VIEW_CRASHED", f"mount failed: {_error_of(exc)['message']}",
                               "See the server log.", **self._debug(exc))
        self._save()
        return {"v": VERSION, "t": "reply", "ref": ref, "status": "ok", "rendered": rendered}

    async def mount(self, url: str, params: Mapping[str, Any] | None = None) -> None:
        """Create the view and run ``mount`` and ``handle_params`` (also used, not connected,
        for the server-rendered first page)."""
        self.url = url
        self.params = {**params_of(url), **self.path_params, **dict(params or {})}
        view = self.factory()
        view._session = self
        self.view = view
        await view._lv_call("mount", self.params, self.session_data)
        await view._lv_call("handle_params", self.params, url)

    def render_html(self) -> str:
        """The current view as HTML (the first, server-rendered page)."""
        from ._render import to_html

        rendered = self._render(full=True)
        self._sent = set()
        return to_html(rendered)

    async def _event(self, ref: Any, msg: dict[str, Any]) -> dict[str, Any]:
        name, payload, cid = msg.get("event"), msg.get("payload", {}), msg.get("cid")
        if not isinstance(name, str) or not name or len(name) > self.limits.max_event_name:
            return error_frame(ref, "BAD_FRAME", "event must be a non-empty string")
        if payload is None:
            payload = {}
        if not isinstance(payload, Mapping):
            return error_frame(ref, "BAD_PAYLOAD", f"the payload of {name!r} must be an object")
        target = self.view
        if cid is not None:
            target = self._by_cid.get(cid) if type(cid) is int else None
            if target is None:
                return error_frame(ref, "BAD_FRAME", f"no component with id {cid!r}")
        if name == MODEL_EVENT:
            field, value = payload.get("field"), payload.get("value")
            if not _field_name(field):
                return error_frame(ref, "BAD_PAYLOAD", "hype:model needs a field name (an identifier, not _private)")
            self._apply_form({field: value}, target)
        else:
            if target is self.view:
                known, open_events = self.view._lv_events()
            else:
                known, open_events = target._lv_template().events, target._lv_template().open_events
            if name not in known and not open_events:
                return error_frame(ref, "UNKNOWN_EVENT", f"no handler for event {name!r}",
                                   f"Events of this view: {', '.join(sorted(known)) or 'none'}.")
            try:
                await maybe_await(target._lv_call("handle_event", name, dict(payload))
                                  if hasattr(target, "_lv_call") else target.handle_event(name, dict(payload)))
            except Exception as exc:
                return await self._crash(ref, exc)
        self.events_handled += 1
        return await self._after(ref)

    async def _patch(self, ref: Any, msg: dict[str, Any]) -> dict[str, Any]:
        url = msg.get("url")
        if not isinstance(url, str) or len(url) > 8192:
            return error_frame(ref, "BAD_FRAME", "patch needs a url string")
        try:
            await self._handle_params(url)
        except Exception as exc:
            return await self._crash(ref, exc)
        return await self._after(ref)

    async def _handle_params(self, url: str) -> None:
        self.url = url
        self.params = {**params_of(url), **self.path_params}
        await self.view._lv_call("handle_params", self.params, url)

    async def _after(self, ref: Any) -> dict[str, Any]:
        """Render what changed; run a pending ``push_patch``; reply with the diff."""
        try:
            if self._patch_to is not None:
                to, self._patch_to = self._patch_to, None
                await self._handle_params(to)
                d = self._render()
                await self._push({"v": VERSION, "t": "patch", "to": to, "diff": d})
                d = None
            else:
                d = self._render()
            if d is not None:
                await self.view._lv_call("updated")
        except Exception as exc:
            return await self._crash(ref, exc)
        await self._flush_pending()
        if d is not None:
            self._save_soon()
        return {"v": VERSION, "t": "reply", "ref": ref, "status": "ok", "diff": d}

    async def _crash(self, ref: Any, exc: BaseException) -> dict[str, Any]:
        """The view raised: re-mount it fresh (Phoenix's crash-then-recover), push ``crash``."""
        error = _error_of(exc)
        error["code"] = "VIEW_CRASHED"
        error["message"] = f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"
        error["hint"] = "The view was re-mounted; see the server log."
        self._log_crash(exc)
        try:
            self._drop_view()
            await self.mount(self.url, {})
            self._sent, self._prev, self._crender = set(), None, {}
            rendered = self._render(full=True)
            await self._push({"v": VERSION, "t": "crash", "error": error, "rendered": rendered})
        except Exception as again:
            self.view = None
            self.connected = False
            return error_frame(ref, "VIEW_CRASHED", f"re-mount failed: {_error_of(again)['message']}",
                               "Reload the page.", **self._debug(again))
        if self.store is not None:
            self.store.delete(self.sid)  # the snapshot may be what crashed it
        return {"v": VERSION, "t": "reply", "ref": ref, "status": "error", "error": error, **self._debug(exc)}

    def _debug(self, exc: BaseException) -> dict[str, Any]:
        if not self.debug:
            return {}
        return {"traceback": "".join(traceback.format_exception(exc))}

    def _log_crash(self, exc: BaseException) -> None:
        import logging

        logging.getLogger("hypelua.live").warning("view %s crashed: %s", self.path, exc,
                                                  exc_info=(type(exc), exc, exc.__traceback__))

    def _drop_view(self) -> None:
        for topic in list(self._topics):
            self.unsubscribe(topic)
        self._comps.clear()
        self._by_cid.clear()
        self._cancel_timers()
        self.view = None

    def _apply_form(self, form: Mapping[str, Any], target: Any = None) -> None:
        target = target if target is not None else self.view
        schema = target._lv_schema() if hasattr(target, "_lv_schema") else None
        values = coerce({k: v for k, v in form.items() if _field_name(k)}, schema)
        target.assign(values)
        if schema:
            props = schema.get("properties", {})
            data = {k: target.assigns.get(k) for k in props if target.assigns.get(k) not in (None, "")}
            target.assign(errors=validate(data, schema))

    # -- rendering ------------------------------------------------------------------------
    def _component(self, call: ComponentCall) -> int:
        key = (call.cls, call.id)
        inst = self._comps.get(key)
        if inst is None:
            inst = call.cls()
            inst.cid = self._next_cid
            self._next_cid += 1
            inst.view = self.view
            inst._session = self
            self._comps[key] = inst
            self._by_cid[inst.cid] = inst
            inst.mount()
        inst.update(dict(call.assigns))
        if inst._lv_dirty() or inst.cid not in self._crender:
            self._fresh[inst.cid] = inst._lv_render(self._ctx)
        return int(inst.cid)

    def _render(self, full: bool = False) -> dict[str, Any] | None:
        """The diff since the last render (``full``: the whole render, statics included)."""
        self._fresh = {}
        view = self.view
        new = view._lv_render(self._ctx) if (full or view._lv_dirty() or self._prev is None) else self._prev
        for cid, inst in list(self._by_cid.items()):
            if cid not in self._fresh and inst._lv_dirty():
                self._fresh[cid] = inst._lv_render(self._ctx)
        d = diff(None if full else self._prev, new, self._sent)
        self._prev = new
        comps: dict[str, Any] = {}
        if full:
            for cid, r in self._crender.items():
                if cid not in self._fresh:
                    comps[str(cid)] = diff(None, r, self._sent)
        for cid, r in self._fresh.items():
            cd = diff(None if full else self._crender.get(cid), r, self._sent)
            if cd is not None:
                comps[str(cid)] = cd
            self._crender[cid] = r
        self._fresh = {}
        if comps:
            d = dict(d or {})
            d["c"] = comps
        return d

    def _save_soon(self) -> None:
        """Save the snapshot right after the reply goes out (off the event's latency)."""
        if self.store is None or self._save_pending:
            return
        self._save_pending = True

        def run() -> None:
            self._save_pending = False
            self._save()

        asyncio.get_running_loop().call_soon(run)

    def _save(self) -> None:
        if self.store is not None and self.view is not None:
            try:
                self.store.save(self.sid, self.view._lv_snapshot())
            except Exception:
                import logging

                logging.getLogger("hypelua.live").exception("saving the snapshot of %s failed", self.sid)

    # -- server-initiated ---------------------------------------------------------------
    async def _push(self, frame: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):
            await maybe_await(self.push_callback(frame))

    async def _flush_pending(self) -> None:
        pending, self._pending = self._pending, []
        for frame in pending:
            await self._push(frame)

    async def info(self, msg: Any) -> None:
        """Run ``handle_info(msg)`` and push the resulting ``diff`` (errors: ``crash``)."""
        if self.closed:
            return
        async with self._lock:
            if self.view is None:
                return
            token = current_session.set(self)
            try:
                try:
                    await self.view._lv_call("handle_info", msg)
                except Exception as exc:
                    await self._crash(None, exc)
                    return
                if not self.connected:
                    return  # rendered on the next join
                reply = await self._after(None)
                if reply.get("status") == "ok" and reply.get("diff") is not None:
                    await self._push({"v": VERSION, "t": "diff", "diff": reply["diff"]})
            finally:
                current_session.reset(token)

    def send_info(self, msg: Any, after_ms: float = 0) -> None:
        """Schedule ``handle_info(msg)`` on this session (after ``after_ms`` ms)."""
        loop = asyncio.get_running_loop()

        def fire() -> None:
            self._timers.discard(handle)
            self._spawn(self.info(msg))

        handle = loop.call_later(max(0.0, after_ms) / 1000, fire)
        self._timers.add(handle)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _cancel_timers(self) -> None:
        for h in self._timers:
            h.cancel()
        self._timers.clear()

    def push_patch(self, to: str) -> None:
        """After the running hook: change the URL to ``to`` and run ``handle_params``."""
        self._patch_to = str(to)

    def push_redirect(self, to: str) -> None:
        """After the running hook: navigate the page to ``to``."""
        self._pending.append({"v": VERSION, "t": "redirect", "to": str(to)})

    def subscribe(self, topic: str) -> None:
        """``handle_info`` receives the broadcasts of ``topic``."""
        if self.pubsub is None:
            raise LiveError("no pub/sub is configured for this session", code="NO_PUBSUB")
        if topic not in self._topics:
            self._topics.add(topic)
            self.pubsub.subscribe(topic, self._on_broadcast)

    def unsubscribe(self, topic: str) -> None:
        if topic in self._topics and self.pubsub is not None:
            self._topics.discard(topic)
            self.pubsub.unsubscribe(topic, self._on_broadcast)

    async def broadcast(self, topic: str, msg: Any) -> None:
        """Publish ``msg`` on ``topic`` (every subscriber's ``handle_info``)."""
        if self.pubsub is None:
            raise LiveError("no pub/sub is configured for this session", code="NO_PUBSUB")
        await self.pubsub.broadcast(topic, msg)

    def _on_broadcast(self, msg: Any) -> None:
        self._spawn(self.info(msg))

    # -- lifetime ---------------------------------------------------------------------------
    def detach(self) -> None:
        """The connection dropped: keep the state for a reconnect (the grace period)."""
        self.connected = False

    async def close(self, reason: str = "leave", terminate: bool = True) -> None:
        """End the session: ``terminate(reason)`` (unless ``terminate`` is false: the first,
        disconnected page render), unsubscribe, forget the snapshot on ``leave``."""
        if self.closed:
            return
        self.closed = True
        self.connected = False
        view = self.view
        for topic in list(self._topics):
            self.unsubscribe(topic)
        self._cancel_timers()
        for task in list(self._tasks):
            if task is not asyncio.current_task():
                task.cancel()
        if view is not None and terminate:
            with contextlib.suppress(Exception):
                await view._lv_call("terminate", reason)
        if reason == "leave" and self.store is not None:
            self.store.delete(self.sid)
        self.view = None
        self._prev = None
        self._crender.clear()
        self._comps.clear()
        self._by_cid.clear()

    def memory(self) -> int:
        """Approximate bytes this session holds (assigns, last renders)."""
        total = 0
        if self.view is not None:
            total += self.view._lv_memory()
        for inst in self._by_cid.values():
            total += inst._lv_memory()
        return total

    def info_dict(self) -> dict[str, Any]:
        """For ``hype serve --dev``: ``{sid, path, connected, events, memory_bytes, topics}``."""
        return {"sid": self.sid, "path": self.url, "connected": self.connected, "events": self.events_handled,
                "memory_bytes": self.memory(), "topics": sorted(self._topics),
                "idle_s": round(time.monotonic() - self.last_seen, 1)}
