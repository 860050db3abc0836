"""``Runtime``: one Lua VM wired to one Database (external tables) and the host.

The same class runs natively (lupa, SQLite) and in the browser (ctypes over our
Lua side module, IndexedDB); see :mod:`hypelua.browser` for the worker side.
"""

from __future__ import annotations

import itertools
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from . import _errors
from ._errors import HypeError, LuaSyntaxError, NotStorableError, StorageError
from .lua import LuaFunction, LuaVM, open_vm
from .storage import Database, PersistedFunction
from .storage._functions import extract_source

FN_TAG = "\0hype.function"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LUA_KEYWORDS = frozenset((
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
    "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
))


def lua_path() -> Path:
    """Directory holding the shipped Lua library (``hype/*.lua``)."""
    here = Path(__file__).resolve().parent
    packaged = here / "_lua"
    if packaged.is_dir():
        return packaged
    return here.parent.parent / "lua"  # source checkout: <repo>/py/hypelua -> <repo>/lua


class Runtime:
    """A Lua 5.4 runtime with persistent external tables.

    Args:
        database: ``":memory:"``, an SQLite file path, or an open :class:`Database`.
        backend: Lua back-end name (``"lupa"``, ``"ctypes"``); default per platform.
        max_memory: Lua heap limit in bytes (None: unlimited).
        hmac_key: key authenticating persisted bytecode (default: per-database key).
        stdout: callable receiving text written by Lua ``print`` (default ``sys.stdout.write``).
        external_tables: names always defined as external-table globals (``Memory``).
        vm_options: extra keyword arguments for :func:`hypelua.lua.open_vm`.

    Every table that exists in the database and whose name is a free Lua
    identifier becomes a global too; ``storage.table(name)`` reaches any table.
    """

    def __init__(
        self,
        database: str | Path | Database = ":memory:",
        *,
        backend: str | None = None,
        max_memory: int | None = None,
        hmac_key: bytes | None = None,
        stdout: Callable[[str], Any] | None = None,
        external_tables: Iterable[str] = ("Memory",),
        vm_options: dict[str, Any] | None = None,
    ) -> None:
        if isinstance(database, Database):
            self.database = database
        else:
            self.database = Database.open(database, hmac_key=hmac_key)
        self.vm: LuaVM = open_vm(backend, max_memory=max_memory, **(vm_options or {}))
        self._stdout = stdout or sys.stdout.write
        self._chunks: dict[str, str] = {}
        self._counter = itertools.count(1)
        self._boot()
        # --- extension point: runtime features (require, event loop, ...) install here ---
        for name in [*external_tables, *self.database.tables()]:
            self._define_global(name)

    # ---------------------------------------------------------------- set-up
    def _boot(self) -> None:
        vm = self.vm
        host = {
            "get": self._host_get,
            "set": self._host_set,
            "keys": lambda table: [k for k, _ in self.database.backend.items(table)],
            "count": lambda table: self.database.backend.count(table),
            "fail": self._host_fail,
        }
        src = (lua_path() / "hype" / "external.lua").read_text("utf-8")
        (api,) = vm.execute(src, host, chunkname="@hype/external.lua")
        self._external: LuaFunction = api["external"]
        self._invalidate: LuaFunction = api["invalidate"]
        self._compiles: LuaFunction = api["compiles"]
        self._encode: LuaFunction = api["encode"]
        write = self._stdout
        vm.register("__hype_write", lambda text: write(text) and None)
        vm.execute(
            """
            local write, select, tostring, concat = __hype_write, select, tostring, table.concat
            __hype_write = nil
            function print(...)
              local n, parts = select("#", ...), {}
              for i = 1, n do parts[i] = tostring((select(i, ...))) end
              write(concat(parts, "\\t") .. "\\n")
            end
            local external = ...
            storage = { table = function(name) return external(name) end }
            """,
            self._external,
            chunkname="=(hype boot)",
        )

    def _define_global(self, name: str) -> None:
        if not _IDENT.match(name) or name in _LUA_KEYWORDS:
            return
        self.vm.execute(
            "local name, external = ... if rawget(_G, name) == nil then rawset(_G, name, external(name)) end",
            name, self._external,
        )

    # --------------------------------------------------- host callbacks (Lua)
    def _host_fail(self, code: str, message: str) -> None:
        if code == "NOT_STORABLE":
            raise NotStorableError(message)
        if code == "BYTECODE_REJECTED":
            raise _errors.BytecodeRejectedError(message)
        if code == "LUA_SYNTAX_ERROR":
            raise LuaSyntaxError(message)
        raise StorageError(message, code=code)

    def _host_get(self, table: str, key: Any) -> Any:
        value = self.database.load(table, key)
        return _to_lua_tagged(value)

    def _host_set(self, table: str, key: Any, value: Any) -> None:
        self.database.set(table, key, self._from_lua_tagged(value))

    def _from_lua_tagged(self, value: Any) -> Any:
        t = type(value)
        if t is dict:
            if FN_TAG in value and len(value) == 1:
                return self._descriptor_to_function(value[FN_TAG])
            return {k: self._from_lua_tagged(v) for k, v in value.items()}
        if t is list:
            return [self._from_lua_tagged(v) for v in value]
        return value

    def _descriptor_to_function(self, d: dict[str, Any]) -> PersistedFunction:
        if "cfunction" in d:
            return PersistedFunction(cfunction=str(d["cfunction"]))
        bytecode = d["bytecode"]
        if isinstance(bytecode, str):
            bytecode = bytecode.encode("utf-8", "surrogatepass")
        ups = []
        for up in d.get("upvalues") or []:
            if not isinstance(up, dict):
                continue
            item: dict[str, Any] = {"name": str(up.get("name", "?"))}
            if up.get("env"):
                item["env"] = True
            elif up.get("self"):
                item["self"] = True
            else:
                item["value"] = self._from_lua_tagged(up.get("value"))
            ups.append(item)
        chunkname = str(d.get("chunk", "=?"))
        source = d.get("text") or self._recover_source(chunkname, int(d.get("first", 0)), int(d.get("last", 0)))
        name = chunkname if chunkname[:1] in ("=", "@") else "=(persisted)"
        return PersistedFunction(bytecode=bytecode, source=source, name=name, upvalues=ups)

    def _recover_source(self, chunkname: str, first: int, last: int) -> str | None:
        text = self._chunks.get(chunkname)
        if text is None and chunkname.startswith("@"):
            try:
                text = Path(chunkname[1:]).read_text("utf-8")
            except OSError:
                return None
        if text is None or first <= 0:
            return None
        return extract_source(text, first, last, lambda code: bool(self._compiles(code)[0]))

    # ------------------------------------------------------------ public API
    def execute(self, source: str, *args: Any, chunkname: str | None = None) -> tuple[Any, ...]:
        """Run Lua ``source`` with ``args`` as ``...``; returns all results as plain data.

        Writes to external tables are committed when the chunk returns (also
        when it fails: assignments that happened, happened).

        Raises:
            LuaSyntaxError, LuaError, LuaMemoryError, StorageError subclasses.
        """
        name = chunkname or f"=(run {next(self._counter)})"
        self._chunks[name] = source
        try:
            return self.vm.execute(source, *args, chunkname=name)
        finally:
            self.database.commit()

    def execute_file(self, path: str | Path, *args: Any) -> tuple[Any, ...]:
        """Run a Lua file (chunk name ``@<path>``).  Raises :class:`HypeError` ``FILE_NOT_FOUND``."""
        p = Path(path)
        try:
            text = p.read_text("utf-8")
        except OSError as exc:
            raise HypeError(f"cannot read {str(p)!r}: {exc.strerror}", code="FILE_NOT_FOUND",
                            details={"path": str(p)}, suggestion="Check the file name.") from exc
        if text.startswith("#"):
            text = "--" + text  # shebang line, like lua.c
        return self.execute(text, *args, chunkname="@" + str(p))

    async def execute_async(self, source: str, *args: Any, chunkname: str | None = None) -> tuple[Any, ...]:
        """Like :meth:`execute`, then wait until the writes are durable (IndexedDB flush)."""
        try:
            return self.execute(source, *args, chunkname=chunkname)
        finally:
            await self.database.flush()

    def persist_function(self, table: str, key: str | int, code: str, *, compress: bool = False
                         ) -> dict[str, Any]:
        """Compile ``code`` (a Lua function expression) and store it in ``table[key]``.

        The PRD's ``persistFunction``: bytecode plus the exact source text, signed.

        Returns:
            ``{"table", "key", "bytecode_bytes", "source_bytes", "compressed"}``.
        Raises:
            LuaSyntaxError: ``code`` does not compile; ``NotStorableError`` if it is
            not a function or captures unstorable values.
        """
        name = f"=({table}.{key})"
        fn = self.vm.load("return " + code, name, "t", self.vm.globals_handle())
        (value,) = self.vm.call(fn)[:1] or (None,)
        if not isinstance(value, LuaFunction):
            raise NotStorableError(
                f"persistFunction expects a function expression, got {type(value).__name__}",
                code="NOT_A_FUNCTION",
                suggestion="Pass code like 'function(x, y) return x * y end'.",
            )
        (tagged,) = self.vm.call(self._encode, value)
        tagged[FN_TAG]["text"] = code.strip()
        pf = self._from_lua_tagged(tagged)
        pf.name = name
        self.database.set(table, key, pf, compress=compress)
        self.database.commit()
        self.vm.call(self._invalidate, table, key)
        self._define_global(table)
        return {
            "table": table,
            "key": key,
            "bytecode_bytes": len(pf.bytecode or b""),
            "source_bytes": len((pf.source or "").encode("utf-8")),
            "compressed": compress,
        }

    def set(self, table: str, key: str | int, value: Any) -> None:
        """Store plain data from Python in an external table (and refresh Lua's cache)."""
        self.database.set(table, key, value)
        self.database.commit()
        self.vm.call(self._invalidate, table, key)
        self._define_global(table)

    def external_table(self, name: str) -> None:
        """Make sure the external table ``name`` exists as a Lua global."""
        self.database.create_table(name)
        self.database.commit()
        self._define_global(name)

    def close(self) -> None:
        """Commit, close the database and the Lua VM."""
        try:
            self.database.close()
        finally:
            self.vm.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _to_lua_tagged(value: Any) -> Any:
    """Plain data with :class:`PersistedFunction` -> the Lua side's tagged form."""
    t = type(value)
    if t is PersistedFunction:
        d: dict[str, Any] = {"name": value.name, "upvalues": [
            {**up, "value": _to_lua_tagged(up["value"])} if "value" in up else up for up in value.upvalues
        ]}
        if value.bytecode is not None:
            d["bytecode"] = value.bytecode
        if value.source is not None:
            d["source"] = value.source
        if value.cfunction is not None:
            d["cfunction"] = value.cfunction
        return {FN_TAG: d}
    if t is dict:
        return {k: _to_lua_tagged(v) for k, v in value.items()}
    if t is list:
        return [_to_lua_tagged(v) for v in value]
    return value
