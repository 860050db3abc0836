"""``hype serve``: real server processes on 127.0.0.1 (uvicorn), httpx and the websockets client.

Each test starts ``python -m hypelua serve ...`` in its own session, polls until it
answers, and the fixture kills the whole process group afterwards whatever happens.
Times are generous (2 noisy cores): nothing asserts a duration.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0

STARLETTE_APP = '''
import asyncio, os
from pathlib import Path
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute

MESSAGE = "v1"

async def hello(request):
    return PlainTextResponse(f"{MESSAGE} {os.getpid()}")

async def boom(request):
    raise RuntimeError("boom")

async def slow(request):
    Path("slow-started").write_text("1")
    await asyncio.sleep(1.0)
    return PlainTextResponse("slow done")

async def echo(websocket):
    await websocket.accept()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            Path("ws-disconnect").write_text(str(message.get("code")))
            return
        await websocket.send_text("echo: " + message.get("text", ""))

app = Starlette(routes=[Route("/", hello), Route("/boom", boom), Route("/slow", slow), WebSocketRoute("/ws", echo)])
'''

LUA_APP = '''
local http = require("hype.http")
local app = http.app()
local MESSAGE = "v1"
local worker = string.format("%d", math.random(1, 1 << 30))  -- one Lua VM per worker

local function touch(name, text)
  local f = assert(io.open(name, "w")); f:write(text); f:close()
end

app:get("/", function(req, res) res:send(MESSAGE .. " " .. worker) end)

app:get("/boom", function(req, res) error("boom") end)

local counter = storage.table("counter")
app:post("/count", function(req, res)
  storage.transaction(function() counter.n = (counter.n or 0) + 1 end)
  res:send(tostring(counter.n) .. " " .. worker)
end)

app:get("/slow", function(req, res)
  touch("slow-started", "1")
  await(Promise.new(function(resolve) setTimeout(resolve, 1000) end))
  res:send("slow done")
end)

app:ws("/ws", function(ws, req)
  ws:on("message", function(m) ws:send("echo: " .. m) end)
  ws:on("close", function(code) touch("ws-disconnect", tostring(code)) end)
end)

return app
'''

#: the same app twice: ``GET /`` answers "v1 <worker identity>", ``/slow`` sleeps 1 s, ``/ws`` echoes
APPS = {"py": ("myapp:app", "myapp.py", STARLETTE_APP), "lua": ("app.lua", "app.lua", LUA_APP)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One ``hype serve`` process (its own session: killpg reaches the workers)."""

    def __init__(self, cwd: Path, app: str, *args: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / f"serve-{self.port}.log"
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "py"), os.environ.get("PYTHONPATH", "")]))
        lib = REPO / "build" / "native" / "libhypelua_lua54.so"
        if lib.is_file():
            env.setdefault("HYPE_LUA_LIBRARY", str(lib))
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hypelua", "serve", app, "--port", str(self.port), *args],
                cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, path: str = "/") -> httpx.Response:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"hype serve exited with {self.proc.returncode}:\n{self.output()}")
            try:
                return httpx.get(self.url + path, timeout=5)
            except httpx.TransportError:
                time.sleep(0.1)
        pytest.fail(f"hype serve did not answer within {START_TIMEOUT_S} s:\n{self.output()}")

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM the server; return its exit status."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill_all(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def children(self) -> set[int]:
        """Worker pids: spawned children of the supervisor (not multiprocessing's resource tracker)."""
        pids = set()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            state = stat.rsplit(")", 1)[1].split()[0]
            if ppid == self.proc.pid and state != "Z" and b"spawn_main" in cmdline:
                pids.add(int(entry))
        return pids


@pytest.fixture(params=sorted(APPS))
def kind(request: pytest.FixtureRequest) -> str:
    """``py`` (a Starlette app as ``myapp:app``) or ``lua`` (``app.lua``)."""
    return str(request.param)


