"""The ``hype`` command line.

Subcommands in this release: ``run FILE.lua [--database PATH]``,
``serve APP [--port N] [--workers N] [--reload] ...``, ``playground [--port N] [--host H] [--root DIR]``
and more.  argparse (stdlib) keeps
start-up fast: ``hype run hello.lua`` imports only what running Lua needs.
"""

from __future__ import annotations

import os
import sys
from types import SimpleNamespace

from ._errors import HypeError

TYPE_CHECKING = False  # typing costs start-up time; annotations are strings anyway
if TYPE_CHECKING:
    import argparse
    from pathlib import Path
    from typing import Any


def _print_error(exc: HypeError) -> None:
    out = sys.stderr
    out.write(f"error[{exc.code}]: {exc.message}\n")
    tb = exc.details.get("traceback") if isinstance(exc.details, dict) else None
    if tb:
        text = str(tb).rstrip()
        if text.startswith(exc.message):
            text = text[len(exc.message):].lstrip("\n")
        if text:
            out.write(text + "\n")
    if exc.suggestion:
        out.write(f"hint: {exc.suggestion}\n")


def _project_root(main_file: str) -> str:
    """The sandbox root of ``hype run --sandbox FILE``: the nearest directory holding
    a ``hype.json`` at or above the file's directory, else the file's directory."""
    start = os.path.dirname(os.path.abspath(main_file))
    probe = start
    while True:
        if os.path.isfile(os.path.join(probe, "hype.json")):
            return probe
        parent = os.path.dirname(probe)
        if parent == probe:
            return start
        probe = parent


class _Watchdog:
    """Process-level backstop of ``hype run``'s watch hook.

    The count hook cannot interrupt one long call into C (a pathological
    ``string.find`` pattern), and Python's SIGINT handler runs only when the main
    thread runs Python code.  A daemon thread (lupa releases the GIL while Lua
    runs) therefore ends the process: ``--timeout`` seconds + :attr:`GRACE_S`
    after the start (``error[TIMEOUT]``, exit 1), on a second Ctrl+C, or
    :attr:`GRACE_S` after a Ctrl+C the hook did not take (``interrupted``, exit
    130).  It sees SIGINT through ``signal.set_wakeup_fd``, which is written by
    the C-level handler even while the main thread is stuck.  Committed writes
    are durable (SQLite WAL): ending the process loses nothing committed.
    """

    GRACE_S = 2.0

    def __init__(self, rt: Any, timeout_s: float | None) -> None:
        import signal
        import threading

        self._rt = rt
        self._timeout_s = timeout_s
        self._done = threading.Event()
        self._rfd: int | None = None
        self._old_fd: int | None = None
        if threading.current_thread() is threading.main_thread():
            # a pipe, not a socketpair: importing socket costs ~7 ms of `hype run` start-up
            self._rfd, wfd = os.pipe()
            os.set_blocking(wfd, False)
            self._old_fd = signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
        threading.Thread(target=self._watch, name="hype-watchdog", daemon=True).start()

    def _watch(self) -> None:
        import select
        import signal
        import time

        start = time.monotonic()
        limit = None if self._timeout_s is None else start + self._timeout_s + self.GRACE_S
        sigints: list[float] = []
        while not self._done.is_set():
            now = time.monotonic()
            if limit is not None and now > limit:
                self._exit(1, f"error[TIMEOUT]: the script ran longer than {self._timeout_s} s "
                              "(stopped inside a call that cannot be interrupted)\n"
                              "hint: Look for a loop that never ends or a pathological string pattern, "
                              "or raise --timeout.\n")
            pending = self._rt.interrupt_pending
            if sigints and (len(sigints) > 1 or (pending and now - sigints[0] > self.GRACE_S)):
                self._exit(130, "interrupted\n")
            if sigints and not pending:
                sigints.clear()  # the hook took it
            if self._rfd is None:
                self._done.wait(0.25)
                continue
            ready, _, _ = select.select([self._rfd], [], [], 0.25)
            if ready:
                try:
                    data = os.read(self._rfd, 64)
                except OSError:
                    data = b""
                for b in data:
                    if b == signal.SIGINT:
                        sigints.append(time.monotonic())
                        self._rt.interrupt()  # the main thread's handler may not run soon

    def _exit(self, status: int, text: str) -> None:
        if self._done.is_set():
            return
        try:
            sys.stderr.write(text)
            sys.stderr.flush()
        finally:
            os._exit(status)

    def stop(self) -> None:
        """The run is over (the main thread returns normally)."""
        self._done.set()
        if self._old_fd is not None:
            import signal

            signal.set_wakeup_fd(self._old_fd)


