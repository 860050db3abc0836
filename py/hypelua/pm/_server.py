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

from .._errors import HypeError
from ._limits import MAX_MANIFEST_BYTES
from ._registry import FILENAME_RE, RegistryStorage
from ._tarball import MAX_TARBALL_BYTES

#: largest accepted publish body: the base64 of the largest tarball, a manifest and slack
MAX_UPLOAD_BYTES = MAX_TARBALL_BYTES * 4 // 3 + MAX_MANIFEST_BYTES + 64 * 1024
#: longest accepted request path (bytes, still percent-encoded)
MAX_PATH_BYTES = 2048

_SUGGESTIONS = {
    400: "Check the request: see the registry protocol in hypelua.pm._registry.",
    401: "Send 'Authorization: Bearer <token>' (hype publish --token T or HYPE_TOKEN).",
    403: "Start the registry with --token (or --allow-anonymous-publish) to accept publishes.",
    404: "Check the package name (scoped names are sent as @scope%2fname).",
    405: "The registry answers GET (documents, tarballs) and PUT (publish) only.",
    409: "Bump the version in hype.json and publish again.",
    413: "Make the package smaller, or raise the registry's limits.",
}


def parse_path(raw_path: bytes) -> tuple[str, str | None] | None:
    """Split a raw (still percent-encoded) request path into ``(package name, tarball file or None)``.

    ``/<name>``, ``/@scope%2fname`` (or ``/@scope/name``) and ``/<name>/-/<file>.tgz``.
    Each part is percent-decoded exactly once and must then be a valid package
    name (:func:`hypelua.pm._manifest.is_valid_name`) or a plain ``.tgz`` file name:
    ``..``, encoded dots/slashes/backslashes, NUL and control characters never
    get through.  Returns None for anything else.
    """
    from urllib.parse import unquote

    from ._manifest import is_valid_name

    if len(raw_path) > MAX_PATH_BYTES or not raw_path.startswith(b"/"):
        return None
    try:
        path = raw_path.decode("ascii")[1:]
    except UnicodeDecodeError:
        return None
    file: str | None = None
    if "/-/" in path:
        path, _, file = path.partition("/-/")
        if "/" in file or "%" in file:
            return None
        if not FILENAME_RE.match(file):
            return None
    if path.count("/") == 1 and path.startswith("@"):
        scope, _, rest = path.partition("/")
        if "%" in rest:
            return None
        path = f"{scope}%2F{rest}"
    if "/" in path:
        return None
    try:
        name = unquote(path, errors="strict")
    except UnicodeDecodeError:
        return None
    if not is_valid_name(name):
        return None
    return name, file


