"""The LiveView connector (dist/web/hype-live.js) in headless Chromium: directives and DOM patching.

A fixture page loads the standalone bundle and mounts a ``LiveConnection`` on a fake
in-page transport: the test answers the frames itself, with renders and diffs made by the
Python renderer (``hypelua.live``), so every DOM behaviour is checked against the real
rendered format without a server: focus/caret kept across patches, ``hype-update="ignore"``,
debounce/throttle, key filters, ``hype-model`` payloads, loading classes, disable-with, the
crash banner, error replies, hooks, live navigation, reconnect with backoff re-sending ``form``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hypelua.live import PythonEvaluator, compile_template, diff, render

from .conftest import ACTION_TIMEOUT_MS

pytestmark = pytest.mark.browser

EV = PythonEvaluator()

FIXTURE = """<!doctype html>
<html><head><meta charset="utf-8"><title>live fixture</title>
<style>.hype-error-banner{background:#fee}</style></head>
<body>
<div id="root"></div>
<script src="hype-live.js"></script>
<script>
window.logs = [];
class FakeTransport {
  constructor() {
    this.sent = []; this.at = new Map(); this.opens = []; this.failOpens = 0;
    this.joinRendered = null; this.isOpen = false;
  }
  open() {
    this.opens.push(performance.now());
    if (this.failOpens > 0) { this.failOpens--; return Promise.reject(new Error("server down")); }
    this.isOpen = true;
    return Promise.resolve();
  }
  send(text) {
    if (!this.isOpen) throw new Error("not open");
    const f = JSON.parse(text);
    this.sent.push(f);
    this.at.set(f.ref, performance.now());
    if (f.t === "join" && this.joinRendered) setTimeout(() => this.reply(f.ref, { rendered: this.joinRendered }), 0);
    if (f.t === "heartbeat" && !this.muteHeartbeat) setTimeout(() => this.reply(f.ref, {}), 0);
  }
  reply(ref, fields, status = "ok") {
    this.onmessage(JSON.stringify({ v: 1, t: "reply", ref, status, ...fields }));
  }
  push(frame) { this.onmessage(typeof frame === "string" ? frame : JSON.stringify({ v: 1, ...frame })); }
  drop() { this.isOpen = false; this.onclose({ reason: "test drop" }); }
  close() { this.isOpen = false; }
  events(name) { return this.sent.filter((f) => f.t === "event" && (name === undefined || f.event === name)); }
}
window.FakeTransport = FakeTransport;
// when the last input event happened (debounce checks: the frame must come that much later)
document.addEventListener("input", () => { window.lastInput = performance.now(); }, true);
window.hookLog = [];
HypeLive.hooks.Probe = {
  mounted() { hookLog.push(["mounted", this.el.id]); },
  updated() { hookLog.push(["updated", this.el.id]); },
  destroyed() { hookLog.push(["destroyed", this.el.id]); },
  disconnected() { hookLog.push(["disconnected", this.el.id]); },
  reconnected() { hookLog.push(["reconnected", this.el.id]); },
};
window.start = (rendered, options = {}) => {
  window.fake = new FakeTransport();
  fake.joinRendered = rendered;
  const root = document.getElementById("root");
  root.addEventListener("hype:error", (e) => logs.push(["hype:error", e.detail]));
  window.conn = new HypeLive.LiveConnection(root, fake, { path: "/t", session: "tok", ...options });
  return conn.connect().then(() => "joined", (e) => `refused ${e.code}`);
};
</script>
</body></html>
"""


class View:
    """A template rendered by the Python renderer: the join's render, then the diffs of new assigns."""

    def __init__(self, source: str, **assigns: Any) -> None:
        self.template = compile_template(source)
        self.assigns = assigns
        self.sent: set[int] = set()
        self.prev = render(self.template, assigns, EV)
        self.rendered = diff(None, self.prev, self.sent)

    def change(self, **assigns: Any) -> Any:
        self.assigns = {**self.assigns, **assigns}
        new = render(self.template, self.assigns, EV)
        d = diff(self.prev, new, self.sent)
        self.prev = new
        return d

    def rejoin(self) -> Any:
        """The render of a new connection (statics again)."""
        self.sent = set()
        return diff(None, self.prev, self.sent)


class LivePage:
    def __init__(self, page: Any) -> None:
        self.page = page
        self.console: list[str] = []
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    def start(self, view: View, **options: Any) -> None:
        assert self.page.evaluate("([r, o]) => start(r, o)", [view.rendered, options]) == "joined"

    def js(self, expr: str, arg: Any = None) -> Any:
        return self.page.evaluate(f"(arg) => {expr}", arg)

    def frames(self, t: str | None = None) -> list[dict[str, Any]]:
        frames: list[dict[str, Any]] = self.js("fake.sent")
        return [f for f in frames if t is None or f["t"] == t]

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        return [f for f in self.frames("event") if name is None or f["event"] == name]

    def wait_events(self, n: int, name: str | None = None) -> list[dict[str, Any]]:
        self.page.wait_for_function("([n, name]) => fake.events(name ?? undefined).length >= n", arg=[n, name])
        return self.events(name)

    def reply(self, ref: int, diff_: Any = None, **fields: Any) -> None:
        self.js("fake.reply(arg[0], arg[1])", [ref, {"diff": diff_, **fields}])

    def push(self, frame: Any) -> None:
        self.js("fake.push(arg)", frame)

    def html(self, selector: str = "#root") -> str:
        out: str = self.page.inner_html(selector)
        return out

    def classes(self, selector: str) -> list[str]:
        out: list[str] = self.js("[...document.querySelector(arg).classList]", selector)
        return out


@pytest.fixture
def live(browser: Any, server_url: str, dist_dir: Path) -> Iterator[LivePage]:
    context = browser.new_context()
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    page = context.new_page()
    page.route(f"{server_url}live-fixture.html",
               lambda route: route.fulfill(status=200, content_type="text/html", body=FIXTURE))
    page.goto(f"{server_url}live-fixture.html")
    page.wait_for_function("() => window.HypeLive && window.start")
    lp = LivePage(page)
    try:
        yield lp
    finally:
        context.close()


COUNTER = ('<div><h1>Count: {{ count }}</h1>'
           '<button id="inc" hype-on:click="inc" hype-value-step="2" hype-value-why="{{ why }}">+</button>'
           '<section hype-target="7"><button id="in-comp" hype-on:click="poke">poke</button></section></div>')


def test_join_click_payload_cid_loading_classes_and_reply_diff(live: LivePage) -> None:
    view = View(COUNTER, count=0, why="because")
    live.start(view)
    assert "Count: 0" in live.html() and "hype-connected" in live.classes("#root")
    join = live.frames("join")[0]
    assert join == {"v": 1, "t": "join", "ref": join["ref"], "path": "/t", "params": {}, "session": "tok"}
    live.page.click("#inc")
    (ev,) = live.wait_events(1)
    assert ev["event"] == "inc" and ev["payload"] == {"step": "2", "why": "because"} and "cid" not in ev
    assert {"hype-loading", "hype-click-loading"} <= set(live.classes("#inc"))
    # a server push while the event is in flight keeps the loading classes
    live.push({"t": "diff", "diff": view.change(why="pushed")})
    assert "hype-loading" in live.classes("#inc")
    assert live.js("document.querySelector('#inc').getAttribute('hype-value-why')") == "pushed"
    live.reply(ev["ref"], view.change(count=1))
    assert "Count: 1" in live.html()
    assert "hype-loading" not in live.classes("#inc") and "hype-click-loading" not in live.classes("#inc")
    live.page.click("#in-comp")
    (_, poke) = live.wait_events(2)
    assert poke["event"] == "poke" and poke["cid"] == 7
    assert not [c for c in live.console if "pageerror" in c]


FORM = ('<div><p id="msg">{{ msg }}</p>'
        '<input id="name" name="name" value="{{ name }}">'
        '<input id="other" name="other" value="{{ other }}">'
        '<textarea id="notes">{{ notes }}</textarea>'
        '<div id="ignored" hype-update="ignore">{{ msg }}</div></div>')


def test_focus_caret_and_user_values_survive_patches(live: LivePage) -> None:
    view = View(FORM, msg="m0", name="", other="", notes="")
    live.start(view)
    page = live.page
    page.click("#other")
    page.keyboard.type("typed elsewhere")
    page.click("#name")
    page.keyboard.type("hello world")
    live.js("document.querySelector('#name').setSelectionRange(2, 5)")
    live.js("document.querySelector('#ignored').textContent = 'client owned'")
    # the server re-renders the focused input (a stale echo) and the text around it
    live.push({"t": "diff", "diff": view.change(msg="m1", name="hel")})
    assert live.js("document.querySelector('#msg').textContent") == "m1"
    state = live.js("""(() => { const el = document.querySelector('#name');
        return [el.value, el.selectionStart, el.selectionEnd, document.activeElement === el]; })()""")
    assert state == ["hello world", 2, 5, True]
    assert live.js("document.querySelector('#other').value") == "typed elsewhere"  # server did not change it
    assert live.js("document.querySelector('#ignored').textContent") == "client owned"
    # a value the server changes wins on a control without focus
    live.push({"t": "diff", "diff": view.change(other="from server")})
    assert live.js("document.querySelector('#other').value") == "from server"
    # textarea: focus, caret and scroll position kept
    page.click("#notes")
    page.keyboard.type("line\n" * 40)
    live.js("(() => { const t = document.querySelector('#notes'); t.scrollTop = 60; t.setSelectionRange(7, 7); })()")
    before = live.js("document.querySelector('#notes').scrollTop")
    assert before > 0
    live.push({"t": "diff", "diff": view.change(msg="m2", notes="server text")})
    after = live.js("""(() => { const t = document.querySelector('#notes');
        return [t.value.startsWith('line'), t.selectionStart, t.scrollTop]; })()""")
    assert after == [True, 7, before]


KEYS = ('<div><input id="q" hype-on:keydown.enter.prevent="search" hype-on:keyup.escape="clear" '
        'hype-on:input.debounce.250ms="typed" value="">'
        '<div id="scroller" hype-on:mousemove.throttle.200ms="moved" style="width:200px;height:100px"></div></div>')


def test_key_filters_debounce_and_throttle(live: LivePage) -> None:
    live.start(View(KEYS))
    page = live.page
    page.click("#q")
    page.keyboard.type("abc", delay=20)
    (typed,) = live.wait_events(1, "typed")
    assert typed["payload"] == {"value": "abc"}
    assert live.js("fake.at.get(arg) - lastInput", typed["ref"]) >= 245  # 250 ms after the last keystroke
    page.wait_for_timeout(300)
    assert len(live.events("typed")) == 1
    page.keyboard.press("a")
    page.keyboard.press("Enter")
    (search,) = live.wait_events(1, "search")
    assert search["payload"]["key"] == "Enter" and search["payload"]["value"] == "abca"
    assert live.events("clear") == []
    page.keyboard.press("x")
    page.keyboard.press("Escape")
    live.wait_events(1, "clear")
    assert len(live.events("search")) == 1  # other keys do not match .enter
    box = page.locator("#scroller").bounding_box()
    for i in range(20):
        page.mouse.move(box["x"] + 5 + i * 5, box["y"] + 20)
        page.wait_for_timeout(15)
    page.wait_for_timeout(450)
    moves = live.events("moved")
    assert 2 <= len(moves) <= 10, len(moves)  # 20 moves: the first at once, then one per 200 ms
    times = [live.js("fake.at.get(arg)", m["ref"]) for m in moves]
    assert all(b - a >= 195 for a, b in itertools.pairwise(times)), times


MODEL = ('<form id="f" hype-on:submit="save">'
         '<input id="title" hype-model="title" value="{{ title }}">'
         '<input id="fast" hype-model="fast" hype-debounce="0">'
         '<input id="n" type="number" hype-model="n">'
         '<input id="ok" type="checkbox" hype-model="ok">'
         '<input type="radio" name="size" value="s" hype-model="size"><input id="m" type="radio" name="size" value="m" '
         'hype-model="size">'
         '<select id="tags" multiple hype-model="tags"><option>a</option><option>b</option><option>c</option></select>'
         '<input type="hidden" name="tag" value="x"><input type="hidden" name="tag" value="y">'
         '<button id="save" hype-disable-with="Saving...">Save</button></form>')


def test_hype_model_payloads(live: LivePage) -> None:
    live.start(View(MODEL, title="t"))
    page = live.page
    page.click("#title")
    page.keyboard.press("End")
    page.keyboard.type("itle", delay=10)
    (title,) = live.wait_events(1, "hype:model")
    assert title["payload"] == {"field": "title", "value": "title"}
    assert live.js("fake.at.get(arg) - lastInput", title["ref"]) >= 145  # debounced 150 ms
    page.fill("#fast", "x")
    page.fill("#n", "42.5")
    page.check("#ok")
    page.check("#m")
    page.select_option("#tags", ["a", "c"])
    evs = live.wait_events(6, "hype:model")
    got = {e["payload"]["field"]: e["payload"]["value"] for e in evs}
    assert got == {"title": "title", "fast": "x", "n": 42.5, "ok": True, "size": "m", "tags": ["a", "c"]}
    page.uncheck("#ok")
    evs = live.wait_events(7, "hype:model")
    assert evs[-1]["payload"] == {"field": "ok", "value": False}
    assert live.js("conn.formValues()") == {"title": "title", "fast": "x", "n": 42.5, "ok": False, "size": "m",
                                            "tags": ["a", "c"]}


def test_submit_payload_disable_with_and_flushing_models(live: LivePage) -> None:
    view = View(MODEL, title="")
    live.start(view)
    page = live.page
    page.fill("#title", "draft")  # an input event: debounced ...
    page.click("#save")  # ... and flushed before the submit
    evs = live.wait_events(2)
    assert [e["event"] for e in evs] == ["hype:model", "save"]
    save = evs[1]
    assert save["payload"] == {"tag": ["x", "y"]}  # FormData: named fields only, repeats as arrays
    button = live.js("(() => { const b = document.querySelector('#save'); return [b.disabled, b.textContent]; })()")
    assert button == [True, "Saving..."]
    assert "hype-submit-loading" in live.classes("#f")
    live.push({"t": "diff", "diff": view.change(title="server")})  # a push meanwhile: the button stays locked
    assert live.js("document.querySelector('#save').textContent") == "Saving..."
    live.reply(save["ref"], None)
    button = live.js("(() => { const b = document.querySelector('#save'); return [b.disabled, b.textContent]; })()")
    assert button == [False, "Save"] and "hype-loading" not in live.classes("#f")
    assert not page.url.endswith("?")  # the submit did not navigate


def test_crash_banner_error_replies_and_bad_frames(live: LivePage) -> None:
    view = View(COUNTER, count=3, why="")
    live.start(view)
    page = live.page
    page.click("#inc")
    (ev,) = live.wait_events(1)
    live.js("fake.reply(arg, {error: {code: 'UNKNOWN_EVENT', message: 'no inc here', hint: ''}}, 'error')", ev["ref"])
    assert live.js("logs") == [["hype:error", {"code": "UNKNOWN_EVENT", "message": "no inc here", "hint": ""}]]
    assert "hype-connected" in live.classes("#root") and "hype-loading" not in live.classes("#inc")
    # malformed frames are dropped without breaking the connection
    for bad in ["not json", "[]", '{"t": "diff", "diff": {"0": {"k": {"0": 99}}}}', '{"v": 2, "t": "diff"}',
                '{"t": "wat"}', '{"t": "redirect", "to": "javascript:alert(1)"}', '{"t": "diff", "diff": "x"}']:
        live.push(bad)
    assert "Count: 3" in live.html()
    live.push({"t": "diff", "diff": view.change(count=4)})
    assert "Count: 4" in live.html()
    # crash: a visible, dismissable banner and the re-mounted render
    fresh = View(COUNTER, count=0, why="")
    live.push({"t": "crash", "error": {"code": "VIEW_CRASHED", "message": "boom in handle_event"},
               "rendered": diff(None, fresh.prev, set())})
    banner = page.locator("#root > .hype-error-banner[role=alert]")
    assert banner.count() == 1 and "boom in handle_event" in banner.inner_text()
    assert "Count: 0" in live.html()
    view.prev, view.sent = fresh.prev, view.sent | fresh.sent
    live.push({"t": "diff", "diff": view.change(count=9)})  # patches keep the banner
    assert banner.count() == 1 and "Count: 9" in live.html()
    page.click("#root .hype-error-dismiss")
    assert banner.count() == 0
    assert not [c for c in live.console if "pageerror" in c]


HOOKS = ('<div>{% if on %}<canvas id="chart" hype-hook="Probe" data-v="{{ v }}"></canvas>{% end %}'
         '<p>{{ other }}</p><a id="next" hype-patch href="?page={{ page }}">next</a></div>')


def test_hooks_lifecycle_push_event_and_live_navigation(live: LivePage) -> None:
    view = View(HOOKS, on=True, v=1, other="a", page=2)
    live.start(view, history=True)
    assert live.js("hookLog") == [["mounted", "chart"]]
    live.push({"t": "diff", "diff": view.change(other="b")})  # not the hook's element
    live.push({"t": "diff", "diff": view.change(v=2)})
    assert live.js("hookLog") == [["mounted", "chart"], ["updated", "chart"]]
    promise = "conn._hooks.get(document.querySelector('#chart')).pushEvent('from-hook', {x: 1})"
    live.js(f"(window.p = {promise}, 0)")
    (ev,) = live.wait_events(1, "from-hook")
    live.reply(ev["ref"], None)
    assert live.js("p.then((r) => r.status)") == "ok"
    live.push({"t": "diff", "diff": view.change(on=False)})
    assert live.js("hookLog").pop() == ["destroyed", "chart"]
    live.page.click("#next")
    live.page.wait_for_function("() => fake.sent.some((f) => f.t === 'patch')")
    (patch,) = live.frames("patch")
    assert patch["url"].endswith("/live-fixture.html?page=2") and live.page.url.endswith("?page=2")
    live.reply(patch["ref"], view.change(page=3))
    assert live.js("document.querySelector('#next').getAttribute('href')") == "?page=3"
    live.push({"t": "patch", "to": "?page=7", "diff": view.change(other="patched")})
    assert live.page.url.endswith("?page=7") and "patched" in live.html()


def test_reconnect_with_backoff_resends_form_and_hooks_hear_it(live: LivePage) -> None:
    view = View('<div><input id="title" hype-model="title" value="{{ title }}"><span hype-hook="Probe" id="h">'
                '{{ title }}</span></div>', title="")
    live.start(view)
    page = live.page
    page.click("#title")
    page.keyboard.type("unsaved words")
    page.wait_for_timeout(20)  # still inside the model debounce: the server never heard it
    live.js("(fake.failOpens = 4, fake.joinRendered = arg, fake.drop())", view.rejoin())
    assert "hype-disconnected" in live.classes("#root")
    page.wait_for_function("() => conn.status === 'connected'", timeout=10_000)
    opens = live.js("fake.opens")
    gaps = [b - a for a, b in itertools.pairwise(opens[1:])]  # between reconnect attempts
    delays = live.js("conn.reconnectDelays")
    assert len(delays) == 5 and all(lo / 2 <= d <= lo for d, lo in zip(delays, [100, 200, 400, 800, 1600],
                                                                          strict=True)), delays
    assert gaps[-1] > gaps[0], gaps
    joins = live.frames("join")
    assert len(joins) == 2 and joins[1]["form"] == {"title": "unsaved words"} and joins[1]["session"] == "tok"
    assert live.js("document.querySelector('#title').value") == "unsaved words"
    assert live.js("hookLog") == [["mounted", "h"], ["disconnected", "h"], ["reconnected", "h"]]
    assert "hype-connected" in live.classes("#root")
    # a close frame also reconnects; a refused join stops with hype-error
    live.js("fake.joinRendered = null")
    live.push({"t": "close", "reason": "shutdown"})
    page.wait_for_function("() => fake.sent.filter((f) => f.t === 'join').length === 3")
    ref = live.frames("join")[-1]["ref"]
    live.js("fake.reply(arg, {error: {code: 'BAD_SESSION', message: 'expired'}}, 'error')", ref)
    assert "hype-error" in live.classes("#root") and live.js("conn.status") == "error"


def test_heartbeat_and_its_timeout(live: LivePage) -> None:
    live.start(View(COUNTER, count=0, why=""), heartbeatMs=100)
    page = live.page
    page.wait_for_function("() => fake.sent.filter((f) => f.t === 'heartbeat').length >= 3")
    assert live.js("conn.status") == "connected"
    live.js("fake.muteHeartbeat = true")
    page.wait_for_function("() => conn.reconnectDelays.length >= 1")  # unanswered: reconnect


def test_auto_connect_from_server_rendered_markup(live: LivePage, server_url: str) -> None:
    """data-hype-live elements connect by themselves over a WebSocket to data-hype-ws (ws: on http)."""
    page = live.page
    page.route(f"{server_url}auto.html", lambda route: route.fulfill(
        status=200, content_type="text/html",
        body='<div id="a" data-hype-live="/counter?x=1" data-hype-session="TOKEN" data-hype-ws="/_hype/live/ws">'
             '<h1>server html</h1></div><script src="hype-live.js"></script>'))
    page.add_init_script("""window.opened = []; window.WebSocket = class {
        constructor(url) {
            opened.push(url);
            this.readyState = 0;
            setTimeout(() => { this.readyState = 1; this.onopen(); }, 0);
        }
        send(text) { opened.push(JSON.parse(text)); }
        close() {}
    };""")
    page.goto(f"{server_url}auto.html")
    page.wait_for_function("() => window.opened.length >= 2")
    url, join = page.evaluate("window.opened")
    assert url == server_url.replace("http://", "ws://") + "_hype/live/ws"
    assert join["t"] == "join" and join["path"] == "/counter?x=1" and join["session"] == "TOKEN"
    assert page.evaluate("document.querySelector('#a').hypeLive.status") == "connecting"
    assert page.inner_text("#a") == "server html"  # untouched until the join's render arrives