def _cmd_run(args: Any) -> int:
    from ._runtime import Runtime

    watchdog = None
    try:
        root = _project_root(args.file) if args.sandbox else None
        with Runtime(args.database, max_memory=args.max_memory, sandbox=args.sandbox, project_root=root) as rt:
            rt.watch(deadline_s=args.timeout)  # Ctrl+C and --timeout reach a Lua loop that never returns
            watchdog = _Watchdog(rt, args.timeout)
            rt.run_main(args.file, *args.args)  # drives the event loop until idle (issue 4)
    except HypeError as exc:
        _print_error(exc)
        return 130 if exc.code == "INTERRUPTED" else 1
    except KeyboardInterrupt:  # Ctrl+C outside Lua code
        sys.stderr.write("interrupted\n")
        return 130
    finally:
        if watchdog is not None:
            watchdog.stop()
    return 0


def _cmd_export(args: Any) -> int:
    import json

    from .storage import Database

    try:
        if not os.path.isfile(args.database):
            raise HypeError(f"no database file {args.database!r}", code="DATABASE_PATH",
                            suggestion="Pass the path of an existing SQLite database.")
        db = Database.open(args.database)
        try:
            if args.output == "-":
                json.dump(db.export_data(), sys.stdout, ensure_ascii=False, separators=(",", ":"))
                sys.stdout.write("\n")
            else:
                size = db.export_to(args.output)
                print(f"exported {len(db.tables())} table(s) to {args.output} ({size} bytes)")
        finally:
            db.close()
    except HypeError as exc:
        _print_error(exc)
        return 1
    return 0


def _cmd_import(args: Any) -> int:
    from .storage import Database

    try:
        try:
            if args.input == "-":
                text = sys.stdin.read()
            else:
                with open(args.input, encoding="utf-8") as f:
                    text = f.read()
        except OSError as exc:
            raise HypeError(f"cannot read {args.input!r}: {exc.strerror}", code="FILE_NOT_FOUND") from exc
        db = Database.open(args.database)
        try:
            report = db.import_data(text, trust_bytecode=args.trust_bytecode, replace=args.replace)
        finally:
            db.close()
    except HypeError as exc:
        _print_error(exc)
        return 1
    print(f"imported {report['rows']} row(s) in {report['tables']} table(s); {report['functions']} function(s), "
          f"{report['functions_from_source']} to be compiled from source")
    return 0


def find_dist(root: str | None = None) -> Path:
    """Locate the built browser distribution (``dist/web``).

    Order: ``root`` argument (only it, when given), ``$HYPE_DIST``, ``./dist/web``, the source checkout's ``dist/web``.
    Raises:
        HypeError: ``DIST_NOT_BUILT`` with a hint to run ``./build.sh``.
    """
    from pathlib import Path

    if root:
        candidates = [root]
    else:
        candidates = [os.environ.get("HYPE_DIST"), "dist/web",
                      str(Path(__file__).resolve().parents[2] / "dist" / "web")]
    for c in candidates:
        if c and (Path(c) / "hypelua.js").is_file():
            return Path(c).resolve()
    raise HypeError(
        "the browser distribution dist/web is not built",
        code="DIST_NOT_BUILT",
        details={"searched": [c for c in candidates if c]},
        suggestion="Run ./build.sh (or ./build.sh dist) in the hypelua checkout, or pass --root.",
    )


def _cmd_playground(args: argparse.Namespace) -> int:
    from ._devserver import serve

    try:
        root = find_dist(args.root)
    except HypeError as exc:
        _print_error(exc)
        return 1
    serve(root, host=args.host, port=args.port)
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from .http._serve import serve

    try:
        return serve(args.app, host=args.host, port=args.port, workers=args.workers, reload=args.reload,
                     database=args.database, timeout=args.timeout, max_body=args.max_body,
                     max_memory=args.max_memory, dev=args.dev, log_level=args.log_level, sandbox=args.sandbox,
                     pubsub=args.pubsub)
    except HypeError as exc:
        _print_error(exc)
        return 1
    except KeyboardInterrupt:  # Ctrl+C while the app loads, before uvicorn handles signals
        sys.stderr.write("interrupted\n")
        return 130


