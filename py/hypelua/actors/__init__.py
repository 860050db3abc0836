"""Actors from Python (issue 11): ``Runtime.actors`` (:class:`Actors`), Python processes
(:class:`PythonProcess`) and :class:`Pid`.  The scheduler itself is Lua:
``lua/hype/actor.lua``."""

from ._python import Actors, Pid, PythonProcess

__all__ = ["Actors", "Pid", "PythonProcess"]
