"""SQLite back-end (native): one real SQL table per external table, WAL, durable commits.

Schema (format version 1)::

    _hype_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)
    _hype_tables(name TEXT PRIMARY KEY, sql_name TEXT NOT NULL UNIQUE)
    "<sql_name>"(key PRIMARY KEY, codec INTEGER NOT NULL, data NOT NULL) WITHOUT ROWID

``key`` has no declared type, so SQLite keeps integer ``1`` and text ``'1'``
distinct and orders integers before text.  ``data`` is JSON text (codec 0) or
a zlib BLOB (codec 1).  Writes run in one ``BEGIN IMMEDIATE`` transaction
opened by the first write and ended by :meth:`SQLiteBackend.commit`, with
``journal_mode=WAL`` and ``synchronous=FULL`` so a commit that returned
survives a crash or power loss, and other processes see only committed data.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from ..._errors import DatabaseError
from .._codec import Key, Record
from ._base import StorageBackend

FORMAT_VERSION = "1"


def _sql_name(table: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_]", "_", table)[:40]
    digest = hashlib.sha1(table.encode("utf-8")).hexdigest()[:8]
    return f"hx_{slug}_{digest}"


def _wrap(exc: sqlite3.Error, path: str) -> DatabaseError:
    text = str(exc)
    if isinstance(exc, sqlite3.DatabaseError) and (
        "not a database" in text or "malformed" in text or "corrupt" in text
    ):
        return DatabaseError(
            f"the database file is corrupt or not a hypelua database: {text}",
            code="DATABASE_CORRUPT",
            details={"path": path},
            suggestion="Restore the file from a backup, or point --database at a new file.",
        )
    if "locked" in text or "busy" in text:
        return DatabaseError(
            f"the database is locked by another process: {text}",
            code="DATABASE_BUSY",
            details={"path": path},
            suggestion="Retry; another process holds a long write transaction.",
        )
    return DatabaseError(f"SQLite error: {text}", details={"path": path})


class SQLiteBackend(StorageBackend):
    """Record store in an SQLite file (or ``":memory:"``).

    Args:
        path: file path; parent directories must exist.
        timeout: seconds to wait for another process's write lock.
    Raises:
        DatabaseError: ``DATABASE_CORRUPT`` if the file is not a usable database.
    """

    name = "sqlite"

    def __init__(self, path: str | Path, *, timeout: float = 5.0) -> None:
        self.path = str(path)
        try:
            self._db: sqlite3.Connection | None = sqlite3.connect(
                self.path, isolation_level=None, timeout=timeout, check_same_thread=False
            )
            db = self._db
            if self.path != ":memory:":
                db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("BEGIN IMMEDIATE")
            db.execute("CREATE TABLE IF NOT EXISTS _hype_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            db.execute(
                "CREATE TABLE IF NOT EXISTS _hype_tables (name TEXT PRIMARY KEY, sql_name TEXT NOT NULL UNIQUE)"
            )
            row = db.execute("SELECT value FROM _hype_meta WHERE key='format'").fetchone()
            if row is None:
                db.execute("INSERT INTO _hype_meta VALUES ('format', ?)", (FORMAT_VERSION,))
            elif row[0] != FORMAT_VERSION:
                db.execute("ROLLBACK")
                raise DatabaseError(
                    f"unsupported database format {row[0]!r} (this hypelua reads {FORMAT_VERSION!r})",
                    code="DATABASE_FORMAT",
                    details={"path": self.path, "format": row[0]},
                    suggestion="Open it with the hypelua version that wrote it, or export and re-import.",
                )
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _wrap(exc, self.path) from exc
        self._names: dict[str, str] = {}
        self._in_tx = False

    # ---------------------------------------------------------------- helpers
    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise DatabaseError("the database is closed", code="DATABASE_CLOSED",
                                details={"path": self.path}, suggestion="Open the database again.")
        return self._db

    def _write(self) -> sqlite3.Connection:
        conn = self._conn
        if not self._in_tx:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _wrap(exc, self.path) from exc
            self._in_tx = True
        return conn

    def _table_sql(self, table: str, create: bool = False) -> str | None:
        name = self._names.get(table)
        if name is not None:
            return name
        try:
            row = self._conn.execute("SELECT sql_name FROM _hype_tables WHERE name=?", (table,)).fetchone()
        except sqlite3.Error as exc:
            raise _wrap(exc, self.path) from exc
        if row is not None:
            self._names[table] = row[0]
            return row[0]
        if not create:
            return None
        name = _sql_name(table)
        conn = self._write()
        try:
            conn.execute(
                f'CREATE TABLE IF NOT EXISTS "{name}" '
                "(key NOT NULL PRIMARY KEY, codec INTEGER NOT NULL, data NOT NULL) WITHOUT ROWID"
            )
            conn.execute("INSERT INTO _hype_tables VALUES (?, ?)", (table, name))
        except sqlite3.Error as exc:
            raise _wrap(exc, self.path) from exc
        self._names[table] = name
        return name

    # -------------------------------------------------------------- interface
    def get_meta(self, key: str) -> str | None:
        try:
            row = self._conn.execute("SELECT value FROM _hype_meta WHERE key=?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise _wrap(exc, self.path) from exc
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        try:
            self._write().execute("INSERT OR REPLACE INTO _hype_meta VALUES (?, ?)", (key, value))
        except sqlite3.Error as exc:
            raise _wrap(exc, self.path) from exc

    def tables(self) -> list[str]:
        try:
            return [r[0] for r in self._conn.execute("SELECT name FROM _hype_tables ORDER BY name")]
        except sqlite3.Error as exc:
            raise _wrap(exc, self.path) from exc

    def create_table(self, table: str) -> None:
        self._table_sql(table, create=True)

    def drop_table(self, table: str) -> None:
        name = self._table_sql(table)
        if name is None:
            return
        conn = self._write()
        try:
            conn.execute(f'DROP TABLE IF EXISTS "{name}"')
            conn.execute("DELETE FROM _hype_tables WHERE name=?", (table,))
        except sqlite3.Error as exc:
            raise _wrap(exc, self.path) from exc
        self._names.pop(table, None)

    def get(self, table: str, key: Key) -> Record | None:
        name = self._table_sql(table)
        if name is None:
            return None
        try:
            row = self._conn.execute(f'SELECT codec, data FROM "{name}" WHERE key=?', (key,)).fetchone()
        except sqlite3.Error as exc:
            raise _wrap(exc, self.path) from exc
        return None if row is None else (row[0], row[1])

    def put(self, table: str, key: Key, record: Record) -> None:
        name = self._table_sql(table, create=True)
        try:
            self._write().execute(
                f'INSERT OR REPLACE INTO "{name}" (key, codec, data) VALUES (?, ?, ?)',
                (key, record[0], record[1]),
            )
        except sqlite3.Error as exc:
            raise _wrap(exc, self.path) from exc

    def delete(self, table: str, key: Key) -> bool:
        name = self._table_sql(table)
        if name is None:
            return False
        try:
            cur = self._write().execute(f'DELETE FROM "{name}" WHERE key=?', (key,))
        except sqlite3.Error as exc:
            raise _wrap(exc, self.path) from exc
        return cur.rowcount > 0

    def items(self, table: str) -> Iterator[tuple[Key, Record]]:
        name = self._table_sql(table)
        if name is None:
            return
        try:
            rows = self._conn.execute(f'SELECT key, codec, data FROM "{name}" ORDER BY key').fetchall()
        except sqlite3.Error as exc:
            raise _wrap(exc, self.path) from exc
        for key, codec, data in rows:
            yield key, (codec, data)

    def count(self, table: str) -> int:
        name = self._table_sql(table)
        if name is None:
            return 0
        try:
            return int(self._conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])
        except sqlite3.Error as exc:
            raise _wrap(exc, self.path) from exc

    def commit(self) -> None:
        if self._in_tx:
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise _wrap(exc, self.path) from exc
            self._in_tx = False

    def rollback(self) -> None:
        if self._in_tx:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error as exc:
                raise _wrap(exc, self.path) from exc
            self._in_tx = False
            self._names.clear()

    def close(self) -> None:
        if self._db is not None:
            try:
                self.commit()
            finally:
                self._db.close()
                self._db = None
