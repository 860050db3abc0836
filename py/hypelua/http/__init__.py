"""Server mode (SPEC §3 D): Lua apps and Python apps on Starlette + uvicorn.

Public surface:

* :func:`lua_app` / :class:`LuaApp` — an Express-like Lua app (``lua/hype/http.lua``)
  adapted into an ASGI application (Starlette's requests, responses, routing,
  WebSockets, static files and cookies).
* :class:`App` — a Starlette application with ``@app.get("/items/{id}")`` decorators.
* :func:`serve` — run any of these (or ``module:app``) on uvicorn (``hype serve``).
"""

from __future__ import annotations
