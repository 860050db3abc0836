"""The LuaVM conformance checks (plain-data contract of ``hypelua.lua._base``).

Plain functions, no pytest: ``check_*(vm)`` take a VM, the ones listed in
:data:`CHECKS_NEW_VM` take a factory ``new_vm(**options)``.  Run by
``tests/lua/test_conformance.py`` against every back-end natively, and inside
Pyodide by ``tests/node/pyodide_ctypes_checks.py`` (no pytest there).
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable
from typing import Any

from hypelua.lua import (
    MAX_DEPTH,
    ConversionError,
    LuaError,
    LuaFunction,
    LuaHandle,
    LuaMemoryError,
    LuaSyntaxError,
    LuaThread,
    LuaUserdata,
    LuaVM,
)

BIG = 2**63 - 1
SMALL = -(2**63)


def _raises(exc_type: type[BaseException], fn: Callable[[], Any]) -> BaseException:
    """Tiny pytest.raises replacement usable without pytest (Pyodide runner)."""
    try:
        fn()
    except exc_type as exc:
        return exc
    raise AssertionError(f"{exc_type.__name__} not raised")


# ---------------------------------------------------------------- values Lua -> Python

def check_scalars_from_lua(vm: LuaVM) -> None:
    assert vm.execute("return nil, true, false, 0, -7, 1.5, 'hi'") == (None, True, False, 0, -7, 1.5, "hi")
    assert vm.execute("return") == ()


def check_ints_vs_floats(vm: LuaVM) -> None:
    i, f, g, h = vm.execute("return 3, 3.0, 2^53, 7 // 2")
    assert (i, type(i)) == (3, int)
    assert (f, type(f)) == (3.0, float)
    assert type(g) is float and g == 2.0**53
    assert (h, type(h)) == (3, int)
    assert vm.execute("return math.maxinteger, math.mininteger") == (BIG, SMALL)
    inf, nan = vm.execute("return 1/0, 0/0")
    assert inf == math.inf and math.isnan(nan)


def check_strings_from_lua(vm: LuaVM) -> None:
    (s,) = vm.execute("return 'a\\0b'")
    assert s == "a\x00b"
    (u,) = vm.execute("return 'h\\u{e9}llo \\u{1F600}'")
    assert u == "héllo \U0001f600"
    (b,) = vm.execute("return '\\xff\\xfe\\0x'")
    assert b == b"\xff\xfe\x00x" and type(b) is bytes
    (big,) = vm.execute("return string.rep('ab', 100000)")
    assert big == "ab" * 100000


def check_tables_from_lua(vm: LuaVM) -> None:
    assert vm.execute("return {1, 2, 3}") == ([1, 2, 3],)
    assert vm.execute("return {}") == ({},)
    assert vm.execute("return {a = 1, b = {c = 'd'}}") == ({"a": 1, "b": {"c": "d"}},)
    assert vm.execute("return {[1] = 'x', [3] = 'z'}") == ({1: "x", 3: "z"},)
    assert vm.execute("return {[1] = 1, ['1'] = 2}") == ({1: 1, "1": 2},)
    assert vm.execute("return {[2] = 'b', [1] = 'a'}") == (["a", "b"],)
    assert vm.execute("return {1, 2, x = 3}") == ({1: 1, 2: 2, "x": 3},)
    assert vm.execute("return {[1.5] = true, [true] = false}") == ({1.5: True, True: False},)
    (nested,) = vm.execute("return {{1, {2, {3}}}, {k = {}}}")
    assert nested == [[1, [2, [3]]], {"k": {}}]
    (shared,) = vm.execute("local s = {1}; return {s, s}")
    assert shared == [[1], [1]]


def check_metatables_ignored(vm: LuaVM) -> None:
    (t,) = vm.execute("return setmetatable({1, 2}, "
                      "{__index = function() return 99 end, __len = function() return 7 end})")
    assert t == [1, 2]


def check_multiple_returns_and_varargs(vm: LuaVM) -> None:
    assert vm.execute("return ...", 1, "two", None, 4.0) == (1, "two", None, 4.0)
    assert vm.execute("return select('#', ...)", None, None) == (2,)
    (fn,) = vm.execute("return function(...) return select('#', ...), ... end")
    assert fn() == (0,)
    assert fn(1, None) == (2, 1, None)
    assert vm.call(fn, "a") == (1, "a")


# ---------------------------------------------------------------- values Python -> Lua

def check_values_to_lua(vm: LuaVM) -> None:
    (echo,) = vm.execute("return function(...) return ... end")
    values = (None, True, False, 0, BIG, SMALL, -1, 2.5, 2.0, "text", "é\x00", b"\x00\xff", [], {})
    assert echo(*values) == (None, True, False, 0, BIG, SMALL, -1, 2.5, 2.0, "text", "é\x00", b"\x00\xff",
                             {}, {})
    (kinds,) = vm.execute("return function(...) local r = {} for i = 1, select('#', ...) do "
                          "local v = select(i, ...) r[i] = math.type(v) or type(v) end return r end")
    assert kinds(1, 1.0, 2**53, float(2**53), "s", b"b") == (
        ["integer", "float", "integer", "float", "string", "string"],)


def check_containers_to_lua(vm: LuaVM) -> None:
    (echo,) = vm.execute("return function(x) return x end")
    assert echo([1, 2, 3]) == ([1, 2, 3],)
    assert echo((1, "a")) == ([1, "a"],)
    assert echo({"a": 1, 2: "b"}) == ({"a": 1, 2: "b"},)
    assert echo({1: "x", "1": "y"}) == ({1: "x", "1": "y"},)
    assert echo({1: "a", 2: "b"}) == (["a", "b"],)
    assert echo([[1, [2]], {"k": [True, None, 3]}]) == ([[1, [2]], {"k": {1: True, 3: 3}}],)
    assert echo(bytearray(b"ab\x00")) == (b"ab\x00",) or echo(bytearray(b"ab\x00")) == ("ab\x00",)
    (info,) = vm.execute("return function(t) return #t, t[1], t['1'] end")
    assert info({1: "int", "1": "str"}) == (1, "int", "str")


def check_globals(vm: LuaVM) -> None:
    vm.set_global("answer", 42)
    vm.set_global("data", {"xs": [1, 2], "blob": b"\xff"})
    assert vm.execute("return answer, data.xs[2], data.blob") == (42, 2, b"\xff")
    assert vm.get_global("answer") == 42
    assert vm.get_global("data") == {"xs": [1, 2], "blob": b"\xff"}
    assert vm.get_global("nope") is None
    vm.set_global("answer", None)
    assert vm.execute("return answer") == (None,)
    assert isinstance(vm.get_global("print"), LuaFunction)


def check_bad_values_to_lua(vm: LuaVM) -> None:
    (echo,) = vm.execute("return function(x) return x end")
    _raises(ConversionError, lambda: echo(2**64))
    _raises(ConversionError, lambda: echo(object()))
    cyc: list[Any] = [1]
    cyc.append(cyc)
    _raises(ConversionError, lambda: echo(cyc))
    d: dict[str, Any] = {}
    d["self"] = d
    _raises(ConversionError, lambda: vm.set_global("x", d))
    # the VM is still usable
    assert echo(1) == (1,)


def check_cyclic_table_from_lua(vm: LuaVM) -> None:
    _raises(ConversionError, lambda: vm.execute("local t = {}; t.me = t; return t"))
    _raises(ConversionError, lambda: vm.execute("local a, b = {}, {}; a[1] = b; b[1] = a; return a"))
    assert vm.execute("return 1") == (1,)


def check_depth_limit(vm: LuaVM) -> None:
    deep = "local t = {} for i = 1, %d do t = {t} end return t"
    (ok,) = vm.execute(deep % 50)
    depth = 0
    while ok:
        ok = ok[0]
        depth += 1
    assert depth == 50
    _raises(ConversionError, lambda: vm.execute(deep % (MAX_DEPTH + 50)))
    nested: list[Any] = []
    for _ in range(MAX_DEPTH + 50):
        nested = [nested]
    _raises(ConversionError, lambda: vm.set_global("deep", nested))


# ---------------------------------------------------------------- Python callables

def check_callbacks(vm: LuaVM) -> None:
    seen: list[tuple[Any, ...]] = []

    def record(*args: Any) -> Any:
        seen.append(args)
        return len(args)

    vm.register("record", record)
    assert vm.execute("return record(1, 'a', nil, {1, 2}, {x = 1}, '\\xff')") == (6,)
    assert seen == [(1, "a", None, [1, 2], {"x": 1}, b"\xff")]

    vm.register("multi", lambda: (1, "two", None))
    assert vm.execute("return multi()") == (1, "two", None)
    assert vm.execute("return select('#', multi())") == (3,)
    vm.register("none", lambda: None)
    assert vm.execute("return none()") == (None,)
    vm.register("table", lambda: {"k": [1, 2]})
    assert vm.execute("local t = table() return t.k[2]") == (2,)
    fn = vm.register(None, lambda a, b: a * b)
    assert isinstance(fn, LuaFunction)
    assert fn(6, 7) == (42,)
    (apply,) = vm.execute("return function(f, ...) return f(...) end")
    assert apply(lambda x: x + 1, 1) == (2,)
    assert apply(fn, 3, 4) == (12,)


def check_callback_reentry(vm: LuaVM) -> None:
    (double,) = vm.execute("return function(x) return x * 2 end")
    vm.register("py_twice", lambda x: double(x)[0] + 1)
    assert vm.execute("return py_twice(20)") == (41,)


def check_callback_exceptions(vm: LuaVM) -> None:
    class Boom(Exception):
        pass

    def explode(msg: str) -> None:
        raise Boom(msg)

    vm.register("explode", explode)
    ok, msg = vm.execute("return pcall(explode, 'bad thing')")
    assert ok is False
    assert "Boom" in msg and "bad thing" in msg
    exc = _raises(Boom, lambda: vm.execute("explode('uncaught')"))
    assert str(exc) == "uncaught"
    # through several Lua frames and a callback calling back into Lua
    (outer,) = vm.execute("return function() local function inner() explode('deep') end inner() end")
    _raises(Boom, lambda: outer())
    # after all that the VM still works and a later Lua error is a LuaError
    err = _raises(LuaError, lambda: vm.execute("error('plain')"))
    assert "plain" in err.message  # type: ignore[attr-defined]


# ---------------------------------------------------------------- errors

def check_lua_errors(vm: LuaVM) -> None:
    err = _raises(LuaError, lambda: vm.execute("local function f() error('kaboom') end f()",
                                               chunkname="=mychunk"))
    assert isinstance(err, LuaError) and not isinstance(err, LuaSyntaxError)
    assert "kaboom" in err.message
    assert "mychunk:1:" in err.message
    assert "stack traceback" in err.traceback
    assert "in " in err.traceback and "f" in err.traceback
    err2 = _raises(LuaError, lambda: vm.execute("error({code = 7})"))
    assert isinstance(err2.message, str)  # type: ignore[attr-defined]
    err3 = _raises(LuaError, lambda: vm.execute("local x = nil; return x.y"))
    assert "nil" in err3.message  # type: ignore[attr-defined]
    err4 = _raises(LuaError, lambda: vm.execute("error('no position', 0)"))
    assert err4.message == "no position"  # type: ignore[attr-defined]
    assert err4.code == "LUA_RUNTIME_ERROR"  # type: ignore[attr-defined]


def check_syntax_errors(vm: LuaVM) -> None:
    err = _raises(LuaSyntaxError, lambda: vm.execute("x = = 1", chunkname="=bad"))
    assert "bad:1:" in err.message  # type: ignore[attr-defined]
    assert err.code == "LUA_SYNTAX_ERROR"  # type: ignore[attr-defined]
    _raises(LuaSyntaxError, lambda: vm.load("return (", chunkname="=x"))
    assert vm.execute("return 2") == (2,)


# ---------------------------------------------------------------- memory

def check_max_memory(new_vm: Callable[..., LuaVM]) -> None:
    vm = new_vm(max_memory=4 * 1024 * 1024)
    assert vm.execute("return 1 + 1") == (2,)
    _raises(LuaMemoryError, lambda: vm.execute("local t = {} for i = 1, 1e8 do t[i] = i end"))
    _raises(LuaMemoryError, lambda: vm.execute("local s = string.rep('x', 64 * 1024 * 1024)"))
    # caught inside Lua by pcall
    ok, msg = vm.execute("return pcall(string.rep, 'x', 64 * 1024 * 1024)")
    assert ok is False and "memory" in msg
    # still usable afterwards
    assert vm.execute("local t = {} for i = 1, 1000 do t[i] = i end return #t") == (1000,)
    assert vm.memory_used() < 4 * 1024 * 1024


def check_memory_used(vm: LuaVM) -> None:
    before = vm.memory_used()
    assert before > 0
    vm.execute("big = string.rep('x', 1000000)")
    assert vm.memory_used() >= before + 900_000
    vm.execute("big = nil collectgarbage()")
    assert vm.memory_used() < before + 1000000


# ---------------------------------------------------------------- coroutines

def check_coroutines(vm: LuaVM) -> None:
    (body,) = vm.execute("""
        return function(a, b)
          local c = coroutine.yield(a + b)
          local d, e = coroutine.yield(c * 2, 'x')
          return d .. e, 'done'
        end""")
    co = vm.coroutine(body)
    assert isinstance(co, LuaThread)
    assert vm.resume(co, 1, 2) == ("suspended", (3,))
    assert vm.resume(co, 10) == ("suspended", (20, "x"))
    assert vm.resume(co, "a", "b") == ("dead", ("ab", "done"))
    err = _raises(LuaError, lambda: vm.resume(co))
    assert "dead" in err.message  # type: ignore[attr-defined]


def check_coroutine_error(vm: LuaVM) -> None:
    (body,) = vm.execute("return function() coroutine.yield(1) error('inside co') end")
    co = vm.coroutine(body)
    assert vm.resume(co) == ("suspended", (1,))
    err = _raises(LuaError, lambda: vm.resume(co))
    assert "inside co" in err.message  # type: ignore[attr-defined]
    _raises(LuaError, lambda: vm.resume(co))


def check_yield_across_pcall(vm: LuaVM) -> None:
    (body,) = vm.execute("""
        return function()
          local ok, v = pcall(function() local x = coroutine.yield('in pcall') return x + 1 end)
          local ok2, e = pcall(function() coroutine.yield('again') error('caught') end)
          return ok, v, ok2, (e:gsub('^.-: ', ''))
        end""")
    co = vm.coroutine(body)
    assert vm.resume(co) == ("suspended", ("in pcall",))
    assert vm.resume(co, 41) == ("suspended", ("again",))
    assert vm.resume(co) == ("dead", (True, 42, False, "caught"))


def check_coroutine_from_lua(vm: LuaVM) -> None:
    (co,) = vm.execute("return coroutine.create(function(x) return x * 3 end)")
    assert isinstance(co, LuaThread)
    assert vm.resume(co, 5) == ("dead", (15,))
    (gen,) = vm.execute("return coroutine.wrap(function() coroutine.yield(1) end)")
    assert isinstance(gen, LuaFunction)


def check_callback_in_coroutine(vm: LuaVM) -> None:
    vm.register("inc", lambda x: x + 1)
    (body,) = vm.execute("return function(x) while true do x = coroutine.yield(inc(x)) end end")
    co = vm.coroutine(body)
    assert vm.resume(co, 1) == ("suspended", (2,))
    assert vm.resume(co, 10) == ("suspended", (11,))


# ---------------------------------------------------------------- dump / load

def check_dump_load(vm: LuaVM) -> None:
    (fn,) = vm.execute("return function(x, y) return x * y + 1 end")
    code = vm.dump(fn)
    assert type(code) is bytes and code[:4] == b"\x1bLua"
    again = vm.load(code, mode="b")
    assert again(6, 7) == (43,)
    assert vm.load(code, mode="bt")(2, 3) == (7,)
    stripped = vm.dump(fn, strip=True)
    assert len(stripped) <= len(code)
    assert vm.load(stripped, mode="b")(1, 1) == (2,)
    _raises(LuaError, lambda: vm.dump(vm.get_global("print")))


def check_load_modes(vm: LuaVM) -> None:
    (fn,) = vm.execute("return function() return 1 end")
    code = vm.dump(fn)
    err = _raises(LuaSyntaxError, lambda: vm.load(code, mode="t"))
    assert "binary" in err.message  # type: ignore[attr-defined]
    _raises(LuaSyntaxError, lambda: vm.load(code))  # default mode is "t"
    err2 = _raises(LuaSyntaxError, lambda: vm.load("return 1", mode="b"))
    assert "text" in err2.message  # type: ignore[attr-defined]
    assert vm.load("return 1", mode="bt")() == (1,)
    # execute never runs binary chunks
    _raises(LuaSyntaxError, lambda: vm.execute(code))


def check_load_and_env(vm: LuaVM) -> None:
    f = vm.load("return 1 + ...", chunkname="=adder")
    assert isinstance(f, LuaFunction)
    assert f(41) == (42,)
    g = vm.globals_handle()
    assert isinstance(g, LuaHandle)
    vm.execute("shared_value = 'from _G'")
    h = vm.load("return shared_value", env=g)
    assert h() == ("from _G",)
    # an env table made in Lua: the chunk sees only it
    (make,) = vm.execute("return function(env_factory) return env_factory() end")
    (envfn,) = vm.execute("return function() return setmetatable({x = 'env x'}, nil) end")
    assert make(envfn) == ({"x": "env x"},)
    fn = vm.load("y = 5; return x", env=g)
    assert fn() == (None,)
    assert vm.get_global("y") == 5


# ---------------------------------------------------------------- handles

def check_handles(vm: LuaVM) -> None:
    (ud, lud, co, fn) = vm.execute("return io.stdout, nil, coroutine.create(print), print")
    assert isinstance(ud, LuaUserdata)
    assert lud is None
    assert isinstance(co, LuaThread)
    assert isinstance(fn, LuaFunction)
    (tostr,) = vm.execute("return function(x) return io.type(x) end")
    assert tostr(ud) == ("file",)
    (same,) = vm.execute("return function(a, b) return rawequal(a, b) end")
    assert same(ud, ud) == (True,)
    assert vm.execute("return type(...)", co) == ("thread",)


def check_handles_released(vm: LuaVM) -> None:
    vm.execute("collectgarbage()")
    base = vm.memory_used()
    for _ in range(2000):
        (f,) = vm.execute("return function() return ('x'):rep(1000) end")
        del f
    gc.collect()
    vm.execute("collectgarbage() collectgarbage()")
    assert vm.memory_used() < base + 500_000


def check_close(new_vm: Callable[..., LuaVM]) -> None:
    vm = new_vm()
    (fn,) = vm.execute("return function() return 1 end")
    vm.close()
    _raises(LuaError, lambda: vm.execute("return 1"))
    _raises(LuaError, fn)
    vm.close()  # idempotent
    fn = None
    gc.collect()


def check_open_libs_false(new_vm: Callable[..., LuaVM]) -> None:
    vm = new_vm(open_libs=False)
    assert vm.execute("return string, math, print") == (None, None, None)
    assert vm.execute("return 1 + 2") == (3,)


def check_two_vms_isolated(new_vm: Callable[..., LuaVM]) -> None:
    a, b = new_vm(), new_vm()
    a.set_global("x", 1)
    assert b.get_global("x") is None
    (fa,) = a.execute("return function() return 'a' end")
    _raises(ConversionError, lambda: b.call(fa))


CHECKS_NEW_VM = ["check_max_memory", "check_close", "check_open_libs_false", "check_two_vms_isolated"]
CHECKS_VM = [name for name in dict(globals()) if name.startswith("check_") and name not in CHECKS_NEW_VM]
