"""LuaLS annotations (``lua/types/``): `hype init` points .luarc.json at them, every meta
file compiles with the runtime's Lua, and every public name of the built-in modules and
globals (read from the real tables at run time) is annotated, so the annotations cannot
silently fall behind the library."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import hypelua
from hypelua._runtime import types_dir

TYPES = Path(types_dir())

#: module -> its meta file (relative to lua/types); the module table is iterated at run time
MODULES = {
    "hype.events": "hype/events.lua",
    "hype.promise": "globals.lua",
    "hype.test": "hype/test.lua",
    "hype.http": "hype/http.lua",
    "hype.json": "hype/json.lua",
    "hype.live": "hype/live.lua",
    "hype.actor": "hype/actor.lua",
    "hype.actor.server": "hype/actor/server.lua",
    "hype.actor.supervisor": "hype/actor/supervisor.lua",
    "hype.actor.code": "hype/actor/code.lua",
    "hype.loop": "hype/loop.lua",
    "hype.timers": "globals.lua",
    "hype.storage": "globals.lua",
}

#: globals of plain Lua 5.4 (not ours to annotate)
LUA_GLOBALS = {
    "_G", "_VERSION", "assert", "collectgarbage", "coroutine", "debug", "dofile", "error", "getmetatable",
    "io", "ipairs", "load", "loadfile", "math", "next", "os", "package", "pairs", "pcall", "print",
    "rawequal", "rawget", "rawlen", "rawset", "require", "select", "setmetatable", "string", "table",
    "tonumber", "tostring", "type", "utf8", "warn", "xpcall",
}

_DEFINED = re.compile(
    r"^\s*function\s+[\w.]+[.:](\w+)\s*\("  # function M.name( / function Class:name(
    r"|^\s*function\s+(\w+)\s*\("  # function name(   (a global)
    r"|^\s*[\w.]+\.(\w+)\s*="  # M.name = ...
    r"|^(\w+)\s*="  # name = ...      (a global)
    r"|^---@field\s+(\w+)"  # ---@field name
    r'|^---@field\s+\["(\w+)"\]',  # ---@field ["then"] (a keyword)
    re.M,
)


def annotated(path: Path) -> set[str]:
    return {next(g for g in m.groups() if g) for m in _DEFINED.finditer(path.read_text("utf-8"))}


def public_names(rt: hypelua.Runtime, source: str) -> list[str]:
    """Names of the table `source` evaluates to (non-underscore keys of functions and tables)."""
    (joined,) = rt.execute(
        "local t = " + source + "\n"
        "local out = {}\n"
        "for k, v in pairs(t) do\n"
        "  if type(k) == 'string' and k:sub(1, 1) ~= '_' and (type(v) == 'function' or type(v) == 'table') then\n"
        "    out[#out + 1] = k\n"
        "  end\n"
        "end\n"
        "table.sort(out)\n"
        "return table.concat(out, ' ')"
    )
    return joined.split()


@pytest.fixture(scope="module")
def rt() -> hypelua.Runtime:
    return hypelua.Runtime(database=":memory:")


def meta_files() -> list[Path]:
    return sorted(TYPES.rglob("*.lua"))


def test_meta_files_exist_for_every_module() -> None:
    assert (TYPES / "globals.lua").is_file()
    for rel in set(MODULES.values()):
        assert (TYPES / rel).is_file(), rel
    # one meta file per shipped library module that users require (LuaLS maps hype.x -> hype/x.lua)
    for name in ("events", "promise", "test", "http", "json", "live", "actor", "loop", "timers", "storage",
                 "actor/server", "actor/supervisor", "actor/code"):
        assert (TYPES / "hype" / f"{name}.lua").is_file(), name


@pytest.mark.parametrize("path", meta_files(), ids=lambda p: p.relative_to(TYPES).as_posix())
def test_meta_file_compiles(rt: hypelua.Runtime, path: Path) -> None:
    src = path.read_text("utf-8")
    assert src.startswith("---@meta"), "LuaLS needs ---@meta on the first line"
    ok, err = rt.execute("local f, err = load(..., '=meta') return f ~= nil, err", src)
    assert ok, err


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_names_are_annotated(rt: hypelua.Runtime, module: str) -> None:
    names = public_names(rt, f"require({module!r})".replace("'", '"'))
    assert names, module
    missing = sorted(set(names) - annotated(TYPES / MODULES[module]))
    assert not missing, f"{module}: not annotated in lua/types/{MODULES[module]}: {missing}"


def test_actor_behaviours_are_annotated_on_actor(rt: hypelua.Runtime) -> None:
    """actor.server / call / supervisor / load ... load lazily: each submodule's functions are
    reachable as actor.<name> and annotated there."""
    have = annotated(TYPES / "hype" / "actor.lua")
    for sub in ("server", "supervisor", "code"):
        for name in public_names(rt, f'require("hype.actor.{sub}")'):
            if name == "Server":
                continue
            assert rt.execute(f'return require("hype.actor").{name} ~= nil')[0], name
            assert name in have, f"actor.{name}"


@pytest.mark.parametrize(
    "what,source,meta",
    [
        ("globals", "_G", "globals.lua"),
        ("Promise methods", "Promise", "globals.lua"),
        ("storage", "storage", "globals.lua"),
        ("timer methods", "getmetatable(setTimeout(function() end, 1e9)).__index", "globals.lua"),
        ("EventEmitter", 'require("hype.events").EventEmitter', "hype/events.lua"),
    ],
)
def test_classes_and_globals_are_annotated(rt: hypelua.Runtime, what: str, source: str, meta: str) -> None:
    names = set(public_names(rt, source)) - LUA_GLOBALS
    missing = sorted(names - annotated(TYPES / meta))
    assert not missing, f"{what}: not annotated in lua/types/{meta}: {missing}"


def test_spec_globals_are_annotated(rt: hypelua.Runtime) -> None:
    names = set(public_names(rt, '(function() local env = {} require("hype.test").install(env) return env end)()'))
    missing = sorted(names - LUA_GLOBALS - annotated(TYPES / "globals.lua"))
    assert not missing, f"spec-file globals not annotated in lua/types/globals.lua: {missing}"


def hype(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # the hypelua under test (its py/ directory), whatever the cwd
    env = {**os.environ, "PYTHONPATH": str(Path(hypelua.__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, "-m", "hypelua", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


def test_init_writes_luarc(tmp_path: Path) -> None:
    out = hype("init", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    config = json.loads((tmp_path / ".luarc.json").read_text())
    assert config["runtime"]["version"] == "Lua 5.4"
    (library,) = config["workspace"]["library"]
    lib = Path(library)
    assert lib.is_absolute() and lib.samefile(TYPES)
    assert (lib / "globals.lua").is_file() and (lib / "hype" / "actor.lua").is_file()
    assert {"storage", "Memory", "Promise", "await", "describe", "expect"} <= set(config["diagnostics"]["globals"])
    # an existing .luarc.json is the user's: kept without --force, replaced with it
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / ".luarc.json").write_text("{}")
    assert hype("init", cwd=sub).returncode == 0
    assert json.loads((sub / ".luarc.json").read_text()) == {}
    assert hype("init", "--force", cwd=sub).returncode == 0
    assert json.loads((sub / ".luarc.json").read_text())["runtime"]["version"] == "Lua 5.4"
