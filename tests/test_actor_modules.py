"""hype.actor hot code loading (issue 11, item 6): actor.load versions live side by side,
processes keep the versions they were spawned with, server upgrades through code_change,
spawn{ deps = ... } binding installed package versions; both Lua back-ends."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from hypelua import Runtime


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, "utf-8")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project whose hype_modules hold json 2.1.0 (hoisted) and json 1.4.0 (nested under a
    package that needs ^1, as the package manager installs conflicting versions), plus
    json@3.0.0-beta.1 in a versioned directory."""
    def pkg(version: str) -> dict[str, str]:
        return {"hype.json": json.dumps({"name": "json", "version": version, "main": "lib/main.lua"}),
                "lib/main.lua": f"local util = require('./util')\nreturn {{ version = util.v('{version}') }}\n",
                "lib/util.lua": "return { v = function(s) return 'json ' .. s end }\n"}
    files: dict[str, str] = {}
    for base, version in (("hype_modules/json", "2.1.0"), ("hype_modules/old/hype_modules/json", "1.4.0"),
                          ("hype_modules/json@3.0.0-beta.1", "3.0.0-beta.1")):
        for rel, text in pkg(version).items():
            files[f"{base}/{rel}"] = text
    files["hype_modules/old/hype.json"] = json.dumps({"name": "old", "version": "1.0.0",
                                                      "dependencies": {"json": "^1"}})
    files["hype_modules/old/init.lua"] = "return {}"
    files["counter_v1.lua"] = COUNTER_V1
    write(tmp_path, files)
    return tmp_path


@pytest.fixture
def rt(lua_backend: str, project: Path) -> Any:
    r = Runtime(":memory:", backend=lua_backend, stdout=lambda s: None, project_root=project)
    yield r
    r.close()


def run(rt: Runtime, src: str) -> tuple[Any, ...]:
    return asyncio.run(rt.execute_async('local actor = require("hype.actor")\n' + src))


ASKER = """
local function asker(mod)
  return actor.spawn(function(parent)
    while true do
      local m = actor.receive()
      if m == "stop" then return end
      actor.send(parent, { actor.require(mod).hi(), require(mod).hi() })
    end
  end, actor.self())
end
local function ask(pid) actor.send(pid, "?"); local r = actor.receive(); return r[1] .. "/" .. r[2] end
"""


def test_two_versions_live_at_once_in_different_processes(rt: Runtime) -> None:
    assert run(rt, ASKER + """
        local v1 = actor.load("greet", "return { hi = function() return 'v1' end }\\n")
        local a = asker("greet")
        local v2 = actor.load("greet", "return { hi = function() return 'v2' end }\\n")
        local b = asker("greet")
        local before = ask(a) .. " " .. ask(b)
        local vs = actor.versions("greet")
        local counts = vs[1].version .. ":" .. vs[1].processes .. ":" .. tostring(vs[1].current) .. " "
          .. vs[2].version .. ":" .. vs[2].processes .. ":" .. tostring(vs[2].current)
        -- the main chunk (not a spawned process) gets the newest
        local main = actor.require("greet").hi() .. "/" .. require("greet").hi()
        -- a third version: a is still on v1, b on v2, a new process on v3
        actor.load("greet", "return { hi = function() return 'v3' end }\\n")
        local c = asker("greet")
        local after = ask(a) .. " " .. ask(b) .. " " .. ask(c)
        return v1, v2, before, counts, main, after, #actor.versions("greet")
    """) == (1, 2, "v1/v1 v2/v2", "1:1:false 2:1:true", "v2/v2", "v1/v1 v2/v2 v3/v3", 3)


def test_unused_versions_are_dropped_at_the_next_load(rt: Runtime) -> None:
    assert run(rt, ASKER + """
        actor.load("m", "return { hi = function() return 'one' end }\\n")
        local a = asker("m")
        actor.load("m", "return { hi = function() return 'two' end }\\n")
        actor.load("m", "return { hi = function() return 'three' end }\\n")   -- v2: nobody uses it
        local mid = {}
        for _, v in ipairs(actor.versions("m")) do mid[#mid + 1] = v.version .. "=" .. v.processes end
        actor.send(a, "stop")
        actor.sleep(5)
        actor.load("m", "return { hi = function() return 'four' end }\\n")    -- v1's last user is gone
        local last = {}
        for _, v in ipairs(actor.versions("m")) do last[#last + 1] = v.version .. "=" .. v.processes end
        return table.concat(mid, " "), table.concat(last, " "), #actor.versions("nothing")
    """) == ("1=1 3=0", "4=0", 0)


