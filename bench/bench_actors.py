"""Lua actors (``hype.actor``) against Erlang/OTP processes (issue 11).

    .venv/bin/python bench/bench_actors.py [--quick] [--case NAME ...] [--repeat 3] [--backend lupa|ctypes ...]

Every figure is measured in the same run: the Erlang side is ``bench/actors/actors_bench.erl``,
compiled with ``erlc`` into a temporary directory and run as ``erl +S 1 -noshell`` (one
scheduler, like the one Lua thread); the Lua side runs through ``Runtime.execute_async`` on
each native back-end (lupa, and ctypes with ``$HYPE_LUA_LIBRARY`` or
``build/native/libhypelua_lua54.so``), a fresh Runtime per repeat.  Each figure is the best
(min time / max rate / min percentile) of ``--repeat`` runs; the machine is noisy.

Cases (only the public actor API: spawn, send, receive, self, sleep, exit):

1. ``spawn``: N processes that each wait in ``receive``; time until all are parked (each bumps
   a shared counter just before its receive: an Erlang ``counters`` ref, a Lua upvalue) and
   memory per process (Erlang: ``erlang:memory(processes)`` delta / N; Lua:
   ``collectgarbage("count")`` delta / N after full collections).
2. ``pingpong``: two processes exchange N messages (each send counts); msg/s.
3. ``ring``: 10 000 processes pass a token round 100 laps; hops/s.
4. ``latency``: a busy process (``while true do end`` / ``loop() -> loop().``) next to a pinger
   timing ping -> pong round trips through an echo process; p50/p99 in µs.
5. ``timer``: a busy process next to 1 ms sleeps (``actor.sleep(1)`` / ``receive after 1``);
   lateness past 1 ms, p50/p99.  BEAM rounds a 1 ms timeout up to the next millisecond tick,
   so Erlang's figure has a floor of ~1 ms.
6. ``preempt``: a compute loop (2e7 additions) inside an actor process vs the same loop in a
   plain coroutine in a Runtime that has no actors; ratio.  Erlang's time for the same loop is
   shown for orientation only.

Cases 4-6 need preemption of Lua code that never calls the API (``hype.preempt``); without it
``while true do end`` would never give the loop back, so the Lua side prints
"n/a (no preemption)".  Lua reads wall time through a Python callable
(``time.perf_counter``, one bridge crossing, ~0.6 µs), because ``hype.loop``'s ``now()`` is
cached per host tick.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hypelua import Runtime

REPO = Path(__file__).resolve().parents[1]
ERL_SRC = REPO / "bench" / "actors" / "actors_bench.erl"
CASES = ("spawn", "pingpong", "ring", "latency", "timer", "preempt")

SIZES = {  # full, --quick
    "spawn": ((100_000,), (10_000,)),
    "pingpong": ((300_000,), (20_000,)),
    "ring": ((10_000, 100), (1_000, 10)),
    "latency": ((2_000,), (200,)),
    "timer": ((300,), (50,)),
    "preempt": ((20_000_000,), (2_000_000,)),
}

TARGETS = {
    "spawn": "Lua <= 0.3 s, <= 2 KB each",
    "pingpong": "Lua >= 0.5x Erlang",
    "ring": "Lua >= 0.5x Erlang",
    "latency": "Lua p99 <= 50 us",
    "timer": "Lua p99 <= 2 ms",
    "preempt": "actor / coroutine <= 1.3x",
}

# Preamble of every Lua chunk: `clock` is wall time in ms; `preempt` says whether Lua code that
# never calls the API gets preempted (the busy-loop cases need it).
PRELUDE = """
local clock, a, b = ...
local actor = require("hype.actor")
local preempt = package.loaded["hype.preempt"] ~= nil or (pcall(require, "hype.preempt"))
local me = actor.self()
-- the q-quantile of sorted samples (nearest rank)
local function pct(sorted, q) return sorted[math.max(1, math.floor(#sorted * q + 0.5))] end
"""

LUA = {
    "spawn": """
local n = a
local parked = 0
local function waiter() parked = parked + 1; actor.receive() end
collectgarbage("collect"); collectgarbage("collect")
local m0 = collectgarbage("count")
local t0 = clock()
for _ = 1, n do actor.spawn(waiter) end
while parked < n do actor.sleep(0) end
local dt = clock() - t0
collectgarbage("collect"); collectgarbage("collect")
local m1 = collectgarbage("count")
return { time_ms = dt, bytes_per_proc = (m1 - m0) * 1024 / n }
""",
    "pingpong": """
local n = a
local function pong(pinger)
  while true do
    local m = actor.receive()
    if m == false then return end
    actor.send(pinger, m)
  end
end
actor.spawn(function()
  local pg = actor.spawn(pong, actor.self())
  local t0 = clock()
  for i = 1, n // 2 do actor.send(pg, i); actor.receive() end
  local dt = clock() - t0
  actor.send(pg, false)
  actor.send(me, dt)
end)
local dt = actor.receive()
return { time_ms = dt, msg_per_s = n / (dt / 1000) }
""",
    "ring": """
local n, laps = a, b
local function node()
  local nxt = actor.receive()
  while true do
    local t = actor.receive()
    if t == false then return end
    if t == 0 then actor.send(me, "ring_done") else actor.send(nxt, t - 1) end
  end
end
local procs = {}
for i = 1, n do procs[i] = actor.spawn(node) end
for i = 1, n do actor.send(procs[i], procs[i % n + 1]) end
local t0 = clock()
actor.send(procs[1], n * laps)
actor.receive()
local dt = clock() - t0
for i = 1, n do actor.send(procs[i], false) end
return { time_ms = dt, hops_per_s = n * laps / (dt / 1000) }
""",
    "latency": """
if not preempt then return "n/a (no preemption)" end
local k = a
local busy = actor.spawn(function() while true do end end)
local echo = actor.spawn(function()
  while true do
    local m = actor.receive()
    if m == false then return end
    actor.send(m, "pong")
  end
end)
local samples = {}
for i = 1, k do
  local t0 = clock()
  actor.send(echo, me)
  actor.receive()
  samples[i] = (clock() - t0) * 1000
end
actor.exit(busy, "kill")
actor.send(echo, false)
table.sort(samples)
return { p50_us = pct(samples, 0.50), p99_us = pct(samples, 0.99) }
""",
    "timer": """
if not preempt then return "n/a (no preemption)" end
local k = a
local busy = actor.spawn(function() while true do end end)
local samples = {}
for i = 1, k do
  local t0 = clock()
  actor.sleep(1)
  samples[i] = clock() - t0 - 1
end
actor.exit(busy, "kill")
table.sort(samples)
return { p50_ms = pct(samples, 0.50), p99_ms = pct(samples, 0.99) }
""",
    "preempt": """
if not preempt then return "n/a (no preemption)" end
local n = a
local function work() local s = 0 for i = 1, n do s = s + i end return s end
actor.spawn(function()
  local t0 = clock()
  work()
  actor.send(me, clock() - t0)
end)
return { time_ms = actor.receive() }
""",
}

# The baseline of case 6: the same loop in a plain coroutine, in a Runtime with no actors.
LUA_WORK_BASELINE = """
local clock, n = ...
local function work() local s = 0 for i = 1, n do s = s + i end return s end
local co = coroutine.wrap(work)
local t0 = clock()
co()
return { time_ms = clock() - t0 }
"""


def clock_ms() -> float:
    return time.perf_counter() * 1000.0


def best(runs: list[dict[str, float]]) -> dict[str, float]:
    """Best of each figure over the repeats: max for rates, min for everything else."""
    out: dict[str, float] = {}
    for key in runs[0]:
        vals = [r[key] for r in runs]
        out[key] = max(vals) if key.endswith("_per_s") else min(vals)
    return out


# ------------------------------------------------------------------------------ Erlang


def erlang_case(ebin: str, case: str, repeat: int, args: tuple[int, ...]) -> dict[str, float]:
    cmd = ["erl", "+S", "1", "-noshell", "-pa", ebin, "-run", "actors_bench", "main", case,
           str(repeat), *map(str, args)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
    runs = []
    for line in res.stdout.splitlines():
        head, *kvs = line.split()
        if head != case:
            continue
        runs.append({k: float(v) for k, v in (kv.split("=", 1) for kv in kvs)})
    if len(runs) != repeat:
        raise RuntimeError(f"erl {case}: expected {repeat} result lines, got:\n{res.stdout}{res.stderr}")
    return best(runs)


# ------------------------------------------------------------------------------ Lua


def lua_run(backend: str, source: str, *args: Any) -> Any:
    with Runtime(":memory:", backend=backend, stdout=lambda s: None) as rt:
        (value,) = asyncio.run(rt.execute_async(source, clock_ms, *args, idle=False))
    return dict(value) if not isinstance(value, str) else value


def lua_case(backend: str, case: str, repeat: int, args: tuple[int, ...]) -> dict[str, float] | str:
    runs = []
    for _ in range(repeat):
        value = lua_run(backend, PRELUDE + LUA[case], *args)
        if isinstance(value, str):
            return value
        runs.append({k: float(v) for k, v in value.items()})
    fig = best(runs)
    if case == "preempt":
        base = best([{k: float(v) for k, v in lua_run(backend, LUA_WORK_BASELINE, *args).items()}
                     for _ in range(repeat)])
        fig["coroutine_ms"] = base["time_ms"]
        fig["ratio"] = fig["time_ms"] / base["time_ms"]
    return fig


# ------------------------------------------------------------------------------ report


def fmt(v: float) -> str:
    if v >= 1e4:
        return f"{v / 1e6:.2f}M" if v >= 1e6 else f"{v / 1e3:.1f}K"
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def describe(case: str, fig: dict[str, float] | str | None) -> str:
    if fig is None:
        return "skipped"
    if isinstance(fig, str):
        return fig
    if case == "spawn":
        return f"{fig['time_ms']:.0f} ms, {fig['bytes_per_proc']:.0f} B/proc"
    if case == "pingpong":
        return f"{fmt(fig['msg_per_s'])} msg/s"
    if case == "ring":
        return f"{fmt(fig['hops_per_s'])} hops/s"
    if case == "latency":
        return f"p50 {fig['p50_us']:.1f} us, p99 {fig['p99_us']:.1f} us"
    if case == "timer":
        return f"p50 {fig['p50_ms']:.3f} ms, p99 {fig['p99_ms']:.3f} ms late"
    if case == "preempt":
        if "ratio" in fig:
            return f"{fig['time_ms']:.0f} ms vs coroutine {fig['coroutine_ms']:.0f} ms = {fig['ratio']:.2f}x"
        return f"{fig['time_ms']:.0f} ms"
    return str(fig)


def ratio(case: str, lua: dict[str, float] | str | None, erl: dict[str, float] | str | None) -> str:
    """Lua relative to Erlang: 'rate 0.05x' (higher is better), 'time 10x' (lower is better)."""
    if not isinstance(lua, dict) or not isinstance(erl, dict):
        return ""
    keys = {"spawn": [("time", "time_ms"), ("memory", "bytes_per_proc")], "pingpong": [("rate", "msg_per_s")],
            "ring": [("rate", "hops_per_s")], "latency": [("p99", "p99_us")], "timer": [("p99", "p99_ms")],
            "preempt": [("time", "time_ms")]}[case]
    return ", ".join(f"{label} {lua[key] / erl[key]:.2f}x" for label, key in keys if erl.get(key))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    ap.add_argument("--case", action="append", choices=CASES, help="run only this case (repeatable)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--backend", action="append", choices=("lupa", "ctypes"),
                    help="Lua back-end (repeatable; default both)")
    ap.add_argument("--lua-library", help="libhypelua_lua54.so for the ctypes back-end "
                    "(default: $HYPE_LUA_LIBRARY, else build/native/ of this checkout)")
    a = ap.parse_args()
    cases = a.case or list(CASES)
    backends = a.backend or ["lupa", "ctypes"]
    if a.lua_library:
        os.environ["HYPE_LUA_LIBRARY"] = a.lua_library
    elif not os.environ.get("HYPE_LUA_LIBRARY") and (REPO / "build" / "native" / "libhypelua_lua54.so").exists():
        os.environ["HYPE_LUA_LIBRARY"] = str(REPO / "build" / "native" / "libhypelua_lua54.so")
    unavailable = {}
    for backend in backends:
        try:
            Runtime(":memory:", backend=backend).close()
        except Exception as exc:  # e.g. no libhypelua_lua54.so: that column says so
            unavailable[backend] = f"skipped ({type(exc).__name__}; see --lua-library)"

    erl_ok = shutil.which("erl") and shutil.which("erlc")
    tmp = tempfile.mkdtemp(prefix="bench_actors_")
    try:
        if erl_ok:
            subprocess.run(["erlc", "-o", tmp, str(ERL_SRC)], check=True)
            otp = subprocess.run(["erl", "-noshell", "-eval",
                                  'io:format("~s", [erlang:system_info(otp_release)]), halt().'],
                                 capture_output=True, text=True).stdout.strip()
        else:
            print("erl/erlc not found: Erlang column skipped", file=sys.stderr)
            otp = "-"
        print(f"bench_actors: {'quick' if a.quick else 'full'} sizes, best of {a.repeat}, "
              f"Erlang/OTP {otp} (erl +S 1), Lua back-ends {', '.join(backends)}")
        rows: list[tuple[str, str, str, str]] = []
        for case in cases:
            args = SIZES[case][1 if a.quick else 0]
            erl = erlang_case(tmp, case, a.repeat, args) if erl_ok else None
            size = " x ".join(f"{n:,}" for n in args)
            rows.append((f"{case} ({size})", "Erlang", describe(case, erl), ""))
            print(f"  {case:9} Erlang  {describe(case, erl)}", flush=True)
            for backend in backends:
                try:
                    lua: dict[str, float] | str | None = unavailable.get(backend) or lua_case(
                        backend, case, a.repeat, args)
                except Exception as exc:  # a back-end missing, or the case failing: report it
                    lua = f"error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                rows.append(("", f"Lua {backend}", describe(case, lua), ratio(case, lua, erl)))
                print(f"  {case:9} {backend:7} {describe(case, lua)}  {ratio(case, lua, erl)}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print("| case (size) | side | figure | Lua / Erlang |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print("Targets: " + "; ".join(f"{c}: {TARGETS[c]}" for c in cases))



if __name__ == "__main__":
    main()
