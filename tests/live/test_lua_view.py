"""Lua LiveViews (``require("hype.live")``) driven by the same Session as Python views, on
both Lua back-ends: the issue's counter, equivalence of the Lua codegen with the Python
renderer, change tracking, components, streams, errors and timeouts."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hypelua
from hypelua import live
from hypelua._errors import LiveError, TemplateError
from hypelua.live import LuaView, PythonEvaluator, apply, compile_template, diff, load_view, render, to_html
from hypelua.live._render import Context

from .test_session import Client

pytestmark = pytest.mark.anyio

COUNTER = """
local live = require("hype.live")
return live.view{
  template = [[<div><h1>Count: {{ count }}</h1><button hype-on:click="inc">+</button></div>]],
  mount = function(self, params, session) self:assign{ count = 0 } end,
  handle_event = function(self, event, payload)
    if event == "inc" then self:assign{ count = self.assigns.count + 1 } end
  end,
}
"""

# a view whose template is given by the test and whose assigns are set by events
GENERIC = """
local live = require("hype.live")
return live.view{
  template = %s,
  mount = function(self, params) self:assign(params) end,
  handle_event = function(self, event, payload) self:assign(payload) end,
  events = { "set" },
  helpers = { counted = function(x) CALLS = (CALLS or 0) + 1; return x end },
}
"""


def _lua_long(s: str) -> str:
    return "[==[" + s + "]==]"


@pytest.fixture
def rt(lua_backend: str, tmp_path: Path) -> Any:
    r = hypelua.Runtime(":memory:", backend=lua_backend, project_root=tmp_path)
    yield r
    r.close()


def view_file(rt: Any, name: str, source: str) -> Any:
    path = Path(rt.project_root) / name
    path.write_text(source)
    return load_view(rt, name)


def generic(rt: Any, template: str, name: str = "generic.lua", **kw: Any) -> Any:
    path = Path(rt.project_root) / name
    path.write_text(GENERIC % _lua_long(template))
    return load_view(rt, name, **kw)


# ------------------------------------------------------------------------- the issue's counter
async def test_counter_through_the_session(rt: Any) -> None:
    factory = view_file(rt, "counter.lua", COUNTER)
    assert isinstance(factory(), LuaView)
    c = Client(factory)
    r = await c.send("join", path="/", params={})
    assert r["status"] == "ok" and r["rendered"]["0"] == "0" and "s" in r["rendered"]
    assert c.html == '<div><h1>Count: 0</h1><button hype-on:click="inc">+</button></div>'
    r = await c.send("event", event="inc", payload={})
    assert r["diff"] == {"0": "1"}
    assert len(json.dumps(r)) < 80
    r = await c.send("event", event="inc", payload={})
    assert r["diff"] == {"0": "2"} and "Count: 2" in c.html
    r = await c.send("event", event="nope", payload={})
    assert r["status"] == "error" and r["error"]["code"] == "UNKNOWN_EVENT"
    r = await c.send("event", event="inc", payload={})
    assert r["diff"] == {"0": "3"}


def test_served_by_live_app(rt: Any) -> None:
    import httpx

    from hypelua.pm._server import running_in_thread

    app = live.app({"/": view_file(rt, "counter.lua", COUNTER)})
    with running_in_thread(app, start_timeout_s=20.0, lifespan="on", access_log=False) as base:
        page = httpx.get(base + "/")
        assert page.status_code == 200 and "<h1>Count: 0</h1>" in page.text


async def test_snapshot_and_restore(rt: Any) -> None:
    factory = view_file(rt, "counter.lua", COUNTER)
    v = factory()
    await v._lv_call("mount", {}, {})
    await v._lv_call("handle_event", "inc", {})
    assert v._lv_snapshot() == {"count": 1}
    w = factory()
    await w._lv_call("mount", {}, {})
    w._lv_restore({"count": 7})
    assert w._lv_render(Context())["0"] == "7"
    assert w._lv_memory() > 0


# ------------------------------------------------------------------------- Lua codegen == Python render
TEMPLATE = (
    '<div class="{% if active %}on{% else %}off{% end %}">{{ title }}</div>\n'
    '<table>{% for row in rows key row.id %}<tr id="r{{ row.id }}"><td>{{ row.name }}</td>'
    '<td>{% if row.done and not hidden %}done{% elif row.n > 3 %}big{% else %}open{% end %}</td>'
    '<td>{{ row.n }}</td></tr>{% end %}</table>\n'
    '<p>{{ raw(html) }}</p>{% if count > 2 or active %}<b>{{ count }}</b>{% end %}'
    '{% if title == "x" %}X{% end %}<i>{{ flag }}</i>'
)
_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8) | st.sampled_from(["x", "<&>\"'", "a\\b\n"])
_num = st.integers(-10**12, 10**12) | st.sampled_from([0.5, 1.0, -0.0, 0.1, 1e16, 1e-5, 2.5e-7, 1234567.125, 1 / 3])
_row = st.fixed_dictionaries({"name": _text, "done": st.booleans(), "n": _num})
_assigns = st.fixed_dictionaries({
    "active": st.booleans(), "hidden": st.booleans(), "title": _text, "html": _text,
    "count": st.integers(-5, 10), "flag": st.booleans(),
    "rows": st.lists(_row, max_size=6).map(lambda rows: [{"id": i, **r} for i, r in enumerate(rows)]),
})
_runtimes: dict[str, Any] = {}


def _shared_view(backend: str) -> Any:
    """One runtime and view factory per back-end for the property test (hypothesis reruns the body)."""
    if backend not in _runtimes:
        import tempfile

        root = Path(tempfile.mkdtemp())
        r = hypelua.Runtime(":memory:", backend=backend, project_root=root)
        _runtimes[backend] = (r, generic(r, TEMPLATE))
    return _runtimes[backend][1]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(_assigns, min_size=1, max_size=5), partial=st.lists(st.booleans(), min_size=5, max_size=5))
def test_lua_render_equals_python_render(lua_backend: str, steps: list[dict[str, Any]], partial: list[bool]) -> None:
    factory = _shared_view(lua_backend)
    t = compile_template(TEMPLATE)
    ev = PythonEvaluator()

    async def run() -> None:
        v = factory()
        await v._lv_call("mount", steps[0], {})
        scope = dict(steps[0])
        sent: set[int] = set()
        statics: dict[int, list[str]] = {}
        prev = v._lv_render(Context())
        assert prev == render(t, scope, ev)
        state = apply(None, diff(None, prev, sent), statics)
        for step, only_some in zip(steps[1:], partial, strict=False):
            change = {k: val for i, (k, val) in enumerate(step.items()) if not only_some or i % 2 == 0}
            await v._lv_call("handle_event", "set", change)
            scope.update(change)
            new = v._lv_render(Context())
            expected = render(t, scope, ev)
            assert new == expected
            state = apply(state, diff(prev, new, sent), statics)
            assert to_html(state) == to_html(expected)
            prev = new

    asyncio.run(run())


@pytest.mark.parametrize("value,text", [(3, "3"), (-7, "-7"), (2.0, "2.0"), (0.1, "0.1"), (1e16, "1e+16"),
                                        (1e-5, "1e-05"), (1 / 3, str(1 / 3)), (True, "true"), (False, ""),
                                        ("<a href='x'>&\"</a>", "&lt;a href=&#39;x&#39;&gt;&amp;&#34;&lt;/a&gt;")])
async def test_values_render_like_python(rt: Any, value: Any, text: str) -> None:
    v = generic(rt, "{{ v }}")()
    await v._lv_call("mount", {"v": value}, {})
    assert v._lv_render(Context())["0"] == text


async def test_lua_expressions(rt: Any) -> None:
    v = generic(rt, "{{ #items }} {{ items[2] }} {{ string.upper(name) }} {{ a and b or 'no' }} "
                    "{{ not a }} {{ x .. '!' }} {{ raw('<b>') }}")()
    await v._lv_call("mount", {"items": [1, 2, 3], "name": "ann", "a": True, "b": False, "x": "hi"}, {})
    assert to_html(v._lv_render(Context())) == "3 2 ANN no  hi! <b>"  # false renders as ""


# ------------------------------------------------------------------------- change tracking
async def test_only_parts_reading_changed_assigns_are_evaluated(rt: Any) -> None:
    v = generic(rt, "<p>{{ counted(a) }}</p><p>{{ b }}</p>{% for r in rows %}{{ counted(r) }}{% end %}")()
    await v._lv_call("mount", {"a": "x", "b": 1, "rows": [1, 2, 3]}, {})
    first = v._lv_render(Context())
    assert rt.execute("return CALLS")[0] == 4
    await v._lv_call("handle_event", "set", {"b": 2})
    assert v._lv_dirty()
    second = v._lv_render(Context())
    assert rt.execute("return CALLS")[0] == 4  # neither counted(a) nor the loop ran again
    assert second["0"] is first["0"] and second["2"] is first["2"]
    assert diff(first, second) == {"1": "2"}
    await v._lv_call("handle_event", "set", {"b": 2, "a": "x"})  # equal values: no change
    assert not v._lv_dirty()
    await v._lv_call("handle_event", "set", {"rows": [1, 2, 3]})  # a table always counts as changed
    v._lv_render(Context())
    assert rt.execute("return CALLS")[0] == 7


async def test_200_row_table_one_cell(rt: Any) -> None:
    src = """
