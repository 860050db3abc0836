"""live.app over a real uvicorn on 127.0.0.1: the page, the WebSocket protocol, reconnects,
a forged token, a server killed and restarted mid-session, Redis pub/sub across processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from hypelua import live
from hypelua.live._app import read_root
from hypelua.pm._server import running_in_thread
from hypelua.testing._servers import free_port, redis_server

ROOT = Path(__file__).resolve().parents[2]

COUNTER_MODULE = '''
from hypelua import live

class Counter(live.LiveView):
    template = ('<div><h1>Count: {{ count }}</h1><button hype-on:click="inc">+</button>'
                '<input hype-model="note" value="{{ note }}"></div>')
    def mount(self, params, session): self.assign(count=0, note="")
    def handle_event(self, event, payload):
        if event == "inc": self.assign(count=self.assigns["count"] + 1)

class Room(live.LiveView):
    template = '<ul>{% for m in msgs %}<li>{{ m }}</li>{% end %}</ul><button hype-on:click="say">s</button>'
    def mount(self, params, session):
        self.assign(msgs=[])
        if self.connected:
            live.subscribe("room")
    async def handle_event(self, event, payload): await live.broadcast("room", payload["text"])
    def handle_info(self, msg): self.assign(msgs=[*self.assigns["msgs"], msg])

app = live.app({"/": Counter, "/room": Room})
'''


class Counter(live.LiveView):
    template = '<div><h1>Count: {{ count }}</h1><button hype-on:click="inc">+</button></div>'

    def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.assign(count=int(params.get("start", 0)))

    def handle_event(self, event: str, payload: dict[str, Any]) -> None:
        self.assign(count=self.assigns["count"] + 1)


class WS:
    def __init__(self, conn: Any) -> None:
        self.conn, self.ref = conn, 0

    async def call(self, t: str, **fields: Any) -> dict[str, Any]:
        self.ref += 1
        await self.conn.send(json.dumps({"v": 1, "t": t, "ref": self.ref, **fields}))
        while True:
            frame = json.loads(await asyncio.wait_for(self.conn.recv(), 10))
            if frame.get("ref") == self.ref:
                return frame

    async def push(self) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.conn.recv(), 10))


@pytest.fixture
def server() -> Iterator[str]:
    app = live.app({"/": Counter, "/n/{start:int}": Counter}, title="Counter <demo>", dev=True)
    with running_in_thread(app, start_timeout_s=20.0, lifespan="on", access_log=False) as base:
        yield base


def test_page_then_websocket(server: str) -> None:
    page = httpx.get(server + "/?start=4").text
    assert "<h1>Count: 4</h1>" in page and "<title>Counter &lt;demo&gt;</title>" in page
    assert '<script src="/_hype/live.js"></script>' in page
    path, token, ws_path = read_root(page)

    async def main() -> None:
        async with websockets.connect(server.replace("http", "ws") + ws_path) as conn:
            ws = WS(conn)
            r = await ws.call("join", path=path, session=token, params={})
            assert r["status"] == "ok" and r["rendered"]["0"] == "4"
            r = await ws.call("event", event="inc", payload={})
            assert r["diff"] == {"0": "5"}
            await conn.send("garbage")
            assert (await ws.push())["error"]["code"] == "BAD_FRAME"
            await conn.send(json.dumps({"v": 9, "t": "event", "ref": 77}))
            assert (await ws.push())["error"]["code"] == "BAD_VERSION"
            r = await ws.call("event", event="nope", payload={})
            assert r["error"]["code"] == "UNKNOWN_EVENT"
            r = await ws.call("event", event="inc", payload={})
            assert r["diff"] == {"0": "6"}  # the session went on
        # reconnect with the same token: the state is still there (grace period)
        async with websockets.connect(server.replace("http", "ws") + ws_path) as conn:
            r = await WS(conn).call("join", path=path, session=token, params={})
            assert r["rendered"]["0"] == "6"
        sessions = httpx.get(server + "/_hype/live/sessions").json()
        assert sessions["count"] >= 1 and sessions["sessions"][0]["memory_bytes"] > 0

    asyncio.run(main())


def test_path_params_and_forged_tokens(server: str) -> None:
    page = httpx.get(server + "/n/41").text
    assert "Count: 41" in page
    path, token, ws_path = read_root(page)

    async def main() -> None:
        url = server.replace("http", "ws") + ws_path
        for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "x", None, 5):
            async with websockets.connect(url) as conn:
                r = await WS(conn).call("join", path=path, session=bad, params={})
                assert r["status"] == "error" and r["error"]["code"] == "BAD_SESSION"
        async with websockets.connect(url) as conn:  # a valid token for another path
            r = await WS(conn).call("join", path="/", session=token, params={})
            assert r["error"]["code"] == "NO_VIEW"
        async with websockets.connect(url) as conn:
            ws = WS(conn)
            r = await ws.call("event", event="inc", payload={})
            assert r["error"]["code"] == "NOT_JOINED"
            r = await ws.call("join", path=path, session=token, params={})
            assert r["rendered"]["0"] == "41"

    asyncio.run(main())


def _start(cwd: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "py")}
    env.pop("HYPE_SECRET_KEY", None)
    proc = subprocess.Popen([sys.executable, "-m", "hypelua", "serve", "app_mod:app", "--port", str(port),
                             "--log-level", "warning", *extra], cwd=cwd, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/_hype/live.js", timeout=1)
            return proc
        except httpx.TransportError:
            if proc.poll() is not None:
                raise RuntimeError("hype serve exited") from None
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("hype serve did not start")


def test_server_killed_and_restarted_restores_the_page(tmp_path: Path) -> None:
    (tmp_path / "app_mod.py").write_text(COUNTER_MODULE)
    port = free_port()
    proc = _start(tmp_path, port)
    try:
        base = f"http://127.0.0.1:{port}"
        path, token, ws_path = read_root(httpx.get(base + "/").text)

        async def session_one() -> None:
            async with websockets.connect(f"ws://127.0.0.1:{port}{ws_path}") as conn:
                ws = WS(conn)
                await ws.call("join", path=path, session=token, params={})
                for _ in range(3):
                    await ws.call("event", event="inc", payload={})
                r = await ws.call("event", event="hype:model", payload={"field": "note", "value": "typed <text>"})
                assert r["status"] == "ok"

        asyncio.run(session_one())
        time.sleep(0.3)  # snapshots are written in batches every 50 ms (SQLiteStore.flush_ms)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc = _start(tmp_path, port)

        async def session_two() -> None:
            async with websockets.connect(f"ws://127.0.0.1:{port}{ws_path}") as conn:
                r = await WS(conn).call("join", path=path, session=token, params={})
                assert r["status"] == "ok", r
                html = live.to_html(r["rendered"])
                assert "Count: 3" in html and 'value="typed &lt;text&gt;"' in html

        asyncio.run(session_two())
    finally:
        proc.kill()
        proc.wait(10)


@pytest.fixture
def redis_url() -> Iterator[str]:
    try:
        with redis_server() as url:
            yield url
    except FileNotFoundError as exc:
        if os.environ.get("HYPELUA_REQUIRE_DIST") == "1":
            pytest.fail(str(exc))
        pytest.skip(str(exc))


def test_redis_pubsub_across_two_servers(tmp_path: Path, redis_url: str) -> None:
    (tmp_path / "app_mod.py").write_text(COUNTER_MODULE)
    ports = [free_port(), free_port()]
    procs = [_start(tmp_path, p, "--pubsub", redis_url) for p in ports]
    try:
        async def main() -> None:
            conns, socks = [], []
            for port in ports:
                path, token, ws_path = read_root(httpx.get(f"http://127.0.0.1:{port}/room").text)
                conn = await websockets.connect(f"ws://127.0.0.1:{port}{ws_path}")
                socks.append(conn)
                ws = WS(conn)
                r = await ws.call("join", path=path, session=token, params={})
                assert r["status"] == "ok"
                conns.append(ws)
            await asyncio.sleep(0.3)  # the Redis SUBSCRIBE is asynchronous
            await conns[0].call("event", event="say", payload={"text": "from A"})
            for ws in conns:
                frame = await ws.push()
                while frame["t"] != "diff":
                    frame = await ws.push()
                assert "from A" in json.dumps(frame)
            for s in socks:
                await s.close()

        asyncio.run(main())
    finally:
        for p in procs:
            p.kill()
            p.wait(10)


def test_bad_pubsub_option_is_typed(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "py")}
    out = subprocess.run([sys.executable, "-m", "hypelua", "serve", "x:app", "--pubsub", "nats://x"],
                         cwd=tmp_path, capture_output=True, text=True, env=env)
    assert out.returncode == 1 and "BAD_OPTION" in out.stderr


class Tracked(live.LiveView):
    template = '<p>{{ n }}</p><button hype-on:click="inc">+</button>'
    terminated: list[str] = []  # noqa: RUF012 - shared by the test

    def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        self.assign(n=0)

    def handle_event(self, event: str, payload: dict[str, Any]) -> None:
        self.assign(n=self.assigns["n"] + 1)

    def terminate(self, reason: str) -> None:
        Tracked.terminated.append(reason)


def test_sessions_freed_after_the_grace_period_and_silent_sockets_closed() -> None:
    Tracked.terminated = []
    app = live.app({"/": Tracked}, dev=True, limits=live.Limits(grace_s=0.3, heartbeat_s=0.4))
    with running_in_thread(app, start_timeout_s=20.0, lifespan="on", access_log=False) as base:
        path, token, ws_path = read_root(httpx.get(base + "/").text)
        url = base.replace("http", "ws") + ws_path

        async def main() -> None:
            async with websockets.connect(url) as conn:
                ws = WS(conn)
                await ws.call("join", path=path, session=token)
                await ws.call("event", event="inc", payload={})
                assert httpx.get(base + "/_hype/live/sessions").json()["count"] == 1
            await asyncio.sleep(0.1)
            async with websockets.connect(url) as conn:  # back within the grace period: same state
                r = await WS(conn).call("join", path=path, session=token)
                assert r["rendered"]["0"] == "1"
                # say nothing: the server closes a silent socket after heartbeat_s
                with pytest.raises(websockets.ConnectionClosed):
                    await asyncio.wait_for(conn.recv(), 5)
            for _ in range(50):
                await asyncio.sleep(0.1)
                if httpx.get(base + "/_hype/live/sessions").json()["count"] == 0:
                    break
            assert httpx.get(base + "/_hype/live/sessions").json()["count"] == 0
            assert Tracked.terminated == ["timeout"]

        asyncio.run(main())


class FailsToMount(live.LiveView):
    template = "<p>{{ x }}</p>"

    def mount(self, params: dict[str, Any], session: dict[str, Any]) -> None:
        if self.connected:
            raise RuntimeError("no database")
        self.assign(x=1)


def test_a_view_failing_to_mount_on_join_is_an_error_reply_and_not_kept() -> None:
    app = live.app({"/": FailsToMount}, dev=True)
    with running_in_thread(app, start_timeout_s=20.0, lifespan="on", access_log=False) as base:
        path, token, ws_path = read_root(httpx.get(base + "/").text)

        async def main() -> None:
            async with websockets.connect(base.replace("http", "ws") + ws_path) as conn:
                ws = WS(conn)
                r = await ws.call("join", path=path, session=token)
                assert r["status"] == "error" and r["error"]["code"] == "VIEW_CRASHED"
                assert "no database" in r["error"]["message"] and "traceback" in r  # --dev
                r = await ws.call("heartbeat")  # the socket is still served
                assert r["status"] == "error" and r["error"]["code"] == "NOT_JOINED"
            assert httpx.get(base + "/_hype/live/sessions").json()["count"] == 0

        asyncio.run(main())
