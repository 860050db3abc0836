"""The worker's LiveView ops: a view runs inside the page's worker, no server (``hype.mountLive``).

Ops (wired into :class:`hypelua.browser.WorkerHost`); the frames are the WebSocket's
(docs/live-protocol.md), as JSON text:

* ``liveOpen {target}`` -> ``{"id": int}``: a new :class:`hypelua.live.Session` for
  ``target``: a project Lua file (``"counter.lua"``, returning ``require("hype.live").view{...}``)
  or a Python view ``"package.module:ClassName"`` (modules in the project directory import too,
  and are re-imported when opened again, so an edited file takes effect).
* ``liveFrame {id, frame}`` -> the reply frame (JSON text), or ``null`` (``leave``).
* ``liveClose {id}`` -> whether the session existed (it is closed: ``terminate("leave")``).

Frames the session sends by itself (``diff`` from ``handle_info``/timers/pub-sub,
``redirect``, ``patch``, ``crash``) go to the page through the host's ``live_post(id, frame_text)``
(the worker posts ``{type: "live", id, frame}``).  Errors: ``BAD_REQUEST`` (malformed
arguments), ``NO_SESSION`` (an unknown or closed id), ``FILE_NOT_FOUND`` /
``PATH_OUTSIDE_PROJECT`` (Lua targets), ``NO_VIEW`` (a target that is not a view).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._errors import HypeError

if TYPE_CHECKING:
    from ._host import WorkerHost

#: sessions one worker keeps open at most (each holds a view and its last render)
MAX_SESSIONS = 256

LivePost = Callable[[int, str], Any]


class LiveOps:
    """The LiveView sessions of one :class:`WorkerHost` and the ops serving them."""

    def __init__(self, host: WorkerHost, post: LivePost | None = None) -> None:
        self._host = host
        #: ``post(id, frame_text)``: delivers a pushed frame to the page (None: pushes are dropped)
        self.post = post
        #: id -> Session
        self.sessions: dict[int, Any] = {}
        self._next_id = 1

    def ops(self) -> dict[str, Any]:
        """The op name -> handler entries of the host's dispatch table."""
        return {"liveOpen": self.open, "liveFrame": self.frame, "liveClose": self.close}

    # ------------------------------------------------------------------ targets
    def _view(self, target: str) -> Any:
        """The view factory of ``target`` (what :class:`hypelua.live.Session` takes)."""
        from .. import live

        if target.endswith(".lua"):
            return live.load_view(self._host.runtime, self._lua_path(target))
        module_name, sep, attr = target.partition(":")
        if not sep or not module_name or not attr:
            raise HypeError(f"{target!r} is neither a Lua file nor 'package.module:ClassName'", code="BAD_REQUEST",
                            details={"target": target},
                            suggestion="Pass 'counter.lua' (a project file) or 'views:Counter' (a Python view).")
        module = self._import(module_name)
        view: Any = module
        for part in attr.split("."):
            view = getattr(view, part, None)
            if view is None:
                raise HypeError(f"{module_name} has no {attr}", code="NO_VIEW", details={"target": target})
        if not (isinstance(view, type) and issubclass(view, live.LiveView)):
            raise HypeError(f"{target} is not a LiveView class", code="NO_VIEW", details={"target": target},
                            suggestion="Point at a subclass of hypelua.live.LiveView.")
        return view

    def _lua_path(self, target: str) -> str:
        project = self._host.project
        full = project.resolve(target) if project is not None else os.path.abspath(target)
        if not os.path.isfile(full):
            raise HypeError(f"no such file {target!r} in the project", code="FILE_NOT_FOUND",
                            details={"path": target}, suggestion="Write it first (hype.writeFile) or fix the path.")
        return full

    def _import(self, name: str) -> Any:
        """Import ``name``; the project directory is on ``sys.path``, and project modules are
        imported afresh (the file may have been edited since)."""
        project = self._host.project
        root = os.path.abspath(project.root) if project is not None else None
        if root is not None:
            if root not in sys.path:
                sys.path.insert(0, root)
            base = os.path.join(root, *name.split("."))
            if os.path.isfile(base + ".py") or os.path.isdir(base):
                for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
                    self._forget_module(loaded)
        importlib.invalidate_caches()  # files written since the last import
        try:
            return importlib.import_module(name)
        except ImportError as exc:
            raise HypeError(f"cannot import {name}: {exc}", code="NO_VIEW", details={"module": name}) from exc

    @staticmethod
    def _forget_module(name: str) -> None:
        """Drop a module and its bytecode cache (an edit in the same second, same size, would reuse it)."""
        module = sys.modules.pop(name, None)
        path = getattr(module, "__file__", None)
        if path:
            with contextlib.suppress(OSError, NotImplementedError, ValueError):
                os.remove(importlib.util.cache_from_source(path))

    # ------------------------------------------------------------------ ops
    def open(self, target: Any) -> dict[str, int]:
        """``liveOpen``: see the module docstring.

        Raises:
            HypeError: ``BAD_REQUEST``, ``FILE_NOT_FOUND``, ``PATH_OUTSIDE_PROJECT``, ``NO_VIEW``,
                ``NOT_SUPPORTED``, ``TOO_MANY_SESSIONS``; a Lua view's load error as raised.
        """
        from ..live import Session

        if not isinstance(target, str) or not target:
            raise HypeError("target must be a project .lua file or 'package.module:ClassName'", code="BAD_REQUEST")
        if len(self.sessions) >= MAX_SESSIONS:
            raise HypeError(f"more than {MAX_SESSIONS} live views open in this worker", code="TOO_MANY_SESSIONS",
                            suggestion="Close views you no longer show (connection.close()).")
        factory = self._view(target)
        sid = self._next_id
        self._next_id += 1
        self.sessions[sid] = Session(factory, push=lambda frame: self._push(sid, frame), path=target)
        return {"id": sid}

    def _push(self, sid: int, frame: dict[str, Any]) -> None:
        if self.post is None or sid not in self.sessions:
            return
        self.post(sid, json.dumps(frame, ensure_ascii=False))

    def _session(self, sid: Any) -> Any:
        session = self.sessions.get(sid) if type(sid) is int else None
        if session is None:
            raise HypeError(f"no live session {sid!r} in this worker", code="NO_SESSION", details={"id": sid},
                            suggestion="The worker restarted or the view was closed: open it again (liveOpen).")
        return session

    async def frame(self, id: Any, frame: Any) -> str | None:
        """``liveFrame``: one client frame -> its reply frame as JSON text (None for ``leave``).

        Raises:
            HypeError: ``NO_SESSION``, ``BAD_REQUEST`` (a frame that is not text).  A bad
                *frame* is not an error here: the session answers it with an error reply.
        """
        session = self._session(id)
        if not isinstance(frame, str):
            raise HypeError("frame must be the frame's JSON text", code="BAD_REQUEST")
        reply = await session.handle(frame)
        if reply is None or getattr(session, "closed", False):
            self.sessions.pop(id, None)
        return None if reply is None else json.dumps(reply, ensure_ascii=False)

    async def close(self, id: Any) -> bool:
        """``liveClose``: close the session (``terminate("leave")``); whether it was open."""
        session = self.sessions.pop(id, None) if type(id) is int else None
        if session is None:
            return False
        await session.close("leave")
        return True

    async def close_all(self) -> None:
        """Close every session (the runtime they run in is being replaced: ``reset``)."""
        sessions, self.sessions = self.sessions, {}
        for session in sessions.values():
            with contextlib.suppress(Exception):
                await session.close("shutdown")
