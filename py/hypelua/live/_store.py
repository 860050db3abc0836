"""Assigns snapshots per session: what a re-mount restores (issue 10, reconnect).

:class:`MemoryStore` survives a dropped connection; :class:`SQLiteStore` (a file) also
survives a server restart, and is shared by ``--workers`` processes on one machine.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any


class MemoryStore:
    """Snapshots in a dict (``sid -> (saved_at, JSON text)``), bounded to ``max_sessions``."""

    def __init__(self, max_sessions: int = 100_000) -> None:
        self._data: dict[str, str] = {}
        self.max_sessions = max_sessions

    def save(self, sid: str, snapshot: dict[str, Any]) -> None:
        """Keep ``snapshot`` (JSON-able dict) for ``sid``."""
        self._data.pop(sid, None)
        self._data[sid] = json.dumps(snapshot, separators=(",", ":"))
        while len(self._data) > self.max_sessions:
            self._data.pop(next(iter(self._data)))

    def load(self, sid: str) -> dict[str, Any] | None:
        """The last snapshot of ``sid``, or None."""
        text = self._data.get(sid)
        return json.loads(text) if text is not None else None

    def delete(self, sid: str) -> None:
        self._data.pop(sid, None)


class SQLiteStore:
    """Snapshots in a SQLite file (WAL): a page comes back as it was after a server restart.

    Writes are batched: :meth:`save` keeps the latest snapshot per session in memory and
    one transaction writes every pending one ``flush_ms`` later (so a busy server does one
    SQLite commit per interval, not one per event; a crash loses at most that interval).

    Args:
        path: the database file (created).
        ttl_s: snapshots older than this are dropped (default one day).
        flush_ms: delay of the batched write (0: write at once).
    """

    def __init__(self, path: str | Path, ttl_s: float = 86_400, flush_ms: float = 50) -> None:
        self.path = str(path)
        self.ttl_s = ttl_s
        self.flush_ms = flush_ms
        self._dirty: dict[str, str | None] = {}
        self._timer: Any = None
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS live_snapshots (sid TEXT PRIMARY KEY, saved REAL, data TEXT)")
        self._db.execute("DELETE FROM live_snapshots WHERE saved < ?", (time.time() - ttl_s,))

    def save(self, sid: str, snapshot: dict[str, Any]) -> None:
        """Keep ``snapshot`` for ``sid`` (written within ``flush_ms``)."""
        self._dirty[sid] = json.dumps(snapshot, separators=(",", ":"))
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is not None:
            return
        try:
            import asyncio

            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        if self.flush_ms <= 0:
            self.flush()
            return
        self._timer = loop.call_later(self.flush_ms / 1000, self.flush)

    def flush(self) -> None:
        """Write every pending snapshot (and deletion) in one transaction."""
        self._timer = None
        dirty, self._dirty = self._dirty, {}
        if not dirty:
            return
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO live_snapshots VALUES (?, ?, ?)",
                                 [(sid, now, text) for sid, text in dirty.items() if text is not None])
            self._db.executemany("DELETE FROM live_snapshots WHERE sid = ?",
                                 [(sid,) for sid, text in dirty.items() if text is None])
            self._db.execute("COMMIT")

    def load(self, sid: str) -> dict[str, Any] | None:
        if sid in self._dirty:
            text = self._dirty[sid]
            return json.loads(text) if text is not None else None
        with self._lock:
            row = self._db.execute("SELECT data, saved FROM live_snapshots WHERE sid = ?", (sid,)).fetchone()
        if row is None or row[1] < time.time() - self.ttl_s:
            return None
        return json.loads(row[0])

    def delete(self, sid: str) -> None:
        self._dirty[sid] = None
        self._schedule()

    def close(self) -> None:
        """Write what is pending and close the file."""
        if self._timer is not None:
            self._timer.cancel()
        self.flush()
        with self._lock:
            self._db.close()
