"""Timing loops shared by bench_bridge.py natively and inside Pyodide (no deps)."""

from __future__ import annotations

import time
from typing import Any


def best_us(fn: Any, n: int, repeat: int = 5) -> float:
    """Best per-iteration time of ``fn(n)`` in microseconds (``fn`` loops n times)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(n)
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e6


def measure_vm(vm: Any, n: int = 100_000, repeat: int = 5) -> dict[str, float]:
    """Python->Lua call, Python->Lua call with 3 args, Lua->Python callback (us)."""
    (ident,) = vm.execute("return function(a) return a end")
    (add3,) = vm.execute("return function(a, b, c) return a + b + c end")
    (loop,) = vm.execute("return function(f, n) for i = 1, n do f(i) end end")
    cb = vm.register(None, lambda x: None)
    call = vm.call

    def py_to_lua(k: int) -> None:
        for i in range(k):
            call(ident, i)

    def py_to_lua3(k: int) -> None:
        for i in range(k):
            call(add3, i, 2.5, 3)

    def lua_to_py(k: int) -> None:
        call(loop, cb, k)

    return {
        "py_to_lua_us": best_us(py_to_lua, n, repeat),
        "py_to_lua_3args_us": best_us(py_to_lua3, n, repeat),
        "lua_to_py_us": best_us(lua_to_py, n, repeat),
    }
