"""hypelua.http.App (Starlette with decorators) mounting a Lua app; user error handlers; dev mode."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse

from hypelua.http import App, LuaApp, lua_app

APPS = Path(__file__).parent / "apps"
FULL = APPS / "full" / "app.lua"


def test_python_app_decorators_and_mounted_lua_app(serve: Any) -> None:
    app = App()
    lua = lua_app(FULL)
    app.mount("/lua", lua)

    @app.get("/items/{id:int}")
    async def item(request: Request, id: int) -> dict[str, Any]:
        return {"id": id, "sum": await lua.call("add", id, 1), "double": await lua.call("slow_double", id)}

    @app.post("/text")
    def text(request: Request) -> str:
        return "plain"

    @app.get("/none")
    async def none(request: Request) -> None:
        return None

    @app.route("/resp", methods=["GET", "PUT"])
    async def resp(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.method, status_code=202)

    @app.websocket("/ws")
    async def ws(websocket: Any) -> None:
        await websocket.accept()
        await websocket.send_text("py")
        await websocket.close()

    with serve(app) as base:
        assert httpx.get(base + "/items/4").json() == {"id": 4, "sum": 5, "double": 8}
        assert httpx.post(base + "/text").text == "plain"
        assert httpx.get(base + "/none").status_code == 204
        r = httpx.put(base + "/resp")
        assert r.status_code == 202 and r.text == "PUT"
        # the Lua app sees paths below the mount point
        assert httpx.get(base + "/lua/").text == "hello"
        assert httpx.get(base + "/lua/users/3?q=z").json() == {"id": "3", "q": "z"}
        assert httpx.get(base + "/lua/assets/style.css").text == "body{}\n"

        async def ws_check() -> None:
            import websockets

            async with websockets.connect(base.replace("http", "ws") + "/lua/chat?name=m") as sock:
                assert await sock.recv() == "welcome m"
            async with websockets.connect(base.replace("http", "ws") + "/ws") as sock:
                assert await sock.recv() == "py"

        asyncio.run(ws_check())
    lua.close()


def test_user_error_handlers(serve: Any) -> None:
    app = lua_app(APPS / "errors" / "app.lua")
    with serve(app) as base:
        r = httpx.get(base + "/boom")
        assert r.status_code == 500 and "kaboom" in r.json()["error"]
        assert httpx.get(base + "/recover").text == "recovered"
        assert any("conflict" in s for s in httpx.get(base + "/seen").json())
    app.close()


def test_dev_mode_adds_the_traceback(serve: Any) -> None:
    app = lua_app(FULL, dev=True)
    with serve(app) as base:
        err = httpx.get(base + "/boom").json()["error"]
        assert "traceback" in err and "app.lua" in err["traceback"]
    app.close()


def test_routes_added_later_are_served(serve: Any) -> None:
    app = LuaApp.from_source('''
        local app = require("hype.http").app()
        app:get("/", function(req, res)
          app:get("/new", function(req, res) res:send("new route") end)
          res:send("added")
        end)
        return app''')
    with serve(app) as base:
        assert httpx.get(base + "/new").status_code == 404
        assert httpx.get(base + "/").text == "added"
        assert httpx.get(base + "/new").text == "new route"


def test_sandboxed_app(tmp_path: Path, serve: Any) -> None:
    (tmp_path / "public").mkdir()
    (tmp_path / "public" / "a.txt").write_text("A")
    (tmp_path / "app.lua").write_text('''
        local app = require("hype.http").app()
        app:static("/s", "./public")
        app:get("/io", function(req, res) res:json({ io = io == nil, os_exit = os.exit == nil }) end)
        app:get("/outside", function(req, res) res:sendfile("../../etc/passwd") end)
        return app''')
    app = lua_app(tmp_path / "app.lua", sandbox=True)
    with serve(app) as base:
        assert httpx.get(base + "/s/a.txt").text == "A"
        assert httpx.get(base + "/io").json() == {"io": True, "os_exit": True}
        assert httpx.get(base + "/outside").status_code == 404
    app.close()
    (tmp_path / "bad.lua").write_text('local app = require("hype.http").app(); app:static("/s", "/etc"); return app')
    from hypelua.http import HttpError

    with pytest.raises(HttpError) as info:
        lua_app(tmp_path / "bad.lua", sandbox=True)
    assert info.value.code == "HTTP_OUTSIDE_ROOT"


def test_listen_under_hype_run(tmp_path: Path) -> None:
    (tmp_path / "app.lua").write_text('''
        local app = require("hype.http").app()
        local server
        app:get("/", function(req, res) res:send("listening") end)
        app:get("/stop", function(req, res) res:send("bye"); server.close() end)
        server = app:listen(0, function(port) print("PORT " .. port) end)
        await(server.closed)
        print("stopped")''')
    proc = subprocess.Popen([sys.executable, "-m", "hypelua", "run", str(tmp_path / "app.lua"), "--database",
                             ":memory:"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("PORT "), line + (proc.stderr.read() if proc.poll() is not None else "")
        base = f"http://127.0.0.1:{int(line.split()[1])}"
        assert httpx.get(base + "/").text == "listening"
        assert httpx.get(base + "/stop").text == "bye"
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert "stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    time.sleep(0)


def test_apps_sharing_a_runtime_keep_their_own_timeout_and_close_cleanly(serve: Any) -> None:
    import hypelua

    rt = hypelua.Runtime()
    src = '''local app = require("hype.http").app()
        app:get("/loop", function(req, res) while true do end end)
        app:get("/", function(req, res) res:send("ok") end)
        return app'''
    quick = LuaApp.from_source(src, runtime=rt, timeout=0.3)
    slow = LuaApp.from_source(src, runtime=rt, timeout=1.5)
    with serve(quick) as base_quick, serve(slow) as base_slow:
        t = time.monotonic()
        assert httpx.get(base_quick + "/loop", timeout=10).status_code == 503
        quick_s = time.monotonic() - t
        t = time.monotonic()
        assert httpx.get(base_slow + "/loop", timeout=10).status_code == 503
        assert time.monotonic() - t > max(1.0, quick_s)  # the later app did not shorten the first's limit
    host = quick._host
    assert not host.apps  # uvicorn's lifespan shutdown closed both
    third = LuaApp.from_source(src, runtime=rt, timeout=1.0)
    assert third.app_id in host.apps
    third.close()
    third.close()
    assert third.app_id not in host.apps
    with pytest.raises(hypelua.HypeError):  # the Lua side forgot it too
        rt.vm.call(host.module["compile"], third.app_id)
    assert rt.execute("return 1 + 1") == (2,)  # the shared runtime stays open
    rt.close()


def test_sandboxed_code_cannot_listen() -> None:
    import hypelua

    rt = hypelua.Runtime(sandbox=True)

    async def main() -> None:
        with pytest.raises(hypelua.LuaError) as info:
            await rt.execute_async('''
                local app = require("hype.http").app()
                local server = app:listen(0)
                await(server.closed)''')
        assert "SANDBOXED" in str(info.value)

    asyncio.run(main())
    rt.close()
