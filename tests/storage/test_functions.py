"""HMAC authentication of persisted bytecode and recovery of function source text."""

from __future__ import annotations

import pytest

from hypelua import BytecodeRejectedError
from hypelua.lua import LuaSyntaxError, open_vm
from hypelua.storage._codec import PersistedFunction
from hypelua.storage._functions import extract_source, sign, verify

KEY = b"k" * 32


def _fn(**kw: object) -> PersistedFunction:
    base = {"bytecode": b"\x1bLuaT\x00code", "source": "function() return 1 end", "name": "=t"}
    base.update(kw)
    return PersistedFunction(**base)  # type: ignore[arg-type]


def test_signed_function_verifies() -> None:
    fn = _fn()
    sign(KEY, fn)
    assert verify(KEY, fn) == [] and fn.bytecode is not None


def test_tampered_bytecode_falls_back_to_source() -> None:
    fn = _fn()
    sign(KEY, fn)
    fn.bytecode = fn.bytecode[:-1] + b"X"  # type: ignore[index]
    warnings = verify(KEY, fn, where="Memory.f")
    assert fn.bytecode is None and fn.source and "Memory.f" in warnings[0]


def test_foreign_bytecode_without_source_is_rejected() -> None:
    fn = _fn(source=None)
    sign(b"other key" * 4, fn)
    with pytest.raises(BytecodeRejectedError) as info:
        verify(KEY, fn, where="Memory.f")
    assert info.value.code == "BYTECODE_REJECTED"
    assert fn.bytecode is not None  # nothing was changed, nothing loaded


def test_nested_functions_in_upvalues_are_verified() -> None:
    inner = _fn(source=None)
    outer = _fn(upvalues=[{"name": "g", "value": {"list": [inner]}}])
    sign(KEY, outer)
    inner.bytecode = b"evil"
    with pytest.raises(BytecodeRejectedError):
        verify(KEY, outer)


def test_unsigned_cfunction_reference_is_rejected() -> None:
    fn = PersistedFunction(cfunction="os.execute", mac="00")
    with pytest.raises(BytecodeRejectedError):
        verify(KEY, fn)


@pytest.fixture(scope="module")
def compiles():  # type: ignore[no-untyped-def]
    vm = open_vm("lupa")

    def check(code: str) -> bool:
        try:
            vm.load(code)
        except LuaSyntaxError:
            return False
        return True

    return check


@pytest.mark.parametrize(
    "chunk,first,last,expected",
    [
        ("Memory.f = function(x) return x end", 1, 1, "function(x) return x end"),
        ("local function fact(n)\n  if n < 2 then return 1 end\n  return n * fact(n-1)\nend\nMemory.f = fact",
         1, 4, "function(n)\n  if n < 2 then return 1 end\n  return n * fact(n-1)\nend"),
        ("function M.sub.g(a, b) return a end", 1, 1, "function(a, b) return a end"),
        ("function M:m(a) return self end", 1, 1, "function(self, a) return self end"),
        ("function M:m() return self end", 1, 1, "function(self) return self end"),
        ("call(function() end, 5)", 1, 1, "function() end"),
    ],
)
def test_extract_source(compiles, chunk: str, first: int, last: int, expected: str) -> None:  # type: ignore[no-untyped-def]
    assert extract_source(chunk, first, last, compiles) == expected


def test_extract_source_out_of_range(compiles) -> None:  # type: ignore[no-untyped-def]
    assert extract_source("x = 1", 3, 4, compiles) is None
