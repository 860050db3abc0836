"""The narrow waist to Lua: :class:`LuaVM` and its back-ends.

``open_vm()`` picks the back-end: ``lupa`` natively, ``ctypes`` under Pyodide
(``sys.platform == "emscripten"``); ``HYPE_LUA_BACKEND=lupa|ctypes`` or the
``backend`` argument override it.
"""

from __future__ import annotations

import os
import sys

from .._errors import BackendUnavailableError, ConversionError, LuaError, LuaMemoryError, LuaSyntaxError
from ._base import MAX_DEPTH, LuaFunction, LuaHandle, LuaThread, LuaUserdata, LuaVM

TYPE_CHECKING = False  # typing costs start-up time; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "MAX_DEPTH",
    "ConversionError",
    "LuaError",
    "LuaFunction",
    "LuaHandle",
    "LuaMemoryError",
    "LuaSyntaxError",
    "LuaThread",
    "LuaUserdata",
    "LuaVM",
    "default_backend",
    "open_vm",
]


def default_backend() -> str:
    """Name of the back-end :func:`open_vm` uses when none is given."""
    env = os.environ.get("HYPE_LUA_BACKEND")
    if env:
        return env
    return "ctypes" if sys.platform == "emscripten" else "lupa"


def open_vm(backend: str | None = None, **options: Any) -> LuaVM:
    """Create a new Lua 5.4 state.

    Args:
        backend: ``"lupa"`` or ``"ctypes"``; default from :func:`default_backend`.
        **options: ``max_memory`` (bytes), ``open_libs`` (bool); the ctypes
            back-end also takes ``library`` (path of the shared library).
    Raises:
        BackendUnavailableError: the back-end cannot be loaded here.
    """
    name = backend or default_backend()
    if name == "lupa":
        from ._lupa import LupaVM

        return LupaVM(**options)
    if name == "ctypes":
        from ._ctypes import CtypesVM

        return CtypesVM(**options)
    raise BackendUnavailableError(
        f"unknown Lua back-end {name!r}",
        details={"backend": name},
        suggestion="Use 'lupa' (native) or 'ctypes' (our Lua 5.4 shared library).",
    )
