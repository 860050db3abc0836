"""A small static file server for ``dist/web/`` (the playground, tests, benchmarks).

It sends the cross-origin isolation headers Pyodide wants
(``Cross-Origin-Opener-Policy: same-origin``, ``Cross-Origin-Embedder-Policy:
require-corp``, so ``SharedArrayBuffer`` exists), the right MIME types for
``.mjs``/``.wasm``/``.whl``/``.json``, no caching, ``Service-Worker-Allowed: /`` with
``hype-sw.js`` (``hype.routeFetches()`` registers it with scope ``/``), and redirects
``/`` to ``/playground/``.  Standard library only; ``hype playground`` calls :func:`serve`.

    python -m hypelua._devserver --root dist/web --port 8000
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import threading
import webbrowser
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

__all__ = ["DevRequestHandler", "make_server", "serve", "start_in_thread"]

#: MIME types that matter for module workers, wasm streaming compilation and wheels.
MIME_TYPES: dict[str, str] = {
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".wasm": "application/wasm",
    ".whl": "application/zip",
    ".zip": "application/zip",
    ".json": "application/json",
    ".map": "application/json",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".lua": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
}

#: Headers sent with every response.
ISOLATION_HEADERS: dict[str, str] = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class DevRequestHandler(SimpleHTTPRequestHandler):
    """Serve files from ``directory`` with isolation headers and quiet logging."""

    extensions_map: ClassVar[dict[str, str]] = {**SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}
    #: where ``/`` redirects to
    index_redirect = "/playground/"
    #: print one line per request (off by default)
    verbose = False
    #: send ISOLATION_HEADERS (COOP/COEP: SharedArrayBuffer for Ctrl+C-style interrupts)
    isolated = True

    def end_headers(self) -> None:
        if self.isolated:
            for name, value in ISOLATION_HEADERS.items():
                self.send_header(name, value)
        if self.path.split("?", 1)[0].endswith("/hype-sw.js"):
            # hype.routeFetches() registers it with scope "/" wherever dist/web is mounted
            self.send_header("Service-Worker-Allowed", "/")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def _redirect_root(self) -> bool:
        if self.path.split("?", 1)[0] in ("", "/") and self.index_redirect:
            self.send_response(HTTPStatus.FOUND)
            self.send_header("Location", self.index_redirect)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return True
        return False

    def do_GET(self) -> None:
        if not self._redirect_root():
            super().do_GET()

    def do_HEAD(self) -> None:
        if not self._redirect_root():
            super().do_HEAD()

    def log_message(self, format: str, *args: Any) -> None:
        """Log only when ``verbose``; errors (4xx/5xx) are always logged."""
        if self.verbose:
            super().log_message(format, *args)

    def log_error(self, format: str, *args: Any) -> None:
        super().log_message(format, *args)

    def handle_one_request(self) -> None:
        # the browser may go away mid-response (page reload, test teardown)
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            super().handle_one_request()


def make_server(root: Path | str, host: str = "127.0.0.1", port: int = 8000,
                *, verbose: bool = False, isolated: bool = True) -> ThreadingHTTPServer:
    """Create (bind, not start) a threading server for ``root``; ``port=0`` picks a free port;
    ``isolated=False`` leaves out the COOP/COEP headers (a page without cross-origin isolation)."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory (build it with ./build.sh dist)")
    handler_cls = type("DevRequestHandler", (DevRequestHandler,), {"verbose": verbose, "isolated": isolated})
    handler = functools.partial(handler_cls, directory=str(root))
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def _url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    if ":" in str(host):
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def start_in_thread(root: Path | str, host: str = "127.0.0.1",
                    port: int = 0, *, isolated: bool = True) -> tuple[ThreadingHTTPServer, str]:
    """Start a server in a daemon thread (``isolated``: see :func:`make_server`); returns
    ``(server, base_url)``.

    Stop it with ``server.shutdown(); server.server_close()``.
    """
    server = make_server(root, host, port, isolated=isolated)
    thread = threading.Thread(target=server.serve_forever, name="hypelua-devserver", daemon=True)
    thread.start()
    return server, _url(server)


def serve(root: Path | str, host: str = "127.0.0.1", port: int = 8000,
          open_browser: bool = False, *, verbose: bool = False) -> None:
    """Serve ``root`` until interrupted (Ctrl+C), printing the playground URL."""
    server = make_server(root, host, port, verbose=verbose)
    url = _url(server)
    print(f"hypelua: serving {Path(root).resolve()} at {url} (playground: {url}playground/)", flush=True)
    if open_browser:
        webbrowser.open(url + "playground/")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nhypelua: stopped", flush=True)
    finally:
        server.server_close()


def main(argv: list[str] | None = None) -> None:
    """``python -m hypelua._devserver [--root DIR] [--host H] [--port N] [--open]``."""
    parser = argparse.ArgumentParser(prog="python -m hypelua._devserver", description=__doc__.split("\n")[0])
    parser.add_argument("--root", default="dist/web", help="directory to serve (default: dist/web)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--open", action="store_true", help="open the playground in a browser")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    serve(Path(args.root), args.host, args.port, args.open, verbose=args.verbose)


if __name__ == "__main__":
    main()