def test_a_chunk_runs_once_per_version(rt: Runtime) -> None:
    assert run(rt, """
        runs = 0
        actor.load("once", "runs = runs + 1\\nreturn { n = runs }\\n")
        local got = {}
        for i = 1, 3 do
          actor.spawn(function(parent) actor.send(parent, actor.require("once").n) end, actor.self())
          got[i] = actor.receive()
        end
        return runs, table.concat(got, ",")
    """) == (1, "1,1,1")


def test_a_syntax_error_keeps_the_previous_version(rt: Runtime) -> None:
    assert run(rt, ASKER + """
        actor.load("greet", "return { hi = function() return 'good' end }\\n")
        local ok, err = pcall(actor.load, "greet", "return { hi = function() return 'bad' \\n")
        local a = asker("greet")
        local v = actor.load("greet", "return { hi = function() return 'fixed' end }\\n")
        return ok, err.code, err.message:find("greet", 1, true) ~= nil, ask(a), v, #actor.versions("greet")
    """) == (False, "ACTOR_BAD_MODULE", True, "good/good", 2, 2)


def test_load_from_a_path_and_bad_arguments(rt: Runtime, project: Path) -> None:
    (project / "lib").mkdir()
    (project / "lib/helper.lua").write_text("return 'helped'\n")
    (project / "lib/mod.lua").write_text("local h = require('./helper')\nreturn { hi = function() return h end }\n")
    assert run(rt, """
        local v = actor.load("mod", "lib/mod.lua")
        local missing_ok, missing = pcall(actor.load, "mod", "lib/nope.lua")
        local name_ok, name_err = pcall(actor.load, 42, "return 1")
        return v, actor.require("mod").hi(), missing_ok, missing.code, name_ok, name_err.code
    """) == (1, "helped", False, "ACTOR_BAD_MODULE", False, "ACTOR_BAD_MODULE")


COUNTER_V1 = """
local actor = require("hype.actor")
return actor.server{
  init = function(n) return { count = n } end,
  handle_call = function(req, from, s)
    if req == "get" then return "reply", "v1:" .. s.count, s end
    if req == "which" then return "reply", require("counter").label, s end
  end,
  handle_cast = function(k, s) s.count = s.count + k; return "noreply", s end,
}
"""

COUNTER_V2 = """
local actor = require("hype.actor")
local srv = actor.server{
  init = function(n) return { total = n, calls = 0 } end,
  handle_call = function(req, from, s)
    s.calls = s.calls + 1
    if req == "get" then return "reply", "v2:" .. s.total .. " calls=" .. s.calls, s end
    if req == "which" then return "reply", require("counter").label, s end
  end,
  handle_cast = function(k, s) s.total = s.total + k; return "noreply", s end,
  code_change = function(old_vsn, s, extra)
    return { total = s.count * extra.scale, calls = 0, from = old_vsn }
  end,
}
return { server = srv, label = "v2" }
"""


def test_upgrade_a_server_through_code_change(rt: Runtime) -> None:
    assert run(rt, f"""
        actor.load("counter", "counter_v1.lua")
        local pid = actor.require("counter"):start(10)
        actor.cast(pid, 5)
        local before = actor.call(pid, "get")
        actor.load("counter", [==[{COUNTER_V2}]==])
        local still = actor.call(pid, "get")           -- loading does not move a running server
        local ok, err = actor.upgrade(pid, {{ scale = 2 }})
        local after = actor.call(pid, "get")
        actor.cast(pid, 1)
        local later = actor.call(pid, "get")
        local which = actor.call(pid, "which")          -- its require("counter") now answers v2
        local vs = {{}}
        for _, v in ipairs(actor.versions("counter")) do vs[#vs + 1] = v.version .. "=" .. v.processes end
        local again = actor.upgrade(pid)                -- already on the newest: nothing to do
        return before, still, ok, err, after, later, which, table.concat(vs, " "), again
    """) == ("v1:15", "v1:15", True, None, "v2:30 calls=1", "v2:31 calls=2", "v2", "1=0 2=1", True)


