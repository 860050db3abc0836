"""pytest plugin: collect Lua spec files (``*_spec.lua``, ``*.test.lua``) as test items.

Registered through the ``pytest11`` entry point ``hypelua``; it is **opt-in**
so installing hypelua never changes what pytest collects elsewhere:

    pytest --hype-specs tests/lua_specs        # or, in pytest.ini / pyproject:
    [tool.pytest.ini_options]  hype_specs = true

One item per ``it`` (named by its full name); the file is run once, on the
first item, and every item then reports its own outcome (pending -> skipped).
Options: ``--hype-backend NAME`` (Lua back-end), ``--hype-timeout MS``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._runner import SPEC_SUFFIXES, TestResult, list_tests, run_files_sync


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hypelua", "Lua spec files (hype test)")
    group.addoption("--hype-specs", action="store_true", default=False,
                    help="collect *_spec.lua and *.test.lua files as tests")
    group.addoption("--hype-backend", default=None, help="Lua back-end for spec files (lupa, ctypes)")
    group.addoption("--hype-timeout", type=float, default=5000, help="per-test timeout in ms")
    parser.addini("hype_specs", "collect *_spec.lua / *.test.lua files as tests", type="bool", default=False)


def _enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("--hype-specs") or config.getini("hype_specs"))


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.name.endswith(SPEC_SUFFIXES) and _enabled(parent.config):
        return LuaSpecFile.from_parent(parent, path=file_path)
    return None


class LuaSpecFailure(Exception):
    """A Lua test failed; the message is the Lua failure message."""


class LuaSpecFile(pytest.File):
    """A Lua spec file; its tests are listed by running the collection phase."""

    _results: dict[str, TestResult] | None = None

    def collect(self) -> Iterator[pytest.Item]:
        backend = self.config.getoption("--hype-backend")
        try:
            names = list_tests(self.path, backend=backend)
        except Exception as exc:  # a load error becomes one failing item
            yield LuaSpecItem.from_parent(self, name="(load)", load_error=str(exc))
            return
        seen: dict[str, int] = {}
        for name in names:
            n = seen.get(name, 0)
            seen[name] = n + 1
            yield LuaSpecItem.from_parent(self, name=name if n == 0 else f"{name} [{n + 1}]", full_name=name)

    def results(self) -> dict[str, TestResult]:
        """Run the whole file once; results keyed by full name (first occurrence)."""
        if self._results is None:
            out: dict[str, TestResult] = {}
            for r in run_files_sync([self.path], backend=self.config.getoption("--hype-backend"),
                                    timeout_ms=self.config.getoption("--hype-timeout"), stdout=lambda s: None):
                out.setdefault(r.full_name, r)
                if r.name in ("(load)", "(uncaught)"):
                    out["\0file"] = r
            self._results = out
        return self._results


class LuaSpecItem(pytest.Item):
    """One Lua ``it`` block."""

    def __init__(self, *, full_name: str | None = None, load_error: str | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.full_name = full_name or self.name
        self.load_error = load_error

    def runtest(self) -> None:
        if self.load_error:
            raise LuaSpecFailure(self.load_error)
        parent = self.parent
        assert isinstance(parent, LuaSpecFile)
        results = parent.results()
        r = results.get(self.full_name) or results.get("\0file")
        if r is None:
            raise LuaSpecFailure("the test did not run")
        if r.status == "pending":
            pytest.skip("pending")
        if r.status == "failed":
            raise LuaSpecFailure(r.message or "failed")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, LuaSpecFailure):
            return f"{self.path}: {self.full_name}\n{excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"lua: {self.full_name}"
