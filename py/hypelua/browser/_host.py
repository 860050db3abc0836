"""``WorkerHost``: JSON request/response dispatch for the JS API (``Hype`` in web/src).

Protocol (one request at a time, serialised by the worker):

* request: ``op`` (str) and ``args_json`` (a JSON object)
* reply (JSON text): ``{"ok": true, "value": ..., "output": "...", "warnings": [...]}``
  or ``{"ok": false, "error": {"code", "message", "details", "suggestion"}, "output": "..."}``

Ops: ``run {code}`` -> list of return values; ``compute {code}`` -> first return
value (or null); ``persistFunction {table, key, code, options: {compress}}``;
``tables {}`` -> ``[{name, entries: [{key, kind, size, compressed, preview}]}]``;
``deleteEntry {table, key}`` -> bool; ``flush {}``; ``info {}`` -> versions and back-ends.

Storage ops (issue 3): ``createIndex {table, fields, kind, options: {unique}}`` -> name;
``dropIndex {table, name}`` -> bool; ``indexes {table}`` -> ``[{name, fields, unique, ...}]``;
``queryTable {table, query}`` -> ``{rows: [{key, value}], cursor}``; ``explain {table, query}``;
``batchTableOperations {ops, progress}`` -> one result per op (atomic; with ``progress``
the callback given to :meth:`WorkerHost.dispatch` receives ``(done, total)`` while it runs);
``defineSchema {table, schema, version}`` -> version; ``migrate {table, steps: {version:
lua_function_source}, schema, toVersion}``; ``stats {}``; ``compact {}`` -> ``{entries, ops}``
(fold the IndexedDB journal into its rows store now).

Values coming in (batch values) accept the same tags going out: ``{"$bytes": base64}``
-> bytes, ``{"$float": "inf" | "-inf" | "nan"}`` -> float.

Values become JSON like this: bytes -> ``{"$bytes": base64}``, non-finite floats
-> ``{"$float": "inf"}``, map keys -> strings, Lua functions/threads/userdata ->
``{"$lua": "function"}``, persisted functions -> ``{"$function": source}``.
No error escapes :meth:`WorkerHost.dispatch`: every failure is a typed reply.
"""

from __future__ import annotations

import base64
import binascii
import inspect
import json
import math
import traceback
from collections.abc import Callable
from typing import Any

from .._errors import HypeError, StorageError
from .._runtime import Runtime, _to_lua_tagged
from ..lua import LuaFunction, LuaHandle
from ..storage import Database, PersistedFunction

#: ops that write nothing: answered by :meth:`WorkerHost.dispatch_sync` without awaiting
READ_ONLY_OPS = frozenset({"queryTable", "explain", "indexes", "stats", "tables", "info"})

#: largest request accepted, in bytes of JSON
MAX_REQUEST_BYTES = 16 * 1024 * 1024


def to_jsonable(value: Any, depth: int = 0) -> Any:
    """Plain data -> JSON-compatible data (see module docstring)."""
    t = type(value)
    if value is None or t is bool or t is int or t is str:
        return value
    if t is float:
        if math.isfinite(value):
            return value
        return {"$float": "nan" if value != value else ("inf" if value > 0 else "-inf")}
    if t is bytes or t is bytearray:
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if depth > 200:
        return None
    if t is list or t is tuple:
        return [to_jsonable(v, depth + 1) for v in value]
    if t is dict:
        return {str(k): to_jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, LuaHandle):
        return {"$lua": value.kind}
    if isinstance(value, PersistedFunction):
        return {"$function": value.source or value.cfunction or "<bytecode>"}
    return {"$python": type(value).__name__}


