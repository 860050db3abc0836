"""Shared fixtures: the Lua back-ends every runtime-level test runs against."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NATIVE_LIB = REPO / "build" / "native" / "libhypelua_lua54.so"


def _ctypes_available() -> bool:
    return bool(os.environ.get("HYPE_LUA_LIBRARY")) or NATIVE_LIB.is_file()


@pytest.fixture(params=["lupa", "ctypes"])
def lua_backend(request: pytest.FixtureRequest) -> str:
    """Name of a Lua back-end; ctypes needs ``wasm/build.sh native`` (CI builds it)."""
    if request.param == "ctypes" and not _ctypes_available():
        pytest.skip("native ctypes library not built: run wasm/build.sh native")
    return str(request.param)
