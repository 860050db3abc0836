"""ctypes back-end: our own Lua 5.4.8 shared library (``wasm/hypelua_lua.c``).

Used in the browser (a Pyodide side module shipped in the ``hypelua_lua54``
wheel) and tested natively against a gcc build of the same C source
(``wasm/build.sh native`` -> ``build/native/libhypelua_lua54.so``).

Design (see ``wasm/hypelua_lua.h`` for the wire format):

* every operation is **one** foreign call into a C helper that runs the Lua
  work inside ``lua_pcall``; no ``longjmp`` ever crosses a Python frame;
* values cross as a compact tagged binary encoding, encoded/decoded here with
  :mod:`struct`; results land in a per-VM I/O buffer (a ctypes array) that
  Python reads right after the call (large results: a state-owned overflow
  buffer fetched with ``hl_outptr``/``hl_outlen``);
* Python callables are called through one ``CFUNCTYPE`` trampoline per VM;
  a Python exception is returned as a status and raised as a Lua error on the
  C side after the Python frame has returned; if it escapes Lua uncaught the
  original exception is re-raised;
* non-plain values (functions, coroutines, userdata, the globals table) are
  registry references released by ``weakref.finalize`` on the Python handle
  (batched: released at the next operation, never from inside a finalizer).
"""

from __future__ import annotations

import ctypes
import os
import struct
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

from .._errors import BackendUnavailableError, ConversionError, LuaError, LuaMemoryError, LuaSyntaxError
from ._base import MAX_DEPTH, LuaFunction, LuaHandle, LuaThread, LuaUserdata, LuaVM

__all__ = ["CtypesVM", "find_library", "load_library"]

LIBRARY_NAME = "libhypelua_lua54.so"
#: size of the per-VM I/O buffer (results and callback arguments that fit here
#: need no extra foreign call)
IO_CAPACITY = 1 << 16

# status codes (wasm/hypelua_lua.h)
_OK, _ERRRUN, _ERRSYNTAX, _ERRMEM, _ERRCONV, _ERRERR = 0, 1, 2, 3, 4, 5
_OVERFLOW = 0x100
_NOREF = -2  # LUA_NOREF

# value tags
_NIL, _FALSE, _TRUE, _INT, _FLOAT, _STR, _LIST, _DICT, _HANDLE, _PYFN = range(10)

_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")
_HANDLE_REF = struct.Struct("<Bi")  # kind, ref
_ONE_INT = struct.Struct("<IBq")  # count=1, tag, int64: the most common payload
_one_int_from = _ONE_INT.unpack_from
_pack_one_int = _ONE_INT.pack
_u32_from = _U32.unpack_from
_i64_from = _I64.unpack_from
_f64_from = _F64.unpack_from
_handle_from = _HANDLE_REF.unpack_from
_pack_u32 = _U32.pack
_pack_int = struct.Struct("<Bq").pack
_pack_float = struct.Struct("<Bd").pack
_pack_tag_u32 = struct.Struct("<BI").pack
_pack_handle = struct.Struct("<BBi").pack
_pack_pyfn = struct.Struct("<Bi").pack

_NIL_B = bytes([_NIL])
_FALSE_B = bytes([_FALSE])
_TRUE_B = bytes([_TRUE])
_ONE_NIL = _pack_u32(1) + _NIL_B
_NO_VALUES = _pack_u32(0)

_INT_MIN = -(1 << 63)
_INT_MAX = (1 << 63) - 1

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_int)

_HANDLE_CLASSES: dict[int, type[LuaHandle]] = {
    ord("f"): LuaFunction,
    ord("t"): LuaThread,
    ord("u"): LuaUserdata,
    ord("T"): LuaHandle,
}

_LIBS: dict[str, ctypes.CDLL] = {}


def _repo_library() -> str:
    # py/hypelua/lua/_ctypes.py -> <repo>/build/native/libhypelua_lua54.so
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(os.path.dirname(here)))
    return os.path.join(repo, "build", "native", LIBRARY_NAME)