def from_jsonable(value: Any, depth: int = 0) -> Any:
    """JSON data from the JS API -> plain data: ``{"$bytes": b64}`` -> bytes, ``{"$float": ...}`` -> float.

    Raises:
        StorageError: ``NOT_STORABLE`` for a malformed tag.
    """
    t = type(value)
    if t is list:
        return [from_jsonable(v, depth + 1) for v in value]
    if t is not dict:
        return value
    if len(value) == 1:
        if "$bytes" in value and isinstance(value["$bytes"], str):
            try:
                return base64.b64decode(value["$bytes"], validate=True)
            except (binascii.Error, ValueError) as exc:
                raise StorageError("malformed {'$bytes': base64} value", code="NOT_STORABLE") from exc
        if "$float" in value and value["$float"] in ("inf", "-inf", "nan"):
            return float(value["$float"])
    return {k: from_jsonable(v, depth + 1) for k, v in value.items()}


def _untag_op(op: Any) -> Any:
    if isinstance(op, dict) and "tagged" in op:
        op = dict(op)
        if op.pop("tagged") and "value" in op:
            op["value"] = from_jsonable(op["value"])
    return op


class WorkerHost:
    """Owns one :class:`Runtime` in the worker and answers the JS API's requests.

    Create with ``await WorkerHost.create(database, idb)``.
    """

    def __init__(self, runtime: Runtime, output: list[str]) -> None:
        self.runtime = runtime
        self._output = output
        self._ops = {
            "run": self._run,
            "compute": self._compute,
            "persistFunction": self._persist_function,
            "tables": self._tables,
            "deleteEntry": self._delete_entry,
            "flush": self._flush,
            "info": self._info,
            "createIndex": self._create_index,
            "dropIndex": self._drop_index,
            "indexes": self._indexes,
            "queryTable": self._query_table,
            "explain": self._explain,
            "batchTableOperations": self._batch,
            "defineSchema": self._define_schema,
            "migrate": self._migrate,
            "stats": self._stats,
            "compact": self._compact,
        }
        self._progress: Callable[[int, int], Any] | None = None
        #: tables already defined as Lua globals by batches
        self._globals: set[str] = set()

    @classmethod
    async def create(cls, database: str = "hypelua", idb: Any = None, *, backend: str | None = None,
                     max_memory: int | None = None) -> WorkerHost:
        """Open the database (IndexedDB through ``idb``, else in memory) and start a Runtime.

        Args:
            database: IndexedDB database name (stored as ``hypelua:<name>``).
            idb: the JS bridge of ``web/src/idb.mjs`` or None for a memory database.
            backend: Lua back-end override (default: ctypes under Pyodide).
            max_memory: Lua heap limit in bytes.
        Raises:
            DatabaseError, BackendUnavailableError: start-up failed (the worker reports it).
        """
        if idb is not None:
            from ..storage.backends.indexeddb import IndexedDBBackend

            db = Database(await IndexedDBBackend.open(idb, database))
        else:
            db = Database.open(":memory:")
        await db.flush()  # a new database's HMAC key must be durable before any function is
        output: list[str] = []
        runtime = Runtime(db, backend=backend, max_memory=max_memory, stdout=output.append)
        return cls(runtime, output)

    def _parse(self, op: str, args_json: str) -> tuple[Callable[..., Any], dict[str, Any]]:
        """The handler and arguments of a request.  Raises :class:`HypeError` ``BAD_REQUEST``."""
        if len(args_json) > MAX_REQUEST_BYTES:
            raise HypeError(f"request larger than {MAX_REQUEST_BYTES} bytes", code="REQUEST_TOO_LARGE")
        try:
            args = json.loads(args_json) if args_json else {}
        except ValueError as exc:
            raise HypeError(f"malformed request: {exc}", code="BAD_REQUEST") from exc
        if not isinstance(args, dict):
            raise HypeError("request arguments must be a JSON object", code="BAD_REQUEST")
        handler = self._ops.get(op)
        if handler is None:
            raise HypeError(f"unknown operation {op!r}", code="BAD_REQUEST",
                            details={"op": str(op), "known": sorted(self._ops)})
        return handler, args

    @staticmethod
    def _bad_arguments(op: str, exc: TypeError) -> HypeError:
        if "argument" not in str(exc):
            raise exc
        return HypeError(f"bad arguments for {op}: {exc}", code="BAD_REQUEST")

    def _error_reply(self, exc: BaseException) -> dict[str, Any]:
        if isinstance(exc, HypeError):
            return {"ok": False, "error": to_jsonable(exc.to_dict())}
        return {"ok": False, "error": {  # never let a bug kill the worker
            "code": "INTERNAL_ERROR",
            "message": f"{type(exc).__name__}: {exc}",
            "details": {"traceback": traceback.format_exc(limit=8)},
            "suggestion": "This is a bug in hypelua; please report it with the code that triggered it.",
        }}

    def _finish(self, reply: dict[str, Any]) -> str:
        db = self.runtime.database
        self._progress = None
        reply["output"] = "".join(self._output)
        if db.warnings:
            reply["warnings"] = list(db.warnings)
            db.warnings.clear()
        return json.dumps(reply, ensure_ascii=False)

    async def dispatch(self, op: str, args_json: str, progress: Callable[[int, int], Any] | None = None) -> str:
        """Handle one request; always returns a JSON reply (never raises).

        Resolves after the request's writes are durable (IndexedDB transaction complete).

        Args:
            op: operation name (see the module docstring).
            args_json: the arguments as a JSON object.
            progress: called as ``progress(done, total)`` while a long operation
                (``batchTableOperations`` with ``progress: true``) runs.
        """
        self._output.clear()
        self._progress = progress
        db = self.runtime.database
        try:
            handler, args = self._parse(op, args_json)
            try:
                value = handler(**args)
                if inspect.isawaitable(value):
                    value = await value
            except TypeError as exc:
                raise self._bad_arguments(op, exc) from exc
            finally:
                await db.flush()
            reply: dict[str, Any] = {"ok": True, "value": to_jsonable(value)}
        except Exception as exc:
            reply = self._error_reply(exc)
        return self._finish(reply)

    def dispatch_sync(self, op: str, args_json: str) -> str | None:
        """Handle a read-only request synchronously (no event-loop round trip); None for other ops.

        Only the ops in :data:`READ_ONLY_OPS` (they write nothing, so there is
        nothing to make durable) are answered; the worker falls back to
        :meth:`dispatch` on None.
        """
        if op not in READ_ONLY_OPS:
            return None
        self._output.clear()
        try:
            handler, args = self._parse(op, args_json)
            try:
                value = handler(**args)
            except TypeError as exc:
                raise self._bad_arguments(op, exc) from exc
            reply: dict[str, Any] = {"ok": True, "value": to_jsonable(value)}
        except Exception as exc:
            reply = self._error_reply(exc)
        return self._finish(reply)

    # ------------------------------------------------------------------ ops
    def _code(self, code: Any) -> str:
        if not isinstance(code, str):
            raise HypeError("code must be a string", code="BAD_REQUEST")
        return code

    def _run(self, code: str) -> list[Any]:
        return list(self.runtime.execute(self._code(code)))

    def _compute(self, code: str) -> Any:
        values = self.runtime.execute(self._code(code))
        return values[0] if values else None

    def _persist_function(self, table: str, key: str | int, code: str, options: dict[str, Any] | None = None
                          ) -> dict[str, Any]:
        opts = options or {}
        return self.runtime.persist_function(table, key, self._code(code), compress=bool(opts.get("compress")))

    def _tables(self) -> list[dict[str, Any]]:
        db = self.runtime.database
        return [{"name": name, "entries": db.describe(name)} for name in db.tables()]

    def _delete_entry(self, table: str, key: str | int) -> bool:
        existed = self.runtime.database.delete(table, key)
        self.runtime.database.commit()
        return existed

    def _flush(self) -> None:
        return None

    def _info(self) -> dict[str, Any]:
        import sys

        from .. import __version__

        return {
            "version": __version__,
            "python": sys.version.split()[0],
            "lua_backend": self.runtime.vm.backend_name,
            "storage_backend": self.runtime.database.backend.name,
        }

    # -------------------------------------------------------- storage (issue 3)
    @property
    def _db(self) -> Database:
        return self.runtime.database

    def _create_index(self, table: str, fields: str | list[str], kind: str = "btree",
                      options: dict[str, Any] | None = None) -> str:
        opts = options if isinstance(options, dict) else {}
        if not isinstance(fields, (str, list)):
            raise HypeError("fields must be a field path or a list of field paths", code="BAD_REQUEST")
        name = self._db.create_index(table, fields, kind=kind, unique=bool(opts.get("unique", False)))
        self.runtime._define_global(table)
        return name

    def _drop_index(self, table: str, name: str | list[str]) -> bool:
        return self._db.drop_index(table, name)

    def _indexes(self, table: str) -> list[dict[str, Any]]:
        return self._db.indexes(table)

    @staticmethod
    def _spec(query: Any) -> dict[str, Any]:
        if query is None:
            return {}
        if not isinstance(query, dict):
            raise StorageError("a query must be an object {field, operator, value, ...}", code="BAD_QUERY",
                               details={"got": type(query).__name__})
        return query

    def _query_table(self, table: str, query: dict[str, Any] | None = None) -> dict[str, Any]:
        result = self._db.query(table, self._spec(query))
        return {"rows": [{"key": k, "value": v} for k, v in result], "cursor": result.cursor}

    def _explain(self, table: str, query: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._db.explain(table, self._spec(query))

    def _batch(self, ops: list[Any], progress: bool = False) -> list[Any]:
        if not isinstance(ops, list):
            raise StorageError("a batch must be an array of operations", code="BAD_OPERATION")
        # only values the JS API marked as tagged ({"$bytes"}, {"$float"} inside) are untagged
        ops = [_untag_op(op) for op in ops]
        callback = self._progress if progress else None
        every = max(100, len(ops) // 100)
        results = self._db.batch(ops, on_progress=callback, progress_every=every)
        for table in {op.get("table") for op in ops if isinstance(op, dict) and op.get("type") in ("set", "update")}:
            if isinstance(table, str) and table not in self._globals:
                self.runtime._define_global(table)
                self._globals.add(table)
        return results

    def _define_schema(self, table: str, schema: dict[str, Any], version: int | None = None) -> int:
        return self._db.define_schema(table, schema, version)

    def _migrate(self, table: str, steps: dict[str, str] | None = None, schema: dict[str, Any] | None = None,
                 toVersion: int | None = None) -> dict[str, Any]:
        vm = self.runtime.vm
        from_lua = self.runtime._from_lua_tagged
        fns: dict[int, Callable[[Any, Any], Any]] = {}
        if not isinstance(steps, dict):
            raise HypeError("steps must be an object {version: 'function(key, row) ... end'}", code="BAD_REQUEST")
        for version_text, source in steps.items():
            try:
                version = int(version_text)
            except ValueError as exc:
                raise HypeError(f"migration step version {version_text!r} is not an integer",
                                code="BAD_REQUEST") from exc
            if not isinstance(source, str):
                raise HypeError(f"migration step {version} must be Lua function source text", code="BAD_REQUEST")
            chunk = vm.load("return " + source, f"=(migrate {table} step {version})", "t", vm.globals_handle())
            (fn,) = vm.call(chunk)[:1] or (None,)
            if not isinstance(fn, LuaFunction):
                raise HypeError(f"migration step {version} is not a function expression", code="NOT_A_FUNCTION",
                                details={"step": version},
                                suggestion="Pass code like 'function(key, row) row.x = 1 return row end'.")

            def step(key: Any, value: Any, fn: LuaFunction = fn) -> Any:
                out = fn(key, _to_lua_tagged(value))
                return from_lua(out[0]) if out else None

            fns[version] = step
        if toVersion is not None and type(toVersion) is not int:
            raise HypeError("toVersion must be an integer", code="BAD_REQUEST")
        return self._db.migrate(table, fns, schema=schema, to_version=toVersion)

    def _stats(self) -> dict[str, Any]:
        return self._db.stats()

    async def _compact(self) -> dict[str, int]:
        compact = getattr(self._db.backend, "compact", None)
        if compact is None:
            await self._db.flush()
            return {"entries": 0, "ops": 0}
        result: dict[str, int] = await compact()
        return result
