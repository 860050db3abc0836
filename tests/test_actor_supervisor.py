"""hype.actor.supervisor (issue 11, item 2): strategies, restart types, intensity escalation
through a two-level tree, child shutdown, which_children / terminate_child / restart_child;
both Lua back-ends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hypelua import Runtime

PRELUDE = """
local actor = require("hype.actor")
local loop = require("hype.loop")
actor.trap_exit(true)   -- the test process outlives the supervisors it links to
local Worker = actor.server{
  init = function(tag) return { tag = tag, n = 0 } end,
  handle_call = function(req, _, s)
    if req == "crash" then error("crash " .. s.tag) end
    if req == "bump" then s.n = s.n + 1 end
    if req == "quit" then return "stop", "normal", s.n, s end
    return "reply", s.n, s
  end,
}
local function child(id, extra)
  local c = { id = id, start = { Worker, "start_link", id } }
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end
local function pids(sup)
  local t = {}
  for _, c in ipairs(actor.which_children(sup)) do t[c.id] = c.pid or false end
  return t
end
local function crash(pid) return (select(2, pcall(actor.call, pid, "crash"))).code end
"""


@pytest.fixture
def rt(lua_backend: str) -> Any:
    r = Runtime(":memory:", backend=lua_backend, stdout=lambda s: None)
    yield r
    r.close()


def run(rt: Runtime, src: str) -> tuple[Any, ...]:
    return asyncio.run(rt.execute_async(PRELUDE + src))


def test_one_for_one_restarts_the_crashed_child_with_a_fresh_state(rt: Runtime) -> None:
    assert run(rt, """
        local sup = actor.supervisor{ strategy = "one_for_one", children = { child("a"), child("b") } }:start_link()
        local before = pids(sup)
        actor.call(before.a, "bump"); actor.call(before.a, "bump"); actor.call(before.b, "bump")
        local code = crash(before.a)
        local after = pids(sup)
        local kids = actor.which_children(sup)
        return code, after.a ~= before.a, actor.call(after.a, "get"), after.b == before.b,
               actor.call(after.b, "get"), kids[1].id, kids[2].id, kids[1].restart
    """) == ("ACTOR_CALL_FAILED", True, 0, True, 1, "a", "b", "permanent")


@pytest.mark.parametrize(("strategy", "expected"), [
    ("one_for_all", (True, True, True)),
    ("rest_for_one", (False, True, True)),
    ("one_for_one", (False, True, False)),
])
def test_strategies_restart_the_right_set(rt: Runtime, strategy: str, expected: tuple[bool, ...]) -> None:
    assert run(rt, f"""
        local sup = actor.supervisor{{ strategy = "{strategy}",
                                      children = {{ child("a"), child("b"), child("c") }} }}:start_link()
        local before = pids(sup)
        crash(before.b)
        local after = pids(sup)
        for _, id in ipairs({{ "a", "b", "c" }}) do assert(actor.call(after[id], "get") == 0) end
        return after.a ~= before.a, after.b ~= before.b, after.c ~= before.c
    """) == expected


def test_restart_types(rt: Runtime) -> None:
    assert run(rt, """
        local sup = actor.supervisor{ children = {
          child("perm"), child("trans", { restart = "transient" }), child("trans2", { restart = "transient" }),
          child("temp", { restart = "temporary" }) } }:start_link()
        local b = pids(sup)
        actor.call(b.perm, "quit")              -- permanent: restarted even after a normal exit
        actor.call(b.trans, "quit")             -- transient, normal exit: left stopped
        crash(b.trans2)                         -- transient, crash: restarted
        crash(b.temp)                           -- temporary: never restarted, its spec is dropped
        local a = pids(sup)
        local ids = {}
        for _, c in ipairs(actor.which_children(sup)) do ids[#ids + 1] = c.id end
        return a.perm ~= b.perm and actor.is_pid(a.perm), a.trans, a.trans2 ~= b.trans2 and actor.is_pid(a.trans2),
               a.temp, table.concat(ids, ",")
    """) == (True, False, True, None, "perm,trans,trans2")


def test_a_restart_storm_escalates_to_the_parent_supervisor(rt: Runtime) -> None:
    assert run(rt, """
        local attempts = 0
        local flaky = actor.server{
          init = function()
            attempts = attempts + 1
            if attempts <= 4 then actor.send_after(actor.self(), "die", 1) end   -- crashes right after starting
            return {}
          end,
          handle_call = function(_, _, s) return "reply", "ok", s end,
          handle_info = function(m, s) error("flaky crashes (" .. attempts .. ")") end,
        }
        local inner = actor.supervisor{ intensity = 2, period = 5,
                                        children = { { id = "flaky", start = { flaky, "start_link" } } } }
        local top = actor.supervisor{ strategy = "one_for_one", intensity = 3,
                                      children = { { id = "inner", start = { inner, "start_link" } },
                                                   child("sibling") } }:start_link()
        local first = pids(top)
        local ref = actor.monitor(first.inner)
        local down = actor.receive(function(m) return type(m) == "table" and m[1] == "DOWN" end, 2000)
        actor.sleep(20)
        local now = pids(top)
        local leaf = pids(now.inner).flaky
        return down[4], now.inner ~= first.inner, now.sibling == first.sibling, attempts,
               actor.call(leaf, "hello")
    """) == ("shutdown", True, True, 5, "ok")


def test_a_failed_child_start_stops_the_started_ones_and_fails_the_supervisor(rt: Runtime) -> None:
    ok_started, ok_gone, pid, r1, r2, r3, why = run(rt, """
        local started
        local sup = actor.supervisor{ children = {
          { id = "ok", start = function() started = Worker:start_link("ok"); return started end },
          { id = "brief", start = { fn = function() end, args = {} } },
          { id = "worse", start = function() return nil, "no resources" end },
        } }
        local pid, reason = sup:start_link()
        actor.sleep(1)
        local alive = false
        for _, p in ipairs(actor.processes()) do if p.pid == started then alive = true end end
        return actor.is_pid(started), not alive, pid, reason[1], reason[2][1], reason[2][2], reason[2][3]
    """)
    assert (ok_started, ok_gone, pid, r1, r2, r3, why) == (
        True, True, None, "shutdown", "failed_to_start_child", "worse", "no resources")


def test_shutdown_waits_for_a_trapping_child_then_kills_it(rt: Runtime) -> None:
    assert run(rt, """
        local log = {}
        local stubborn = function()
          actor.trap_exit(true)
          while true do local m = actor.receive(); log[#log + 1] = m[1] .. ":" .. tostring(m[3]) end
        end
        local polite = actor.server{
          init = function() actor.trap_exit(true); return 0 end,
          terminate = function(reason) log[#log + 1] = "terminate:" .. reason end,
        }
        local sup = actor.supervisor{ children = {
          { id = "stubborn", start = { fn = stubborn }, shutdown = 60 },
          { id = "polite", start = { polite, "start_link" } },
          { id = "brutal", start = { fn = stubborn }, shutdown = "brutal_kill" },
        } }:start_link()
        local b = pids(sup)
        local refs = {}
        for id, pid in pairs(b) do refs[actor.monitor(pid)] = id end
        local t0 = loop.now()
        local ok = actor.terminate_child(sup, "stubborn")
        local waited = loop.now() - t0
        actor.terminate_child(sup, "polite")
        actor.terminate_child(sup, "brutal")
        local reasons = {}
        for i = 1, 3 do
          local d = actor.receive(function(m) return type(m) == "table" and m[1] == "DOWN" end, 1000)
          reasons[refs[d[2]]] = d[4]
        end
        local missing, why = actor.terminate_child(sup, "nope")
        local stopped = pids(sup)
        local again = actor.restart_child(sup, "polite")
        local running, why2 = actor.restart_child(sup, "polite")
        return ok, waited >= 55, table.concat(log, ","), reasons.stubborn, reasons.polite, reasons.brutal,
               missing, why, stopped.polite, actor.is_pid(again) and again ~= b.polite, running, why2,
               pids(sup).polite == again
    """) == (True, True, "EXIT:shutdown,terminate:shutdown", "killed", "shutdown", "killed",
             None, "not_found", False, True, None, "running", True)


def test_stopping_a_supervisor_stops_its_children_in_reverse_order(rt: Runtime) -> None:
    assert run(rt, """
        local order = {}
        local function tracked(id)
          return { id = id, start = { fn = function()
            actor.trap_exit(true)
            actor.receive(function(m) return type(m) == "table" and m[1] == "EXIT" end)
            order[#order + 1] = id
          end } }
        end
        local sup = actor.supervisor{ children = { tracked("a"), tracked("b"), tracked("c") } }:start_link()
        local ref = actor.monitor(sup)
        actor.exit(sup, "shutdown")                     -- from its parent (this process)
        local down = actor.receive(function(m) return type(m) == "table" and m[1] == "DOWN" end, 1000)
        return down[4], table.concat(order, ",")
    """) == ("shutdown", "c,b,a")
