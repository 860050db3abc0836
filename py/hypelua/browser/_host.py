"""``WorkerHost``: JSON request/response dispatch for the JS API (``Hype`` in web/src).

Protocol (one request at a time, serialised by the worker):

* request: ``op`` (str) and ``args_json`` (a JSON object)
* reply (JSON text): ``{"ok": true, "value": ..., "output": "...", "warnings": [...]}``
  or ``{"ok": false, "error": {"code", "message", "details", "suggestion"}, "output": "..."}``

Ops: ``run {code}`` -> list of return values; ``compute {code}`` -> first return
value (or null); ``persistFunction {table, key, code, options: {compress}}``;
``tables {}`` -> ``[{name, entries: [{key, kind, size, compressed, preview}]}]``;
``deleteEntry {table, key}`` -> bool; ``flush {}``; ``info {}`` -> versions and back-ends.

``run``/``compute``/``runFile`` run the chunk as an async main chunk on the host loop
(Pyodide's WebLoop in the worker): ``setTimeout``, promises, ``async``/``await`` and
top-level ``await`` work.  The reply comes when the chunk's work is idle (no timer,
microtask or host future left, like Node's exit), capped by ``timeout`` (ms, default
:data:`DEFAULT_TIMEOUT_MS`): past it the request fails with ``TIMEOUT`` and the
chunk's leftover timers are cleared (so a forgotten ``setInterval`` cannot wedge the
worker).  ``reset {}`` starts a fresh Lua state (globals, module caches) on the same
database and files.

Project files (issue 4; the Runtime's module root, persisted in IndexedDB by the
worker): ``writeFile {path, text}`` -> ``{path, size}``; ``readFile {path}`` -> text;
``listFiles {dir, all}`` -> ``[{path, type, size}]``; ``removeFile {path}`` -> bool;
``runFile {path, args, timeout}`` -> return values (the file runs as the main chunk);
``install {packages, registry, dev}`` -> ``{added, packages, fetched, changed,
lock_written}`` (see :mod:`hypelua.browser._install`); ``runTests {paths, filter,
timeout}`` -> ``{results: [{file, name, full_name, path, status, message,
duration_ms}], summary: {passed, failed, pending, total}, tap}``.  Paths are
relative to the project (``PATH_OUTSIDE_PROJECT`` for escapes).

Storage ops (issue 3): ``createIndex {table, fields, kind, options: {unique}}`` -> name;
``dropIndex {table, name}`` -> bool; ``indexes {table}`` -> ``[{name, fields, unique, ...}]``;
``queryTable {table, query}`` -> ``{keys: [...], values: [...], cursor}`` (values in the stored
tagged JSON of :mod:`hypelua.storage._codec`, spliced from the records: the JS API
untags ``$bytes``/``$float``/``$map``/``$function``); ``explain {table, query}``;
``batchTableOperations {ops, progress, tagged}`` -> one result per op (atomic; with ``progress``
the callback given to :meth:`WorkerHost.dispatch` receives ``(done, total)`` while it runs;
an op may be ``{"type": "setRun", table, keys, values}``, consecutive plain sets of one
table as columns, counted as one op per key; ``tagged: false`` says no op carries a
``tagged`` value, so none is scanned);
``defineSchema {table, schema, version}`` -> version; ``migrate {table, steps: {version:
lua_function_source}, schema, toVersion}``; ``stats {}``; ``compact {}`` -> ``{entries, ops}``
(fold the IndexedDB journal into its rows store now).

HTTP (issue 9, :mod:`hypelua.browser._http`): ``httpLoad {path} | {source, chunkname}``
loads a Lua app (``hype.http``) into the runtime; ``httpFetch {method, url, headers,
timeout}`` sends it one request (body: the request's binary payload) -> ``{status,
headers, size}`` (body: :meth:`WorkerHost.take_payload`); ``httpUnload {}``.

LiveView (issue 10, :mod:`hypelua.browser._live`): ``liveOpen {target}`` -> ``{id}``;
``liveFrame {id, frame}`` -> the reply frame (JSON text) or null; ``liveClose {id}``.  Frames
a view pushes by itself go to ``live_post(id, frame_text)`` (the worker posts them to the page).

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
import contextlib
import inspect
import json
import os
import traceback
from collections.abc import Callable
from typing import Any

from .._errors import HypeError, StorageError
from .._runtime import Runtime
from ..lua import LuaFunction, LuaHandle
from ..storage import Database, PersistedFunction
from ..storage._batch import SetRun
from ..storage._codec import _dumps, tag_scalar
from ..storage._query import Query
from ._http import HttpOps
from ._install import HttpGet
from ._live import LiveOps, LivePost
from ._project import ProjectFS

#: ops that write nothing: answered by :meth:`WorkerHost.dispatch_sync` without awaiting
READ_ONLY_OPS = frozenset({"queryTable", "explain", "indexes", "stats", "tables", "info", "readFile",
                           "listFiles", "actor_processes"})
#: ops after which the project directory is written back to persistent storage
FILE_OPS = frozenset({"run", "compute", "runFile", "writeFile", "removeFile", "install", "runTests"})
#: ops taking the request's binary payload (keyword ``payload``) and leaving one for :meth:`WorkerHost.take_payload`
BINARY_OPS = frozenset({"httpFetch"})
#: default cap of ``run`` / ``compute`` / ``runFile`` (ms) before ``TIMEOUT``
DEFAULT_TIMEOUT_MS = 10_000
#: default per-test timeout of ``runTests`` (ms)
DEFAULT_TEST_TIMEOUT_MS = 5_000

#: ``actor_processes``: hype.actor.processes() as plain data, without loading hype.actor
_ACTOR_PROCESSES = """
local A = package.loaded["hype.actor"]
if type(A) ~= "table" or type(A.processes) ~= "function" then return nil end
local out = {}
for i, p in ipairs(A.processes()) do
  local links = {}
  for j, l in ipairs(p.links or {}) do links[j] = tostring(l) end
  out[i] = { pid = tostring(p.pid), status = p.status, mailbox = p.mailbox, reductions = p.reductions,
             memory = p.memory, links = links, monitors = p.monitors,
             name = p.name ~= nil and tostring(p.name) or nil, kind = p.kind }
