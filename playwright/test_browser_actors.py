"""Actors in the browser (issue 11 item 7): processes in the page's worker, and across
workers (spawn{ worker = "new" } starts another hypelua worker; hype.actors relays frames)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import HypePage

A = 'local actor = require("hype.actor")\n'


def run(hp: HypePage, src: str, timeout: int = 60000) -> list:
    return hp.call(f"hype.run(args[0], {{ timeout: {timeout} }})", A + src)


def test_ring_and_ping_pong_in_the_page_worker(hype_page: HypePage) -> None:
    assert run(hype_page, """
        local N, nextp = 100, actor.self()
        for i = 1, N do
          local to = nextp
          nextp = actor.spawn(function() while true do local m = actor.receive(); actor.send(to, m + 1) end end)
        end
        actor.send(nextp, 0)
        local total = actor.receive(nil, 5000)
        local pid = actor.spawn(function(p) actor.send(p, { "pong", actor.receive() }) end, actor.self())
        actor.send(pid, "ping")
        return total, actor.receive(nil, 5000)[2]
    """) == [100, "ping"]


def test_supervisor_restarts_a_child(hype_page: HypePage) -> None:
    assert run(hype_page, """
        local sup = actor.supervisor{ strategy = "one_for_one", intensity = 3, period = 5,
          children = { { id = "w",
            start = function() return actor.spawn_link(function() actor.receive() end) end } } }:start_link()
        local first = actor.which_children(sup)[1].pid
        actor.exit(first, "crash")
        actor.sleep(50)
        local second = actor.which_children(sup)[1].pid
        return first ~= second and second ~= nil
    """) == [True]


def test_ping_pong_links_and_monitors_across_workers(hype_page: HypePage) -> None:
    assert run(hype_page, """
        actor.trap_exit(true)
        local pid, ref = actor.spawn{ worker = "new", link = true, monitor = true, args = { actor.self() },
          fn = function(parent)
            local actor = require("hype.actor")
            while true do
              local m = actor.receive()
              if m == "crash" then error("boom") end
              actor.send(parent, { "pong", m, actor.NODE })
            end
          end }
        local r = {}
        for i = 1, 5 do actor.send(pid, i); r[i] = actor.receive(nil, 30000) end
        actor.send(pid, "crash")
        local e = actor.receive(function(m) return m[1] == "EXIT" end, 10000)
        local d = actor.receive(function(m) return m[1] == "DOWN" end, 10000)
        return r[5][2], r[5][3], e[2] == pid, tostring(e[3]):match("boom") ~= nil, d[2] == ref
    """) == [5, 1, True, True, True]


def test_a_terminated_worker_gives_noconnection(hype_page: HypePage) -> None:
    (up, node) = hype_page.call("hype.run(args[0], { timeout: 60000 })", A + """
        P = actor.spawn{ worker = "new", args = { actor.self() },
          fn = function(p) local actor = require("hype.actor"); actor.send(p, "up"); actor.receive() end }
        return actor.receive(nil, 30000), P.node
    """)
    assert up == "up"
    # one process links, then the page terminates that worker mid-run
    assert hype_page.call("""(async () => {
        const r = hype.run(args[0], { timeout: 60000 });
        await new Promise((res) => setTimeout(res, 300));
        hype.actors.terminate(args[1]);
        return await r;
    })()""", A + """
        actor.trap_exit(true)
        actor.link(P)
        local ref = actor.monitor(P)
        local e = actor.receive(function(m) return m[1] == "EXIT" end, 20000)
        local d = actor.receive(function(m) return m[1] == "DOWN" end, 20000)
        return e[3], d[4], d[2] == ref
    """, node) == ["noconnection", "noconnection", True]


def test_busy_process_beside_a_timer(hype_page: HypePage) -> None:
    """A `while true do end` process in the worker is preempted (count mode): 1 ms timers and a
    ping round trip beside it keep running (loose bounds: without preemption nothing runs)."""
    if not hype_page.call("hype.compute('return package.loaded[\"hype.preempt\"] ~= nil')"):
        pytest.skip("hype.preempt (the C preemption module) is not in this runtime")
    late, rtt, mode = run(hype_page, """
        local now = require("hype.loop").now
        local busy = actor.spawn(function() while true do end end)
        local echo = actor.spawn(function() while true do local m = actor.receive(); actor.send(m, "pong") end end)
        local worst_late, worst_rtt = 0, 0
        for i = 1, 50 do
          local t0 = now()
          actor.sleep(1)
          worst_late = math.max(worst_late, now() - t0 - 1)
          local t1 = now()
          actor.send(echo, actor.self())
          actor.receive(nil, 5000)
          worst_rtt = math.max(worst_rtt, now() - t1)
        end
        actor.exit(busy, "kill"); actor.exit(echo, "kill")
        return worst_late, worst_rtt, package.loaded["hype.preempt"].mode
    """)
    print(f"browser: busy process beside a 1 ms timer: worst lateness {late:.2f} ms, "
          f"worst ping round trip {rtt:.2f} ms")
    assert mode == "count"
    assert late < 250 and rtt < 250


def test_protocol_violation_and_two_module_versions_in_the_browser(hype_page: HypePage) -> None:
    assert run(hype_page, """
        local P = actor.protocol{ ping = { n = "integer" } }
        local srv = actor.spawn{ fn = function() actor.receive() end, protocol = P }
        local ok, e = pcall(actor.send, srv, { "ping", n = "x" })
        actor.exit(srv, "kill")
        actor.load("greeter", "return { hello = function() return 'v1' end }")
        local me = actor.self()
        local old = actor.spawn(function()
          actor.receive()
          actor.send(me, { "old", actor.require("greeter").hello() })
        end)
        actor.load("greeter", "return { hello = function() return 'v2' end }")
        local new = actor.spawn(function() actor.send(me, { "new", actor.require("greeter").hello() }) end)
        actor.send(old, "go")
        local a = actor.receive(function(m) return m[1] == "old" end, 5000)
        local b = actor.receive(function(m) return m[1] == "new" end, 5000)
        return e.code, e.message, a[2], b[2]
    """) == ["ACTOR_PROTOCOL", "message.n: expected integer, got string", "v1", "v2"]


def test_processes_are_listed_while_a_program_runs(hype_page: HypePage) -> None:
    """hype.actors.processes() is answered out of turn during a run (the Processes panel)."""
    rows = hype_page.call("""(async () => {
      const run = hype.run(args[0], { timeout: 30000 });
      let rows = [];
      for (let i = 0; i < 100 && !rows.some((r) => r.name === "sleeper"); i++) {
        await new Promise((r) => setTimeout(r, 50));
        rows = await hype.actors.processes();
      }
      const result = await run;
      return { rows, result, after: await hype.actors.processes() };
    })()""", A + """
        local p = actor.spawn(function() actor.sleep(1500) end)
        actor.register("sleeper", p)
        local ref = actor.monitor(p)
        actor.receive(function(m) return m[1] == "DOWN" end, 5000)
        print("done")
        return "ok"
    """)
    names = {r["name"] for r in rows["rows"]}
    assert "sleeper" in names and rows["result"] == ["ok"]
    assert all(r["name"] != "sleeper" for r in rows["after"])
