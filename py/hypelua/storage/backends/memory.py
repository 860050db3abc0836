"""In-memory back-end (``":memory:"``): dicts, with a transaction journal."""

from __future__ import annotations

from collections.abc import Iterator

from ..._errors import DatabaseError
from .._codec import Key, Record
from ._base import StorageBackend, sort_key

_MISSING = object()


class MemoryBackend(StorageBackend):
    """Records in Python dicts; :meth:`rollback` undoes writes since the last commit."""

    name = "memory"

    def __init__(self) -> None:
        self._tables: dict[str, dict[Key, Record]] = {}
        self._meta: dict[str, str] = {}
        self._undo: list[tuple[str, str, object, object]] = []
        self._closed = False

    def _check(self) -> None:
        if self._closed:
            raise DatabaseError("the database is closed", code="DATABASE_CLOSED")

    def get_meta(self, key: str) -> str | None:
        self._check()
        return self._meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        self._check()
        self._undo.append(("meta", key, self._meta.get(key, _MISSING), None))
        self._meta[key] = value

    def tables(self) -> list[str]:
        self._check()
        return sorted(self._tables)

    def create_table(self, table: str) -> None:
        self._check()
        if table not in self._tables:
            self._undo.append(("create", table, None, None))
            self._tables[table] = {}

    def drop_table(self, table: str) -> None:
        self._check()
        if table in self._tables:
            self._undo.append(("drop", table, self._tables.pop(table), None))

    def get(self, table: str, key: Key) -> Record | None:
        self._check()
        return self._tables.get(table, {}).get(key)

    def put(self, table: str, key: Key, record: Record) -> None:
        self.create_table(table)
        rows = self._tables[table]
        self._undo.append(("row", table, key, rows.get(key, _MISSING)))
        rows[key] = record

    def delete(self, table: str, key: Key) -> bool:
        self._check()
        rows = self._tables.get(table)
        if rows is None or key not in rows:
            return False
        self._undo.append(("row", table, key, rows.pop(key)))
        return True

    def items(self, table: str) -> Iterator[tuple[Key, Record]]:
        self._check()
        rows = self._tables.get(table, {})
        for key in sorted(rows, key=sort_key):
            yield key, rows[key]

    def count(self, table: str) -> int:
        self._check()
        return len(self._tables.get(table, {}))

    def commit(self) -> None:
        self._check()
        self._undo.clear()

    def rollback(self) -> None:
        self._check()
        for kind, name, a, b in reversed(self._undo):
            if kind == "meta":
                if a is _MISSING:
                    self._meta.pop(name, None)
                else:
                    self._meta[name] = a  # type: ignore[assignment]
            elif kind == "create":
                self._tables.pop(name, None)
            elif kind == "drop":
                self._tables[name] = a  # type: ignore[assignment]
            else:
                rows = self._tables.setdefault(name, {})
                if b is _MISSING:
                    rows.pop(a, None)  # type: ignore[arg-type]
                else:
                    rows[a] = b  # type: ignore[index]
        self._undo.clear()

    def close(self) -> None:
        self._closed = True
