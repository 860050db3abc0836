"""A Lua HTTP app answering requests inside the browser (issue 9 item 5).

`hype.loadApp` / `hype.fetch` on the shared playground page, the service worker of
`hype.routeFetches` in its own browser context, and the playground's HTTP panel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import HypePage

APP = r"""
local app = require("hype.http").app()
app:use(function(req, res, nxt) res:set("X-Powered-By", "hypelua"); nxt() end)
app:get("/api/users/:id", function(req, res) res:json({ id = req.params.id, q = req.query.q }) end)
app:post("/api/echo", function(req, res) res:status(201):json(req:json()) end)
app:post("/api/bytes", function(req, res)
  res:set("Content-Type", "application/octet-stream")
  res:send(req.body:reverse())
end)
app:post("/api/form", function(req, res) res:json(req:form()) end)
app:get("/api/boom", function(req, res) error("kaboom") end)
app:get("/api/hits", function(req, res)
  local t = storage.table("hits")
  t.n = (t.n or 0) + 1
  res:json({ n = t.n })
end)
return app
"""

#: fetch(...) -> {status, headers, text} in the page
READ = """async (r) => ({ status: r.status, headers: Object.fromEntries(r.headers), text: await r.text(),
                       url: r.url })"""


def fetch(hp: HypePage, expr: str, *args: Any) -> dict[str, Any]:
    """Evaluate a JS expression resolving to a Response (`hype` in scope); its parts."""
    return hp.page.evaluate(
        f"async (args) => {{ const hype = window.hype; const r = await ({expr}); return ({READ})(r); }}", list(args))


@pytest.fixture(scope="module")
def app_page(hype_page: HypePage) -> HypePage:
    hype_page.call("hype.writeFile('app.lua', args[0])", APP)
    assert hype_page.call("hype.loadApp({path: 'app.lua'})") == {"app": "app.lua"}
    return hype_page


def test_get_with_params_and_middleware(app_page: HypePage) -> None:
    r = fetch(app_page, "hype.fetch('/api/users/42?q=hello%20there')")
    assert r["status"] == 200
    assert r["headers"]["content-type"] == "application/json" and r["headers"]["x-powered-by"] == "hypelua"
    assert app_page.page.evaluate("(t) => JSON.parse(t)", r["text"]) == {"id": "42", "q": "hello there"}
    assert r["url"].endswith("/api/users/42?q=hello%20there")
    # a Request object, like fetch
    r = fetch(app_page, "hype.fetch(new Request('/api/users/7'))")
    assert r["status"] == 200 and '"7"' in r["text"]


def test_post_json_echo(app_page: HypePage) -> None:
    r = fetch(app_page, """hype.fetch('/api/echo', {method: 'POST', headers: {'content-type': 'application/json'},
                                                  body: JSON.stringify(args[0])})""", {"a": [1, 2, "é"], "b": None})
    assert r["status"] == 201
    assert app_page.page.evaluate("(t) => JSON.parse(t)", r["text"]) == {"a": [1, 2, "é"]}


def test_forms_urlencoded_and_multipart(app_page: HypePage) -> None:
    # Starlette parses forms with python-multipart, which dist/web ships for Pyodide
    r = fetch(app_page, "hype.fetch('/api/form', {method: 'POST', body: new URLSearchParams({a: '1', b: 'x y'})})")
    assert r["status"] == 200 and app_page.page.evaluate("(t) => JSON.parse(t)", r["text"]) == {"a": "1", "b": "x y"}
    r = fetch(app_page, """(() => { const f = new FormData(); f.append('name', 'Ann');
                                    return hype.fetch('/api/form', {method: 'POST', body: f}); })()""")
    assert r["status"] == 200 and app_page.page.evaluate("(t) => JSON.parse(t)", r["text"]) == {"name": "Ann"}


def test_handler_error_is_a_500_json_and_the_app_keeps_serving(app_page: HypePage) -> None:
    r = fetch(app_page, "hype.fetch('/api/boom')")
    assert r["status"] == 500 and r["headers"]["content-type"] == "application/json"
    err = app_page.page.evaluate("(t) => JSON.parse(t)", r["text"])["error"]
    assert err["code"] == "LUA_RUNTIME_ERROR" and "kaboom" in err["message"]
    assert fetch(app_page, "hype.fetch('/api/users/1')")["status"] == 200
    assert fetch(app_page, "hype.fetch('/api/nope')")["status"] == 404


def test_binary_bodies_both_ways(app_page: HypePage) -> None:
    out = app_page.page.evaluate("""async () => {
        const sent = new Uint8Array(1024);
        for (let i = 0; i < sent.length; i++) sent[i] = (i * 7) & 255;
        const r = await window.hype.fetch('/api/bytes', {method: 'POST', body: sent});
        const got = new Uint8Array(await r.arrayBuffer());
        const want = sent.slice().reverse();
        return { status: r.status, type: r.headers.get('content-type'), length: got.length,
                 same: got.length === want.length && got.every((b, i) => b === want[i]) };
    }""")
    assert out == {"status": 200, "type": "application/octet-stream", "length": 1024, "same": True}


def test_head_storage_and_concurrent_requests(app_page: HypePage) -> None:
    r = fetch(app_page, "hype.fetch('/api/users/1', {method: 'HEAD'})")
    assert r["status"] == 200 and r["text"] == ""
    counts = app_page.page.evaluate("""() => Promise.all(Array.from({length: 5}, () =>
        window.hype.fetch('/api/hits').then((r) => r.json()).then((j) => j.n)))""")
    assert sorted(counts) == list(range(counts[0], counts[0] + 5))
    assert app_page.call("hype.compute('return storage.table(\"hits\").n')") == max(counts)


def test_load_errors_are_typed_and_keep_the_loaded_app(app_page: HypePage) -> None:
    err = app_page.error_of("hype.loadApp({source: 'return +', chunkname: '=broken'})")
    assert err is not None and err["code"] == "LUA_SYNTAX_ERROR"
    err = app_page.error_of("hype.loadApp({path: 'missing.lua'})")
    assert err is not None and err["code"] == "FILE_NOT_FOUND"
    err = app_page.error_of("hype.loadApp({source: 'return 42'})")
    assert err is not None and err["code"] == "HTTP_NOT_AN_APP"
    assert fetch(app_page, "hype.fetch('/api/users/5')")["status"] == 200  # the previous app still answers


def test_no_app_is_a_typed_rejection(app_page: HypePage) -> None:
    try:
        assert app_page.call("hype.unloadApp()") is True
        err = app_page.error_of("hype.fetch('/api/users/1')")
        assert err is not None and err["code"] == "NO_APP" and err["isHypeError"]
    finally:
        app_page.call("hype.loadApp({path: 'app.lua'})")


def test_app_from_source(app_page: HypePage) -> None:
    src = 'local app = require("hype.http").app(); app:get("/", function(q, s) s:send("root") end); return app'
    try:
        assert app_page.call("hype.loadApp({source: args[0]})", src) == {"app": "=app"}
        r = fetch(app_page, "hype.fetch('/')")
        assert (r["status"], r["text"]) == (200, "root")
    finally:
        app_page.call("hype.loadApp({path: 'app.lua'})")


def test_handler_that_never_yields_is_a_503_and_the_worker_stays(app_page: HypePage) -> None:
    spin = ('local app = require("hype.http").app(); app:get("/spin", function() while true do end end)'
            '; app:get("/", function(q, s) s:send("ok") end); return app')
    restarts = app_page.call("hype.restarts")
    try:
        app_page.call("hype.loadApp({source: args[0], options: {timeout: 0.5}})", spin)
        r = fetch(app_page, "hype.fetch('/spin')")
        assert r["status"] == 503 and "TIMEOUT" in r["text"]
        assert fetch(app_page, "hype.fetch('/')")["text"] == "ok"
        assert app_page.call("hype.restarts") == restarts  # stopped by the Lua watch hook, not the watchdog
    finally:
        app_page.call("hype.loadApp({path: 'app.lua'})")


# ------------------------------------------------------------------ service worker
@pytest.fixture(scope="module")
def sw_page(sw_hype_page: HypePage) -> HypePage:
    sw_hype_page.call("hype.writeFile('app.lua', args[0])", APP)
    sw_hype_page.call("hype.loadApp({path: 'app.lua'})")
    return sw_hype_page


def test_service_worker_routes_plain_fetch_to_the_lua_app(sw_page: HypePage) -> None:
    routed = sw_page.call("hype.routeFetches('/api/').then((r) => ({prefixes: r.prefixes, scope: r.scope}))")
    assert routed["prefixes"] == ["/api/"] and routed["scope"].endswith("/")
    assert sw_page.page.evaluate("() => !!navigator.serviceWorker.controller")
    r = fetch(sw_page, "fetch('/api/users/1?q=sw')")  # plain fetch, no hype involved
    assert r["status"] == 200 and r["headers"]["x-powered-by"] == "hypelua"
    assert sw_page.page.evaluate("(t) => JSON.parse(t)", r["text"]) == {"id": "1", "q": "sw"}
    r = fetch(sw_page, "fetch('/api/echo', {method: 'POST', body: JSON.stringify({x: 1}),"
                       " headers: {'content-type': 'application/json'}})")
    assert r["status"] == 201 and r["text"] == '{"x":1}'
    # XMLHttpRequest goes through the service worker too
    xhr = sw_page.page.evaluate("""() => new Promise((resolve) => {
        const x = new XMLHttpRequest(); x.open('GET', '/api/users/9');
        x.onload = () => resolve([x.status, x.responseText]); x.send(); })""")
    assert xhr[0] == 200 and '"9"' in xhr[1]


def test_service_worker_leaves_other_paths_to_the_network(sw_page: HypePage) -> None:
    sw_page.call("hype.routeFetches('/api/')")
    r = fetch(sw_page, "fetch('/manifest.json')")  # a file of dist/web, from the dev server
    assert r["status"] == 200 and '"wheels"' in r["text"]
    r = fetch(sw_page, "fetch('/apix/users/1')")  # not under the prefix: the dev server's 404
    assert r["status"] == 404 and "x-powered-by" not in r["headers"]


def test_service_worker_after_a_reload(sw_page: HypePage) -> None:
    sw_page.reload()  # controlled from the start now; the new worker has no app until loadApp
    assert sw_page.page.evaluate("() => !!navigator.serviceWorker.controller")
    sw_page.call("hype.loadApp({path: 'app.lua'})")
    sw_page.call("hype.routeFetches('/api/')")
    r = fetch(sw_page, "fetch('/api/users/11')")
    assert r["status"] == 200 and '"11"' in r["text"]


def test_service_worker_without_app_or_page_answers_503(sw_page: HypePage) -> None:
    sw_page.call("hype.routeFetches('/api/')")
    try:
        sw_page.call("hype.unloadApp()")
        r = fetch(sw_page, "fetch('/api/users/1')")
        assert r["status"] == 503
        assert sw_page.page.evaluate("(t) => JSON.parse(t)", r["text"])["error"]["code"] == "NO_APP"
    finally:
        sw_page.call("hype.loadApp({path: 'app.lua'})")
    # a second page of the origin without hypelua: its requests are answered by the first page's app
    # (this closes the module's service-worker page: keep this test last of its section)
    other = sw_page.context.new_page()
    try:
        other.goto(sw_page.url.split("playground/")[0] + "manifest.json")
        got = other.evaluate("() => fetch('/api/users/3').then(async (r) => [r.status, await r.text()])")
        assert got[0] == 200 and '"3"' in got[1]
        sw_page.page.close()  # now no page can answer
        got = other.evaluate("() => fetch('/api/users/3').then(async (r) => [r.status, await r.text()])")
        assert got[0] == 503 and "NO_HYPE_CLIENT" in got[1]
    finally:
        other.close()


# ------------------------------------------------------------------ playground panel
def test_playground_http_panel(hype_page: HypePage) -> None:
    page = hype_page.page
    saved = page.evaluate("() => window.playground.getCode()")
    try:
        page.click("#http-example")
        page.select_option("#http-method", "GET")
        page.fill("#http-path", "/users/5?q=panel")
        page.click("#http-send")
        page.wait_for_function("() => /^\\d{3}/.test(document.querySelector('#http-status').textContent)")
        assert page.text_content("#http-status").startswith("200")
        assert '"q": "panel"' in page.text_content("#http-response")
        page.select_option("#http-method", "POST")
        page.fill("#http-path", "/echo")
        page.fill("#http-body", '{"name": "Ann"}')
        page.click("#http-send")
        page.wait_for_function("() => document.querySelector('#http-status').textContent.startsWith('201')")
        assert '"name": "Ann"' in page.text_content("#http-response")
        assert "content-type: application/json" in page.text_content("#http-headers")
    finally:
        page.evaluate("t => window.playground.setCode(t)", saved)
        hype_page.call("hype.loadApp({path: 'app.lua'})")
