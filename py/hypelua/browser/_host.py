"""``WorkerHost``: JSON request/response dispatch for the JS API (``Hype`` in web/src).

Protocol (one request at a time, serialised by the worker):

* request: ``op`` (str) and ``args_json`` (a JSON object)
* reply (JSON text): ``{"ok": true, "value": ..., "output": "...", "warnings": [...]}``
  or ``{"ok": false, "error": {"code", "message", "details", "suggestion"}, "output": "..."}``

Ops: ``run {code}`` -> list of return values; ``compute {code}`` -> first return
value (or null); ``persistFunction {table, key, code, options: {compress}}``;
``tables {}`` -> ``[{name, entries: [{key, kind, size, compressed, preview}]}]``;
``deleteEntry {table, key}`` -> bool; ``flush {}``; ``info {}`` -> versions and back-ends.

Values become JSON like this: bytes -> ``{"$bytes": base64}``, non-finite floats
-> ``{"$float": "inf"}``, map keys -> strings, Lua functions/threads/userdata ->
``{"$lua": "function"}``, persisted functions -> ``{"$function": source}``.
No error escapes :meth:`WorkerHost.dispatch`: every failure is a typed reply.
"""

from __future__ import annotations

import base64
import json
import math
import traceback
from typing import Any

from .._errors import HypeError
from .._runtime import Runtime
from ..lua import LuaHandle
from ..storage import Database, PersistedFunction

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
        }

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

    async def dispatch(self, op: str, args_json: str) -> str:
        """Handle one request; always returns a JSON reply (never raises)."""
        self._output.clear()
        db = self.runtime.database
        try:
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
            try:
                value = handler(**args)
            except TypeError as exc:
                if "argument" not in str(exc):
                    raise
                raise HypeError(f"bad arguments for {op}: {exc}", code="BAD_REQUEST") from exc
            finally:
                await db.flush()
            reply: dict[str, Any] = {"ok": True, "value": to_jsonable(value)}
        except HypeError as exc:
            reply = {"ok": False, "error": to_jsonable(exc.to_dict())}
        except Exception as exc:  # never let a bug kill the worker
            reply = {"ok": False, "error": {
                "code": "INTERNAL_ERROR",
                "message": f"{type(exc).__name__}: {exc}",
                "details": {"traceback": traceback.format_exc(limit=8)},
                "suggestion": "This is a bug in hypelua; please report it with the code that triggered it.",
            }}
        reply["output"] = "".join(self._output)
        if db.warnings:
            reply["warnings"] = list(db.warnings)
            db.warnings.clear()
        return json.dumps(reply, ensure_ascii=False)

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
