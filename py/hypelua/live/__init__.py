"""LiveView (SPEC §3 C, issue 10): server-rendered components with statics/dynamics diffs.

Public API::

    from hypelua import live

    class Counter(live.LiveView):
        template = '<h1>{{ count }}</h1><button hype-on:click="inc">+</button>'
        def mount(self, params, session): self.assign(count=0)
        def handle_event(self, event, payload): self.assign(count=self.assigns["count"] + 1)

    app = live.app({"/": Counter})      # ASGI: GET / renders, then a WebSocket (docs/live-protocol.md)

Pieces: the template compiler (:mod:`._template`), the renderer/differ in Phoenix
LiveView's rendered format (:mod:`._render`), views and components (:mod:`._view`), the
protocol session (:mod:`._session`), the ASGI app (:mod:`._app`), pub/sub
(:mod:`._pubsub`), snapshots (:mod:`._store`), signed tokens (:mod:`._token`), JSON Schema
forms (:mod:`._forms`).
"""

from __future__ import annotations

from typing import Any

from .._errors import LiveError, TemplateError
from ._app import LiveEndpoint, app
from ._lua import LuaView, load_view
from ._pubsub import LocalPubSub, RedisPubSub, default_pubsub
from ._pycompile import PythonEvaluator, compile_python
from ._render import apply, diff, render, to_html
from ._session import VERSION, Limits, Session, current_session
from ._store import MemoryStore, SQLiteStore
from ._template import Template, compile_template
from ._view import FunctionComponent, LiveComponent, LiveView, function_component, live_component


def subscribe(topic: str) -> None:
    """Subscribe the view whose hook is running to ``topic`` (its ``handle_info`` gets the
    broadcasts).

    Raises:
        LiveError: ``NOT_JOINED`` outside a view's hook.
    """
    session = current_session.get()
    if session is None:
        raise LiveError("live.subscribe() runs inside a view's hook", code="NOT_JOINED")
    session.subscribe(topic)


async def broadcast(topic: str, msg: Any) -> None:
    """Send ``msg`` (JSON data) to the ``handle_info`` of every view subscribed to ``topic``
    (through the running view's pub/sub, else the process's in-process one)."""
    session = current_session.get()
    pubsub = session.pubsub if session is not None and session.pubsub is not None else default_pubsub()
    await pubsub.broadcast(topic, msg)


__all__ = ["VERSION", "FunctionComponent", "Limits", "LiveComponent", "LiveEndpoint", "LiveError", "LiveView",
           "LocalPubSub", "LuaView", "MemoryStore", "PythonEvaluator", "RedisPubSub", "SQLiteStore", "Session",
           "Template", "TemplateError", "app", "apply", "broadcast", "compile_python", "compile_template",
           "default_pubsub", "diff", "load_view",
           "function_component", "live_component", "render", "subscribe", "to_html"]
