"""The protocol session (docs/live-protocol.md) driven directly, without a transport."""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

import pytest

from hypelua import live
from hypelua.live import Limits, LocalPubSub, MemoryStore, Session, apply, to_html

pytestmark = pytest.mark.anyio


class Counter(live.LiveView):
    template = '<div><h1>Count: {{ count }}</h1><button hype-on:click="inc">+</button></div>'

    def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.assign(count=int(params.get("start", 0)))

    def handle_event(self, event: str, payload: dict[str, Any]) -> None:
        if event == "inc":
            self.assign(count=self.assigns["count"] + 1)


class Client:
    """A protocol client keeping the materialised render like the JS connector."""

    def __init__(self, view: Any, **kw: Any) -> None:
        self.pushed: list[dict[str, Any]] = []
        self.session = Session(view, push=self.pushed.append, **kw)
        self.state: Any = None
        self.statics: dict[int, list[str]] = {}
        self.ref = 0

    async def send(self, t: str, **fields: Any) -> dict[str, Any]:
        self.ref += 1
        reply = await self.session.handle(json.dumps({"v": 1, "t": t, "ref": self.ref, **fields}))
        assert reply is not None and reply["ref"] == self.ref
        if reply["status"] == "ok":
            if "rendered" in reply:
                self.state = apply(None, reply["rendered"], self.statics)
            elif reply.get("diff") is not None:
                self.state = apply(self.state, reply["diff"], self.statics)
        return reply

    def apply_pushes(self) -> None:
        for frame in self.pushed:
            if frame["t"] in ("diff", "patch") and frame.get("diff") is not None:
                self.state = apply(self.state, frame["diff"], self.statics)
            elif frame["t"] == "crash":
                self.state = apply(None, frame["rendered"], self.statics)
        self.pushed.clear()

    @property
    def html(self) -> str:
        return to_html(self.state)


async def test_counter_join_event_diff() -> None:
    c = Client(Counter)
    r = await c.send("join", path="/?start=5", params={})
    assert r["status"] == "ok" and r["rendered"]["0"] == "5" and "s" in r["rendered"]
    assert c.html == '<div><h1>Count: 5</h1><button hype-on:click="inc">+</button></div>'
    r = await c.send("event", event="inc", payload={})
    assert r["diff"] == {"0": "6"}  # only the changed dynamic; no statics, no fingerprint
    assert len(json.dumps(r)) < 80
    assert "Count: 6" in c.html
    r = await c.send("heartbeat")
    assert r["status"] == "ok"


@pytest.mark.parametrize("frame,code", [
    ("not json", "BAD_FRAME"), ("[1, 2]", "BAD_FRAME"), ('{"v": 2, "t": "event", "ref": 1}', "BAD_VERSION"),
    ('{"v": 1, "t": "nope", "ref": 1}', "BAD_FRAME"), ('{"v": 1, "t": "event", "ref": "x"}', "BAD_FRAME"),
    ('{"v": 1, "t": "event", "ref": 1, "event": "inc"}', "NOT_JOINED"),
])
async def test_bad_frames_get_error_replies(frame: str, code: str) -> None:
    s = Session(Counter, push=lambda f: None)
    reply = await s.handle(frame)
    assert reply is not None and reply["status"] == "error" and reply["error"]["code"] == code
    if code == "BAD_VERSION":
        assert reply["versions"] == [1]


async def test_session_survives_bad_input_after_join() -> None:
    c = Client(Counter, limits=Limits(max_frame=200))
    await c.send("join", path="/")
    assert (await c.session.handle("x" * 300))["error"]["code"] == "FRAME_TOO_LARGE"
    assert (await c.send("event", event="nope", payload={}))["error"]["code"] == "UNKNOWN_EVENT"
    assert (await c.send("event", event="inc", payload=[1]))["error"]["code"] == "BAD_PAYLOAD"
    assert (await c.send("event", event="", payload={}))["error"]["code"] == "BAD_FRAME"
    assert (await c.send("event", event="inc", payload={}, cid=99))["error"]["code"] == "BAD_FRAME"
    r = await c.send("event", event="inc", payload={})
    assert r["status"] == "ok" and "Count: 1" in c.html


