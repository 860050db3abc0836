"""hypelua: a real Lua 5.4 VM with persistent external tables, natively and in the browser.

Public facade (imports stay lazy: start-up time is a target)::

    import hypelua
    rt = hypelua.Runtime(database="app.db")
    rt.execute("Memory.add = function(a, b) return a + b end")
    rt.execute("return Memory.add(2, 3)")      # -> (5,)
"""

from __future__ import annotations

from ._errors import (
    BackendUnavailableError,
    BytecodeRejectedError,
    ConversionError,
    DatabaseError,
    HypeError,
    LuaError,
    LuaMemoryError,
    LuaSyntaxError,
    NotStorableError,
    StorageError,
)

TYPE_CHECKING = False  # typing costs start-up time; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any

    from ._runtime import Runtime
    from .storage import Database, PersistedFunction, Table

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailableError",
    "BytecodeRejectedError",
    "ConversionError",
    "Database",
    "DatabaseError",
    "HypeError",
    "LuaError",
    "LuaMemoryError",
    "LuaSyntaxError",
    "NotStorableError",
    "PersistedFunction",
    "Runtime",
    "StorageError",
    "Table",
    "__version__",
]

_LAZY = {
    "Runtime": ("._runtime", "Runtime"),
    "Database": (".storage", "Database"),
    "Table": (".storage", "Table"),
    "PersistedFunction": (".storage", "PersistedFunction"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module, __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hypelua' has no attribute {name!r}")
