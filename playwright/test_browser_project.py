"""Issue 4 in the browser: the event loop through `run`, the persisted project file system,
`install` from a real registry server (CORS, another origin), `runTests` and the playground's
Files panel / Run tests button."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from hypelua.pm import HttpRegistry, pack

if TYPE_CHECKING:
    from conftest import HypePage

TOKEN = "browser-test-token"


class Registry:
    """A live `hype registry serve` app (uvicorn thread) with CORS for any origin."""

    def __init__(self, url: str, storage: Path) -> None:
        self.url, self.storage = url, storage

    def publish(self, tmp: Path, name: str, version: str, deps: dict[str, str], code: str) -> None:
        d = tmp / "src" / f"{name}-{version}"
        d.mkdir(parents=True)
        manifest = {"name": name, "version": version, "main": "init.lua", "dependencies": deps}
        (d / "hype.json").write_text(json.dumps(manifest))
        (d / "init.lua").write_text(code)
        HttpRegistry(self.url, TOKEN).publish(manifest, pack(d))


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    from hypelua.pm._server import create_app, running_in_thread

    storage = tmp_path_factory.mktemp("registry")
    with running_in_thread(create_app(storage, token=TOKEN, cors_origins=["*"])) as url:
        yield Registry(url, storage)


def test_run_drives_timers_promises_and_await(hype_page: HypePage) -> None:
    code = """
        order = {}
        setTimeout(function() order[#order + 1] = "timeout"; print("late timer 7f3a") end, 30)
        queueMicrotask(function() order[#order + 1] = "microtask" end)
        local sleep = function(ms) return Promise.new(function(resolve) setTimeout(resolve, ms) end) end
        local double = async(function(x) await(sleep(5)) return x * 2 end)
        local v = await(double(21))            -- top-level await
        order[#order + 1] = "awaited"
        return v, await(Promise.all({ double(1), Promise.resolve(3) }))[2], order
    """
    value, printed = hype_page.call(
        "hype.run(args[0]).then((v) => [v, document.querySelector('#output').textContent.includes('late timer 7f3a')])",
        code)
    assert value[0] == 42 and value[1] == 3
    assert value[2] == ["microtask", "awaited"]  # returned values are copied when the chunk returns
    # ... but `run` resolved only after the timer fired (its print came with the reply)
    assert printed is True
    assert hype_page.call("hype.compute('return order')") == ["microtask", "awaited", "timeout"]
    assert hype_page.call("hype.compute('return await(Promise.resolve(7))')") == 7


def test_run_timeout_is_typed_and_clears_timers(hype_page: HypePage) -> None:
    err = hype_page.error_of("hype.run('n = 0 setInterval(function() n = n + 1 end, 5)', {timeout: 300})")
    assert err is not None and err["isHypeError"] and err["code"] == "TIMEOUT"
    assert err["details"]["timeout_ms"] == 300
    n = hype_page.call("hype.compute('return n')")
    assert n > 5
    assert hype_page.call("hype.compute(args[0])",
                          "await(Promise.new(function(r) setTimeout(r, 60) end)) return n") == n
    err = hype_page.error_of("hype.run('await(Promise.reject(\"nope\"))')")
    assert err is not None and err["code"] == "LUA_RUNTIME_ERROR" and "nope" in err["message"]


def test_modules_persist_across_reload(fresh_hype_page: HypePage) -> None:
    hp = fresh_hype_page
    hp.call("hype.writeFile('lib/shape.lua', args[0])",
            "local M = {}\nfunction M.area(w, h) return w * h end\nreturn M")
    hp.call("hype.writeFile('main.lua', args[0])",
            "local shape = require('./lib/shape')\nlocal fmt = require('fmt')\n"
            "return fmt.show(shape.area(...))")
    hp.call("hype.writeFile('hype_modules/fmt/hype.json', args[0])", json.dumps({"main": "src/fmt.lua"}))
    hp.call("hype.writeFile('hype_modules/fmt/src/fmt.lua', args[0])",
            "return { show = function(v) return 'area=' .. v end }")
    assert hp.call("hype.runFile('main.lua', {args: [6, 7]})") == ["area=42"]
    assert hp.call("hype.compute(\"return require('./lib/shape').area(2, 3)\")") == 6
    hp.reload()  # a new worker: files come back from IndexedDB
    files = hp.call("hype.listFiles()")
    assert [f["path"] for f in files if f["type"] == "file"] == ["lib/shape.lua", "main.lua"]
    assert any(f["path"] == "hype_modules" and f["type"] == "dir" for f in files)
    assert "M.area" in hp.call("hype.readFile('lib/shape.lua')")
    assert hp.call("hype.runFile('main.lua', {args: [3, 5]})") == ["area=15"]
    assert hp.call("hype.removeFile('main.lua')") is True
    hp.reload()
    assert hp.error_of("hype.readFile('main.lua')")["code"] == "FILE_NOT_FOUND"
    # the playground lists the files; clicking one opens it in the editor
    hp.page.wait_for_selector("#file-list li[data-path='lib/shape.lua']")
    hp.page.click("#file-list li[data-path='lib/shape.lua']")
    hp.page.wait_for_function("() => window.playground.getCode().includes('M.area')")
    assert hp.page.input_value("#file-path") == "lib/shape.lua"


def test_path_escapes_are_refused(hype_page: HypePage) -> None:
    for expr in ("hype.writeFile('../escape.lua', 'x')", "hype.readFile('/etc/passwd')",
                 "hype.writeFile('a/../../../tmp/x.lua', 'x')", "hype.removeFile('..')",
                 "hype.listFiles('../..')", "hype.runFile('/home/pyodide/other.lua')", "hype.runTests('../')"):
        err = hype_page.error_of(expr)
        assert err is not None and err["code"] == "PATH_OUTSIDE_PROJECT", (expr, err)
    assert hype_page.error_of("hype.run('return io.open(\"../x\")')") is None  # Lua's own io is not confined


def test_install_package_with_dependency_then_require(fresh_hype_page: HypePage, registry: Registry,
                                                      tmp_path: Path) -> None:
    hp = fresh_hype_page
    registry.publish(tmp_path, "leftpad", "1.0.0", {}, "return function(s, n) return string.rep(' ', n - #s) .. s end")
    registry.publish(tmp_path, "leftpad", "2.0.0", {}, "return function() return 'v2' end")
    registry.publish(tmp_path, "report", "1.2.0", {"leftpad": "^1.0.0"},
                     "local pad = require('leftpad')\nreturn { line = function(s) return '[' .. pad(s, 5) .. ']' end }")
    progress: list[Any] = hp.page.evaluate("window.__progress = []")
    result = hp.call("hype.install('report@^1', {registry: args[0], onProgress: (p) => window.__progress.push(p)})",
                     registry.url)
    assert result["added"] == {"report": "^1"}
    assert result["fetched"] == 2 and result["lock_written"] is True
    assert sorted(result["packages"]) == ["hype_modules/leftpad", "hype_modules/report"]
    assert result["packages"]["hype_modules/leftpad"]["version"] == "1.0.0"
    progress = hp.page.evaluate("window.__progress")
    assert progress and progress[-1]["done"] == progress[-1]["total"]
    assert hp.call("hype.compute(\"return require('report').line('ab')\")") == "[   ab]"
    lock = json.loads(hp.call("hype.readFile('hype-lock.json')"))
    assert lock["packages"]["hype_modules/report"]["integrity"].startswith("sha512-")
    assert json.loads(hp.call("hype.readFile('hype.json')"))["dependencies"] == {"report": "^1"}
    hp.reload()  # installed packages are in the persisted file system
    assert hp.call("hype.compute(\"return require('report').line('xyz')\")") == "[  xyz]"
    files = {f["path"] for f in hp.call("hype.listFiles('hype_modules')")}
    assert {"hype_modules/report/init.lua", "hype_modules/leftpad/init.lua"} <= files


def test_install_integrity_mismatch_refused(fresh_hype_page: HypePage, registry: Registry, tmp_path: Path) -> None:
    hp = fresh_hype_page
    registry.publish(tmp_path, "stable", "1.0.0", {}, "return 'stable'")
    registry.publish(tmp_path, "tampered", "1.0.0", {}, "return 'genuine'")
    hp.call("hype.install('stable', {registry: args[0]})", registry.url)
    before = hp.call("hype.listFiles('.', {all: true})")
    before_text = {f["path"]: hp.call("hype.readFile(args[0])", f["path"]) for f in before if f["type"] == "file"}
    # the stored tarball changes after the registry recorded its integrity
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "hype.json").write_text(json.dumps({"name": "tampered", "version": "1.0.0", "main": "init.lua"}))
    (evil / "init.lua").write_text("return 'EVIL'")
    (registry.storage / "tampered" / "tampered-1.0.0.tgz").write_bytes(pack(evil))
    err = hp.error_of("hype.install('tampered@1.0.0', {registry: args[0]})", registry.url)
    assert err is not None and err["isHypeError"] and err["code"] == "INTEGRITY_MISMATCH"
    assert err["details"]["expected"] != err["details"]["actual"]
    after = hp.call("hype.listFiles('.', {all: true})")
    assert after == before
    assert {p: hp.call("hype.readFile(args[0])", p) for p in before_text} == before_text
    assert hp.error_of("hype.compute(\"return require('tampered')\")")["code"] == "MODULE_NOT_FOUND"
    err = hp.error_of("hype.install('no-such-package', {registry: args[0]})", registry.url)
    assert err is not None and err["code"] == "PACKAGE_NOT_FOUND"


def test_run_tests_api_and_playground_button(hype_page: HypePage, artifacts_dir: Path) -> None:
    hp = hype_page
    hp.call("hype.writeFile('tests/src/calc.lua', args[0])", "return { add = function(a, b) return a + b end }")
    hp.call("hype.writeFile('tests/calc_spec.lua', args[0])", """
local calc = require("./src/calc")
describe("calc", function()
  it("adds", function() expect(calc.add(2, 2)):toBe(4) end)
  it("waits for a timer", function()
    local p = Promise.new(function(resolve) setTimeout(function() resolve(1) end, 10) end)
    expect(await(p)):toBe(1)
  end)
  it("is broken", function() expect(calc.add(2, 2)):toBe(5) end)
end)
""")
    report = hp.call("hype.runTests('tests')")
    assert report["summary"] == {"passed": 2, "failed": 1, "pending": 0, "total": 3}
    status = {r["full_name"]: r["status"] for r in report["results"]}
    assert status == {"calc adds": "passed", "calc waits for a timer": "passed", "calc is broken": "failed"}
    broken = next(r for r in report["results"] if r["name"] == "is broken")
    assert broken["file"] == "tests/calc_spec.lua" and "5" in broken["message"]
    assert "not ok 3 - tests/calc_spec.lua: calc is broken" in report["tap"]
    # the playground button shows pass/fail per test
    page = hp.page
    page.click("#run-tests")
    page.wait_for_selector("#test-results li[data-status='failed']")
    passed = page.locator("#test-results li[data-status='passed']").count()
    failed = page.locator("#test-results li[data-status='failed']").count()
    assert (passed, failed) >= (2, 1)
    assert "failed" in page.inner_text("#test-summary")
    # save from the editor into the project
    page.evaluate("t => window.playground.setCode(t)", "return 'saved from the editor'")
    page.fill("#file-path", "notes/saved.lua")
    page.click("#file-save")
    page.wait_for_selector("#file-list li[data-path='notes/saved.lua']")
    assert hp.call("hype.runFile('notes/saved.lua')") == ["saved from the editor"]
    page.screenshot(path=str(artifacts_dir / "playground-files-tests.png"), full_page=True)
