"""The sandbox in the browser worker (`Hype.load({sandbox: true})`): the escape suite of
``tests/sandbox_cases.py`` run through `hype.run` in headless Chromium, on Pyodide and
the ctypes back-end over our Lua side module."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import HypePage

_spec = importlib.util.spec_from_file_location(
    "sandbox_cases", Path(__file__).resolve().parents[1] / "tests" / "sandbox_cases.py")
assert _spec is not None and _spec.loader is not None
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)


@pytest.fixture()
def sandbox_page(sandbox_hype_page: HypePage) -> HypePage:
    return sandbox_hype_page


def test_worker_runs_sandboxed(sandbox_page: HypePage) -> None:
    assert sandbox_page.call("hype.sandbox") is True
    assert sandbox_page.call("hype.run('return type(io), type(debug.getinfo), type(os.time())')") == [
        "nil", "nil", "number"]


@pytest.mark.parametrize("name", sorted(set(cases.ESCAPES) - {"memory_cap"}))
def test_escape_fails_in_the_worker(sandbox_page: HypePage, name: str) -> None:
    assert sandbox_page.call("hype.run(args[0])", cases.ESCAPES[name]) == ["safe"]


def test_memory_cap_in_the_worker(sandbox_page: HypePage) -> None:
    err = sandbox_page.error_of("hype.run(args[0])", "local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(64) .. i end")
    assert err is not None and err["code"] == "LUA_MEMORY_ERROR", err
    assert sandbox_page.call("hype.run('return 1')") == [1]


def test_require_is_confined_to_the_project(sandbox_page: HypePage) -> None:
    sandbox_page.call("hype.writeFile('lib/util.lua', 'return { twice = function(x) return 2 * x end }')")
    assert sandbox_page.call("hype.run(\"return require('./lib/util').twice(21)\")") == [42]
    for request in ("../x", "/etc/passwd", "/home/pyodide/x", "/lib/python3.14/os.py"):
        err = sandbox_page.error_of("hype.run(args[0])", f"return require({request!r})")
        assert err is not None and err["code"] == "MODULE_OUTSIDE_SANDBOX", (request, err)


@pytest.mark.parametrize("name", ["coroutine_wrap", "pcall_swallows", "internal_chunk_name"])
def test_runaway_code_is_stopped_and_the_worker_serves_on(sandbox_page: HypePage, name: str) -> None:
    err = sandbox_page.error_of("hype.run(args[0], { timeout: 500 })", cases.RUNAWAY[name])
    assert err is not None and err["code"] == "TIMEOUT", err
    assert sandbox_page.call("hype.run('return 6 * 7')") == [42]
