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

import contextlib
import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from ..._errors import DatabaseError
from .._codec import Key, Record, decode_record
from .._query import Query, encode_cursor, parse_field
from .._sql import hype_doc, index_columns, query_sql, rank_expr
from ._base import StorageBackend

FORMAT_VERSION = "1"
#: seconds a connection waits for another process's write lock (SQLite busy timeout)
DEFAULT_TIMEOUT = 30.0
#: files up to this size get ``PRAGMA quick_check`` on open.  Measured here (2 cores, warm
#: page cache): 1.7 MB 0.8 ms (open 3.4 ms vs 0.3 ms without), 16.5 MB 24 ms, 50 MB 50 ms;
#: so at most ~25 ms is added to the first use of a database, and bigger files rely on
#: detection at the first damaged page read.
QUICK_CHECK_MAX_BYTES = 16 * 1024 * 1024


def _writable(path: str) -> bool:
    """Whether SQLite can open ``path`` for writing in WAL mode (file and directory writable)."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return False
    return os.access(folder, os.W_OK | os.X_OK) or not os.path.exists(path)


def _read_only_failure(exc: sqlite3.Error) -> bool:
    text = str(exc)
    return "readonly" in text or "read-only" in text or "unable to open" in text


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
    if "readonly" in text or "read-only" in text:
        return DatabaseError(
            f"the database is read-only: {text}", code="DATABASE_READ_ONLY", details={"path": path},
            suggestion="Make the file and its directory writable, or copy the database somewhere writable.",
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
        timeout: seconds to wait for another process's write lock (busy timeout).
        quick_check: run ``PRAGMA quick_check`` on open when the file is at most
            this many bytes (None: never); a damaged file then refuses writes.

    A file that is not writable, or whose directory is not (WAL needs its
    ``-wal``/``-shm`` files there), is opened read-only: reads work, writes raise
    ``DATABASE_READ_ONLY``.  Once SQLite reports a damaged page (or the quick check
    on open fails), writes raise ``DATABASE_CORRUPT`` while intact rows still read.

    Raises:
        DatabaseError: ``DATABASE_CORRUPT`` if the file is not a usable database,
        ``DATABASE_FORMAT``, ``DATABASE_READ_ONLY`` (cannot even be read).
    """

    name = "sqlite"

    def __init__(self, path: str | Path, *, timeout: float = DEFAULT_TIMEOUT,
                 quick_check: int | None = QUICK_CHECK_MAX_BYTES) -> None:
        self.path = str(path)
        self.timeout = timeout
        #: opened with ``mode=ro`` (the file or its directory is not writable): writes raise ``DATABASE_READ_ONLY``
        self.read_only = False
        #: the DATABASE_CORRUPT error that stopped writes (set once SQLite reports a damaged page)
        self.corrupt: DatabaseError | None = None
        self._names: dict[str, str] = {}
        self._in_tx = False
        self._db: sqlite3.Connection | None = None
        if self.path != ":memory:" and not _writable(self.path):
            self._open_read_only()
        else:
            try:
                self._open_read_write()
            except sqlite3.OperationalError as exc:
                self._close_quietly()
                # e.g. a read-only file system that os.access did not reveal
                if self.path == ":memory:" or not os.path.exists(self.path) or not _read_only_failure(exc):
                    raise _wrap(exc, self.path) from exc
                self._open_read_only()
            except sqlite3.Error as exc:
                self._close_quietly()
                raise _wrap(exc, self.path) from exc
        if quick_check is not None and self.path != ":memory:":
            self._check_on_open(quick_check)
        if not self.read_only and self.corrupt is None:
            self.verify_indexes()

    def _open_read_write(self) -> None:
        """Open (creating the schema) read-write; retried while another process holds a
        lock SQLite does not wait for (two processes creating a new file at once: the
        switch to WAL and the schema need the exclusive lock), up to :attr:`timeout` s."""
        import time

        deadline = time.monotonic() + self.timeout
        delay = 0.005
        while True:
            try:
                return self._open_read_write_once()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                    raise
                self._close_quietly()
                time.sleep(delay)
                delay = min(delay * 2, 0.1)

    def _open_read_write_once(self) -> None:
        self._db = db = sqlite3.connect(
            self.path, isolation_level=None, timeout=self.timeout, check_same_thread=False
        )
        db.create_function("hype_doc", 2, hype_doc, deterministic=True)
        if self.path != ":memory:":
            db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("BEGIN IMMEDIATE")
        db.execute("CREATE TABLE IF NOT EXISTS _hype_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute(
            "CREATE TABLE IF NOT EXISTS _hype_tables (name TEXT PRIMARY KEY, sql_name TEXT NOT NULL UNIQUE)"
        )
        db.execute(
            "CREATE TABLE IF NOT EXISTS _hype_indexes (tbl TEXT NOT NULL, name TEXT NOT NULL, "
            "fields TEXT NOT NULL, is_unique INTEGER NOT NULL, PRIMARY KEY (tbl, name))"
        )
        row = db.execute("SELECT value FROM _hype_meta WHERE key='format'").fetchone()
        if row is None:
            db.execute("INSERT INTO _hype_meta VALUES ('format', ?)", (FORMAT_VERSION,))
        elif row[0] != FORMAT_VERSION:
            db.execute("ROLLBACK")
            raise self._format_error(row[0])
        db.execute("COMMIT")

    def _open_read_only(self) -> None:
        """Open with ``mode=ro``; when WAL's ``-shm`` cannot be created either (a read-only
        directory) and no ``-wal`` content is pending, as ``immutable=1``.

        Raises:
            DatabaseError: ``DATABASE_READ_ONLY`` (cannot be read without writing
            its WAL files), ``DATABASE_CORRUPT``, ``DATABASE_FORMAT``.
        """
        from urllib.parse import quote

        self.read_only = True
        uri = "file:" + quote(os.path.abspath(self.path)) + "?mode=ro"
        attempts = [uri]
        wal = self.path + "-wal"
        if not os.path.exists(wal) or os.path.getsize(wal) == 0:
            attempts.append(uri + "&immutable=1")
        last: sqlite3.Error | None = None
        for target in attempts:
            try:
                self._db = db = sqlite3.connect(target, uri=True, isolation_level=None, timeout=self.timeout,
                                                check_same_thread=False)
                db.create_function("hype_doc", 2, hype_doc, deterministic=True)
                row = db.execute("SELECT value FROM _hype_meta WHERE key='format'").fetchone()
            except sqlite3.Error as exc:
                self._close_quietly()
                error = _wrap(exc, self.path)
                if error.code == "DATABASE_CORRUPT":
                    raise error from exc
                last = exc
                continue
            if row is None or row[0] != FORMAT_VERSION:
                self._close_quietly()
                raise self._format_error(None if row is None else row[0])
            return
        raise DatabaseError(
            f"the database {self.path!r} is read-only and cannot be opened: {last}",
            code="DATABASE_READ_ONLY", details={"path": self.path},
            suggestion="Make the file and its directory writable, or copy the database somewhere writable.",
        )

    def _format_error(self, found: str | None) -> DatabaseError:
        return DatabaseError(
            f"unsupported database format {found!r} (this hypelua reads {FORMAT_VERSION!r})",
            code="DATABASE_FORMAT",
            details={"path": self.path, "format": found},
            suggestion="Open it with the hypelua version that wrote it, or export and re-import.",
        )

    def _close_quietly(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None

    def _check_on_open(self, max_bytes: int) -> None:
        """``PRAGMA quick_check`` when the file is at most ``max_bytes`` (about 1-1.5 ms
        per MB, see :data:`QUICK_CHECK_MAX_BYTES`); a damaged file then refuses writes."""
        try:
            size = os.path.getsize(self.path)
        except OSError:
            return
        if size > max_bytes:
            return
        try:
            problems = [r[0] for r in self._conn.execute("PRAGMA quick_check(5)")]
        except sqlite3.Error as exc:
            self._guard(exc)
            return
        if problems != ["ok"]:
            self._mark_corrupt("; ".join(map(str, problems)))

    # ------------------------------------------------------------ corruption
    def _mark_corrupt(self, reason: str) -> DatabaseError:
        """Refuse every later write: ``DATABASE_CORRUPT`` (an open transaction rolls back,
        so nothing is written on top of damaged pages)."""
        if self.corrupt is None:
            self.corrupt = DatabaseError(
                f"the database file is corrupt; writes are refused so that nothing intact is lost: {reason}",
                code="DATABASE_CORRUPT", details={"path": self.path, "reason": reason},
                suggestion="Copy out what still reads (hype export), then restore the file from a backup.",
            )
        if self._in_tx and self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            self._in_tx = False
            self._names.clear()
        return self.corrupt

    def _guard(self, exc: sqlite3.Error) -> DatabaseError:
        """The typed error of ``exc``; a damaged-page error also stops writes."""
        error = _wrap(exc, self.path)
        if error.code == "DATABASE_CORRUPT":
            self._mark_corrupt(str(exc))
        return error

    # ---------------------------------------------------------------- helpers
    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise DatabaseError("the database is closed", code="DATABASE_CLOSED",
                                details={"path": self.path}, suggestion="Open the database again.")
        return self._db

    def _write(self) -> sqlite3.Connection:
        conn = self._conn
        if self.corrupt is not None:
            raise DatabaseError(self.corrupt.message, code=self.corrupt.code, details=dict(self.corrupt.details),
                                suggestion=self.corrupt.suggestion)
        if self.read_only:
            raise DatabaseError(
                f"the database {self.path!r} is read-only (the file or its directory is not writable)",
                code="DATABASE_READ_ONLY", details={"path": self.path},
                suggestion="Make the file and its directory writable, or copy the database somewhere writable.",
            )
        if not self._in_tx:
            self._begin(conn)
        return conn

    def _begin(self, conn: sqlite3.Connection) -> None:
        try:
            # read-only: a plain BEGIN still gives the reads one consistent snapshot
            conn.execute("BEGIN" if self.read_only or self.corrupt is not None else "BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._guard(exc) from exc
        self._in_tx = True
        # another process may have created or dropped tables since the last transaction
        self._names.clear()

    def begin(self) -> None:
        """``BEGIN IMMEDIATE`` now (unless a transaction is already open): the write lock is
        held from the first read of the transaction, waiting up to ``timeout`` seconds
        for another process's (busy timeout), and the reads see every commit made
        before it.  Read-only or corrupt files get a plain ``BEGIN`` (a snapshot).

        Raises:
            DatabaseError: ``DATABASE_BUSY`` after the timeout, ``DATABASE_CORRUPT``, ...
        """
        if not self._in_tx:
            self._begin(self._conn)

    def _table_sql(self, table: str, create: bool = False) -> str | None:
        name = self._names.get(table)
        if name is not None:
            return name
        try:
            row = self._conn.execute("SELECT sql_name FROM _hype_tables WHERE name=?", (table,)).fetchone()
        except sqlite3.Error as exc:
            raise self._guard(exc) from exc
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
            raise self._guard(exc) from exc
        self._names[table] = name
        return name

    # -------------------------------------------------------------- interface
    def get_meta(self, key: str) -> str | None:
        try:
            row = self._conn.execute("SELECT value FROM _hype_meta WHERE key=?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise self._guard(exc) from exc
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        try:
            self._write().execute("INSERT OR REPLACE INTO _hype_meta VALUES (?, ?)", (key, value))
        except sqlite3.Error as exc:
            raise self._guard(exc) from exc

    def tables(self) -> list[str]:
        try:
            return [r[0] for r in self._conn.execute("SELECT name FROM _hype_tables ORDER BY name")]
        except sqlite3.Error as exc:
            raise self._guard(exc) from exc

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
            raise self._guard(exc) from exc
        self._names.pop(table, None)

    def get(self, table: str, key: Key) -> Record | None:
        name = self._table_sql(table)
        if name is None:
            return None
        try:
            row = self._conn.execute(f'SELECT codec, data FROM "{name}" WHERE key=?', (key,)).fetchone()
        except sqlite3.Error as exc:
            raise self._guard(exc) from exc
        return None if row is None else (row[0], row[1])

    def put(self, table: str, key: Key, record: Record, value: object = None) -> None:
        name = self._table_sql(table, create=True)
        conn = self._write()
        try:
            conn.execute(
                f'INSERT INTO "{name}" (key, codec, data) VALUES (?, ?, ?) '
                "ON CONFLICT (key) DO UPDATE SET codec = excluded.codec, data = excluded.data",
                (key, record[0], record[1]),
            )
        except sqlite3.IntegrityError as exc:
            raise self._unique_for(table, key, exc) from exc
        except sqlite3.Error as exc:
            raise self._guard(exc) from exc

    def put_many(self, table: str, items: list[tuple[Key, Record, object]]) -> None:
        """One ``executemany`` for the group; on a unique violation, replay to find the row."""
        name = self._table_sql(table, create=True)
        conn = self._write()
        conn.execute("SAVEPOINT hype_many")
        try:
            conn.executemany(
                f'INSERT INTO "{name}" (key, codec, data) VALUES (?, ?, ?) '
                "ON CONFLICT (key) DO UPDATE SET codec = excluded.codec, data = excluded.data",
                [(key, record[0], record[1]) for key, record, _ in items],
            )
        except sqlite3.IntegrityError:
            conn.execute("ROLLBACK TO hype_many")
            conn.execute("RELEASE hype_many")
            super().put_many(table, items)  # raises at the offending row, with its position
            raise AssertionError("executemany failed but no row did") from None
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK TO hype_many")
            conn.execute("RELEASE hype_many")
            raise self._guard(exc) from exc
        conn.execute("RELEASE hype_many")

    def delete(self, table: str, key: Key) -> bool:
        name = self._table_sql(table)
        if name is None:
            return False
        try:
            cur = self._write().execute(f'DELETE FROM "{name}" WHERE key=?', (key,))
        except sqlite3.Error as exc:
            raise self._guard(exc) from exc
        return cur.rowcount > 0

    def items(self, table: str) -> Iterator[tuple[Key, Record]]:
        name = self._table_sql(table)
        if name is None:
            return
        try:
            rows = self._conn.execute(f'SELECT key, codec, data FROM "{name}" ORDER BY key').fetchall()
        except sqlite3.Error as exc:
            raise self._guard(exc) from exc
        for key, codec, data in rows:
            yield key, (codec, data)

    def count(self, table: str) -> int:
        name = self._table_sql(table)
        if name is None:
            return 0
        try:
            return int(self._conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])
        except sqlite3.Error as exc:
            raise self._guard(exc) from exc

    # ------------------------------------------------------------ indices
    @staticmethod
    def _index_sql_name(table_sql: str, name: str, unique: bool) -> str:
        digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:10]
        return f"{'hxu' if unique else 'hxi'}_{table_sql}_{digest}"

    def _create_index_sql(self, table_sql: str, name: str, paths: list[tuple[str, ...]], unique: bool) -> None:
        conn = self._write()
        cols = index_columns(paths)
        conn.execute(
            f'CREATE INDEX IF NOT EXISTS "{self._index_sql_name(table_sql, name, False)}" ON "{table_sql}" ({cols})'
        )
        if unique:
            ranked = " AND ".join(f"{rank_expr(p)} != 0" for p in paths)
            conn.execute(
                f'CREATE UNIQUE INDEX IF NOT EXISTS "{self._index_sql_name(table_sql, name, True)}" '
                f'ON "{table_sql}" ({cols}) WHERE {ranked}'
            )

    def create_index(self, table: str, name: str, fields: tuple[str, ...], unique: bool = False) -> None:
        """Create the expression index ``name`` on ``fields`` (see :mod:`hypelua.storage._sql`).

        Raises:
            UniqueViolation: ``unique`` and existing rows share a value (nothing is created).
        """
        table_sql = self._table_sql(table, create=True)
        assert table_sql is not None
        paths = [parse_field(f) for f in fields]
        self._write().execute("SAVEPOINT hype_index")
        try:
            self._create_index_sql(table_sql, name, paths, unique)
            self._conn.execute(
                "INSERT OR REPLACE INTO _hype_indexes VALUES (?, ?, ?, ?)",
                (table, name, json.dumps(list(fields)), int(unique)),
            )
        except sqlite3.IntegrityError as exc:
            self._conn.execute("ROLLBACK TO hype_index")
            self._conn.execute("RELEASE hype_index")
            raise self._unique_error(table, name, fields, None, exc) from exc
        except sqlite3.Error as exc:
            self._conn.execute("ROLLBACK TO hype_index")
            self._conn.execute("RELEASE hype_index")
            raise self._guard(exc) from exc
        self._conn.execute("RELEASE hype_index")

    def drop_index(self, table: str, name: str) -> bool:
        table_sql = self._table_sql(table)
        if table_sql is None:
            return False
        conn = self._write()
        try:
            cur = conn.execute("DELETE FROM _hype_indexes WHERE tbl=? AND name=?", (table, name))
            for unique in (False, True):
                conn.execute(f'DROP INDEX IF EXISTS "{self._index_sql_name(table_sql, name, unique)}"')
        except sqlite3.Error as exc:
            raise self._guard(exc) from exc
        return cur.rowcount > 0

    def indexes(self, table: str) -> list[dict[str, object]]:
        """``[{"name", "fields", "unique"}]`` of ``table``'s indices, by name."""
        try:
            rows = self._conn.execute(
                "SELECT name, fields, is_unique FROM _hype_indexes WHERE tbl=? ORDER BY name", (table,)
            ).fetchall()
        except sqlite3.Error as exc:
            raise self._guard(exc) from exc
        return [{"name": n, "fields": json.loads(f), "unique": bool(u)} for n, f, u in rows]

    def verify_indexes(self) -> list[str]:
        """Re-create registered indices missing from the file; returns the names re-created."""
        repaired = []
        try:
            present = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
            registry = self._conn.execute("SELECT tbl, name, fields, is_unique FROM _hype_indexes").fetchall()
        except sqlite3.Error as exc:
            raise self._guard(exc) from exc
        for table, name, fields, unique in registry:
            table_sql = self._table_sql(table)
            if table_sql is None:
                continue
            wanted = [self._index_sql_name(table_sql, name, False)]
            if unique:
                wanted.append(self._index_sql_name(table_sql, name, True))
            if not all(w in present for w in wanted):
                self._create_index_sql(table_sql, name, [parse_field(f) for f in json.loads(fields)], bool(unique))
                repaired.append(name)
        if repaired:
            self.commit()
        return repaired

    def _unique_error(self, table: str, name: str, fields: tuple[str, ...] | list[str], key: Key | None,
                      exc: sqlite3.Error) -> DatabaseError:
        from ..._errors import UniqueViolation

        return UniqueViolation(
            f"unique index {name!r} on table {table!r} already has a row with the same "
            f"{', '.join(fields)}",
            details={"table": table, "index": name, "fields": list(fields), "key": key, "sqlite": str(exc)},
        )

    def _unique_for(self, table: str, key: Key, exc: sqlite3.Error) -> DatabaseError:
        text = str(exc)
        for idx in self.indexes(table):
            table_sql = self._table_sql(table) or ""
            if self._index_sql_name(table_sql, str(idx["name"]), True) in text or idx["unique"]:
                return self._unique_error(table, str(idx["name"]), list(idx["fields"]), key, exc)  # type: ignore[arg-type]
        return _wrap(exc, self.path)

    # ------------------------------------------------------------- queries
    def query(self, query: Query) -> tuple[list[tuple[Key, object]], str | None]:
        """Run ``query`` as SQL; returns decoded ``(key, value)`` rows and the next cursor."""
        table_sql = self._table_sql(query.table)
        if table_sql is None:
            return [], None
        sql, params = query_sql(query, table_sql)
        try:
            rows = self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._guard(exc) from exc
        out = [(key, decode_record((codec, data))) for key, codec, data in rows]
        cursor = None
        if query.limit is not None and len(out) > query.limit:
            out = out[: query.limit]
            if out:
                cursor = encode_cursor(query.sort_position(*out[-1]))
        return out, cursor

    def explain(self, query: Query) -> dict[str, object]:
        """``{"plan": "index" | "full_scan", "index": name | None, "sql": ..., "detail": [...]}``."""
        table_sql = self._table_sql(query.table)
        if table_sql is None:
            return {"plan": "full_scan", "index": None, "sql": None, "detail": ["no such table"]}
        sql, params = query_sql(query, table_sql)
        try:
            detail = [str(r[-1]) for r in self._conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
        except sqlite3.Error as exc:
            raise self._guard(exc) from exc
        names = {self._index_sql_name(table_sql, str(i["name"]), u): str(i["name"])
                 for i in self.indexes(query.table) for u in (False, True)}
        used = next((names[n] for line in detail for n in names if n in line), None)
        return {"plan": "index" if used else "full_scan", "index": used, "sql": sql, "detail": detail}

    def commit(self) -> None:
        if self._in_tx:
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise self._guard(exc) from exc
            self._in_tx = False

    def rollback(self) -> None:
        if self._in_tx:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error as exc:
                raise self._guard(exc) from exc
            self._in_tx = False
            self._names.clear()

    def close(self) -> None:
        if self._db is not None:
            try:
                self.commit()
            finally:
                self._db.close()
                self._db = None
