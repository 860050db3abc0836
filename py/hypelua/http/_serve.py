"""``hype serve``: run a Lua app file or any ASGI app (``module:attr``) on uvicorn.

Process model.  One worker runs in this process.  With ``workers > 1`` uvicorn's
multiprocess supervisor binds the socket once and spawns the workers (a worker
that dies, even by SIGKILL, is replaced; the others keep serving); with
``reload`` uvicorn's reloader (watchfiles) restarts a child process when a
``*.lua``/``*.py`` file under the app's directory changes.  Every child process
builds its own app through :func:`app_factory`, which reads the options from
``HYPE_SERVE_*`` environment variables set here (spawned children inherit
them): each worker has its own Lua VM, all share one SQLite database file.

Every app is wrapped in :class:`~hypelua.http._shutdown.GoingAway`: SIGTERM
drains in-flight requests (uvicorn) and closes WebSockets with 1001.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
from typing import Any

from .._errors import ServerError
from ._shutdown import GoingAway

#: environment variables carrying the options to the factory in every worker
ENV = {name: f"HYPE_SERVE_{name.upper()}" for name in
       ("app", "database", "timeout", "max_body", "max_memory", "dev", "sandbox")}
#: LiveView settings read by ``live.app`` (and ``app:live``) in every worker
LIVE_ENV = {"pubsub": "HYPE_LIVE_PUBSUB", "snapshots": "HYPE_LIVE_SNAPSHOTS", "secret": "HYPE_SECRET_KEY"}
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
#: the import string uvicorn uses in worker and reload processes
FACTORY = "hypelua.http._serve:app_factory"
#: seconds added to ``timeout`` for uvicorn's graceful-shutdown bound
DRAIN_MARGIN_S = 5.0
_MODULE_ATTR = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def serve(app: str, *, host: str = "127.0.0.1", port: int = 3000, workers: int = 1, reload: bool = False,
          database: str | None = None, timeout: float = 30.0, max_body: int = 1_048_576,
          max_memory: int | None = None, dev: bool = False, log_level: str = "info", sandbox: bool = False,
          pubsub: str | None = None) -> int:
    """Serve ``app`` on uvicorn until SIGTERM/SIGINT; return the exit status.

    Args:
        app: a Lua app file (``app.lua``, its chunk returns ``http.app()``) or an
            ASGI app as ``module:attr`` (imported with the current directory on
            ``sys.path``, like uvicorn).
        host: interface to bind.
        port: TCP port (0 picks a free one).
        workers: uvicorn worker processes (each its own Lua VM).
        reload: restart on changes of ``*.lua``/``*.py`` files (development; one worker).
        database: SQLite file shared by the workers (default ``./hype.db``; ``:memory:`` gives
            each worker its own throw-away database). Lua apps only.
        timeout: seconds a Lua handler may run before it gets 503; also bounds the drain at
            shutdown (``timeout`` + 5 s, then remaining requests are cancelled).
        max_body: largest request body in bytes (413 above). Lua apps only.
        max_memory: Lua heap limit per worker in bytes (None: unlimited). Lua apps only.
        dev: development mode (tracebacks in error responses). Lua apps only.
        log_level: uvicorn log level (``warning`` and above also silences the access log).
        sandbox: run a Lua app as untrusted code (``Runtime(sandbox=True)``: allow-list
            environment, ``require``/static files confined to the app's directory, heap cap,
            no ``app:listen``). Lua apps only.
        pubsub: LiveView pub/sub across ``--workers`` and nodes (``redis://host:port``); the
            LiveView secret key (``$HYPE_SECRET_KEY``, else ``.hype/live-secret``, made once)
            and snapshot file (``.hype/live-snapshots.db``) are shared by the workers and
            survive restarts, so pages reconnect to any worker, or after a restart.

    Returns:
        0 after a graceful shutdown (SIGTERM/SIGINT); 1 if the server failed to start.

    Raises:
        ServerError: bad options (``BAD_OPTION``), an app that cannot be found or loaded
            (``APP_NOT_FOUND``, ``BAD_APP``, ``APP_LOAD_FAILED``), a port in use (``PORT_IN_USE``).
        HypeError: the Lua app failed to load (syntax error, error in its chunk).
    """
    _check_options(port=port, workers=workers, reload=reload, timeout=timeout, max_body=max_body,
                   max_memory=max_memory, log_level=log_level)
    target, is_lua = _resolve_app(app)
    env = {ENV["app"]: target, ENV["database"]: _database_path(database), ENV["timeout"]: repr(float(timeout)),
           ENV["max_body"]: str(max_body), ENV["max_memory"]: "" if max_memory is None else str(max_memory),
           ENV["dev"]: "1" if dev else "", ENV["sandbox"]: "1" if sandbox else ""}
    env.update(_live_env(pubsub))
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # `module:attr` from the current directory, like uvicorn's --app-dir
    saved_env = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        _check_port(host, port)
        options: dict[str, Any] = dict(
            host=host, port=port, log_level=log_level, access_log=log_level in ("info", "debug", "trace"),
            timeout_graceful_shutdown=timeout + DRAIN_MARGIN_S, lifespan="auto")
        if reload:
            watch = os.path.dirname(target) if is_lua else os.getcwd()
            options.update(reload=True, reload_dirs=[watch], reload_includes=["*.lua", "*.py"])
            return _run(FACTORY, factory=True, **options)
        if workers > 1:
            _close(_build(target, is_lua))  # fail here, typed, rather than in every worker
            return _run(FACTORY, factory=True, workers=workers, **options)
        return _run(_build(target, is_lua, wrap=True), **options)
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def app_factory() -> Any:
    """Build the app described by the ``HYPE_SERVE_*`` variables (uvicorn factory, one call per worker).

    Returns:
        the ASGI app wrapped in :class:`GoingAway`.

    Raises:
        ServerError: ``HYPE_SERVE_APP`` is not set (the factory runs only under :func:`serve`).
    """
    target = os.environ.get(ENV["app"])
    if not target:
        raise ServerError(f"{ENV['app']} is not set", code="BAD_APP",
                          suggestion="Start the server with `hype serve APP`.")
    return _build(target, not _MODULE_ATTR.match(target), wrap=True)


def _build(target: str, is_lua: bool, *, wrap: bool = False) -> Any:
    if is_lua:
        from . import lua_app  # the Lua adapter (lua/hype/http.lua)

        env = os.environ
        max_memory = env.get(ENV["max_memory"]) or None
        app = lua_app(target, database=env.get(ENV["database"]) or "hype.db",
                      timeout=float(env.get(ENV["timeout"]) or 30.0),
                      max_body=int(env.get(ENV["max_body"]) or 1_048_576),
                      max_memory=None if max_memory is None else int(max_memory),
                      dev=bool(env.get(ENV["dev"])), **({"sandbox": True} if env.get(ENV["sandbox"]) else {}))
    else:
        app = _import_app(target)
    return GoingAway(app) if wrap else app


def _import_app(target: str) -> Any:
    import traceback

    from uvicorn.importer import ImportFromStringError, import_from_string

    try:
        return import_from_string(target)
    except ImportFromStringError as exc:
        raise ServerError(str(exc), code="BAD_APP", details={"app": target},
                          suggestion="Pass MODULE:ATTR with MODULE importable from the current directory.") from exc
    except Exception as exc:  # the module itself failed: show its traceback
        raise ServerError(f"importing {target!r} failed: {exc}", code="APP_LOAD_FAILED",
                          details={"app": target, "traceback": traceback.format_exc()},
                          suggestion="Fix the error in the module (see the traceback).") from exc


def _close(app: Any) -> None:
    close = getattr(app, "close", None)
    if callable(close):
        close()


def _resolve_app(app: str) -> tuple[str, bool]:
    """``(absolute path, True)`` for a Lua file, ``(module:attr, False)`` for an ASGI app."""
    if not app:
        raise ServerError("no app given", code="BAD_APP", suggestion="Pass app.lua or MODULE:ATTR.")
    if _MODULE_ATTR.match(app) and not os.path.exists(app):
        return app, False
    if not os.path.isfile(app):
        raise ServerError(f"no such app file {app!r}", code="APP_NOT_FOUND", details={"app": app},
                          suggestion="Pass the path of a Lua file returning http.app(), or MODULE:ATTR "
                                     "for a Python ASGI app.")
    return os.path.abspath(app), True


def _database_path(database: str | None) -> str:
    if database is None:
        database = "hype.db"
    if database == ":memory:":
        return database
    return os.path.abspath(database)


def _check_options(*, port: int, workers: int, reload: bool, timeout: float, max_body: int,
                   max_memory: int | None, log_level: str) -> None:
    def bad(option: str, value: Any, want: str) -> ServerError:
        return ServerError(f"{option} {value!r}: expected {want}", code="BAD_OPTION",
                           details={"option": option, "value": value}, suggestion=f"Pass {option} as {want}.")

    if not 0 <= port <= 65535:
        raise bad("--port", port, "an integer from 0 to 65535")
    if workers < 1:
        raise bad("--workers", workers, "an integer >= 1")
    if reload and workers > 1:
        raise ServerError("--reload runs one worker; it cannot be combined with --workers", code="BAD_OPTION",
                          details={"option": "--workers", "value": workers},
                          suggestion="Use --reload for development, --workers N in production.")
    if not timeout > 0:
        raise bad("--timeout", timeout, "a number of seconds > 0")
    if max_body < 0:
        raise bad("--max-body", max_body, "a number of bytes >= 0")
    if max_memory is not None and max_memory <= 0:
        raise bad("--max-memory", max_memory, "a number of bytes > 0")
    if log_level not in LOG_LEVELS:
        raise bad("--log-level", log_level, "one of " + ", ".join(LOG_LEVELS))


def _check_port(host: str, port: int) -> None:
    """Bind and release ``(host, port)`` so that a busy port is a typed error, not a uvicorn log line."""
    import errno
    import socket

    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ServerError(f"port {port} on {host} is already in use", code="PORT_IN_USE",
                                  details={"host": host, "port": port},
                                  suggestion="Stop the other server or pass another --port.") from exc
            raise ServerError(f"cannot listen on {host}:{port}: {exc.strerror}", code="BIND_FAILED",
                              details={"host": host, "port": port},
                              suggestion="Check --host (an address of this machine) and --port.") from exc


def _run(app: Any, **options: Any) -> int:
    """``uvicorn.run`` with SIGINT/SIGTERM ending it with status 0 (not re-raised at the default handler)."""
    import uvicorn

    main = threading.current_thread() is threading.main_thread()
    received: list[int] = []
    saved = {sig: signal.signal(sig, lambda s, f: received.append(s)) for sig in (signal.SIGINT, signal.SIGTERM)} \
        if main else {}
    try:
        uvicorn.run(app, **options)
    except SystemExit as exc:  # uvicorn exits with STARTUP_FAILURE (3) when the server did not start
        return 0 if exc.code in (0, None) else 1
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    return 0


__all__ = ["ENV", "FACTORY", "app_factory", "serve"]


def _live_env(pubsub: str | None) -> dict[str, str]:
    """LiveView settings for the workers: pub/sub URL, a persistent secret key, the snapshot file."""
    import secrets
    from pathlib import Path

    if pubsub is not None and not pubsub.startswith(("redis://", "rediss://", "unix://")):
        raise ServerError(f"--pubsub {pubsub!r} is not a Redis URL", code="BAD_OPTION",
                          suggestion="Use --pubsub redis://127.0.0.1:6379.")
    out = {LIVE_ENV["pubsub"]: pubsub or ""}
    state = Path(".hype")
    if not os.environ.get(LIVE_ENV["secret"]):
        key_file = state / "live-secret"
        try:
            if not key_file.is_file():
                state.mkdir(exist_ok=True)
                fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(secrets.token_urlsafe(32))
            out[LIVE_ENV["secret"]] = key_file.read_text().strip()
        except OSError:
            out[LIVE_ENV["secret"]] = secrets.token_urlsafe(32)  # read-only project: one key for this run
    if not os.environ.get(LIVE_ENV["snapshots"]):
        try:
            state.mkdir(exist_ok=True)
            out[LIVE_ENV["snapshots"]] = str((state / "live-snapshots.db").resolve())
        except OSError:
            pass
    return out