def build_parser() -> argparse.ArgumentParser:
    import argparse

    from . import __version__

    parser = argparse.ArgumentParser(prog="hype", description="hypelua: Lua 5.4 with persistent external tables")
    parser.add_argument("--version", action="version", version=f"hypelua {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a Lua file natively (external tables persist in --database)")
    run.add_argument("file", help="the Lua file to run")
    run.add_argument("args", nargs="*", help="arguments passed to the chunk as ...")
    run.add_argument("--database", "-d", default="hype.db",
                     help="SQLite file holding the external tables (default: ./hype.db; ':memory:' for none)")
    run.add_argument("--max-memory", type=int, default=None, help="Lua heap limit in bytes")
    run.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                     help="stop the script after this many seconds (error TIMEOUT)")
    run.add_argument("--sandbox", action="store_true",
                     help="untrusted code: an allow-list environment (no io/os/debug/python, text-only load), "
                          "require confined to the project, a 256 MiB heap cap unless --max-memory")
    run.set_defaults(func=_cmd_run)

    pg = sub.add_parser("playground", help="serve the in-browser playground from dist/web")
    pg.add_argument("--port", "-p", type=int, default=8000)
    pg.add_argument("--host", default="127.0.0.1")
    pg.add_argument("--root", default=None, help="directory of the built distribution (default: dist/web)")
    pg.set_defaults(func=_cmd_playground)

    sv = sub.add_parser("serve", help="serve a Lua app (app.lua) or an ASGI app (module:app) on uvicorn")
    sv.add_argument("app", help="a Lua file returning require('hype.http').app(), or MODULE:ATTR of an ASGI app")
    sv.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    sv.add_argument("--port", "-p", type=int, default=3000, help="TCP port (default: 3000)")
    sv.add_argument("--workers", "-w", type=int, default=1,
                    help="worker processes, each with its own Lua VM, sharing --database (default: 1)")
    sv.add_argument("--reload", action="store_true", help="restart when a *.lua or *.py file changes (development)")
    sv.add_argument("--database", "-d", default=None,
                    help="SQLite file shared by the workers (default: ./hype.db; ':memory:' for none)")
    sv.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                    help="a Lua handler running longer gets 503 (default: 30)")
    sv.add_argument("--max-body", type=int, default=1_048_576, metavar="BYTES",
                    help="larger request bodies get 413 (default: 1048576)")
    sv.add_argument("--max-memory", type=int, default=None, metavar="BYTES", help="Lua heap limit per worker")
    sv.add_argument("--dev", action="store_true",
                    help="development mode: tracebacks in error responses; LiveView sessions at /_hype/live/sessions")
    sv.add_argument("--sandbox", action="store_true",
                    help="untrusted Lua app: allow-list environment, files confined to the app's directory, "
                         "a 256 MiB heap cap unless --max-memory")
    sv.add_argument("--pubsub", default=None, metavar="URL",
                    help="LiveView pub/sub across workers and nodes, e.g. redis://127.0.0.1:6379")
    sv.add_argument("--log-level", default="info",
                    choices=["critical", "error", "warning", "info", "debug", "trace"],
                    help="uvicorn log level; warning and above also silence the access log (default: info)")
    sv.set_defaults(func=_cmd_serve)

    ex = sub.add_parser("export", help="write a whole database (tables, functions with source, indices, "
                                       "schemas) to a portable JSON file")
    ex.add_argument("database", help="SQLite database file")
    ex.add_argument("output", help="export file to write ('-' for standard output)")
    ex.set_defaults(func=_cmd_export)

    im = sub.add_parser("import", help="load an export file into a database (atomic)")
    im.add_argument("database", help="SQLite database file (created if missing)")
    im.add_argument("input", help="export file to read ('-' for standard input)")
    im.add_argument("--replace", action="store_true", help="drop each imported table's existing rows first")
    im.add_argument("--trust-bytecode", action="store_true",
                    help="sign imported bytecode with this database's key (default: functions with source "
                         "are recompiled from source; others stay refused)")
    im.set_defaults(func=_cmd_import)

    # more subcommands: each module defines register(subparsers) and keeps its
    # heavy imports inside the command functions (start-up time is a target)
    import importlib

    for module in _COMMAND_MODULES:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if not exc.name or not (module == exc.name or module.startswith(exc.name + ".")):
                raise  # a missing dependency inside an existing module is a real error
            continue
        mod.register(sub)
    return parser


#: modules contributing subcommands (``register(subparsers) -> None``)
_COMMAND_MODULES = ["hypelua.pm._cli", "hypelua.testing._cli", "hypelua._repl"]


def _fast_run_args(argv: list[str]) -> SimpleNamespace | None:
    """Parse the common ``hype run FILE [ARGS...] [-d PATH] [--max-memory N]`` without argparse.

    argparse (and the gettext it imports) is a visible share of ``hype run``'s
    start-up, a benchmarked target.  Anything unusual (``-h``, unknown options,
    bad numbers) returns None and argparse handles it, with its messages.
    """
    if not argv or argv[0] != "run":
        return None
    ns = SimpleNamespace(file=None, args=[], database="hype.db", max_memory=None, sandbox=False, timeout=None,
                         func=_cmd_run)
    rest = argv[1:]
    i, options = 0, True
    while i < len(rest):
        tok = rest[i]
        name, eq, inline = tok.partition("=")
        if options and tok == "--":
            options = False
        elif options and tok == "--sandbox":
            ns.sandbox = True
        elif options and name in ("-d", "--database", "--max-memory") and (eq or i + 1 < len(rest)):
            value = inline if eq else rest[i + 1]
            i += 0 if eq else 1
            if name == "--max-memory":
                if not value.isdigit():
                    return None
                ns.max_memory = int(value)
            else:
                ns.database = value
        elif options and tok.startswith("-") and tok != "-":
            return None
        elif ns.file is None:
            ns.file = tok
        else:
            ns.args.append(tok)
        i += 1
    return ns if ns.file is not None else None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hype`` console script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    args = _fast_run_args(argv) or build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
