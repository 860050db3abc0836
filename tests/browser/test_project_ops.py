"""WorkerHost issue-4 ops natively: the event loop in run, project files, install, runTests, reset."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from hypelua.browser import WorkerHost
from hypelua.pm import pack
from hypelua.pm._registry import RegistryStorage


class Env:
    """A host with a project directory, a sync counter and (optionally) an in-process registry."""

    def __init__(self, host: WorkerHost, root: Path) -> None:
        self.host, self.root = host, root
        self.syncs = 0

    def call(self, op: str, args: Any = None) -> dict[str, Any]:
        return json.loads(asyncio.run(self.host.dispatch(op, json.dumps(args or {}))))

    def ok(self, op: str, args: Any = None) -> Any:
        reply = self.call(op, args)
        assert reply["ok"], reply
        return reply["value"]

    def err(self, op: str, args: Any = None) -> dict[str, Any]:
        reply = self.call(op, args)
        assert not reply["ok"], reply
        return reply["error"]


def _registry(tmp_path: Path) -> tuple[RegistryStorage, Any]:
    """A registry storage and an async ``http_get`` answering from the real registry app (in process)."""
    import httpx

    from hypelua.pm._server import create_app

    storage = RegistryStorage(tmp_path / "registry")
    app = create_app(storage.root, cors_origins=["*"])

    async def http_get(url: str) -> tuple[int, bytes]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
            r = await client.get(url)
        return r.status_code, r.content

    return storage, http_get


def _publish(storage: RegistryStorage, tmp: Path, name: str, version: str, deps: dict[str, str], code: str) -> None:
    d = tmp / "src" / f"{name}-{version}"
    d.mkdir(parents=True)
    manifest = {"name": name, "version": version, "main": "init.lua", "dependencies": deps}
    (d / "hype.json").write_text(json.dumps(manifest))
    (d / "init.lua").write_text(code)
    storage.publish(manifest, pack(d))


@pytest.fixture
def env(tmp_path: Path, lua_backend: str) -> Env:
    root = tmp_path / "project"
    storage, http_get = _registry(tmp_path)
    holder: dict[str, Env] = {}

    async def sync() -> None:
        holder["env"].syncs += 1

    host = asyncio.run(WorkerHost.create("test", None, backend=lua_backend, project_root=str(root),
                                         project_sync=sync, http_get=http_get, registry="http://testserver"))
    e = Env(host, root)
    e.storage = storage  # type: ignore[attr-defined]
    holder["env"] = e
    return e


def test_run_drives_timers_promises_and_top_level_await(env: Env) -> None:
    reply = env.call("run", {"code": """
        setTimeout(function() print("timer") end, 20)
        local p = Promise.new(function(resolve) setTimeout(function() resolve(40) end, 5) end)
        local v = await(p)
        local f = async(function(x) return await(Promise.resolve(x)) + 1 end)
        print("awaited", v)
        return v + await(f(1))
    """})
    assert reply["ok"], reply
    assert reply["value"] == [42]
    assert reply["output"] == "awaited\t40\ntimer\n"  # the run waited for the timer too
    assert env.ok("compute", {"code": "return await(Promise.resolve('p'))"}) == "p"


def test_run_with_a_forgotten_interval_times_out_and_the_worker_recovers(env: Env) -> None:
    err = env.err("run", {"code": "Memory.ticks = 0 setInterval(function() Memory.ticks = Memory.ticks + 1 end, 5)",
                          "timeout": 200})
    assert err["code"] == "TIMEOUT" and err["details"]["timeout_ms"] == 200
    ticks = env.ok("compute", {"code": "return Memory.ticks"})
    assert ticks > 3
    # the interval was cleared: it fires no more, and the next run is idle at once
    assert env.ok("compute", {"code": "local p = Promise.new(function(r) setTimeout(r, 50) end) await(p) "
                                      "return Memory.ticks"}) == ticks
    assert env.err("run", {"code": "return 1", "timeout": -1})["code"] == "BAD_REQUEST"


def test_async_errors_are_typed(env: Env) -> None:
    err = env.err("run", {"code": "await(Promise.reject('nope'))"})
    assert err["code"] == "LUA_RUNTIME_ERROR" and "nope" in err["message"]
    err = env.err("run", {"code": "setTimeout(function() error('in timer') end, 1)"})
    assert err["code"] == "UNCAUGHT_ERROR" and "in timer" in err["message"]
    assert env.ok("run", {"code": "return 1"}) == [1]


def test_files_require_and_hype_json(env: Env) -> None:
    assert env.ok("writeFile", {"path": "lib/greet.lua", "text": "return function(n) return 'hi ' .. n end"}) == {
        "path": "lib/greet.lua", "size": 40}
    env.ok("writeFile", {"path": "main.lua", "text": "local greet = require('./lib/greet')\n"
                                                     "local util = require('util')\n"
                                                     "return greet(...) .. util.suffix"})
    env.ok("writeFile", {"path": "hype_modules/util/hype.json", "text": json.dumps({"main": "src/u.lua"})})
    env.ok("writeFile", {"path": "hype_modules/util/src/u.lua", "text": "return { suffix = '!' }"})
    assert env.syncs >= 4
    assert env.ok("readFile", {"path": "lib/greet.lua"}).startswith("return function")
    assert env.ok("runFile", {"path": "main.lua", "args": ["ann"]}) == ["hi ann!"]
    # strings run with the project as the module root
    assert env.ok("compute", {"code": "return require('./lib/greet')('bo')"}) == "hi bo"
    listing = env.ok("listFiles")
    paths = [e["path"] for e in listing]
    assert paths == ["hype_modules", "lib", "lib/greet.lua", "main.lua"]  # hype_modules not descended
    assert {e["path"] for e in env.ok("listFiles", {"dir": "hype_modules"})} >= {"hype_modules/util/src/u.lua"}
    assert env.ok("removeFile", {"path": "lib"}) is True
    assert env.ok("removeFile", {"path": "lib"}) is False
    assert env.err("readFile", {"path": "lib/greet.lua"})["code"] == "FILE_NOT_FOUND"
    assert env.err("runFile", {"path": "nope.lua"})["code"] == "FILE_NOT_FOUND"


@pytest.mark.parametrize("path", ["../outside.lua", "/etc/passwd", "a/../../x", "..", ".", "link/x.lua"])
def test_path_escapes_are_refused(env: Env, tmp_path: Path, path: str) -> None:
    os.symlink(tmp_path, env.root / "link")
    for op, args in (("writeFile", {"path": path, "text": "x"}), ("readFile", {"path": path}),
                     ("removeFile", {"path": path}), ("runFile", {"path": path})):
        err = env.err(op, args)
        assert err["code"] == "PATH_OUTSIDE_PROJECT", (op, err)
    assert not (tmp_path / "outside.lua").exists()
    assert env.err("listFiles", {"dir": "../"})["code"] == "PATH_OUTSIDE_PROJECT"
    # absolute paths inside the project are fine
    env.ok("writeFile", {"path": str(env.root / "ok.lua"), "text": "return 1"})
    assert env.ok("readFile", {"path": "ok.lua"}) == "return 1"


def test_install_with_a_dependency_then_require(env: Env, tmp_path: Path) -> None:
    storage = env.storage  # type: ignore[attr-defined]
    _publish(storage, tmp_path, "base", "1.0.0", {}, "return { n = 1 }")
    _publish(storage, tmp_path, "base", "2.0.0", {}, "return { n = 2 }")
    _publish(storage, tmp_path, "top", "1.1.0", {"base": "^1"}, "local b = require('base') return { n = b.n + 10 }")
    res = env.ok("install", {"packages": ["top@^1"]})
    assert res["added"] == {"top": "^1"} and res["fetched"] == 2 and res["lock_written"]
    assert sorted(res["packages"]) == ["hype_modules/base", "hype_modules/top"]
    lock = json.loads(env.ok("readFile", {"path": "hype-lock.json"}))
    assert lock["packages"]["hype_modules/top"]["integrity"].startswith("sha512-")
    assert json.loads(env.ok("readFile", {"path": "hype.json"}))["dependencies"] == {"top": "^1"}
    assert env.ok("compute", {"code": "return require('top').n"}) == 11
    # again: nothing to do
    again = env.ok("install", {})
    assert again["changed"] is False and again["fetched"] == 0


def test_install_integrity_mismatch_leaves_everything(env: Env, tmp_path: Path) -> None:
    storage = env.storage  # type: ignore[attr-defined]
    _publish(storage, tmp_path, "solid", "1.0.0", {}, "return 'solid'")
    _publish(storage, tmp_path, "shaky", "1.0.0", {}, "return 'shaky'")
    env.ok("install", {"packages": ["solid"]})
    before = {p: p.read_bytes() for p in sorted(env.root.rglob("*")) if p.is_file()}
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "hype.json").write_text(json.dumps({"name": "shaky", "version": "1.0.0", "main": "init.lua"}))
    (evil / "init.lua").write_text("return 'EVIL'")
    (storage.root / "shaky" / "shaky-1.0.0.tgz").write_bytes(pack(evil))
    err = env.err("install", {"packages": ["shaky@1.0.0"]})
    assert err["code"] == "INTEGRITY_MISMATCH"
    after = {p: p.read_bytes() for p in sorted(env.root.rglob("*")) if p.is_file()}
    assert after == before
    unknown = env.err("install", {"packages": ["nope-pkg"]})
    assert unknown["code"] == "PACKAGE_NOT_FOUND"
    assert env.err("install", {"packages": ["x"], "registry": "ftp://x"})["code"] == "BAD_REQUEST"


def test_run_tests_reports_pass_and_fail(env: Env) -> None:
    env.ok("writeFile", {"path": "src/add.lua", "text": "return function(a, b) return a + b end"})
    env.ok("writeFile", {"path": "spec/add_spec.lua", "text": """
        local add = require("../src/add")
        describe("add", function()
          it("adds", function() expect(add(1, 2)):toBe(3) end)
          it("is wrong", function() expect(add(1, 1)):toBe(3) end)
        end)
    """})
    value = env.ok("runTests", {})
    assert value["summary"] == {"passed": 1, "failed": 1, "pending": 0, "total": 2}
    by_name = {r["name"]: r for r in value["results"]}
    assert by_name["adds"]["status"] == "passed" and by_name["adds"]["file"] == "spec/add_spec.lua"
    assert by_name["is wrong"]["status"] == "failed" and "3" in by_name["is wrong"]["message"]
    assert value["tap"].startswith("TAP version 13\n") and "not ok 2 - spec/add_spec.lua: add is wrong" in value["tap"]
    assert env.err("runTests", {"paths": ["src"]})["code"] == "NO_TESTS"
    assert env.err("runTests", {"paths": ["../x"]})["code"] == "PATH_OUTSIDE_PROJECT"


def test_reset_gives_a_fresh_lua_state(env: Env) -> None:
    env.ok("writeFile", {"path": "m.lua", "text": "return { v = 1 }"})
    assert env.ok("compute", {"code": "x = 5 return require('./m').v"}) == 1
    env.ok("writeFile", {"path": "m.lua", "text": "return { v = 2 }"})
    assert env.ok("compute", {"code": "return require('./m').v"}) == 1  # Node: modules are cached
    env.ok("run", {"code": "Memory.kept = true"})
    env.ok("reset")
    assert env.ok("compute", {"code": "return require('./m').v"}) == 2
    assert env.ok("run", {"code": "return x, Memory.kept"}) == [None, True]


def test_registry_cors_is_opt_in(tmp_path: Path) -> None:
    import httpx

    from hypelua.pm._server import create_app

    async def get(app: Any) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
            return await c.get("/", headers={"Origin": "http://127.0.0.1:8000"})

    with_cors = asyncio.run(get(create_app(tmp_path, cors_origins=["*"])))
    assert with_cors.headers["access-control-allow-origin"] == "*"
    without = asyncio.run(get(create_app(tmp_path)))
    assert "access-control-allow-origin" not in without.headers


def test_file_ops_without_a_project_are_refused(lua_backend: str) -> None:
    host = asyncio.run(WorkerHost.create("test", None, backend=lua_backend))
    reply = json.loads(asyncio.run(host.dispatch("readFile", json.dumps({"path": "x.lua"}))))
    assert reply["error"]["code"] == "NO_PROJECT"
    reply = json.loads(host.dispatch_sync("listFiles", "{}") or "{}")
    assert reply["error"]["code"] == "NO_PROJECT"


def test_sandboxed_worker_refuses_run_tests_and_confines_require(tmp_path: Path) -> None:
    import asyncio
    import json

    from hypelua.browser import WorkerHost

    async def main() -> None:
        host = await WorkerHost.create(project_root=str(tmp_path), sandbox=True)
        (tmp_path / "x_spec.lua").write_text("it('escapes', function() assert(io) end)")
        reply = json.loads(await host.dispatch("runTests", json.dumps({})))
        assert reply["ok"] is False and reply["error"]["code"] == "SANDBOXED", reply
        reply = json.loads(await host.dispatch("run", json.dumps({"code": "return type(io), require('../x')"})))
        assert reply["ok"] is False and reply["error"]["code"] == "MODULE_OUTSIDE_SANDBOX", reply
        reply = json.loads(await host.dispatch("run", json.dumps({"code": "while true do end", "timeout": 300})))
        assert reply["ok"] is False and reply["error"]["code"] == "TIMEOUT", reply
        reply = json.loads(await host.dispatch("run", json.dumps({"code": "return type(io)"})))
        assert reply == {"ok": True, "value": ["nil"]} or reply.get("value") == ["nil"], reply

    asyncio.run(main())
