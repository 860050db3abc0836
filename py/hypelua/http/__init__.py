"""Server mode (SPEC §3 D): Lua apps and Python apps on Starlette + uvicorn.

Public surface:

* :func:`lua_app` / :class:`LuaApp` — an Express-like Lua app (``lua/hype/http.lua``)
  adapted into an ASGI application (Starlette's requests, responses, routing
  primitives, WebSockets, static files and cookies).
* :class:`App` — a Starlette application with ``@app.get("/items/{id}")`` decorators.
* :func:`serve` — run a Lua app file or any ASGI app (``module:app``) on uvicorn
  (``hype serve``: workers, reload, graceful shutdown).

Imports are lazy: ``import hypelua`` (and every ``Runtime``, which registers
``require("hype.http")``) must not pay for Starlette.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs start-up time (every Runtime imports this package)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["App", "HttpError", "LuaApp", "lua_app", "serve"]

_LAZY = {
    "LuaApp": "._lua_app",
    "lua_app": "._lua_app",
    "App": "._app",
    "HttpError": ".._errors",
    "serve": "._serve",
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'hypelua.http' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(target, __name__), name)
    globals()[name] = value
    return value
