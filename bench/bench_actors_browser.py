"""Lua actors in headless Chromium (issue 11): the browser figures of ``bench_actors.py``.

In one page (Debian chromium, served from ``dist/web``): in the page's worker, spawn 10K
waiting processes (time, bytes each), ping-pong, a ring, a busy ``while true do end`` process
beside a ping round trip and 1 ms timers (preemption in the browser is ``hype.preempt``'s
permanent count hook), the cost of that hook on a compute loop; then across two workers
(``spawn{ worker = "new" }``: frames relayed by the page), ping-pong round trips.  Each figure
is the best of ``--repeat`` runs; for context the native figures come from ``bench_actors.py``
(same machine, Erlang/OTP in the same run).

    ./build.sh dist && .venv/bin/python bench/bench_actors_browser.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from hypelua._devserver import start_in_thread  # noqa: E402

CHROMIUM = "/usr/bin/chromium"

LUA = r"""
local actor = require("hype.actor")
local function now() return os.clock() * 1000 end   -- ms; hype.loop.now() is cached per tick
local clock = os.clock
local out = {}
-- spawn 10K waiting processes
collectgarbage(); collectgarbage()
local m0 = collectgarbage("count")
local parked, N = 0, 10000
local function waiter() parked = parked + 1; actor.receive() end
local t0 = clock()
for _ = 1, N do actor.spawn(waiter) end
while parked < N do actor.sleep(0) end
out.spawn_ms = (clock() - t0) * 1000
collectgarbage(); collectgarbage()
out.bytes_per_proc = (collectgarbage("count") - m0) * 1024 / N
for _, p in ipairs(actor.processes()) do if p.pid ~= actor.self() then actor.exit(p.pid, "kill") end end
-- ping-pong
local M = 100000
local me = actor.self()
actor.spawn(function()
  local pg = actor.spawn(function(pinger)
    while true do local m = actor.receive(); if m == false then return end; actor.send(pinger, m) end
  end, actor.self())
  local t = clock()
  for i = 1, M // 2 do actor.send(pg, i); actor.receive() end
  local dt = clock() - t
  actor.send(pg, false)
  actor.send(me, dt)
end)
out.pingpong_msg_s = M / actor.receive()
-- ring 1000 x 20
local R, L = 1000, 20
local procs = {}
for i = 1, R do
  procs[i] = actor.spawn(function()
    local nxt = actor.receive()
    while true do
      local t = actor.receive()
      if t == false then return end
      if t == 0 then actor.send(me, "ring_done") else actor.send(nxt, t - 1) end
    end
  end)
end
for i = 1, R do actor.send(procs[i], procs[i % R + 1]) end
local t1 = clock()
actor.send(procs[1], R * L)
actor.receive()
out.ring_hops_s = R * L / (clock() - t1)
for i = 1, R do actor.send(procs[i], false) end
-- a busy process beside a ping round trip and 1 ms timers
local busy = actor.spawn(function() while true do end end)
local echo = actor.spawn(function() while true do local m = actor.receive(); actor.send(m, "pong") end end)
local pinger_done = {}
actor.spawn(function()
  local rtts, lates = {}, {}
  for i = 1, 200 do
    local a = now(); actor.send(echo, actor.self()); actor.receive(); rtts[i] = now() - a
    local b = now(); actor.sleep(1); lates[i] = now() - b - 1
  end
  table.sort(rtts); table.sort(lates)
  actor.send(me, { rtts[100], rtts[198], lates[100], lates[198] })
end)
local r = actor.receive()
out.rtt_p50_ms, out.rtt_p99_ms, out.late_p50_ms, out.late_p99_ms = r[1], r[2], r[3], r[4]
actor.exit(busy, "kill"); actor.exit(echo, "kill")
-- the count hook's cost on a compute loop: in a process vs a plain coroutine
local function loop() local x = 0; for i = 1, 5000000 do x = x + i % 7 end; return x end
local c0 = clock(); coroutine.wrap(loop)(); local plain = clock() - c0
actor.spawn(function() local c = clock(); loop(); actor.send(me, clock() - c) end)
out.preempt_ratio = actor.receive() / plain
out.mode = package.loaded["hype.preempt"] and package.loaded["hype.preempt"].mode or "none"
return out
"""

LUA_TWO_WORKERS = r"""
local actor = require("hype.actor")
local clock = os.clock
local K = 2000
local echo = actor.spawn{ worker = "new", fn = function()
  local actor = require("hype.actor")
  while true do local m = actor.receive(); if m == false then return end; actor.send(m, "pong") end
end }
actor.send(echo, actor.self()); actor.receive(nil, 60000)      -- the worker is up
local t = clock()
for i = 1, K do actor.send(echo, actor.self()); actor.receive(nil, 10000) end
local dt = clock() - t
actor.send(echo, false)
return { rtt_ms = dt * 1000 / K, msg_s = 2 * K / dt }
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dist", default=str(ROOT / "dist" / "web"))
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    server, url = start_in_thread(Path(args.dist), "127.0.0.1", 0)
    best: dict[str, float] = {}
    two: dict[str, float] = {}
    mode = "?"
    lower_better = {"spawn_ms", "bytes_per_proc", "rtt_p50_ms", "rtt_p99_ms", "late_p50_ms", "late_p99_ms",
                    "preempt_ratio", "rtt_ms"}

    def keep(into: dict[str, float], got: dict) -> None:
        for k, v in got.items():
            if not isinstance(v, (int, float)):
                continue
            if k not in into or (v < into[k] if k in lower_better else v > into[k]):
                into[k] = v

    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM,
                                        args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
            for rep in range(args.repeat):
                page = browser.new_page()
                page.goto(f"{url}playground/?db=bench-actors-{int(time.time())}-{rep}")
                page.wait_for_function("() => window.hype !== undefined", timeout=180_000)
                (got,) = page.evaluate("(src) => hype.run(src, { timeout: 300000 })", LUA)
                mode = got.get("mode", mode)
                keep(best, got)
                (got2,) = page.evaluate("(src) => hype.run(src, { timeout: 300000 })", LUA_TWO_WORKERS)
                keep(two, got2)
                page.close()
            version = browser.version
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    print(f"Chromium {version}, best of {args.repeat}, preemption mode: {mode}")
    print(f"one worker:  spawn 10K {best['spawn_ms']:.0f} ms, {best['bytes_per_proc']:.0f} B/proc; "
          f"ping-pong {best['pingpong_msg_s'] / 1e6:.2f}M msg/s; ring 1000x20 {best['ring_hops_s'] / 1e6:.2f}M hops/s")
    print(f"  beside a busy process: ping round trip p50 {best['rtt_p50_ms'] * 1000:.0f} us, "
          f"p99 {best['rtt_p99_ms'] * 1000:.0f} us; 1 ms timer late p50 {best['late_p50_ms']:.2f} ms, "
          f"p99 {best['late_p99_ms']:.2f} ms")
    print(f"  compute loop in a process / plain coroutine: {best['preempt_ratio']:.2f}x")
    print(f"two workers: ping-pong round trip {two['rtt_ms'] * 1000:.0f} us ({two['msg_s'] / 1e3:.1f}K msg/s)")


if __name__ == "__main__":
    sys.exit(main())
