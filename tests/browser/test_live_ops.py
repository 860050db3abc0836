"""WorkerHost LiveView ops (liveOpen / liveFrame / liveClose): what ``hype.mountLive`` uses.

Run natively with a memory database and a project directory, like the worker runs them;
pushed frames go to the ``live_post`` callback the worker gives the host.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from hypelua import live
from hypelua.browser import WorkerHost

VIEWS = '''
from hypelua import live

class Counter(live.LiveView):
    template = '<div><h1>Count: {{ count }}</h1><button hype-on:click="inc">+</button></div>'
    events = ("later",)

    def mount(self, params, session):
        self.assign(count=int(params.get("start", 0)))

    def handle_event(self, event, payload):
        if event == "inc":
            self.assign(count=self.assigns["count"] + 1)
        elif event == "later":
            self.send_info("tick", after_ms=10)

    def handle_info(self, msg):
        self.assign(count=self.assigns["count"] + 100)

NotAView = dict
'''


class Host:
    """Calls the host the way worker.mjs does (JSON args); records the pushed frames."""

    def __init__(self, host: WorkerHost, pushed: list[tuple[int, dict[str, Any]]]) -> None:
        self.host = host
        self.pushed = pushed

    async def call(self, op: str, **args: Any) -> dict[str, Any]:
        reply: dict[str, Any] = json.loads(await self.host.dispatch(op, json.dumps(args)))
        return reply

    async def frame(self, sid: int, **frame: Any) -> dict[str, Any]:
        reply = await self.call("liveFrame", id=sid, frame=json.dumps({"v": 1, **frame}))
        assert reply["ok"], reply
        assert isinstance(reply["value"], str)  # the frame as JSON text, for the page's transport
        out: dict[str, Any] = json.loads(reply["value"])
        return out


def run(tmp_path: Path, lua_backend: str, body: Callable[[Host], Awaitable[None]]) -> None:
    (tmp_path / "views.py").write_text(VIEWS)

    async def main() -> None:
        pushed: list[tuple[int, dict[str, Any]]] = []
        host = await WorkerHost.create("test", None, backend=lua_backend, project_root=str(tmp_path),
                                       live_post=lambda sid, text: pushed.append((sid, json.loads(text))))
        await body(Host(host, pushed))

    asyncio.run(main())


def test_python_view_from_the_project_join_event_push(tmp_path: Path, lua_backend: str) -> None:
    async def body(h: Host) -> None:
        opened = await h.call("liveOpen", target="views:Counter")
        assert opened["ok"], opened
        sid = opened["value"]["id"]
        join = await h.frame(sid, t="join", ref=1, path="views:Counter", params={"start": 5}, session=None)
        assert join["status"] == "ok" and join["ref"] == 1
        assert live.to_html(live.apply(None, join["rendered"])) == \
            '<div><h1>Count: 5</h1><button hype-on:click="inc">+</button></div>'
        reply = await h.frame(sid, t="event", ref=2, event="inc", payload={})
        assert reply["diff"] == {"0": "6"}
        bad = await h.frame(sid, t="event", ref=3, event="nope", payload={})
        assert bad["status"] == "error" and bad["error"]["code"] == "UNKNOWN_EVENT"
        await h.frame(sid, t="event", ref=4, event="later", payload={})
        for _ in range(100):
            if h.pushed:
                break
            await asyncio.sleep(0.01)
        assert h.pushed == [(sid, {"v": 1, "t": "diff", "diff": {"0": "106"}})]
        closed = await h.call("liveClose", id=sid)
        assert closed["value"] is True
        gone = await h.call("liveFrame", id=sid, frame="{}")
        assert gone["ok"] is False and gone["error"]["code"] == "NO_SESSION"
        assert (await h.call("liveClose", id=sid))["value"] is False

    run(tmp_path, lua_backend, body)


def test_two_sessions_are_independent_and_leave_frees_one(tmp_path: Path, lua_backend: str) -> None:
    async def body(h: Host) -> None:
        a = (await h.call("liveOpen", target="views:Counter"))["value"]["id"]
        b = (await h.call("liveOpen", target="views:Counter"))["value"]["id"]
        assert a != b
        for sid in (a, b):
            await h.frame(sid, t="join", ref=1, path="x", params={}, session=None)
        assert (await h.frame(a, t="event", ref=2, event="inc", payload={}))["diff"] == {"0": "1"}
        assert (await h.frame(b, t="event", ref=2, event="inc", payload={}))["diff"] == {"0": "1"}
        leave = await h.call("liveFrame", id=a, frame=json.dumps({"v": 1, "t": "leave", "ref": 3}))
        assert leave["ok"] and leave["value"] is None
        assert list(h.host.live.sessions) == [b]

    run(tmp_path, lua_backend, body)


@pytest.mark.parametrize(("target", "code"), [
    ("views:Nope", "NO_VIEW"), ("views:NotAView", "NO_VIEW"), ("no_such_module:X", "NO_VIEW"),
    ("justaname", "BAD_REQUEST"), ("", "BAD_REQUEST"), ("missing.lua", "FILE_NOT_FOUND"),
    ("../outside.lua", "PATH_OUTSIDE_PROJECT"),
])
def test_bad_targets_are_typed_errors(tmp_path: Path, lua_backend: str, target: str, code: str) -> None:
    async def body(h: Host) -> None:
        reply = await h.call("liveOpen", target=target)
        assert reply["ok"] is False and reply["error"]["code"] == code, reply

    run(tmp_path, lua_backend, body)


def test_bad_frames_are_error_replies_not_op_errors(tmp_path: Path, lua_backend: str) -> None:
    async def body(h: Host) -> None:
        sid = (await h.call("liveOpen", target="views:Counter"))["value"]["id"]
        for text in ["not json", "[]", json.dumps({"v": 9, "t": "join", "ref": 1})]:
            reply = await h.call("liveFrame", id=sid, frame=text)
            assert reply["ok"], reply
            assert json.loads(reply["value"])["status"] == "error"
        assert (await h.call("liveFrame", id=sid, frame={"t": "join"}))["error"]["code"] == "BAD_REQUEST"
        assert (await h.call("liveFrame", id="1", frame="{}"))["error"]["code"] == "NO_SESSION"

    run(tmp_path, lua_backend, body)


def test_edited_project_module_is_reimported_and_reset_closes_sessions(tmp_path: Path, lua_backend: str) -> None:
    async def body(h: Host) -> None:
        sid = (await h.call("liveOpen", target="views:Counter"))["value"]["id"]
        (tmp_path / "views.py").write_text(VIEWS.replace("Count: ", "Total: "))
        sid2 = (await h.call("liveOpen", target="views:Counter"))["value"]["id"]
        join = await h.frame(sid2, t="join", ref=1, path="x", params={}, session=None)
        assert "Total: 0" in live.to_html(live.apply(None, join["rendered"]))
        assert (await h.call("reset"))["ok"]
        assert not h.host.live.sessions
        assert (await h.call("liveFrame", id=sid, frame="{}"))["error"]["code"] == "NO_SESSION"

    run(tmp_path, lua_backend, body)


COUNTER_LUA = '''
local live = require("hype.live")
return live.view{
  template = [[<div><h1>Count: {{ count }}</h1><button hype-on:click="inc">+</button></div>]],
  mount = function(self, params, session) self:assign{ count = 0 } end,
  handle_event = function(self, event, payload)
    if event == "inc" then self:assign{ count = self.assigns.count + 1 } end
  end,
}
'''


def test_lua_view_from_a_project_file(tmp_path: Path, lua_backend: str) -> None:
    (tmp_path / "counter.lua").write_text(COUNTER_LUA)

    async def body(h: Host) -> None:
        opened = await h.call("liveOpen", target="counter.lua")
        assert opened["ok"], opened
        sid = opened["value"]["id"]
        join = await h.frame(sid, t="join", ref=1, path="counter.lua", params={}, session=None)
        assert live.to_html(live.apply(None, join["rendered"])) == \
            '<div><h1>Count: 0</h1><button hype-on:click="inc">+</button></div>'
        assert (await h.frame(sid, t="event", ref=2, event="inc", payload={}))["diff"] == {"0": "1"}
        (tmp_path / "broken.lua").write_text("return 42")
        bad = await h.call("liveOpen", target="broken.lua")
        assert bad["ok"] is False and bad["error"]["code"] in ("LIVE_NOT_A_VIEW", "NO_VIEW"), bad

    run(tmp_path, lua_backend, body)
