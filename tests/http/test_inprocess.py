"""call_asgi: one request through an ASGI app in memory (what the browser worker does for hype.fetch)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from hypelua import HypeError
from hypelua.http._inprocess import build_scope, call_asgi

seen: dict[str, Any] = {}


async def echo(request: Request) -> Response:
    body = await request.body()
    seen["scope"] = request.scope
    return JSONResponse({
        "method": request.method,
        "path": request.url.path,
        "url": str(request.url),
        "query": dict(request.query_params),
        "params": dict(request.path_params),
        "headers": dict(request.headers),
        "body": body.decode("latin-1"),
        "client": list(request.client) if request.client else None,
    }, status_code=201 if request.method == "POST" else 200, headers={"X-Echo": "yes"})


async def binary(request: Request) -> Response:
    return Response(bytes(range(256)) + await request.body(), media_type="application/octet-stream")


async def boom(request: Request) -> Response:
    raise ValueError("handler failed")


async def stream(request: Request) -> Response:
    async def chunks() -> Any:
        for i in range(3):
            await asyncio.sleep(0)
            yield f"chunk{i};".encode()

    return StreamingResponse(chunks(), media_type="text/plain")


async def no_content(request: Request) -> Response:
    return Response(b"ignored", status_code=204)


async def cookies(request: Request) -> Response:
    r = Response("ok")
    r.set_cookie("a", "1")
    r.set_cookie("b", "2")
    return r


app = Starlette(routes=[
    Route("/echo/{name}", echo, methods=["GET", "POST", "PUT", "HEAD"]),
    Route("/bin", binary, methods=["GET", "POST"]),
    Route("/boom", boom),
    Route("/stream", stream),
    Route("/empty", no_content),
    Route("/cookies", cookies),
])


def call(method: str, url: str, headers: list[tuple[str, str]] | None = None, body: bytes = b"",
         target: Any = app) -> tuple[int, list[tuple[str, str]], bytes]:
    return asyncio.run(call_asgi(target, method=method, url=url, headers=headers or [], body=body))


def test_get_with_path_params_query_and_headers() -> None:
    status, headers, body = call("get", "/echo/ann%20b?q=x&n=1#frag", [("Accept", "application/json")])
    assert status == 200
    assert ("x-echo", "yes") in headers and ("content-type", "application/json") in headers
    data = json.loads(body)
    assert data["method"] == "GET"
    assert data["params"] == {"name": "ann b"} and data["path"] == "/echo/ann b"
    assert data["query"] == {"q": "x", "n": "1"}
    assert data["headers"]["accept"] == "application/json" and data["headers"]["host"] == "localhost"
    assert data["url"] == "http://localhost/echo/ann b?q=x&n=1"  # Starlette builds it from path
    assert data["client"] == ["127.0.0.1", 0]
    scope = seen["scope"]
    assert scope["raw_path"] == b"/echo/ann%20b" and scope["query_string"] == b"q=x&n=1"
    assert scope["http_version"] == "1.1" and scope["asgi"]["version"] == "3.0"


def test_absolute_url_sets_scheme_server_and_host() -> None:
    status, _, body = call("GET", "https://example.test:8443/echo/x")
    data = json.loads(body)
    assert status == 200 and data["url"] == "https://example.test:8443/echo/x"
    assert data["headers"]["host"] == "example.test:8443"
    assert seen["scope"]["server"] == ("example.test", 8443) and seen["scope"]["scheme"] == "https"
    call("GET", "http://h.test/echo/x", [("Host", "other.test")])
    assert dict(seen["scope"]["headers"])[b"host"] == b"other.test"


def test_post_body_gets_content_length() -> None:
    payload = json.dumps({"a": [1, 2, "é"]}).encode()
    status, _, body = call("POST", "/echo/p", [("Content-Type", "application/json")], payload)
    data = json.loads(body)
    assert status == 201
    assert data["body"].encode("latin-1") == payload
    assert data["headers"]["content-length"] == str(len(payload))


def test_binary_bodies_both_ways() -> None:
    sent = bytes(range(255, -1, -1)) * 4
    status, headers, body = call("POST", "/bin", body=sent)
    assert status == 200 and body == bytes(range(256)) + sent
    assert ("content-length", str(len(body))) in headers


def test_handler_error_is_the_apps_500_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="hypelua.http"):
        status, _, body = call("GET", "/boom")
    assert status == 500 and body == b"Internal Server Error"
    assert "ValueError" in caplog.text  # Starlette re-raised after its 500: logged, response kept


def test_streaming_response_is_joined_not_cut_by_disconnect() -> None:
    status, _, body = call("GET", "/stream")
    assert status == 200 and body == b"chunk0;chunk1;chunk2;"


def test_head_and_no_content_have_empty_bodies() -> None:
    assert call("HEAD", "/echo/x")[2] == b""
    assert call("GET", "/empty")[0:3:2] == (204, b"")


def test_repeated_headers_are_kept() -> None:
    _, headers, _ = call("GET", "/cookies")
    assert [v.split(";")[0] for k, v in headers if k == "set-cookie"] == ["a=1", "b=2"]


def test_not_found_and_method_not_allowed() -> None:
    assert call("GET", "/nope")[0] == 404
    assert call("DELETE", "/echo/x")[0] == 405


@pytest.mark.parametrize("kwargs", [
    {"method": "GE T", "url": "/"},
    {"method": "", "url": "/"},
    {"method": "GET", "url": "ftp://x/"},
    {"method": "GET", "url": "relative/path"},
    {"method": "GET", "url": "http:///nohost"},
    {"method": "GET", "url": "http://h:99999/"},
    {"method": "GET", "url": "/", "headers": [("X-A", "1\r\nX-B: 2")]},
    {"method": "GET", "url": "/", "headers": [("X A", "1")]},
    {"method": "GET", "url": "/", "headers": [("X-A", 1)]},
])
def test_malformed_requests_are_typed_errors(kwargs: dict[str, Any]) -> None:
    kwargs.setdefault("headers", [])
    with pytest.raises(HypeError) as info:
        asyncio.run(call_asgi(app, body=b"", **kwargs))
    assert info.value.code == "BAD_REQUEST"


def test_app_errors_before_a_response_propagate() -> None:
    async def raw_fail(scope: Any, receive: Any, send: Any) -> None:
        raise KeyError("early")

    async def silent(scope: Any, receive: Any, send: Any) -> None:
        await receive()

    async def half(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x", "more_body": True})

    async def twice(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"x"})
        await send({"type": "http.response.body", "body": b"y"})

    with pytest.raises(KeyError):
        call("GET", "/", target=raw_fail)
    with pytest.raises(RuntimeError, match="without starting"):
        call("GET", "/", target=silent)
    with pytest.raises(RuntimeError, match="before the response body was complete"):
        call("GET", "/", target=half)
    # an error after a complete response keeps the response (it is logged)
    assert call("GET", "/", target=twice) == (200, [], b"x")


def test_raw_asgi_receive_sequence() -> None:
    messages: list[Any] = []

    async def raw(scope: Any, receive: Any, send: Any) -> None:
        messages.append(await receive())
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"a", "more_body": True})
        await send({"type": "http.response.body", "body": b"b"})
        messages.append(await receive())  # after the response: the client is gone

    assert call("PUT", "/x", body=b"data", target=raw) == (200, [("content-type", "text/plain")], b"ab")
    assert messages == [{"type": "http.request", "body": b"data", "more_body": False}, {"type": "http.disconnect"}]


def test_build_scope_defaults() -> None:
    scope = build_scope(method="get", url="/a%2Fb", headers=[], client=None)
    assert scope["path"] == "/a/b" and scope["raw_path"] == b"/a%2Fb" and scope["client"] is None
    assert scope["server"] == ("localhost", 80) and scope["headers"] == [(b"host", b"localhost")]
