"""IndexedDB back-end (browser, under Pyodide).

The working set lives in memory (a :class:`MemoryBackend` mirror loaded at
open); committed writes are queued and :meth:`IndexedDBBackend.flush` writes
them as ONE journal record in ONE IndexedDB readwrite transaction through the
JavaScript bridge ``web/src/idb.mjs`` — a 1000-operation batch costs one
IndexedDB record, not 1000; while it commits, the index entries the batches
left pending are merged (:meth:`MemoryBackend.merge_pending`).  The bridge
folds journal records into the ``rows`` store later (compaction, idle time,
crash-safe).  Bridge methods used here (all async):

* ``open(name)``
* ``loadColumns()`` -> ``{tables, keys, codecs, datas}`` (rows with the journal replayed)
* ``loadMeta()`` -> array of ``{key, value}`` (every meta entry: HMAC key,
  ``indexes:<table>``, ``schema:<table>``, ...)
* ``commitColumns(tables, keys, codecs, datas, metaKeys, metaValues)``
  (codec ``-1`` = delete; resolves on ``complete``, rejects on error/abort)
* ``commitJson(text)``: the same six columns as one JSON array text, passed as
  UTF-8 bytes (used when every data is a string: one buffer crosses the FFI
  instead of four lists)
* ``compact()`` -> ``{entries, ops}``

Only this module touches Pyodide's FFI, so it is imported only in the browser
(or under Pyodide in Node with ``fake-indexeddb``).
"""

from __future__ import annotations

import contextlib
from typing import Any

from ..._errors import DatabaseError, HypeError
from .._codec import Key, Record, _dumps, decode_record
from .memory import MemoryBackend

#: codec value the bridge reads as "delete"
DELETE = -1
#: record data types that fit in a JSON text (bytes of compressed records do not)
_TEXT_TYPES = frozenset((str, type(None)))

#: per table: key -> record, or None for a delete
_Pending = dict[str, dict[Key, Record | None]]


def _merge(into: _Pending, newer: _Pending) -> None:
    """Fold ``newer`` writes into ``into`` (newer wins per key)."""
    for table, writes in newer.items():
        if table in into:
            into[table].update(writes)
        else:
            into[table] = writes


def _js_error(exc: BaseException, what: str) -> DatabaseError:
    return DatabaseError(
        f"IndexedDB {what} failed: {exc}",
        code="INDEXEDDB_ERROR",
        suggestion="Check the browser's storage quota and that the page is not in a private window.",
    )