@pytest.fixture
def start(tmp_path: Path, kind: str) -> Iterator[Callable[..., Server]]:
    """``start(*options)``: ``hype serve`` of the ``kind`` app in ``tmp_path``; killed at teardown."""
    servers: list[Server] = []
    app, name, source = APPS[kind]

    def _start(*args: str) -> Server:
        (tmp_path / name).write_text(textwrap.dedent(source))
        server = Server(tmp_path, app, "--database", str(tmp_path / "hype.db"), *args)
        servers.append(server)
        return server

    yield _start
    for server in servers:
        server.kill_all()


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_app_is_served_and_sigterm_exits_0(start: Callable[..., Server]) -> None:
    server = start("--log-level", "warning")
    response = server.wait_ready()
    assert response.status_code == 200
    assert response.text.startswith("v1 ")
    assert server.terminate() == 0


def test_errors_and_bad_requests_do_not_kill_the_worker(start: Callable[..., Server]) -> None:
    server = start("--log-level", "critical")
    first = server.wait_ready().text
    assert httpx.get(server.url + "/boom", timeout=10).status_code == 500
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        raw.sendall(b"GARBAGE / HTTP/9.9\r\nno-colon-here\r\n\r\n")
        assert raw.recv(100).startswith(b"HTTP/1.1 400")
    assert httpx.get(server.url + "/", timeout=10).text == first  # the same worker still serves
    assert server.proc.poll() is None


def test_sigterm_drains_an_in_flight_request(start: Callable[..., Server], tmp_path: Path) -> None:
    server = start()
    server.wait_ready()
    result: dict[str, object] = {}

    def slow() -> None:
        try:
            r = httpx.get(server.url + "/slow", timeout=30)
            result.update(status=r.status_code, text=r.text)
        except Exception as exc:  # recorded for the assertion below
            result["error"] = repr(exc)

    client = threading.Thread(target=slow)
    client.start()
    deadline = time.monotonic() + 20
    while not (tmp_path / "slow-started").exists():
        assert time.monotonic() < deadline, "the slow handler never started"
        time.sleep(0.02)
    status = server.terminate()
    client.join(30)
    assert result == {"status": 200, "text": "slow done"}
    assert status == 0
    assert "Shutting down" in server.output()


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_closes_websockets_with_1001(start: Callable[..., Server], tmp_path: Path, workers: int) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    server = start("--workers", str(workers))
    server.wait_ready()
    with connect(f"ws://127.0.0.1:{server.port}/ws", open_timeout=20) as ws:
        ws.send("hi")
        assert ws.recv(timeout=20) == "echo: hi"
        server.proc.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=20)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert server.proc.wait(30) == 0
    # the app saw the disconnect as the client answered the close (not uvicorn's 1012)
    assert (tmp_path / "ws-disconnect").read_text() == "1001"


def test_a_worker_killed_with_sigkill_is_replaced(start: Callable[..., Server]) -> None:
    """Under a continuous request loop, SIGKILL one of two workers: the supervisor spawns a new
    worker process, and every request sent once the replacement has answered one succeeds."""
    server = start("--workers", "2", "--log-level", "warning")
    server.wait_ready()
    log: list[tuple[float, str | None]] = []  # (time sent, identity of the worker that answered | None)
    stop = threading.Event()

    def hammer() -> None:
        # a new connection per request, so that both workers keep accepting
        with httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0)) as client:
            while not stop.is_set():
                sent = time.monotonic()
                try:
                    r = client.get(server.url + "/")
                    log.append((sent, r.text.split()[1] if r.status_code == 200 else None))
                except httpx.HTTPError:
                    log.append((sent, None))

    def wait_for(what: str, ok: Callable[[], object]) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ok():
            assert time.monotonic() < deadline, f"{what}:\n{server.output()}"
            time.sleep(0.05)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        wait_for("2 workers never appeared", lambda: len(server.children()) == 2)
        before = server.children()
        wait_for("both workers never answered", lambda: len({w for _, w in log if w}) >= 2)
        known = {w for _, w in log if w}
        killed_at = time.monotonic()
        os.kill(min(before), signal.SIGKILL)
        wait_for("no replacement process", lambda: len(server.children() - before) == 1)
        # the replacement is up once a worker identity not seen before the kill answers
        wait_for("the replacement never answered", lambda: any(w not in known for t, w in log if t > killed_at))
        replaced_at = next(t for t, w in list(log) if t > killed_at and w is not None and w not in known)
        time.sleep(1.0)  # keep the load on with both workers serving
    finally:
        stop.set()
        thread.join(30)
    after = [w for t, w in log if t >= replaced_at]
    assert len(after) > 10
    assert None not in after, f"{after.count(None)} of {len(after)} requests failed after the replacement"
    assert len(known & set(after)) == 1  # the survivor and the replacement serve; the killed one is gone
    assert len(server.children()) == 2 and min(before) not in server.children()
    assert server.terminate() == 0


