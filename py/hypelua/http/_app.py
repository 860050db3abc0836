"""``hypelua.http.App``: a Starlette application with route decorators.

Starlette 1.x dropped its ``@app.route`` decorators; hypelua's Python server
mode keeps the familiar shape (Starlette's old decorators, Flask/FastAPI-like)::

    from hypelua.http import App, lua_app
    app = App()
    lua = lua_app("app.lua")
    app.mount("/lua", lua)                      # a Lua app under /lua

    @app.get("/items/{id:int}")
    async def item(request, id: int):           # path parameters by name, if declared
        return {"id": id, "double": await lua.call("double", id)}

Handlers receive the Starlette ``Request``; they may be sync or async and return a
``Response``, a dict/list (JSON), a str (text/plain), bytes, or None (204).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

Handler = Callable[..., Any]


def _to_response(result: Any) -> Response:
    if isinstance(result, Response):
        return result
    if result is None:
        return Response(status_code=204)
    if isinstance(result, (dict, list)):
        return JSONResponse(result)
    if isinstance(result, str):
        return PlainTextResponse(result)
    if isinstance(result, (bytes, bytearray, memoryview)):
        return Response(bytes(result), media_type="application/octet-stream")
    raise TypeError(f"a handler returned {type(result).__name__}; return a Response, dict, list, str, bytes or None")


def _endpoint(fn: Handler) -> Callable[[Request], Any]:
    params = list(inspect.signature(fn).parameters.values())
    named = {p.name for p in params[1:] if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    takes_all = any(p.kind == p.VAR_KEYWORD for p in params[1:])

    async def endpoint(request: Request) -> Response:
        if takes_all:
            kwargs = dict(request.path_params)
        else:
            kwargs = {k: v for k, v in request.path_params.items() if k in named}
        result = fn(request, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return _to_response(result)

    endpoint.__name__ = getattr(fn, "__name__", "endpoint")
    return endpoint


class App(Starlette):
    """A Starlette application with ``@app.get/post/put/patch/delete/route/websocket``.

    Takes Starlette's constructor arguments (``routes``, ``middleware``,
    ``exception_handlers``, ``lifespan``, ``debug``).  ``app.mount(path, asgi_app)``
    mounts any ASGI app, e.g. a :func:`~hypelua.http.lua_app`.
    """

    def route(self, path: str, methods: list[str] | None = None, name: str | None = None
              ) -> Callable[[Handler], Handler]:
        """Decorator: ``fn(request, **path_params)`` answers ``path`` (Starlette path syntax)."""

        def register(fn: Handler) -> Handler:
            self.router.add_route(path, _endpoint(fn), methods=methods, name=name)
            return fn

        return register

    def get(self, path: str, name: str | None = None) -> Callable[[Handler], Handler]:
        return self.route(path, ["GET"], name)

    def post(self, path: str, name: str | None = None) -> Callable[[Handler], Handler]:
        return self.route(path, ["POST"], name)

    def put(self, path: str, name: str | None = None) -> Callable[[Handler], Handler]:
        return self.route(path, ["PUT"], name)

    def patch(self, path: str, name: str | None = None) -> Callable[[Handler], Handler]:
        return self.route(path, ["PATCH"], name)

    def delete(self, path: str, name: str | None = None) -> Callable[[Handler], Handler]:
        return self.route(path, ["DELETE"], name)

    def websocket(self, path: str, name: str | None = None) -> Callable[[Handler], Handler]:
        """Decorator: ``async fn(websocket)`` handles WebSocket connections at ``path``."""

        def register(fn: Handler) -> Handler:
            self.router.add_websocket_route(path, fn, name=name)
            return fn

        return register
