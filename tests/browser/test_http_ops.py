"""WorkerHost HTTP ops (httpLoad / httpFetch / httpUnload): what hype.fetch and the service worker use.

Run natively with a memory database and a project directory, like the worker runs them.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from hypelua.browser import WorkerHost

APP = """
local http = require("hype.http")
local app = http.app()
app:use(function(req, res, nxt) res:set("X-Powered-By", "hypelua"); nxt() end)
app:get("/users/:id", function(req, res) res:json({ id = req.params.id, q = req.query.q }) end)
app:post("/echo", function(req, res) res:status(201):json(req:json()) end)
app:post("/bytes", function(req, res)
  res:set("Content-Type", "application/octet-stream")
  res:send(req.body:reverse())
end)
app:get("/boom", function(req, res) error("kaboom") end)
app:get("/count", function(req, res)
  local t = storage.table("hits")
  t.n = (t.n or 0) + 1
  res:json({ n = t.n })
end)
return app
"""


class Client:
    """Calls the host the way worker.mjs does: JSON args, binary payload in and out."""

    def __init__(self, host: WorkerHost) -> None:
        self.host = host

    def call(self, op: str, args: dict[str, Any] | None = None, payload: bytes | None = None) -> dict[str, Any]:
        async def go() -> str:
            return await self.host.dispatch(op, json.dumps(args or {}), None, payload)

        return json.loads(asyncio.run(go()))

    def fetch(self, method: str, url: str, payload: bytes | None = None, headers: list[list[str]] | None = None,
              **extra: Any) -> tuple[int, dict[str, str], bytes]:
        reply = self.call("httpFetch", {"method": method, "url": url, "headers": headers or [], **extra}, payload)
        assert reply["ok"], reply
        value = reply["value"]
        data = self.host.take_payload()
        assert data is not None and value["size"] == len(data)
        return value["status"], {k: v for k, v in value["headers"]}, data


@pytest.fixture
def client(lua_backend: str, tmp_path: Path) -> Client:
    host = asyncio.run(WorkerHost.create("test", None, backend=lua_backend, project_root=str(tmp_path)))
    return Client(host)


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def echo(request: Request) -> Response:
        return JSONResponse({"path": request.url.path, "body": (await request.body()).hex(),
                             "ct": request.headers.get("content-type")})

    async def slow(request: Request) -> Response:
        await asyncio.sleep(30)
        return Response("late")

    inner = Starlette(routes=[Route("/echo/{x}", echo, methods=["GET", "POST"]), Route("/slow", slow)])

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/broken":
            raise RuntimeError("no response")
        await inner(scope, receive, send)

    return app


def test_fetch_without_app_is_a_typed_error(client: Client) -> None:
    reply = client.call("httpFetch", {"method": "GET", "url": "/x"})
    assert reply["ok"] is False and reply["error"]["code"] == "NO_APP"
    assert client.call("httpUnload")["value"] is False


def test_any_asgi_app_binary_payload_both_ways(client: Client) -> None:
    client.host.http.app = starlette_app()
    status, headers, body = client.fetch("POST", "http://localhost/echo/a", bytes([0, 255, 10]),
                                         [["Content-Type", "application/x"]])
    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"path": "/echo/a", "body": "00ff0a", "ct": "application/x"}
    # body in the JSON (text or {"$bytes"}) when no payload is sent
    _, _, body = client.fetch("POST", "/echo/b", None, body="é")
    assert json.loads(body)["body"] == "c3a9"
    _, _, body = client.fetch("POST", "/echo/c", None, body={"$bytes": "AAE="})
    assert json.loads(body)["body"] == "0001"


def test_app_failures_are_responses_and_request_errors_are_typed(client: Client) -> None:
    client.host.http.app = starlette_app()
    reply = client.call("httpFetch", {"method": "GET", "url": "/broken"})
    assert reply["ok"] and reply["value"]["status"] == 500
    assert json.loads(client.host.take_payload() or b"")["error"]["code"] == "INTERNAL_ERROR"
    assert "no response" in "".join(reply["warnings"])
    status, _, body = client.fetch("GET", "/slow", timeout=50)
    assert status == 503 and json.loads(body)["error"]["code"] == "TIMEOUT"
    for args in ({"method": "GET", "url": "nope"}, {"method": "G T", "url": "/"},
                 {"method": "GET", "url": "/", "headers": [["a", "b\r\nc: d"]]},
                 {"method": "GET", "url": "/", "headers": "x"}, {"method": "GET", "url": "/", "timeout": -1},
                 {"method": "GET"}):
        reply = client.call("httpFetch", args)
        assert reply["ok"] is False and reply["error"]["code"] == "BAD_REQUEST", (args, reply)
        assert client.host.take_payload() is None
    assert client.fetch("GET", "/echo/ok")[0] == 200  # still serving


def test_load_needs_path_or_source(client: Client) -> None:
    for args in ({}, {"path": "a.lua", "source": "return 1"}, {"path": 5}, {"source": "x", "options": 3}):
        reply = client.call("httpLoad", args)
        assert reply["ok"] is False and reply["error"]["code"] == "BAD_REQUEST", (args, reply)
    reply = client.call("httpLoad", {"path": "missing.lua"})
    assert reply["error"]["code"] == "FILE_NOT_FOUND"
    reply = client.call("httpLoad", {"path": "../outside.lua"})
    assert reply["error"]["code"] == "PATH_OUTSIDE_PROJECT"


# ------------------------------------------------------------------ Lua apps (hype.http)
def test_lua_app_from_a_project_file(client: Client, tmp_path: Path) -> None:
    (tmp_path / "app.lua").write_text(APP)
    assert client.call("httpLoad", {"path": "app.lua"})["value"] == {"app": "app.lua"}
    status, headers, body = client.fetch("GET", "/users/42?q=x")
    assert status == 200 and headers["x-powered-by"] == "hypelua"
    assert json.loads(body) == {"id": "42", "q": "x"}
    status, _, body = client.fetch("POST", "/echo", b'{"a": [1, 2]}', [["content-type", "application/json"]])
    assert status == 201 and json.loads(body) == {"a": [1, 2]}
    sent = bytes(range(256))
    status, headers, body = client.fetch("POST", "/bytes", sent)
    assert status == 200 and body == sent[::-1] and headers["content-type"] == "application/octet-stream"


def test_lua_handler_error_is_a_500_and_storage_writes_are_durable(client: Client) -> None:
    assert client.call("httpLoad", {"source": APP, "chunkname": "=buffer"})["value"] == {"app": "=buffer"}
    status, _, body = client.fetch("GET", "/boom")
    assert status == 500 and json.loads(body)["error"]["code"] == "LUA_RUNTIME_ERROR"
    assert "kaboom" in json.loads(body)["error"]["message"]
    assert [json.loads(client.fetch("GET", "/count")[2])["n"] for _ in range(3)] == [1, 2, 3]
    assert client.host.runtime.database.table("hits").get("n") == 3


def test_lua_load_errors_keep_the_previous_app(client: Client) -> None:
    client.call("httpLoad", {"source": APP})
    for source, code in (("return +", "LUA_SYNTAX_ERROR"), ("error('top')", "LUA_RUNTIME_ERROR"),
                         ("return 42", "HTTP_NOT_AN_APP")):
        reply = client.call("httpLoad", {"source": source})
        assert reply["ok"] is False and reply["error"]["code"] == code, reply
    assert client.fetch("GET", "/users/1")[0] == 200
    other = 'local app = require("hype.http").app(); app:get("/", function(q, s) s:send("two") end); return app'
    client.call("httpLoad", {"source": other})
    assert client.fetch("GET", "/")[::2] == (200, b"two")
    assert client.fetch("GET", "/users/1")[0] == 404


def test_lua_handler_that_never_yields_gets_503(client: Client) -> None:
    loop = 'local app = require("hype.http").app(); app:get("/spin", function() while true do end end)' \
           '; app:get("/", function(q, s) s:send("ok") end); return app'
    client.call("httpLoad", {"source": loop, "options": {"timeout": 0.2}})
    status, _, body = client.fetch("GET", "/spin")
    assert status == 503 and json.loads(body)["error"]["code"] == "TIMEOUT"
    assert client.fetch("GET", "/")[::2] == (200, b"ok")  # the VM keeps serving


def test_reset_and_unload_forget_the_app(client: Client) -> None:
    client.call("httpLoad", {"source": APP})
    assert client.call("reset")["ok"]
    assert client.call("httpFetch", {"url": "/users/1"})["error"]["code"] == "NO_APP"
    client.call("httpLoad", {"source": APP})
    assert client.call("httpUnload")["value"] is True
    assert client.call("httpFetch", {"url": "/users/1"})["error"]["code"] == "NO_APP"