local live = require("hype.live")
return live.view{
  template = [[<table>{% for row in rows key row.id %}<tr id="r{{ row.id }}"><td>{{ row.name }}</td>]]
    .. [[<td>{% if row.done %}done{% else %}open{% end %}</td></tr>{% end %}</table><p>{{ title }}</p>]],
  mount = function(self)
    local rows = {}
    for i = 1, 200 do rows[i] = { id = i, name = "row " .. i, done = false } end
    self:assign{ rows = rows, title = "t" }
  end,
  events = { "edit" },
  handle_event = function(self, event, payload)
    self.assigns.rows[payload.i].name = payload.name
    self:assign{ rows = self.assigns.rows }
  end,
}
"""
    c = Client(view_file(rt, "table.lua", src))
    await c.send("join", path="/", params={})
    r = await c.send("event", event="edit", payload={"i": 101, "name": "changed"})
    assert r["diff"] == {"0": {"k": {"100": {"1": "changed"}}}}
    assert '<td>changed</td>' in c.html


# ------------------------------------------------------------------------- components, streams
COMPONENTS = """
local live = require("hype.live")
local Card = live.component{
  template = [[<div class="card">{{ title }}: {{ clicks }}]]
    .. [[<button hype-on:click="hit" hype-target="{{ myself }}">+</button></div>]],
  mount = function(self) self:assign{ clicks = 0 } end,
  handle_event = function(self, event) self:assign{ clicks = self.assigns.clicks + 1 } end,
}
local badge = live.fn_component([[<span class="badge">{{ label }}</span>]])
return live.view{
  template = [[<main>{{ badge{ label = name } }}{{ live_component(Card, { id = "c1", title = name }) }}</main>]],
  components = { Card = Card, badge = badge },
  events = { "rename" },
  mount = function(self) self:assign{ name = "Ann" } end,
  handle_event = function(self, event, payload) self:assign{ name = payload.name } end,
}
"""


async def test_stateful_and_function_components(rt: Any) -> None:
    c = Client(view_file(rt, "comp.lua", COMPONENTS))
    r = await c.send("join", path="/", params={})
    assert r["status"] == "ok"
    assert c.html == ('<main><span class="badge">Ann</span><div class="card">Ann: 0<button hype-on:click="hit" '
                      'hype-target="1">+</button></div></main>')
    r = await c.send("event", event="hit", payload={}, cid=1)
    assert r["status"] == "ok" and "Ann: 1" in c.html
    r = await c.send("event", event="rename", payload={"name": "Bo"})
    assert '<span class="badge">Bo</span>' in c.html and "Bo: 1" in c.html


STREAM = """
local live = require("hype.live")
return live.view{
  template = [[<ul>{% for m in streams.msgs key m.id %}<li>{{ m.text }}</li>{% end %}</ul>]],
  events = { "add", "del" },
  mount = function(self) self:stream("msgs", { { id = 1, text = "a" }, { id = 2, text = "b" } }) end,
  handle_event = function(self, event, payload)
    if event == "add" then self:stream_insert("msgs", { id = payload.id, text = payload.text }, { at = 0 })
    else self:stream_delete("msgs", payload.id) end
  end,
}
"""


async def test_streams(rt: Any) -> None:
    c = Client(view_file(rt, "stream.lua", STREAM))
    await c.send("join", path="/", params={})
    assert c.html == "<ul><li>a</li><li>b</li></ul>"
    r = await c.send("event", event="add", payload={"id": 3, "text": "c"})
    assert r["diff"]["0"]["st"] == {"keys": [3], "at": [0], "del": [], "reset": False}
    assert c.html == "<ul><li>c</li><li>a</li><li>b</li></ul>"
    await c.send("event", event="del", payload={"id": 1})
    assert c.html == "<ul><li>c</li><li>b</li></ul>"


# ------------------------------------------------------------------------- errors
CRASHY = """
local live = require("hype.live")
return live.view{
  template = [[<p>{{ n }}</p><button hype-on:click="boom">x</button><button hype-on:click="loop">x</button>]]
    .. [[<button hype-on:click="inc">x</button>]],
  mount = function(self) self:assign{ n = 0 } end,
  handle_event = function(self, event)
    if event == "boom" then error("kaboom") end
    if event == "loop" then while true do end end
    self:assign{ n = self.assigns.n + 1 }
  end,
}
"""


async def test_lua_error_in_handle_event_is_view_crashed(rt: Any) -> None:
    factory = view_file(rt, "crashy.lua", CRASHY)
    v = factory()
    await v._lv_call("mount", {}, {})
    with pytest.raises(LiveError) as info:
        await v._lv_call("handle_event", "boom", {})
    assert info.value.code == "VIEW_CRASHED" and "kaboom" in info.value.message
    assert info.value.details["error_code"] == "LUA_RUNTIME_ERROR" and "crashy.lua" in info.value.details["traceback"]
    c = Client(factory)
    await c.send("join", path="/", params={})
    await c.send("event", event="inc", payload={})
    r = await c.send("event", event="boom", payload={})
    assert r["status"] == "error" and r["error"]["code"] == "VIEW_CRASHED" and "kaboom" in r["error"]["message"]
    assert [f["t"] for f in c.pushed] == ["crash"]
    c.apply_pushes()
    assert "<p>0</p>" in c.html  # re-mounted fresh
    r = await c.send("event", event="inc", payload={})
    assert r["diff"] == {"0": "1"}  # the runtime keeps serving


async def test_endless_loop_in_a_hook_is_stopped(rt: Any) -> None:
    path = Path(rt.project_root) / "crashy.lua"
    path.write_text(CRASHY)
    factory = load_view(rt, "crashy.lua", timeout=0.5)
    c = Client(factory)
    await c.send("join", path="/", params={})
    t0 = time.monotonic()
    r = await c.send("event", event="loop", payload={})
    assert time.monotonic() - t0 < 5
    assert r["status"] == "error" and r["error"]["code"] == "VIEW_CRASHED" and "longer than" in r["error"]["message"]
    c.apply_pushes()
    r = await c.send("event", event="inc", payload={})
    assert r["status"] == "ok" and r["diff"] == {"0": "1"}


async def test_template_runtime_error_names_the_line(rt: Any) -> None:
    v = generic(rt, "<h1>{{ title }}</h1>\n<p>\n{{ nope.x }}</p>")()
    await v._lv_call("mount", {"title": "t"}, {})
    with pytest.raises(TemplateError) as info:
        v._lv_render(Context())
    assert info.value.code == "TEMPLATE_RUNTIME" and info.value.details["line"] == 3
    assert "template line 3" in info.value.message and "nope" in info.value.message


async def test_template_syntax_error_names_the_line(rt: Any) -> None:
    v = generic(rt, "<h1>{{ title }}</h1>\n{% if a %}\n{{ a + }}{% end %}")()
    await v._lv_call("mount", {"a": 1}, {})
    with pytest.raises(TemplateError) as info:
        v._lv_render(Context())
    assert info.value.code == "TEMPLATE_SYNTAX" and info.value.details["line"] == 3
    w = generic(rt, "{{ _hl_b }}", name="reserved.lua")()
    await w._lv_call("mount", {}, {})
    with pytest.raises(TemplateError, match="reserved"):
        w._lv_render(Context())


async def test_not_a_view(rt: Any) -> None:
    (Path(rt.project_root) / "x.lua").write_text("return { template = 'x' }")
    with pytest.raises(LiveError) as info:
        load_view(rt, "x.lua")
    assert info.value.code == "LIVE_NOT_A_VIEW"


async def test_load_python_view_by_name(rt: Any) -> None:
    assert load_view(rt, "hypelua.live:LiveView") is live.LiveView
    with pytest.raises(LiveError):
        load_view(rt, "nope")


async def test_async_hook_and_services(rt: Any) -> None:
    src = """