def find_library(library: str | None = None) -> str:
    """Locate the shared library.

    Order: ``library`` argument -> ``$HYPE_LUA_LIBRARY`` ->
    ``hypelua_lua54.library_path()`` (the Pyodide wheel) ->
    ``<repo>/build/native/libhypelua_lua54.so``.

    Raises:
        BackendUnavailableError: nothing found (or the given path is missing).
    """
    for source, path in (("library argument", library),
                         ("HYPE_LUA_LIBRARY", os.environ.get("HYPE_LUA_LIBRARY"))):
        if path:
            if not os.path.exists(path):
                raise BackendUnavailableError(
                    f"Lua library not found: {path} (from {source})",
                    details={"path": path, "source": source},
                    suggestion="Build it with `wasm/build.sh native` or fix the path.",
                )
            return path
    try:
        import hypelua_lua54  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        path = hypelua_lua54.library_path()
        if os.path.exists(path):
            return path
    path = _repo_library()
    if os.path.exists(path):
        return path
    raise BackendUnavailableError(
        "the ctypes Lua back-end needs libhypelua_lua54.so, which was not found",
        details={"searched": ["HYPE_LUA_LIBRARY", "hypelua_lua54.library_path()", path]},
        suggestion="Run `wasm/build.sh native` (or install the hypelua_lua54 wheel under Pyodide), "
        "or set HYPE_LUA_LIBRARY to the library path.",
    )


def load_library(path: str) -> ctypes.CDLL:
    """Load ``path`` once per process and declare the C helper's signatures."""
    key = os.path.abspath(path)
    lib = _LIBS.get(key)
    if lib is not None:
        return lib
    try:
        lib = ctypes.CDLL(key)
    except OSError as exc:
        raise BackendUnavailableError(
            f"cannot load the Lua library {key}: {exc}",
            details={"path": key},
            suggestion="Rebuild it with `wasm/build.sh native` for this platform.",
        ) from exc
    p, i, s, i64 = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int64
    signatures: dict[str, tuple[Any, list[Any]]] = {
        "hl_new": (p, [i64, i, p, i, _CALLBACK]),
        "hl_close": (None, [p]),
        "hl_version": (s, []),
        "hl_execute": (i, [p, s, i, s, s, i]),
        "hl_load": (i, [p, s, i, s, s, i]),
        "hl_call": (i, [p, i, s, i]),
        "hl_get_global": (i, [p, s]),
        "hl_set_global": (i, [p, s, s, i]),
        "hl_globals": (i, [p]),
        "hl_register": (i, [p, s, i]),
        "hl_dump": (i, [p, i, i]),
        "hl_coroutine": (i, [p, i]),
        "hl_resume": (i, [p, i, s, i]),
        "hl_unref": (i, [p, p, i]),
        "hl_drain_freed": (i, [p, p, i]),
        "hl_set_return": (i, [p, s, i]),
        "hl_outptr": (p, [p]),
        "hl_outlen": (i, [p]),
        "hl_memory_used": (i64, [p]),
        "hl_memory_limit": (i64, [p, i64]),
    }
    for name, (restype, argtypes) in signatures.items():
        try:
            fn = getattr(lib, name)
        except AttributeError as exc:
            raise BackendUnavailableError(
                f"{key} is not a hypelua Lua library (missing {name})",
                details={"path": key, "missing": name},
                suggestion="Rebuild it with `wasm/build.sh`.",
            ) from exc
        fn.restype = restype
        fn.argtypes = argtypes
    _LIBS[key] = lib
    return lib


def _fast(lib: ctypes.CDLL, name: str) -> Any:
    fn = lib[name]  # a new function object: the argtypes-declared one stays intact
    fn.restype = ctypes.c_int
    return fn


def _closed_error() -> LuaError:
    return LuaError("the Lua state is closed", code="LUA_CLOSED",
                    suggestion="Create a new VM; this one was closed.")


def _close_state(lib: ctypes.CDLL, box: list[Any], _keepalive: Any) -> None:
    # module-level so the finalizer holds no reference to the VM
    state = box[0]
    if state is not None:
        box[0] = None
        lib.hl_close(state)