@pytest.mark.parametrize("kind", ["lua"])  # storage is a Lua app feature
def test_workers_share_one_database(start: Callable[..., Server], kind: str) -> None:
    """Each worker has its own Lua VM; increments in storage transactions from both add up."""
    server = start("--workers", "2", "--log-level", "warning")
    server.wait_ready()
    workers: set[str] = set()
    deadline = time.monotonic() + START_TIMEOUT_S
    n = 0
    with httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        while len(workers) < 2 or n < 40:
            assert time.monotonic() < deadline, f"only workers {workers} answered:\n{server.output()}"
            r = client.post(server.url + "/count")
            assert r.status_code == 200, r.text
            count, worker = r.text.split()
            n += 1
            assert int(count) == n  # sequential requests: no lost update, whichever worker
            workers.add(worker)
        final = client.post(server.url + "/count").text.split()[0]
    assert int(final) == n + 1
    assert server.terminate() == 0


def test_reload_picks_up_an_edited_file(start: Callable[..., Server], tmp_path: Path, kind: str) -> None:
    server = start("--reload")
    assert server.wait_ready().text.startswith("v1 ")
    time.sleep(0.5)  # let the watcher settle before the edit
    _edit(tmp_path / APPS[kind][1], 'MESSAGE = "v1"', 'MESSAGE = "v2"')
    deadline = time.monotonic() + START_TIMEOUT_S
    text = ""
    while not text.startswith("v2 "):
        assert time.monotonic() < deadline, f"the edit was not picked up:\n{server.output()}"
        with contextlib.suppress(httpx.TransportError):  # restarting
            text = httpx.get(server.url + "/", timeout=5).text
        time.sleep(0.2)
    assert server.terminate() == 0


# -- errors before uvicorn starts (in-process: no server is started) -----------------------------------------


def _hype(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    from hypelua.cli import main

    status = main(["serve", *argv])
    return status, capsys.readouterr().err


def test_missing_app_file_is_a_clear_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, err = _hype(capsys, str(tmp_path / "nope.lua"))
    assert status == 1
    assert "error[APP_NOT_FOUND]" in err and "nope.lua" in err and "hint:" in err


def test_port_in_use_is_a_clear_error(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "myapp.py").write_text(textwrap.dedent(STARLETTE_APP))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        status, err = _hype(capsys, "myapp:app", "--port", str(busy.getsockname()[1]))
    assert status == 1
    assert "error[PORT_IN_USE]" in err and "--port" in err


@pytest.mark.parametrize(("argv", "code"), [
    (["no_such_module_xyz:app"], "BAD_APP"),
    (["myapp:missing"], "BAD_APP"),
    (["myapp:app", "--workers", "0"], "BAD_OPTION"),
    (["myapp:app", "--reload", "--workers", "2"], "BAD_OPTION"),
    (["myapp:app", "--port", "70000"], "BAD_OPTION"),
    (["myapp:app", "--timeout", "0"], "BAD_OPTION"),
    (["myapp:app", "--max-memory", "-1"], "BAD_OPTION"),
])
def test_bad_arguments_are_typed_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch, argv: list[str], code: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "myapp.py").write_text(textwrap.dedent(STARLETTE_APP))
    port = [] if "--port" in argv else ["--port", str(_free_port())]
    status, err = _hype(capsys, *argv, *port)
    assert status == 1
    assert f"error[{code}]" in err and "hint:" in err


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize(("source", "code"), [("return (", "LUA_SYNTAX_ERROR"), ("return 42", "HTTP_NOT_AN_APP")])
def test_a_broken_lua_app_is_a_typed_error_before_serving(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                          source: str, code: str, workers: str) -> None:
    (tmp_path / "bad.lua").write_text(source)
    status, err = _hype(capsys, str(tmp_path / "bad.lua"), "--workers", workers, "--port", str(_free_port()),
                        "--database", ":memory:")
    assert status == 1
    assert f"error[{code}]" in err


