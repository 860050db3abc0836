"""LuaVM conformance suite: the checks of :mod:`conformance_checks` run against
every back-end (``lupa`` and ``ctypes``) through the ``backend`` fixture."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hypelua.lua import LuaVM

from . import conformance_checks as checks


@pytest.mark.parametrize("name", checks.CHECKS_VM)
def test_vm(vm: LuaVM, name: str) -> None:
    getattr(checks, name)(vm)


@pytest.mark.parametrize("name", checks.CHECKS_NEW_VM)
def test_new_vm(new_vm: Callable[..., LuaVM], name: str) -> None:
    getattr(checks, name)(new_vm)


def test_backend_name(vm: LuaVM, backend: str) -> None:
    assert vm.backend_name == backend
