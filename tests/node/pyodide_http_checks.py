"""Starlette and ``call_asgi`` inside Pyodide 314 (Node 20): the browser worker's HTTP path.

Run by ``tests/node/test_pyodide_http.py`` through ``pyodide_runner.mjs`` with the
dependency wheels of ``dist/web/wheels``; each ``test_*`` function is one check.
"""

from __future__ import annotations

import json


def test_core_import_does_not_import_starlette() -> None:
    import sys

    import hypelua  # noqa: F401

    assert "starlette" not in sys.modules and "anyio" not in sys.modules


async def test_starlette_app_through_call_asgi() -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    from hypelua.http._inprocess import call_asgi

    async def user(request: Request) -> Response:
        return JSONResponse({"id": request.path_params["id"], "q": request.query_params.get("q"),
                             "body": (await request.body()).hex()})

    async def boom(request: Request) -> Response:
        raise ValueError("x")

    async def stream(request: Request) -> Response:
        async def gen():  # type: ignore[no-untyped-def]
            yield b"a"
            yield b"b"
        return StreamingResponse(gen())

    app = Starlette(routes=[Route("/users/{id}", user, methods=["GET", "POST"]), Route("/boom", boom),
                            Route("/stream", stream)])
    status, headers, body = await call_asgi(app, method="POST", url="/users/7?q=z", headers=[],
                                            body=b"\x00\xff")
    assert status == 200 and json.loads(body) == {"id": "7", "q": "z", "body": "00ff"}
    assert ("content-type", "application/json") in headers
    status, _, body = await call_asgi(app, method="GET", url="/boom", headers=[], body=b"")
    assert status == 500
    assert (await call_asgi(app, method="GET", url="/stream", headers=[], body=b""))[2] == b"ab"


async def test_starlette_middleware_task_groups_on_webloop() -> None:
    # BaseHTTPMiddleware runs the app in an anyio task group: no threads needed
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from hypelua.http._inprocess import call_asgi

    class Tag(BaseHTTPMiddleware):
        async def dispatch(self, request, call_next):  # type: ignore[no-untyped-def]
            response = await call_next(request)
            response.headers["x-tag"] = "1"
            return response

    async def hello(request):  # type: ignore[no-untyped-def]
        return PlainTextResponse("hi")

    app = Starlette(routes=[Route("/", hello)], middleware=[Middleware(Tag)])
    status, headers, body = await call_asgi(app, method="GET", url="/", headers=[], body=b"")
    assert (status, body) == (200, b"hi") and ("x-tag", "1") in headers


async def test_static_files_without_threads() -> None:
    # Pyodide cannot start threads; httpLoad runs anyio.to_thread.run_sync inline
    import os
    import tempfile

    import anyio.to_thread
    from starlette.applications import Starlette
    from starlette.responses import FileResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from hypelua.browser._http import inline_to_thread
    from hypelua.http._inprocess import call_asgi

    directory = tempfile.mkdtemp()
    with open(os.path.join(directory, "a.txt"), "w") as f:
        f.write("hello")

    async def file(request):  # type: ignore[no-untyped-def]
        return FileResponse(os.path.join(directory, "a.txt"))

    app = Starlette(routes=[Mount("/s", StaticFiles(directory=directory)), Route("/f", file)])
    assert (await call_asgi(app, method="GET", url="/s/a.txt", headers=[], body=b""))[0] == 500  # no threads
    inline_to_thread()
    inline_to_thread()
    assert anyio.to_thread.run_sync._hype_inline
    assert (await call_asgi(app, method="GET", url="/s/a.txt", headers=[], body=b""))[::2] == (200, b"hello")
    assert (await call_asgi(app, method="GET", url="/s/nope", headers=[], body=b""))[0] == 404
    assert (await call_asgi(app, method="GET", url="/f", headers=[], body=b""))[::2] == (200, b"hello")