class IndexedDBBackend(MemoryBackend):
    """Memory mirror + write-behind journal flushed to IndexedDB.

    Create with ``await IndexedDBBackend.open(bridge, name)``.
    """

    name = "indexeddb"

    def __init__(self, bridge: Any, db_name: str) -> None:
        super().__init__()
        self._bridge = bridge
        self.db_name = db_name
        #: writes since the last commit: (table, key) -> record, or None for a delete
        self._dirty: _Pending = {}
        #: committed writes not yet durable
        self._queued: _Pending = {}
        self._meta_dirty: dict[str, str] = {}
        self._meta_queued: dict[str, str] = {}

    @classmethod
    async def open(cls, bridge: Any, db_name: str) -> IndexedDBBackend:
        """Open (creating or upgrading if needed) IndexedDB database ``hypelua:<db_name>`` and load it.

        Every meta entry is loaded, so the index definitions (``indexes:<table>``)
        and schemas (``schema:<table>``) of every table are there, also of tables
        without rows.

        Raises:
            DatabaseError: ``INDEXEDDB_ERROR`` if IndexedDB refuses, ``DATABASE_CORRUPT``
                if a stored row is malformed.
        """
        self = cls(bridge, db_name)
        try:
            await bridge.open(db_name)
            cols = await bridge.loadColumns()
            meta = await bridge.loadMeta()
            tables = cols.tables.to_py()
            keys = cols.keys.to_py()
            codecs = cols.codecs.to_py()
            datas = cols.datas.to_py()
            meta_entries = [(str(m.key), m.value) for m in meta]
        except Exception as exc:
            raise _js_error(exc, "open") from exc
        for key, value in meta_entries:
            self._meta[key] = value if isinstance(value, str) else str(value)
        for i, table in enumerate(tables):
            try:
                table = str(table)
                key = keys[i]
                if isinstance(key, float) and key.is_integer():
                    key = int(key)
                if not isinstance(key, (int, str)):
                    raise TypeError(f"bad key {key!r}")
                codec = int(codecs[i])
                data = datas[i]
                if not isinstance(data, str):
                    data = bytes(data)  # Uint8Array -> memoryview -> bytes
            except Exception as exc:
                raise DatabaseError(
                    f"corrupt row in IndexedDB database {db_name!r}: {exc}", code="DATABASE_CORRUPT"
                ) from exc
            self.create_table(table)
            self._tables[table][key] = (codec, data)
            # a corrupt row stays out of the indices; get() reports it as a typed error
            with contextlib.suppress(DatabaseError):
                self._docs[table].put(key, decode_record((codec, data)))
        self.restore_indexes()
        self._undo.clear()
        return self

    # ----------------------------------------- writes: mirror + uncommitted set
    def set_meta(self, key: str, value: str) -> None:
        super().set_meta(key, value)
        self._meta_dirty[key] = value

    def _dirty_of(self, table: str) -> dict[Key, Record | None]:
        dirty = self._dirty.get(table)
        if dirty is None:
            dirty = self._dirty[table] = {}
        return dirty

    def put(self, table: str, key: Key, record: Record, value: Any = None) -> None:
        super().put(table, key, record, value)
        self._dirty_of(table)[key] = record

    def put_many(self, table: str, items: list[tuple[Key, Record, Any]]) -> None:
        try:
            super().put_many(table, items)
        except HypeError as exc:
            # rows before the failing one may be in the mirror: keep the dirty set in step
            # (the caller's transaction rolls back, which clears both)
            done = items[: int(exc.details.get("position", len(items)))]
            self._dirty_of(table).update((key, record) for key, record, _ in done)
            raise
        self._dirty_of(table).update([(key, record) for key, record, _ in items])

    def delete(self, table: str, key: Key) -> bool:
        existed = super().delete(table, key)
        if existed:
            self._dirty_of(table)[key] = None
        return existed

    def drop_table(self, table: str) -> None:
        for key, _ in list(self.items(table)):
            self.delete(table, key)
        super().drop_table(table)

    def commit(self) -> None:
        super().commit()
        if self._dirty:
            _merge(self._queued, self._dirty)
            self._dirty = {}
        if self._meta_dirty:
            self._meta_queued.update(self._meta_dirty)
            self._meta_dirty = {}

    def rollback(self) -> None:
        super().rollback()
        self._dirty = {}
        self._meta_dirty = {}

    @property
    def pending(self) -> int:
        """Number of committed writes not yet written to IndexedDB."""
        return sum(map(len, self._queued.values())) + len(self._meta_queued)

    async def flush(self) -> None:
        """Commit, then write every queued write as ONE journal record (one IndexedDB transaction).

        On failure the writes stay queued (a later flush retries them; newer
        writes of the same keys win) and :class:`DatabaseError` is raised.
        """
        self.commit()
        if not self._queued and not self._meta_queued:
            return
        from pyodide.ffi import to_js  # only available under Pyodide

        ops, meta = self._queued, self._meta_queued
        self._queued, self._meta_queued = {}, {}
        tables: list[str] = []
        keys: list[Key] = []
        codecs: list[int] = []
        datas: list[str | bytes | None] = []
        for table, writes in ops.items():
            records = list(writes.values())
            tables.extend([table] * len(records))
            keys.extend(writes)
            codecs.extend([DELETE if r is None else r[0] for r in records])
            datas.extend([None if r is None else r[1] for r in records])
        text_only = _TEXT_TYPES.issuperset(map(type, datas))
        try:
            if text_only:  # one JSON string crosses to JS: far cheaper than converting four lists
                # as UTF-8 bytes: converting a long str into a JS string costs far more than a memcpy
                text = _dumps([tables, keys, codecs, datas, list(meta), list(meta.values())])
                try:
                    payload: Any = to_js(text.encode("utf-8"))
                except UnicodeEncodeError:  # a lone surrogate (from Lua bytes): a JS string holds it
                    payload = text
                committing = self._bridge.commitJson(payload)
            else:  # compressed (bytes) records go as Uint8Array
                committing = self._bridge.commitColumns(
                    to_js(tables), to_js(keys), to_js(codecs), to_js(datas), to_js(list(meta)),
                    to_js(list(meta.values()))
                )
            # the IndexedDB transaction is under way (a JS async function runs up to its
            # first await): merge the batches' pending index entries while it commits,
            # so the next read finds the indices up to date (the key order waits for a
            # read in key order)
            try:
                self.merge_pending(key_order=False)
            finally:
                await committing
        except Exception as exc:
            _merge(ops, self._queued)
            meta.update(self._meta_queued)
            self._queued, self._meta_queued = ops, meta
            raise _js_error(exc, "commit") from exc

    async def compact(self) -> dict[str, int]:
        """Flush, then fold the whole IndexedDB journal into the ``rows`` store now.

        Returns ``{"entries", "ops"}`` folded.  Raises :class:`DatabaseError` ``INDEXEDDB_ERROR``.
        """
        await self.flush()
        try:
            done = await self._bridge.compact()
            return {"entries": int(done.entries), "ops": int(done.ops)}
        except Exception as exc:
            raise _js_error(exc, "compaction") from exc

    def close(self) -> None:
        super().close()
