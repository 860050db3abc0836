"""hype.actor (issue 11, first slice): processes, mailboxes, selective receive, links,
monitors, the registry, message copying, reductions-based fairness; both Lua back-ends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hypelua import Runtime


@pytest.fixture
def rt(lua_backend: str) -> Any:
    r = Runtime(":memory:", backend=lua_backend, stdout=lambda s: None)
    yield r
    r.close()


def run(rt: Runtime, src: str) -> tuple[Any, ...]:
    return asyncio.run(rt.execute_async('local actor = require("hype.actor")\n' + src))


def test_ping_pong_from_the_issue(rt: Runtime) -> None:
    assert run(rt, """
        local pid = actor.spawn(function(parent, n)
          local msg = actor.receive()
          actor.send(parent, { "pong", n, msg })
        end, actor.self(), 1)
        actor.send(pid, "ping")
        local reply = actor.receive(function(m) return type(m) == "table" and m[1] == "pong" end, 1000)
        return reply[1], reply[2], reply[3], actor.is_pid(pid), tostring(pid):match("^<0%.%d+%.0>$") ~= nil
    """) == ("pong", 1, "ping", True, True)


def test_selective_receive_keeps_the_others_in_order_and_times_out(rt: Runtime) -> None:
    assert run(rt, """
        local me = actor.self()
        for _, m in ipairs({ "a", 1, "b", 2, "c" }) do actor.send(me, m) end
        local n = actor.receive(function(m) return type(m) == "number" end)
        local rest = {}
        for i = 1, 4 do rest[i] = actor.receive(nil, 0) end
        local none, why = actor.receive(nil, 0)
        local t0 = os.clock()
        local none2, why2 = actor.receive(function() return false end, 30)
        return n, table.concat(rest, ","), none, why, none2, why2
    """) == (1, "a,b,2,c", None, "timeout", None, "timeout")


def test_a_ring_of_processes(rt: Runtime) -> None:
    (total,) = run(rt, """
        local N, M = 200, 20
        local nextp = actor.self()
        for i = 1, N do
          local to = nextp
          nextp = actor.spawn(function()
            while true do
              local m = actor.receive()
              actor.send(to, m == "stop" and m or m + 1)
              if m == "stop" then return end
            end
          end)
        end
        local v = 0
        for r = 1, M do actor.send(nextp, v); v = actor.receive() end
        actor.send(nextp, "stop")
        actor.receive(function(m) return m == "stop" end, 1000)
        return v
    """)
    assert total == 200 * 20


def test_links_kill_unless_trapped(rt: Runtime) -> None:
    assert run(rt, """
        local log = {}
        -- a linked pair without trapping: the crash takes the partner down
        local watcher = actor.spawn(function()
          local partner = actor.spawn_link(function() actor.sleep(5); error("boom") end)
          actor.receive()              -- never returns: killed by the exit signal
          log[#log + 1] = "not reached"
        end)
        local ref = actor.monitor(watcher)
        local down = actor.receive(function(m) return type(m) == "table" and m[1] == "DOWN" end, 1000)
        -- trapping: the exit becomes a message
        actor.trap_exit(true)
        local child = actor.spawn_link(function() error("kaboom") end)
        local ex = actor.receive(function(m) return type(m) == "table" and m[1] == "EXIT" end, 1000)
        -- a normal exit of a linked process does not kill
        local fine = actor.spawn_link(function() end)
        local ex2 = actor.receive(function(m) return type(m) == "table" and m[1] == "EXIT" end, 1000)
        return down[2] == ref, tostring(down[4]):match("boom") ~= nil, #log, ex[2] == child,
               tostring(ex[3]):match("kaboom") ~= nil, ex2[3]
    """) == (True, True, 0, True, True, "normal")


def test_monitors_exit_kill_and_noproc(rt: Runtime) -> None:
    assert run(rt, """
        local w, ref = actor.spawn_monitor(function() actor.receive() end)
        actor.exit(w, "normal")            -- ignored: not trapping, reason normal
        actor.exit(w, "shutdown")
        local d1 = actor.receive(function(m) return type(m) == "table" and m[1] == "DOWN" end, 1000)
        local k = actor.spawn(function() actor.trap_exit(true); while true do actor.receive() end end)
        local ref2 = actor.monitor(k)
        actor.exit(k, "kill")              -- kill cannot be trapped
        local d2 = actor.receive(function(m) return type(m) == "table" and m[1] == "DOWN" end, 1000)
        local ref3 = actor.monitor(k)      -- already dead
        local d3 = actor.receive(function(m) return type(m) == "table" and m[1] == "DOWN" end, 1000)
        local gone = actor.spawn_monitor(function() end)
        actor.demonitor(ref3)
        return d1[2] == ref, d1[4], d2[2] == ref2, d2[4], d3[2] == ref3, d3[4]
    """) == (True, "shutdown", True, "killed", True, "noproc")


def test_registry_send_after_and_processes(rt: Runtime) -> None:
    assert run(rt, """
        local srv = actor.spawn(function()
          while true do
            local m = actor.receive()
            if m.stop then return end
            actor.send(m.from, m.n * 2)
          end
        end)
        actor.register("doubler", srv)
        local taken = select(2, pcall(actor.register, "doubler", actor.self()))
        actor.send("doubler", { from = actor.self(), n = 21 })
        local r = actor.receive(nil, 1000)
        actor.send_after("doubler", { from = actor.self(), n = 5 }, 20)
        local early = actor.receive(nil, 0)
        local late = actor.receive(nil, 1000)
        local listed = 0
        for _, p in ipairs(actor.processes()) do if p.name == "doubler" then listed = p.mailbox + 1 end end
        actor.send("doubler", { stop = true })
        actor.sleep(5)
        local nosuch = select(2, pcall(actor.send, "doubler", 1))
        return r, taken.code, early, late, listed, actor.whereis("doubler"), nosuch.code
    """) == (42, "ACTOR_NAME_TAKEN", None, 10, 1, None, "ACTOR_NO_PROCESS")


def test_messages_are_copied_and_plain_data_only(rt: Runtime) -> None:
    assert run(rt, """
        local me = actor.self()
        local t = { list = { 1, 2 }, pid = me }
        actor.send(me, t)
        t.list[1] = 99                      -- the sender's table, changed after send
        local got = actor.receive()
        local errs = {}
        for _, bad in ipairs({ { f = print }, { co = coroutine.create(print) }, io and { io.stdout } or { print } }) do
          local ok, e = pcall(actor.send, me, bad)
          errs[#errs + 1] = (not ok) and e.code or "sent"
        end
        local cyc = {}; cyc.self = cyc
        local ok, e = pcall(actor.send, me, cyc)
        return got.list[1], got ~= t, actor.is_pid(got.pid) and got.pid == me, table.concat(errs, ","),
               e.code, e.message:match("cycle") ~= nil, (actor.receive(nil, 0))
    """) == (1, True, True, "ACTOR_BAD_MESSAGE,ACTOR_BAD_MESSAGE,ACTOR_BAD_MESSAGE", "ACTOR_BAD_MESSAGE", True,
             None)


def test_a_process_error_kills_only_that_process(rt: Runtime) -> None:
    assert run(rt, """
        local p, ref = actor.spawn_monitor(function() local x = nil; return x.field end)
        local down = actor.receive(function(m) return type(m) == "table" and m[1] == "DOWN" end, 1000)
        local q = actor.spawn(function() actor.send(actor.whereis("main") or actor.self(), "still here") end)
        return tostring(down[4]):match("attempt to index") ~= nil, #actor.processes() >= 1
    """) == (True, True)


def test_reductions_let_timers_run_beside_a_busy_process(rt: Runtime) -> None:
    ticks, reductions = run(rt, """
        local busy = actor.spawn(function()
          for n = 1, 100000000 do actor.send(actor.self(), n); actor.receive() end
        end)
        local ticks = 0
        local t = setInterval(function() ticks = ticks + 1 end, 1)
        actor.sleep(40)
        clearInterval(t)
        local r = 0
        for _, p in ipairs(actor.processes()) do if p.pid == busy then r = p.reductions end end
        actor.exit(busy, "kill")
        return ticks, r
    """)
    assert ticks >= 5 and reductions > 4000


def test_a_runaway_process_is_stopped_by_the_deadline_and_the_runtime_goes_on(rt: Runtime) -> None:
    from hypelua import HypeError

    """Until preemption lands, a process that never calls the API holds the loop: the host's
    deadline stops it (the run fails naming TIMEOUT, like any async function today), the
    process is gone from processes(), and the runtime serves the next run."""
    rt.watch(deadline_s=0.3, every=100_000)
    with pytest.raises(HypeError) as info:
        run(rt, """
            actor.register("runaway", actor.spawn(function() while true do end end))
            actor.sleep(10)
        """)
    assert "TIMEOUT" in str(info.value)
    rt.set_deadline(5)
    assert run(rt, """
        local p = actor.spawn(function() actor.send(actor.whereis("main"), "hi") end)
        actor.register("main", actor.self())
        return actor.is_pid(p), actor.whereis("runaway"), actor.receive(nil, 1000)
    """) == (True, None, "hi")


def test_spawn_returns_before_the_child_runs_and_a_kill_before_it_runs_counts(rt: Runtime) -> None:
    assert run(rt, """
        local log = {}
        local p = actor.spawn(function() log[#log + 1] = "child" end)
        log[#log + 1] = "parent"
        local q, ref = actor.spawn_monitor(function() log[#log + 1] = "never" end)
        actor.exit(q, "shutdown")
        local down = actor.receive(function(m) return type(m) == "table" and m[1] == "DOWN" end, 1000)
        return table.concat(log, ","), down[4]
    """) == ("parent,child", "shutdown")


def test_a_failing_matcher_fails_the_receiver_not_the_sender(rt: Runtime) -> None:
    assert run(rt, """
        local r, ref = actor.spawn_monitor(function()
          actor.receive(function(m) return m.missing.field end)   -- errors on a string message
        end)
        actor.sleep(1)
        local ok = pcall(actor.send, r, "boom")
        local down = actor.receive(function(m) return type(m) == "table" and m[1] == "DOWN" end, 1000)
        return ok, tostring(down[4]):match("attempt to index") ~= nil
    """) == (True, True)


def test_non_matching_messages_do_not_push_a_receive_timeout_back(rt: Runtime) -> None:
    timed_out, sent = run(rt, """
        local me = actor.self()
        local sent = 0
        local noise = actor.spawn(function()
          for i = 1, 100 do actor.send(me, "noise"); sent = sent + 1; actor.sleep(5) end
        end)
        local got, why = actor.receive(function(m) return m == "signal" end, 50)
        local at_timeout = sent
        actor.exit(noise, "kill")
        return why, at_timeout
    """)
    assert timed_out == "timeout" and sent < 100  # it timed out while the noise still went on


def test_a_protocol_violation_is_caught_at_the_sender_naming_the_field(rt: Runtime) -> None:
    assert run(rt, """
        local P = actor.protocol{ ping = { from = "pid", n = "integer" }, stop = {},
                                  put = { key = "string", tags = { "string" }, meta = { size = "number?" } } }
        local srv = actor.spawn{ fn = function()
          while true do
            local m = actor.receive()
            if m == "stop" then return end
            if m[1] == "ping" then actor.send(m.from, m.n + 1) end
          end
        end, protocol = P }
        actor.send(srv, { "ping", from = actor.self(), n = 1 })
        local reply = actor.receive(nil, 1000)
        local errs = {}
        for _, bad in ipairs({ { "ping", from = actor.self(), n = "x" }, { "ping", n = 1 }, { "pong" },
                                { "ping", from = actor.self(), n = 1, extra = true }, 42,
                                { "put", key = "k", tags = { "a", 2 }, meta = {} },
                                { "put", key = "k", tags = {}, meta = { size = "big" } } }) do
          local ok, e = pcall(actor.send, srv, bad)
          errs[#errs + 1] = ok and "sent" or (e.code .. ":" .. e.message)
        end
        actor.send(srv, { "put", key = "k", tags = { "a" }, meta = {} })
        actor.send(srv, "stop")
        local bad_proto = select(2, pcall(actor.protocol, { x = { n = "bogus" } }))
        return reply, table.concat(errs, "|"), bad_proto.code
    """) == (2, "|".join([
        "ACTOR_PROTOCOL:message.n: expected integer, got string",
        "ACTOR_PROTOCOL:message.from is missing (expected pid)",
        "ACTOR_PROTOCOL:message: unknown tag 'pong'",
        "ACTOR_PROTOCOL:message.extra is not in the protocol for 'ping'",
        "ACTOR_PROTOCOL:message: expected a tagged table { \"tag\", ... }, got number",
        "ACTOR_PROTOCOL:message.tags[2]: expected string, got integer",
        "ACTOR_PROTOCOL:message.meta.size: expected number, got string",
    ]), "ACTOR_BAD_PROTOCOL")


def test_max_heap_kills_only_the_greedy_process(rt: Runtime) -> None:
    assert run(rt, """
        local greedy, ref = actor.spawn{ fn = function()
          local hoard = {}
          while true do
            hoard[#hoard + 1] = string.rep("x", 1000) .. #hoard
            if #hoard % 100 == 0 then actor.yield() end
          end
        end, max_heap = 2 * 1024 * 1024, monitor = true }
        local fine = actor.spawn{ fn = function() local t = {} for i = 1, 100 do t[i] = i end actor.receive() end,
                                  max_heap = 2 * 1024 * 1024 }
        local down = actor.receive(function(m) return type(m) == "table" and m[1] == "DOWN" end, 5000)
        local alive = false
        for _, p in ipairs(actor.processes()) do if p.pid == fine then alive = p.memory ~= nil end end
        actor.exit(fine, "kill")
        return down[3] == greedy, down[4], alive
    """) == (True, "max_heap", True)


def test_a_process_can_await_promises_and_messages_do_not_wake_an_await(rt: Runtime) -> None:
    assert run(rt, """
        local me = actor.self()
        local p = actor.spawn(function()
          local v = await(Promise.new(function(resolve) setTimeout(function() resolve("late") end, 20) end))
          local ok, err = pcall(await, Promise.reject("nope"))
          local m = actor.receive()
          actor.send(me, { v, err, m })
        end)
        actor.send(p, "early")           -- arrives while it awaits: queued, not a wake-up
        local r = actor.receive(nil, 2000)
        return r[1], r[2], r[3]
    """) == ("late", "nope", "early")


def test_yield_and_reductions_are_fair_between_chatty_processes(rt: Runtime) -> None:
    (a, b) = run(rt, """
        local counts = { 0, 0 }
        local stop = false
        for i = 1, 2 do
          actor.spawn(function() while not stop do counts[i] = counts[i] + 1; actor.yield() end end)
        end
        actor.sleep(30)
        stop = true
        return counts[1], counts[2]
    """)
    assert a > 10 and b > 10 and 0.5 < a / b < 2


def test_receive_from_a_nested_coroutine_is_a_typed_error(rt: Runtime) -> None:
    assert run(rt, """
        local me = actor.self()
        actor.spawn(function()
          local co = coroutine.create(function() return actor.receive() end)
          local ok, e = coroutine.resume(co)
          actor.send(me, e.code)
        end)
        return actor.receive(nil, 1000)
    """) == ("ACTOR_NOT_ASYNC",)


def test_bad_arguments_are_typed_errors(rt: Runtime) -> None:
    assert run(rt, """
        local codes = {}
        for _, f in ipairs({
          function() actor.spawn(42) end,
          function() actor.spawn{ fn = print, max_heap = -1 } end,
          function() actor.spawn{ fn = print, protocol = {} } end,
          function() actor.receive("x") end,
          function() actor.receive(nil, -5) end,
          function() actor.send(42, "x") end,
          function() actor.register("", actor.self()) end,
        }) do
          local ok, e = pcall(f)
          codes[#codes + 1] = ok and "ok" or e.code
        end
        return table.concat(codes, ",")
    """) == ("ACTOR_BAD_SPAWN,ACTOR_BAD_SPAWN,ACTOR_BAD_SPAWN,ACTOR_BAD_RECEIVE,ACTOR_BAD_RECEIVE,"
             "ACTOR_NO_PROCESS,ACTOR_BAD_NAME",)


def test_a_json_schema_protocol_is_checked_at_the_sender(rt: Runtime) -> None:
    assert run(rt, """
        local P = actor.protocol{ type = "object", required = { "op", "n" },
          properties = { op = { enum = { "add", "sub" } }, n = { type = "integer", minimum = 0 } } }
        local srv = actor.spawn{ fn = function() local m = actor.receive(); actor.send(m.from, m.n) end, protocol = P }
        local ok1, e1 = pcall(actor.send, srv, { op = "mul", n = 1 })
        local ok2, e2 = pcall(actor.send, srv, { op = "add", n = -1 })
        actor.send(srv, { op = "add", n = 2, from = actor.self() })
        local bad = select(2, pcall(actor.protocol, { type = 12 }))
        return e1.code, e1.message, e2.message, actor.receive(nil, 1000), bad.code
    """) == ("ACTOR_PROTOCOL", "message.op: 'mul' is not one of ['add', 'sub']",
             "message.n: -1 is less than the minimum of 0", 2, "ACTOR_BAD_PROTOCOL")


def test_hype_run_exits_when_no_process_can_run(tmp_path: Any) -> None:
    """`hype run`: the main chunk is a process; the run ends once nothing is runnable and no
    timer is pending (a process parked in receive forever does not keep it alive), and a
    busy process is preempted so a timer beside it fires."""
    import subprocess
    import sys

    (tmp_path / "app.lua").write_text("""
        local actor = require("hype.actor")
        local parked = actor.spawn(function() actor.receive() end)       -- waits for ever
        local busy = actor.spawn(function() while true do end end)
        local me = actor.self()
        local pong = actor.spawn(function() local m = actor.receive(); actor.send(m, "pong") end)
        actor.send(pong, me)
        print(actor.receive(nil, 1000))
        actor.sleep(5)
        print("timer beside a busy process")
        actor.exit(busy, "kill")
        actor.sleep(1)                                                   -- exits are signals: async
        print(#actor.processes())                                        -- main and parked
    """)
    out = subprocess.run([sys.executable, "-m", "hypelua", "run", "app.lua", "-d", ":memory:", "--timeout", "30"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:3] == ["pong", "timer beside a busy process", "2"]


def test_many_greedy_processes_under_max_heap_leave_the_runtime_usable(lua_backend: str) -> None:
    """max_heap is checked at every slice end (preemption gives a busy allocator slice ends):
    greedy processes die "max_heap" one by one under the runtime's max_memory, the others and
    the next run go on."""
    r = Runtime(":memory:", backend=lua_backend, stdout=lambda s: None, max_memory=64 * 1024 * 1024)
    try:
        src = """
            for i = 1, 8 do
              actor.spawn{ fn = function()
                local t = {}
                for j = 1, 1e9 do t[j] = { j, j, j, j } end
              end, max_heap = 2 * 1024 * 1024, monitor = true }
            end
            local reasons = {}
            for i = 1, 8 do
              local m = actor.receive(function(m) return m[1] == "DOWN" end, 20000)
              reasons[m and m[4] or "none"] = (reasons[m and m[4] or "none"] or 0) + 1
            end
            local q = actor.spawn(function(p) actor.send(p, "still alive") end, actor.self())
            return reasons.max_heap, actor.receive(nil, 5000)
        """
        assert run(r, src) == (8, "still alive")
        assert run(r, src) == (8, "still alive")
    finally:
        r.close()


def test_a_crashing_process_gets_a_crash_report_on_stderr(lua_backend: str, tmp_path: Any) -> None:
    import os
    import subprocess
    import sys

    (tmp_path / "crash.lua").write_text("""
        local actor = require("hype.actor")
        actor.register("worker", actor.spawn(function() local function inner() error("bad thing") end inner() end))
        actor.spawn(function() actor.exit("quiet") end)            -- exit(reason): no report
        actor.sleep(5)
        print("main goes on")
    """)
    out = subprocess.run([sys.executable, "-m", "hypelua", "run", "crash.lua", "-d", ":memory:"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "HYPE_LUA_BACKEND": lua_backend})
    assert out.returncode == 0 and out.stdout == "main goes on\n"
    assert out.stderr.count("=CRASH REPORT====") == 1
    assert "(worker) exited with an error" in out.stderr and "bad thing" in out.stderr
    assert "in local 'inner'" in out.stderr


def test_a_message_that_ends_a_timed_wait_leaves_no_stale_timeout(rt: Runtime) -> None:
    assert run(rt, """
        local me = actor.self()
        local p = actor.spawn(function()
          local a = actor.receive(nil, 30)          -- woken by a message well before 30 ms
          actor.sleep(60)                           -- the first receive's timer fires meanwhile
          local b, why = actor.receive(nil, 200)    -- must wait for the next message, not time out
          actor.send(me, { a, b, why })
        end)
        actor.send(p, "first")
        actor.sleep(100)
        actor.send(p, "second")
        local r = actor.receive(nil, 2000)
        return r[1], r[2], r[3]
    """) == ("first", "second", None)
