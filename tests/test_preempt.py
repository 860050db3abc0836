"""hype.preempt (wasm/hype_preempt.c): a Lua scheduler preempts a coroutine that never
yields; both native back-ends, "thread" mode, and "count" mode (the browser's) in a
subprocess.  No assertion on absolute times."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hypelua import HypeError, Runtime

REPO = Path(__file__).resolve().parents[1]
MODE = os.environ.get("HYPE_PREEMPT_MODE", "thread")
P = 'local P = assert(package.loaded["hype.preempt"], "hype.preempt missing")\n'


@pytest.fixture
def rt(lua_backend: str) -> Any:
    if lua_backend == "lupa" and not (os.environ.get("HYPE_PREEMPT_LIBRARY")
                                      or (REPO / "build" / "native" / "hype_preempt_lupa.so").is_file()):
        pytest.skip("hype_preempt_lupa.so not built: run wasm/build.sh native")
    r = Runtime(":memory:", backend=lua_backend, stdout=lambda s: None)
    yield r
    r.close()


def test_module_shape(rt: Runtime) -> None:
    assert rt.execute(P + """
        return P.mode, type(P.PREEMPTED), type(P.resume), type(P.set_slice)
    """) == (MODE, "userdata", "function", "function")


def test_a_busy_coroutine_is_preempted_and_resumed_where_it_stopped(rt: Runtime) -> None:
    ok, preempted, progress, status = rt.execute(P + """
        local n = 0
        local co = coroutine.create(function() while true do n = n + 1 end end)
        local seen, all_preempted, last = {}, true, 0
        for i = 1, 5 do
          local ok, v = P.resume(co)
          all_preempted = all_preempted and ok and v == P.PREEMPTED
          seen[i] = n > last; last = n
        end
        return all_preempted, seen[1] and seen[2] and seen[3] and seen[4] and seen[5], n > 0, coroutine.status(co)
    """)
    assert (ok, preempted, progress, status) == (True, True, True, "suspended")


def test_a_preempted_coroutine_finishes_with_its_result(rt: Runtime) -> None:
    slices, result = rt.execute(P + """
        P.set_slice(200)
        local co = coroutine.create(function(a) local s = 0 for i = 1, 3e6 do s = s + i end return s + a end)
        local n, ok, v = 0, P.resume(co, 1)
        while v == P.PREEMPTED do n = n + 1; ok, v = P.resume(co) end
        return n, v
    """)
    assert slices >= 1 and result == 3_000_000 * 3_000_001 // 2 + 1


def test_two_busy_coroutines_share_about_equally(rt: Runtime) -> None:
    a, b = rt.execute(P + """
        local c = { 0, 0 }
        local cos = {}
        for k = 1, 2 do cos[k] = coroutine.create(function() while true do c[k] = c[k] + 1 end end) end
        for round = 1, 100 do
          for k = 1, 2 do assert(select(2, P.resume(cos[k])) == P.PREEMPTED) end
        end
        return c[1], c[2]
    """)
    assert a / (a + b) > 0.3 and b / (a + b) > 0.3, (a, b)


def test_values_errors_and_dead_coroutines_pass_through(rt: Runtime) -> None:
    assert rt.execute(P + """
        local co = coroutine.create(function(x) local y = coroutine.yield(1, 2, x) return y * 2 end)
        local a = { P.resume(co, "x") }
        local b = { P.resume(co, 21) }
        local c = { P.resume(co) }
        local e = { P.resume(coroutine.create(function() error({ code = 7 }) end)) }
        local m = { P.resume(coroutine.create(function() error("boom", 0) end)) }
        return a[1], a[2], a[3], a[4], b[1], b[2], c[1], c[2], e[1], e[2].code, m[1], m[2], #a, #b
    """) == (True, 1, 2, "x", True, 42, False, "cannot resume dead coroutine", False, 7, False, "boom", 4, 2)


def test_preempted_inside_pcall(rt: Runtime) -> None:
    assert rt.execute(P + """
        local n, done = 0, false
        local co = coroutine.create(function()
          local ok, e = pcall(function() while n < 3e6 do n = n + 1 end error("stop", 0) end)
          done = true
          return ok, e
        end)
        local slices, ok, a, b = 0, P.resume(co)
        while a == P.PREEMPTED do slices = slices + 1; ok, a, b = P.resume(co) end
        return slices > 0, done, ok, a, b
    """) == (True, True, True, False, "stop")


def test_nested_coroutines_inside_a_preempted_one(rt: Runtime) -> None:
    assert rt.execute(P + """
        local co = coroutine.create(function()
          local gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)
          local inner = coroutine.create(function(a) local b = coroutine.yield(a + 1) return b + 1 end)
          local s = gen() + gen() + gen()
          local _, x = coroutine.resume(inner, 1)
          local _, y = coroutine.resume(inner, 10)
          local n = 0
          for i = 1, 3e6 do n = n + 1 end   -- long enough to be preempted
          local deep = coroutine.create(function() local k = 0 for _ = 1, 3e5 do k = k + 1 end return "deep" end)
          local _, z = P.resume(deep)
          while z == P.PREEMPTED do _, z = P.resume(deep) end
          return s, x, y, n, z
        end)
        local ok, a, b, c, d, e = P.resume(co)
        while a == P.PREEMPTED do ok, a, b, c, d, e = P.resume(co) end
        return ok, a, b, c, d, e
    """) == (True, 6, 2, 11, 3_000_000, "deep")


def test_not_yieldable_is_preempted_after_the_c_call(rt: Runtime) -> None:
    assert rt.execute(P + """
        P.set_slice(100)
        local t = {}
        for i = 1, 200 do t[i] = (i * 7919) % 200 end
        local co = coroutine.create(function()
          table.sort(t, function(a, b) for _ = 1, 200 do end return a < b end)
          local n = 0
          while true do n = n + 1 end
        end)
        local ok, v = P.resume(co)
        local sorted = true
        for i = 2, #t do sorted = sorted and t[i - 1] <= t[i] end
        return ok, v == P.PREEMPTED, sorted, coroutine.status(co)
    """) == (True, True, True, "suspended")


def test_the_coroutines_own_hook_is_kept(rt: Runtime) -> None:
    assert rt.execute(P + """
        local events = 0
        local function h() events = events + 1 end
        local co = coroutine.create(function() while true do end end)
        debug.sethook(co, h, "", 1000)
        for _ = 1, 3 do P.resume(co) end
        local f, mask, count = debug.gethook(co)
        return f == h, mask, count, events > 0
    """) == (True, "", 1000, True)


@pytest.mark.parametrize("every", [100_000, 1_000_000])
def test_the_deadline_watch_stops_a_preempted_busy_loop(rt: Runtime, every: int) -> None:
    rt.watch(deadline_s=0.3, every=every)
    with pytest.raises(HypeError) as info:
        rt.execute(P + """
            local co = coroutine.create(function() while true do end end)
            while true do P.resume(co) end
        """, chunkname="=(user chunk)")
    assert info.value.code == "TIMEOUT"
    rt.set_deadline(0.3)
    with pytest.raises(HypeError) as info:  # busy inside a non-yieldable C call: the watch still fires
        rt.execute(P + """
            local co = coroutine.create(function() table.sort({ 3, 2, 1 }, function() while true do end end) end)
            while true do P.resume(co) end
        """, chunkname="=(user chunk)")
    assert info.value.code == "TIMEOUT"
    rt.set_deadline(None)
    assert rt.execute(P + "return P.resume(coroutine.create(function() return 1 end))") == (True, 1)


def test_many_short_coroutines_then_gc(rt: Runtime) -> None:
    assert rt.execute(P + """
        local sum = 0
        for i = 1, 10000 do
          local ok, v = P.resume(coroutine.create(function(x) return x end), i)
          sum = sum + v
        end
        collectgarbage() collectgarbage()
        local n = 0
        local co = coroutine.create(function() while true do n = n + 1 end end)
        local _, v = P.resume(co)
        return sum, v == P.PREEMPTED
    """) == (50005000, True)


def test_the_runtime_survives_many_restarts(lua_backend: str) -> None:
    for _ in range(20):
        with Runtime(":memory:", backend=lua_backend) as r:
            r.execute(P + "P.resume(coroutine.create(function() for i = 1, 1e5 do end end))")


def test_not_in_the_sandbox(lua_backend: str) -> None:
    with Runtime(":memory:", backend=lua_backend, sandbox=True) as r:
        assert r.execute('return package.loaded["hype.preempt"] == nil') == (True,)


def test_lupa_without_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPE_PREEMPT_LIBRARY", "/nonexistent/hype_preempt_lupa.so")
    with Runtime(":memory:", backend="lupa") as r:
        assert r.execute('return package.loaded["hype.preempt"], package.preload["hype.preempt"]') == (None, None)


@pytest.mark.skipif(MODE == "count", reason="already the count-mode run")
def test_count_mode(lua_backend: str) -> None:
    """The browser's mode (no threads: a count hook reading a clock), natively."""
    env = dict(os.environ, HYPE_PREEMPT_MODE="count")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", __file__,
                           "-k", f"{lua_backend} and not count_mode and not restarts"],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
