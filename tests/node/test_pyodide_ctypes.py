"""The Lua conformance checks inside Pyodide 314 under Node (wasm ctypes back-end).

Runs ``tests/node/pyodide_ctypes_checks.py`` through ``pyodide_runner.mjs`` once
per session (Pyodide start-up costs ~1.5 s) and asserts every check passed.
Needs ``node``, ``node_modules/pyodide`` (``npm install``) and the wasm build
(``wasm/build.sh wasm``); skips with the reason otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.node

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "tests" / "node" / "pyodide_runner.mjs"
CHECKS = ROOT / "tests" / "node" / "pyodide_ctypes_checks.py"
SO = ROOT / "build" / "wasm" / "libhypelua_lua54.so"
WHEEL = ROOT / "build" / "wheels" / "hypelua_lua54-5.4.8-cp314-cp314-pyodide_2026_0_wasm32.whl"


@pytest.fixture(scope="module")
def report(pyodide: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return pyodide(CHECKS, "--so", str(SO))


def _names() -> list[str]:
    import sys

    sys.path.insert(0, str(ROOT / "tests" / "lua"))
    try:
        import conformance_checks as checks
    finally:
        sys.path.pop(0)
    names = ["test_platform", "test_os_time_64bit", "test_preempt_count_mode"]
    names += ["test_" + n[len("check_"):] for n in checks.CHECKS_VM + checks.CHECKS_NEW_VM]
    return names


def test_pyodide_runtime(report: dict[str, Any]) -> None:
    assert report["pyodide"] == "314.0.7"
    assert report["python"].startswith("3.14")
    assert "error" not in report, report.get("error")


@pytest.mark.parametrize("name", _names())
def test_check_in_pyodide(report: dict[str, Any], name: str) -> None:
    by_name = {r["name"]: r for r in report["results"]}
    assert name in by_name, f"{name} did not run in Pyodide"
    result = by_name[name]
    assert result["outcome"] == "passed", f"{result.get('error')}\n{result.get('traceback', '')}"


def test_wheel_in_pyodide(pyodide: Callable[..., dict[str, Any]]) -> None:
    """The packaged wheel works: hypelua_lua54.library_path() finds the side module."""
    if not WHEEL.exists():
        pytest.skip("wheel not built (run `wasm/build.sh wasm`)")
    rep = pyodide(CHECKS, "--no-so", "--wheel", str(WHEEL), "-k", "test_platform")
    assert rep["ok"], rep
    assert rep["results"][0]["value"]["lua"] == "Lua 5.4"