def create_app(storage: str | Path, *, token: str | None = None, allow_anonymous_publish: bool = False,
               max_upload_bytes: int = MAX_UPLOAD_BYTES, cors_origins: list[str] | None = None) -> Any:
    """Build the Starlette ASGI app serving and accepting packages in ``storage``.

    Every error is a JSON body ``{code, message, details, suggestion}`` with a 4xx
    status (404 for unknown paths, hostile names and traversal attempts; 405 for
    other methods; 413 over a limit).  CPU-heavy work (JSON parsing, base64,
    hashing, tarball inspection, file reads) runs in a worker thread, so a hostile
    upload never blocks the event loop.

    Args:
        storage: registry directory (:class:`RegistryStorage` layout).
        token: bearer token required by ``PUT``.
        allow_anonymous_publish: accept ``PUT`` without a token when none is configured.
        max_upload_bytes: largest accepted publish body (bytes; default :data:`MAX_UPLOAD_BYTES`).
        cors_origins: origins allowed to read the registry from a web page (``["*"]``: any),
            e.g. ``hype.install()`` in the browser; None: no CORS headers.
    Returns:
        a Starlette application.
    """
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import FileResponse, JSONResponse, Response
    from starlette.routing import Route

    store = RegistryStorage(storage)

    def error(status: int, code: str, message: str, suggestion: str | None = None, **details: Any) -> JSONResponse:
        return JSONResponse({"code": code, "message": message, "details": details,
                             "suggestion": suggestion if suggestion is not None else _SUGGESTIONS.get(status, "")},
                            status_code=status)

    def from_hype_error(exc: HypeError) -> JSONResponse:
        status = exc.details.get("status")
        if not isinstance(status, int) or not 400 <= status < 500:
            status = 413 if exc.code.endswith("_TOO_LARGE") else 400
        details = {k: v for k, v in exc.details.items() if k != "status"}
        return error(status, exc.code, exc.message, exc.suggestion or None, **details)

    def not_found(raw: bytes) -> JSONResponse:
        return error(404, "NOT_FOUND", "no such package or file",
                     path=raw[:200].decode("ascii", "replace"))

    async def health(request: Request) -> Response:
        return JSONResponse({"registry": "hype", "ok": True})

    async def get(request: Request) -> Response:
        raw = request.scope.get("raw_path") or request.scope["path"].encode("utf-8", "replace")
        parsed = parse_path(raw.split(b"?", 1)[0])
        if parsed is None:
            return not_found(raw)
        name, file = parsed
        if file is not None:
            p = await run_in_threadpool(store.tarball_path, name, file)
            if p is None:
                return error(404, "TARBALL_NOT_FOUND", f"no tarball {file!r} for {name!r}")
            return FileResponse(p, media_type="application/octet-stream")
        base = str(request.base_url).rstrip("/")
        try:
            doc = await run_in_threadpool(store.document_with_urls, name, base)
        except HypeError as exc:
            return error(404, "PACKAGE_NOT_FOUND", f"package {name!r} is unavailable: {exc.message}", name=name)
        if doc is None:
            return error(404, "PACKAGE_NOT_FOUND", f"package {name!r} not found", name=name)
        return JSONResponse(doc)

    def publish_body(name: str, body: bytes) -> dict[str, Any]:
        """Parse, check and store a publish body (runs in a worker thread)."""
        from .._errors import ManifestError, RegistryError
        from ._limits import loads_bounded
        from ._tarball import integrity

        payload = loads_bounded(body, what="the publish body", max_bytes=max_upload_bytes, error=RegistryError,
                                code_base="PUBLISH_BODY")
        try:
            manifest = payload["manifest"]
            tarball = base64.b64decode(payload["tarball"], validate=True)
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise RegistryError("expected JSON {manifest, tarball (base64), integrity}", code="BAD_REQUEST",
                                details={"status": 400}) from None
        if not isinstance(manifest, dict) or manifest.get("name") != name:
            raise ManifestError(f"manifest name does not match the URL ({name!r})", details={"status": 400})
        sent = payload.get("integrity")
        if sent is not None and sent != integrity(tarball):
            raise RegistryError("the tarball does not match the integrity sent", code="INTEGRITY_MISMATCH",
                                details={"status": 400})
        return store.publish(manifest, tarball)

    async def put(request: Request) -> Response:
        raw = request.scope.get("raw_path") or request.scope["path"].encode("utf-8", "replace")
        parsed = parse_path(raw.split(b"?", 1)[0])
        if parsed is None or parsed[1] is not None:
            return not_found(raw)
        if token is not None:
            auth = request.headers.get("authorization", "")
            given = auth[7:] if auth.lower().startswith("bearer ") else ""
            if not hmac.compare_digest(given.encode("utf-8", "replace"), token.encode()):
                return error(401, "REGISTRY_UNAUTHORIZED", "a valid bearer token is required to publish")
        elif not allow_anonymous_publish:
            return error(403, "REGISTRY_UNAUTHORIZED", "this registry has no token configured: publishing is off")
        declared = request.headers.get("content-length", "")
        if declared and (not declared.isdigit() or int(declared) > max_upload_bytes):
            return error(413 if declared.isdigit() else 400, "PAYLOAD_TOO_LARGE" if declared.isdigit()
                         else "BAD_REQUEST", f"publish body over {max_upload_bytes} bytes"
                         if declared.isdigit() else "invalid Content-Length")
        buf = bytearray()
        try:
            async for chunk in request.stream():
                buf += chunk
                if len(buf) > max_upload_bytes:
                    return error(413, "PAYLOAD_TOO_LARGE", f"publish body over {max_upload_bytes} bytes")
        except ClientDisconnect:
            return error(400, "BAD_REQUEST", "the client disconnected")
        try:
            entry = await run_in_threadpool(publish_body, parsed[0], bytes(buf))
        except HypeError as exc:
            return from_hype_error(exc)
        return JSONResponse(entry, status_code=201)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(status, "BAD_REQUEST" if status < 500
                                                                   else "INTERNAL_ERROR")
        detail = exc.detail if isinstance(exc, HTTPException) else "internal error"
        return error(status, code, str(detail))

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
    return Starlette(routes=routes, middleware=middleware,
                     exception_handlers={HTTPException: http_error, Exception: http_error})


def serve(storage: str | Path, *, host: str = "127.0.0.1", port: int = 4873, token: str | None = None,
          allow_anonymous_publish: bool = False, cors_origins: list[str] | None = None) -> None:
    """Run the registry on uvicorn until interrupted (``cors_origins``: see :func:`create_app`)."""
    import uvicorn

    app = create_app(storage, token=token, allow_anonymous_publish=allow_anonymous_publish,
                     cors_origins=cors_origins)
    uvicorn.run(app, host=host, port=port, log_level="warning")


@contextlib.contextmanager
def running_in_thread(app: Any, host: str = "127.0.0.1", start_timeout_s: float = 10.0,
                      **config: Any) -> Iterator[str]:
    """Serve an ASGI ``app`` with uvicorn in a background thread on a free port.

    Yields the base URL (``http://127.0.0.1:PORT``); stops the server on exit.
    Used by tests that talk HTTP to a real registry or a real ``hype.http`` app.
    ``config``: more ``uvicorn.Config`` options (default ``log_level="warning"``, ``lifespan="off"``).
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
    options: dict[str, Any] = {"log_level": "warning", "lifespan": "off", **config}
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, **options))
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
