"""Lua 5.4.8 (hypelua's C helper layer) as a Pyodide side module.

This package only ships ``libhypelua_lua54.so``; ``hypelua.lua._ctypes`` loads
it with :mod:`ctypes`.
"""

from __future__ import annotations

import os

__all__ = ["LUA_VERSION", "library_path"]

LUA_VERSION = "5.4.8"


def library_path() -> str:
    """Absolute path of the bundled ``libhypelua_lua54.so``."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "libhypelua_lua54.so")