async def test_rate_limit() -> None:
    c = Client(Counter, limits=Limits(rate=1, burst=3))
    await c.send("join", path="/")
    codes = [(await c.send("event", event="inc", payload={}))["status"] for _ in range(5)]
    assert codes[:3] == ["ok"] * 3 and codes[3:] == ["error", "error"]
    r = await c.send("heartbeat")
    assert r["status"] == "ok"  # heartbeats are not rate limited


class Crashy(live.LiveView):
    template = '<p>{{ n }}</p><button hype-on:click="boom">x</button><button hype-on:click="inc">+</button>'

    def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.assign(n=0)

    def handle_event(self, event: str, payload: dict[str, Any]) -> None:
        if event == "boom":
            raise RuntimeError("kaboom")
        self.assign(n=self.assigns["n"] + 1)


async def test_crash_remounts_and_reports() -> None:
    c = Client(Crashy)
    other = Client(Crashy)
    await c.send("join", path="/")
    await other.send("join", path="/")
    await c.send("event", event="inc", payload={})
    await other.send("event", event="inc", payload={})
    r = await c.send("event", event="boom", payload={})
    assert r["status"] == "error" and r["error"]["code"] == "VIEW_CRASHED" and "kaboom" in r["error"]["message"]
    assert [f["t"] for f in c.pushed] == ["crash"]
    c.apply_pushes()
    assert c.html.startswith("<p>0</p>")  # fresh mount
    r = await c.send("event", event="inc", payload={})
    assert r["status"] == "ok" and c.html.startswith("<p>1</p>")
    assert other.html.startswith("<p>1</p>")  # other sessions unaffected


class Table(live.LiveView):
    template = ('<table>{% for row in rows key row.id %}<tr id="r{{ row.id }}"><td>{{ row.name }}</td>'
                '<td>{{ row.v }}</td></tr>{% end %}</table><p>{{ title }}</p>')
    events = ("set",)

    def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.assign(rows=[{"id": i, "name": f"row {i}", "v": i} for i in range(200)], title="t")

    def handle_event(self, event: str, payload: dict[str, Any]) -> None:
        rows = self.assigns["rows"]
        rows[payload["i"]] = {**rows[payload["i"]], "v": payload["v"]}
        self.assign(rows=rows)


async def test_one_cell_change_in_200_rows_is_small() -> None:
    c = Client(Table)
    r = await c.send("join", path="/")
    assert len(json.dumps(r)) > 5_000
    r = await c.send("event", event="set", payload={"i": 17, "v": "changed"})
    wire = json.dumps(r, separators=(",", ":"))
    assert len(wire) <= 300, wire
    assert r["diff"] == {"0": {"k": {"17": {"2": "changed"}}}}
    assert '<tr id="r17"><td>row 17</td><td>changed</td></tr>' in c.html


class ChangeTracked(live.LiveView):
    template = "<p>{{ probe('a', a) }}</p><p>{{ probe('b', b) }}</p>"
    events = ("a",)
    calls: ClassVar[list[str]] = []

    def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.assign(a=1, b=1, probe=self.probe)

    def probe(self, name: str, value: Any) -> Any:
        self.calls.append(name)
        return value

    def handle_event(self, event: str, payload: dict[str, Any]) -> None:
        self.assign(a=self.assigns["a"] + 1, b=self.assigns["b"])  # b assigned the same value


async def test_change_tracking_skips_unchanged_parts() -> None:
    ChangeTracked.calls = []
    c = Client(ChangeTracked)
    await c.send("join", path="/")
    assert sorted(ChangeTracked.calls) == ["a", "b"]
    ChangeTracked.calls.clear()
    r = await c.send("event", event="a", payload={})
    assert ChangeTracked.calls == ["a"] and r["diff"] == {"0": "2"}


class Card(live.LiveComponent):
    template = '<div class="card">{{ title }}: {{ clicks }}<button hype-on:click="click" hype-target="{{ myself }}">' \
               'c</button></div>'

    def mount(self) -> None:
        self.assign(clicks=0)

    def handle_event(self, event: str, payload: dict[str, Any]) -> None:
        self.assign(clicks=self.assigns["clicks"] + 1)


badge = live.function_component('<span class="badge">{{ label }}</span>')


