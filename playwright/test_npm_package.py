"""The npm package `hypelua` as a user gets it: `npm pack` of the built dist/web, installed
offline into a scratch project, type-checked with its .d.ts (tsc), bundled (esbuild), served,
and run in headless Chromium, both as an ES module import and as a `<script src>` global.

Needs dist/web built (./build.sh dist; ./build.sh test fails rather than skips without it).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hypelua._devserver import start_in_thread

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
#: as in conftest.py: a cold Pyodide boot takes seconds
BOOT_TIMEOUT_MS = 120_000
ACTION_TIMEOUT_MS = 30_000
BIN = ROOT / "node_modules" / ".bin"
NPM = shutil.which("npm") or "npm"

#: what the tarball must hold (the worker loads manifest.json, pyodide/ and wheels/)
EXPECTED = {
    "package.json", "README.md", "LICENSE",
    "dist/web/hypelua.mjs", "dist/web/hypelua.js", "dist/web/hypelua.d.ts", "dist/web/worker.mjs",
    "dist/web/hype-live.js", "dist/web/hype-sw.js", "dist/web/manifest.json",
    "dist/web/pyodide/pyodide.mjs", "dist/web/pyodide/pyodide.asm.mjs", "dist/web/pyodide/pyodide.asm.wasm",
    "dist/web/pyodide/python_stdlib.zip", "dist/web/pyodide/pyodide-lock.json",
}
#: never in the tarball
FORBIDDEN_PREFIXES = ("dist/web/playground/", "dist/web/demo/", "dist/web/bare-pyodide/", "dist/web/vendor/",
                      "web/", "py/", "tests/", "playwright/", "wasm/", "bench/", "node_modules/", "build/")

MAIN_TS = """\
import { Hype, HypeError, HypeLive, type HypeLoadOptions, type HypeValue } from "hypelua";

const lines: string[] = [];
const options: HypeLoadOptions = {
  // the worker, manifest.json, pyodide/ and wheels/ copied from node_modules/hypelua/dist/web/
  baseUrl: new URL("./hypelua/", location.href).href,
  database: "npm-esm",
  stdout: (line: string) => { lines.push(line); },
};

async function main(): Promise<void> {
  const hype: Hype = await Hype.load(options);
  const values: HypeValue[] = await hype.run("print('hello from the bundle') return 1 + 1");
  const two: HypeValue = await hype.compute("return 40 + 2");
  let code = "";
  try {
    await hype.run("return +");
  } catch (e) {
    if (e instanceof HypeError) code = e.code;
  }
  await hype.batchTableOperations([{ type: "set", table: "T", key: "k", value: { a: 1 } }]);
  const rows = await hype.queryTable<{ a: number }>("T", { field: "a", operator: ">=", value: 1 });
  const a: number = rows[0].value.a;
  const cursor: string | null = rows.cursor;
  (window as any).result = { values, two, code, lines, a, cursor, live: typeof HypeLive.connect,
                             info: (await hype.info()).version };
}

main().catch((e) => { (window as any).result = { error: String(e) }; });
"""

# each line must fail type-checking on its own (tsc reports one error per line)
BAD_TS = """\
import { Hype, LiveConnection } from "hypelua";

const hype = await Hype.load({ database: 1 });
await hype.run(42);
const n: number = await hype.readFile("x.lua");
new Hype();
hype.noSuchMethod();
await hype.batchTableOperations([{ type: "upsert", table: "T", key: "k" }]);
new LiveConnection(document.body, { open: async () => {}, send() {}, close() {} });
"""

INDEX_HTML = """\
<!doctype html>
<meta charset="utf-8">
<title>hypelua from npm (bundled)</title>
<script type="module" src="./main.js"></script>
"""

SCRIPT_HTML = """\
<!doctype html>
<meta charset="utf-8">
<title>hypelua from npm (script tag)</title>
<script src="/node_modules/hypelua/dist/web/hypelua.js"></script>
<script>
  const lines = [];
  // baseUrl defaults to the directory hypelua.js was loaded from: node_modules/hypelua/dist/web/
  Hype.load({ database: "npm-iife", stdout: (line) => lines.push(line) })
    .then((hype) => hype.run("print('hello from the script tag') return 1 + 1"))
    .then((values) => { window.result = { values, lines }; },
          (e) => { window.result = { error: `${e.code}: ${e.message}` }; });
</script>
"""


def run(cmd: list[str | Path], cwd: Path, *, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "npm_config_audit": "false", "npm_config_fund": "false", "npm_config_update_notifier": "false"}
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def tarball(dist_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """`npm pack` of the repository (its dist/web): the tarball and the files it holds."""
    assert (ROOT / "dist" / "web" / "hypelua.d.ts").is_file(), "dist/web has no hypelua.d.ts: run ./build.sh dist"
    out = tmp_path_factory.mktemp("pack")
    proc = run([NPM, "pack", "--json", "--pack-destination", out], ROOT)
    info = json.loads(proc.stdout)[0]
    return out / info["filename"], sorted(f["path"] for f in info["files"])


@pytest.fixture(scope="module")
def project(tarball: tuple[Path, list[str]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch project with the tarball installed (offline: the package has no dependencies)."""
    tgz, _ = tarball
    proj = tmp_path_factory.mktemp("scratch")
    (proj / "package.json").write_text(json.dumps({"name": "scratch", "private": True, "type": "module"}))
    run([NPM, "install", "--offline", "--no-package-lock", tgz], proj)
    return proj


