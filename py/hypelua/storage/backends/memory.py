"""In-memory back-end (``":memory:"``): records, decoded documents and B-tree indices.

Query results are decoded afresh from the records, so callers may mutate them.
The working set is kept twice: the stored records ``(codec, data)`` (what the
IndexedDB back-end persists) and the decoded documents in
:class:`~hypelua.storage._memindex.TableIndexes` (what queries and indices read).
Every write is journalled so :meth:`MemoryBackend.rollback` restores records,
documents, indices, index definitions and meta exactly.  Index definitions are
kept in the meta entry ``indexes:<table>`` (JSON list of ``{name, fields, unique}``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ..._errors import DatabaseError
from .._codec import CODEC_JSON, Key, Record, decode_record
from .._memindex import TableIndexes
from .._query import Query
from ._base import StorageBackend, sort_key

_MISSING = object()


class MemoryBackend(StorageBackend):
    """Records in Python dicts, documents in B-tree indices; :meth:`rollback` undoes writes since the last commit."""

    name = "memory"

    def __init__(self) -> None:
        self._tables: dict[str, dict[Key, Record]] = {}
        self._docs: dict[str, TableIndexes] = {}
        self._meta: dict[str, str] = {}
        self._undo: list[tuple[Any, ...]] = []
        self._closed = False

    def _check(self) -> None:
        if self._closed:
            raise DatabaseError("the database is closed", code="DATABASE_CLOSED",
                                suggestion="Open the database again.")

    # ------------------------------------------------------------------ meta
    def get_meta(self, key: str) -> str | None:
        self._check()
        return self._meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        self._check()
        self._undo.append(("meta", key, self._meta.get(key, _MISSING)))
        self._meta[key] = value

    # ---------------------------------------------------------------- tables
    def tables(self) -> list[str]:
        self._check()
        return sorted(self._tables)

    def create_table(self, table: str) -> None:
        self._check()
        if table not in self._tables:
            self._undo.append(("create", table))
            self._tables[table] = {}
            self._docs[table] = TableIndexes()

    def drop_table(self, table: str) -> None:
        self._check()
        if table in self._tables:
            self._undo.append(("drop", table, self._tables.pop(table), self._docs.pop(table)))

    # ------------------------------------------------------------------ rows
    def get(self, table: str, key: Key) -> Record | None:
        self._check()
        rows = self._tables.get(table)
        return None if rows is None else rows.get(key)

    def put(self, table: str, key: Key, record: Record, value: Any = None) -> None:
        self.create_table(table)
        # ``value`` is given only when the caller hands it over; otherwise decode a
        # copy: mutating a value after set() must not change the stored document
        # behind its indices' back
        doc = decode_record(record) if value is None else value
        previous_doc = self._docs[table].put(key, doc)  # UniqueViolation: nothing changed
        rows = self._tables[table]
        self._undo.append(("row", table, key, rows.get(key, _MISSING), previous_doc))
        rows[key] = record

    def put_many(self, table: str, items: list[tuple[Key, Record, Any]]) -> None:
        """Like :meth:`put` of each row; the indices take the whole group at once
        (row by row when the table has a unique index, so a violation names its row)."""
        self.create_table(table)
        docs = self._docs[table]
        if docs.has_unique or len(items) < 8:
            super().put_many(table, items)
            return
        keys = [item[0] for item in items]
        records = [item[1] for item in items]
        # our encoder writes every map that is not addressable as {"$map": ...}:
        # without '"$' in the text, every map inside is a plain JSON object
        plain = [r[0] == CODEC_JSON and type(r[1]) is str and '"$' not in r[1] for r in records]
        previous = docs.put_many([(k, decode_record(r) if v is None else v) for k, r, v in items], plain)
        rows = self._tables[table]
        # one undo entry for the group; undone newest first, a key written twice
        # ends at its state before the group
        self._undo.append(("rows", table, keys, [rows.get(k, _MISSING) for k in keys], previous))
        rows.update(zip(keys, records, strict=True))

    def merge_pending(self, key_order: bool = True) -> None:
        """Merge the index entries batches left pending (see ``TableIndexes``) in every
        table now; the key order too unless ``key_order`` is false."""
        for docs in self._docs.values():
            docs.merge_pending(key_order)

    def delete(self, table: str, key: Key) -> bool:
        self._check()
        rows = self._tables.get(table)
        if rows is None or key not in rows:
            return False
        previous_doc = self._docs[table].pop(key)
        self._undo.append(("row", table, key, rows.pop(key), previous_doc))
        return True

    def items(self, table: str) -> Iterator[tuple[Key, Record]]:
        self._check()
        rows = self._tables.get(table, {})
        for key in sorted(rows, key=sort_key):
            yield key, rows[key]

    def count(self, table: str) -> int:
        self._check()
        return len(self._tables.get(table, {}))

    # --------------------------------------------------------------- indices
    def _save_index_defs(self, table: str) -> None:
        defs = [{k: d[k] for k in ("name", "fields", "unique")} for d in self._docs[table].indexes()]
        self.set_meta("indexes:" + table, json.dumps(defs, separators=(",", ":")))

    def create_index(self, table: str, name: str, fields: tuple[str, ...], unique: bool = False) -> None:
        self.create_table(table)
        self._docs[table].create_index(name, fields, unique)
        self._undo.append(("index", table, name, None))
        self._save_index_defs(table)

    def drop_index(self, table: str, name: str) -> bool:
        self._check()
        docs = self._docs.get(table)
        if docs is None:
            return False
        definition = docs.index_definition(name)
        if definition is None:
            return False
        docs.drop_index(name)
        self._undo.append(("index", table, name, definition))
        self._save_index_defs(table)
        return True

    def indexes(self, table: str) -> list[dict[str, Any]]:
        self._check()
        docs = self._docs.get(table)
        return [] if docs is None else docs.indexes()

    def restore_indexes(self) -> None:
        """Re-create the indices recorded in meta (after loading rows, e.g. from IndexedDB)."""
        for meta_key, text in list(self._meta.items()):
            if not meta_key.startswith("indexes:"):
                continue
            table = meta_key[len("indexes:"):]
            self.create_table(table)
            for d in json.loads(text):
                if self._docs[table].index_definition(d["name"]) is None:
                    self._docs[table].create_index(d["name"], tuple(d["fields"]), bool(d["unique"]))
        self._undo.clear()

    # --------------------------------------------------------------- queries
    def query(self, query: Query) -> tuple[list[tuple[Key, Any]], str | None]:
        rows, cursor = self.query_records(query)
        # fresh values from the records: callers may mutate what they get
        return [(key, decode_record(record)) for key, record in rows], cursor

    def query_records(self, query: Query) -> tuple[list[tuple[Key, Record]], str | None]:
        """Rows as their stored records (no decoding): every row that is in the
        indices was decoded once when it was written or loaded."""
        self._check()
        docs = self._docs.get(query.table)
        if docs is None:
            return [], None
        page, cursor = docs.execute(query)
        rows = self._tables[query.table]
        return [(key, rows[key]) for key, _ in page], cursor

    def explain(self, query: Query) -> dict[str, Any]:
        self._check()
        docs = self._docs.get(query.table)
        if docs is None:
            return {"plan": "full_scan", "index": None, "detail": ["no such table"]}
        return docs.explain(query)

    # ----------------------------------------------------------- durability
    def commit(self) -> None:
        self._check()
        self._undo.clear()

    def rollback(self) -> None:
        self._check()
        for entry in reversed(self._undo):
            kind = entry[0]
            if kind == "meta":
                _, key, old = entry
                if old is _MISSING:
                    self._meta.pop(key, None)
                else:
                    self._meta[key] = old
            elif kind == "create":
                self._tables.pop(entry[1], None)
                self._docs.pop(entry[1], None)
            elif kind == "drop":
                _, table, rows, docs = entry
                self._tables[table], self._docs[table] = rows, docs
            elif kind == "index":
                _, table, name, definition = entry
                docs = self._docs[table]
                if definition is None:
                    docs.drop_index(name)
                else:
                    docs.create_index(name, tuple(definition["fields"]), bool(definition["unique"]))
            elif kind == "rows":
                _, table, keys, old_records, old_docs = entry
                for i in range(len(keys) - 1, -1, -1):
                    self._restore_row(table, keys[i], old_records[i], old_docs[i])
            else:
                self._restore_row(*entry[1:])
        self._undo.clear()

    def _restore_row(self, table: str, key: Key, old_record: Any, old_doc: Any) -> None:
        """Undo one row write: its record (``_MISSING``: absent) and its document."""
        rows = self._tables[table]
        if old_record is _MISSING:
            rows.pop(key, None)
        else:
            rows[key] = old_record
        self._docs[table].restore(key, old_doc)

    def close(self) -> None:
        self._closed = True
