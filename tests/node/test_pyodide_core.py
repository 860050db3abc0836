"""The Python core (storage, IndexedDB back-end, WorkerHost) inside Pyodide 314 under Node.

Runs ``tests/node/pyodide_core_checks.py`` through ``pyodide_runner.mjs`` once per
module and reports each check as its own test.  Needs node, ``npm install`` and
``wasm/build.sh wasm``; skips with the reason otherwise.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.node

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ROOT / "tests" / "node" / "pyodide_core_checks.py"
SO = ROOT / "build" / "wasm" / "libhypelua_lua54.so"


def _names() -> list[str]:
    tree = ast.parse(CHECKS.read_text())
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
            and n.name.startswith("test_")]


@pytest.fixture(scope="module")
def report(pyodide: Callable[..., dict[str, Any]], dependency_wheel_args: list[str]) -> dict[str, Any]:
    return pyodide(CHECKS, "--so", str(SO), "--env", f"HYPE_ROOT={ROOT}", *dependency_wheel_args)


@pytest.mark.parametrize("name", _names())
def test_core_in_pyodide(report: dict[str, Any], name: str) -> None:
    results = {r["name"]: r for r in report["results"]}
    assert name in results, f"check {name} did not run: {report.get('error')}"
    r = results[name]
    assert r["outcome"] == "passed", r.get("error") or r


def test_ran_under_python_314(report: dict[str, Any]) -> None:
    assert report["python"].startswith("3.14"), report["python"]
