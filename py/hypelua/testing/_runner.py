"""Discover and run Lua spec files; results as :class:`TestResult` records."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._errors import HypeError

#: file name endings collected as spec files
SPEC_SUFFIXES = ("_spec.lua", ".test.lua")
#: directories never searched
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "hype_modules", "node_modules", "__pycache__", ".venv", "venv",
                       "build", "dist"})

_BOOT = """
local chunk, file, dir = ...
local T = chunk()
T.install()
T.reset(file)
package.path = dir .. "/?.lua;" .. dir .. "/?/init.lua;./?.lua;./?/init.lua;./src/?.lua;./src/?/init.lua;"
  .. package.path
return T.run, T.list
"""


@dataclass
class TestResult:
    """One test outcome.

    Attributes:
        file: spec file path (as given/discovered).
        name: the ``it`` name; ``full_name``: describe names + it name, space separated.
        path: enclosing describe names.
        status: ``"passed"``, ``"failed"`` or ``"pending"``.
        message: failure message (with ``file:line:``) or None.
        duration_ms: wall time of hooks + body, in milliseconds.
    """

    __test__ = False  # not a pytest class

    file: str
    name: str
    full_name: str
    status: str
    message: str | None = None
    duration_ms: float = 0.0
    path: list[str] = field(default_factory=list)


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """Spec files under ``paths`` (files are taken as given), sorted per directory.

    Raises:
        HypeError: ``PATH_NOT_FOUND`` for a path that does not exist.
    """
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_file():
            out.append(p)
        elif p.is_dir():
            for f in sorted(_walk(p)):
                out.append(f)
        else:
            raise HypeError(f"no such file or directory: {str(p)!r}", code="PATH_NOT_FOUND",
                            details={"path": str(p)}, suggestion="Pass spec files or directories that exist.")
    seen: set[Path] = set()
    unique = []
    for f in out:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def _walk(root: Path) -> Iterable[Path]:
    for child in root.iterdir():
        if child.is_dir():
            if child.name in SKIP_DIRS or child.name.startswith("."):
                continue
            yield from _walk(child)
        elif child.name.endswith(SPEC_SUFFIXES):
            yield child


@dataclass
class RunControl:
    """Shared state of one ``hype test`` run.

    Attributes:
        handle_sigint: route Ctrl+C (SIGINT, main thread only) to the run: the
            running Lua code fails with ``INTERRUPTED``, the run stops and
            :func:`run_files_sync` returns the results so far (the CLI sets it;
            library callers keep their own SIGINT handling).
        interrupted: set once Ctrl+C stopped the run.
    """

    handle_sigint: bool = False
    interrupted: bool = False


def _deadline_setter(rt: Any) -> Callable[..., None]:
    """``deadline(seconds|None, message)`` for test.lua: arms the runtime's watch deadline."""

    def deadline(seconds: float | None = None, message: str | None = None) -> None:
        rt.set_deadline(None if seconds is None else max(float(seconds), 0.0), message=message)

    return deadline


def _start_watch(rt: Any) -> None:
    """Install the watch hook (timeouts and Ctrl+C reach a Lua loop that never returns).

    The hook is best effort: where it cannot be installed (a platform without
    ``debug.sethook`` support in the bridge), tests still time out through
    timers, only a loop that never returns is not interrupted.
    """
    try:
        rt.watch(deadline_s=None, every=200_000)
    except Exception:
        return


def _load_file(path: Path, *, backend: str | None, stdout: Callable[[str], Any] | None,
               timeout_ms: float = 5000) -> tuple[Any, Any, Any]:
    """A fresh runtime with the spec file loaded: (runtime, run_fn, list_fn) or raises.

    Loading registers the file's top-level blocks and tests (their bodies run
    later, during the run); the file's own top-level code runs under the
    per-test deadline, so a loop that never ends there fails the load.
    """
    from .._runtime import Runtime, lua_path

    rt = Runtime(":memory:", backend=backend, stdout=stdout)
    try:
        chunk = rt.vm.load((lua_path() / "hype" / "test.lua").read_text("utf-8"), "@hype/test.lua", "t")
        run_fn, list_fn = rt.vm.execute(_BOOT, chunk, str(path), str(path.resolve().parent),
                                        chunkname="=(hype test boot)")
        _start_watch(rt)
        rt.set_deadline(timeout_ms / 1000, message=f"timeout: exceeded {timeout_ms:.0f} ms while loading the file "
                        "(its top-level code did not return: a loop that never ends?)")
        try:
            rt.execute_file(path)
        finally:
            rt.set_deadline(None)
    except BaseException:
        rt.close()
        raise
    return rt, run_fn, list_fn


