"""require() of a 50-module tree (cold and cached) and `hype run hello.lua` start-up.

Baselines measured in the same run:
* plain Lua ``require`` through ``package.path`` on raw lupa (same tree, bare names);
* ``node -e 0`` start-up (SPEC 4 target: ``hype run hello.lua`` <= 0.5x node).

    .venv/bin/python bench/bench_require.py [--backend lupa|ctypes] [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

N_MODULES = 50
CACHED_CALLS = 100_000


def make_tree(root: Path, relative: bool) -> None:
    """m1..m50: module i requires 2i and 2i+1 (a binary tree of 50 files)."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(1, N_MODULES + 1):
        kids = [j for j in (2 * i, 2 * i + 1) if j <= N_MODULES]
        reqs = "".join(f"M.k{j} = require('{'./' if relative else ''}m{j}')\n" for j in kids)
        body = "".join(f"function M.f{n}(x) return x + {n} end\n" for n in range(5))
        (root / f"m{i}.lua").write_text(f"local M = {{ id = {i} }}\n{reqs}{body}return M\n")


def median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def bench_require(backend: str, runs: int, tmp: Path) -> None:
    import lupa.lua54 as lupa

    from hypelua import Runtime

    hype_dir, plain_dir = tmp / "hype", tmp / "plain"
    make_tree(hype_dir, relative=True)
    make_tree(plain_dir, relative=False)
    entry = hype_dir / "main.lua"
    entry.write_text("return require('./m1').id")
    loop = hype_dir / "loop.lua"
    loop.write_text(f"local r = require; local m for i = 1, {CACHED_CALLS} do m = r('./m1') end return m.id")

    def cold_hype() -> float:
        with Runtime(":memory:", backend=backend, stdout=lambda s: None) as rt:
            t0 = time.perf_counter()
            assert rt.execute_file(entry) == (1,)
            return (time.perf_counter() - t0) * 1000

    def cold_plain() -> float:
        rt = lupa.LuaRuntime()
        rt.execute(f"package.path = '{plain_dir}/?.lua;' .. package.path")
        t0 = time.perf_counter()
        assert rt.execute("return require('m1').id") == 1
        return (time.perf_counter() - t0) * 1000

    hype_cold = statistics.median(cold_hype() for _ in range(runs))
    plain_cold = statistics.median(cold_plain() for _ in range(runs))

    with Runtime(":memory:", backend=backend, stdout=lambda s: None) as rt:
        rt.execute_file(entry)
        hype_cached = median_ms(lambda: rt.execute_file(loop), runs) * 1e3 / CACHED_CALLS
        # inside a module: the module-local require (no debug.getinfo)
        (hype_dir / "inner.lua").write_text(
            f"return function() local m for i = 1, {CACHED_CALLS} do m = require('./m1') end return m.id end")
        (inner,) = rt.execute(f"return require('{hype_dir}/inner')")
        hype_cached_mod = median_ms(inner, runs) * 1e3 / CACHED_CALLS
    lrt = lupa.LuaRuntime()
    lrt.execute(f"package.path = '{plain_dir}/?.lua;' .. package.path")
    lrt.execute("require('m1')")
    plain_loop = lrt.eval(f"function() local r = require; local m for i = 1, {CACHED_CALLS} do m = r('m1') end end")
    plain_cached = median_ms(plain_loop, runs) * 1e3 / CACHED_CALLS

    print(f"require tree of {N_MODULES} modules, backend {backend}, median of {runs} runs")
    print(f"  cold  hype require (fresh Runtime)      : {hype_cold:8.3f} ms")
    print(f"  cold  plain Lua require (package.path)  : {plain_cold:8.3f} ms   ratio {hype_cold / plain_cold:5.2f}x")
    print(f"  cached hype require, main chunk (global): {hype_cached:8.4f} us/call")
    print(f"  cached hype require, inside a module    : {hype_cached_mod:8.4f} us/call")
    print(f"  cached plain Lua require                : {plain_cached:8.4f} us/call "
          f"ratio {hype_cached / plain_cached:5.2f}x (global) {hype_cached_mod / plain_cached:5.2f}x (module)")


def bench_startup(runs: int, tmp: Path) -> None:
    """``hype run hello.lua`` vs ``node -e 0``, runs alternating, median of each.

    Bytecode caching is on (``PYTHONDONTWRITEBYTECODE`` is dropped for the
    subprocesses, as on a user's machine where pip compiled the package); the
    warm-up run writes any missing ``.pyc``.  The floor, ``python -c "import
    lupa.lua54"`` running one Lua print, is shown for scale.
    """
    hype = shutil.which("hype", path=os.path.dirname(sys.executable)) or "hype"
    node = shutil.which("node")
    (tmp / "hello.lua").write_text("print('hello')\n")
    (tmp / "floor.py").write_text("import lupa.lua54\nlupa.lua54.LuaRuntime().execute('print(\"hello\")')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def timed(cmd: list[str]) -> float:
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=tmp, check=True, stdout=subprocess.DEVNULL, env=env)
        return (time.perf_counter() - t0) * 1000

    commands = {"hype": [hype, "run", "hello.lua"], "floor": [sys.executable, "floor.py"]}
    if node:
        commands["node"] = [node, "-e", "0"]
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for cmd in commands.values():
        timed(cmd)  # warm the page cache, write .pyc files, create hype.db once
    for _ in range(runs):
        for name, cmd in commands.items():
            samples[name].append(timed(cmd))
    med = {name: statistics.median(v) for name, v in samples.items()}
    print(f"start-up, median of {runs} alternating runs")
    print(f"  hype run hello.lua : {med['hype']:7.1f} ms")
    print(f"  python + lupa floor: {med['floor']:7.1f} ms   (python -c: import lupa.lua54, one Lua print)")
    if node:
        verdict = "PASS" if med["hype"] <= 0.5 * med["node"] else "FAIL"
        print(f"  node -e 0          : {med['node']:7.1f} ms   ratio {med['hype'] / med['node']:4.2f}x node "
              f"(target <= 0.5x: {verdict})")
    else:
        print("  node not found: no baseline")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--backend", default="lupa")
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hype-bench-require-"))
    try:
        bench_require(args.backend, args.runs, tmp)
        bench_startup(args.runs, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