class WithComponents(live.LiveView):
    template = '{{ live_component(Card, id="c1", title=title) }}{{ badge(label=title) }}<i>{{ n }}</i>'
    components: ClassVar[dict[str, Any]] = {"Card": Card, "badge": badge}
    events = ("rename", "n")

    def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.assign(title="A", n=0)

    def handle_event(self, event: str, payload: dict[str, Any]) -> None:
        if event == "rename":
            self.assign(title=payload["title"])
        else:
            self.assign(n=self.assigns["n"] + 1)


async def test_stateful_and_function_components() -> None:
    c = Client(WithComponents)
    r = await c.send("join", path="/")
    assert r["rendered"]["0"] == 1 and "1" in r["rendered"]["c"]
    assert c.html.startswith('<div class="card">A: 0<button') and '<span class="badge">A</span>' in c.html
    r = await c.send("event", event="click", payload={}, cid=1)
    assert r["diff"] == {"c": {"1": {"1": "1"}}}
    assert "A: 1" in c.html
    r = await c.send("event", event="rename", payload={"title": "B"})
    assert "B: 1" in c.html and '<span class="badge">B</span>' in c.html  # component state kept
    r = await c.send("event", event="n", payload={})
    assert r["diff"] == {"2": "1"}


class Feed(live.LiveView):
    template = '<ul>{% for m in streams.msgs key m.id %}<li id="m{{ m.id }}">{{ m.text }}</li>{% end %}</ul>'
    events = ("add", "del", "edit")

    def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.stream("msgs", [{"id": 1, "text": "one"}, {"id": 2, "text": "two"}])
        self.assign(next=3)

    def handle_event(self, event: str, payload: dict[str, Any]) -> None:
        if event == "add":
            self.stream_insert("msgs", {"id": self.assigns["next"], "text": payload["text"]}, at=payload.get("at", -1))
            self.assign(next=self.assigns["next"] + 1)
        elif event == "del":
            self.stream_delete("msgs", payload["id"])
        else:
            self.stream_insert("msgs", {"id": payload["id"], "text": payload["text"]})


async def test_streams_send_only_new_items() -> None:
    c = Client(Feed)
    await c.send("join", path="/")
    assert c.html == '<ul><li id="m1">one</li><li id="m2">two</li></ul>'
    r = await c.send("event", event="add", payload={"text": "three"})
    assert "one" not in json.dumps(r)  # the server does not resend kept items
    assert c.html.endswith('<li id="m3">three</li></ul>')
    await c.send("event", event="add", payload={"text": "zero", "at": 0})
    assert c.html.startswith('<ul><li id="m4">zero</li><li id="m1">')
    await c.send("event", event="del", payload={"id": 1})
    await c.send("event", event="edit", payload={"id": 2, "text": "TWO"})
    assert c.html == '<ul><li id="m4">zero</li><li id="m2">TWO</li><li id="m3">three</li></ul>'
    assert (await c.send("event", event="del", payload={"id": 99}))["status"] == "ok"
    assert "streams" not in c.session.view._lv_snapshot()


class Form(live.LiveView):
    template = ('<form hype-on:submit="save"><input hype-model="name" value="{{ name }}">'
                '<span class="err">{{ errors.get("name", "") }}</span>'
                '<input hype-model="age" value="{{ age }}"><span class="err">{{ errors.get("age", "") }}</span>'
                '</form><p>{{ saved }}</p>')
    schema: ClassVar[dict[str, Any]] = {"type": "object", "required": ["name"],
              "properties": {"name": {"type": "string", "minLength": 2}, "age": {"type": "integer", "minimum": 0}}}

    def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.assign(name="", age="", errors={}, saved="")

    def handle_event(self, event: str, payload: dict[str, Any]) -> None:
        if not self.validate({k: v for k, v in payload.items() if v != ""}):
            self.assign(saved=f"saved {payload['name']}")


