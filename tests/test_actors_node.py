"""Actors across OS processes (issue 11 item 7): spawn{ worker = "new" | n } starts or uses
a child node (python -m hypelua.actors._child), signals cross as JSON frames."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import pytest

from hypelua import Runtime


@pytest.fixture
def rt(lua_backend: str) -> Any:
    r = Runtime(":memory:", backend=lua_backend, stdout=lambda s: None)
    yield r
    node = getattr(r, "_actor_node", None)
    if node is not None:
        node.close()
    r.close()


def run(rt: Runtime, src: str) -> tuple[Any, ...]:
    return asyncio.run(rt.execute_async('local actor = require("hype.actor")\n' + src))


def test_ping_pong_across_two_os_processes(rt: Runtime) -> None:
    assert run(rt, """
        local pid = actor.spawn{ worker = "new", args = { actor.self() }, fn = function(parent)
          local actor = require("hype.actor")
          while true do
            local m = actor.receive()
            if m == "stop" then break end
            actor.send(parent, { "pong", m, actor.NODE })
          end
        end }
        local got = {}
        for i = 1, 50 do
          actor.send(pid, i)
          local r = actor.receive(nil, 5000)
          got[#got + 1] = r[2]
          assert(r[3] == 1)
        end
        actor.send(pid, "stop")
        return #got, got[50], pid.node, tostring(pid)
    """) == (50, 50, 1, "<1.0:1.0>")


def test_data_and_pids_round_trip_and_compare_equal(rt: Runtime) -> None:
    (ok, kinds, node, same) = run(rt, """
        local me = actor.self()
        local pid = actor.spawn{ worker = "new", fn = function()
          local actor = require("hype.actor")
          local m = actor.receive()
          actor.send(m.from, { echo = m, me = actor.self() })
        end }
        local msg = { from = me, list = { 1, 2.0, "x", true }, holes = { [1] = "a", [3] = "c" },
                      [10] = "ten", ["$odd"] = 1, bin = "\\0\\255\\1", nested = { { me } }, empty = {} }
        actor.send(pid, msg)
        local r = actor.receive(nil, 5000)
        local e = r.echo
        local ok = e.from == me and e.list[1] == 1 and e.list[3] == "x" and e.list[4] == true
          and e.holes[3] == "c" and e.holes[2] == nil and e[10] == "ten" and e["$odd"] == 1
          and e.bin == "\\0\\255\\1" and e.nested[1][1] == me and next(e.empty) == nil
          and rawequal(e.from, me)
        return ok, math.type(e.list[1]) .. "/" .. math.type(e.list[2]), r.me.node, r.me == pid
    """)
    assert (ok, kinds, node, same) == (True, "integer/float", 1, True)


def test_remote_crash_reaches_a_linked_and_a_monitoring_process(rt: Runtime) -> None:
    assert run(rt, """
        actor.trap_exit(true)
        local pid, ref = actor.spawn{ worker = "new", link = true, monitor = true, fn = function()
          local actor = require("hype.actor")
          actor.receive()
          error("boom")
        end }
        actor.send(pid, "go")
        local exit = actor.receive(function(m) return m[1] == "EXIT" end, 5000)
        local down = actor.receive(function(m) return m[1] == "DOWN" end, 5000)
        return exit[2] == pid, tostring(exit[3]):match("boom") ~= nil, down[2] == ref, down[3] == pid,
               tostring(down[4]):match("boom") ~= nil
    """) == (True, True, True, True, True)


def test_monitor_an_existing_remote_process_and_spawn_on_a_node_number(rt: Runtime) -> None:
    assert run(rt, """
        local a = actor.spawn{ worker = "new", fn = function() require("hype.actor").receive() end }
        -- a second process on the same node (by number), reached by a name-free pid
        local b = actor.spawn{ worker = a.node, args = { actor.self() }, fn = function(parent)
          local actor = require("hype.actor")
          actor.send(parent, { "hello", actor.self(), actor.NODE })
          actor.receive()
        end }
        local hello = actor.receive(nil, 5000)
        local ref = actor.monitor(b)
        actor.exit(b, "stopped")
        local down = actor.receive(function(m) return m[1] == "DOWN" end, 5000)
        local ref2 = actor.monitor(actor.pid("1:99", a.node))   -- no such process there
        local noproc = actor.receive(function(m) return m[1] == "DOWN" end, 5000)
        actor.exit(a, "kill")
        return hello[2] == b, hello[3] == a.node, down[2] == ref, down[4], noproc[2] == ref2, noproc[4]
    """) == (True, True, True, "stopped", True, "noproc")


def test_a_killed_node_gives_noconnection_and_the_parent_survives(rt: Runtime) -> None:
    def kill_node(node: int) -> None:
        os.kill(rt._actor_node.transport.pid_of(node), signal.SIGKILL)

    rt.vm.set_global("kill_node", rt.vm.register(None, kill_node))
    assert run(rt, """
        actor.trap_exit(true)
        local pid, ref = actor.spawn{ worker = "new", link = true, monitor = true, args = { actor.self() },
          fn = function(p) local actor = require("hype.actor"); actor.send(p, "up"); actor.receive() end }
        assert(actor.receive(nil, 5000) == "up")
        kill_node(pid.node)
        local e = actor.receive(function(m) return m[1] == "EXIT" end, 5000)
        local d = actor.receive(function(m) return m[1] == "DOWN" end, 5000)
        -- the parent runtime goes on: local processes still work; the dead node is unknown now
        actor.spawn(function(p) require("hype.actor").send(p, "alive") end, actor.self())
        local ref2 = actor.monitor(pid)
        local d2 = actor.receive(function(m) return m[1] == "DOWN" end, 5000)
        return e[2] == pid, e[3], d[2] == ref, d[4], actor.receive(nil, 1000), d2[2] == ref2, d2[4]
    """) == (True, "noconnection", True, "noconnection", "alive", True, "noconnection")


def test_an_upvalue_capturing_function_is_refused(rt: Runtime) -> None:
    code, msg, hint = run(rt, """
        local secret = 42
        local ok, err = pcall(actor.spawn, { worker = "new", fn = function() return secret end })
        return err.code, err.message, err.hint
    """)
    assert code == "ACTOR_BAD_SPAWN"
    assert "secret" in msg and "args" in hint


def test_three_nodes_a_pid_learnt_from_another_node(rt: Runtime) -> None:
    # node 1 spawns on node 2 (worker = "new" from a child) and hands the pid to node 0
    assert run(rt, """
        local me = actor.self()
        actor.spawn{ worker = "new", args = { me }, fn = function(parent)
          local actor = require("hype.actor")
          local c = actor.spawn{ worker = "new", args = { parent }, fn = function(p)
            local actor = require("hype.actor")
            local m = actor.receive()
            actor.send(p, { "from2", m, actor.NODE })
          end }
          actor.send(parent, { "pid", c })
        end }
        local r = actor.receive(nil, 5000)
        actor.send(r[2], "hi")
        local back = actor.receive(nil, 5000)
        return r[2].node, back[1], back[2], back[3]
    """) == (2, "from2", "hi", 2)
