"""The Lua conformance checks run inside Pyodide 314 on the wasm ctypes back-end.

Executed by ``tests/node/pyodide_runner.mjs`` (plain ``test_*`` functions, no
pytest); ``tests/node/test_pyodide_ctypes.py`` drives it from pytest.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lua"))

import conformance_checks as checks

from hypelua.lua import LuaVM, open_vm


def _vm(**options: object) -> LuaVM:
    return open_vm("ctypes", **options)


def _run_vm_check(name: str) -> None:
    vm = _vm()
    try:
        getattr(checks, name)(vm)
    finally:
        vm.close()


def _run_factory_check(name: str) -> None:
    made: list[LuaVM] = []

    def factory(**options: object) -> LuaVM:
        machine = _vm(**options)
        made.append(machine)
        return machine

    try:
        getattr(checks, name)(factory)
    finally:
        for machine in made:
            machine.close()


def test_platform() -> dict[str, str]:
    assert sys.platform == "emscripten"
    vm = _vm()
    assert vm.backend_name == "ctypes"
    (version,) = vm.execute("return _VERSION")
    vm.close()
    return {"platform": sys.platform, "lua": version}


def test_os_time_64bit() -> None:
    # the time shim: dates after 2038 round-trip (no 32-bit time_t)
    vm = _vm()
    now = vm.execute("return os.time()")[0]
    assert abs(now - time.time()) < 120
    t = vm.execute("return os.time({year = 2200, month = 1, day = 1, hour = 12})")[0]
    assert t > 2**32
    assert vm.execute("return os.date('*t', ...).year", t) == (2200,)
    assert vm.execute("return os.date('!%Y', 4102444800)") == ("2100",)
    assert vm.execute("return os.difftime(4102444800, 0)") == (4102444800.0,)
    vm.close()


def test_preempt_count_mode() -> dict[str, int]:
    # hype.preempt in the browser: "count" mode (no threads), preloaded by hl_new
    vm = _vm()
    try:
        mode, slices, result, values = vm.execute("""
            local P = package.preload["hype.preempt"]("hype.preempt")
            P.set_slice(500)
            local co = coroutine.create(function(a) local s = 0 for i = 1, 2e6 do s = s + i end return s + a end)
            local n, ok, v = 0, P.resume(co, 1)
            while v == P.PREEMPTED do n = n + 1; ok, v = P.resume(co) end
            local y = coroutine.create(function() coroutine.yield(1, 2) end)
            local _, a, b = P.resume(y)
            return P.mode, n, v, a + b
        """)
    finally:
        vm.close()
    assert (mode, result, values) == ("count", 2_000_000 * 2_000_001 // 2 + 1, 3)
    assert slices >= 1
    return {"slices": slices}


def _make(name: str, factory: bool) -> None:
    def test() -> None:
        if factory:
            _run_factory_check(name)
        else:
            _run_vm_check(name)

    test.__name__ = "test_" + name[len("check_"):]
    globals()[test.__name__] = test


for _name in checks.CHECKS_VM:
    _make(_name, False)
for _name in checks.CHECKS_NEW_VM:
    _make(_name, True)
