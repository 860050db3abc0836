"""Preemption of Lua coroutines (issue 11 item 3): what each design costs, under lupa.

    .venv/bin/python bench/bench_preempt.py            # the spike's designs (lupa) + the product module
    .venv/bin/python bench/bench_preempt.py --product  # only the product module, hype.preempt

``--product`` (and the last part of a full run) measures ``hype.preempt``
(``wasm/hype_preempt.c``, built by ``wasm/build.sh native``) in a :class:`hypelua.Runtime`
on both native back-ends, in "thread" mode (and "count" mode, the browser's, with
``HYPE_PREEMPT_MODE=count`` in the environment): the same 2e7-iteration loop run to its
end with ``preempt.resume`` in a loop vs. one plain ``coroutine.resume``; ratio of the
medians of 5 alternating rounds.

Builds two small C Lua modules from ``bench/preempt/`` with ``gcc`` against the Lua 5.4
headers of lupa's sdist (``build/deps/lupa-*/third-party/lua54``, fetched by ``./build.sh``)
into a temporary directory, and loads them into a lupa ``LuaRuntime`` with
``package.loadlib`` after promoting lupa's extension module to ``RTLD_GLOBAL`` (so the
modules bind to the very Lua lupa runs).  Work: a tight arithmetic loop of 2e7 iterations
(the worst case for an instruction hook).  Baseline, same run: the loop in a plain coroutine.
Every figure is the minimum of 3 runs (the machine is noisy).

* ``count hook in C`` (``count_hook.c``): a ``LUA_MASKCOUNT`` hook yields every N
  instructions (``lua_yield`` from a C hook; ``coroutine.yield`` from a ``debug.sethook``
  hook fails with "attempt to yield across a C-call boundary").
* ``count hook in Lua``: what the runtime's ``--timeout`` watch does today (a Lua function
  as a count hook), for comparison.
* ``timer-armed hook`` (``timer_hook.c``): no hook while a process runs; a C thread arms a
  count=1 hook on the running coroutine every period; the hook disarms itself and yields.
  Also: fairness of two busy processes (ratio of their loop counts) and the longest slice.
"""

from __future__ import annotations

import ctypes
import glob
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

WORK = "local function work() local s = 0 for i = 1, 2e7 do s = s + i end return s end\n"


def build(tmp: str) -> dict[str, str]:
    headers = sorted(glob.glob(str(REPO / "build" / "deps" / "lupa-*" / "third-party" / "lua54")))
    if not headers:
        sys.exit("no Lua 5.4 headers: run ./build.sh deps (it unpacks lupa's sdist into build/deps/)")
    out = {}
    for name in ("count_hook", "timer_hook"):
        so = os.path.join(tmp, f"{name}.so")
        subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-pthread", f"-I{headers[-1]}",
                        str(REPO / "bench" / "preempt" / f"{name}.c"), "-o", so], check=True)
        out[name] = so
    return out


BASE = WORK + """
local co = coroutine.create(work); local t0 = os.clock(); coroutine.resume(co); return os.clock() - t0"""

COUNT_C = WORK + """
local arm = package.loadlib(..., "luaopen_count_hook")().arm
local co = coroutine.create(work); arm(co, select(2, ...))
local n, t0 = 0, os.clock()
repeat coroutine.resume(co); n = n + 1 until coroutine.status(co) == "dead"
return os.clock() - t0, n"""

COUNT_LUA = WORK + """
debug.sethook(function() end, "", 4000)
local co = coroutine.create(work)
local t0 = os.clock(); coroutine.resume(co); local t = os.clock() - t0
debug.sethook(); return t, 1"""

TIMER = WORK + """
local tick = package.loadlib(..., "luaopen_timer_hook")()
tick.start(1000)
local co = coroutine.create(work)
local n, t0 = 0, os.clock()
repeat tick.enter(co); coroutine.resume(co); tick.leave(); n = n + 1 until coroutine.status(co) == "dead"
local t = os.clock() - t0
tick.stop()
return t, n"""

