"""LiveViews inside the page's worker (``hype.mountLive``): no server, the same connector.

A Lua view (a project file) and a Python view (a project module) are mounted on elements of
the booted playground page; clicks and typing go through the WorkerTransport (worker ops
liveOpen/liveFrame), frames the view pushes by itself arrive as ``{type: "live"}`` messages,
and a restarted worker makes the view re-open and re-join with what the user typed.
"""

from __future__ import annotations

import pytest

from .conftest import HypePage

pytestmark = pytest.mark.browser

COUNTER_LUA = """
local live = require("hype.live")
return live.view{
  template = [[<div><h1 id="lc">Count: {{ count }}</h1><button id="linc" hype-on:click="inc">+</button></div>]],
  mount = function(self, params, session) self:assign{ count = tonumber(params.start) or 0 } end,
  handle_event = function(self, event, payload)
    if event == "inc" then self:assign{ count = self.assigns.count + 1 } end
  end,
}
"""

VIEWS_PY = """
from hypelua import live

class Notes(live.LiveView):
    template = ('<div><input id="note" hype-model="note" value="{{ note }}"><p id="echo">{{ note }}</p>'
                '<button id="later" hype-on:click="later">later</button><b id="ticks">{{ ticks }}</b></div>')

    def mount(self, params, session):
        self.assign(note="", ticks=0)

    def handle_event(self, event, payload):
        if event == "later":
            self.send_info("tick", after_ms=20)

    def handle_info(self, msg):
        self.assign(ticks=self.assigns["ticks"] + 1)
"""


def _mount(hp: HypePage, element_id: str, target: str, params: dict[str, str] | None = None) -> None:
    hp.page.evaluate("""async ([id, target, params]) => {
        const el = document.createElement("div");
        el.id = id;
        document.body.appendChild(el);
        window.conns = window.conns || {};
        window.conns[id] = await window.hype.mountLive(el, target, params);
    }""", [element_id, target, params or {}])


def test_lua_view_in_the_worker(hype_page: HypePage) -> None:
    hp = hype_page
    hp.call("hype.writeFile('live_counter.lua', args[0])", COUNTER_LUA)
    _mount(hp, "lua-root", "live_counter.lua", {"start": "5"})
    page = hp.page
    assert page.inner_text("#lc") == "Count: 5"
    assert "hype-connected" in (page.get_attribute("#lua-root", "class") or "")
    page.click("#linc")
    page.click("#linc")
    page.wait_for_function("() => document.querySelector('#lc').textContent === 'Count: 7'")
    err = hp.error_of("hype.mountLive(document.body.appendChild(document.createElement('div')), 'nope.lua')")
    assert err is not None and err["code"] == "FILE_NOT_FOUND", err
    page.evaluate("conns['lua-root'].close()")
    assert page.evaluate("conns['lua-root'].status") == "closed"


def test_python_view_model_push_and_worker_restart(hype_page: HypePage) -> None:
    hp = hype_page
    hp.call("hype.writeFile('live_views.py', args[0])", VIEWS_PY)
    _mount(hp, "py-root", "live_views:Notes")
    page = hp.page
    page.click("#note")
    page.keyboard.type("hello worker")
    page.wait_for_function("() => document.querySelector('#echo').textContent === 'hello worker'")
    page.click("#later")  # handle_info after a timer: a frame the worker pushes by itself
    page.wait_for_function("() => document.querySelector('#ticks').textContent === '1'")
    # the worker restarts (a runaway chunk): the view re-opens and re-joins with the typed value
    page.click("#note")
    page.keyboard.type("!")
    err = hp.error_of("hype.run('while true do end', {timeout: 300})")
    assert err is not None and err["code"] == "TIMEOUT"
    page.wait_for_function("() => conns['py-root'].joins >= 2 && conns['py-root'].status === 'connected'",
                           timeout=120_000)
    assert page.input_value("#note") == "hello worker!"
    page.wait_for_function("() => document.querySelector('#echo').textContent === 'hello worker!'")


TODOS_PY = """
from hypelua import live

class Todos(live.LiveView):
    template = ('<form id="wf" hype-on:submit.prevent="add"><input id="wtitle" name="title" hype-model="title" '
                'value="{{ title }}"><span id="werr">{{ errors.get("title", "") }}</span>'
                '<button id="wadd" type="submit">Add</button></form>'
                '<ul id="wlist">{% for t in todos key t.id %}<li id="w{{ t.id }}">{{ t.title }}</li>{% end %}</ul>'
                '<button id="wboom" hype-on:click="boom">boom</button>')
    schema = {"type": "object", "required": ["title"], "properties": {"title": {"type": "string", "minLength": 3}}}

    def mount(self, params, session):
        self.assign(todos=[], title="", errors={})

    def handle_event(self, event, payload):
        if event == "boom":
            raise RuntimeError("kaboom in the worker")
        if not self.validate({"title": payload.get("title", "")}):
            todos = self.assigns["todos"]
            self.assign(todos=[*todos, {"id": len(todos) + 1, "title": payload["title"]}], title="")
"""

TABLE_LUA = """
local live = require("hype.live")
return live.view{
  template = [[<table id="wt">{% for row in rows key row.id %}<tr id="wr{{ row.id }}"><td>{{ row.name }}</td>]]
    .. [[<td class="v">{{ row.v }}</td><td><button hype-on:click="bump" hype-value-i="{{ row.id }}">+</button></td>]]
    .. [[</tr>{% end %}</table>]],
  mount = function(self)
    local rows = {}
    for i = 0, 199 do rows[#rows + 1] = { id = i, name = "row " .. i, v = 0 } end
    self:assign{ rows = rows }
  end,
  handle_event = function(self, event, payload)
    local rows = self.assigns.rows
    local row = rows[tonumber(payload.i) + 1]
    row.v = row.v + 1
    self:assign{ rows = rows }
  end,
}
"""


def test_todo_form_validation_and_crash_in_the_worker(hype_page: HypePage) -> None:
    hp = hype_page
    hp.call("hype.writeFile('live_todos.py', args[0])", TODOS_PY)
    _mount(hp, "todo-root", "live_todos:Todos")
    page = hp.page
    page.fill("#wtitle", "ab")
    page.click("#wadd")
    page.wait_for_function("() => document.querySelector('#werr').textContent.includes('short')")
    page.fill("#wtitle", "buy milk")
    page.click("#wadd")
    page.wait_for_selector("#wlist li#w1")
    assert page.inner_text("#w1") == "buy milk"
    page.wait_for_function("() => document.querySelector('#werr').textContent === ''")
    page.click("#wboom")  # the view raises: a visible error, then a fresh mount
    page.wait_for_selector("#todo-root .hype-error-banner")
    assert "kaboom in the worker" in page.inner_text("#todo-root .hype-error-banner")
    page.wait_for_function("() => document.querySelectorAll('#wlist li').length === 0")
    page.fill("#wtitle", "again")
    page.click("#wadd")
    page.wait_for_selector("#wlist li#w1")


def test_200_row_lua_table_in_the_worker(hype_page: HypePage) -> None:
    hp = hype_page
    hp.call("hype.writeFile('live_table.lua', args[0])", TABLE_LUA)
    _mount(hp, "table-root", "live_table.lua")
    page = hp.page
    assert page.locator("#wt tr").count() == 200
    page.click("#wr150 button")
    page.wait_for_function("() => document.querySelector('#wr150 .v').textContent === '1'")
    assert page.inner_text("#wr149 .v") == "0"
