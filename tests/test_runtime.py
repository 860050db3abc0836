"""Runtime: external tables with function persistence, on every Lua back-end."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pytest

from hypelua import (
    BytecodeRejectedError,
    HypeError,
    LuaError,
    LuaSyntaxError,
    NotStorableError,
    Runtime,
)


def _rt(path: Path, backend: str, **kw: object) -> Runtime:
    return Runtime(path, backend=backend, stdout=lambda s: None, **kw)  # type: ignore[arg-type]


def test_prd_example_survives_reopen(tmp_path: Path, lua_backend: str) -> None:
    db = tmp_path / "app.db"
    with _rt(db, lua_backend) as rt:
        rt.persist_function("Memory", "calculate", "function(x, y) return x * y + math.sin(x) end",
                            compress=True)
    with _rt(db, lua_backend) as rt:
        (value,) = rt.execute("return Memory.calculate(5, 3)")
    assert value == pytest.approx(5 * 3 + math.sin(5))


def test_closures_recursion_cfunctions_and_data(tmp_path: Path, lua_backend: str) -> None:
    db = tmp_path / "app.db"
    with _rt(db, lua_backend) as rt:
        rt.execute(
            """
            local rate, names = 0.25, {"a", "b"}
            Memory.tax = function(x) return x * rate, #names end
            local function fib(n) if n < 2 then return n end return fib(n-1) + fib(n-2) end
            Memory.fib = fib
            Memory.sin = math.sin
            Memory.nested = { f = function(a) return a .. "!" end, list = {1, 2, 3}, [10] = "ten" }
            Memory.bytes = "\\0\\255\\1"
            """
        )
    with _rt(db, lua_backend) as rt:
        out = rt.execute(
            "return Memory.tax(100), Memory.fib(15), Memory.sin(0), Memory.nested.f('hi'), "
            "Memory.nested.list, Memory.nested[10], Memory.bytes"
        )
    assert out == (25.0, 610, 0.0, "hi!", [1, 2, 3], "ten", b"\x00\xff\x01")


def test_env_is_rebound_to_the_new_runtimes_globals(tmp_path: Path, lua_backend: str) -> None:
    db = tmp_path / "app.db"
    with _rt(db, lua_backend) as rt:
        rt.execute("Memory.greet = function() return greeting .. ', ' .. who end")
    with _rt(db, lua_backend) as rt:
        assert rt.execute("greeting, who = 'hello', 'world' return Memory.greet()") == ("hello, world",)


def test_pairs_and_len_and_nil_assignment(tmp_path: Path, lua_backend: str) -> None:
    with _rt(tmp_path / "a.db", lua_backend) as rt:
        out = rt.execute(
            """
            Memory.a = 1; Memory.b = 2; Memory[3] = 'three'; Memory.b = nil
            local keys = {}
            for k, v in pairs(Memory) do keys[#keys + 1] = tostring(k) .. '=' .. tostring(v) end
            return table.concat(keys, ','), #Memory
            """
        )
    assert out == ("3=three,a=1", 2)


def test_storage_table_global_and_existing_tables_become_globals(tmp_path: Path, lua_backend: str) -> None:
    db = tmp_path / "a.db"
    with _rt(db, lua_backend) as rt:
        rt.execute("local users = storage.table('users'); users.u1 = { name = 'Ann', age = 31 }")
    with _rt(db, lua_backend) as rt:
        assert rt.execute("return users.u1.name, storage.table('users').u1.age") == ("Ann", 31)
        assert rt.database.table("users").get("u1") == {"name": "Ann", "age": 31}


def test_function_cache_is_invalidated_by_python_writes(tmp_path: Path, lua_backend: str) -> None:
    with _rt(tmp_path / "a.db", lua_backend) as rt:
        rt.persist_function("Memory", "f", "function() return 1 end")
        assert rt.execute("return Memory.f()") == (1,)
        rt.persist_function("Memory", "f", "function() return 2 end")
        assert rt.execute("return Memory.f()") == (2,)


def _tamper(db: Path, key: str, *, drop_source: bool) -> None:
    conn = sqlite3.connect(db)
    (sql_name,) = conn.execute("SELECT sql_name FROM _hype_tables WHERE name='Memory'").fetchone()
    codec, data = conn.execute(f'SELECT codec, data FROM "{sql_name}" WHERE key=?', (key,)).fetchone()
    assert codec == 0
    doc = json.loads(data)
    import base64

    bc = bytearray(base64.b64decode(doc["$function"]["bytecode"]))
    bc[-3] ^= 0x01
    doc["$function"]["bytecode"] = base64.b64encode(bytes(bc)).decode()
    if drop_source:
        doc["$function"].pop("source", None)
    conn.execute(f'UPDATE "{sql_name}" SET data=? WHERE key=?', (json.dumps(doc), key))
    conn.commit()
    conn.close()


def test_tampered_bytecode_without_source_is_refused(tmp_path: Path, lua_backend: str) -> None:
    db = tmp_path / "a.db"
    with _rt(db, lua_backend) as rt:
        rt.persist_function("Memory", "f", "function(x) return x * 2 end")
        rt.execute("Memory.keep = 42")
    _tamper(db, "f", drop_source=True)
    with _rt(db, lua_backend) as rt:
        with pytest.raises(BytecodeRejectedError) as info:
            rt.execute("return Memory.f(2)")
        assert info.value.code == "BYTECODE_REJECTED"
        assert rt.execute("return Memory.keep") == (42,)  # the rest is still there
        ok, msg = rt.execute("return pcall(function() return Memory.f end)")
        assert ok is False and "BYTECODE_REJECTED" in msg


def test_tampered_bytecode_falls_back_to_source(tmp_path: Path, lua_backend: str) -> None:
    db = tmp_path / "a.db"
    with _rt(db, lua_backend) as rt:
        rt.execute("local k = 3\nMemory.f = function(x) return x * k end")
    _tamper(db, "f", drop_source=False)
    with _rt(db, lua_backend) as rt:
        assert rt.execute("return Memory.f(2)") == (6,)
        assert any("rebuilt from source" in w for w in rt.database.warnings)


def test_bytecode_from_another_database_is_refused(tmp_path: Path, lua_backend: str) -> None:
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    with _rt(a, lua_backend) as rt:
        rt.execute("Memory.f = load(string.dump(function() return 'x' end, true))")  # stripped: no source
    with _rt(b, lua_backend) as rt:
        rt.execute("Memory.other = 1")
    src = sqlite3.connect(a)
    (name_a,) = src.execute("SELECT sql_name FROM _hype_tables WHERE name='Memory'").fetchone()
    row = src.execute(f'SELECT key, codec, data FROM "{name_a}" WHERE key=?', ("f",)).fetchone()
    src.close()
    dst = sqlite3.connect(b)
    (name_b,) = dst.execute("SELECT sql_name FROM _hype_tables WHERE name='Memory'").fetchone()
    dst.execute(f'INSERT INTO "{name_b}" VALUES (?, ?, ?)', row)
    dst.commit()
    dst.close()
    with _rt(b, lua_backend) as rt, pytest.raises(BytecodeRejectedError):
        rt.execute("return Memory.f()")


@pytest.mark.parametrize(
    "code,fragment",
    [
        ("Memory.x = coroutine.create(print)", "thread"),
        ("local t = {} t.self = t Memory.x = t", "cycle"),
        ("Memory.x = { [true] = 1 }", "keys"),
        ("Memory.x = io.stdout", "userdata"),
        ("Memory.x = print", None),  # print is replaced by the runtime: a Lua closure over a host function
    ],
)
def test_not_storable_values_are_typed_errors_and_lose_nothing(
    tmp_path: Path, lua_backend: str, code: str, fragment: str | None
) -> None:
    db = tmp_path / "a.db"
    with _rt(db, lua_backend) as rt:
        rt.execute("Memory.x = 'original'")
        with pytest.raises(NotStorableError) as info:
            rt.execute(code)
        assert info.value.code == "NOT_STORABLE"
        if fragment:
            assert fragment in info.value.message
        assert rt.execute("return Memory.x") == ("original",)


def test_errors_inside_persisted_functions(tmp_path: Path, lua_backend: str) -> None:
    db = tmp_path / "a.db"
    with _rt(db, lua_backend) as rt:
        rt.persist_function("Memory", "boom", "function(x) error('bad input: ' .. tostring(x)) end")
    with _rt(db, lua_backend) as rt:
        with pytest.raises(LuaError) as info:
            rt.execute("return Memory.boom(7)")
        assert "bad input: 7" in info.value.message
        assert "stack traceback" in info.value.traceback
        assert rt.execute("return Memory.boom ~= nil") == (True,)


def test_persist_function_rejects_bad_code(tmp_path: Path, lua_backend: str) -> None:
    with _rt(tmp_path / "a.db", lua_backend) as rt:
        with pytest.raises(LuaSyntaxError):
            rt.persist_function("Memory", "f", "function(x) return x +")
        with pytest.raises(NotStorableError) as info:
            rt.persist_function("Memory", "f", "42")
        assert info.value.code == "NOT_A_FUNCTION"
        assert rt.database.table("Memory").get("f") is None


def test_print_goes_to_stdout_callback(lua_backend: str) -> None:
    out: list[str] = []
    rt = Runtime(":memory:", backend=lua_backend, stdout=out.append)
    rt.execute("print('a', 1, nil, true)")
    assert out == ["a\t1\tnil\ttrue\n"]
    rt.close()


def test_max_memory_error_keeps_runtime_usable(lua_backend: str) -> None:
    from hypelua import LuaMemoryError

    rt = Runtime(":memory:", backend=lua_backend, max_memory=8 * 1024 * 1024, stdout=lambda s: None)
    rt.execute("Memory.ok = 1")
    with pytest.raises(LuaMemoryError):
        rt.execute("local t = {} for i = 1, 1e9 do t[i] = i end")
    assert rt.execute("return Memory.ok") == (1,)
    rt.close()


def test_execute_file_and_shebang(tmp_path: Path, lua_backend: str) -> None:
    f = tmp_path / "s.lua"
    f.write_text("#!/usr/bin/env hype\nlocal n = ...\nMemory.f = function() return n end\nreturn n")
    with _rt(tmp_path / "a.db", lua_backend) as rt:
        assert rt.execute_file(f, 5) == (5,)
        stored = rt.database.table("Memory").get("f")
        assert stored.source == "function() return n end"
        assert stored.upvalues == [{"name": "n", "value": 5}]


def test_sandbox_refuses_binary_chunks_and_host_access(tmp_path: Path, lua_backend: str) -> None:
    db = tmp_path / "s.db"
    with _rt(db, lua_backend) as rt:
        rt.execute("local k = 5\nMemory.f = function(x) return x + k end")
    with _rt(db, lua_backend, sandbox=True) as rt:
        assert rt.execute("return Memory.f(1)") == (6,)  # persisted functions still load
        assert rt.execute("return string.dump") == (None,)
        ok, msg = rt.execute("return load('\\27Lua\\84\\0')")
        assert ok is None and "binary chunk" in msg
        assert rt.execute("return load('return 2')()") == (2,)
        assert rt.execute("return io, dofile, loadfile, os.execute, type(os.time())") == (
            None, None, None, None, "number")
        rt.execute("Memory.g = function() return 'still persists' end")
        assert rt.execute("return Memory.g()") == ("still persists",)


def test_typed_errors_survive_await_and_watch_stops_runaway_code(tmp_path: Path, lua_backend: str) -> None:
    from hypelua import HypeError

    script = tmp_path / "s.lua"
    script.write_text("await(Promise.resolve(1))\nMemory.t = coroutine.create(print)")
    with _rt(tmp_path / "a.db", lua_backend) as rt:
        with pytest.raises(NotStorableError):  # not a LuaError wrapping "NotStorableError: ..."
            rt.run_main(script)
        rt.watch(deadline_s=0.2, every=100_000)
        script.write_text("Memory.ok = 1\nawait(Promise.resolve(1))\nwhile true do end")
        with pytest.raises(HypeError) as info:
            rt.run_main(script)
        assert info.value.code == "TIMEOUT"
        assert rt.execute("return Memory.ok") == (1,)


def test_plain_data_with_the_descriptor_key_is_never_revived(tmp_path: Path, lua_backend: str) -> None:
    """A value stored from Python/JS (or imported) that uses the key Lua's function
    descriptors use stays plain data: its "bytecode" is never loaded unauthenticated."""
    with _rt(tmp_path / "d.db", lua_backend) as rt:
        bytecode = rt.vm.dump(rt.vm.load("return 'loaded without an HMAC'"))
        forged = {"\0hype.function": {"bytecode": bytecode, "name": "=x", "upvalues": []}}
        rt.database.table("Memory").set("forged", forged)
        rt.database.batch([{"type": "set", "table": "Memory", "key": "forged2",
                            "value": {"\0hype.function": {"source": "function() return 'from source' end"}}}])
        rt.database.commit()
        assert rt.execute("local v = Memory.forged return type(v), type(v['\\0hype.function'])") == ("table", "table")
        assert rt.execute("return type(Memory.forged2)") == ("table",)
        assert rt.execute("local n = 0 for k, v in storage.query('Memory', {}) do "
                          "if type(v) == 'function' then n = n + 1 end end return n") == (0,)
        with pytest.raises(NotStorableError):
            rt.execute("Memory.copy = Memory.forged")
        # real persisted functions still revive
        rt.execute("Memory.f = function(x) return x + 1 end")
        assert rt.execute("return Memory.f(1)") == (2,)


def test_user_hooks_compose_with_the_watch_deadline(lua_backend: str) -> None:
    """Unsandboxed code may set its own debug hook (a coverage tool): the watch hook
    stays, the user hook sees the usual stack levels, debug.sethook() cannot remove it."""
    with Runtime(":memory:", backend=lua_backend) as rt:
        rt.watch(deadline_s=0.3, every=100_000)
        with pytest.raises(HypeError) as info:
            rt.execute("lines = 0 debug.sethook(function(ev, line) lines = lines + 1 "
                       "src = src or debug.getinfo(2, 'S').source end, 'l') while true do end",
                       chunkname="=(user chunk)")
        assert info.value.code == "TIMEOUT"
        hook_fn_is_users, = rt.execute("return type((debug.gethook())) == 'function'")
        assert hook_fn_is_users
        assert rt.execute("debug.sethook() return lines > 0, src, debug.gethook()") == (True, "=(user chunk)", None)
        for code in ("debug.sethook() while true do end",
                     "debug.sethook(function() end, '', 1000) while true do end",
                     "debug.sethook(coroutine.running(), nil) while true do end"):
            rt.set_deadline(0.3)
            with pytest.raises(HypeError) as info:
                rt.execute(code)
            assert info.value.code == "TIMEOUT", code
    with Runtime(":memory:", backend=lua_backend) as rt:  # not watching: the plain functions
        assert rt.execute("local n = 0 debug.sethook(function() n = n + 1 end, '', 10) "
                          "for i = 1, 1000 do end debug.sethook() return n > 0, debug.gethook()") == (True, None)
