"""``LuaVM`` back-end over ``lupa.lua54`` (native CPython).

lupa is driven with ``encoding=None`` so Lua strings arrive as ``bytes`` and the
plain-data contract of :mod:`hypelua.lua._base` (UTF-8 -> ``str``, else ``bytes``)
is applied here, identically to the ctypes back-end.  Python callables are
wrapped so that a Python exception becomes an ordinary Lua error string
(``"KeyError: 'boom'"``) that ``pcall`` can catch; if it escapes Lua the
original exception is re-raised.
"""

from __future__ import annotations

import ctypes
import os
import weakref
from collections.abc import Callable

import lupa.lua54 as _lupa

from .._errors import ConversionError, LuaError, LuaMemoryError, LuaSyntaxError
from ._base import MAX_DEPTH, LuaFunction, LuaHandle, LuaThread, LuaUserdata, LuaVM

TYPE_CHECKING = False  # typing costs start-up time; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any

_INT_MIN = -(2**63)
_INT_MAX = 2**63 - 1
_SCALARS = (type(None), bool, int, float)
_FAST = frozenset((type(None), bool, int, float))

_BOOT = b"""
local load, dump, format, resume, status, traceback, error, select, type, tostring =
  load, string.dump, string.format, coroutine.resume, coroutine.status, debug.traceback,
  error, select, type, tostring
local pack, unpack = table.pack, table.unpack
local xpcall = xpcall
local function handler(e)
  if e == "not enough memory" then return e end  -- allocate nothing more
  local msg = e
  if type(e) ~= "string" then
    local mt = getmetatable(e)
    if mt and mt.__tostring then msg = tostring(e) else msg = "(error object is a " .. type(e) .. " value)" end
  end
  return {msg, traceback(msg, 2), e}
end
-- lupa cannot hand a coroutine to Python and back (it wraps threads as
-- functions), so threads live in this registry and cross as {[THREAD] = id}.
local threads, next_id, THREAD = {}, 0, {}
local function box(v)
  if type(v) ~= "thread" then return v end
  next_id = next_id + 1
  threads[next_id] = v
  return {[THREAD] = next_id}
end
local function finish(ok, ...)
  if not ok then return false, ... end
  local n = select("#", ...)
  if n == 1 then return true, box((...)) end
  local r = pack(...)
  for i = 1, n do r[i] = box(r[i]) end
  return true, unpack(r, 1, n)
end
local function unbox(v)
  if type(v) == "table" then
    local id = rawget(v, THREAD)
    if id ~= nil then return threads[id] end
  end
  return v
end
local function pcall_(f, ...)
  local n = select("#", ...)
  if n == 0 then return finish(xpcall(f, handler)) end
  local args = pack(...)
  for i = 1, n do args[i] = unbox(args[i]) end
  return finish(xpcall(f, handler, unpack(args, 1, n)))
end
local function box_id(id) return {[THREAD] = id} end
local function ptr(t) return format("%p", t) end
local function newco(f) next_id = next_id + 1; threads[next_id] = coroutine.create(f); return next_id end
local function release(id) threads[id] = nil end
local function thread_id(t) return rawget(t, THREAD) end
local function resume_(id, ...)
  local co = threads[id]
  if co == nil then return "dead", false, {"cannot resume a released coroutine", "", ""} end
  local r = pack(resume(co, ...))
  if not r[1] then
    local e = r[2]
    local msg = type(e) == "string" and e or tostring(e)
    return status(co), false, {msg, traceback(co, msg), e}
  end
  for i = 2, r.n do r[i] = box(r[i]) end
  return status(co), true, unpack(r, 2, r.n)
end
local function check(ok, ...)
  if ok then return ... end
  error((...), 0)
end
local function wrap(pyfn)
  return function(...) return check(pyfn(...)) end
end
local function load_(chunk, name, mode, env)
  if env == nil then return load(chunk, name, mode) end
  return load(chunk, name, mode, env)
end
return pcall_, ptr, resume_, wrap, load_, dump, newco, type, release, thread_id, box_id
"""


#: the ``hype.preempt`` C module built for lupa's Lua (``wasm/build.sh native``)
PREEMPT_LIBRARY = "hype_preempt_lupa.so"
_promoted: list[bool] = []


def find_preempt_library() -> str | None:
    """Locate ``hype_preempt_lupa.so``, or None (then ``hype.preempt`` is absent under lupa).

    Order, as for the ctypes back-end's library: ``$HYPE_PREEMPT_LIBRARY`` ->
    a copy next to this module (a packaged build) -> ``<repo>/build/native/``.
    """
    path = os.environ.get("HYPE_PREEMPT_LIBRARY")
    if path:
        return path if os.path.exists(path) else None
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(os.path.dirname(here)))
    for path in (os.path.join(here, PREEMPT_LIBRARY), os.path.join(repo, "build", "native", PREEMPT_LIBRARY)):
        if os.path.exists(path):
            return path
    return None


