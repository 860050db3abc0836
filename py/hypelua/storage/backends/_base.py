"""The small interface every storage back-end implements.

A back-end stores records ``(codec, data)`` (see :mod:`hypelua.storage._codec`)
under ``(table, key)``, plus a few ``meta`` strings (the HMAC key, format
version).  Writes happen in an implicit transaction that :meth:`commit` makes
durable; :meth:`rollback` drops uncommitted writes.  Reads see uncommitted
writes of the same back-end object.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from typing import Any

from ..._errors import HypeError
from .._codec import Key, Record, encode_record
from .._query import Query


class StorageBackend(abc.ABC):
    """Abstract record store.  Every method may raise :class:`DatabaseError`."""

    #: short name ("memory", "sqlite", "indexeddb")
    name: str = "abstract"

    @abc.abstractmethod
    def get_meta(self, key: str) -> str | None:
        """Return the meta value stored under ``key`` or None."""

    @abc.abstractmethod
    def set_meta(self, key: str, value: str) -> None:
        """Store a meta value (part of the current transaction)."""

    @abc.abstractmethod
    def tables(self) -> list[str]:
        """Names of all tables, sorted."""

    @abc.abstractmethod
    def create_table(self, table: str) -> None:
        """Create ``table`` if it does not exist."""

    @abc.abstractmethod
    def drop_table(self, table: str) -> None:
        """Remove ``table`` and all its rows (no error if absent)."""

    @abc.abstractmethod
    def get(self, table: str, key: Key) -> Record | None:
        """The record under ``(table, key)`` or None."""

    @abc.abstractmethod
    def put(self, table: str, key: Key, record: Record, value: Any = None) -> None:
        """Insert or replace a record (creates the table if needed).

        ``value``, when given, is the decoded value handed over to the back-end (the
        caller will not use it again); in-memory back-ends keep it instead of
        decoding a copy of ``record``.
        Raises:
            UniqueViolation: the row would break a unique index (nothing written).
        """

    def put_many(self, table: str, items: list[tuple[Key, Record, Any]]) -> None:
        """Write many ``(key, record, value)`` rows of one table.

        Raises:
            UniqueViolation: with ``details["position"]``, the index in ``items`` of
                the offending row (earlier rows may have been written: the caller's
                transaction rolls back).
        """
        for position, (key, record, value) in enumerate(items):
            try:
                self.put(table, key, record, value)
            except HypeError as exc:
                exc.details["position"] = position
                raise

    @abc.abstractmethod
    def delete(self, table: str, key: Key) -> bool:
        """Delete a record; returns whether it existed."""

    @abc.abstractmethod
    def items(self, table: str) -> Iterator[tuple[Key, Record]]:
        """All ``(key, record)`` pairs of ``table`` (integer keys first, ascending, then strings)."""

    def count(self, table: str) -> int:
        """Number of rows in ``table``."""
        return sum(1 for _ in self.items(table))

    @abc.abstractmethod
    def create_index(self, table: str, name: str, fields: tuple[str, ...], unique: bool = False) -> None:
        """Create index ``name`` over dotted ``fields``.  Raises :class:`UniqueViolation`."""

    @abc.abstractmethod
    def drop_index(self, table: str, name: str) -> bool:
        """Drop an index; returns whether it existed."""

    @abc.abstractmethod
    def indexes(self, table: str) -> list[dict[str, Any]]:
        """``[{"name", "fields", "unique", ...}]`` sorted by name."""

    @abc.abstractmethod
    def query(self, query: Query) -> tuple[list[tuple[Key, Any]], str | None]:
        """Execute a query: decoded ``(key, value)`` rows and the next page's cursor (or None).

        Must give exactly :func:`hypelua.storage._query.reference_execute`'s result.
        """

    def query_records(self, query: Query) -> tuple[list[tuple[Key, Record]], str | None]:
        """Like :meth:`query`, with each row's stored record ``(codec, data)`` instead of its value.

        Every record returned decodes (a corrupt row raises :class:`DatabaseError`
        instead).  The default re-encodes the decoded values; back-ends that keep
        verified records at hand return them as stored.
        """
        rows, cursor = self.query(query)
        return [(key, encode_record(value, threshold=None)) for key, value in rows], cursor

    @abc.abstractmethod
    def explain(self, query: Query) -> dict[str, Any]:
        """``{"plan": "index" | "full_scan", "index": name | None, ...}``."""

    def begin(self) -> None:
        """Start an explicit transaction: from here until :meth:`commit` / :meth:`rollback`,
        reads and writes are isolated from other processes sharing the store (SQLite:
        ``BEGIN IMMEDIATE``, taking the write lock now so a read-modify-write cannot
        lose another process's update).  Single-process back-ends need nothing (default).

        Raises:
            DatabaseError: ``DATABASE_BUSY`` (the lock was not granted in time), ...
        """
        return None

    @abc.abstractmethod
    def commit(self) -> None:
        """Make the writes so far durable (SQLite: COMMIT; IndexedDB: queue a flush)."""

    @abc.abstractmethod
    def rollback(self) -> None:
        """Drop writes not yet committed."""

    async def flush(self) -> None:
        """Wait until committed writes are durable (default: :meth:`commit`)."""
        self.commit()

    @abc.abstractmethod
    def close(self) -> None:
        """Commit and release the store; later calls raise :class:`DatabaseError`."""


def sort_key(key: Key) -> tuple[int, int | str]:
    """Order used by :meth:`StorageBackend.items`: integers, then strings."""
    return (0, key) if type(key) is int else (1, key)  # type: ignore[return-value]
