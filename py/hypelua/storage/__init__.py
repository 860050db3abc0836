"""External storage: named persistent key -> value tables, values plain data or functions.

Public names: :class:`Database`, :class:`Table`, :class:`QueryResult`,
:class:`PersistedFunction` (imported lazily: start-up time is a target).
Back-ends live in :mod:`hypelua.storage.backends` (memory, sqlite, indexeddb).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._codec import PersistedFunction
    from ._database import Database, QueryResult, Table

__all__ = ["Database", "PersistedFunction", "QueryResult", "Table"]


def __getattr__(name: str) -> Any:
    if name == "PersistedFunction":
        from ._codec import PersistedFunction

        return PersistedFunction
    if name in ("Database", "QueryResult", "Table"):
        from . import _database

        return getattr(_database, name)
    raise AttributeError(f"module 'hypelua.storage' has no attribute {name!r}")