def list_tests(path: str | Path, *, backend: str | None = None) -> list[str]:
    """Full names of the tests a spec file defines (collection only: describe
    bodies run, hooks and tests do not).

    Raises:
        LuaError / LuaSyntaxError: the spec file failed to load.
    """
    rt, _, list_fn = _load_file(Path(path), backend=backend, stdout=lambda s: None)
    try:
        rt.set_deadline(30.0, message="timeout: collecting the tests took longer than 30 s")
        (names,) = list_fn()
        return [str(n) for n in (names or [])] if isinstance(names, list) else []
    finally:
        rt.close()


def _route_sigint(control: RunControl | None, rt: Any) -> None:
    """While a file runs: Ctrl+C flags the run, interrupts Lua code (the runtime's
    watch hook raises ``INTERRUPTED``) and cancels the asyncio task (a test waiting on a timer)."""
    import asyncio
    import signal
    import threading

    if control is None or not control.handle_sigint:
        return
    if threading.current_thread() is not threading.main_thread():
        return
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()

    def on_sigint(signum: int, frame: Any) -> None:
        control.interrupted = True
        rt.interrupt()
        if task is not None:
            loop.call_soon_threadsafe(task.cancel)

    signal.signal(signal.SIGINT, on_sigint)


def _sigint_handler() -> Any:
    try:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            return signal.getsignal(signal.SIGINT)
    except Exception:
        pass
    return None


def _restore_sigint(handler: Any) -> None:
    if handler is None:
        return
    import signal

    try:
        if signal.getsignal(signal.SIGINT) is not handler:
            signal.signal(signal.SIGINT, handler)
    except Exception:
        pass


async def run_file(path: str | Path, *, filter: str | None = None, timeout_ms: float = 5000,
                   backend: str | None = None, on_result: Callable[[TestResult], Any] | None = None,
                   stdout: Callable[[str], Any] | None = None, tags: str | None = None,
                   exclude_tags: str | None = None, control: RunControl | None = None) -> list[TestResult]:
    """Run one spec file in a fresh Runtime on the running asyncio loop.

    Args:
        path: the spec file.
        filter: Lua pattern (or plain text) matched against full test names.
        timeout_ms: default per-test (and per-hook, per describe body) timeout in
            milliseconds; a test that never returns (``while true do end``) fails
            with ``timeout: exceeded N ms`` and the next test runs.
        backend: Lua back-end name (None: platform default).
        on_result: called with each :class:`TestResult` as soon as it is known.
        stdout: where Lua ``print`` goes (default: :func:`hypelua._runtime.console_writer`).
        tags / exclude_tags: comma-separated tags (``#tag`` in test or describe
            names): only tests with one of ``tags``, none of ``exclude_tags``.
        control: shared run state (Ctrl+C handling, see :class:`RunControl`).
    Returns:
        The results in run order.  A file that fails to load, or an uncaught
        error escaping a callback, yields one ``failed`` result (never raises
        for Lua errors).  When Ctrl+C stopped the run, ``control.interrupted``
        is set and the results so far are returned.
    """
    import asyncio

    p = Path(path)
    results: list[TestResult] = []

    def add(r: TestResult) -> None:
        results.append(r)
        if on_result is not None:
            on_result(r)

    def report(d: dict[str, Any]) -> None:
        add(TestResult(file=str(p), name=str(d.get("name", "")), full_name=str(d.get("full_name", "")),
                       status=str(d.get("status", "failed")), message=d.get("message"),
                       duration_ms=float(d.get("duration_ms") or 0.0),
                       path=[str(x) for x in d.get("path") or []] if isinstance(d.get("path"), list) else []))

    stopped: list[bool] = []

    def interrupted() -> None:
        stopped.append(True)
        if control is not None:
            control.interrupted = True

    previous = _sigint_handler()
    try:
        try:
            rt, run_fn, _ = _load_file(p, backend=backend, stdout=stdout, timeout_ms=timeout_ms)
        except HypeError as exc:
            if exc.code == "INTERRUPTED" or (control is not None and control.interrupted):
                interrupted()
                return results
            add(TestResult(file=str(p), name="(load)", full_name=f"{p} (load)", status="failed",
                           message=_load_message(exc)))
            return results
        try:
            _route_sigint(control, rt)
            opts = {"filter": filter or "", "timeout": timeout_ms, "report": report,
                    "deadline": _deadline_setter(rt), "interrupted": interrupted,
                    "tags": tags or "", "exclude_tags": exclude_tags or ""}
            await rt.loop.call_async(run_fn, opts)
        except HypeError as exc:
            if exc.code == "INTERRUPTED" or (control is not None and control.interrupted):
                interrupted()
            else:
                add(TestResult(file=str(p), name="(uncaught)", full_name=f"{p} (uncaught error)", status="failed",
                               message=exc.message))
        except asyncio.CancelledError:
            if control is None or not control.interrupted:
                raise
        finally:
            rt.close()
    finally:
        _restore_sigint(previous)
    if stopped and (control is None or not control.handle_sigint):
        raise KeyboardInterrupt  # Ctrl+C reached the watch hook; the caller handles SIGINT itself
    return results


