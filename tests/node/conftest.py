"""Fixtures for running Python check modules inside Pyodide 314 under Node 20."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "tests" / "node" / "pyodide_runner.mjs"
SO = ROOT / "build" / "wasm" / "libhypelua_lua54.so"
WHEEL = ROOT / "build" / "wheels" / "hypelua_lua54-5.4.8-cp314-cp314-pyodide_2026_0_wasm32.whl"

RunInPyodide = Callable[..., dict[str, Any]]


DIST_WHEELS = ROOT / "dist" / "web" / "wheels"


def dependency_wheels() -> list[Path]:
    """The pure-Python dependency wheels ``build.sh dist`` gathered for Pyodide
    (everything in ``dist/web/wheels`` but hypelua itself and the Lua side module)."""
    return sorted(w for w in DIST_WHEELS.glob("*.whl") if not w.name.startswith(("hypelua-", "hypelua_lua54-")))


def skip_reason() -> str | None:
    """Why Pyodide-under-Node tests cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (ROOT / "node_modules" / "pyodide" / "pyodide.mjs").exists():
        return "node_modules/pyodide missing (run `npm install`)"
    if not SO.exists():
        return "wasm side module not built (run `wasm/build.sh wasm`)"
    if not dependency_wheels():
        return "dependency wheels missing in dist/web/wheels (run `./build.sh dist`)"
    return None


def run_in_pyodide(module: Path, *args: str, timeout: float = 300) -> dict[str, Any]:
    """Run ``module`` with the Node runner and return its JSON report."""
    proc = subprocess.run(
        ["node", str(RUNNER), str(module), *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"runner printed no JSON (rc={proc.returncode}):\n{proc.stderr[-4000:]}"
    return json.loads(lines[-1])


@pytest.fixture(scope="session")
def pyodide() -> RunInPyodide:
    """``pyodide(module, *runner_args) -> report``; skips when Node/Pyodide/the wasm build is missing."""
    reason = skip_reason()
    if reason:
        if os.environ.get("HYPELUA_REQUIRE_DIST") == "1":
            pytest.fail(f"Pyodide-under-Node tests cannot run: {reason}")
        pytest.skip(reason)
    return run_in_pyodide


@pytest.fixture(scope="session")
def dependency_wheel_args() -> list[str]:
    """``--wheel PATH`` runner arguments installing hypelua's dependencies in Pyodide."""
    return [arg for w in dependency_wheels() for arg in ("--wheel", str(w))]
