"""Fixtures for the LuaVM conformance suite: one ``vm`` per back-end."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from hypelua.lua import LuaVM, open_vm

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NATIVE_LIBRARY = os.path.join(ROOT, "build", "native", "libhypelua_lua54.so")

BACKENDS = ["lupa", "ctypes"]


def ctypes_library() -> str | None:
    """The ctypes library to test, or None when it is not built."""
    path = os.environ.get("HYPE_LUA_LIBRARY") or NATIVE_LIBRARY
    return path if os.path.exists(path) else None


def make_vm(backend: str, **options: object) -> LuaVM:
    """Open a VM on ``backend``, skipping when the ctypes library is not built."""
    if backend == "ctypes":
        lib = ctypes_library()
        if lib is None:
            pytest.skip("ctypes back-end: build/native/libhypelua_lua54.so not built "
                        "(run `wasm/build.sh native`)")
        options.setdefault("library", lib)
    return open_vm(backend, **options)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Name of the back-end under test."""
    return request.param


@pytest.fixture
def vm(backend: str) -> Iterator[LuaVM]:
    """A fresh Lua VM on each back-end."""
    machine = make_vm(backend)
    yield machine
    machine.close()


@pytest.fixture
def new_vm(backend: str) -> Iterator[object]:
    """Factory: ``new_vm(max_memory=..., open_libs=...)`` on the current back-end."""
    made: list[LuaVM] = []

    def factory(**options: object) -> LuaVM:
        machine = make_vm(backend, **options)
        made.append(machine)
        return machine

    yield factory
    for machine in made:
        machine.close()
