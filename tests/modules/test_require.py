"""require(): Node's resolution rules, caches, cycles, errors, plain Lua libraries (every back-end)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hypelua import LuaError, Runtime
from hypelua._errors import LuaModuleNotFoundError
from hypelua.modules import MemoryFS, Resolver, install_require


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, "utf-8")


@pytest.fixture
def rt(lua_backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HYPE_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    out: list[str] = []
    r = Runtime(":memory:", backend=lua_backend, stdout=out.append)
    r.out = out  # type: ignore[attr-defined]
    yield r
    r.close()


def run(rt: Runtime, path: Path) -> tuple:
    return rt.execute_file(path)


def test_relative_requires_resolve_from_the_requiring_file(rt: Runtime, tmp_path: Path) -> None:
    write(tmp_path, {
        "app/main.lua": "local a = require('./lib/a'); return a.value, require('../top').name",
        "app/lib/a.lua": "local b = require('./b'); return { value = b * 2 }",
        "app/lib/b.lua": "return 21",
        "top.lua": "return { name = 'top' }",
    })
    assert run(rt, tmp_path / "app/main.lua") == (42, "top")


def test_absolute_path_and_explicit_extension(rt: Runtime, tmp_path: Path) -> None:
    write(tmp_path, {"x/m.lua": "return 'abs'"})
    assert rt.execute(f"return require('{tmp_path}/x/m'), require('{tmp_path}/x/m.lua')") == ("abs", "abs")


def test_directory_with_init_lua_and_hype_json_main(rt: Runtime, tmp_path: Path) -> None:
    write(tmp_path, {
        "main.lua": "return require('./pkg').n, require('./pkg2').n, require('./pkg3').n",
        "pkg/init.lua": "return { n = 'init' }",
        "pkg2/hype.json": json.dumps({"name": "pkg2", "main": "src/entry.lua"}),
        "pkg2/src/entry.lua": "return { n = 'main' }",
        "pkg3/hype.json": json.dumps({"name": "pkg3", "main": "lib"}),
        "pkg3/lib/init.lua": "return { n = 'main-dir' }",
    })
    assert run(rt, tmp_path / "main.lua") == ("init", "main", "main-dir")


def test_hype_modules_walks_up_and_nearest_wins(rt: Runtime, tmp_path: Path) -> None:
    write(tmp_path, {
        "hype_modules/dep/init.lua": "return 'outer'",
        "hype_modules/other.lua": "return 'file-form'",
        "a/b/c/main.lua": "return require('dep'), require('other')",
        "a/hype_modules/dep/hype.json": json.dumps({"main": "d.lua"}),
        "a/hype_modules/dep/d.lua": "return 'inner'",
        "z/main.lua": "return require('dep')",
    })
    assert run(rt, tmp_path / "a/b/c/main.lua") == ("inner", "file-form")
    assert run(rt, tmp_path / "z/main.lua") == ("outer",)


def test_nested_versions_are_distinct_per_requirer(rt: Runtime, tmp_path: Path) -> None:
    write(tmp_path, {
        "main.lua": "local a = require('a'); return require('b').v, a.b_version",
        "hype_modules/b/init.lua": "return { v = 2 }",
        "hype_modules/a/init.lua": "return { b_version = require('b').v }",
        "hype_modules/a/hype_modules/b/init.lua": "return { v = 1 }",
    })
    assert run(rt, tmp_path / "main.lua") == (2, 1)


def test_subpath_and_dotted_names(rt: Runtime, tmp_path: Path) -> None:
    write(tmp_path, {
        "main.lua": "return require('pkg/util').u, require('pkg.util').u",
        "hype_modules/pkg/util.lua": "return { u = 'util' }",
    })
    assert run(rt, tmp_path / "main.lua") == ("util", "util")


def test_builtin_hype_modules(rt: Runtime, tmp_path: Path) -> None:
    # lua/hype/require.lua is itself a file of the built-in library: it must resolve
    r = rt.resolver  # type: ignore[attr-defined]
    path, _ = r.find("hype.require")
    assert path is not None and path.endswith("hype/require.lua")
    path2, _ = r.find("hype/require")
    assert path2 == path


def test_global_modules_dir(rt: Runtime, tmp_path: Path) -> None:
    write(tmp_path, {"home/modules/globby.lua": "return 'global'"})
    assert rt.execute("return require('globby')") == ("global",)


def test_lua_package_path_still_works(rt: Runtime, tmp_path: Path) -> None:
    write(tmp_path, {"vendor/lib/old.lua": "return 'old'"})
    rt.execute(f"package.path = '{tmp_path}/vendor/lib/?.lua;' .. package.path")
    assert rt.execute("return require('old')") == ("old",)


def test_cache_returns_same_instance_and_runs_once(rt: Runtime, tmp_path: Path) -> None:
    write(tmp_path, {
        "main.lua": "local a = require('./c'); local b = require('./c'); local d = require('./sub/d')"
                    "; return a == b, d.c == a, counter",
        "c.lua": "counter = (counter or 0) + 1; return {}",
        "sub/d.lua": "return { c = require('../c') }",
    })
    assert run(rt, tmp_path / "main.lua") == (True, True, 1)


def test_cycle_returns_partially_initialised_module(rt: Runtime, tmp_path: Path) -> None:
    write(tmp_path, {
        "main.lua": "local a = require('./a'); return a.name, a.peer().name, a.b_saw_a_name",
        # Lua idiom: publish the module table early through package.loaded
        "a.lua": "local M = { name = 'a' }; package.loaded[...] = M\n"
                 "local b = require('./b'); M.b_saw_a_name = b.a_name_at_load\n"
                 "function M.peer() return b end; return M",
        "b.lua": "local a = require('./a'); return { name = 'b', a_name_at_load = a.name }",
    })
    assert run(rt, tmp_path / "main.lua") == ("a", "b", "a")


def test_cycle_placeholder_is_filled_after_load(rt: Runtime, tmp_path: Path) -> None:
    write(tmp_path, {
        "main.lua": "local x = require('./x'); local y = require('./y'); return y.get_x().ok, y.seen_during_load",
        "x.lua": "local y = require('./y'); return { ok = 'filled' }",
        "y.lua": "local x = require('./x'); local seen = x.ok\n"
                 "return { get_x = function() return x end, seen_during_load = seen == nil }",
    })
    assert run(rt, tmp_path / "main.lua") == ("filled", True)


def test_not_found_lists_every_path_tried(rt: Runtime, tmp_path: Path) -> None:
    write(tmp_path, {"app/main.lua": "return require('missing')"})
    with pytest.raises(LuaModuleNotFoundError) as ei:
        run(rt, tmp_path / "app/main.lua")
    err = ei.value
    assert err.code == "MODULE_NOT_FOUND"
    tried = err.details["tried"]
    assert f"{tmp_path}/app/hype_modules/missing.lua" in tried
    assert f"{tmp_path}/hype_modules/missing/init.lua" in tried
    assert f"{tmp_path}/home/modules/missing.lua" in tried
    for t in tried:
        assert f"no file '{t}'" in err.message


def test_not_found_relative_and_pcall_catchable(rt: Runtime, tmp_path: Path) -> None:
    write(tmp_path, {"main.lua": "local ok, e = pcall(require, './nope'); return ok, e"})
    ok, msg = run(rt, tmp_path / "main.lua")
    assert ok is False
    assert "module './nope' not found" in msg and f"{tmp_path}/nope.lua" in msg


def test_errors_in_modules_propagate_and_do_not_poison_cache(rt: Runtime, tmp_path: Path) -> None:
    write(tmp_path, {"boom.lua": "if not ALLOW then error('boom!') end return 'fine'"})
    with pytest.raises(LuaError, match="boom!"):
        rt.execute("return require('./boom')")
    rt.execute("ALLOW = true")
    assert rt.execute("return require('./boom')") == ("fine",)


def test_plain_lua_library_loads_unchanged(rt: Runtime, tmp_path: Path) -> None:
    # the classic module styles: returning a table, `local name = ...`, package.loaded
    write(tmp_path, {
        "main.lua": "local inspect = require('inspectlike'); local s = require('settable')\n"
                    "return inspect.describe({1, 2}), s.hello(), require('settable') == s, inspect._NAME",
        "hype_modules/inspectlike.lua": (
            "#!/usr/bin/env lua\nlocal modname = ...\nlocal M = { _NAME = modname }\n"
            "local function describe(t) return 'table of ' .. #t end\nM.describe = describe\nreturn M\n"
        ),
        "hype_modules/settable.lua": "local M = {}\npackage.loaded['settable'] = M\n"
                                     "function M.hello() return 'hi' end\n",
    })
    assert run(rt, tmp_path / "main.lua") == ("table of 2", "hi", True, "inspectlike")
    assert rt.execute("return package.loaded.settable ~= nil") == (True,)


def test_std_libs_preload_and_loaded_entries(rt: Runtime) -> None:
    rt.execute("package.preload['virtual'] = function(name) return { n = name } end")
    rt.execute("package.loaded['registered'] = { r = 1 }")
    assert rt.execute("return require('string') == string, require('virtual').n, require('registered').r") == (
        True, "virtual", 1)


def test_syntax_error_in_module_names_the_file(rt: Runtime, tmp_path: Path) -> None:
    write(tmp_path, {"bad.lua": "return {"})
    with pytest.raises(LuaError, match=r"bad\.lua:1"):
        rt.execute("return require('./bad')")


def test_error_line_numbers_are_not_shifted(rt: Runtime, tmp_path: Path) -> None:
    write(tmp_path, {"lines.lua": "local x = 1\n\nerror('on line three')\n"})
    with pytest.raises(LuaError, match=r"lines\.lua:3: on line three"):
        rt.execute("return require('./lines')")


def test_bad_argument(rt: Runtime) -> None:
    with pytest.raises(LuaError, match="string expected"):
        rt.execute("return require(42)")


def test_memory_fs_resolver_pluggable() -> None:
    fs = MemoryFS({"/w/main.lua": "", "/w/hype_modules/m/hype.json": '{"main": "x.lua"}',
                   "/w/hype_modules/m/x.lua": "return 1"})
    r = Resolver(fs, builtin_dir="/nowhere", global_dir="")
    assert r.resolve("m", "/w/main.lua") == "/w/hype_modules/m/x.lua"
    with pytest.raises(LuaModuleNotFoundError):
        r.resolve("./zz", "/w/main.lua")


def test_memory_fs_runtime(lua_backend: str) -> None:
    fs = MemoryFS({"/w/hype_modules/m/init.lua": "return { v = 'from-memfs' }"})
    with Runtime(":memory:", backend=lua_backend) as r:
        install_require(r, Resolver(fs, cwd="/w", global_dir=""))
        assert r.execute("return require('m').v") == ("from-memfs",)


def test_cwd_is_base_for_non_file_chunks(rt: Runtime, tmp_path: Path) -> None:
    write(tmp_path, {"here.lua": "return 'here'"})
    assert os.getcwd() == str(tmp_path)
    assert rt.execute("return require('./here')") == ("here",)


def test_tail_called_require_in_main_file(rt: Runtime, tmp_path: Path) -> None:
    write(tmp_path, {"app/main.lua": "return require('./m')", "app/m.lua": "return 'tail'",
                     "app/mod.lua": "return require('./m')"})
    assert run(rt, tmp_path / "app/main.lua") == ("tail",)
    assert rt.execute(f"return require('{tmp_path}/app/mod')") == ("tail",)


def test_tail_called_require_in_two_main_files(rt: Runtime, tmp_path: Path) -> None:
    write(tmp_path, {"one/main.lua": "return require('./m')", "one/m.lua": "return 1",
                     "two/main.lua": "return require('./m')", "two/m.lua": "return 2"})
    assert run(rt, tmp_path / "one/main.lua") == (1,)
    assert run(rt, tmp_path / "two/main.lua") == (2,)


def test_main_file_requires_survive_tail_calls_and_await(tmp_path: Path, lua_backend: str) -> None:
    """`return require("./x")` (a tail call) and requires after `await` / inside timers
    resolve from the main file, not from the event loop's chunk."""
    from hypelua import Runtime

    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.lua").write_text("return { v = 42 }")
    (tmp_path / "main.lua").write_text(
        'await(Promise.resolve(1))\n'

        'setTimeout(function() Memory.timer = require("./sub/x").v end, 1)\n'
        'return require("./sub/x")\n'
    )
    with Runtime(":memory:", backend=lua_backend, stdout=lambda s: None) as rt:
        (module,) = rt.run_main(tmp_path / "main.lua")
        assert module == {"v": 42}
        assert rt.execute("return Memory.timer") == (42,)
