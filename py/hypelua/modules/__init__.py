"""The module system: ``require`` with Node's resolution (SPEC section 3 "A. Runtime").

Resolution runs in Python (:mod:`._resolve`) once per (requiring file, name);
the loader and every cache live in Lua (``lua/hype/require.lua``), so a cached
``require`` never crosses the bridge.  File access goes through the small
:class:`ModuleFS` interface (:class:`NativeFS` natively and on Pyodide's MEMFS).
"""

from __future__ import annotations

import os

from ._fs import MemoryFS, ModuleFS, NativeFS
from ._resolve import Resolver, hype_home

TYPE_CHECKING = False  # typing costs start-up time; annotations are strings anyway
if TYPE_CHECKING:
    from typing import Any

    from .._runtime import Runtime

__all__ = ["MemoryFS", "ModuleFS", "NativeFS", "Resolver", "hype_home", "install_require"]


def install_require(runtime: Runtime, resolver: Resolver | None = None) -> Resolver:
    """Replace the global ``require`` of ``runtime``'s Lua VM with the hype loader.

    Args:
        runtime: a :class:`hypelua.Runtime` (only ``runtime.vm`` is used; the
            resolver is stored as ``runtime.resolver``).
        resolver: resolution settings/file system (default ``Resolver()``).
    Returns:
        the :class:`Resolver` in use.
    """
    from .._runtime import lua_source

    resolver = resolver or Resolver()
    src = lua_source("require")
    (set_main,) = runtime.vm.execute(src, resolver.lua_resolve, resolver.fail, chunkname="=(hype require)")
    runtime.resolver = resolver  # type: ignore[attr-defined]
    execute_file = runtime.execute_file

    def execute_file_with_main(path: str | os.PathLike[str], *args: Any) -> tuple[Any, ...]:
        # the main file is the base of a tail-called `return require("./x")`
        runtime.vm.call(set_main, os.path.abspath(path))
        return execute_file(path, *args)

    execute_file_with_main.__doc__ = execute_file.__doc__
    runtime.execute_file = execute_file_with_main  # type: ignore[method-assign]
    return resolver


