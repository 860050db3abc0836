"""hype.actor.server (issue 11, item 2): gen_server-style servers, actor.call / cast / reply,
handle_info, terminate, named servers, typed call errors, upgrade_server; both Lua back-ends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hypelua import Runtime

COUNTER = """
local log = {}
local counter = actor.server{
  vsn = 1,
  init = function(n, trap) if trap then actor.trap_exit(true) end return { n = n } end,
  handle_call = function(req, from, s)
    if req == "get" then return "reply", s.n, s end
    if req == "later" then actor.send_after(actor.self(), { "answer", from }, 10) return "noreply", s end
    if req == "stop" then return "stop", "normal", "bye", s end
    if req == "stop_silent" then return "stop", "normal", s end
    if req == "sleep" then actor.sleep(200) return "reply", "late", s end
    if req == "crash" then error("bad request") end
    if req == "junk" then return "whatever", s end
    return "reply", { "echo", req }, s
  end,
  handle_cast = function(k, s) s.n = s.n + k; return "noreply", s end,
  handle_info = function(msg, s)
    if type(msg) == "table" and msg[1] == "answer" then actor.reply(msg[2], "answered later"); return "noreply", s end
    log[#log + 1] = type(msg) == "table" and msg[1] or msg
    return "noreply", s
  end,
  terminate = function(reason, s) log[#log + 1] = "terminate:" .. tostring(reason) .. ":" .. s.n end,
}
"""


@pytest.fixture
def rt(lua_backend: str) -> Any:
    r = Runtime(":memory:", backend=lua_backend, stdout=lambda s: None)
    yield r
    r.close()


def run(rt: Runtime, src: str) -> tuple[Any, ...]:
    return asyncio.run(rt.execute_async('local actor = require("hype.actor")\n' + src))


def test_call_cast_reply_and_info(rt: Runtime) -> None:
    assert run(rt, COUNTER + """
        local pid = counter:start_link(10)
        actor.cast(pid, 5)
        actor.send(pid, "hello")                       -- neither call nor cast: handle_info
        local n = actor.call(pid, "get")
        local later = actor.call(pid, "later")          -- noreply now, actor.reply from handle_info
        local echo = actor.call(pid, { x = 1 })
        actor.cast(actor.spawn(function() end), 1)      -- a dead target: dropped
        actor.cast("nobody", 1)
        return n, later, echo[1], echo[2].x, table.concat(log, ","), (actor.receive(nil, 0))
    """) == (15, "answered later", "echo", 1, "hello", None)


def test_stop_from_handle_call_replies_then_terminates(rt: Runtime) -> None:
    assert run(rt, COUNTER + """
        local pid = counter:start(3)
        local ref = actor.monitor(pid)
        local bye = actor.call(pid, "stop")
        local down = actor.receive(function(m) return type(m) == "table" and m[1] == "DOWN" end, 1000)
        local p2 = counter:start(4)
        local ok, e = pcall(actor.call, p2, "stop_silent")      -- stop without a reply
        return bye, down[2] == ref, down[4], table.concat(log, ","), e.code, e.reason
    """) == ("bye", True, "normal", "terminate:normal:3,terminate:normal:4", "ACTOR_CALL_FAILED", "normal")


def test_call_timeout_is_typed_and_the_late_reply_is_dropped(rt: Runtime) -> None:
    code, has_hint, reason, got, leftover = run(rt, COUNTER + """
        local pid = counter:start(0)
        local ok, e = pcall(actor.call, pid, "sleep", 20)
        local got = actor.call(pid, "get", "infinity")     -- waits out the sleep; the late "late" is not seen
        actor.sleep(5)
        return e.code, #e.hint > 0 and tostring(e):match("^%[ACTOR_CALL_TIMEOUT%]") ~= nil, e.reason, got,
               (actor.receive(nil, 0))
    """)
    assert (code, has_hint, reason, got, leftover) == ("ACTOR_CALL_TIMEOUT", True, "timeout", 0, None)


def test_calls_to_dead_or_unknown_servers(rt: Runtime) -> None:
    assert run(rt, COUNTER + """
        local pid = counter:start(0)
        local ok1, crash = pcall(actor.call, pid, "crash")        -- dies while handling the call
        local ok2, gone = pcall(actor.call, pid, "get")           -- already dead
        local ok3, noname = pcall(actor.call, "no_such_server", "get")
        local ok4, bad = pcall(actor.call, counter:start(0), "junk")
        return ok1, crash.code, tostring(crash.reason):match("bad request") ~= nil,
               log[1]:match("^terminate:.*bad request") ~= nil,
               gone.code, gone.reason, noname.code, noname.reason, bad.code, bad.reason[1], bad.reason[2]
    """) == (False, "ACTOR_CALL_FAILED", True, True, "ACTOR_NO_PROCESS", "noproc", "ACTOR_NO_PROCESS", "noproc",
             "ACTOR_CALL_FAILED", "bad_return_value", "whatever")


def test_a_callback_error_kills_only_the_server_and_the_linked_caller_sees_it(rt: Runtime) -> None:
    assert run(rt, COUNTER + """
        actor.trap_exit(true)
        local pid = counter:start_link(0)
        actor.cast(pid, "not a number")             -- s.n + "not a number": an error in handle_cast
        local ex = actor.receive(function(m) return type(m) == "table" and m[1] == "EXIT" end, 1000)
        return ex[2] == pid, tostring(ex[3]):match("attempt to add") ~= nil, #actor.processes() >= 1
    """) == (True, True, True)


def test_init_failure_and_stop(rt: Runtime) -> None:
    assert run(rt, """
        local boom = actor.server{ init = function() error("no config") end }
        local nope = actor.server{ init = function(why) return "stop", why end }
        local p1, r1 = boom:start_link()          -- start_link: the caller is not killed
        local p2, r2 = nope:start("disabled")
        local p3, r3 = nope:start_link({ "shutdown", "x" })
        return p1, tostring(r1):match("no config") ~= nil, p2, r2, p3, r3[1], r3[2], #actor.processes()
    """) == (None, True, None, "disabled", None, "shutdown", "x", 1)


def test_a_named_server(rt: Runtime) -> None:
    assert run(rt, """
        local named = actor.server{
          name = "kv",
          init = function() return {} end,
          handle_call = function(req, _, s) return "reply", s[req], s end,
          handle_cast = function(kv, s) s[kv[1]] = kv[2]; return "noreply", s end,
        }
        local pid = named:start()
        local again, why = named:start()
        actor.cast("kv", { "a", 42 })
        local v = actor.call("kv", "a")
        actor.exit(pid, "kill")
        actor.sleep(1)
        local ok, e = pcall(actor.call, "kv", "a")
        return actor.is_pid(pid), again, why[1], why[2] == pid, v, e.code
    """) == (True, None, "already_started", True, 42, "ACTOR_NO_PROCESS")


def test_trapping_server_gets_exit_messages_and_its_parents_exit_terminates_it(rt: Runtime) -> None:
    assert run(rt, COUNTER + """
        actor.trap_exit(true)                           -- its "shutdown" exit must not take this process down
        local pid = counter:start_link(7, true)         -- init traps exits
        actor.send(pid, "x")
        -- a linked process dying: an EXIT message for handle_info
        actor.spawn(function() actor.link(pid); error("buddy fails") end)
        actor.sleep(10)
        local ref = actor.monitor(pid)
        actor.exit(pid, "shutdown")                     -- from its parent (this process): terminate
        local down = actor.receive(function(m) return type(m) == "table" and m[1] == "DOWN" end, 1000)
        return table.concat(log, ","), down[4]
    """) == ("x,EXIT,terminate:shutdown:7", "shutdown")


def test_upgrade_server_switches_callbacks_through_code_change(rt: Runtime) -> None:
    assert run(rt, COUNTER + """
        local pid = counter:start(10)
        actor.cast(pid, 1)
        local v2 = actor.server{
          vsn = 2,
          handle_call = function(req, _, s) return "reply", { s.total, s.from }, s end,
          handle_cast = function(k, s) s.total = s.total + 10 * k; return "noreply", s end,
          code_change = function(old, s, extra) return { total = s.n + extra, from = old } end,
        }
        local ok = actor.upgrade_server(pid, v2, 100)
        actor.cast(pid, 1)
        local r = actor.call(pid, "anything")
        local broken = actor.server{ code_change = function() error("cannot migrate") end }
        local ok2, err2 = actor.upgrade_server(pid, broken)
        local r2 = actor.call(pid, "anything")          -- still v2, same state
        return ok, r[1], r[2], ok2, err2:match("cannot migrate") ~= nil, r2[1]
    """) == (True, 121, 1, False, True, 121)
