"""Actors from Python (issue 11 item 8): ``Runtime.actors``.

One scheduler per runtime (``lua/hype/actor.lua``); Python reaches it in two ways:

* as the host: :meth:`Actors.spawn` / :meth:`Actors.send` / :meth:`Actors.call` act on Lua
  processes (the calls are made as the runtime's host process);
* as processes: :meth:`Actors.spawn_python` runs ``async def fn(proc, *args)`` as an asyncio
  task with a mailbox, registered on the same scheduler: Lua processes send to its pid,
  link to it and monitor it like any other process, and it sends, links, monitors and
  receives (selectively, with a timeout) through :class:`PythonProcess`.

Messages cross as plain data (the runtime's Lua <-> Python conversion: tables become
lists/dicts); pids become :class:`Pid` in Python and Lua pids again on the way back.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._errors import ActorError

if TYPE_CHECKING:
    from .._runtime import Runtime

_GLUE = r"""
local actor = require("hype.actor")
local I = actor._internal
local Pid, procs = I.Pid, I.procs
local py_deliver, py_kill = ...
local function export(v, depth)
  depth = depth or 0
  if getmetatable(v) == Pid then return { ["$pid"] = { v.node or actor.NODE, v.id } } end
  if type(v) ~= "table" or depth > 100 then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = export(x, depth + 1) end
  if getmetatable(v) ~= nil and v.code and v.message then   -- a typed error
    out.code, out.message, out.hint = v.code, tostring(v.message), v.hint
  end
  return out
end
local function import(v, depth)
  depth = depth or 0
  if type(v) ~= "table" or depth > 100 then return v end
  local tag = v["$pid"]
  if type(tag) == "table" then return actor.pid(tag[2], tag[1]) end
  local out = {}
  for k, x in pairs(v) do out[k] = import(x, depth + 1) end
  return out
end
-- every entry returns true, result or false, error (an exported typed error or a string)
local function guard(ok, ...)
  if ok then return true, ... end
  local e = ...
  if type(e) == "table" then return false, export(e) end
  return false, tostring(e)
end
local G = {}
function G.spawn(fn, args)
  return guard(pcall(function() return export((actor.spawn(fn, table.unpack(import(args) or {})))) end))
end
function G.send(dest, msg)
  return guard(pcall(function() actor.send(import(dest), import(msg)) end))
end
function G.whereis(name) return export(actor.whereis(name)) end
function G.processes() return export(actor.processes()) end
-- a Python process: a record whose mailbox lives in Python
function G.spawn_python()
  local p = I.new_proc(nil, false)
  local id = p.pid.id
  p.deliver_hook = function(msg) py_deliver(id, export(msg)) end
  p.on_kill = function(reason) py_kill(id, export(reason)) end
  return id, export(p.pid)
