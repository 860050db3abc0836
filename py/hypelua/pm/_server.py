"""``hype registry serve``: the registry HTTP server (Starlette on uvicorn).

Routes (see :mod:`hypelua.pm._registry` for the protocol):
``GET /`` (health), ``GET /<name>``, ``GET /<name>/-/<file>.tgz``, ``PUT /<name>`` (bearer token).
With ``cors_origins`` (``hype registry serve --cors ORIGIN``) web pages of those origins may
read it (``hype.install()`` in the browser fetches with CORS).  Without ``token``
publishing is refused unless ``allow_anonymous_publish`` is set.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from .._errors import HypeError
from ._registry import RegistryStorage

MAX_UPLOAD_BYTES = 96 * 1024 * 1024


def create_app(storage: str | Path, *, token: str | None = None, allow_anonymous_publish: bool = False,
               max_upload_bytes: int = MAX_UPLOAD_BYTES, cors_origins: list[str] | None = None) -> Any:
    """Build the Starlette ASGI app serving and accepting packages in ``storage``.

    Args:
        storage: registry directory (:class:`RegistryStorage` layout).
        token: bearer token required by ``PUT``.
        allow_anonymous_publish: accept ``PUT`` without a token when none is configured.
        max_upload_bytes: largest accepted publish body.
        cors_origins: origins allowed to read the registry from a web page (``["*"]``: any),
            e.g. ``hype.install()`` in the browser; None: no CORS headers.
    Returns:
        a Starlette application.
    """
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    store = RegistryStorage(storage)

    def error(status: int, code: str, message: str, **details: Any) -> JSONResponse:
        return JSONResponse({"code": code, "message": message, "details": details}, status_code=status)

    def split(path: str) -> tuple[str, str | None]:
        path = unquote(path)
        if "/-/" in path:
            name, _, file = path.partition("/-/")
            return name, file
        return path, None

    async def health(request: Request) -> Response:
        return JSONResponse({"registry": "hype", "ok": True})

    async def get(request: Request) -> Response:
        name, file = split(request.path_params["path"])
        if file is not None:
            p = store.tarball_path(name, file)
            if p is None:
                return error(404, "TARBALL_NOT_FOUND", f"no tarball {file!r} for {name!r}")
            return Response(p.read_bytes(), media_type="application/octet-stream")
        base = str(request.base_url).rstrip("/")
        doc = store.document_with_urls(name, base)
        if doc is None:
            return error(404, "PACKAGE_NOT_FOUND", f"package {name!r} not found", name=name)
        return JSONResponse(doc)

    async def put(request: Request) -> Response:
        if token is not None:
            auth = request.headers.get("authorization", "")
            given = auth[7:] if auth.lower().startswith("bearer ") else ""
            if not hmac.compare_digest(given.encode(), token.encode()):
                return error(401, "REGISTRY_UNAUTHORIZED", "a valid bearer token is required to publish")
        elif not allow_anonymous_publish:
            return error(403, "REGISTRY_UNAUTHORIZED", "this registry has no token configured: publishing is off")
        size = int(request.headers.get("content-length") or 0)
        if size > max_upload_bytes:
            return error(413, "PAYLOAD_TOO_LARGE", f"publish body over {max_upload_bytes} bytes")
        body = await request.body()
        if len(body) > max_upload_bytes:
            return error(413, "PAYLOAD_TOO_LARGE", f"publish body over {max_upload_bytes} bytes")
        try:
            import json

            payload = json.loads(body)
            manifest = payload["manifest"]
            tarball = base64.b64decode(payload["tarball"], validate=True)
        except (ValueError, KeyError, TypeError, binascii.Error):
            return error(400, "BAD_REQUEST", "expected JSON {manifest, tarball (base64), integrity}")
        name, _ = split(request.path_params["path"])
        if not isinstance(manifest, dict) or manifest.get("name") != name:
            return error(400, "MANIFEST_INVALID", f"manifest name does not match the URL ({name!r})")
        from ._tarball import integrity

        if payload.get("integrity") not in (None, integrity(tarball)):
            return error(400, "INTEGRITY_MISMATCH", "the tarball does not match the integrity sent")
        try:
            entry = store.publish(manifest, tarball)
        except HypeError as exc:
            status = int(exc.details.get("status", 400)) if isinstance(exc.details.get("status"), int) else 400
            return error(status, exc.code, exc.message, **{k: v for k, v in exc.details.items() if k != "status"})
        return JSONResponse(entry, status_code=201)

    routes = [
        Route("/", health, methods=["GET"]),
        Route("/{path:path}", get, methods=["GET"]),
        Route("/{path:path}", put, methods=["PUT"]),
    ]
    middleware = []
    if cors_origins:
        from starlette.middleware import Middleware
        from starlette.middleware.cors import CORSMiddleware

        middleware.append(Middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "PUT"],
                                     allow_headers=["Authorization", "Content-Type"]))
    return Starlette(routes=routes, middleware=middleware)


def serve(storage: str | Path, *, host: str = "127.0.0.1", port: int = 4873, token: str | None = None,
          allow_anonymous_publish: bool = False, cors_origins: list[str] | None = None) -> None:
    """Run the registry on uvicorn until interrupted (``cors_origins``: see :func:`create_app`)."""
    import uvicorn

    app = create_app(storage, token=token, allow_anonymous_publish=allow_anonymous_publish,
                     cors_origins=cors_origins)
    uvicorn.run(app, host=host, port=port, log_level="warning")


@contextlib.contextmanager
def running_in_thread(app: Any, host: str = "127.0.0.1", start_timeout_s: float = 10.0) -> Iterator[str]:
    """Serve an ASGI ``app`` with uvicorn in a background thread on a free port.

    Yields the base URL (``http://127.0.0.1:PORT``); stops the server on exit.
    Used by tests that talk HTTP to a real registry.
    Raises:
        RuntimeError: the server did not start within ``start_timeout_s`` seconds.
    """
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as s:
        s.bind((host, 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
