"""External storage: named persistent key -> value tables, values plain data or functions.

Public names: :class:`Database`, :class:`Table`, :class:`PersistedFunction`.
Back-ends live in :mod:`hypelua.storage.backends` (memory, sqlite, indexeddb).
"""

from __future__ import annotations

from ._codec import PersistedFunction
from ._database import Database, Table

__all__ = ["Database", "PersistedFunction", "Table"]
