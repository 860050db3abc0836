"""``Database`` and ``Table``: named key -> value tables over a storage back-end."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._errors import DatabaseError, HypeError, StorageError
from ._batch import BatchError, RowNotFound, SetRun, apply_update, cause_of, check_op, describe_op
from ._codec import (
    CODEC_JSON,
    CODEC_ZLIB_JSON,
    Key,
    PersistedFunction,
    Record,
    _dumps,
    decode_record,
    encode_record,
    normalize_key,
    record_text,
)
from ._functions import signer, verify
from ._query import Query, QueryError, parse_field
from ._schema import MigrationError, TableSchema, check_version
from .backends._base import StorageBackend

#: implicit (per-key) writes are committed after this many writes ...
AUTOCOMMIT_WRITES = 1000
#: ... or when the oldest uncommitted one is this old (seconds)
AUTOCOMMIT_AGE = 0.05

MAX_TABLE_NAME = 128


def check_table_name(name: Any) -> str:
    """Validate an external table name (1..128 characters, no NUL).

    Raises:
        StorageError: ``BAD_TABLE_NAME``.
    """
    if not isinstance(name, str) or not name or len(name) > MAX_TABLE_NAME or "\0" in name:
        raise StorageError(
            f"invalid table name {name!r:.80}",
            code="BAD_TABLE_NAME",
            details={"table": str(name)[:200]},
            suggestion=f"Use a non-empty string of at most {MAX_TABLE_NAME} characters.",
        )
    return name


class Table:
    """One external table: ``get``/``set``/``delete``/``items`` on plain-data values."""

    def __init__(self, db: Database, name: str) -> None:
        self.db = db
        self.name = check_table_name(name)

    def get(self, key: Key, default: Any = None) -> Any:
        """Value under ``key`` (functions as :class:`PersistedFunction`) or ``default``."""
        return self.db.get(self.name, key, default)

    def set(self, key: Key, value: Any, *, compress: bool = False) -> None:
        """Store ``value`` (``None`` deletes).  See :meth:`Database.set`."""
        self.db.set(self.name, key, value, compress=compress)

    def delete(self, key: Key) -> bool:
        """Delete ``key``; returns whether it existed."""
        return self.db.delete(self.name, key)

    def items(self) -> Iterator[tuple[Key, Any]]:
        """``(key, value)`` pairs, integer keys first (ascending), then strings."""
        return self.db.items(self.name)

    def keys(self) -> list[Key]:
        return [k for k, _ in self.db.backend.items(self.name)]

    def update(self, key: Key, partial: dict[str, Any]) -> Any:
        """Set fields of a stored map by dotted path; returns the new value.  See :meth:`Database.update`."""
        return self.db.update(self.name, key, partial)

    def create_index(self, fields: str | Sequence[str], kind: str = "btree", unique: bool = False) -> str:
        """See :meth:`Database.create_index`."""
        return self.db.create_index(self.name, fields, kind=kind, unique=unique)

    def drop_index(self, name_or_fields: str | Sequence[str]) -> bool:
        return self.db.drop_index(self.name, name_or_fields)

    def indexes(self) -> list[dict[str, Any]]:
        return self.db.indexes(self.name)

    def query(self, spec: Mapping[str, Any] | None = None, **kwargs: Any) -> QueryResult:
        """``users.query(field="age", operator=">=", value=25, limit=100, order="asc")``.

        See :meth:`Database.query`.
        """
        return self.db.query(self.name, {**(spec or {}), **kwargs})

    def explain(self, spec: Mapping[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        return self.db.explain(self.name, {**(spec or {}), **kwargs})

    def define_schema(self, schema: dict[str, Any], version: int | None = None) -> int:
        return self.db.define_schema(self.name, schema, version)

    def __len__(self) -> int:
        return self.db.backend.count(self.name)

    def __repr__(self) -> str:
        return f"<Table {self.name!r} of {self.db!r}>"


class QueryResult(list):  # type: ignore[type-arg]
    """Rows of a query: a list of ``(key, value)`` pairs, plus ``cursor`` (the
    opaque cursor of the next page, or None when this was the last page)."""

    cursor: str | None = None

    def __init__(self, rows: list[tuple[Key, Any]], cursor: str | None) -> None:
        super().__init__(rows)
        self.cursor = cursor


class Database:
    """A set of external tables on one back-end, with a per-database HMAC key.

    Args:
        backend: a :class:`StorageBackend`.
        hmac_key: bytes used to authenticate persisted bytecode; default: the key
            stored in the database (32 random bytes created on first open).
            Passing a key keeps it out of the database file.
        compress_threshold: records whose JSON exceeds this many bytes are
            zlib-compressed (None: only when asked).
    """

    def __init__(self, backend: StorageBackend, *, hmac_key: bytes | None = None,
                 compress_threshold: int | None = 1024) -> None:
        self.backend = backend
        self.compress_threshold = compress_threshold
        self.warnings: list[str] = []
        if hmac_key is None:
            stored = backend.get_meta("hmac_key")
            if stored is None:
                hmac_key = os.urandom(32)
                backend.set_meta("hmac_key", hmac_key.hex())
                backend.commit()
            else:
                try:
                    hmac_key = bytes.fromhex(stored)
                except ValueError as exc:
                    raise DatabaseError("the stored HMAC key is corrupt", code="DATABASE_CORRUPT") from exc
        self._hmac_key = hmac_key
        self._signer = signer(hmac_key)
        self._schemas: dict[str, TableSchema | None] = {}
        self._tx_depth = 0
        self._uncommitted = 0
        self._first_write = 0.0
        self._commit_scheduled = False
        #: callables ``(table, key)`` told about every write (``(None, None)``: anything may have changed)
        self.listeners: list[Callable[[str | None, Key | None], None]] = []

    @classmethod
    def open(cls, path: str | Path = ":memory:", **options: Any) -> Database:
        """Open a database natively: ``":memory:"`` (memory back-end) or an SQLite file path.

        Raises:
            DatabaseError: the file is not a database (``DATABASE_CORRUPT``), unreadable, ...
        """
        if str(path) == ":memory:":
            from .backends.memory import MemoryBackend

            return cls(MemoryBackend(), **options)
        from .backends.sqlite import SQLiteBackend

        p = Path(path)
        if p.parent and not p.parent.exists():
            raise DatabaseError(
                f"directory {str(p.parent)!r} does not exist", code="DATABASE_PATH",
                details={"path": str(p)}, suggestion="Create the directory first.",
            )
        return cls(SQLiteBackend(p), **options)

    def __repr__(self) -> str:
        return f"<Database {self.backend.name}>"

    # ----------------------------------------------------------------- tables
    def table(self, name: str) -> Table:
        """The :class:`Table` called ``name`` (created on first write)."""
        return Table(self, name)

    def tables(self) -> list[str]:
        """Names of the tables that exist."""
        return self.backend.tables()

    def create_table(self, name: str) -> None:
        self.backend.create_table(check_table_name(name))

    # ------------------------------------------------------------------ rows
    def get(self, table: str, key: Any, default: Any = None) -> Any:
        """Decoded value under ``(table, key)`` or ``default``.

        Raises:
            DatabaseError: ``DATABASE_CORRUPT`` if the stored record cannot be decoded.
            NotStorableError: ``key`` is not a valid key.
        """
        record = self.backend.get(check_table_name(table), normalize_key(key))
        if record is None:
            return default
        try:
            return decode_record(record)
        except DatabaseError as exc:
            exc.details.update({"table": table, "key": key})
            raise

    def set(self, table: str, key: Any, value: Any, *, compress: bool = False, trust_bytecode: bool = True
            ) -> None:
        """Store plain data (or :class:`PersistedFunction` values) under ``(table, key)``.

        ``None`` deletes the key (like assigning ``nil`` in Lua).  Functions are
        signed with the database's HMAC key.  The write is part of the current
        transaction: :meth:`commit` / :meth:`flush` make it durable.

        Raises:
            NotStorableError: unsupported value, cycle, bad key.
        """
        if value is None:
            self.delete(table, key)
            return
        table, key, record = self._prepare(table, key, value, compress, trust_bytecode)
        self.backend.put(table, key, record)  # the caller keeps its object: the back-end decodes a copy
        self._wrote(table, key)

    def _prepare(self, table: str, key: Any, value: Any, compress: bool = False, trust_bytecode: bool = True
                 ) -> tuple[str, Key, Record]:
        """Validate and encode one write: ``(table, key, record)`` (functions signed on the way)."""
        table = check_table_name(table)
        key = normalize_key(key)
        schema = self.schema_of(table)
        if schema is not None:
            schema.validate(table, key, value)
        sign = self._signer if trust_bytecode else signer(self._hmac_key, trust_bytecode=False)
        record = encode_record(value, compress=compress, threshold=self.compress_threshold, on_function=sign)
        return table, key, record

    def delete(self, table: str, key: Any) -> bool:
        """Delete ``(table, key)``; returns whether it existed."""
        table, key = check_table_name(table), normalize_key(key)
        existed = self.backend.delete(table, key)
        if existed:
            self._wrote(table, key)
        return existed

    def update(self, table: str, key: Any, partial: dict[str, Any]) -> Any:
        """Apply a partial value (dotted field paths -> values; None removes) to a stored map.

        Returns the new value.  Raises :class:`RowNotFound` (``NOT_FOUND``),
        ``UPDATE_NOT_A_MAP``, :class:`SchemaViolation`.
        """
        current = self.get(table, key)
        if current is None:
            raise RowNotFound(f"{table}[{key!r}] does not exist", details={"table": table, "key": key})
        new = apply_update(current, partial)
        self.set(table, key, new)
        return new

    def _wrote(self, table: str | None, key: Key | None) -> None:
        for listener in self.listeners:
            listener(table, key)
        if self._tx_depth:
            return
        now = time.monotonic()
        if self._uncommitted == 0:
            self._first_write = now
        self._uncommitted += 1
        if self._uncommitted >= AUTOCOMMIT_WRITES or now - self._first_write >= AUTOCOMMIT_AGE:
            self.commit()
        elif not self._commit_scheduled:
            self._schedule_commit()

    def _schedule_commit(self) -> None:
        """Coalesce per-key writes: commit them once the running event loop gets control."""
        import asyncio

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._commit_scheduled = True

        def later() -> None:
            self._commit_scheduled = False
            if not self._tx_depth and self._uncommitted:
                with contextlib.suppress(HypeError):
                    self.commit()

        loop.call_soon(later)

    def items(self, table: str) -> Iterator[tuple[Key, Any]]:
        """Decoded ``(key, value)`` pairs of ``table``."""
        for key, record in self.backend.items(check_table_name(table)):
            yield key, decode_record(record)

    def load(self, table: str, key: Any) -> Any:
        """Like :meth:`get`, and verify every function inside before it may be loaded.

        Functions whose bytecode fails authentication lose it (and are rebuilt
        from source); a warning is appended to :attr:`warnings`.

        Raises:
            BytecodeRejectedError: a function failed authentication and has no source.
        """
        value = self.get(table, key)
        if value is None:
            return None
        self.warnings.extend(verify(self._hmac_key, value, where=f"{table}.{key}"))
        return value

    def describe(self, table: str) -> list[dict[str, Any]]:
        """Summary of a table's entries for UIs: ``[{key, kind, size, compressed, preview}]``.

        ``kind`` is ``"function"`` or the Lua type name of the value; ``size`` is the
        stored size in bytes.
        """
        out = []
        for key, record in self.backend.items(check_table_name(table)):
            codec, data = record
            size = len(data.encode("utf-8")) if isinstance(data, str) else len(data)
            entry: dict[str, Any] = {"key": key, "size": size, "compressed": codec == CODEC_ZLIB_JSON}
            try:
                value = decode_record(record)
            except DatabaseError as exc:
                entry.update(kind="corrupt", preview=exc.message)
            else:
                entry.update(kind=_kind(value), preview=_preview(value))
            out.append(entry)
        return out

    # --------------------------------------------------------------- batches
    def batch(self, ops: Sequence[Mapping[str, Any] | SetRun],
              on_progress: Callable[[int, int], Any] | None = None, progress_every: int = 100,
              *, copy_values: bool = True, json_values: bool = False) -> list[Any]:
        """Apply operations atomically (see :mod:`hypelua.storage._batch` for the op format).

        Args:
            ops: list of operation maps; a :class:`~hypelua.storage._batch.SetRun`
                stands for consecutive ``set`` operations of one table (operation
                indices, results and progress count each of its keys).
            on_progress: called as ``on_progress(done, total)`` every ``progress_every`` ops and at the end.
            copy_values: False hands the ``set`` values themselves to the back-end
                (no decoded copy): only for values nobody uses afterwards, e.g.
                freshly parsed from a request.
            json_values: the ``set`` values were just parsed from JSON text (only
                JSON types, string keys) and nobody uses them afterwards (implies
                ``copy_values=False``): a value whose JSON needs no tag is stored
                as its plain JSON text, without the tagging walk.
        Returns:
            one result per operation.
        Raises:
            BatchError: ``BATCH_FAILED`` naming the failing op's index; nothing was applied.
        """
        if not isinstance(ops, (list, tuple)):
            raise StorageError("a batch must be a list of operations", code="BAD_OPERATION")
        keep_values = not copy_values or json_values
        results: list[Any] = []
        total = sum(len(op) if type(op) is SetRun else 1 for op in ops)
        index = 0  # of the operation running, counting each key of a SetRun
        failed: list[Any] = [0, None, 0]  # the failing op's index, the op, the index of its first key
        try:
            with self.transaction():
                group: list[tuple[Key, Record, Any]] = []
                group_table = ""
                group_start = 0
                schema_table: str | None = None
                schema: TableSchema | None = None
                threshold = self.compress_threshold
                dumps = _dumps

                def flush_group() -> None:
                    if not group:
                        return
                    try:
                        self.backend.put_many(group_table, group)
                    except HypeError as exc:
                        at = int(exc.details.pop("position", 0))
                        failed[:] = [group_start + at, {"type": "set", "table": group_table, "key": group[at][0]},
                                     group_start + at]
                        raise
                    self._wrote(group_table, None)
                    group.clear()

                for op in ops:
                    failed[:] = [index, op, index]
                    if type(op) is SetRun:
                        table = op.table
                        pairs: Iterable[tuple[Any, Any]] = zip(op.keys, op.values, strict=True)
                    else:
                        kind, table, key, value = check_op(op)
                        if kind != "set" or value is None:
                            flush_group()
                            failed[:] = [index, op, index]
                            if kind == "set":
                                self.delete(table, key)
                                results.append(True)
                            elif kind == "get":
                                results.append(self.get(table, key))
                            elif kind == "delete":
                                results.append(self.delete(table, key))
                            else:
                                results.append(self.update(table, key, value))
                            index += 1
                            if on_progress is not None and (index % progress_every == 0 or index == total):
                                on_progress(index, total)
                            continue
                        pairs = ((key, value),)
                    if table != schema_table:
                        table = check_table_name(table)
                        schema_table, schema = table, self.schema_of(table)
                    for key, value in pairs:
                        failed[0] = index
                        if value is None:  # a set of nil inside a run: a delete
                            flush_group()
                            self.delete(table, key)
                        else:
                            if type(key) is not str or not 0 < len(key) <= 256:  # else surely valid
                                key = normalize_key(key)
                            record: Record | None = None
                            if json_values and schema is None:
                                try:
                                    text = dumps(value)
                                except (TypeError, ValueError):  # NaN from a hand-made request: tag it
                                    text = '"$'
                                # no '"$' in the text: no map needs {"$map": ...}, no tag at all
                                if '"$' not in text and (threshold is None or len(text) <= threshold):
                                    record = (CODEC_JSON, text)
                            if record is None:
                                table, key, record = self._prepare(table, key, value)
                            if group and table != group_table:
                                flush_group()
                            if not group:
                                group_table, group_start = table, index
                            group.append((key, record, value if keep_values else None))
                        results.append(True)
                        index += 1
                        if on_progress is not None and (index % progress_every == 0 or index == total):
                            on_progress(index, total)
                flush_group()
        except HypeError as exc:
            i, op, first = failed
            raise BatchError(
                f"operation {i} of the batch failed: {exc.message}; the batch was rolled back",
                details={"index": i, "op": describe_op(op.op(i - first) if type(op) is SetRun else op),
                         "cause": cause_of(exc)},
            ) from exc
        return results

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Database]:
        """``with db.transaction():`` all-or-nothing; durable when the block returns.

        Nested transactions join the outermost one.  An exception rolls back
        every write of the transaction and propagates.

        Isolation: the outermost transaction starts with the back-end's
        :meth:`~hypelua.storage.backends._base.StorageBackend.begin` (SQLite:
        ``BEGIN IMMEDIATE``, waiting for another process's write lock up to the
        busy timeout), so its reads see every commit made before it and no other
        process commits until it ends: a read-modify-write cannot lose an update.
        Cached schemas are re-read.

        Raises:
            DatabaseError: ``DATABASE_BUSY`` if the lock was not granted in time.
        """
        if self._tx_depth == 0:
            self.commit()  # implicit writes before the transaction are not part of it
            self.backend.begin()
            self._schemas.clear()  # another process may have changed a schema
        self._tx_depth += 1
        try:
            yield self
        except BaseException:
            self._tx_depth -= 1
            if self._tx_depth == 0:
                self.rollback()
            raise
        self._tx_depth -= 1
        if self._tx_depth == 0:
            self.commit()

    # ------------------------------------------------------- indices, queries
    def create_index(self, table: str, fields: str | Sequence[str], kind: str = "btree", unique: bool = False
                     ) -> str:
        """Create a B-tree index on one field path or several (compound); returns its name.

        The name is the fields joined by ``+`` (``"age"``, ``"last+first"``).
        Creating an existing index again is a no-op.
        Raises:
            QueryError: ``BAD_FIELD_PATH``, ``BAD_INDEX`` (unknown kind, no fields).
            UniqueViolation: ``unique`` and existing rows share a value (no index is created).
        """
        table = check_table_name(table)
        if kind != "btree":
            raise QueryError(f"unknown index kind {kind!r}", code="BAD_INDEX", suggestion="Use kind='btree'.")
        names = [fields] if isinstance(fields, str) else list(fields)
        if not names or len(names) > 8:
            raise QueryError("an index needs 1..8 fields", code="BAD_INDEX")
        for f in names:
            parse_field(f)
        name = "+".join(names)
        existing = {i["name"]: i for i in self.backend.indexes(table)}
        if name in existing and bool(existing[name]["unique"]) == bool(unique):
            return name
        with self.transaction():
            if name in existing:
                self.backend.drop_index(table, name)
            self.backend.create_index(table, name, tuple(names), bool(unique))
        return name

    def drop_index(self, table: str, name_or_fields: str | Sequence[str]) -> bool:
        """Drop an index by name (or by its fields); returns whether it existed.

        Raises:
            QueryError: ``BAD_INDEX`` unless a string or a list of strings is given.
        """
        table = check_table_name(table)
        if isinstance(name_or_fields, (list, tuple)) and all(isinstance(f, str) for f in name_or_fields):
            name = "+".join(name_or_fields)
        elif isinstance(name_or_fields, str):
            name = name_or_fields
        else:
            raise QueryError("an index is named by a string or a list of field paths", code="BAD_INDEX",
                             details={"got": repr(name_or_fields)[:80]})
        with self.transaction():
            return self.backend.drop_index(table, name)

    def indexes(self, table: str) -> list[dict[str, Any]]:
        """``[{"name", "fields", "unique", ...}]`` of a table's indices."""
        return self.backend.indexes(check_table_name(table))

    def prepare(self, table: str, spec: Mapping[str, Any] | None = None) -> Query:
        """Parse and check a query once (a prepared query): pass the result as ``spec``
        to :meth:`query`, :meth:`query_json` or :meth:`explain` of the same table to run
        it again without parsing; the in-memory executor also reuses its plan while the
        table is unchanged.  Raises like :meth:`query`.
        """
        return Query.parse(check_table_name(table), dict(spec or {}))

    @staticmethod
    def _query_of(table: str, spec: Mapping[str, Any] | Query | None) -> Query:
        if isinstance(spec, Query):
            if spec.table != table:
                raise QueryError(f"this prepared query is for table {spec.table!r}, not {table!r}", code="BAD_QUERY")
            return spec
        return Query.parse(check_table_name(table), dict(spec or {}))

    def query(self, table: str, spec: Mapping[str, Any] | Query | None = None) -> QueryResult:
        """Run a query (see :meth:`hypelua.storage._query.Query.parse` for the map's shape).

        Returns a :class:`QueryResult` of ``(key, value)`` with ``.cursor``.
        Raises :class:`QueryError` (``BAD_QUERY``, ``BAD_OPERATOR``, ``BAD_FIELD_PATH``,
        ``BAD_QUERY_VALUE``, ``BAD_CURSOR``).
        """
        q = self._query_of(table, spec)
        rows, cursor = self.backend.query(q)
        return QueryResult(rows, cursor)

    def query_json(self, table: str, spec: Mapping[str, Any] | Query | None = None) -> tuple[str, str, str | None]:
        """Like :meth:`query`, with the rows as JSON text: ``(keys, values, cursor)``
        where ``keys`` is a JSON array of the row keys and ``values`` a JSON array of
        their values in the stored tagged JSON format of :mod:`hypelua.storage._codec`
        (``$bytes``, ``$float``, ``$map``, ``$function`` tags), spliced from the stored
        records, not decoded and re-encoded.

        This is what the browser worker sends to the JS API (``queryTable``), which
        untags the values itself.  Raises like :meth:`query`, and
        :class:`DatabaseError` ``DATABASE_CORRUPT`` for a corrupt stored row.
        """
        q = self._query_of(table, spec)
        rows, cursor = self.backend.query_records(q)
        texts = [r[1] if r[0] == CODEC_JSON and type(r[1]) is str else record_text(r) for _, r in rows]
        return _dumps([k for k, _ in rows]), "[" + ",".join(texts) + "]", cursor

    def explain(self, table: str, spec: Mapping[str, Any] | Query | None = None) -> dict[str, Any]:
        """How a query would run: ``{"plan": "index" | "full_scan", "index": name | None, ...}``."""
        return self.backend.explain(self._query_of(table, spec))

    # ---------------------------------------------------- schema, migrations
    def schema_of(self, table: str) -> TableSchema | None:
        """The compiled schema of ``table`` or None (cached)."""
        if table not in self._schemas:
            text = self.backend.get_meta("schema:" + table)
            self._schemas[table] = TableSchema.from_json(text) if text else None
        return self._schemas[table]

    def schema_version(self, table: str) -> int:
        """Recorded schema version of ``table`` (0 when it has no schema)."""
        schema = self.schema_of(check_table_name(table))
        return schema.version if schema else 0

    def define_schema(self, table: str, schema: dict[str, Any], version: int | None = None) -> int:
        """Attach a JSON Schema to ``table``; every existing row must satisfy it.

        Args:
            version: the schema version to record (default: current version, or 1).
        Returns the recorded version.
        Raises:
            SchemaDefinitionError: ``BAD_SCHEMA``; SchemaViolation: an existing row fails
            (the schema is not attached); StorageError: ``BAD_ARGUMENT`` for a version
            that is not an integer in 0..2^53 (nothing is written).
        """
        table = check_table_name(table)
        if version is not None:
            version = check_version(version)
        TableSchema.compile(schema, version or 0)  # every argument checked before the transaction
        with self.transaction():
            current = self.schema_of(table)
            if version is None:
                version = current.version if current else 1
            compiled = TableSchema.compile(schema, version)
            for key, value in self.items(table):
                compiled.validate(table, key, value)
            self.backend.set_meta("schema:" + table, compiled.to_json())
            self._schemas[table] = compiled
        return version

    def migrate(self, table: str, steps: Mapping[int, Callable[[Key, Any], Any]], *,
                schema: dict[str, Any] | None = None, to_version: int | None = None) -> dict[str, Any]:
        """Migrate ``table`` from its recorded version to ``to_version`` atomically.

        Args:
            steps: ``{version: fn(key, value) -> new value | None}`` — step ``v`` turns
                rows of version ``v - 1`` into version ``v``; returning None deletes the row.
                A version without a step changes no row.
            schema: the schema of the target version (validated after the last step).
            to_version: default: the highest step.
        Returns:
            ``{"table", "from_version", "to_version", "rows", "deleted"}``.
        Raises:
            MigrationError: a step raised, or a row fails the new schema; the table,
            its rows and its version are unchanged.
            StorageError: ``BAD_ARGUMENT`` (a version not an integer in 0..2^53, a step
            not callable), ``BAD_SCHEMA``; checked before anything is written.
        """
        table = check_table_name(table)
        if not isinstance(steps, Mapping):
            raise StorageError("migration steps must be a map {version: fn(key, value)}", code="BAD_ARGUMENT")
        steps = {check_version(v, "migration step version"): fn for v, fn in steps.items()}
        for v, fn in steps.items():
            if not callable(fn):
                raise StorageError(f"migration step {v} is not callable", code="BAD_ARGUMENT",
                                   details={"step": v})
        if to_version is not None:
            to_version = check_version(to_version, "to_version")
        start = self.schema_version(table)
        target = to_version if to_version is not None else max(steps, default=start)
        if target < start:
            raise MigrationError(f"cannot migrate {table!r} down from version {start} to {target}",
                                 details={"table": table, "from_version": start, "to_version": target})
        compiled = TableSchema.compile(schema, target) if schema is not None else None
        state: dict[str, Any] = {"step": None, "key": None}
        rows = deleted = 0

        def fail(exc: BaseException) -> MigrationError:
            cause = cause_of(exc) if isinstance(exc, HypeError) else {
                "code": "STEP_RAISED", "message": f"{type(exc).__name__}: {exc}", "details": {}}
            return MigrationError(
                f"migration of {table!r} failed at step {state['step']} (key {state['key']!r}): "
                f"{cause['message']}; nothing was changed",
                details={"table": table, "from_version": start, "to_version": target,
                         "step": state["step"], "key": state["key"], "cause": cause},
            )

        saved = self._schemas.get(table)
        try:
            with self.transaction():
                self._schemas[table] = None  # rows are validated against the target schema at the end
                for version in range(start + 1, target + 1):
                    fn = steps.get(version)
                    if fn is None:
                        continue
                    state["step"] = version
                    for key, value in list(self.items(table)):
                        state["key"] = key
                        new = fn(key, value)
                        if new is None:
                            self.delete(table, key)
                            deleted += 1
                        else:
                            self.set(table, key, new)
                state["step"] = "schema"
                if compiled is not None:
                    for key, value in self.items(table):
                        state["key"] = key
                        compiled.validate(table, key, value)
                    self.backend.set_meta("schema:" + table, compiled.to_json())
                else:
                    current = saved.schema if saved else {}
                    self.backend.set_meta("schema:" + table, TableSchema.compile(current, target).to_json())
                rows = self.backend.count(table)
        except MigrationError:
            self._schemas.pop(table, None)
            raise
        except Exception as exc:
            self._schemas.pop(table, None)
            raise fail(exc) from exc
        self._schemas.pop(table, None)
        return {"table": table, "from_version": start, "to_version": target, "rows": rows, "deleted": deleted}

    # ------------------------------------------------------------------ stats
    def stats(self) -> dict[str, Any]:
        """Sizes per table: ``{"tables": {name: {"rows", "bytes_raw", "bytes_stored",
        "compressed_rows", "ratio", "indexes": [...]}}, "rows", "bytes_raw", "bytes_stored", "ratio"}``.

        ``bytes_raw`` is the uncompressed JSON size of the values, ``bytes_stored``
        what the back-end stores; ``ratio`` = raw / stored.
        """
        import zlib

        tables: dict[str, Any] = {}
        total_raw = total_stored = total_rows = 0
        for name in self.tables():
            raw = stored = rows = compressed = 0
            for _, (codec, data) in self.backend.items(name):
                rows += 1
                size = len(data.encode("utf-8")) if isinstance(data, str) else len(data)
                stored += size
                if codec == CODEC_ZLIB_JSON:
                    compressed += 1
                    try:
                        raw += len(zlib.decompress(bytes(data)))
                    except zlib.error:
                        raw += size
                else:
                    raw += size
            tables[name] = {"rows": rows, "bytes_raw": raw, "bytes_stored": stored, "compressed_rows": compressed,
                            "ratio": round(raw / stored, 3) if stored else 1.0,
                            "indexes": self.backend.indexes(name)}
            total_raw += raw
            total_stored += stored
            total_rows += rows
        return {"backend": self.backend.name, "tables": tables, "rows": total_rows, "bytes_raw": total_raw,
                "bytes_stored": total_stored, "ratio": round(total_raw / total_stored, 3) if total_stored else 1.0}

    # ---------------------------------------------------------- export/import
    def export_data(self) -> dict[str, Any]:
        """The whole database as a portable document (see :mod:`hypelua.storage._transfer`)."""
        from ._transfer import export_database

        return export_database(self)

    def export_to(self, path: str | Path) -> int:
        """Write the export document to ``path`` (JSON); returns its size in bytes."""
        from ._transfer import write_export

        return write_export(self, path)

    def import_data(self, doc: Any, *, trust_bytecode: bool = False, replace: bool = False) -> dict[str, Any]:
        """Import an export document (or JSON text / a path) atomically.  See ``_transfer.import_database``."""
        from ._transfer import import_database

        if isinstance(doc, Path):
            doc = doc.read_text("utf-8")
        return import_database(self, doc, trust_bytecode=trust_bytecode, replace=replace)

    # ----------------------------------------------------------- durability
    def commit(self) -> None:
        """Make writes so far durable (synchronously where the back-end can)."""
        self._uncommitted = 0
        self.backend.commit()

    def rollback(self) -> None:
        """Drop writes since the last commit."""
        self._uncommitted = 0
        self.backend.rollback()
        self._schemas.clear()
        for listener in self.listeners:
            listener(None, None)

    async def flush(self) -> None:
        """Commit and wait until the writes are durable (IndexedDB transaction complete)."""
        await self.backend.flush()

    def close(self) -> None:
        """Commit and close; later calls raise ``DATABASE_CLOSED``."""
        self.backend.close()


def _kind(value: Any) -> str:
    if isinstance(value, PersistedFunction):
        return "function"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, (str, bytes)):
        return "string"
    return "table"


def _preview(value: Any, limit: int = 80) -> str:
    if isinstance(value, PersistedFunction):
        if value.cfunction:
            return value.cfunction
        text = value.source or f"<bytecode {len(value.bytecode or b'')} bytes>"
    else:
        text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
