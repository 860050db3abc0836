"""LiveView end to end over WebSocket: live.app on a real uvicorn, the connector
(/_hype/live.js, built by ./build.sh dist) in headless Chromium.

Counter, a todo form validated with JSON Schema, a 200-row table, focus and caret kept in a
typed-in input across patches, a server stopped and started again (the page reconnects and
comes back as the user left it), two browsers on one pub/sub topic.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from hypelua import live
from hypelua.live._app import connector_path

ACTION_MS = 15_000


class Counter(live.LiveView):
    template = ('<div><h1 id="count">Count: {{ count }}</h1><button id="inc" hype-on:click="inc">+</button>'
                '<input id="note" hype-model="note" value="{{ note }}"><p id="echo">{{ note }}</p></div>')

    def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.assign(count=0, note="")

    def handle_event(self, event: str, payload: dict[str, Any]) -> None:
        if event == "inc":
            self.assign(count=self.assigns["count"] + 1)


class Todos(live.LiveView):
    template = ('<form id="f" hype-on:submit.prevent="add"><input id="title" name="title" hype-model="title" '
                'value="{{ title }}"><span id="err">{{ errors.get("title", "") }}</span>'
                '<button id="add" type="submit">Add</button></form>'
                '<ul id="list">{% for t in todos key t.id %}<li id="t{{ t.id }}">{{ t.title }}</li>{% end %}</ul>')
    schema: ClassVar[dict[str, Any]] = {"type": "object", "required": ["title"],
                                        "properties": {"title": {"type": "string", "minLength": 3}}}

    def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.assign(todos=[], title="", errors={})
        if self.connected:
            live.subscribe("todos")

    async def handle_event(self, event: str, payload: dict[str, Any]) -> None:
        if not self.validate({"title": payload.get("title", "")}):
            await self.broadcast("todos", payload["title"])
            self.assign(title="")

    def handle_info(self, msg: Any) -> None:
        todos = self.assigns["todos"]
        self.assign(todos=[*todos, {"id": len(todos) + 1, "title": msg}])


class Table(live.LiveView):
    template = ('<table id="tbl">{% for row in rows key row.id %}<tr id="r{{ row.id }}"><td>{{ row.name }}</td>'
                '<td class="v">{{ row.v }}</td><td><button hype-on:click="bump" hype-value-i="{{ row.id }}">+'
                '</button></td></tr>{% end %}</table>')

    def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.assign(rows=[{"id": i, "name": f"row {i}", "v": 0} for i in range(200)])

    def handle_event(self, event: str, payload: dict[str, Any]) -> None:
        rows = self.assigns["rows"]
        i = int(payload["i"])
        rows[i] = {**rows[i], "v": rows[i]["v"] + 1}
        self.assign(rows=rows)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """live.app on uvicorn in a thread, on a fixed port, so it can be stopped and started again."""

    def __init__(self, store: Path) -> None:
        self.port = _free_port()
        self.store = store
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self, secret_key: str = "playwright") -> None:
        import uvicorn

        app = live.app({"/": Counter, "/todos": Todos, "/table": Table}, secret_key=secret_key,
                       snapshot_store=str(self.store))
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                     lifespan="on"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        assert self._thread is not None
        self._thread.join(20)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, dist_dir: Path) -> Iterator[Server]:
    if connector_path() is None:
        pytest.fail("hype-live.js is not built (./build.sh dist)")
    s = Server(tmp_path_factory.mktemp("live") / "snapshots.db")
    s.start()
    yield s
    s.stop()


def _open(browser: Any, url: str) -> Any:
    context = browser.new_context()
    context.set_default_timeout(ACTION_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_selector("[data-hype-live].hype-connected")
    page.errors = errors  # type: ignore[attr-defined]
    return page


def test_counter_and_focus_kept(browser: Any, server: Server) -> None:
    page = _open(browser, server.url + "/")
    assert page.inner_text("#count") == "Count: 0"
    page.click("#inc")
    page.click("#inc")
    page.wait_for_function("() => document.querySelector('#count').textContent === 'Count: 2'")
    page.click("#note")
    page.keyboard.type("hello world", delay=20)
    page.wait_for_function("() => document.querySelector('#echo').textContent === 'hello world'")
    state = page.evaluate("() => ({ focused: document.activeElement.id, value: document.activeElement.value, "
                          "caret: document.activeElement.selectionStart })")
    assert state == {"focused": "note", "value": "hello world", "caret": 11}
    page.click("#inc")  # a patch while the input keeps its value
    page.wait_for_function("() => document.querySelector('#count').textContent === 'Count: 3'")
    assert page.input_value("#note") == "hello world"
    assert page.errors == []  # type: ignore[attr-defined]
    page.context.close()


def test_reconnect_after_a_server_restart_restores_the_page(browser: Any, server: Server) -> None:
    page = _open(browser, server.url + "/")
    for _ in range(4):
        page.click("#inc")
    page.click("#note")
    page.keyboard.type("draft", delay=20)
    page.wait_for_function("() => document.querySelector('#echo').textContent === 'draft'")
    time.sleep(0.3)  # snapshots are written every 50 ms
    server.stop()
    page.wait_for_selector("[data-hype-live].hype-disconnected")
    server.start()
    page.wait_for_selector("[data-hype-live].hype-connected", timeout=30_000)
    page.wait_for_function("() => document.querySelector('#count').textContent === 'Count: 4'")
    assert page.input_value("#note") == "draft"
    page.click("#inc")
    page.wait_for_function("() => document.querySelector('#count').textContent === 'Count: 5'")
    page.context.close()


def test_todo_form_validation_and_two_browsers_on_one_topic(browser: Any, server: Server) -> None:
    a = _open(browser, server.url + "/todos")
    b = _open(browser, server.url + "/todos")
    a.fill("#title", "ab")
    a.click("#add")
    a.wait_for_function("() => document.querySelector('#err').textContent.includes('short')")
    a.fill("#title", "buy milk")
    a.click("#add")
    for page in (a, b):
        page.wait_for_selector("#list li#t1")
        assert page.inner_text("#list li#t1") == "buy milk"
    a.wait_for_function("() => document.querySelector('#err').textContent === ''")
    a.context.close()
    b.context.close()


def test_200_row_table_one_cell(browser: Any, server: Server) -> None:
    page = _open(browser, server.url + "/table")
    assert page.locator("#tbl tr").count() == 200
    page.click("#r117 button")
    page.wait_for_function("() => document.querySelector('#r117 .v').textContent === '1'")
    assert page.inner_text("#r116 .v") == "0"
    page.context.close()


CHAT_APP = '''
from hypelua import live

class Chat(live.LiveView):
    template = ('<form id="f" hype-on:submit.prevent="say"><input id="msg" name="text">'
                '<button id="send" type="submit">send</button></form>'
                '<ul id="log">{% for m in msgs %}<li>{{ m }}</li>{% end %}</ul><p id="pid">{{ pid }}</p>')

    def mount(self, params, session):
        import os
        self.assign(msgs=[], pid=os.getpid())
        if self.connected:
            live.subscribe("chat")

    async def handle_event(self, event, payload):
        await live.broadcast("chat", payload["text"])

    def handle_info(self, msg):
        self.assign(msgs=[*self.assigns["msgs"], msg])

app = live.app({"/": Chat})
'''


def test_two_browsers_across_workers_and_nodes_through_redis(browser: Any, tmp_path: Path,
                                                            dist_dir: Path) -> None:
    """Node A runs ``--workers 2``, node B one worker; both on one Redis. (Which worker of A
    accepts a connection is the kernel's choice, so the processes are told apart by pid.)"""
    from hypelua.testing._servers import hype_serve, redis_server

    (tmp_path / "chat_app.py").write_text(CHAT_APP)
    with redis_server() as redis_url, \
            hype_serve("chat_app:app", tmp_path, "--workers", "2", "--pubsub", redis_url) as node_a, \
            hype_serve("chat_app:app", tmp_path, "--pubsub", redis_url) as node_b:
        pages = [_open(browser, node_a + "/"), _open(browser, node_a + "/"), _open(browser, node_b + "/")]
        pids = [p.inner_text("#pid") for p in pages]
        assert pids[2] not in pids[:2]  # node B is another process than node A's workers
        a, b = pages[0], pages[2]
        a.fill("#msg", "hello from A")
        a.click("#send")
        for page in pages:
            page.wait_for_function("() => document.querySelector('#log').textContent.includes('hello from A')")
        b.fill("#msg", "and B")
        b.click("#send")
        for page in pages:
            page.wait_for_function("() => document.querySelector('#log').textContent.includes('and B')")
        for p in pages:
            p.context.close()


class Crashy(live.LiveView):
    template = '<p id="n">{{ n }}</p><button id="cinc" hype-on:click="inc">+</button>' \
               '<button id="boom" hype-on:click="boom">boom</button>'

    def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.assign(n=0)

    def handle_event(self, event: str, payload: dict[str, Any]) -> None:
        if event == "boom":
            raise RuntimeError("kaboom on the server")
        self.assign(n=self.assigns["n"] + 1)


def test_crash_shows_an_error_and_remounts_other_sessions_unaffected(browser: Any, tmp_path: Path,
                                                                      dist_dir: Path) -> None:
    from hypelua.pm._server import running_in_thread

    app = live.app({"/": Crashy})
    with running_in_thread(app, start_timeout_s=20.0, lifespan="on", access_log=False) as base:
        a, b = _open(browser, base + "/"), _open(browser, base + "/")
        for page in (a, b):
            page.click("#cinc")
            page.wait_for_function("() => document.querySelector('#n').textContent === '1'")
        a.click("#boom")
        a.wait_for_selector(".hype-error-banner")
        assert "kaboom on the server" in a.inner_text(".hype-error-banner")
        a.wait_for_function("() => document.querySelector('#n').textContent === '0'")  # re-mounted
        a.click("#cinc")
        a.wait_for_function("() => document.querySelector('#n').textContent === '1'")
        b.click("#cinc")
        b.wait_for_function("() => document.querySelector('#n').textContent === '2'")  # untouched
        a.context.close()
        b.context.close()


def test_a_stale_session_token_reloads_the_page(browser: Any, server: Server) -> None:
    page = _open(browser, server.url + "/")
    page.click("#inc")
    page.wait_for_function("() => document.querySelector('#count').textContent === 'Count: 1'")
    page.evaluate("() => { window.beforeReload = true; }")
    server.stop()
    page.wait_for_selector("[data-hype-live].hype-disconnected")
    server.start(secret_key="a new key")  # old tokens are refused (BAD_SESSION) -> reload for a fresh one
    try:
        page.wait_for_function("() => window.beforeReload === undefined", timeout=30_000)
        page.wait_for_selector("[data-hype-live].hype-connected")
        assert page.inner_text("#count") == "Count: 0"  # a fresh session (the old one cannot be proven ours)
        page.click("#inc")
        page.wait_for_function("() => document.querySelector('#count').textContent === 'Count: 1'")
    finally:
        server.stop()
        server.start()
        page.context.close()
