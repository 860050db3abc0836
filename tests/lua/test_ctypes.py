"""ctypes back-end specifics: library lookup, handle release, leaks, big payloads."""

from __future__ import annotations

import gc
import sys

import pytest

from hypelua._errors import BackendUnavailableError, LuaError
from hypelua.lua import _ctypes, open_vm
from hypelua.lua._ctypes import IO_CAPACITY, CtypesVM, find_library, load_library

from .conftest import ctypes_library

LIB = ctypes_library()
pytestmark = pytest.mark.skipif(LIB is None, reason="build/native/libhypelua_lua54.so not built "
                                "(run `wasm/build.sh native`)")


@pytest.fixture
def vm() -> CtypesVM:
    machine = CtypesVM(library=LIB)
    yield machine
    machine.close()


def test_lookup_explicit_missing(tmp_path) -> None:
    with pytest.raises(BackendUnavailableError) as info:
        CtypesVM(library=str(tmp_path / "nope.so"))
    assert "nope.so" in info.value.message
    assert "build.sh" in info.value.suggestion


def test_lookup_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("HYPE_LUA_LIBRARY", LIB)
    assert find_library() == LIB
    monkeypatch.setenv("HYPE_LUA_LIBRARY", str(tmp_path / "missing.so"))
    with pytest.raises(BackendUnavailableError):
        find_library()


def test_lookup_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("HYPE_LUA_LIBRARY", raising=False)
    monkeypatch.setattr(_ctypes, "_repo_library", lambda: str(tmp_path / "none.so"))
    monkeypatch.setitem(sys.modules, "hypelua_lua54", None)  # not importable
    with pytest.raises(BackendUnavailableError) as info:
        find_library()
    assert "wasm/build.sh native" in info.value.suggestion
    assert info.value.code == "BACKEND_UNAVAILABLE"


def test_lookup_repo_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HYPE_LUA_LIBRARY", raising=False)
    monkeypatch.setitem(sys.modules, "hypelua_lua54", None)
    assert find_library().endswith("build/native/libhypelua_lua54.so")


def test_not_a_library(tmp_path) -> None:
    bogus = tmp_path / "bogus.so"
    bogus.write_bytes(b"not an ELF file")
    with pytest.raises(BackendUnavailableError):
        load_library(str(bogus))


def test_library_loaded_once() -> None:
    assert load_library(LIB) is load_library(LIB)
    a, b = CtypesVM(library=LIB), CtypesVM(library=LIB)
    assert a._lib is b._lib
    a.close()
    b.close()


def test_open_vm_ctypes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPE_LUA_LIBRARY", LIB)
    machine = open_vm("ctypes", max_memory=8 << 20)
    assert machine.backend_name == "ctypes"
    assert machine.execute("return _VERSION") == ("Lua 5.4",)
    machine.close()


def test_handles_released_to_registry(vm: CtypesVM) -> None:
    count = vm.execute("return function() local n = 0 for _, v in pairs(debug.getregistry()) do "
                       "if type(v) == 'function' then n = n + 1 end end return n end")[0]
    before = count()[0]
    handles = [vm.execute("return function() end")[0] for _ in range(500)]
    assert count()[0] >= before + 500
    del handles
    gc.collect()
    vm.execute("return 1")  # pending releases are flushed at the next operation
    assert count()[0] <= before + 2


def test_callbacks_released(vm: CtypesVM) -> None:
    (apply,) = vm.execute("return function(f, x) return f(x) end")
    for i in range(3000):
        assert apply(lambda x: x + 1, i) == (i + 1,)
    vm.execute("collectgarbage() collectgarbage()")
    vm.register(None, print)  # triggers a drain of collected callback ids
    for i in range(300):
        apply(lambda x: x, i)
    assert len(vm._callbacks) < 1000


def test_many_calls_no_leak(vm: CtypesVM) -> None:
    (fn,) = vm.execute("return function(a, b) return a + b, {a, b}, 'x' .. a end")
    vm.register("cb", lambda *a: a)
    for i in range(2000):
        fn(i, 2)
        vm.execute("return cb(1, 'two', {3})")
    gc.collect()
    vm.execute("collectgarbage() collectgarbage()")
    base = vm.memory_used()
    for i in range(20000):
        fn(i, 2)
        vm.execute("return cb(1, 'two', {3})")
    gc.collect()
    vm.execute("collectgarbage() collectgarbage()")
    assert vm.memory_used() < base + 64 * 1024


def test_large_payloads_overflow_buffer(vm: CtypesVM) -> None:
    big = "y" * (IO_CAPACITY * 3)
    (echo,) = vm.execute("return function(...) return ... end")
    assert echo(big) == (big,)
    lst = list(range(IO_CAPACITY))
    assert echo(lst) == (lst,)
    # a large callback result and large callback arguments
    vm.register("bigcb", lambda s: (s * 2, list(range(20000))))
    out = vm.execute("local a, b = bigcb(string.rep('z', 100000)) return #a, #b, b[20000]")
    assert out == (200000, 20000, 19999)
    # a large error message
    with pytest.raises(LuaError) as info:
        vm.execute("error(string.rep('e', 200000), 0)")
    assert info.value.message == "e" * 200000


def test_python_error_in_gc_metamethod(vm: CtypesVM) -> None:
    def fail() -> None:
        raise RuntimeError("in __gc")

    vm.register("fail", fail)
    vm.execute("setmetatable({}, {__gc = function() fail() end}) collectgarbage()")
    assert vm.execute("return 5") == (5,)


def test_memory_limit_on_creation() -> None:
    from hypelua._errors import LuaMemoryError

    with pytest.raises(LuaMemoryError):
        CtypesVM(library=LIB, max_memory=1000)


def test_vm_garbage_collected_closes_state() -> None:
    import weakref

    machine = CtypesVM(library=LIB)
    machine.register("f", lambda: 1)
    ref = weakref.ref(machine)
    box = machine._box
    del machine
    gc.collect()
    assert ref() is None
    assert box[0] is None


def test_callback_keyboard_interrupt_reraised(vm: CtypesVM) -> None:
    def stop() -> None:
        raise KeyboardInterrupt

    vm.register("stop", stop)
    with pytest.raises(KeyboardInterrupt):
        vm.execute("stop()")