FAIRNESS = """
local tick = package.loadlib(..., "luaopen_timer_hook")()
tick.start(1000)
local c1, c2 = 0, 0
local a = coroutine.create(function() while true do c1 = c1 + 1 end end)
local b = coroutine.create(function() while true do c2 = c2 + 1 end end)
local t1, longest = os.clock(), 0
while os.clock() - t1 < 0.5 do
  for _, p in ipairs({ a, b }) do
    local s = os.clock(); tick.enter(p); coroutine.resume(p); tick.leave()
    longest = math.max(longest, os.clock() - s)
  end
end
tick.stop()
return c1 / c2, longest"""


PRODUCT = WORK + """
local P, plain = package.loaded["hype.preempt"], ...
local co = coroutine.create(work)
local t0, n = os.clock(), 0
if plain then coroutine.resume(co) else
  repeat P.resume(co); n = n + 1 until coroutine.status(co) == "dead"
end
return os.clock() - t0, n, P.mode"""


def product(rounds: int = 5) -> None:
    """hype.preempt in a Runtime on both native back-ends: preempt.resume vs coroutine.resume."""
    import statistics

    sys.path.insert(0, str(REPO / "py"))
    from hypelua import Runtime

    for backend in ("lupa", "ctypes"):
        with Runtime(":memory:", backend=backend) as rt:
            if rt.execute('return package.loaded["hype.preempt"] == nil')[0]:
                print(f"{backend}: hype.preempt not available (run wasm/build.sh native)")
                continue
            base, pre, slices, mode = [], [], 0, ""
            for _ in range(rounds):
                base.append(rt.execute(PRODUCT, True)[0])
                t, slices, mode = rt.execute(PRODUCT, False)
                pre.append(t)
            print(f"hype.preempt ({mode} mode, 1 ms slices), {backend}: plain coroutine.resume "
                  f"{statistics.median(base) * 1e3:.0f} ms, preempt.resume {statistics.median(pre) * 1e3:.0f} ms "
                  f"({slices} slices): {statistics.median(pre) / statistics.median(base):.2f}x")


def main() -> None:
    import statistics

    if "--product" in sys.argv[1:]:
        product()
        return

    import lupa.lua54 as lua54

    ctypes.CDLL(lua54.__file__, mode=ctypes.RTLD_GLOBAL | os.RTLD_NOLOAD)  # the C modules bind to lupa's Lua
    rounds = 5
    with tempfile.TemporaryDirectory() as tmp:
        libs = build(tmp)
        rt = lua54.LuaRuntime()
        cases = [(f"count hook in C, yield every {b:>5} instructions", COUNT_C, (libs["count_hook"], b))
                 for b in (1000, 4000, 40000)]
        cases += [("count hook in Lua (today's --timeout watch), every 4000", COUNT_LUA, ()),
                  ("timer-armed hook, 1 ms slices", TIMER, (libs["timer_hook"],))]
        ratios: dict[str, list[float]] = {name: [] for name, _, _ in cases}
        slices: dict[str, int] = {}
        bases = []
        for _ in range(rounds):  # each case next to a baseline of its own: ratios survive a noisy machine
            for name, code, args in cases:
                base = rt.execute(BASE)
                t, n = rt.execute(code, *args)
                bases.append(base)
                ratios[name].append(t / base)
                slices[name] = n
        print(f"baseline: the loop in a coroutine, no hook: median {statistics.median(bases) * 1e3:.0f} ms "
              f"(ratios: median of {rounds} rounds, each against a baseline run just before)")
        for name, _, _ in cases:
            print(f"{name}: {statistics.median(ratios[name]):.2f}x ({slices[name]} slices)")
        fair, longest = rt.execute(FAIRNESS, libs["timer_hook"])
        print(f"timer-armed hook, two busy processes for 0.5 s: share ratio {fair:.2f}, "
              f"longest slice {longest * 1e3:.1f} ms")
    product()


if __name__ == "__main__":
    main()
