"""Event loop, promises (Promises/A+ rules), timers, async/await, EventEmitter."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hypelua import LuaError, Runtime
from hypelua._errors import UncaughtLuaError, UnhandledRejectionError, UnsettledAwaitError


@pytest.fixture
def rt(lua_backend: str) -> Any:
    r = Runtime(":memory:", backend=lua_backend, stdout=lambda s: None)
    yield r
    r.close()


def run(rt: Runtime, src: str, *args: Any, **kw: Any) -> tuple[Any, ...]:
    return asyncio.run(rt.execute_async(src, *args, **kw))


# ------------------------------------------------------------ Promises/A+
def test_then_callbacks_are_async_and_ordered(rt: Runtime) -> None:
    (log,) = run(rt, """
        local L = {}
        local p = Promise.resolve(1)
        p:next(function(v) L[#L+1] = "a" .. v end)
        p:next(function(v) L[#L+1] = "b" .. v end)          -- 2.2.6.1 registration order
        queueMicrotask(function() L[#L+1] = "micro" end)
        Promise.resolve(2):next(function(v) L[#L+1] = "c" .. v end)
        L[#L+1] = "sync"                                      -- 2.2.4 never synchronous
        return L
    """)
    assert log == ["sync", "a1", "b1", "micro", "c2"]


def test_reactions_without_a_handler_on_a_pending_promise(rt: Runtime) -> None:
    """p:catch(f) then p:next(g) on a pending promise: both reactions run, in order (the
    reaction list has holes where a handler is missing)."""
    (log,) = run(rt, """
        local L = {}
        local p = Promise.new(function(res) setTimeout(function() res(5) end, 1) end)
        p:catch(function(e) L[#L+1] = "wrong " .. tostring(e) end)
        p:next(function(v) L[#L+1] = "a" .. v end)
        p:next(nil, function() L[#L+1] = "wrong" end)
        p:next(function(v) L[#L+1] = "b" .. v end)
        local q = Promise.new(function(_, rej) setTimeout(function() rej("x") end, 1) end)
        q:next(function() L[#L+1] = "wrong" end):catch(function() end)
        q:catch(function(e) L[#L+1] = "c" .. e end)
        await(p); await(q:catch(function() end))
        L[#L+1] = "d" .. await(p)
        return L
    """)
    assert log == ["a5", "b5", "cx", "d5"]


def test_chain_interleaving_matches_javascript(rt: Runtime) -> None:
    (log,) = run(rt, """
        local L = {}
        Promise.resolve():next(function() L[#L+1] = 1 end):next(function() L[#L+1] = 3 end)
        Promise.resolve():next(function() L[#L+1] = 2 end):next(function() L[#L+1] = 4 end)
        return L
    """)
    assert log == [1, 2, 3, 4]


def test_values_and_rejections_propagate(rt: Runtime) -> None:
    (out,) = run(rt, """
        local out = {}
        Promise.resolve(5):next(nil, 7):next(function(v) out.passthrough = v end)        -- 2.2.1, 2.2.7.3
        Promise.reject("r"):next(function() out.wrong = true end)
          :next(function() out.wrong = true end)
          :catch(function(e) out.caught = e; return "recovered" end)                    -- 2.2.7.4
          :next(function(v) out.after = v end)
        Promise.resolve(1):next(function() error({code = 42}) end)
          :catch(function(e) out.table_reason = e.code end)                             -- 2.2.7.2
        Promise.resolve(1):next(function() return Promise.resolve("adopted") end)
          :next(function(v) out.adopted = v end)
        return out
    """)
    assert out == {"passthrough": 5, "caught": "r", "after": "recovered", "table_reason": 42, "adopted": "adopted"}


def test_resolve_and_reject_only_once(rt: Runtime) -> None:
    (out,) = run(rt, """
        local out = {calls = 0}
        local p = Promise.new(function(resolve, reject)
          resolve("first"); resolve("second"); reject("nope")
        end)
        p:next(function(v) out.calls = out.calls + 1; out.v = v end)
        local q = Promise.new(function(resolve) resolve(1); error("ignored after resolve") end)
        q:next(function(v) out.q = v end)
        local e = Promise.new(function() error("executor failed", 0) end)
        e:catch(function(r) out.e = r end)
        return out
    """)
    assert out == {"calls": 1, "v": "first", "q": 1, "e": "executor failed"}


def test_thenable_assimilation(rt: Runtime) -> None:
    (out,) = run(rt, """
        local out = {}
        local thenable = { ["then"] = function(self, res, rej) res("from thenable"); res("twice"); rej("x") end }
        Promise.resolve(thenable):next(function(v) out.a = v end)                       -- 2.3.3.3
        local throws = { ["then"] = function(self, res) res("ok"); error("late") end }
        Promise.resolve(throws):next(function(v) out.b = v end)                         -- 2.3.3.3.4.1
        local bad = { ["then"] = function() error("boom", 0) end }
        Promise.resolve(bad):catch(function(e) out.c = e end)                           -- 2.3.3.3.4.2
        local getter = setmetatable({}, { __index = function() error("getter", 0) end })
        Promise.resolve(1):next(function() return getter end):catch(function(e) out.d = e end)  -- 2.3.3.2
        Promise.resolve({ ["then"] = 5 }):next(function(v) out.e = v["then"] end)       -- 2.3.3.4
        local nested = { ["then"] = function(self, res) res({ ["then"] = function(s, r2) r2("deep") end }) end }
        Promise.resolve(nested):next(function(v) out.f = v end)
        return out
    """)
    assert out == {"a": "from thenable", "b": "ok", "c": "boom", "d": "getter", "e": 5, "f": "deep"}


def test_self_resolution_is_a_type_error(rt: Runtime) -> None:
    (msg,) = run(rt, """
        local p
        p = Promise.resolve(1):next(function() return p end)
        local ok, e = pcall(await, p)
        return tostring(e)
    """)
    assert msg.startswith("TypeError:")


def test_combinators(rt: Runtime) -> None:
    (out,) = run(rt, """
        local out = {}
        local function later(v, ms, fail)
          return Promise.new(function(res, rej) setTimeout(function() if fail then rej(v) else res(v) end end, ms) end)
        end
        out.all = await(Promise.all({ later("a", 10), "b", Promise.resolve("c") }))
        out.all_empty = await(Promise.all({}))
        out.all_fail = select(2, pcall(await, Promise.all({ later("x", 5), later("bad", 1, true) })))
        local settled = await(Promise.allSettled({ Promise.resolve(1), Promise.reject("no") }))
        out.settled = settled
        out.race = await(Promise.race({ later("slow", 20), later("fast", 2) }))
        out.any = await(Promise.any({ later("e1", 1, true), later("win", 5) }))
        local ok, agg = pcall(await, Promise.any({ Promise.reject(1), Promise.reject(2) }))
        out.agg = { agg.name, agg.errors }
        return out
    """)
    assert out["all"] == ["a", "b", "c"]
    assert out["all_empty"] == {}
    assert out["all_fail"] == "bad"
    assert out["settled"] == [{"status": "fulfilled", "value": 1}, {"status": "rejected", "reason": "no"}]
    assert out["race"] == "fast"
    assert out["any"] == "win"
    assert out["agg"] == ["AggregateError", [1, 2]]


def test_finally(rt: Runtime) -> None:
    (out,) = run(rt, """
        local out = { n = 0 }
        out.v = await(Promise.resolve("keep"):finally(function() out.n = out.n + 1; return "ignored" end))
        out.r = select(2, pcall(await, Promise.reject("why"):finally(function() out.n = out.n + 1 end)))
        out.o = select(2, pcall(await, Promise.resolve(1):finally(function() error("override", 0) end)))
        return out
    """)
    assert out == {"n": 2, "v": "keep", "r": "why", "o": "override"}


# ------------------------------------------------------------------ timers
def test_timer_order_args_and_clear(rt: Runtime) -> None:
    (log,) = run(rt, """
        local L = {}
        setTimeout(function(x) L[#L+1] = x end, 30, "t30")
        setTimeout(function(a, b) L[#L+1] = a .. b end, 10, "t", "10a")
        setTimeout(function() L[#L+1] = "t10b" end, 10)
        local c = setTimeout(function() L[#L+1] = "cleared" end, 5)
        clearTimeout(c)
        clearTimeout(999)    -- unknown ids are ignored
        setTimeout(function() L[#L+1] = "t0" end, 0)
        Promise.resolve():next(function() L[#L+1] = "micro" end)
        await(Promise.new(function(r) setTimeout(r, 60) end))
        return L
    """)
    assert log == ["micro", "t0", "t10a", "t10b", "t30"]


def test_interval_and_microtasks_between_timers(rt: Runtime) -> None:
    (log,) = run(rt, """
        local L, n = {}, 0
        local iv
        iv = setInterval(function()
          n = n + 1
          L[#L+1] = "iv" .. n
          Promise.resolve():next(function() L[#L+1] = "m" .. n end)
          if n == 3 then clearInterval(iv) end
        end, 2)
        await(Promise.new(function(r) setTimeout(r, 40) end))
        return L
    """)
    assert log == ["iv1", "m1", "iv2", "m2", "iv3", "m3"]


def test_unref_timer_does_not_keep_loop_alive(rt: Runtime) -> None:
    run(rt, """
        L = {}
        setTimeout(function() L[#L+1] = "never" end, 5000):unref()
        setTimeout(function() L[#L+1] = "ran" end, 1)
    """)
    assert rt.vm.get_global("L") == ["ran"]
    assert rt.execute("return require('hype.loop').timer_count()") == (1,)


def test_one_crossing_per_timer_batch(rt: Runtime) -> None:
    ticks = 0
    real = rt.loop._tick

    def counting(*a: Any) -> Any:
        nonlocal ticks
        ticks += 1
        return real(*a)

    rt.loop._tick = counting  # type: ignore[method-assign]
    (count,) = run(rt, """
        local n = 0
        -- created inside a timer callback: one cached host time, so one batch
        setTimeout(function() for i = 1, 500 do setTimeout(function() n = n + 1 end, 5) end end, 1)
        for i = 1, 500 do queueMicrotask(function() n = n + 1 end) end
        local p = Promise.resolve(0)
        for i = 1, 1000 do p = p:next(function(v) return v + 1 end) end
        p:next(function(v) n = n + v end)
        return Promise.new(function(res) setTimeout(function() res(n) end, 20) end)
    """)
    assert count == 2000
    assert ticks <= 8, ticks  # 2000 callbacks, a handful of crossings


# ------------------------------------------------------------- async/await
def test_await_errors(rt: Runtime) -> None:
    with pytest.raises(LuaError, match="outside an async function"):
        rt.execute("return await(Promise.resolve(1))")
    (out,) = run(rt, """
        local f = async(function(x)
          local ok, e = pcall(await, Promise.reject({ code = "E1" }))
          return { ok = ok, code = e.code, x = await(x) }
        end)
        return await(f(7))
    """)
    assert out == {"ok": False, "code": "E1", "x": 7}


def test_top_level_rejection_raises_lua_error(rt: Runtime) -> None:
    with pytest.raises(LuaError, match="top level boom"):
        run(rt, "await(Promise.resolve()); error('top level boom')")
    with pytest.raises(LuaError, match="sync boom"):
        run(rt, "error('sync boom')")


def test_execute_async_returns_values_and_promises(rt: Runtime) -> None:
    assert run(rt, "return 1, nil, 3") == (1, None, 3)
    assert run(rt, "return Promise.new(function(r) setTimeout(r, 2, 'late') end)") == ("late",)
    assert run(rt, "return ...", "arg") == ("arg",)


def test_execute_async_idle_false_returns_before_timers(rt: Runtime) -> None:
    async def main() -> tuple[Any, ...]:
        res = await rt.execute_async("setTimeout(function() DONE = true end, 30); return 'early'", idle=False)
        assert rt.vm.get_global("DONE") is None
        await rt.run_until_idle()
        assert rt.vm.get_global("DONE") is True
        return res

    assert asyncio.run(main()) == ("early",)


def test_python_awaitable_from_lua(rt: Runtime) -> None:
    async def main() -> tuple[Any, ...]:
        async def fetch(x: int) -> dict[str, int]:
            await asyncio.sleep(0.005)
            return {"doubled": x * 2}

        async def broken() -> None:
            raise ValueError("bad input")

        rt.loop.register_async("fetch", fetch)
        rt.loop.register_async("broken", broken)
        rt.loop.register_async("sync_value", lambda: 11)
        return await rt.execute_async("""
            local r = await(fetch(21))
            local ok, e = pcall(await, broken())
            local all = await(Promise.all({ fetch(1), fetch(2) }))
            return r.doubled, e, all[1].doubled + all[2].doubled, await(sync_value())
        """)

    doubled, err, total, sync_value = asyncio.run(main())
    assert (doubled, total, sync_value) == (42, 6, 11)
    assert err == "ValueError: bad input"


def test_python_awaitable_started_before_loop_runs(rt: Runtime) -> None:
    async def later() -> str:
        await asyncio.sleep(0)
        return "later"

    rt.loop.register_async("later", later)
    rt.execute("P = later()")   # no loop running yet: starts when the loop is driven

    async def main() -> Any:
        return await rt.execute_async("return await(P)")

    assert asyncio.run(main()) == ("later",)


def test_python_awaits_lua_promise(rt: Runtime) -> None:
    (fn,) = rt.execute("""
        return function(x)
          return Promise.new(function(res, rej)
            setTimeout(function() if x < 0 then rej("negative") else res(x * 10) end end, 3)
          end)
        end
    """)

    async def main() -> Any:
        a, b = await asyncio.gather(rt.loop.call_async(fn, 1), rt.loop.call_async(fn, 2))
        with pytest.raises(LuaError, match="negative"):
            await rt.loop.call_async(fn, -1)
        plain = await rt.loop.call_async(rt.execute("return function() return 'no promise', 2 end")[0])
        return a, b, plain

    assert asyncio.run(main()) == (10, 20, ("no promise", 2))


def test_lua_timers_under_a_running_python_loop(rt: Runtime) -> None:
    """Code run with plain execute() inside a coroutine is driven by the running loop."""

    async def main() -> Any:
        rt.execute("setTimeout(function() HIT = (HIT or 0) + 1 end, 1)")
        await asyncio.sleep(0.05)
        return rt.vm.get_global("HIT")

    assert asyncio.run(main()) == 1


# --------------------------------------------------- errors leaving the loop
def test_unhandled_rejection_raises(rt: Runtime) -> None:
    with pytest.raises(UnhandledRejectionError) as ei:
        run(rt, "Promise.reject('lost'); setTimeout(function() end, 1)")
    assert ei.value.details["reasons"] == ["lost"]
    # handled before the microtask drain ends: fine
    assert run(rt, "local p = Promise.reject('x'); p:catch(function() end); return 1") == (1,)


def test_unhandled_rejection_lua_handler(rt: Runtime) -> None:
    (seen,) = run(rt, """
        local seen = {}
        require("hype.loop").onUnhandledRejection(function(r) seen[#seen+1] = r end)
        Promise.reject("quiet")
        await(Promise.new(function(res) setTimeout(res, 1) end))
        require("hype.loop").onUnhandledRejection(nil)
        return seen
    """)
    assert seen == ["quiet"]


def test_uncaught_timer_error(rt: Runtime) -> None:
    with pytest.raises(UncaughtLuaError, match="timer boom"):
        run(rt, "setTimeout(function() error('timer boom') end, 1)")


def test_unsettled_top_level_await(rt: Runtime) -> None:
    with pytest.raises(UnsettledAwaitError):
        run(rt, "await(Promise.new(function() end))")


def test_run_until_idle_after_sync_execute(rt: Runtime) -> None:
    rt.execute("X = 0; setTimeout(function() X = 1 end, 1); Promise.resolve():next(function() Y = 2 end)")
    asyncio.run(rt.run_until_idle())
    assert (rt.vm.get_global("X"), rt.vm.get_global("Y")) == (1, 2)


def test_external_table_writes_from_timers_are_committed(tmp_path: Path, lua_backend: str) -> None:
    db = tmp_path / "t.db"
    with Runtime(db, backend=lua_backend) as rt:
        run(rt, "setTimeout(function() Memory.late = 'written' end, 1)")
    with Runtime(db, backend=lua_backend) as rt:
        assert rt.execute("return Memory.late") == ("written",)


# ------------------------------------------------------------ EventEmitter
def test_event_emitter(rt: Runtime) -> None:
    (out,) = rt.execute("""
        local events = require("hype.events")
        local e = events.EventEmitter.new()
        local L = {}
        local function a(x) L[#L+1] = "a" .. x end
        e:on("data", a)
        e:once("data", function(x) L[#L+1] = "once" .. x end)
        e:prependListener("data", function(x) L[#L+1] = "first" .. x end)
        local c1 = e:listenerCount("data")
        local had = e:emit("data", 1)
        e:emit("data", 2)
        e:off("data", a)
        e:emit("data", 3)
        local none = e:emit("nobody")
        -- a listener added during emit is not called by that emit
        e:on("grow", function() e:on("grow", function() L[#L+1] = "added" end) L[#L+1] = "grow" end)
        e:emit("grow")
        local ok, err = pcall(e.emit, e, "error", "kaput")
        local ok2, err2 = pcall(e.emit, e, "error")
        e:on("error", function(x) L[#L+1] = "handled " .. x end)
        e:emit("error", "fine")
        local Sub = events.EventEmitter:extend()
        local s = Sub.new()
        s:on("x", function() L[#L+1] = "sub" end); s:emit("x")
        return { log = L, c1 = c1, had = had, none = none, ok = ok, err = err, ok2 = ok2,
                 err2 = err2, count = e:listenerCount("data"), names = e:eventNames() }
    """)
    assert out["log"] == ["first1", "a1", "once1", "first2", "a2", "first3", "grow", "handled fine", "sub"]
    assert out["c1"] == 3 and out["had"] is True and out["none"] is False
    assert out["ok"] is False and out["err"] == "kaput"
    assert out["ok2"] is False and "Unhandled 'error'" in out["err2"]
    assert out["count"] == 1
    assert out["names"] == ["data", "error", "grow"]


def test_events_once_promise(rt: Runtime) -> None:
    (out,) = run(rt, """
        local events = require("hype.events")
        local e = events.new()
        setTimeout(function() e:emit("ready", 1, 2) end, 2)
        local args = await(events.once(e, "ready"))
        setTimeout(function() e:emit("error", "bad") end, 1)
        local ok, err = pcall(await, events.once(e, "never"))
        return { args[1], args[2], ok, err, e:listenerCount("never") }
    """)
    assert out == [1, 2, False, "bad", 0]


def test_modules_in_package_loaded(rt: Runtime) -> None:
    assert rt.execute("""
        return require("hype.promise") == Promise, require("hype.timers").setTimeout == setTimeout,
               type(require("hype.loop").tick)
    """) == (True, True, "function")


# ------------------------------------------------------------------ hype run
def _hype(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hypelua", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60)


def test_hype_run_drives_loop_until_idle(tmp_path: Path) -> None:
    (tmp_path / "app.lua").write_text("""
        local events = require("hype.events")
        local bus = events.new()
        bus:on("tick", function(n) print("tick", n) end)
        local n = 0
        local iv
        iv = setInterval(function() n = n + 1; bus:emit("tick", n); if n == 2 then clearInterval(iv) end end, 2)
        print("value", await(Promise.new(function(res) setTimeout(res, 1000, "ok") end)))
    """)
    r = _hype("run", "app.lua", "-d", ":memory:", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:3] == ["tick\t1", "tick\t2", "value\tok"]


@pytest.mark.parametrize(("src", "code"), [
    ("Promise.reject('lost')", "UNHANDLED_REJECTION"),
    ("setTimeout(function() error('boom') end, 1)", "UNCAUGHT_ERROR"),
    ("await(Promise.new(function() end))", "UNSETTLED_TOP_LEVEL_AWAIT"),
])
def test_hype_run_failures_exit_1(tmp_path: Path, src: str, code: str) -> None:
    (tmp_path / "bad.lua").write_text(src)
    r = _hype("run", "bad.lua", "-d", ":memory:", cwd=tmp_path)
    assert r.returncode == 1
    assert f"error[{code}]" in r.stderr


def test_hype_run_plain_script_does_not_import_asyncio(tmp_path: Path) -> None:
    (tmp_path / "hello.lua").write_text("print('hi')")
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "hypelua", "run", "hello.lua", "-d", ":memory:"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout == "hi\n"
    assert " asyncio" not in r.stderr
