"""Python<->Lua bridge latency per back-end (SPEC 4: native <= 1 us, browser <= 10 us).

Measures, in one run: raw ``lupa.lua54`` (the anchor), the lupa back-end, the
native ctypes back-end (build/native, gcc) and the wasm ctypes back-end inside
Pyodide 314 under **Node** (not Chromium) via tests/node/pyodide_runner.mjs.

    .venv/bin/python bench/bench_bridge.py [--n 100000] [--no-node]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "py"))
sys.path.insert(0, str(ROOT / "bench"))

from bridge_core import best_us, measure_vm  # noqa: E402

from hypelua.lua import open_vm  # noqa: E402


def measure_raw_lupa(n: int) -> dict[str, float]:
    import lupa.lua54 as lupa

    lua = lupa.LuaRuntime()
    ident = lua.eval("function(a) return a end")
    add3 = lua.eval("function(a, b, c) return a + b + c end")
    loop = lua.eval("function(f, n) for i = 1, n do f(i) end end")

    def cb(x: int) -> None:
        return None

    def py_to_lua(k: int) -> None:
        for i in range(k):
            ident(i)

    def py_to_lua3(k: int) -> None:
        for i in range(k):
            add3(i, 2.5, 3)

    return {
        "py_to_lua_us": best_us(py_to_lua, n),
        "py_to_lua_3args_us": best_us(py_to_lua3, n),
        "lua_to_py_us": best_us(lambda k: loop(cb, k), n),
    }


def measure_node(n: int) -> dict[str, float] | str:
    so = ROOT / "build" / "wasm" / "libhypelua_lua54.so"
    if shutil.which("node") is None or not (ROOT / "node_modules" / "pyodide").exists():
        return "skipped: node or node_modules/pyodide missing"
    if not so.exists():
        return "skipped: run wasm/build.sh wasm"
    proc = subprocess.run(
        ["node", str(ROOT / "tests" / "node" / "pyodide_runner.mjs"),
         str(ROOT / "bench" / "pyodide_bridge_module.py"), "--so", str(so), "--env", f"HYPE_BENCH_N={n}"],
        capture_output=True, text=True, timeout=600, check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return f"failed: {proc.stderr[-500:]}"
    rep = json.loads(lines[-1])
    if not rep["ok"]:
        return f"failed: {rep}"
    return rep["results"][0]["value"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--node-n", type=int, default=20_000)
    ap.add_argument("--no-node", action="store_true")
    ns = ap.parse_args()

    rows: dict[str, dict[str, float] | str] = {"raw lupa.lua54": measure_raw_lupa(ns.n)}
    rows["lupa back-end"] = measure_vm(open_vm("lupa"), ns.n)
    try:
        rows["ctypes back-end (native gcc)"] = measure_vm(open_vm("ctypes"), ns.n)
    except Exception as exc:  # BackendUnavailableError: not built
        rows["ctypes back-end (native gcc)"] = f"skipped: {exc}"
    if not ns.no_node:
        rows["ctypes back-end (wasm, Pyodide 314 under Node 20 -- not Chromium)"] = measure_node(ns.node_n)

    anchor = rows["raw lupa.lua54"]
    assert isinstance(anchor, dict)
    keys = ["py_to_lua_us", "py_to_lua_3args_us", "lua_to_py_us"]
    print(f"{'back-end':<68} {'Py->Lua us':>11} {'Py->Lua(3) us':>14} {'Lua->Py us':>11}   ratios vs raw lupa")
    for name, row in rows.items():
        if isinstance(row, str):
            print(f"{name:<68} {row}")
            continue
        ratios = " / ".join(f"{row[k] / anchor[k]:.1f}x" for k in keys)
        print(f"{name:<68} {row[keys[0]]:>11.3f} {row[keys[1]]:>14.3f} {row[keys[2]]:>11.3f}   {ratios}")
    print("targets (SPEC 4): Python->Lua call native <= 1 us, browser <= 10 us")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
