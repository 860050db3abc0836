"""The JS connector's rendered-format state (web/src/live-render.mjs) against Python's renderer.

Random assigns drive ``render``/``diff`` in Python (as the server does); every diff goes
through the connector's ``applyDiff`` under Node (web/test/live_replay.mjs), and the
connector's ``toHtml`` must equal ``to_html`` of Python's fresh render at every step.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any, ClassVar

import pytest

from hypelua import live
from hypelua.live import PythonEvaluator, Session, apply, compile_template, diff, render, to_html

pytestmark = pytest.mark.node

ROOT = Path(__file__).resolve().parents[2]
REPLAY = ROOT / "web" / "test" / "live_replay.mjs"
EV = PythonEvaluator()

TEMPLATES = {
    "table": compile_template(
        '<table>{% for row in rows key row.id %}<tr id="r{{ row.id }}"><td>{{ row.name }}</td>'
        '<td>{% if row.done %}done{% else %}open{% end %}</td></tr>{% end %}</table>'
        '<p>{{ title }} {{ raw(html) }}</p>{% if count > 2 %}<b>{{ count }}</b>{% elif count %}<i>few</i>{% end %}'),
    "nested": compile_template(
        '<ul>{% for row in rows key row.id %}<li>{% if row.done %}<s>{{ row.name }}</s>'
        '{% for t in tags %}<em>{{ t }}</em>{% end %}{% else %}{{ row.name }}{% end %}</li>{% end %}</ul>'
        '{% if title %}<h1 title="{{ title }}">{{ title }}</h1>{% end %}'),
    "unkeyed": compile_template(
        '<ol>{% for t in tags %}<li>{{ t }}</li>{% end %}</ol><span>{{ count }}</span>'
        '{% for row in rows %}<i>{{ row.id }}</i>{% end %}'),
}

NAMES = ["", "a", "<b>&amp;", "é\u00e8 ñ", '"q"', "x" * 40, "\U0001f600", "it's"]


def _scope(rng: random.Random) -> dict[str, Any]:
    ids = rng.sample(range(30), rng.randint(0, 12))
    rows = [{"id": i, "name": rng.choice(NAMES), "done": rng.random() < 0.4} for i in ids]
    return {
        "rows": rows,
        "title": rng.choice(NAMES),
        "html": rng.choice(["", "<b>x</b>", "<br>"]),
        "count": rng.randint(0, 5),
        "tags": rng.sample(["red", "green", "<blue>", "ü"], rng.randint(0, 4)),
    }


def _mutate(rng: random.Random, scope: dict[str, Any]) -> dict[str, Any]:
    """A small change most of the time (one cell, a move, an insert), sometimes a fresh scope."""
    if rng.random() < 0.25:
        return _scope(rng)
    new = json.loads(json.dumps(scope))
    rows = new["rows"]
    op = rng.randrange(6)
    if op == 0 and rows:
        rng.choice(rows)["name"] = rng.choice(NAMES)
    elif op == 1 and rows:
        rng.shuffle(rows)
    elif op == 2:
        free = sorted(set(range(30)) - {r["id"] for r in rows})
        if free:
            rows.insert(rng.randint(0, len(rows)), {"id": rng.choice(free), "name": "new", "done": False})
    elif op == 3 and rows:
        rows.pop(rng.randrange(len(rows)))
    elif op == 4 and rows:
        r = rng.choice(rows)
        r["done"] = not r["done"]
    else:
        new["count"] = rng.randint(0, 5)
        new["title"] = rng.choice(NAMES)
    return new


def _replay(sequences: list[list[Any]]) -> list[Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    proc = subprocess.run([node, str(REPLAY)], input=json.dumps(sequences), capture_output=True, text=True,
                          timeout=120, cwd=ROOT, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result: list[Any] = json.loads(proc.stdout)
    return result


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_js_apply_equals_python_render_at_every_step(name: str) -> None:
    template = TEMPLATES[name]
    rng = random.Random(f"live-connector-{name}")
    sequences: list[list[Any]] = []
    expected: list[list[str]] = []
    for _ in range(150):
        sent: set[int] = set()
        client: dict[int, list[str]] = {}
        prev: dict[str, Any] | None = None
        state: Any = None
        scope = _scope(rng)
        diffs: list[Any] = []
        htmls: list[str] = []
        for _step in range(rng.randint(1, 8)):
            new = render(template, scope, EV)
            d = diff(prev, new, sent)
            diffs.append(json.loads(json.dumps(d)))  # exactly what the wire carries
            state = apply(state, d, client)
            html = to_html(new)
            assert to_html(state) == html  # Python's own client agrees
            htmls.append(html)
            prev = new
            scope = _mutate(rng, scope)
        sequences.append(diffs)
        expected.append(htmls)
    got = _replay(sequences)
    for i, (want, have) in enumerate(zip(expected, got, strict=True)):
        assert have == want, f"sequence {i}: {json.dumps(sequences[i])[:2000]}"


def test_bad_diffs_fail_inside_the_connector_not_with_a_crash() -> None:
    table = TEMPLATES["table"]
    first = diff(None, render(table, _scope(random.Random(1)), EV), set())
    got = _replay([[first, {"0": {"k": {"0": 99}}}], [{"0": "no root render"}], [first, {"f": 12345}]])
    for result in got:
        assert isinstance(result, dict) and result["error"].startswith("LiveFormatError"), result


def test_connector_unit_tests_under_node() -> None:
    """web/test/live.test.mjs (components, streams, malformed diffs, directive parsing)."""
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "morphdom").is_dir():
        pytest.skip("node or node_modules/morphdom missing (./build.sh deps)")
    proc = subprocess.run([node, "--test", "web/test/live.test.mjs"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


class Card(live.LiveComponent):
    template = ('<div class="card">{{ title }}: {{ clicks }}{% if clicks > 1 %}<b>many</b>{% end %}'
                '<button hype-on:click="click" hype-target="{{ myself }}">c</button></div>')

    def mount(self) -> None:
        self.assign(clicks=0)

    def handle_event(self, event: str, payload: dict[str, Any]) -> None:
        self.assign(clicks=self.assigns["clicks"] + 1)


badge = live.function_component('<span class="badge">{{ label }}</span>')


class Board(live.LiveView):
    """Components (shown or not), a function component, a stream and a keyed list."""

    template = ('{% if show %}{{ live_component(Card, id="a", title=title) }}{% end %}'
                '{{ live_component(Card, id="b", title="B") }}{{ badge(label=title) }}'
                '<ul>{% for m in streams.msgs key m.id %}<li id="m{{ m.id }}">{{ m.text }}</li>{% end %}</ul>'
                '<ol>{% for r in rows key r %}<li>{{ r }}</li>{% end %}</ol>')
    components: ClassVar[dict[str, Any]] = {"Card": Card, "badge": badge}
    events = ("toggle", "title", "add", "del", "edit", "rows", "boom")

    def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.stream("msgs", [{"id": 1, "text": "one"}])
        self.assign(show=True, title="T", next=2, rows=[1, 2, 3])

    def handle_event(self, event: str, payload: dict[str, Any]) -> None:
        if event == "toggle":
            self.assign(show=not self.assigns["show"])
        elif event == "title":
            self.assign(title=payload["v"])
        elif event == "add":
            self.stream_insert("msgs", {"id": self.assigns["next"], "text": payload["v"]}, at=payload["at"])
            self.assign(next=self.assigns["next"] + 1)
        elif event == "del":
            self.stream_delete("msgs", payload["id"])
        elif event == "edit":
            self.stream_insert("msgs", {"id": payload["id"], "text": payload["v"]})
        elif event == "rows":
            self.assign(rows=payload["rows"])
        elif event == "boom":
            raise RuntimeError("boom")


async def _drive(seed: int) -> tuple[list[Any], list[str]]:
    """One session under random events: the frames' diffs in order and the Python client's HTML after each."""
    rng = random.Random(seed)
    pushed: list[dict[str, Any]] = []
    session = Session(Board, push=pushed.append, path="/")
    items: list[Any] = []
    htmls: list[str] = []
    state: Any = None
    statics: dict[int, list[str]] = {}

    def take(item: Any) -> None:
        nonlocal state, statics
        item = json.loads(json.dumps(item))
        if isinstance(item, dict) and "$join" in item:
            statics = {}
            state = apply(None, item["$join"], statics)
        elif isinstance(item, dict) and "$crash" in item:
            state = apply(None, item["$crash"], statics)
        else:
            state = apply(state, item, statics)
        items.append(item)
        htmls.append(to_html(state))

    ref = 0
    for step in range(rng.randint(3, 14)):
        ref += 1
        if step == 0 or rng.random() < 0.06:  # a (re-)join: a fresh connection to the same Session
            reply = await session.handle({"v": 1, "t": "join", "ref": ref, "path": "/", "params": {}})
            assert reply is not None and reply["status"] == "ok", reply
            take({"$join": reply["rendered"]})
            continue
        kind = rng.choice(["toggle", "title", "add", "del", "edit", "rows", "click", "boom"])
        payload: dict[str, Any] = {}
        frame: dict[str, Any] = {"v": 1, "t": "event", "ref": ref, "event": kind, "payload": payload}
        if kind == "title":
            payload["v"] = rng.choice(NAMES)
        elif kind == "add":
            payload.update(v=rng.choice(NAMES), at=rng.choice([-1, 0]))
        elif kind in ("del", "edit"):
            payload.update(id=rng.randint(1, 6), v=rng.choice(NAMES))
        elif kind == "rows":
            payload["rows"] = rng.sample(range(8), rng.randint(0, 6))
        elif kind == "click":
            frame.update(event="click", cid=rng.choice([1, 2]))
        elif kind == "boom" and rng.random() < 0.5:
            continue
        reply = await session.handle(frame)
        assert reply is not None
        for f in pushed:
            if f["t"] == "crash":
                take({"$crash": f["rendered"]})
            elif f["t"] in ("diff", "patch") and f.get("diff") is not None:
                take(f["diff"])
        pushed.clear()
        if reply["status"] == "ok" and reply.get("diff") is not None:
            take(reply["diff"])
    await session.close("leave")
    return items, htmls


def test_js_client_follows_a_session_with_components_streams_and_crashes() -> None:
    runs = [asyncio.run(_drive(seed)) for seed in range(120)]
    got = _replay([items for items, _ in runs])
    for i, ((items, want), have) in enumerate(zip(runs, got, strict=True)):
        assert have == want, f"session {i}: {json.dumps(items)[:3000]}"


def test_rejoin_keeps_components() -> None:
    """A reconnect within the grace period re-joins the same Session: its render must be whole."""

    async def main() -> dict[str, Any]:
        session = Session(Board, push=lambda f: None, path="/")
        await session.handle({"v": 1, "t": "join", "ref": 1, "path": "/", "params": {}})
        reply = await session.handle({"v": 1, "t": "join", "ref": 2, "path": "/", "params": {}})
        assert reply is not None
        return reply

    rendered = asyncio.run(main())["rendered"]
    assert sorted(rendered.get("c", {})) == ["1", "2"]
