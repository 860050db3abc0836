"""Runtime.actors (issue 11 item 8): Lua processes driven from Python, and Python processes
(asyncio tasks with a mailbox) on the same scheduler; both Lua back-ends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from hypelua import Runtime
from hypelua._errors import ActorError
from hypelua.actors import Pid, PythonProcess


@pytest.fixture
def rt(lua_backend: str) -> Any:
    r = Runtime(":memory:", backend=lua_backend, stdout=lambda s: None)
    yield r
    r.close()


def test_python_and_lua_processes_message_each_other(rt: Runtime) -> None:
    async def main() -> Any:
        got: list[Any] = []

        async def py_echo(proc: PythonProcess, tag: str) -> None:
            while True:
                m = await proc.receive(timeout=2000)
                if m == "stop":
                    return
                proc.send(m["from"], {"echo": m["n"], "tag": tag, "me": proc.pid})

        echo = rt.actors.spawn_python(py_echo, "py")
        lua = rt.actors.spawn("""function(echo)
            local actor = require("hype.actor")
            local out = {}
            for n = 1, 3 do
              actor.send(echo, { from = actor.self(), n = n })
              local r = actor.receive(nil, 2000)
              out[#out + 1] = r.tag .. r.echo
              assert(r.me == echo)
            end
            actor.send(echo, "stop")
            actor.register("lua_done", actor.self())
            local last = actor.receive(nil, 2000)
            return out, last
        end""", echo)
        await asyncio.sleep(0.2)

        async def reporter(proc: PythonProcess) -> None:
            proc.send("lua_done", ["bye", proc.pid])
            got.append("sent")

        rt.actors.spawn_python(reporter)
        await rt.loop.run_until_idle()
        return isinstance(echo, Pid), str(lua).startswith("<0."), got

    assert asyncio.run(main()) == (True, True, ["sent"])


def test_call_a_lua_server_from_python_and_typed_errors(rt: Runtime) -> None:
    async def main() -> Any:
        await rt.execute_async("""
            local actor = require("hype.actor")
            local kv = actor.server{ name = "kv",
              init = function() return {} end,
              handle_call = function(req, from, s)
                if req[1] == "put" then s[req[2]] = req[3]; return "reply", true, s end
                if req[1] == "slow" then return "noreply", s end
                return "reply", s[req[2]], s
              end }
            kv:start()
        """)
        await asyncio.sleep(0.05)
        assert await rt.actors.call("kv", ["put", "a", {"x": [1, 2]}]) is True
        value = await rt.actors.call("kv", ["get", "a"])
        with pytest.raises(ActorError) as timeout:
            await rt.actors.call("kv", ["slow"], timeout=50)
        with pytest.raises(ActorError) as noproc:
            await rt.actors.call("nobody", ["get", "a"])
        with pytest.raises(ActorError) as bad:
            rt.actors.send("kv", object())
        with pytest.raises(ActorError) as unknown:
            rt.actors.send("nobody", 1)
        names = {p["name"] for p in rt.actors.processes()}
        return value, timeout.value.code, noproc.value.code, bad.value.code, unknown.value.code, "kv" in names

    assert asyncio.run(main()) == ({"x": [1, 2]}, "ACTOR_CALL_TIMEOUT", "ACTOR_NO_PROCESS",
                                   "ACTOR_BAD_MESSAGE", "ACTOR_NO_PROCESS", True)


def test_links_and_monitors_between_python_and_lua(rt: Runtime) -> None:
    async def main() -> Any:
        events: list[Any] = []

        async def watcher(proc: PythonProcess) -> None:
            proc.trap_exit(True)
            crasher = rt.actors.spawn("function() require('hype.actor').sleep(20); error('boom') end")
            proc.link(crasher)
            ref = proc.monitor(crasher)
            exit_msg = await proc.receive(lambda m: isinstance(m, list) and m[0] == "EXIT", timeout=2000)
            down = await proc.receive(lambda m: isinstance(m, list) and m[0] == "DOWN", timeout=2000)
            events.append((exit_msg[1] == crasher, "boom" in str(exit_msg[2]), down[1] == ref))

        async def doomed(proc: PythonProcess) -> None:
            await proc.receive()          # never comes: killed by its Lua link

        rt.actors.spawn_python(watcher)
        victim = rt.actors.spawn_python(doomed)
        rt.execute("""
            local victim = ...
            local actor = require("hype.actor")
            _G.mon = actor.spawn(function(v)
              local ref = actor.monitor(v)
              actor.spawn_link(function() error("linked crash") end)
              actor.trap_exit(false)
            end, victim)
        """, {"$pid": [victim.node, victim.id]})
        # the python process links to a crashing Lua process: it dies with it
        async def linker(proc: PythonProcess) -> None:
            proc.link(rt.actors.spawn("function() require('hype.actor').sleep(10); error('down') end"))
            await proc.receive()

        linked = rt.actors.spawn_python(linker)
        await asyncio.sleep(0.3)
        alive = {p["pid"] for p in rt.actors.processes()}
        return events, linked in alive, victim in alive

    events, linked_alive, victim_alive = asyncio.run(main())
    assert events == [(True, True, True)]
    assert not linked_alive and victim_alive


def test_a_failing_python_process_reports_its_error_to_monitors(rt: Runtime) -> None:
    async def main() -> Any:
        async def bad(proc: PythonProcess) -> None:
            await proc.receive()
            raise ValueError("nope")

        pid = rt.actors.spawn_python(bad)
        lua = rt.execute("""
            local pid = ...
            local actor = require("hype.actor")
            return function()
              return async(function()
                local ref = actor.monitor(actor.pid(pid["$pid"][2], pid["$pid"][1]))
                actor.send(actor.pid(pid["$pid"][2], pid["$pid"][1]), "go")
                local down = actor.receive(function(m) return m[1] == "DOWN" end, 2000)
                return down[4]
              end)()
            end
        """, {"$pid": [pid.node, pid.id]})[0]
        return await rt.loop.call_async(lua)

    assert asyncio.run(main()) == "ValueError: nope"


def test_python_receive_is_selective_and_times_out(rt: Runtime) -> None:
    async def main() -> Any:
        out: list[Any] = []

        async def proc_fn(proc: PythonProcess) -> None:
            me = proc.pid
            for m in ("a", 1, "b", 2):
                proc.send(me, m)
            out.append(await proc.receive(lambda m: isinstance(m, int)))
            out.append(await proc.receive())
            try:
                await proc.receive(lambda m: m == "never", timeout=30)
            except TimeoutError:
                out.append("timeout")

        rt.actors.spawn_python(proc_fn)
        await asyncio.sleep(0.2)
        return out

    assert asyncio.run(main()) == [1, "a", "timeout"]