class CtypesVM(LuaVM):
    """A Lua 5.4.8 state driven through ctypes (see the module docstring).

    Args:
        library: path of ``libhypelua_lua54.so``; default: :func:`find_library`.
        max_memory: limit of the Lua heap in bytes (``None``: unlimited).
        open_libs: open the standard libraries (default True).
    Raises:
        BackendUnavailableError: the library cannot be found or loaded.
        LuaMemoryError: the state cannot be created within ``max_memory``.
    """

    backend_name: ClassVar[str] = "ctypes"

    def __init__(self, *, library: str | None = None, max_memory: int | None = None,
                 open_libs: bool = True) -> None:
        self._lib = lib = load_library(find_library(library))
        self._io = (ctypes.c_char * IO_CAPACITY)()
        self._io_addr = ctypes.addressof(self._io)
        self._mv = memoryview(self._io).cast("B")
        self._callbacks: dict[int, Callable[..., Any]] = {}
        self._next_cb = 1
        self._drain_at = 64
        self._pending_unrefs: list[int] = []
        self._py_exc: tuple[BaseException, str] | None = None
        self._depth = 0
        wself = weakref.ref(self)

        def trampoline(cb_id: int, args_ptr: int | None, args_len: int) -> int:
            vm = wself()
            if vm is None:  # pragma: no cover - the state dies with the VM
                return 0
            return vm._on_callback(cb_id, args_ptr, args_len)

        self._trampoline = _CALLBACK(trampoline)
        state = lib.hl_new(int(max_memory or 0), 1 if open_libs else 0, self._io_addr, IO_CAPACITY,
                           self._trampoline)
        if not state:
            raise LuaMemoryError("not enough memory to create a Lua state",
                                 details={"max_memory": max_memory})
        self._S: int | None = state
        self._box: list[Any] = [state]
        self._finalizer = weakref.finalize(self, _close_state, lib, self._box, self._trampoline)
        # Hot-path foreign functions: fresh function objects *without* argtypes,
        # called with pre-converted arguments (a c_void_p state, ints, bytes);
        # this halves the ctypes call overhead compared to argtypes conversion.
        self._cstate = ctypes.c_void_p(state)
        self._hl_call = _fast(lib, "hl_call")
        self._hl_execute = _fast(lib, "hl_execute")
        self._hl_resume = _fast(lib, "hl_resume")

    # ------------------------------------------------------------------ plumbing

    def _state(self) -> int:
        state = self._S
        if state is None:
            raise _closed_error()
        if self._pending_unrefs:
            self._flush_unrefs(state)
        if not self._depth:
            self._py_exc = None
        return state

    def _flush_unrefs(self, state: int) -> None:
        refs, self._pending_unrefs = self._pending_unrefs, []
        arr = (ctypes.c_int * len(refs))(*refs)
        self._lib.hl_unref(state, arr, len(refs))

    def _drain_callbacks(self, state: int) -> None:
        arr = (ctypes.c_int * 1024)()
        while True:
            n = self._lib.hl_drain_freed(state, arr, 1024)
            for i in range(n):
                self._callbacks.pop(arr[i], None)
            if n < 1024:
                break
        self._drain_at = max(64, 2 * len(self._callbacks))

    def _result(self, st: int) -> tuple[Any, ...]:
        """Decode the output of an operation that returned status ``st``."""
        if st & _OVERFLOW:
            state = self._S
            buf: Any = ctypes.string_at(self._lib.hl_outptr(state), self._lib.hl_outlen(state))
        else:
            buf = self._mv
        code = st & 0xFF
        if code:
            raise self._error(code, buf)
        return self._decode_values(buf)

    def _error(self, code: int, buf: Any) -> BaseException:
        try:
            value, message, traceback = self._decode_values(buf)
        except Exception:  # pragma: no cover - defensive
            value, message, traceback = None, "unknown Lua error", ""
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        if isinstance(traceback, bytes):
            traceback = traceback.decode("utf-8", "replace")
        message = str(message)
        traceback = str(traceback or "")
        if code == _ERRRUN and self._py_exc is not None and value == self._py_exc[1]:
            exc = self._py_exc[0]
            self._py_exc = None
            return exc
        if code == _ERRSYNTAX:
            return LuaSyntaxError(message, traceback=traceback, value=value)
        if code == _ERRMEM:
            return LuaMemoryError(message, traceback=traceback, value=value)
        if code == _ERRCONV:
            return ConversionError(_strip_position(message), details={"lua_message": message})
        return LuaError(message, traceback=traceback, value=value)

    def _on_callback(self, cb_id: int, args_ptr: int | None, args_len: int) -> int:
        """The trampoline body: never lets an exception escape into C."""
        lib = self._lib
        try:
            if args_ptr == self._io_addr:
                args = self._decode_values(self._mv)
            else:
                args = self._decode_values(ctypes.string_at(args_ptr or 0, args_len))
            fn = self._callbacks[cb_id]
            self._depth += 1
            try:
                res = fn(*args)
            finally:
                self._depth -= 1
            if res is None:
                data = _ONE_NIL
            elif type(res) is tuple:
                data = self._encode_values(res)
            else:
                data = self._encode_values((res,))
            n = len(data)
            if n <= IO_CAPACITY:
                self._mv[:n] = data
                return n
            lib.hl_set_return(self._S, data, n)
            return -1
        except BaseException as exc:
            msg = f"{type(exc).__name__}: {exc}"
            self._py_exc = (exc, msg)
            raw = msg.encode("utf-8", "replace")
            lib.hl_set_return(self._S, raw, len(raw))
            return -2

    # ------------------------------------------------------------------ conversion

    def _handle(self, kind: int, ref: int) -> LuaHandle:
        cls = _HANDLE_CLASSES.get(kind, LuaUserdata)
        h = cls(self, ref)
        weakref.finalize(h, self._pending_unrefs.append, ref).atexit = False
        return h

    def _decode_values(self, buf: Any) -> tuple[Any, ...]:
        n = _u32_from(buf, 0)[0]
        if n == 0:
            return ()
        if n == 1:
            return (self._dec(buf, 4)[0],)
        out = []
        off = 4
        dec = self._dec
        for _ in range(n):
            v, off = dec(buf, off)
            out.append(v)
        return tuple(out)

    def _dec(self, buf: Any, off: int) -> tuple[Any, int]:
        tag = buf[off]
        off += 1
        if tag == _INT:
            return _i64_from(buf, off)[0], off + 8
        if tag == _STR:
            n = _u32_from(buf, off)[0]
            off += 4
            raw = buf[off:off + n]
            try:
                s: str | bytes = str(raw, "utf-8")
            except UnicodeDecodeError:
                s = bytes(raw)
            return s, off + n
        if tag == _NIL:
            return None, off
        if tag == _TRUE:
            return True, off
        if tag == _FALSE:
            return False, off
        if tag == _FLOAT:
            return _f64_from(buf, off)[0], off + 8
        if tag == _LIST:
            n = _u32_from(buf, off)[0]
            off += 4
            items = []
            for _ in range(n):
                v, off = self._dec(buf, off)
                items.append(v)
            return items, off
        if tag == _DICT:
            n = _u32_from(buf, off)[0]
            off += 4
            d: dict[Any, Any] = {}
            for _ in range(n):
                k, off = self._dec(buf, off)
                v, off = self._dec(buf, off)
                if isinstance(k, (list, dict)):
                    raise ConversionError("a Lua table used as a table key cannot be converted",
                                          details={"key_type": "table"})
                d[k] = v
            return d, off
        if tag == _HANDLE:
            kind, ref = _handle_from(buf, off)
            return self._handle(kind, ref), off + 5
        raise ConversionError(f"malformed value from Lua (tag {tag})")  # pragma: no cover

    def _encode_values(self, values: tuple[Any, ...] | list[Any]) -> bytes:
        parts = [_pack_u32(len(values))]
        enc = self._enc
        for v in values:
            t = type(v)
            if t is int and _INT_MIN <= v <= _INT_MAX:
                parts.append(_pack_int(_INT, v))
            elif t is float:
                parts.append(_pack_float(_FLOAT, v))
            else:
                enc(v, parts, 0, None)
        return b"".join(parts)

    def _enc(self, v: Any, out: list[bytes], depth: int, path: set[int] | None) -> None:
        t = type(v)
        if t is int:
            if _INT_MIN <= v <= _INT_MAX:
                out.append(_pack_int(_INT, v))
                return
            raise ConversionError(f"integer {v} does not fit in 64 bits", details={"value": str(v)},
                                  suggestion="Pass it as a float or a string.")
        if t is str:
            try:
                b = v.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ConversionError(f"string is not valid UTF-8: {exc}") from None
            out.append(_pack_tag_u32(_STR, len(b)))
            out.append(b)
            return
        if v is None:
            out.append(_NIL_B)
            return
        if t is bool:
            out.append(_TRUE_B if v else _FALSE_B)
            return
        if t is float:
            out.append(_pack_float(_FLOAT, v))
            return
        if t is bytes or t is bytearray or t is memoryview:
            b = bytes(v)
            out.append(_pack_tag_u32(_STR, len(b)))
            out.append(b)
            return
        if isinstance(v, LuaHandle):
            if v._vm is not self:
                raise ConversionError("a Lua handle from another VM cannot be passed here",
                                      suggestion="Handles are only valid with the VM that made them.")
            if self._S is None:
                raise _closed_error()
            out.append(_pack_handle(_HANDLE, 0, v._ref))
            return
        if isinstance(v, (list, tuple, dict)):
            if depth >= MAX_DEPTH:
                raise ConversionError(f"nesting deeper than {MAX_DEPTH} cannot be converted",
                                      details={"max_depth": MAX_DEPTH})
            if path is None:
                path = set()
            key = id(v)
            if key in path:
                raise ConversionError("cannot convert a cyclic structure to Lua")
            path.add(key)
            if isinstance(v, dict):
                out.append(_pack_tag_u32(_DICT, len(v)))
                for k, item in v.items():
                    if k is None or (type(k) is float and k != k):
                        raise ConversionError(f"invalid Lua table key {k!r}")
                    if isinstance(k, (list, tuple, dict)):
                        raise ConversionError("tables cannot be used as keys across the bridge")
                    self._enc(k, out, depth + 1, path)
                    self._enc(item, out, depth + 1, path)
            else:
                out.append(_pack_tag_u32(_LIST, len(v)))
                for item in v:
                    self._enc(item, out, depth + 1, path)
            path.discard(key)
            return
        if isinstance(v, bool):  # bool subclasses do not exist, kept for clarity
            out.append(_TRUE_B if v else _FALSE_B)
            return
        if isinstance(v, int):
            self._enc(int(v), out, depth, path)
            return
        if isinstance(v, float):
            out.append(_pack_float(_FLOAT, float(v)))
            return
        if isinstance(v, str):
            self._enc(str(v), out, depth, path)
            return
        if callable(v):
            out.append(_pack_pyfn(_PYFN, self._add_callback(v)))
            return
        raise ConversionError(f"cannot convert {type(v).__name__} to a Lua value",
                              details={"type": type(v).__name__})

    def _add_callback(self, fn: Callable[..., Any]) -> int:
        if len(self._callbacks) >= self._drain_at and self._S is not None:
            self._drain_callbacks(self._S)
        cb_id = self._next_cb
        self._next_cb = cb_id + 1 if cb_id < 0x7FFFFFFF else 1
        self._callbacks[cb_id] = fn
        return cb_id

    def _ref_of(self, h: Any, what: str) -> int:
        if not isinstance(h, LuaHandle):
            raise ConversionError(f"{what} must be a Lua handle, not {type(h).__name__}")
        if h._vm is not self:
            raise ConversionError(f"{what} belongs to another VM")
        return h._ref

    # ------------------------------------------------------------------ LuaVM API

    def execute(self, source: str | bytes, *args: Any, chunkname: str = "=(hype)") -> tuple[Any, ...]:
        self._state()
        src = source.encode("utf-8") if isinstance(source, str) else bytes(source)
        data = self._encode_values(args) if args else None
        st = self._hl_execute(self._cstate, src, len(src), chunkname.encode("utf-8"), data,
                              len(data) if data else 0)
        if st:
            return self._result(st)
        return self._decode_values(self._mv)

    def load(self, chunk: str | bytes, chunkname: str = "=(hype)", mode: str = "t",
             env: LuaHandle | None = None) -> LuaFunction:
        state = self._state()
        if mode not in ("t", "b", "bt", "tb"):
            raise ValueError(f"invalid load mode {mode!r} (use 't', 'b' or 'bt')")
        buf = chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk)
        env_ref = _NOREF if env is None else self._ref_of(env, "env")
        st = self._lib.hl_load(state, buf, len(buf), chunkname.encode("utf-8"), mode.encode(), env_ref)
        (fn,) = self._result(st)
        return fn

    def call(self, fn: LuaFunction, *args: Any) -> tuple[Any, ...]:
        if self._S is None or self._pending_unrefs:
            self._state()  # raises when closed; releases pending handles
        if not self._depth:
            self._py_exc = None
        try:
            if fn._vm is not self:
                raise ConversionError("this Lua function belongs to another VM")
        except AttributeError:
            raise ConversionError(f"cannot call {type(fn).__name__}: not a Lua function handle") from None
        if len(args) == 1 and type(args[0]) is int and _INT_MIN <= args[0] <= _INT_MAX:
            st = self._hl_call(self._cstate, fn._ref, _pack_one_int(1, _INT, args[0]), 13)
        elif args:
            data = self._encode_values(args)
            st = self._hl_call(self._cstate, fn._ref, data, len(data))
        else:
            st = self._hl_call(self._cstate, fn._ref, None, 0)
        if st:
            return self._result(st)
        mv = self._mv
        n, tag, value = _one_int_from(mv, 0)
        if n == 1 and tag == _INT:
            return (value,)
        return self._decode_values(mv)

    def get_global(self, name: str) -> Any:
        state = self._state()
        st = self._lib.hl_get_global(state, name.encode("utf-8"))
        return self._result(st)[0]

    def set_global(self, name: str, value: Any) -> None:
        state = self._state()
        data = self._encode_values((value,))
        st = self._lib.hl_set_global(state, name.encode("utf-8"), data, len(data))
        if st:
            self._result(st)

    def globals_handle(self) -> LuaHandle:
        state = self._state()
        return self._result(self._lib.hl_globals(state))[0]

    def register(self, name: str | None, fn: Callable[..., Any]) -> LuaFunction:
        if not callable(fn):
            raise ConversionError(f"cannot register {type(fn).__name__}: not callable")
        state = self._state()
        cb_id = self._add_callback(fn)
        st = self._lib.hl_register(state, name.encode("utf-8") if name is not None else None, cb_id)
        return self._result(st)[0]

    def dump(self, fn: LuaFunction, strip: bool = False) -> bytes:
        state = self._state()
        (code,) = self._result(self._lib.hl_dump(state, self._ref_of(fn, "fn"), 1 if strip else 0))
        return code.encode("utf-8") if isinstance(code, str) else code

    def coroutine(self, fn: LuaFunction) -> LuaThread:
        state = self._state()
        return self._result(self._lib.hl_coroutine(state, self._ref_of(fn, "fn")))[0]

    def resume(self, co: LuaThread, *args: Any) -> tuple[str, tuple[Any, ...]]:
        self._state()
        ref = self._ref_of(co, "co")
        data = self._encode_values(args) if args else None
        res = self._result(self._hl_resume(self._cstate, ref, data, len(data) if data else 0))
        return ("dead" if res[0] else "suspended"), res[1:]

    def take_exception(self, message: str) -> BaseException | None:
        if self._py_exc is not None and self._py_exc[1] == message:
            exc, self._py_exc = self._py_exc[0], None
            return exc
        return None

    def memory_used(self) -> int:
        if self._S is None:
            raise _closed_error()
        return int(self._lib.hl_memory_used(self._S))

    def close(self) -> None:
        if self._S is None:
            return
        self._S = None
        self._pending_unrefs.clear()
        self._finalizer()  # hl_close (runs Lua finalizers) exactly once
        self._callbacks.clear()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._S is None


def _strip_position(message: str) -> str:
    # "file:line: msg" -> "msg" for conversion errors raised by the C helper
    head, sep, tail = message.partition(": ")
    return tail if sep and ":" in head else message