local live = require("hype.live")
return live.view{
  template = [[<p>{{ n }}</p>]],
  events = { "go" },
  mount = function(self)
    live.subscribe("room")
    self:assign{ n = 0 }
  end,
  handle_event = function(self, event, payload)
    await(Promise.new(function(resolve) setTimeout(resolve, 10) end))
    await(live.broadcast("room", { by = payload.by }))
    self:assign{ n = self.assigns.n + 1 }
  end,
  handle_info = function(self, msg) self:assign{ n = self.assigns.n + 100 } end,
}
"""
    c = Client(view_file(rt, "svc.lua", src), pubsub=live.LocalPubSub())
    await c.send("join", path="/", params={})
    r = await c.send("event", event="go", payload={"by": "me"})
    assert r["status"] == "ok"
    for _ in range(50):
        await asyncio.sleep(0.01)
        c.apply_pushes()
        if "<p>101</p>" in c.html:
            break
    assert "<p>101</p>" in c.html


# ------------------------------------------------------------------------- server integration
def _join_and_click(base: str, page_path: str) -> None:
    """GET the page from a real server, join over a real WebSocket, click."""
    import httpx
    from websockets.sync.client import connect

    from hypelua.live._app import read_root

    page = httpx.get(base + page_path)
    assert page.status_code == 200 and "<h1>Count: 0</h1>" in page.text and "/_hype/live.js" in page.text
    path, token, ws_path = read_root(page.text)
    with connect(base.replace("http", "ws") + ws_path) as ws:
        ws.send(json.dumps({"v": 1, "t": "join", "ref": 1, "path": path, "session": token, "params": {}}))
        r = json.loads(ws.recv(10))
        assert r["status"] == "ok" and r["rendered"]["0"] == "0"
        ws.send(json.dumps({"v": 1, "t": "event", "ref": 2, "event": "inc", "payload": {}}))
        r = json.loads(ws.recv(10))
        assert r["status"] == "ok" and r["diff"] == {"0": "1"}


def _serving(app: Any) -> Any:
    from hypelua.pm._server import running_in_thread

    return running_in_thread(app, start_timeout_s=20.0, lifespan="on", access_log=False)


def test_app_live_in_a_hype_http_app(lua_backend: str, tmp_path: Path) -> None:
    import httpx

    from hypelua.http import lua_app

    (tmp_path / "counter.lua").write_text(COUNTER)
    (tmp_path / "app.lua").write_text("""
