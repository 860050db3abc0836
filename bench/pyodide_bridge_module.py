"""Bridge latency of the wasm ctypes back-end inside Pyodide (run by
``tests/node/pyodide_runner.mjs``; see bench/bench_bridge.py)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bridge_core import measure_vm

from hypelua.lua import open_vm


def test_bridge_ctypes_wasm() -> dict[str, float]:
    vm = open_vm("ctypes")
    try:
        return measure_vm(vm, n=int(os.environ.get("HYPE_BENCH_N", "20000")))
    finally:
        vm.close()