end
-- act as Python process `id`: actor[name](imported args...)
function G.act(id, name, args)
  local p = procs[id]
  if p == nil then return false, { code = "ACTOR_NO_PROCESS", message = "this Python process has exited" } end
  return guard(pcall(function()
    local a = import(args) or {}
    return export(I.with(p, actor[name], table.unpack(a, 1, #a)))
  end))
end
function G.finish(id, reason)
  local p = procs[id]
  if p then actor._finish(p, import(reason)) end
end
G.call = async(function(dest, request, timeout)
  local ok, r = pcall(actor.call, import(dest), import(request), timeout)
  if ok then return { true, export(r) } end
  if type(r) == "table" then return { false, export(r) } end
  return { false, tostring(r) }
end)
return G
"""


@dataclass(frozen=True)
class Pid:
    """A process identifier: ``node`` (0: the first scheduler) and ``id``; printed like
    Erlang's ``<0.42.0>``."""

    node: int
    id: int | str

    def __str__(self) -> str:
        return f"<{self.node}.{self.id}.0>"


def _to_py(value: Any) -> Any:
    """Plain data from Lua -> Python, ``{"$pid": [node, id]}`` -> :class:`Pid`."""
    if isinstance(value, dict):
        tag = value.get("$pid") if len(value) == 1 else None
        if isinstance(tag, list) and len(tag) == 2:
            return Pid(int(tag[0]), tag[1])
        return {k: _to_py(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_py(v) for v in value]
    return value


def _to_lua(value: Any) -> Any:
    """Python plain data -> what the glue imports (pids as ``{"$pid": [node, id]}``).

    Raises:
        ActorError: ``ACTOR_BAD_MESSAGE`` for values that are not plain data.
    """
    if isinstance(value, Pid):
        return {"$pid": [value.node, value.id]}
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if isinstance(value, dict):
        return {k: _to_lua(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_lua(v) for v in value]
    raise ActorError(f"a message cannot carry a {type(value).__name__}", code="ACTOR_BAD_MESSAGE",
                     suggestion="Send plain data: dicts, lists, str, int, float, bool, None, Pid.")


def _raise(err: Any) -> None:
    if isinstance(err, dict) and "code" in err:
        raise ActorError(str(err.get("message", "")), code=str(err["code"]),
                         details={k: v for k, v in err.items() if k not in ("code", "message", "hint")},
                         suggestion=str(err.get("hint") or ""))
    raise ActorError(str(err), code="ACTOR_ERROR")


class PythonProcess:
    """A Python process on a runtime's scheduler (made by :meth:`Actors.spawn_python`).

    Its coroutine gets it as first argument.  ``pid`` is its :class:`Pid`.
    """

    def __init__(self, actors: Actors, lua_id: int, pid: Pid) -> None:
        self._actors = actors
        self._id = lua_id
        self.pid = pid
        self._box: collections.deque[Any] = collections.deque()
        self._arrived = asyncio.Event()
        self.task: asyncio.Task[Any] | None = None
        self.exit_reason: Any = None

    def _deliver(self, msg: Any) -> None:
        self._box.append(_to_py(msg))
        self._arrived.set()

    async def receive(self, match: Callable[[Any], bool] | None = None, timeout: float | None = None) -> Any:
        """The first message ``match`` accepts (any, without one), removed from the mailbox;
        the others stay in order (selective receive).

        Args:
            match: predicate on a message.
            timeout: milliseconds to wait (None: for ever; 0: poll).
        Raises:
            TimeoutError: nothing matched in time.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout / 1000
        scanned = 0
        while True:
            for i in range(scanned, len(self._box)):
                m = self._box[i]
                if match is None or match(m):
                    del self._box[i]
                    return m
            scanned = len(self._box)
            self._arrived.clear()
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                raise TimeoutError("receive timed out")
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except TimeoutError:
                if not any(match is None or match(m) for m in list(self._box)[scanned:]):
                    raise TimeoutError("receive timed out") from None

    def _act(self, name: str, *args: Any) -> Any:
        ok, res = self._actors._glue_call("act", self._id, name, _to_lua(list(args)))
        if not ok:
            _raise(res)
        return _to_py(res)

    def send(self, dest: Pid | str, msg: Any) -> None:
        """Send ``msg`` to ``dest`` (a pid or a registered name) as this process."""
        self._act("send", dest, msg)

    def link(self, dest: Pid) -> None:
        """Link to ``dest`` (Erlang's link/1)."""
        self._act("link", dest)

    def unlink(self, dest: Pid) -> None:
        """Remove a link."""
        self._act("unlink", dest)

    def monitor(self, dest: Pid | str) -> str:
        """Monitor ``dest``; returns the ref of the later ``["DOWN", ref, pid, reason]``."""
        return str(self._act("monitor", dest))

    def trap_exit(self, flag: bool = True) -> bool:
        """Turn exit signals into ``["EXIT", pid, reason]`` messages; returns the old flag."""
        return bool(self._act("trap_exit", flag))

    def register(self, name: str) -> None:
        """Register this process under ``name``."""
        self._act("register", name, self.pid)

    def exit(self, dest: Pid, reason: Any) -> None:
        """Send an exit signal to ``dest``."""
        self._act("exit", dest, reason)


class Actors:
    """``Runtime.actors``: the runtime's actor scheduler from Python (see module docstring)."""

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime
        self._glue: Any = None
        self._py: dict[int, PythonProcess] = {}

    def _glue_call(self, name: str, *args: Any) -> tuple[Any, ...]:
        if self._glue is None:
            vm = self._rt.vm
            self._rt.execute("require('hype.actor')")
            (self._glue,) = vm.execute(_GLUE, vm.register(None, self._on_deliver),
                                       vm.register(None, self._on_kill), chunkname="=(hype actors)")
        return self._rt.vm.call(self._glue[name], *args)

    # ---------------------------------------------------------------- the host side
    def spawn(self, fn: Any, *args: Any) -> Pid:
        """Spawn a Lua process running ``fn(*args)``.

        Args:
            fn: a Lua function (a handle from ``Runtime.execute``) or Lua source of an
                expression giving one (``"function(n) ... end"``).
        Returns:
            its :class:`Pid`.
        Raises:
            ActorError: ``ACTOR_BAD_SPAWN`` / ``ACTOR_BAD_MESSAGE``.
        """
        if isinstance(fn, str):
            (fn,) = self._rt.execute("return " + fn)
        ok, res = self._glue_call("spawn", fn, _to_lua(list(args)))
        if not ok:
            _raise(res)
        return _to_py(res)

    def send(self, dest: Pid | str, msg: Any) -> None:
        """Send ``msg`` (plain data) to a process or registered name.

        Raises:
            ActorError: ``ACTOR_NO_PROCESS`` (unknown name), ``ACTOR_BAD_MESSAGE``, ``ACTOR_PROTOCOL``.
        """
        ok, res = self._glue_call("send", _to_lua(dest), _to_lua(msg))
        if not ok:
            _raise(res)

    async def call(self, dest: Pid | str, request: Any, timeout: int = 5000) -> Any:
        """``actor.call`` a server (``actor.server``) and await its reply.

        Args:
            timeout: milliseconds.
        Raises:
            ActorError: ``ACTOR_CALL_TIMEOUT``, ``ACTOR_CALL_FAILED``, ``ACTOR_NO_PROCESS``.
        """
        if self._glue is None:
            self._glue_call("whereis", "")
        ok, res = await self._rt.loop.call_async(self._glue["call"], _to_lua(dest), _to_lua(request), timeout)
        if not ok:
            _raise(res)
        return _to_py(res)

    def whereis(self, name: str) -> Pid | None:
        """The pid registered as ``name``, or None."""
        (res,) = self._glue_call("whereis", name)
        return _to_py(res)

    def processes(self) -> list[dict[str, Any]]:
        """``actor.processes()``: ``[{"pid", "status", "mailbox", "reductions", "memory",
        "links", "monitors", "name", "kind"}, ...]`` (memory in bytes or None)."""
        (res,) = self._glue_call("processes")
        keys = ("pid", "status", "mailbox", "reductions", "memory", "links", "monitors", "name", "kind")
        return [{k: p.get(k, [] if k == "links" else None) for k in keys} for p in (_to_py(res) or [])]

    # ------------------------------------------------------------ Python processes
    def spawn_python(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Pid:
        """Run ``await fn(proc, *args)`` as a process of this runtime's scheduler.

        ``proc`` is a :class:`PythonProcess`.  The process exits ``"normal"`` when ``fn``
        returns, with ``"ExcType: message"`` when it raises, and its task is cancelled by an
        exit signal it does not trap (links and monitors then fire as for Lua processes).
        Must be called with an asyncio loop running.
        Returns:
            its :class:`Pid`.
        """
        lua_id, pid = self._glue_call("spawn_python")
        proc = PythonProcess(self, int(lua_id), _to_py(pid))
        self._py[proc._id] = proc

        async def body() -> None:
            reason: Any = "normal"
            try:
                await fn(proc, *args)
            except asyncio.CancelledError:
                reason = proc.exit_reason if proc.exit_reason is not None else "killed"
            except Exception as exc:  # the process's error is its exit reason
                reason = f"{type(exc).__name__}: {exc}"
            finally:
                self._py.pop(proc._id, None)
            proc.exit_reason = reason
            self._glue_call("finish", proc._id, _to_lua(reason))

        proc.task = asyncio.get_running_loop().create_task(body())
        return proc.pid

    def _on_deliver(self, lua_id: int, msg: Any) -> None:
        proc = self._py.get(int(lua_id))
        if proc is not None:
            proc._deliver(msg)

    def _on_kill(self, lua_id: int, reason: Any) -> None:
        proc = self._py.get(int(lua_id))
        if proc is not None and proc.task is not None:
            proc.exit_reason = _to_py(reason)
            proc.task.cancel()
