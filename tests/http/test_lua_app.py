"""hype.http apps served by a real uvicorn on 127.0.0.1 (httpx and websockets clients)."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

import hypelua
from hypelua.http import HttpError, LuaApp, lua_app

APPS = Path(__file__).parent / "apps"
FULL = APPS / "full" / "app.lua"


@pytest.fixture(scope="module", params=["lupa", "ctypes"])
def base(request: pytest.FixtureRequest, serve: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    if request.param == "ctypes":
        request.getfixturevalue("lua_backend") if False else None
        lib = Path(__file__).parents[2] / "build" / "native" / "libhypelua_lua54.so"
        import os

        if not (os.environ.get("HYPE_LUA_LIBRARY") or lib.is_file()):
            pytest.skip("native ctypes library not built")
    db = tmp_path_factory.mktemp("db") / "app.db"
    rt = hypelua.Runtime(str(db), backend=request.param, max_memory=64 * 1024 * 1024, project_root=FULL.parent)
    app = lua_app(FULL, runtime=rt, timeout=1.5, max_body=64 * 1024)
    with serve(app) as url:
        yield url
    rt.close()


def get(base: str, path: str, **kw: Any) -> httpx.Response:
    return httpx.get(base + path, timeout=10, **kw)


def test_hello_and_middleware_header(base: str) -> None:
    r = get(base, "/")
    assert r.status_code == 200 and r.text == "hello"
    assert r.headers["x-powered-by"] == "hypelua"
    assert r.headers["content-type"] == "text/html; charset=utf-8"


def test_middleware_order(base: str) -> None:
    assert get(base, "/order").json() == ["first", "second", "handler"]


def test_params_query_optional_wildcard(base: str) -> None:
    assert get(base, "/users/42?q=x&tag=a&tag=b").json() == {"id": "42", "q": "x", "tags": ["a", "b"]}
    assert get(base, "/users/42/").json()["id"] == "42"  # trailing slash: Express's non-strict routing
    assert get(base, "/opt/1/2").json() == {"a": "1", "b": "2"}
    assert get(base, "/opt/1").json() == {"a": "1", "b": "none"}
    assert get(base, "/files/a/b/c.txt").text == "a/b/c.txt"
    assert get(base, "/typed/12").json() == {"n": 12, "t": "integer"}
    assert get(base, "/typed/x").status_code == 404


def test_all_verbs(base: str) -> None:
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        assert httpx.request(method, base + "/any").text == method
    assert httpx.head(base + "/").status_code == 200  # HEAD runs GET routes
    r = httpx.post(base + "/echo", json={"a": [1, 2, {"b": None}], "s": "é"})
    assert r.status_code == 201 and r.json() == {"a": [1, 2, {}], "s": "é"}  # null in a Lua table is absent
    assert httpx.put(base + "/echo", content=b"raw").json() == {"method": "PUT", "body": "raw"}
    assert httpx.patch(base + "/echo").json() == {"method": "PATCH"}
    assert httpx.delete(base + "/echo").status_code == 204


def test_route_handlers_and_next(base: str) -> None:
    assert get(base, "/next-twice").text == "second handler"


def test_request_fields(base: str) -> None:
    r = get(base, "/req?x=1", headers={"User-Agent": "t/1", "X-Custom": "c"}, cookies={"session": "s1"})
    assert r.json() == {"method": "GET", "path": "/req", "url": "/req?x=1", "ip": "127.0.0.1", "ua": "t/1",
                        "custom": "c", "cookie": "s1"}


def test_forms(base: str) -> None:
    r = httpx.post(base + "/form", data={"name": "Ann", "many": ["1", "2"]})
    assert r.json() == {"name": "Ann", "many": ["1", "2"]}
    r = httpx.post(base + "/form", data={"name": "B"}, files={"upload": ("a.bin", b"\x00\x01\xff", "x/y")})
    assert r.json() == {"name": "B", "upload": {"filename": "a.bin", "size": 3, "len": 3, "last": 255,
                                                 "type": "x/y"}}


def test_responses(base: str) -> None:
    assert get(base, "/html").headers["content-type"].startswith("text/html")
    r = get(base, "/status")
    assert r.status_code == 418 and r.text == "teapot 1" and r.headers["x-a"] == "1"
    r = get(base, "/redirect")
    assert r.status_code == 302 and r.headers["location"] == "/"
    assert get(base, "/redirect301").status_code == 301
    r = get(base, "/cookie")
    cookies = r.headers.get_list("set-cookie")
    assert any(c.startswith("session=abc") and "HttpOnly" in c and "Max-Age=60" in c and "SameSite=strict" in c
               for c in cookies)
    assert any(c.startswith("theme=dark") for c in cookies)
    r = get(base, "/clear")
    assert any(c.startswith("session=") and ("Max-Age=0" in c or "expires" in c.lower())
               for c in r.headers.get_list("set-cookie"))
    r = get(base, "/file")
    assert r.status_code == 200 and r.text == "body{}\n" and r.headers["content-type"].startswith("text/css")
    assert get(base, "/nofile").status_code == 404


def test_static_files(base: str) -> None:
    r = get(base, "/assets/style.css")
    assert r.status_code == 200 and r.text == "body{}\n"
    etag = r.headers["etag"]
    assert get(base, "/assets/style.css", headers={"If-None-Match": etag}).status_code == 304
    assert get(base, "/assets/sub/n.txt").text == "nested\n"
    assert get(base, "/assets/fallback.txt").text == "fell through"
    assert get(base, "/assets/nothing.txt").status_code == 404


def _raw_get(base: str, raw_path: str) -> tuple[int, bytes]:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(f"GET {raw_path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.partition(b"\r\n\r\n")[2]


def test_static_path_traversal(base: str) -> None:
    for raw in ("/assets/../secret.txt", "/assets/%2e%2e/secret.txt", "/assets/..%2fsecret.txt",
                "/assets/%2e%2e%2f%2e%2e%2fapp.lua", "/assets//etc/passwd"):
        status, body = _raw_get(base, raw)
        assert status == 404, raw
        assert body.startswith(b"{") and b"require(" not in body  # a JSON 404, no file content


def test_mounted_router(base: str) -> None:
    r = get(base, "/api/acme/items/9")
    assert r.json() == {"id": "9", "org": "acme", "base": "/api/:org", "path": "/api/acme/items/9"} or \
        r.json()["id"] == "9"
    assert r.headers["x-api"] == "v1" and r.headers["x-powered-by"] == "hypelua"
    assert get(base, "/api/acme/other").status_code == 404


def test_errors_are_json_500_and_server_keeps_serving(base: str) -> None:
    r = get(base, "/boom")
    assert r.status_code == 500
    err = r.json()["error"]
    assert err["code"] == "LUA_RUNTIME_ERROR" and "kaboom" in err["message"] and "traceback" not in err
    r = get(base, "/boom-table")
    assert r.status_code == 422 and r.json()["error"]["message"] == "not processable"
    assert get(base, "/next-err").json()["error"]["message"] == "passed on"
    r = get(base, "/late-error")
    assert r.status_code == 500 and "after await" in r.json()["error"]["message"]
    r = get(base, "/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
    assert get(base, "/twice").text == "one"
    assert get(base, "/").text == "hello"


def test_malformed_json_is_400(base: str) -> None:
    r = httpx.post(base + "/echo", content=b"{bad", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "BAD_JSON"
    r = httpx.post(base + "/echo")
    assert r.status_code == 400


def test_header_injection_refused(base: str) -> None:
    for path in ("/bad-header", "/bad-header-name", "/bad-cookie"):
        r = get(base, path)
        assert r.status_code == 500 and r.json()["error"]["code"] == "HTTP_BAD_HEADER", path
        assert "x-evil" not in r.headers and "x" not in r.headers


def test_runaway_handler_gets_503_and_vm_stays_usable(base: str) -> None:
    t = time.monotonic()
    r = get(base, "/loop")
    assert r.status_code == 503 and r.json()["error"]["code"] == "TIMEOUT"
    assert time.monotonic() - t < 8
    assert get(base, "/").text == "hello"
    r = get(base, "/pcall-loop")
    assert r.status_code == 503
    assert get(base, "/users/1").json()["id"] == "1"
    r = get(base, "/never")  # never answers: the request times out, not the server
    assert r.status_code == 503
    assert get(base, "/").text == "hello"


def test_memory_blowup_is_500(base: str) -> None:
    assert httpx.post(base + "/users/kept", json={"name": "Kept"}).status_code == 201
    r = get(base, "/hog")
    assert r.status_code == 500 and r.json()["error"]["code"] == "LUA_MEMORY_ERROR"
    assert get(base, "/").text == "hello"
    assert get(base, "/loop").status_code == 503
    assert get(base, "/stored/kept").json() == {"name": "Kept"}  # nothing committed earlier is lost


def test_body_over_limit_is_413_without_reading_it(base: str) -> None:
    r = httpx.post(base + "/echo", content=b"x" * (65 * 1024))
    assert r.status_code == 413 and r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    # a declared length over the limit is refused before the body is sent
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
        head = s.recv(65536)
    assert head.startswith(b"HTTP/1.1 413")
    # chunked, no length: stopped at the limit
    def chunks() -> Any:
        for _ in range(100):
            yield b"y" * 4096
    r = httpx.post(base + "/echo", content=chunks())
    assert r.status_code == 413
    assert get(base, "/").text == "hello"


def test_storage_in_handlers(base: str) -> None:
    assert httpx.post(base + "/users/u1", json={"name": "Ann", "age": 31}).status_code == 201
    assert get(base, "/stored/u1").json() == {"name": "Ann", "age": 31}
    assert get(base, "/stored/zz").status_code == 404


def test_streaming_and_sse(base: str) -> None:
    with httpx.stream("GET", base + "/stream", timeout=10) as r:
        parts = list(r.iter_text())
    assert "".join(parts) == "a123z"
    with httpx.stream("GET", base + "/events", timeout=10) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    events = [e for e in text.split("\n\n") if e and not e.startswith(":")]
    assert events[0] == 'event: tick\nid: 1\ndata: {"n":1}'
    assert events[3] == "data: multi\ndata: line"


def test_concurrent_requests_each_get_their_own_response(base: str) -> None:
    async def main() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=20,
                                     limits=httpx.Limits(max_connections=100)) as client:
            ids = list(range(100))
            rs = await asyncio.gather(*[client.get(f"/sleep/{random.randint(0, 50)}?id={i}") for i in ids])
            assert [r.json()["id"] for r in rs] == [str(i) for i in ids]
            rs = await asyncio.gather(*[client.get("/later") for _ in range(20)])
            assert {r.text for r in rs} == {"from a timer"}

    asyncio.run(main())


def test_websocket_echo(base: str) -> None:
    async def main() -> None:
        url = base.replace("http", "ws")
        async with websockets.connect(url + "/chat?name=ann") as ws:
            assert await ws.recv() == "welcome ann"
            await ws.send("hi")
            assert await ws.recv() == "echo: hi"
            await ws.send("close")
            with pytest.raises(websockets.ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd.code == 4000
        async with websockets.connect(url + "/chat") as ws:
            await ws.recv()
            await ws.send("boom")
            with pytest.raises(websockets.ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd.code == 1011
        async with websockets.connect(url + "/rooms/r1") as ws:
            await ws.send("x")
            assert json.loads(await ws.recv()) == {"room": "r1", "m": "x"}
        with pytest.raises(websockets.InvalidStatus if hasattr(websockets, "InvalidStatus") else Exception):
            async with websockets.connect(url + "/no-such-socket") as ws:
                await ws.recv()

    asyncio.run(main())
    assert get(base, "/").text == "hello"


def test_not_an_app_and_bad_routes(tmp_path: Path) -> None:
    f = tmp_path / "x.lua"
    f.write_text("return 42")
    with pytest.raises(HttpError) as info:
        lua_app(f)
    assert info.value.code == "HTTP_NOT_AN_APP"
    with pytest.raises(hypelua.LuaError) as linfo:
        LuaApp.from_source('local app = require("hype.http").app(); app:get("nope", function() end); return app')
    assert "HTTP_BAD_ROUTE" in str(linfo.value)
    with pytest.raises(hypelua.HypeError) as finfo:
        lua_app(tmp_path / "missing.lua")
    assert finfo.value.code == "FILE_NOT_FOUND"


def test_python_calls_lua_exports() -> None:
    app = lua_app(FULL)

    async def main() -> None:
        assert await app.call("add", 2, 3) == 5
        assert await app.call("slow_double", 21) == 42
        with pytest.raises(HttpError):
            await app.call("missing")

    asyncio.run(main())
    app.close()
