"""IndexedDB back-end (browser, under Pyodide).

The working set lives in memory (a :class:`MemoryBackend` mirror loaded at
open); committed writes are queued and :meth:`IndexedDBBackend.flush` writes
them in ONE IndexedDB readwrite transaction through the JavaScript bridge
``web/src/idb.mjs``.  The bridge object has async methods:

* ``open(name)``; ``loadAll()`` -> array of ``{table, key, codec, data}``
* ``commit(ops)`` with ops ``{op: "put"|"delete", table, key, codec, data}``
  (one transaction; resolves on ``complete``, rejects on error/abort)
* ``getMeta(key)`` -> string or null; ``setMeta(key, value)``

Only this module touches Pyodide's FFI, so it is imported only in the browser
(or under Pyodide in Node with ``fake-indexeddb``).
"""

from __future__ import annotations

import contextlib
from typing import Any

from ..._errors import DatabaseError
from .._codec import Key, Record, decode_record
from .memory import MemoryBackend

#: meta keys read at open time (get_meta is synchronous)
PRELOADED_META = ("hmac_key", "format")


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
        self._uncommitted: list[dict[str, Any]] = []
        self._queued: list[dict[str, Any]] = []
        self._meta_uncommitted: dict[str, str] = {}
        self._meta_queued: dict[str, str] = {}

    @classmethod
    async def open(cls, bridge: Any, db_name: str) -> IndexedDBBackend:
        """Open (creating if needed) IndexedDB database ``hypelua:<db_name>`` and load it.

        Raises:
            DatabaseError: ``INDEXEDDB_ERROR`` if IndexedDB refuses, ``DATABASE_CORRUPT``
                if a stored row is malformed.
        """
        self = cls(bridge, db_name)
        try:
            await bridge.open(db_name)
            rows = await bridge.loadAll()
            for key in PRELOADED_META:
                value = await bridge.getMeta(key)
                if value is not None:
                    self._meta[key] = str(value)
        except Exception as exc:
            raise _js_error(exc, "open") from exc
        for row in rows:
            try:
                table = str(row.table)
                key = row.key
                if isinstance(key, float) and key.is_integer():
                    key = int(key)
                codec = int(row.codec)
                data = row.data
                if not isinstance(data, str):
                    data = data.to_bytes()
            except Exception as exc:
                raise DatabaseError(
                    f"corrupt row in IndexedDB database {db_name!r}: {exc}", code="DATABASE_CORRUPT"
                ) from exc
            self.create_table(table)
            self._tables[table][key] = (codec, data)
            # a corrupt row stays out of the indices; get() reports it as a typed error
            with contextlib.suppress(DatabaseError):
                self._docs[table].put(key, decode_record((codec, data)))
        try:
            for table in list(self._tables):
                for prefix in ("indexes:", "schema:"):
                    value = await bridge.getMeta(prefix + table)
                    if value is not None:
                        self._meta[prefix + table] = str(value)
        except Exception as exc:
            raise _js_error(exc, "open") from exc
        self.restore_indexes()
        self._undo.clear()
        return self

    # writes go to the mirror and to the uncommitted journal
    def set_meta(self, key: str, value: str) -> None:
        super().set_meta(key, value)
        self._meta_uncommitted[key] = value

    def put(self, table: str, key: Key, record: Record, value: Any = None) -> None:
        super().put(table, key, record, value)
        self._uncommitted.append(
            {"op": "put", "table": table, "key": key, "codec": record[0], "data": record[1]}
        )

    def delete(self, table: str, key: Key) -> bool:
        existed = super().delete(table, key)
        if existed:
            self._uncommitted.append({"op": "delete", "table": table, "key": key})
        return existed

    def drop_table(self, table: str) -> None:
        for key, _ in list(self.items(table)):
            self.delete(table, key)
        super().drop_table(table)

    def commit(self) -> None:
        super().commit()
        self._queued.extend(self._uncommitted)
        self._uncommitted.clear()
        self._meta_queued.update(self._meta_uncommitted)
        self._meta_uncommitted.clear()

    def rollback(self) -> None:
        super().rollback()
        self._uncommitted.clear()
        self._meta_uncommitted.clear()

    @property
    def pending(self) -> int:
        """Number of committed operations not yet written to IndexedDB."""
        return len(self._queued) + len(self._meta_queued)

    async def flush(self) -> None:
        """Commit, then write every queued operation in one IndexedDB transaction.

        On failure the operations stay queued (a later flush retries them) and
        :class:`DatabaseError` is raised.
        """
        self.commit()
        if not self._queued and not self._meta_queued:
            return
        import js
        from pyodide.ffi import to_js  # only available under Pyodide

        ops, meta = self._queued, self._meta_queued
        self._queued, self._meta_queued = [], {}
        try:
            for key, value in meta.items():
                await self._bridge.setMeta(key, value)
            if ops:
                await self._bridge.commit(to_js(ops, dict_converter=js.Object.fromEntries))
        except Exception as exc:
            self._queued = ops + self._queued
            self._meta_queued = {**meta, **self._meta_queued}
            raise _js_error(exc, "commit") from exc

    def close(self) -> None:
        super().close()