@pytest.fixture(scope="module")
def site(project: Path) -> Iterator[str]:
    """The scratch project served like any static site (COOP/COEP: the dev server's headers)."""
    server, url = start_in_thread(project, "127.0.0.1", 0)
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


def tsc(project: Path, *files: str) -> subprocess.CompletedProcess:
    return run([BIN / "tsc", "--noEmit", "--strict", "--target", "es2022", "--module", "esnext",
                "--moduleResolution", "bundler", "--lib", "es2022,dom", *files],
               project, check=False)


def test_tarball_holds_what_a_user_needs(tarball: tuple[Path, list[str]]) -> None:
    tgz, files = tarball
    assert not EXPECTED - set(files), f"missing from the tarball: {sorted(EXPECTED - set(files))}"
    assert [f for f in files if f.startswith(FORBIDDEN_PREFIXES)] == []
    manifest = json.loads((ROOT / "dist" / "web" / "manifest.json").read_text())
    assert {f"dist/web/wheels/{w}" for w in manifest["wheels"]} <= set(files)
    # instant start: the memory snapshot the manifest names, and the LuaLS annotations
    assert f"dist/web/{manifest['snapshot']}" in files
    assert {f"dist/web/{manifest['site_packages']}{ext}" for ext in (".bin", ".json")} <= set(files)
    assert "lua/types/globals.lua" in files
    assert not [f for f in files if f.endswith(".map")]
    pkg = json.loads((ROOT / "package.json").read_text())
    assert "private" not in pkg and not pkg.get("dependencies"), "installing the tarball must need no registry"
    assert pkg["exports"]["."]["types"] == "./dist/web/hypelua.d.ts"
    # Pyodide ~6 MB and the memory snapshot ~6.5 MB of it, gzipped
    assert tgz.stat().st_size < 20_000_000


def test_installed_package_layout(project: Path) -> None:
    web = project / "node_modules" / "hypelua" / "dist" / "web"
    for name in ("hypelua.mjs", "hypelua.js", "hypelua.d.ts", "worker.mjs", "manifest.json"):
        assert (web / name).is_file(), name
    assert (web / "pyodide" / "pyodide.asm.wasm").is_file()


def test_types_check_a_correct_program(project: Path) -> None:
    (project / "main.ts").write_text(MAIN_TS)
    proc = tsc(project, "main.ts")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_types_reject_wrong_calls(project: Path) -> None:
    (project / "bad.ts").write_text(BAD_TS)
    proc = tsc(project, "bad.ts")
    assert proc.returncode != 0
    errors = [line for line in proc.stdout.splitlines() if line.startswith("bad.ts(")]
    lines_with_errors = {int(line.split("(")[1].split(",")[0]) for line in errors}
    # every line after the import is wrong; the import itself is fine (LiveConnection is a type)
    assert lines_with_errors == set(range(3, 10)), proc.stdout


@contextlib.contextmanager
def _opened(browser: Any, url: str) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Open `url` in a fresh context; yields (page, window.result), the result checked for an
    error (with the page's last console lines in the message)."""
    context = browser.new_context()
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
        page.goto(url)
        page.wait_for_function("() => window.result !== undefined", timeout=BOOT_TIMEOUT_MS)
        result = page.evaluate("window.result")
        assert "error" not in result, f"{result}\n" + "\n".join(console[-30:])
        yield page, result
    finally:
        context.close()


def test_bundled_typescript_app_runs_lua(project: Path, site: str, browser: Any) -> None:
    (project / "main.ts").write_text(MAIN_TS)
    app = project / "app"
    run([BIN / "esbuild", "main.ts", "--bundle", "--format=esm", "--target=es2022", f"--outfile={app / 'main.js'}",
         "--log-level=warning"], project)
    (app / "index.html").write_text(INDEX_HTML)
    # what a user copies next to the bundle (or serves from node_modules: see the script-tag page)
    web = project / "node_modules" / "hypelua" / "dist" / "web"
    shutil.copytree(web, app / "hypelua", ignore=shutil.ignore_patterns("*.d.ts", "hypelua.js", "hypelua.mjs"))
    with _opened(browser, f"{site}app/index.html") as (_, result):
        assert result["values"] == [2]
        assert result["two"] == 42
        assert result["code"] == "LUA_SYNTAX_ERROR"
        assert "hello from the bundle" in result["lines"]
        assert result["a"] == 1 and result["cursor"] is None
        assert result["live"] == "function"
        assert result["info"] == json.loads((web / "manifest.json").read_text())["version"]


def test_script_tag_global_runs_lua(project: Path, site: str, browser: Any) -> None:
    (project / "script.html").write_text(SCRIPT_HTML)
    with _opened(browser, f"{site}script.html") as (page, result):
        assert result["values"] == [2]
        assert "hello from the script tag" in result["lines"]
        assert page.evaluate("typeof window.HypeError") == "function"
