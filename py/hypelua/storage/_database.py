"""``Database`` and ``Table``: named key -> value tables over a storage back-end."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .._errors import DatabaseError, StorageError
from ._codec import CODEC_ZLIB_JSON, Key, PersistedFunction, decode_record, encode_record, normalize_key
from ._functions import sign, verify
from .backends._base import StorageBackend

MAX_TABLE_NAME = 128


def check_table_name(name: Any) -> str:
    """Validate an external table name (1..128 characters, no NUL).

    Raises:
        StorageError: ``BAD_TABLE_NAME``.
    """
    if not isinstance(name, str) or not name or len(name) > MAX_TABLE_NAME or "\0" in name:
        raise StorageError(
            f"invalid table name {name!r}",
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

    def __len__(self) -> int:
        return self.db.backend.count(self.name)

    def __repr__(self) -> str:
        return f"<Table {self.name!r} of {self.db!r}>"


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

    def set(self, table: str, key: Any, value: Any, *, compress: bool = False) -> None:
        """Store plain data (or :class:`PersistedFunction` values) under ``(table, key)``.

        ``None`` deletes the key (like assigning ``nil`` in Lua).  Functions are
        signed with the database's HMAC key.  The write is part of the current
        transaction: :meth:`commit` / :meth:`flush` make it durable.

        Raises:
            NotStorableError: unsupported value, cycle, bad key.
        """
        table = check_table_name(table)
        key = normalize_key(key)
        if value is None:
            self.backend.delete(table, key)
            return
        sign(self._hmac_key, value)
        record = encode_record(value, compress=compress, threshold=self.compress_threshold)
        self.backend.put(table, key, record)

    def delete(self, table: str, key: Any) -> bool:
        """Delete ``(table, key)``; returns whether it existed."""
        return self.backend.delete(check_table_name(table), normalize_key(key))

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

    # ----------------------------------------------------------- durability
    def commit(self) -> None:
        """Make writes so far durable (synchronously where the back-end can)."""
        self.backend.commit()

    def rollback(self) -> None:
        """Drop writes since the last commit."""
        self.backend.rollback()

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