end
return out
"""

_CLEAR_TIMERS = """
local L = package.loaded["hype.loop"]
local probe = L.setTimeout(function() end, 1)
for id = 1, probe.id do L.clearTimeout(id) end
"""

#: largest request accepted, in bytes of JSON
MAX_REQUEST_BYTES = 16 * 1024 * 1024


def to_jsonable(value: Any, depth: int = 0) -> Any:
    """Plain data -> JSON-compatible data (see module docstring)."""
    t = type(value)
    if value is None or t is bool or t is int or t is str:
        return value
    if t is float or t is bytes or t is bytearray:
        return tag_scalar(value)
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


def _request_text(request: Any) -> str | bytes:
    """A request as ``str``/``bytes``: a JS ``Uint8Array`` (a JsProxy) is copied into bytes."""
    if type(request) is str or type(request) is bytes:
        return request
    to_bytes = getattr(request, "to_bytes", None)
    if to_bytes is None:
        raise HypeError("a request must be JSON text or its UTF-8 bytes", code="BAD_REQUEST")
    return bytes(to_bytes())


def _payload_bytes(payload: Any) -> bytes:
    """A binary payload as bytes: bytes-like, or a JS ``Uint8Array``/``ArrayBuffer`` (a JsProxy)."""
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return bytes(payload)
    to_bytes = getattr(payload, "to_bytes", None)
    if to_bytes is None:
        raise HypeError("a binary payload must be bytes (a Uint8Array or ArrayBuffer)", code="BAD_REQUEST")
    return bytes(to_bytes())


def _reply_json(reply: dict[str, Any]) -> str:
    """The reply as JSON text (the C encoder built once; ``json.dumps`` builds one per call)."""
    try:
        return _dumps(reply)
    except (TypeError, ValueError):  # not JSON data (a bug elsewhere): still answer
        return json.dumps(reply, ensure_ascii=False, default=repr)


class RawJSON(str):
    """JSON text a handler returns to be spliced into the reply as is (not re-encoded)."""

    __slots__ = ()


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

    def __init__(self, runtime: Runtime, output: list[str], *, project: ProjectFS | None = None,
                 http_get: HttpGet | None = None, registry: str | None = None,
                 live_post: LivePost | None = None) -> None:
        self.runtime = runtime
        self._output = output
        #: the project directory (module root, persisted files); None: file ops are refused
        self.project = project
        self._http_get = http_get
        self._registry = registry
        self._backend = runtime.vm.backend_name
        self._max_memory: int | None = None
        if project is not None:
            self._root_modules()
        self._ops = {
            "writeFile": self._write_file,
            "readFile": self._read_file,
            "listFiles": self._list_files,
            "removeFile": self._remove_file,
            "runFile": self._run_file,
            "install": self._install,
            "runTests": self._run_tests,
            "reset": self._reset,
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
            "actor_processes": self._actor_processes,
        }
        #: the Lua HTTP app answering ``hype.fetch`` (``httpLoad``/``httpFetch``/``httpUnload``)
        self.http = HttpOps(self)
        self._ops.update(self.http.ops())
        #: LiveView sessions in this worker (``liveOpen``/``liveFrame``/``liveClose``)
        self.live = LiveOps(self, post=live_post)
        self._ops.update(self.live.ops())
        #: binary result of the last request (BINARY_OPS), until :meth:`take_payload`
        self._payload: bytes | None = None
        #: extra warnings of the request being handled (sent to the page's stderr)
        self._warnings: list[str] = []
        self._progress: Callable[[int, int], Any] | None = None
        #: tables already defined as Lua globals by batches
        self._globals: set[str] = set()
        #: JSON text of the request being handled (the key of prepared queries), else None
        self._request: str | bytes | None = None
        #: request text -> prepared query (queryTable)
        self._prepared: dict[str | bytes, Query] = {}

    @classmethod
    async def create(cls, database: str = "hypelua", idb: Any = None, *, backend: str | None = None,
                     max_memory: int | None = None, project_root: str | None = None,
                     project_sync: Callable[[], Any] | None = None, http_get: HttpGet | None = None,
                     registry: str | None = None, sandbox: bool = False,
                     live_post: LivePost | None = None, actors_post: Callable[..., Any] | None = None,
                     actors_control: Callable[[str], Any] | None = None, actors_node: int = 0) -> WorkerHost:
        """Open the database (IndexedDB through ``idb``, else in memory) and start a Runtime.

        Args:
            database: IndexedDB database name (stored as ``hypelua:<name>``).
            idb: the JS bridge of ``web/src/idb.mjs`` or None for a memory database.
            backend: Lua back-end override (default: ctypes under Pyodide).
            max_memory: Lua heap limit in bytes.
            project_root: the project directory (module root; the worker passes its IDBFS mount).
            project_sync: called (and awaited) to persist the project directory after file changes.
            sandbox: run user code in the sandbox (``Runtime(sandbox=True)``: allow-list
                environment, ``require`` confined to ``project_root``, 256 MiB heap unless ``max_memory``).
            http_get: transport of ``install`` (default: pyfetch in Pyodide, httpx natively).
            registry: default registry URL of ``install``.
            live_post: ``live_post(id, frame_text)`` delivers the frames a LiveView pushes to the page.
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
        runtime = Runtime(db, backend=backend, max_memory=max_memory, stdout=output.append,
                          sandbox=sandbox, project_root=project_root)
        project = ProjectFS(project_root, project_sync) if project_root is not None else None
        host = cls(runtime, output, project=project, http_get=http_get, registry=registry, live_post=live_post)
        if actors_post is not None and actors_control is not None:
            from ..actors._transports.worker import WorkerTransport

            host.actors_transport = WorkerTransport(int(actors_node), actors_post, actors_control)
            host._actors_bind()
        host._max_memory = max_memory
        return host

    def _root_modules(self) -> None:
        """Make the project directory the module root of requests from non-file chunks."""
        resolver = getattr(self.runtime, "resolver", None)
        if resolver is not None and self.project is not None:
            resolver.cwd = self.project.root

    def _parse(self, op: str, args_json: str | bytes) -> tuple[Callable[..., Any], dict[str, Any]]:
        """The handler and arguments of a request (JSON text, or its UTF-8 bytes).

        Raises :class:`HypeError` ``BAD_REQUEST``, ``REQUEST_TOO_LARGE``.
        """
        if len(args_json) > MAX_REQUEST_BYTES:
            raise HypeError(f"request larger than {MAX_REQUEST_BYTES} bytes", code="REQUEST_TOO_LARGE")
        try:
            args = json.loads(args_json) if args_json else {}
        except (ValueError, RecursionError) as exc:  # RecursionError: nested too deeply
            raise HypeError(f"malformed request: {str(exc)[:200]}", code="BAD_REQUEST") from None
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
        self._output.clear()  # sent once: a later actor_processes reply carries only newer prints
        if db.warnings or self._warnings:
            reply["warnings"] = list(db.warnings) + self._warnings
            db.warnings.clear()
            self._warnings = []
        raw = reply.get("value")
        if type(raw) is RawJSON:
            del reply["value"]
            return _reply_json(reply)[:-1] + ',"value":' + raw + "}"
        return _reply_json(reply)

    async def dispatch(self, op: str, args_json: str | bytes | Any,
                       progress: Callable[[int, int], Any] | None = None, payload: Any = None) -> str:
        """Handle one request; always returns a JSON reply (never raises).

        Resolves after the request's writes are durable (IndexedDB transaction complete).

        Args:
            op: operation name (see the module docstring).
            args_json: the arguments as a JSON object: text, UTF-8 bytes, or a JS
                ``Uint8Array`` of them (large requests: the page encodes them, which
                is cheaper than converting a long JS string into Python).
            progress: called as ``progress(done, total)`` while a long operation
                (``batchTableOperations`` with ``progress: true``) runs.
            payload: binary data of ops in :data:`BINARY_OPS` (the body of ``httpFetch``):
                bytes, or a JS ``Uint8Array``/``ArrayBuffer``; ignored by other ops.  Their
                binary result is left for :meth:`take_payload`.
        """
        self._output.clear()
        self._progress = progress
        self._payload = None
        db = self.runtime.database
        try:
            args_json = _request_text(args_json)
            handler, args = self._parse(op, args_json)
            if op in BINARY_OPS:
                args["payload"] = None if payload is None else _payload_bytes(payload)
            self._request = args_json
            try:
                value = handler(**args)
                self._request = None
                if inspect.isawaitable(value):
                    value = await value
            except TypeError as exc:
                raise self._bad_arguments(op, exc) from exc
            finally:
                self._request = None
                await db.flush()
                if op in FILE_OPS and self.project is not None:
                    await self.project.persist()
            reply: dict[str, Any] = {"ok": True, "value": value if type(value) is RawJSON else to_jsonable(value)}
        except Exception as exc:
            reply = self._error_reply(exc)
        return self._finish(reply)

    def take_payload(self) -> bytes | None:
        """The binary result of the last request (an ``httpFetch`` response body), once; else None."""
        payload, self._payload = self._payload, None
        return payload

    def set_payload(self, data: bytes) -> None:
        """Set the binary result of the request being handled (ops of :data:`BINARY_OPS`)."""
        self._payload = data

    def warn(self, text: str) -> None:
        """Add a warning to the reply of the request being handled (the page prints it to stderr)."""
        self._warnings.append(text)

    @staticmethod
    def binary_ops() -> list[str]:
        """The ops with a binary payload (the worker passes the request's and fetches the reply's)."""
        return sorted(BINARY_OPS)

    @staticmethod
    def read_only_ops() -> list[str]:
        """The ops :meth:`dispatch_sync` answers (the worker sends only these to it)."""
        return sorted(READ_ONLY_OPS)

    def dispatch_sync(self, op: str, args_json: str | bytes | Any) -> str | None:
        """Handle a read-only request synchronously (no event-loop round trip); None for other ops.

        Only the ops in :data:`READ_ONLY_OPS` (they write nothing, so there is
        nothing to make durable) are answered; the worker falls back to
        :meth:`dispatch` on None.
        """
        if op not in READ_ONLY_OPS:
            return None
        if op != "actor_processes":
            self._output.clear()
        try:
            args_json = _request_text(args_json)
            self._request = args_json
            handler, args = self._parse(op, args_json)
            try:
                value = handler(**args)
            except TypeError as exc:
                raise self._bad_arguments(op, exc) from exc
            finally:
                self._request = None
            reply: dict[str, Any] = {"ok": True, "value": value if type(value) is RawJSON else to_jsonable(value)}
        except Exception as exc:
            reply = self._error_reply(exc)
        try:
            return self._finish(reply)
        finally:
            if op == "actor_processes":
                # it carries what processes printed since the last request (they run on
                # timers between requests): delivered once
                self._output.clear()

    # ------------------------------------------------------------------ ops
    def _code(self, code: Any) -> str:
        if not isinstance(code, str):
            raise HypeError("code must be a string", code="BAD_REQUEST")
        return code

    async def _execute(self, source: str, chunkname: str | None, timeout: Any, args: tuple[Any, ...] = ()
                       ) -> tuple[Any, ...]:
        """Run ``source`` as an async main chunk until its work is idle, at most ``timeout`` ms."""
        import asyncio

        if timeout is None:
            timeout = DEFAULT_TIMEOUT_MS
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise HypeError("timeout must be a positive number of milliseconds", code="BAD_REQUEST")
        rt = self.runtime
        if rt.sandbox:
            # sandboxed code that never yields is stopped by the runtime's deadline
            # (the worker keeps serving), not only by the page's watchdog
            if not rt.watching:
                rt.watch(every=200_000)
            rt.set_deadline(timeout / 1000.0, message=f"the chunk ran longer than {timeout:g} ms")
        run = rt.execute_async(source, *args, chunkname=chunkname)
        try:
            return await asyncio.wait_for(run, timeout / 1000.0)
        except TimeoutError:
            self.runtime.vm.execute(_CLEAR_TIMERS, chunkname="=(hype clear timers)")
            fatal = getattr(self.runtime.loop, "_fatal", None)
            if isinstance(fatal, set):
                fatal.clear()  # the abandoned chunk must not fail a later request
            raise HypeError(
                f"the chunk still had pending work (timers, promises) after {timeout:g} ms",
                code="TIMEOUT", details={"timeout_ms": timeout},
                suggestion="Clear intervals with clearInterval(t), or pass a larger {timeout: ms}. "
                           "The chunk's remaining timers were cleared.") from None
        finally:
            if rt.sandbox:
                rt.set_deadline(None)

    async def _run(self, code: str, timeout: float | None = None) -> list[Any]:
        return list(await self._execute(self._code(code), None, timeout))

    async def _compute(self, code: str, timeout: float | None = None) -> Any:
        values = await self._execute(self._code(code), None, timeout)
        return values[0] if values else None

    async def _reset(self) -> None:
        """A fresh Lua state (globals, module caches, timers) on the same database and project;
        the live views are closed (their pages re-open them in the new state)."""
        await self.live.close_all()
        old = self.runtime
        old.vm.execute(_CLEAR_TIMERS, chunkname="=(hype clear timers)")
        for handle in (getattr(old.loop, "_timer_handle", None), getattr(old.loop, "_soon_handle", None)):
            if handle is not None:
                handle.cancel()
        db = old.database
        with contextlib.suppress(ValueError):
            db.listeners.remove(old._on_database_write)
        self.runtime = Runtime(db, backend=self._backend, max_memory=self._max_memory,
                               stdout=self._output.append, sandbox=old.sandbox,
                               project_root=self.project.root if self.project is not None else None)
        self._globals.clear()
        self.http.forget()  # the app lived in the old Lua state
        self._root_modules()
        self._actors_bind()
        old.vm.close()

    # ------------------------------------------------------------ actors across workers
    #: the transport to the other workers' schedulers (issue 11 item 7), or None
    actors_transport: Any = None

    def _actors_bind(self) -> None:
        """The runtime attaches its scheduler to the worker transport on first use."""
        t = self.actors_transport
        if t is not None:
            self.runtime._actor_transport = lambda: t

    def _actors_node(self) -> Any:
        from ..actors._node import attach_default

        return attach_default(self.runtime)

    async def _actors_poke(self) -> None:
        # Lua was entered from a page message: let the loop run the woken processes
        import asyncio

        loop = self.runtime.loop
        loop._attach(asyncio.get_running_loop())
        loop._schedule_soon()

    async def actors_frame(self, text: Any) -> None:
        """A frame from another worker (the page relays it; not a serialised request)."""
        self._actors_node()
        self.actors_transport.deliver(text if isinstance(text, (str, bytes)) else str(text))
        await self._actors_poke()

    async def actors_down(self, node: int) -> None:
        """Worker ``node`` was terminated: links/monitors of its processes hear ``noconnection``."""
        if getattr(self.runtime, "_actor_node", None) is None:  # nothing here knows that node
            self.actors_transport._dead.add(int(node))
            return
        self.actors_transport.down(int(node))
        await self._actors_poke()

    def actors_spares(self, nodes: Any) -> None:
        """Spare node numbers from the page (for ``spawn{ worker = "new" }``)."""
        if hasattr(nodes, "to_py"):
            nodes = nodes.to_py()
        self.actors_transport.spares(list(nodes))

    # ------------------------------------------------------------ project files
    def _fs(self) -> ProjectFS:
        if self.project is None:
            raise HypeError("this worker has no project directory", code="NO_PROJECT",
                            suggestion="Create the WorkerHost with project_root=... (the worker does).")
        return self.project

    def _files_changed(self) -> None:
        resolver = getattr(self.runtime, "resolver", None)
        mains = getattr(resolver, "_mains", None)
        if isinstance(mains, dict):
            mains.clear()  # cached hype.json "main" look-ups

    def _write_file(self, path: str, text: str) -> dict[str, Any]:
        result = self._fs().write(path, text)
        self._files_changed()
        return result

    def _read_file(self, path: str) -> str:
        return self._fs().read(path)

    def _list_files(self, dir: str = ".", all: bool = False) -> list[dict[str, Any]]:
        return self._fs().list(dir, all=bool(all))

    def _remove_file(self, path: str) -> bool:
        removed = self._fs().remove(path)
        self._files_changed()
        return removed

    async def _run_file(self, path: str, args: list[Any] | None = None, timeout: float | None = None
                        ) -> list[Any]:
        full = self._fs().resolve(path)
        from .._runtime import _read_lua_file

        if not os.path.isfile(full):
            raise HypeError(f"no such file {path!r} in the project", code="FILE_NOT_FOUND",
                            details={"path": path}, suggestion="List the project with listFiles().")
        text, name = _read_lua_file(full)
        extra = tuple(from_jsonable(args)) if isinstance(args, list) else ()
        return list(await self._execute(text, name, timeout, extra))

    async def _install(self, packages: list[str] | str | None = None, registry: str | None = None,
                       dev: bool = False) -> dict[str, Any]:
        from ._install import install_async

        specs = [packages] if isinstance(packages, str) else list(packages or [])
        if not all(isinstance(p, str) for p in specs):
            raise HypeError("packages must be 'name@range' strings", code="BAD_REQUEST")
        url = registry or self._registry
        if not url:
            raise HypeError("install needs a registry URL", code="BAD_REQUEST",
                            suggestion="Pass {registry: 'http://host:port/'} or Hype.load({registry}).")

        def progress(phase: str, done: int, total: int) -> None:
            if self._progress is not None:
                self._progress(done, total)

        try:
            return await install_async(self._fs().root, specs, registry=url, http_get=self._http_get,
                                       dev=bool(dev), progress=progress)
        finally:
            self._files_changed()

    async def _run_tests(self, paths: list[str] | str | None = None, filter: str | None = None,
                         timeout: float | None = None) -> dict[str, Any]:
        if self.runtime.sandbox:
            # the test runner needs the full library (debug.getinfo, ...): spec files
            # would run outside the sandbox
            raise HypeError("runTests is not available in a sandboxed worker", code="SANDBOXED",
                            suggestion="Run the tests in a worker loaded without {sandbox: true}.")
        from dataclasses import asdict

        from ..testing._reporters import TapReporter, summary
        from ..testing._runner import discover, run_file

        fs = self._fs()
        wanted = [paths] if isinstance(paths, str) else list(paths or ["."])
        roots = [fs.resolve(p, allow_root=True) for p in wanted]
        try:
            files = discover(roots)
        except HypeError as exc:
            if exc.code == "PATH_NOT_FOUND":
                exc.details["path"] = fs.relative(str(exc.details.get("path", "")))
            raise
        if not files:
            raise HypeError(f"no *_spec.lua or *.test.lua files in {', '.join(wanted)}", code="NO_TESTS",
                            suggestion="Name test files like math_spec.lua.")
        per_test = DEFAULT_TEST_TIMEOUT_MS if timeout is None else float(timeout)
        results = []
        for f in files:
            results += await run_file(f, filter=filter or None, timeout_ms=per_test, backend=self._backend,
                                      stdout=self._output.append)
        tap: list[str] = []
        reporter = TapReporter(tap.append)
        for r in results:
            r.file = fs.relative(os.path.abspath(r.file))
            reporter.result(r)
        reporter.finish(results)
        return {"results": [asdict(r) for r in results], "summary": summary(results), "tap": "".join(tap)}

    def _persist_function(self, table: str, key: str | int, code: str, options: dict[str, Any] | None = None
                          ) -> dict[str, Any]:
        opts = options if isinstance(options, dict) else {}
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
        self.runtime.define_global(table)
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

    def _query_table(self, table: str, query: dict[str, Any] | None = None) -> RawJSON:
        # a request seen before runs as a prepared query (no parsing, the plan reused
        # while the table is unchanged); the stored records' JSON text goes out as is:
        # the JS API untags the values
        request = self._request
        prepared = self._prepared.get(request) if request is not None else None
        if prepared is None:
            prepared = self._db.prepare(table, self._spec(query))
            if request is not None:
                if len(self._prepared) >= 256:
                    self._prepared.clear()
                self._prepared[request] = prepared
        keys, values, cursor = self._db.query_json(table, prepared)
        return RawJSON(f'{{"keys":{keys},"values":{values},"cursor":{_dumps(cursor)}}}')

    def _explain(self, table: str, query: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._db.explain(table, self._spec(query))

    def _batch(self, ops: list[Any], progress: bool = False, tagged: bool | None = None) -> list[Any]:
        if not isinstance(ops, list):
            raise StorageError("a batch must be an array of operations", code="BAD_OPERATION")
        # only values the JS API marked as tagged ({"$bytes"}, {"$float"} inside) are untagged;
        # `tagged: false` says no op is (the JS API knows), so the ops need no scan.
        # {"type": "setRun", table, keys, values}: consecutive plain sets of one table
        ops = [SetRun(op.get("table"), op.get("keys"), op.get("values"))
               if type(op) is dict and op.get("type") == "setRun" else op
               for op in (ops if tagged is False else map(_untag_op, ops))]
        callback = self._progress if progress else None
        total = sum(len(op) if type(op) is SetRun else 1 for op in ops)
        every = max(100, total // 100)
        # the values were parsed from this request: hand them over without a copy
        results = self._db.batch(ops, on_progress=callback, progress_every=every, json_values=True)
        # the batch checked every op: each is a run or a map with a "table" and a "type"
        written = {op.table if type(op) is SetRun else op["table"] for op in ops
                   if type(op) is SetRun or op["type"] in ("set", "update")}
        for table in written.difference(self._globals):
            self.runtime.define_global(table)
            self._globals.add(table)
        return results

    def _define_schema(self, table: str, schema: dict[str, Any], version: int | None = None) -> int:
        return self._db.define_schema(table, schema, version)

    def _migrate(self, table: str, steps: dict[str, str] | None = None, schema: dict[str, Any] | None = None,
                 toVersion: int | None = None) -> dict[str, Any]:
        vm = self.runtime.vm
        from_lua = self.runtime.from_lua_tagged
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
                out = fn(key, self.runtime.to_lua_tagged(value))
                return from_lua(out[0]) if out else None

            fns[version] = step
        if toVersion is not None and type(toVersion) is not int:
            raise HypeError("toVersion must be an integer", code="BAD_REQUEST")
        return self._db.migrate(table, fns, schema=schema, to_version=toVersion)

    def _stats(self) -> dict[str, Any]:
        return self._db.stats()

    # -------------------------------------------------------- actors (issue 11)
    def _actor_processes(self) -> list[dict[str, Any]]:
        """``hype.actor.processes()`` as JSON-able rows: pid and links as ``"<0.12.0>"`` strings,
        status, mailbox (length), reductions, memory (bytes or None), monitors (count), name, kind.
        [] when hype.actor was never required (it is not loaded for this)."""
        (rows,) = self.runtime.vm.execute(_ACTOR_PROCESSES, chunkname="=(hype actor_processes)")[:1] or (None,)
        if not isinstance(rows, (list, dict)) or not rows:
            return []
        rows = rows if isinstance(rows, list) else [rows[k] for k in sorted(rows)]
        out = []
        for r in rows:
            links = r.get("links")
            out.append({
                "pid": r.get("pid"), "status": r.get("status"), "mailbox": r.get("mailbox", 0),
                "reductions": r.get("reductions", 0), "memory": r.get("memory"),
                "links": list(links) if isinstance(links, list) else [],
                "monitors": r.get("monitors", 0), "name": r.get("name"), "kind": r.get("kind"),
            })
        return out

    def actor_processes_live(self) -> str:
        """The ``actor_processes`` reply while another request runs (worker.mjs answers it out
        of turn, so the playground's Processes panel follows a running program): the rows only,
        JSON text; the running request's output stays with it."""
        try:
            return _reply_json({"ok": True, "value": self._actor_processes(), "output": ""})
        except Exception as exc:  # never let a bug kill the worker
            return _reply_json({**self._error_reply(exc), "output": ""})

    async def _compact(self) -> dict[str, int]:
        compact = getattr(self._db.backend, "compact", None)
        if compact is None:
            await self._db.flush()
            return {"entries": 0, "ops": 0}
        result: dict[str, int] = await compact()
        return result
