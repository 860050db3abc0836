"""Actors from Python (issue 11): ``Runtime.actors`` (:class:`Actors`), Python processes
(:class:`PythonProcess`) and :class:`Pid`.  The scheduler itself is Lua:
``lua/hype/actor.lua``.  Names load on first use (``hype run`` of a plain script imports no
asyncio)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._python import Actors, Pid, PythonProcess

__all__ = ["Actors", "Pid", "PythonProcess"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import _python

        return getattr(_python, name)
    raise AttributeError(name)