def test_upgrade_errors(rt: Runtime) -> None:
    assert run(rt, f"""
        actor.load("counter", "counter_v1.lua")
        local pid = actor.require("counter"):start(1)
        actor.load("counter", [==[{COUNTER_V2.replace("s.count * extra.scale", "error('no scale')")}]==])
        local ok, err = actor.upgrade(pid, {{}})
        local kept = actor.call(pid, "get")             -- old version and state kept
        local plain = actor.spawn(function() actor.receive() end)
        local ok2, err2 = actor.upgrade(plain)
        local ok3, err3 = actor.upgrade(actor.pid(999999))
        actor.load("counter", "return {{ nothing = true }}\\n")
        local ok4, err4 = actor.upgrade(pid)
        return ok, err.code, kept, ok2, err2.code, ok3, err3.code, ok4, err4.code
    """) == (False, "ACTOR_UPGRADE_FAILED", "v1:1", False, "ACTOR_NOT_UPGRADABLE", False, "ACTOR_NO_PROCESS",
             False, "ACTOR_NOT_UPGRADABLE")


DEPS_ASKER = """
local function dep_proc(deps)
  return actor.spawn{ fn = function(parent)
    actor.receive()
    actor.send(parent, { actor.require("json").version, require("json").version })
  end, args = { actor.self() }, deps = deps }
end
local function ask(pid) actor.send(pid, "?"); local r = actor.receive(); return r[1] .. "|" .. r[2] end
"""


def test_deps_bind_two_installed_versions_of_a_package(rt: Runtime) -> None:
    assert run(rt, DEPS_ASKER + """
        local a = dep_proc({ json = "^1" })
        local b = dep_proc({ json = "^2.0.0" })
        local c = dep_proc({ json = ">=1" })            -- highest release: 2.1.0 (no prereleases)
        local d = dep_proc({ json = "3.0.0-beta.1" })    -- the versioned directory json@3.0.0-beta.1
        return ask(a), ask(b), ask(c), ask(d), require("json").version
    """) == ("json 1.4.0|json 1.4.0", "json 2.1.0|json 2.1.0", "json 2.1.0|json 2.1.0",
             "json 3.0.0-beta.1|json 3.0.0-beta.1", "json 2.1.0")


def test_bad_deps(rt: Runtime) -> None:
    assert run(rt, """
        actor.self()   -- the main chunk is a process from here on
        local before = #actor.processes()
        local ok, err = pcall(actor.spawn, { fn = function() end, deps = { json = "^5" }, link = true })
        local ok2, err2 = pcall(actor.spawn, { fn = function() end, deps = { nothere = "1" } })
        local ok3, err3 = pcall(actor.spawn, { fn = function() end, deps = { json = "not a range!" } })
        actor.load("mine", "return 1")
        local ok4, err4 = pcall(actor.spawn, { fn = function() end, deps = { mine = 7 } })
        return ok, err.code, err.message, ok2, err2.code, ok3, err3.code, ok4, err4.code,
          #actor.processes() == before
    """) == (False, "ACTOR_BAD_DEPS",
             "deps: json ^5: no installed version of json satisfies '^5' (installed: 1.4.0, 2.1.0, 3.0.0-beta.1)",
             False, "ACTOR_BAD_DEPS", False, "ACTOR_BAD_DEPS", False, "ACTOR_BAD_DEPS", True)


def test_deps_pin_loaded_versions(rt: Runtime) -> None:
    assert run(rt, ASKER + """
        actor.load("greet", "return { hi = function() return 'v1' end }\\n")
        local keeper = asker("greet")   -- keeps v1 alive (unused versions are dropped at a load)
        actor.load("greet", "return { hi = function() return 'v2' end }\\n")
        local function pinned(want)
          return actor.spawn{ fn = function(parent)
            actor.receive(); actor.send(parent, { actor.require("greet").hi(), require("greet").hi() })
          end, args = { actor.self() }, deps = { greet = want } }
        end
        local p1, pl = pinned(1), pinned("latest")
        local vs = actor.versions("greet")
        return ask(p1), ask(pl), ask(keeper), vs[1].processes, vs[2].processes
    """) == ("v1/v1", "v2/v2", "v1/v1", 2, 1)
