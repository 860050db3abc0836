"""Close open WebSockets with 1001 ("going away") when the server shuts down.

uvicorn drains in-flight HTTP requests on SIGTERM/SIGINT, but it closes open
WebSockets with 1012 ("service restart").  :class:`GoingAway` wraps any ASGI app:
it tracks accepted WebSocket connections and wraps the process's SIGTERM/SIGINT
handler (uvicorn's ``Server.handle_exit``, installed before lifespan start-up, in
every worker and reload child).  On the first signal it sends
``{"type": "websocket.close", "code": 1001}`` on each open connection, *then*
calls the previous handler, so uvicorn's own shutdown finds them already
closing and only ends their transports.  HTTP requests pass through untouched.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]

#: close code sent to open WebSockets at shutdown (RFC 6455 "going away")
GOING_AWAY = 1001
#: how long the close frames may take before uvicorn's shutdown proceeds (seconds)
CLOSE_WAIT_S = 1.0
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Socket:
    """One accepted WebSocket: its ``send`` and whether a close went out."""

    __slots__ = ("closed", "send")

    def __init__(self, send: Any) -> None:
        self.send = send
        self.closed = False

    async def going_away(self) -> None:
        if self.closed:
            return
        self.closed = True
        await self.send({"type": "websocket.close", "code": GOING_AWAY, "reason": "server shutting down"})


class GoingAway:
    """ASGI wrapper: WebSockets open at SIGTERM/SIGINT are closed with code 1001.

    Args:
        app: any ASGI 3 application.

    After the 1001 close, further ``websocket.send``/``websocket.close`` messages
    of the app on that connection are dropped (the peer is gone); ``receive``
    still reports the disconnect as the server sees it.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self._sockets: set[_Socket] = set()
        self._hooked_pid: int | None = None
        self._closing = False

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.app(scope, receive, send)
            return
        if self._hooked_pid != os.getpid():
            self._hook_signals()
        if kind != "websocket":
            await self.app(scope, receive, send)
            return
        sock = _Socket(send)

        async def tracked_send(message: Message) -> None:
            if sock.closed:
                return  # closed with 1001 by the shutdown: the peer is gone
            if message["type"] == "websocket.accept":
                await send(message)
                if not self._closing:
                    self._sockets.add(sock)
                else:
                    await sock.going_away()
                return
            if message["type"] == "websocket.close":
                sock.closed = True
                self._sockets.discard(sock)
            await send(message)

        try:
            await self.app(scope, receive, tracked_send)
        finally:
            self._sockets.discard(sock)

    def _hook_signals(self) -> None:
        """Wrap the current SIGINT/SIGTERM handlers (main thread of a running loop only)."""
        self._hooked_pid = os.getpid()
        self._closing = False
        self._sockets.clear()
        if threading.current_thread() is not threading.main_thread():
            return  # served from a thread: signals are not ours to take
        loop = asyncio.get_running_loop()
        for sig in _SIGNALS:
            previous = signal.getsignal(sig)
            if callable(previous):
                signal.signal(sig, self._handler(loop, previous))

    def _handler(self, loop: asyncio.AbstractEventLoop, previous: Any) -> Any:
        def on_signal(sig: int, frame: Any) -> None:
            if self._closing or not self._sockets or loop.is_closed():
                self._closing = True
                previous(sig, frame)  # nothing to close, or a second signal (force quit)
                return
            self._closing = True
            loop.call_soon_threadsafe(lambda: loop.create_task(self._close_all(previous, sig, frame)))

        return on_signal

    async def _close_all(self, previous: Any, sig: int, frame: Any) -> None:
        sockets = list(self._sockets)
        self._sockets.clear()
        try:
            await asyncio.wait_for(
                asyncio.gather(*(s.going_away() for s in sockets), return_exceptions=True), CLOSE_WAIT_S)
        except TimeoutError:
            pass
        finally:
            previous(sig, frame)