async def test_model_binding_and_json_schema_errors() -> None:
    c = Client(Form)
    await c.send("join", path="/")
    await c.send("event", event="hype:model", payload={"field": "name", "value": "A"})
    assert c.session.view.assigns["name"] == "A"
    assert "should be non-empty" in c.html or "is too short" in c.html
    await c.send("event", event="hype:model", payload={"field": "age", "value": "-3"})
    assert c.session.view.assigns["age"] == -3 and "minimum" in c.html
    await c.send("event", event="hype:model", payload={"field": "name", "value": "Ann"})
    await c.send("event", event="hype:model", payload={"field": "age", "value": "7"})
    assert c.html.count('class="err"></span>') == 2
    r = await c.send("event", event="save", payload={"name": "", "age": "1"})
    assert "is required" in c.html and r["status"] == "ok"
    await c.send("event", event="save", payload={"name": "Bob", "age": "1"})
    assert "<p>saved Bob</p>" in c.html
    bad = await c.send("event", event="hype:model", payload={"field": "__class__", "value": 1})
    assert bad["error"]["code"] == "BAD_PAYLOAD"


async def test_snapshot_restores_assigns_on_a_new_session() -> None:
    store = MemoryStore()
    c = Client(Counter, sid="s1", store=store)
    await c.send("join", path="/")
    for _ in range(3):
        await c.send("event", event="inc", payload={})
    await asyncio.sleep(0)  # the snapshot is saved just after the reply
    again = Client(Counter, sid="s1", store=store)  # e.g. after a server restart
    await again.send("join", path="/")
    assert "Count: 3" in again.html
    assert (await again.session.handle({"v": 1, "t": "leave", "ref": 9})) is None
    assert store.load("s1") is None


class Chat(live.LiveView):
    template = '<ul>{% for m in msgs %}<li>{{ m }}</li>{% end %}</ul><button hype-on:click="say">s</button>'

    def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.assign(msgs=[])
        live.subscribe("room")

    def handle_event(self, event: str, payload: dict[str, Any]) -> Any:
        return self.broadcast("room", payload["text"])

    def handle_info(self, msg: Any) -> None:
        self.assign(msgs=[*self.assigns["msgs"], msg])


async def test_pubsub_reaches_every_subscribed_view() -> None:
    ps = LocalPubSub()
    a, b = Client(Chat, pubsub=ps), Client(Chat, pubsub=ps)
    await a.send("join", path="/")
    await b.send("join", path="/")
    await a.send("event", event="say", payload={"text": "hi <b>"})
    for _ in range(20):
        await asyncio.sleep(0.01)
        if a.pushed and b.pushed:
            break
    a.apply_pushes()
    b.apply_pushes()
    assert "<li>hi &lt;b&gt;</li>" in a.html and "<li>hi &lt;b&gt;</li>" in b.html
    await b.session.close("leave")
    assert ps.subscribers("room") == 1
    await a.session.close("leave")
    assert ps.subscribers("room") == 0


class Pager(live.LiveView):
    template = '<p>page {{ page }}</p><button hype-on:click="next">n</button><button hype-on:click="away">a</button>'

    def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.assign(page=1)

    def handle_params(self, params: dict[str, Any], uri: str) -> None:
        self.assign(page=int(params.get("page", 1)))

    def handle_event(self, event: str, payload: dict[str, Any]) -> None:
        if event == "next":
            self.push_patch(f"/?page={self.assigns['page'] + 1}")
        else:
            self.push_redirect("/elsewhere")


async def test_patch_and_redirect() -> None:
    c = Client(Pager)
    await c.send("join", path="/?page=3")
    assert "page 3" in c.html
    r = await c.send("patch", url="/?page=7")
    assert r["diff"] == {"0": "7"}
    c.state = apply(c.state, r["diff"], c.statics)
    await c.send("event", event="next", payload={})
    assert c.pushed[0]["t"] == "patch" and c.pushed[0]["to"] == "/?page=8"
    c.apply_pushes()
    assert "page 8" in c.html
    await c.send("event", event="away", payload={})
    assert c.pushed == [{"v": 1, "t": "redirect", "to": "/elsewhere"}]


async def test_rejoin_sends_components_the_view_did_not_re_render() -> None:
    c = Client(WithComponents)
    await c.send("join", path="/")
    await c.send("event", event="click", payload={}, cid=1)
    again = Client(WithComponents)
    again.session = c.session  # a reconnect: the same session, a new client
    r = await again.send("join", path="/")
    assert "1" in r["rendered"]["c"] and again.html.startswith('<div class="card">A: 1<button')
