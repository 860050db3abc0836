"""Promise chain of 100K ``then``s in Lua vs an asyncio Future chain (SPEC 4).

Both chains are built first, then resolved; the time from resolving the head
to the tail's value is measured (min of ``--repeat`` runs, same process).

    .venv/bin/python bench/bench_promise.py [--n 100000] [--repeat 5] [--backend lupa|ctypes]

Target: Lua's rate >= 2x asyncio's.  The whole Lua chain resolves inside one
host tick (one bridge crossing): microtasks never leave Lua.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from hypelua import Runtime

LUA_CHAIN = """
local n = ...
local p, resolve = Promise.withResolvers()
local tail = p
for _ = 1, n do tail = tail:next(function(v) return v + 1 end) end
local result
tail:next(function(v) result = v end)
return function()
  resolve(0)
  require("hype.loop").drain()
  return result
end
"""


LUA_E2E = """
local n = ...
local p = Promise.resolve(0)
for _ = 1, n do p = p:next(function(v) return v + 1 end) end
return p
"""


def bench_lua_e2e(n: int, backend: str | None) -> float:
    """Seconds for build + resolve through ``Runtime.execute_async`` (host loop, ticks, result to Python)."""
    with Runtime(backend=backend) as rt:
        t0 = time.perf_counter()
        (value,) = asyncio.run(rt.execute_async(LUA_E2E, n))
        dt = time.perf_counter() - t0
        assert value == n, value
    return dt


async def _asyncio_e2e(n: int) -> float:
    loop = asyncio.get_running_loop()
    t0 = time.perf_counter()
    futs = [loop.create_future() for _ in range(n + 1)]
    for i in range(n):
        nxt = futs[i + 1]
        futs[i].add_done_callback(lambda f, nxt=nxt: nxt.set_result(f.result() + 1))
    futs[0].set_result(0)
    value = await futs[n]
    assert value == n, value
    return time.perf_counter() - t0


def bench_lua(n: int, backend: str | None) -> float:
    """Seconds to resolve an n-long chain of Lua promises (build excluded)."""
    with Runtime(backend=backend) as rt:
        (run,) = rt.execute(LUA_CHAIN, n)
        t0 = time.perf_counter()
        (value,) = run()
        dt = time.perf_counter() - t0
        assert value == n, value
    return dt


async def _asyncio_chain(n: int) -> float:
    loop = asyncio.get_running_loop()
    futs = [loop.create_future() for _ in range(n + 1)]
    for i in range(n):
        nxt = futs[i + 1]
        futs[i].add_done_callback(lambda f, nxt=nxt: nxt.set_result(f.result() + 1))
    t0 = time.perf_counter()
    futs[0].set_result(0)
    value = await futs[n]
    dt = time.perf_counter() - t0
    assert value == n, value
    return dt


def bench_asyncio(n: int) -> float:
    """Seconds to resolve an n-long chain of asyncio Futures (done callbacks)."""
    return asyncio.run(_asyncio_chain(n))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--backend", default=None)
    a = ap.parse_args()
    lua = min(bench_lua(a.n, a.backend) for _ in range(a.repeat))
    aio = min(bench_asyncio(a.n) for _ in range(a.repeat))
    lua_e2e = min(bench_lua_e2e(a.n, a.backend) for _ in range(a.repeat))
    aio_e2e = min(asyncio.run(_asyncio_e2e(a.n)) for _ in range(a.repeat))
    lua_rate, aio_rate = a.n / lua, a.n / aio
    print(f"n={a.n} backend={a.backend or 'default'}")
    print(f"Lua promise chain : {lua * 1000:8.2f} ms  {lua_rate / 1e6:6.2f} M then/s")
    print(f"asyncio Future    : {aio * 1000:8.2f} ms  {aio_rate / 1e6:6.2f} M callbacks/s")
    print(f"ratio Lua/asyncio : {lua_rate / aio_rate:6.2f}x  (target >= 2x)")
    print(f"end to end (build + resolve; Lua via rt.execute_async): Lua {lua_e2e * 1000:.2f} ms, "
          f"asyncio {aio_e2e * 1000:.2f} ms, ratio {aio_e2e / lua_e2e:.2f}x")


if __name__ == "__main__":
    main()