local http = require("hype.http")
local app = http.app()
app:get("/hello", function(req, res) res:send("hi") end)
app:live("/", require("./counter"))
app:live("/c/:id", require("./counter"))
return app
""")
    rt = hypelua.Runtime(":memory:", backend=lua_backend, project_root=tmp_path)
    app = lua_app(tmp_path / "app.lua", runtime=rt)
    with _serving(app) as base:
        assert httpx.get(base + "/hello").text == "hi"
        _join_and_click(base, "/")
        _join_and_click(base, "/c/7")
        assert httpx.get(base + "/nope").status_code == 404
    rt.close()


def test_app_live_refuses_what_is_not_a_view(lua_backend: str, tmp_path: Path) -> None:
    from hypelua.http import lua_app

    (tmp_path / "app.lua").write_text('local app = require("hype.http").app(); app:live("/", {}); return app')
    rt = hypelua.Runtime(":memory:", backend=lua_backend, project_root=tmp_path)
    with pytest.raises(hypelua.LuaError, match="HTTP_BAD_ROUTE"):
        lua_app(tmp_path / "app.lua", runtime=rt)
    rt.close()


def test_a_file_returning_a_view_is_served_as_an_app(lua_backend: str, tmp_path: Path) -> None:
    """What ``hype serve counter.lua`` builds (hypelua.http.lua_app of the file)."""
    from hypelua.http import lua_app

    (tmp_path / "counter.lua").write_text(COUNTER)
    rt = hypelua.Runtime(":memory:", backend=lua_backend, project_root=tmp_path)
    with _serving(lua_app(tmp_path / "counter.lua", runtime=rt)) as base:
        _join_and_click(base, "/")
    rt.close()