def test_unparsable_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    from hypelua.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["serve", "app.lua", "--port", "abc"])
    assert exc.value.code == 2


def test_factory_passes_the_options_to_lua_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The worker-side factory reads HYPE_SERVE_* and calls hypelua.http.lua_app (stubbed here)."""
    import hypelua.http
    from hypelua.http import _serve
    from hypelua.http._shutdown import GoingAway

    calls: list[tuple[str, dict[str, object]]] = []
    sentinel = object()

    def fake_lua_app(path: str, **options: object) -> object:
        calls.append((path, options))
        return sentinel

    monkeypatch.setattr(hypelua.http, "lua_app", fake_lua_app, raising=False)
    app_file = tmp_path / "app.lua"
    env = {"app": str(app_file), "database": str(tmp_path / "x.db"), "timeout": "2.5", "max_body": "10",
           "max_memory": "", "dev": "1"}
    for key, value in env.items():
        monkeypatch.setenv(_serve.ENV[key], value)
    app = _serve.app_factory()
    assert isinstance(app, GoingAway) and app.app is sentinel
    assert calls == [(str(app_file), {"database": str(tmp_path / "x.db"), "timeout": 2.5, "max_body": 10,
                                      "max_memory": None, "dev": True})]
    monkeypatch.setenv(_serve.ENV["sandbox"], "1")
    calls.clear()
    _serve.app_factory()
    assert calls[0][1]["sandbox"] is True


def test_sandbox_flag_serves_a_lua_app_as_untrusted_code(tmp_path: Path) -> None:
    (tmp_path / "app.lua").write_text(textwrap.dedent("""
        local app = require("hype.http").app()
        app:get("/", function(req, res) res:json({ io = io == nil, exit = os.exit == nil }) end)
        app:get("/passwd", function(req, res) res:sendfile("/etc/passwd") end)
        return app
    """))
    server = Server(tmp_path, "app.lua", "--database", ":memory:", "--sandbox", "--log-level", "warning")
    try:
        assert server.wait_ready().json() == {"io": True, "exit": True}
        assert httpx.get(server.url + "/passwd").status_code == 404
        assert server.terminate() == 0
    finally:
        server.kill_all()


def test_listen_under_hype_run_closes_websockets_with_1001(tmp_path: Path) -> None:
    import asyncio

    import websockets

    (tmp_path / "app.lua").write_text(textwrap.dedent("""
        local app = require("hype.http").app()
        app:ws("/ws", function(ws) ws:send("hi") end)
        local server = app:listen(0, function(port) print("PORT " .. port) end)
        await(server.closed)
    """))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "py"), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-m", "hypelua", "run", "app.lua", "-d", ":memory:"], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("PORT "), line + proc.stderr.read() if proc.poll() is not None else line

        async def main() -> int:
            async with websockets.connect(f"ws://127.0.0.1:{int(line.split()[1])}/ws") as ws:
                assert await ws.recv() == "hi"
                proc.send_signal(signal.SIGTERM)
                with pytest.raises(websockets.ConnectionClosed) as info:
                    await asyncio.wait_for(ws.recv(), 20)
                assert info.value.rcvd is not None
                return info.value.rcvd.code

        assert asyncio.run(main()) == 1001
        proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