def _load_message(exc: HypeError) -> str:
    """The failure message of a file that failed to load (a TIMEOUT keeps only its message)."""
    if exc.code == "TIMEOUT":
        return exc.message
    tb = str(exc.details.get("traceback") or "").rstrip()
    if tb.startswith(exc.message):
        tb = tb[len(exc.message):].lstrip("\n")
    return f"{exc.message}\n{tb}".rstrip()


async def run_files(files: Iterable[str | Path], **kwargs: Any) -> list[TestResult]:
    """Run several spec files one after the other (see :func:`run_file` for ``kwargs``);
    stops after the file Ctrl+C interrupted (``control.interrupted``)."""
    control: RunControl | None = kwargs.get("control")
    out: list[TestResult] = []
    for f in files:
        out += await run_file(f, **kwargs)
        if control is not None and control.interrupted:
            break
    return out


def run_files_sync(files: Iterable[str | Path], **kwargs: Any) -> list[TestResult]:
    """:func:`run_files` on a new event loop (must not be called from a running loop).

    With ``control=RunControl(handle_sigint=True)``, Ctrl+C returns the results
    so far (``control.interrupted`` set) instead of raising.  The loop does not
    install asyncio's own SIGINT handler (each file's runtime routes Ctrl+C).
    """
    import asyncio

    control: RunControl | None = kwargs.get("control")
    collected: list[TestResult] = []
    user_on_result = kwargs.pop("on_result", None)

    def on_result(r: TestResult) -> None:
        collected.append(r)
        if user_on_result is not None:
            user_on_result(r)

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(run_files(list(files), on_result=on_result, **kwargs))
    except (asyncio.CancelledError, KeyboardInterrupt):
        if control is None or not control.handle_sigint:
            raise
        control.interrupted = True
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
    return collected


def default_stdout(reporter: str) -> Callable[[str], Any]:
    """Lua ``print`` target: stdout for ``pretty``, stderr for machine-readable reporters.

    Non-UTF-8 output (``print("\\xff")``) is written as its raw bytes
    (:func:`hypelua._runtime.console_writer`), never raising.
    """
    from .._runtime import console_writer

    if reporter == "pretty":
        return console_writer()
    return _stderr_writer


def _stderr_writer(text: str) -> None:
    """Write Lua output to stderr; non-UTF-8 bytes (surrogate escapes) go out as
    the raw bytes (stderr's ``backslashreplace`` would print ``\\udcff`` instead)."""
    out = sys.stderr
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        buffer = getattr(out, "buffer", None)
        if buffer is not None:
            out.flush()
            buffer.write(text.encode("utf-8", "surrogateescape"))
            buffer.flush()
            return
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    out.write(text)
