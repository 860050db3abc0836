"""Starlette and ``call_asgi`` inside Pyodide 314 under Node (the wheels ``build.sh dist`` serves).

Runs ``tests/node/pyodide_http_checks.py`` once per module; each check is reported as
its own test.  Skips (with the reason) when Node, Pyodide or dist/web is missing.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.node

ROOT = Path(__file__).resolve().parents[2]
CHECKS = ROOT / "tests" / "node" / "pyodide_http_checks.py"


def _names() -> list[str]:
    tree = ast.parse(CHECKS.read_text())
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
            and n.name.startswith("test_")]


@pytest.fixture(scope="module")
def report(pyodide: Callable[..., dict[str, Any]], dependency_wheel_args: list[str]) -> dict[str, Any]:
    return pyodide(CHECKS, "--no-so", *dependency_wheel_args)


def test_dist_carries_starlette_and_its_dependencies(pyodide: Any, dependency_wheel_args: list[str]) -> None:
    names = {Path(arg).name.split("-")[0].lower() for arg in dependency_wheel_args[1::2]}
    assert {"starlette", "anyio", "idna", "python_multipart"} <= names, names


@pytest.mark.parametrize("name", _names())
def test_http_in_pyodide(report: dict[str, Any], name: str) -> None:
    results = {r["name"]: r for r in report["results"]}
    assert name in results, f"check {name} did not run: {report.get('error')}"
    r = results[name]
    assert r["outcome"] == "passed", r.get("error") or r
