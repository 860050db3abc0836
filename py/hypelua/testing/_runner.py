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


def _load_file(path: Path, *, backend: str | None, stdout: Callable[[str], Any] | None) -> tuple[Any, Any, Any]:
    """A fresh runtime with the spec file collected: (runtime, run_fn, list_fn) or raises."""
    from .._runtime import Runtime, lua_path

    rt = Runtime(":memory:", backend=backend, stdout=stdout)
    try:
        chunk = rt.vm.load((lua_path() / "hype" / "test.lua").read_text("utf-8"), "@hype/test.lua", "t")
        run_fn, list_fn = rt.vm.execute(_BOOT, chunk, str(path), str(path.resolve().parent),
                                        chunkname="=(hype test boot)")
        rt.execute_file(path)
    except BaseException:
        rt.close()
        raise
    return rt, run_fn, list_fn


def list_tests(path: str | Path, *, backend: str | None = None) -> list[str]:
    """Full names of the tests a spec file defines (collection only).

    Raises:
        LuaError / LuaSyntaxError: the spec file failed to load.
    """
    rt, _, list_fn = _load_file(Path(path), backend=backend, stdout=lambda s: None)
    try:
        (names,) = list_fn()
        return [str(n) for n in (names or [])] if isinstance(names, list) else []
    finally:
        rt.close()


async def run_file(path: str | Path, *, filter: str | None = None, timeout_ms: float = 5000,
                   backend: str | None = None, on_result: Callable[[TestResult], Any] | None = None,
                   stdout: Callable[[str], Any] | None = None) -> list[TestResult]:
    """Run one spec file in a fresh Runtime on the running asyncio loop.

    Args:
        path: the spec file.
        filter: Lua pattern (or plain text) matched against full test names.
        timeout_ms: default per-test (and per-hook) timeout in milliseconds.
        backend: Lua back-end name (None: platform default).
        on_result: called with each :class:`TestResult` as soon as it is known.
        stdout: where Lua ``print`` goes (default ``sys.stdout.write``).
    Returns:
        The results in run order.  A file that fails to load, or an uncaught
        error escaping a callback, yields one ``failed`` result (never raises
        for Lua errors).
    """
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

    try:
        rt, run_fn, _ = _load_file(p, backend=backend, stdout=stdout)
    except HypeError as exc:
        add(TestResult(file=str(p), name="(load)", full_name=f"{p} (load)", status="failed",
                       message=f"{exc.message}\n{exc.details.get('traceback', '')}".rstrip()))
        return results
    try:
        opts = {"filter": filter or "", "timeout": timeout_ms, "report": report}
        await rt.loop.call_async(run_fn, opts)
    except HypeError as exc:
        add(TestResult(file=str(p), name="(uncaught)", full_name=f"{p} (uncaught error)", status="failed",
                       message=exc.message))
    finally:
        rt.close()
    return results


async def run_files(files: Iterable[str | Path], **kwargs: Any) -> list[TestResult]:
    """Run several spec files one after the other (see :func:`run_file` for ``kwargs``)."""
    out: list[TestResult] = []
    for f in files:
        out += await run_file(f, **kwargs)
    return out


def run_files_sync(files: Iterable[str | Path], **kwargs: Any) -> list[TestResult]:
    """:func:`run_files` under ``asyncio.run`` (must not be called from a running loop)."""
    import asyncio

    return asyncio.run(run_files(list(files), **kwargs))


def default_stdout(reporter: str) -> Callable[[str], Any]:
    """Lua ``print`` target: stdout for ``pretty``, stderr for machine-readable reporters."""
    return sys.stdout.write if reporter == "pretty" else sys.stderr.write
