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
    set_main, configure = runtime.vm.execute(src, resolver.lua_resolve, resolver.fail, resolver.lua_find_package,
                                             chunkname="=(hype require)")
    runtime.resolver = resolver  # type: ignore[attr-defined]
    runtime._configure_require = configure  # type: ignore[attr-defined]  # the sandbox's package tables
    # the main file is the base of `require` calls whose caller frame is gone (a
    # tail-called `return require("./x")`) or is the event loop's (async main chunk)
    for method in ("execute_file", "run_main"):
        original = getattr(runtime, method)

        def with_main(path: str | os.PathLike[str], *args: Any, _original: Any = original) -> tuple[Any, ...]:
            runtime.vm.call(set_main, os.path.abspath(path))
            return _original(path, *args)

        with_main.__doc__ = original.__doc__
        setattr(runtime, method, with_main)
    return resolver


