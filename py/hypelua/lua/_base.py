"""The narrow waist between Python and Lua (SPEC section 1, rule 2).

Python talks to Lua only through :class:`LuaVM`.  Two back-ends implement it:
``lupa.lua54`` natively (:mod:`hypelua.lua._lupa`) and a ctypes binding over
our own Lua 5.4.8 shared library (:mod:`hypelua.lua._ctypes`), used in the
browser (Pyodide side module) and tested natively.  One conformance suite
(``tests/lua/test_conformance.py``) runs against every back-end.

Plain-data contract (both directions)
-------------------------------------
Lua -> Python:

* ``nil`` -> ``None``; booleans -> ``bool``; integers -> ``int``; floats -> ``float``
* strings -> ``str`` when the bytes are valid UTF-8, else ``bytes``
  (Lua strings are untyped byte strings; :meth:`LuaVM.dump` always gives ``bytes``)
* tables -> ``list`` when the keys are exactly ``1..n`` (n >= 1), else ``dict``
  (an empty table is ``{}``); integer and string keys stay distinct
  (``{[1]=1, ["1"]=2}`` -> ``{1: 1, "1": 2}``); metatables are ignored (raw access)
* functions -> :class:`LuaFunction`; coroutines -> :class:`LuaThread`;
  userdata -> :class:`LuaUserdata` (opaque handles, usable only with the VM that made them)
* a cyclic table or nesting deeper than :data:`MAX_DEPTH` raises :class:`ConversionError`

Python -> Lua:

* ``None``, ``bool``, ``int`` (must fit in 64 bits), ``float``, ``str`` (UTF-8),
  ``bytes``/``bytearray``/``memoryview`` (raw bytes), ``list``/``tuple`` (sequence
  table from index 1), ``dict`` (table), handles (the value they refer to),
  other callables (a Lua function calling them)
* anything else raises :class:`ConversionError`

Calls and errors
----------------
* Every call returns a ``tuple`` of all Lua return values.
* A Python callable called from Lua receives plain data; returning a ``tuple``
  gives multiple Lua values, ``None`` gives ``nil``, anything else one value.
* A Python exception raised in a callback becomes a Lua error (catchable by
  ``pcall``, message ``"<ExceptionType>: <message>"``); if it propagates out of
  Lua uncaught, the *original* Python exception is re-raised.
* A Lua error surfaces as :class:`LuaError` (``message`` = the error value as a
  string, ``traceback`` = Lua traceback); compile errors as :class:`LuaSyntaxError`;
  allocation failure / ``max_memory`` exceeded as :class:`LuaMemoryError`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

TYPE_CHECKING = False  # typing costs start-up time; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any, ClassVar

#: maximum nesting depth of tables converted across the bridge
MAX_DEPTH = 200


class LuaHandle:
    """Opaque reference to a Lua value that is not plain data.

    Handles are only valid with the VM that created them.  They are released
    when garbage collected (the back-end drops its registry reference).
    """

    __slots__ = ("__weakref__", "_ref", "_vm")
    kind: ClassVar[str] = "value"

    def __init__(self, vm: LuaVM, ref: Any) -> None:
        self._vm = vm
        self._ref = ref

    @property
    def vm(self) -> LuaVM:
        return self._vm

    def __repr__(self) -> str:
        return f"<Lua {self.kind} {self._ref!r} on {self._vm.backend_name}>"


class LuaFunction(LuaHandle):
    """A Lua function.  ``fn(*args)`` is ``vm.call(fn, *args)`` (returns a tuple)."""

    __slots__ = ()
    kind = "function"

    def __call__(self, *args: Any) -> tuple[Any, ...]:
        return self._vm.call(self, *args)


class LuaThread(LuaHandle):
    """A Lua coroutine (``coroutine.create``); drive it with :meth:`LuaVM.resume`."""

    __slots__ = ()
    kind = "thread"


class LuaUserdata(LuaHandle):
    """A Lua userdata or light userdata value (opaque)."""

    __slots__ = ()
    kind = "userdata"


class LuaVM(abc.ABC):
    """One Lua 5.4 state.  See the module docstring for the data contract.

    Constructor keyword arguments common to every back-end:
        max_memory: optional limit of the Lua heap in bytes; allocations beyond it
            fail with a Lua "not enough memory" error (:class:`LuaMemoryError`).
        open_libs: open the standard libraries (default True).
    """

    #: short name of the back-end ("lupa", "ctypes")
    backend_name: ClassVar[str] = "abstract"

    @abc.abstractmethod
    def execute(self, source: str | bytes, *args: Any, chunkname: str = "=(hype)") -> tuple[Any, ...]:
        """Compile ``source`` (text only) and run it with ``args`` as ``...``.

        Returns all return values as a tuple.  Raises :class:`LuaSyntaxError`,
        :class:`LuaError`, :class:`LuaMemoryError`, :class:`ConversionError`.
        """

    @abc.abstractmethod
    def load(self, chunk: str | bytes, chunkname: str = "=(hype)", mode: str = "t",
             env: LuaHandle | None = None) -> LuaFunction:
        """Compile ``chunk`` without running it (``load`` in Lua).

        Args:
            chunk: source text or binary chunk (``string.dump`` output).
            chunkname: Lua chunk name (``"=name"`` or ``"@file.lua"``).
            mode: ``"t"`` text only, ``"b"`` binary only, ``"bt"`` both.
                Binary chunks are refused unless ``"b"`` is in ``mode``.
            env: optional table handle used as the chunk's ``_ENV`` upvalue.
        Raises :class:`LuaSyntaxError` (also for a chunk refused by ``mode``).
        """

    @abc.abstractmethod
    def call(self, fn: LuaFunction, *args: Any) -> tuple[Any, ...]:
        """Call a Lua function with plain-data ``args``; returns all results."""

    @abc.abstractmethod
    def get_global(self, name: str) -> Any:
        """Return global ``name`` converted to plain data (tables converted deeply)."""

    @abc.abstractmethod
    def set_global(self, name: str, value: Any) -> None:
        """Set global ``name`` to ``value`` (converted from plain data)."""

    @abc.abstractmethod
    def globals_handle(self) -> LuaHandle:
        """A handle to the globals table (``_G``), e.g. to pass as ``env``."""

    @abc.abstractmethod
    def register(self, name: str | None, fn: Callable[..., Any]) -> LuaFunction:
        """Wrap a Python callable as a Lua function; if ``name`` is given also set
        it as a global.  Returns the Lua function handle."""

    @abc.abstractmethod
    def dump(self, fn: LuaFunction, strip: bool = False) -> bytes:
        """``string.dump(fn, strip)``: the function's bytecode.  Raises
        :class:`LuaError` for C functions ("unable to dump given function")."""

    @abc.abstractmethod
    def coroutine(self, fn: LuaFunction) -> LuaThread:
        """``coroutine.create(fn)``."""

    @abc.abstractmethod
    def resume(self, co: LuaThread, *args: Any) -> tuple[str, tuple[Any, ...]]:
        """Resume ``co`` with ``args``.

        Returns ``("suspended", yielded_values)`` when the coroutine yielded,
        ``("dead", returned_values)`` when it finished.  An error inside the
        coroutine raises :class:`LuaError`; resuming a dead coroutine raises
        :class:`LuaError` ("cannot resume dead coroutine").
        """

    def take_exception(self, message: str) -> BaseException | None:
        """The original Python exception behind the Lua error ``message``, once.

        A Python exception raised in a callback crosses Lua as the error string
        ``"<ExceptionType>: <message>"``.  When that error surfaces through another
        channel than a call's return (e.g. a coroutine the event loop resumes),
        this recovers the original exception; None if it is not (or no longer) known.
        """
        return None

    @abc.abstractmethod
    def memory_used(self) -> int:
        """Bytes currently allocated by the Lua heap."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the Lua state; further use raises :class:`LuaError`."""

    def __enter__(self) -> LuaVM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