def _promote_lupa() -> bool:
    """Make lupa's Lua C API global, so ``package.loadlib`` binds C modules to the Lua lupa runs."""
    if not _promoted:
        try:
            ctypes.CDLL(_lupa.__file__, mode=ctypes.RTLD_GLOBAL | getattr(os, "RTLD_NOLOAD", 4))
            _promoted.append(True)
        except OSError:
            _promoted.append(False)
    return _promoted[0]


_PRELOAD_PREEMPT = b"""
local path = ...
local open = package.loadlib(path, "luaopen_hype_preempt")
if open then package.preload["hype.preempt"] = open end
"""


def _release_thread(vm_ref: weakref.ref[LupaVM], tid: int) -> None:
    vm = vm_ref()
    if vm is not None and vm._rt is not None:
        vm._release(tid)


class LupaVM(LuaVM):
    """Lua 5.4 through lupa.  See :class:`hypelua.lua.LuaVM` for the contract.

    Args:
        max_memory: Lua heap limit in bytes (lupa's ``max_memory``), or None.
        open_libs: accepted for interface parity; lupa always opens the standard libraries.
    """

    backend_name = "lupa"

    def __init__(self, *, max_memory: int | None = None, open_libs: bool = True) -> None:
        self._rt: Any = _lupa.LuaRuntime(
            encoding=None,
            unpack_returned_tuples=True,
            register_eval=False,
            register_builtins=False,
            max_memory=max_memory,
        )
        self._max_memory = max_memory
        (self._pcall, self._ptr, self._resume, self._wrap, self._load, self._dump,
         self._newco, self._type, self._release, self._thread_id, self._box_id) = self._rt.execute(_BOOT)
        # lupa's `python` library (python.none, as_attrgetter, ...) reaches every Python
        # object; the plain-data contract has no use for it (the ctypes back-end has none)
        self._rt.execute(b"python = nil package.loaded.python = nil")
        # hype.preempt (C): preloaded like the ctypes back-end's; nothing when it is not built
        preempt = find_preempt_library() if open_libs else None
        if preempt is not None and _promote_lupa():
            self._rt.execute(_PRELOAD_PREEMPT, os.fsencode(preempt))
        if not open_libs:  # lupa always opens them: remove every global instead
            self._rt.execute(b"local G = _G for k in next, G do G[k] = nil end")
        self._pending: dict[str, BaseException] = {}

    # ------------------------------------------------------------ conversion
    def _to_lua(self, value: Any, depth: int = 0, path: set[int] | None = None) -> Any:
        t = type(value)
        if t in _SCALARS:
            if t is int and not _INT_MIN <= value <= _INT_MAX:
                raise ConversionError(f"integer {value} does not fit in a Lua integer (64 bits)")
            return value
        if t is str:
            return value.encode("utf-8", "surrogatepass")
        if t is bytes:
            return value
        if isinstance(value, (bytearray, memoryview)):
            return bytes(value)
        if isinstance(value, LuaHandle):
            if value._vm is not self:
                raise ConversionError("a Lua handle cannot be passed to a different VM")
            if type(value) is LuaThread:  # unboxed by pcall_ (top-level arguments)
                return self._box_id(value._ref)
            return value._ref
        if isinstance(value, (list, tuple, dict)):
            if depth >= MAX_DEPTH:
                raise ConversionError(f"value nested deeper than {MAX_DEPTH} levels")
            path = path if path is not None else set()
            if id(value) in path:
                raise ConversionError("cyclic structure cannot be converted to a Lua table")
            path.add(id(value))
            table = self._rt.table()
            if isinstance(value, dict):
                for k, v in value.items():
                    if k is None or (isinstance(k, float) and k != k):
                        raise ConversionError(f"invalid Lua table key {k!r}")
                    table[self._to_lua(k, depth + 1, path)] = self._to_lua(v, depth + 1, path)
            else:
                for i, v in enumerate(value, 1):
                    table[i] = self._to_lua(v, depth + 1, path)
            path.discard(id(value))
            return table
        if callable(value):
            return self._wrap(self._make_callback(value))
        raise ConversionError(
            f"cannot convert {t.__name__} to Lua", details={"type": t.__name__},
        )

    def _from_lua(self, value: Any, depth: int = 0, path: set[str] | None = None) -> Any:
        t = type(value)
        if t in _SCALARS:
            return value
        if t is bytes:
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                return value
        kind = _lupa.lua_type(value)
        if kind == "function":  # lupa reports coroutines as functions; ask Lua
            kind = self._type(value).decode("ascii")
        if kind == "table":
            tid = self._thread_id(value)
            if tid is not None:
                return self._thread(tid)
            if depth >= MAX_DEPTH:
                raise ConversionError(f"Lua table nested deeper than {MAX_DEPTH} levels")
            path = path if path is not None else set()
            ident = self._ptr(value)
            if ident in path:
                raise ConversionError(
                    "cyclic Lua table cannot be converted to plain data",
                    suggestion="Break the cycle, or keep the table inside Lua.",
                )
            path.add(ident)
            out: dict[Any, Any] = {}
            for k, v in value.items():
                out[self._from_lua(k, depth + 1, path)] = self._from_lua(v, depth + 1, path)
            path.discard(ident)
            n = len(out)
            if n and all(type(k) is int for k in out) and min(out) == 1 and max(out) == n:
                return [out[i] for i in range(1, n + 1)]
            return out
        if kind == "function":
            return LuaFunction(self, value)
        if kind == "thread":
            return LuaThread(self, value)
        if kind == "userdata":
            return LuaUserdata(self, value)
        return value  # a Python object that went through Lua unchanged

    def _convert_results(self, results: Any) -> tuple[Any, ...]:
        if type(results) is not tuple:
            return (self._from_lua(results),)
        return tuple(self._from_lua_all(results))

    def _from_lua_all(self, values: tuple[Any, ...]) -> list[Any]:
        """:meth:`_from_lua` of each value, with scalars and strings (the common results
        and callback arguments) converted inline."""
        out = []
        for v in values:
            t = type(v)
            if t in _FAST:
                out.append(v)
            elif t is bytes:
                try:
                    out.append(v.decode("utf-8"))
                except UnicodeDecodeError:
                    out.append(v)
            else:
                out.append(self._from_lua(v))
        return out

    # ------------------------------------------------------------- callbacks
    def _make_callback(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        from_lua_all = self._from_lua_all
        to_lua = self._to_lua
        pending = self._pending

        def callback(*args: Any) -> Any:
            try:
                result = fn(*from_lua_all(args))
                if type(result) is tuple:
                    return (True, *[to_lua(r) for r in result])
                return (True, to_lua(result))
            except BaseException as exc:
                msg = f"{type(exc).__name__}: {exc}"
                pending[msg] = exc
                if len(pending) > 64:
                    pending.pop(next(iter(pending)))
                return (False, msg.encode("utf-8", "replace"))

        return callback

    # ----------------------------------------------------------------- calls
    def _raise(self, info: Any) -> None:
        """Raise the error described by the message handler's ``{msg, traceback, value}``."""
        if not _lupa.lua_type(info) == "table":
            raise LuaMemoryError("not enough memory")
        msg_b, tb_b, value = info[1], info[2], info[3]
        msg = msg_b.decode("utf-8", "replace") if isinstance(msg_b, bytes) else str(msg_b)
        tb = tb_b.decode("utf-8", "replace") if isinstance(tb_b, bytes) else str(tb_b)
        tb = tb.split("\n\t[C]: in function 'xpcall'")[0]  # hide our own protected-call frame
        original = self._pending.pop(msg, None)
        if original is not None:
            raise original
        if msg == "not enough memory":
            raise LuaMemoryError(msg, traceback=tb)
        try:
            plain = self._from_lua(value)
        except ConversionError:
            plain = msg
        raise LuaError(msg, traceback=tb, value=plain)

    def _invoke(self, fn: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
        if self._rt is None:
            raise LuaError("the Lua VM is closed", code="LUA_CLOSED")
        try:
            res = self._pcall(fn, *[self._to_lua(a) for a in args])
        except _lupa.LuaMemoryError as exc:
            raise LuaMemoryError(str(exc) or "not enough memory") from None
        except _lupa.LuaError as exc:  # error in lupa's own glue (e.g. memory during conversion)
            raise LuaError(str(exc)) from None
        if res is True:
            return ()
        if res[0] is True:
            return self._convert_results(res[1:])
        self._raise(res[1])
        raise AssertionError("unreachable")

    def execute(self, source: str | bytes, *args: Any, chunkname: str = "=(hype)") -> tuple[Any, ...]:
        return self._invoke(self.load(source, chunkname, "t")._ref, args)

    def load(self, chunk: str | bytes, chunkname: str = "=(hype)", mode: str = "t",
             env: LuaHandle | None = None) -> LuaFunction:
        if self._rt is None:
            raise LuaError("the Lua VM is closed", code="LUA_CLOSED")
        data = chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk)
        env_ref = None
        if env is not None:
            if env._vm is not self:
                raise ConversionError("env handle belongs to a different VM")
            env_ref = env._ref
        try:
            res = self._load(data, chunkname.encode("utf-8"), mode.encode("ascii"), env_ref)
        except _lupa.LuaMemoryError:
            raise LuaMemoryError("not enough memory") from None
        fn, err = (res, None) if type(res) is not tuple else res
        if fn is None:
            msg = err.decode("utf-8", "replace") if isinstance(err, bytes) else str(err)
            if msg == "not enough memory":
                raise LuaMemoryError(msg)
            raise LuaSyntaxError(msg, details={"chunkname": chunkname})
        return LuaFunction(self, fn)

    def call(self, fn: LuaFunction, *args: Any) -> tuple[Any, ...]:
        """Fast path: lupa's own protected call (its traceback), no extra Lua frame."""
        if fn._vm is not self:
            raise ConversionError("function handle belongs to a different VM")
        if self._rt is None:
            raise LuaError("the Lua VM is closed", code="LUA_CLOSED")
        to_lua = self._to_lua
        conv = []
        for a in args:  # scalars and strings inline: the common arguments of a call
            t = type(a)
            if t in _FAST or t is bytes:
                conv.append(a)
            elif t is str:
                conv.append(a.encode("utf-8", "surrogatepass"))
            elif t is LuaThread:  # coroutines need the Lua-side unboxing of _invoke
                return self._invoke(fn._ref, args)
            else:
                conv.append(to_lua(a))
        try:
            res = fn._ref(*conv)
        except _lupa.LuaMemoryError as exc:
            raise LuaMemoryError(str(exc) or "not enough memory") from None
        except _lupa.LuaError as exc:
            text = str(exc)
            msg, _, tb = text.partition("\nstack traceback:\n")
            original = self._pending.pop(msg, None)
            if original is not None:
                raise original from None
            if msg == "not enough memory":
                raise LuaMemoryError(msg, traceback=tb) from None
            raise LuaError(msg or "(error object is not a string)", traceback="stack traceback:\n" + tb
                           ) from None
        except (OverflowError, TypeError) as exc:
            raise ConversionError(f"integer does not fit in a Lua integer: {exc}") from None
        t = type(res)
        if t is tuple:
            return self._convert_results(res)
        if t in _FAST:
            return (res,)
        return (self._from_lua(res),)

    def get_global(self, name: str) -> Any:
        if self._rt is None:
            raise LuaError("the Lua VM is closed", code="LUA_CLOSED")
        return self._from_lua(self._rt.globals()[name.encode("utf-8")])

    def set_global(self, name: str, value: Any) -> None:
        if self._rt is None:
            raise LuaError("the Lua VM is closed", code="LUA_CLOSED")
        self._rt.globals()[name.encode("utf-8")] = self._to_lua(value)

    def globals_handle(self) -> LuaHandle:
        return LuaHandle(self, self._rt.globals())

    def register(self, name: str | None, fn: Callable[..., Any]) -> LuaFunction:
        lua_fn = self._wrap(self._make_callback(fn))
        if name is not None:
            self._rt.globals()[name.encode("utf-8")] = lua_fn
        return LuaFunction(self, lua_fn)

    def dump(self, fn: LuaFunction, strip: bool = False) -> bytes:
        res = self._invoke(self._dump, (fn, strip))
        out = res[0]
        return out.encode("utf-8") if isinstance(out, str) else out

    def _thread(self, tid: int) -> LuaThread:
        handle = LuaThread(self, tid)
        weakref.finalize(handle, _release_thread, weakref.ref(self), tid)
        return handle

    def coroutine(self, fn: LuaFunction) -> LuaThread:
        (tid,) = self._invoke(self._newco, (fn,))
        return self._thread(tid)

    def resume(self, co: LuaThread, *args: Any) -> tuple[str, tuple[Any, ...]]:
        if co._vm is not self:
            raise ConversionError("coroutine handle belongs to a different VM")
        if self._rt is None:
            raise LuaError("the Lua VM is closed", code="LUA_CLOSED")
        res = self._pcall(self._resume, co._ref, *[self._to_lua(a) for a in args])
        if res[0] is not True:
            self._raise(res[1])
        status = res[1].decode("ascii")
        if res[2] is not True:
            self._raise(res[3])
        return status, self._convert_results(res[3:])

    def take_exception(self, message: str) -> BaseException | None:
        return self._pending.pop(message, None)

    def memory_used(self) -> int:
        if self._rt is None:
            return 0
        if self._max_memory:
            return int(self._rt.get_memory_used())
        (kb,) = self.execute("return collectgarbage('count')")
        return int(kb * 1024)

    def close(self) -> None:
        self._rt = None
        self._pending.clear()
