"""A :class:`Node` binds one Runtime's actor scheduler (``lua/hype/actor.lua``) to a
:class:`~hypelua.actors._transports.base.Transport`: schedulers in other OS processes
(native) or other Web Workers (browser) become nodes of one system of processes.

Lua side: ``actor.NODE`` is this scheduler's number (0: the first one); a pid of another
node carries ``node``.  Every signal to a remote pid goes out through the remote-send
function this module installs (``actor._internal.set_remote_send``); frames coming in go
to ``actor._internal.incoming``; a node that dies becomes ``actor._internal.node_down``
(links: exit ``"noconnection"``, monitors: DOWN ``"noconnection"``).

Wire format (one JSON object per frame; the transport adds its own framing)::

    {"to": node, "k": kind, "a": [dest, a, b, c]}

``kind`` is one of the core's signal kinds (``msg``, ``link``, ``unlink``, ``monitor``,
``demonitor``, ``exit``: see ``actor._internal.incoming``) or ``spawn`` (``a`` =
``[pid, {"code": bytecode, "args": args, "link": from_pid, "monitor": [from_pid, ref]}]``).
Values are Lua plain data encoded in Lua (:data:`_GLUE`):

* nil, booleans, strings, numbers as JSON (an integer stays an integer, a float is
  written with a fraction or exponent, so it stays a float; NaN/inf as Python's json does);
* a string that is not UTF-8 (e.g. bytecode): ``{"$bytes": base64}``;
* a pid: ``{"$pid": [node, id]}`` (a local pid leaves with ``node = actor.NODE``; one
  arriving with the receiver's number becomes local);
* a table with keys exactly ``1..n``: an array; with string keys only (none starting with
  ``$``): an object; any other table: ``{"$map": [[key, value], ...]}``.

Remote spawn: the spawner picks the new pid itself, in its own namespace (``{node =
target, id = "<spawner node>:<n>"}``, printed ``<target.spawner:n.0>``), so ``spawn``
returns at once; the function crosses as ``string.dump`` bytecode (only an ``_ENV``
upvalue is allowed: others are refused with ``ACTOR_BAD_SPAWN``), its arguments as a
message.  Frames between two nodes keep their order (every transport is FIFO per pair
and relays through one hub: node 0's process natively, the page's main thread in the
browser), so the spawn request reaches the target before any signal for the new pid, even
one sent by a third node that learnt the pid from the spawner: no queueing is needed.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from ._transports.base import Frame, Transport

_GLUE = r"""
local node_number, host_send, host_spawn_node = ...
local actor = require("hype.actor")
actor.NODE = node_number
local I = actor._internal
local Pid, procs, remote_key = I.Pid, I.procs, I.remote_key
local type, next, getmetatable, setmetatable, mtype = type, next, getmetatable, setmetatable, math.type

local function enc(v)
  if type(v) ~= "table" then return v end
  if getmetatable(v) == Pid then return { ["$pid"] = { v.node or actor.NODE, v.id } } end
  local n, count, seq, plain = #v, 0, 0, true
  for k in next, v do
    count = count + 1
    if type(k) == "string" then
      if k:sub(1, 1) == "$" then plain = false end
    else
      plain = false
      if mtype(k) == "integer" and k >= 1 and k <= n then seq = seq + 1 end
    end
  end
  local out = {}
  if n > 0 and seq == n and count == n then
    for i = 1, n do out[i] = enc(v[i]) end
  elseif plain then
    for k, x in next, v do out[k] = enc(x) end
  else
    local i = 0
    for k, x in next, v do i = i + 1; out[i] = { enc(k), enc(x) } end
    return { ["$map"] = out }
  end
  return out
end

local function dec(v)
  if type(v) ~= "table" then return v end
  local p = v["$pid"]
  if p ~= nil then
    local node, id = p[1], p[2]
    if node == actor.NODE then
      local q = procs[id]
      return q and q.pid or setmetatable({ id = id }, Pid)
    end
    return setmetatable({ id = id, node = node }, Pid)
  end
  local m = v["$map"]
  local out = {}
  if m ~= nil then
    for i = 1, #m do local kv = m[i]; out[dec(kv[1])] = dec(kv[2]) end
  else
    for k, x in next, v do out[k] = dec(x) end
  end
  return out
end

I.set_remote_send(function(kind, dest, a, b, c)
  host_send(dest.node, kind, enc(dest), enc(a), enc(b), enc(c))
end)

local seq = 0
actor._spawn_remote = function(opts, fn, args)
  if type(fn) ~= "function" then
    error(actor._typed("ACTOR_BAD_SPAWN", "spawn needs a function"), 3)
  end
  for i = 1, 255 do
    local name = debug.getupvalue(fn, i)
    if name == nil then break end
    if name ~= "_ENV" then
      error(actor._typed("ACTOR_BAD_SPAWN",
        "a function spawned on another worker cannot capture upvalue '" .. name .. "'",
        "pass it in args: spawn{ fn = function(" .. name .. ", ...) ... end, args = { " .. name
          .. " }, worker = ... }"), 3)
    end
  end
  local ok, code = pcall(string.dump, fn)
  if not ok then
    error(actor._typed("ACTOR_BAD_SPAWN", "cannot send this function to another worker: " .. tostring(code),
      "Spawn a Lua function (not a C function)."), 3)
  end
  if args ~= nil then args = actor._copy(args) end   -- refuses functions, cycles: ACTOR_BAD_MESSAGE
  local node = opts.worker
  if node == "new" then node = host_spawn_node() end
  if mtype(node) ~= "integer" and not (type(node) == "number" and node == math.floor(node)) then
    error(actor._typed("ACTOR_BAD_SPAWN",
      "spawn's worker is \"new\" or a node number, not " .. tostring(opts.worker)), 3)
  end
  node = math.tointeger(node)
  if node == actor.NODE then
    local local_opts = {}
    for k, v in next, opts do local_opts[k] = v end
    local_opts.worker, local_opts.fn, local_opts.args = nil, fn, args
    return actor.spawn(local_opts)
  end
  seq = seq + 1
  local pid = setmetatable({ id = actor.NODE .. ":" .. seq, node = node }, Pid)
  local p = I.current()
  local spec = { code = code, args = args }
  local ref
  if opts.link then
    p.links = p.links or {}
    p.links[remote_key(pid)] = pid
    spec.link = p.pid
  end
  if opts.monitor then
    ref = actor._new_ref()
    p.monitors = p.monitors or {}
    p.monitors[ref] = pid
    spec.monitor = { p.pid, ref }
  end
  host_send(node, "spawn", enc(pid), enc(spec))
  return pid, ref
end

local function spawn_here(pid, spec)
  local fn, err = load(spec.code, "=(spawned from another node)", "b")
  if fn == nil then   -- (cannot happen between equal runtimes) the spawner hears noproc
    if spec.link then I.incoming("link", pid, spec.link) end
    if spec.monitor then I.incoming("monitor", pid, spec.monitor[1], spec.monitor[2]) end
    return
  end
  I.spawn_as(pid.id, fn, spec.args)
  if spec.link then I.incoming("link", pid, spec.link) end
  if spec.monitor then I.incoming("monitor", pid, spec.monitor[1], spec.monitor[2]) end
end

-- a frame for this node: incoming(kind, dest, a, b, c) in the wire's encoding
return function(kind, d, a, b, c)
  if kind == "spawn" then return spawn_here(dec(d), dec(a)) end
  I.incoming(kind, dec(d), dec(a), dec(b), dec(c))
end, function(node) I.node_down(node) end
"""


def _default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    raise TypeError(f"{type(value).__name__} cannot cross to another node")


def _hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and "$bytes" in obj:
        return base64.b64decode(obj["$bytes"])
    return obj


_ENCODER = json.JSONEncoder(default=_default, ensure_ascii=False, separators=(",", ":"))
_DECODER = json.JSONDecoder(object_hook=_hook)


def dumps(frame: Frame) -> str:
    """A frame as JSON text (non-UTF-8 Lua strings as ``{"$bytes": base64}``)."""
    return _ENCODER.encode(frame)


def loads(text: str | bytes) -> Frame:
    """JSON text -> a frame (``{"$bytes": ...}`` -> bytes, which Lua gets as a raw string)."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8")
    frame: Frame = _DECODER.decode(text)
    return frame


class Node:
    """One Runtime's scheduler as a node: remote signals out through ``transport``, frames
    in to the scheduler; made by :func:`attach_node`."""

    def __init__(self, runtime: Any, transport: Transport) -> None:
        self.runtime = runtime
        self.transport = transport
        vm = runtime.vm
        internal = getattr(runtime, "_watch_api", None)
        if internal is not None:  # the watch hook never interrupts the glue half-way
            vm.execute("local internal, name = ...; internal[name] = true", internal["internal"],
                       "=(hype actors glue)")
        self._incoming, self._node_down = vm.execute(
            _GLUE, transport.node, vm.register(None, self._send), vm.register(None, self._spawn_node),
            chunkname="=(hype actors glue)")
        transport.on_frame = self._on_frame
        transport.on_node_down = self._on_node_down

    @property
    def number(self) -> int:
        """This node's number (``actor.NODE``)."""
        return self.transport.node

    def _send(self, node: int, kind: str, d: Any, a: Any = None, b: Any = None, c: Any = None) -> None:
        node = int(node)
        if not self.transport.known(node):
            # a node that never was or is gone: its links and monitors hear "noconnection"
            self._later(lambda: self._on_node_down(node))
            return
        self.transport.send(node, {"to": node, "k": kind, "a": [d, a, b, c]})

    def _later(self, fn: Any) -> None:
        import asyncio

        try:
            asyncio.get_running_loop().call_soon(fn)
        except RuntimeError:
            fn()

    def _spawn_node(self) -> int:
        return int(self.transport.spawn_node())

    def _on_frame(self, frame: Frame) -> None:
        a = frame.get("a") or []
        a = list(a) + [None] * (4 - len(a))
        self.runtime.vm.call(self._incoming, frame.get("k"), a[0], a[1], a[2], a[3])

    def _on_node_down(self, node: int) -> None:
        self.runtime.vm.call(self._node_down, int(node))

    def close(self) -> None:
        self.transport.close()


def attach_node(runtime: Any, transport: Transport) -> Node:
    """Make ``runtime``'s scheduler a node on ``transport`` (sets ``actor.NODE``, installs
    ``actor._spawn_remote`` and the remote-send function).  Idempotent per runtime."""
    node: Node | None = getattr(runtime, "_actor_node", None)
    if node is not None:
        return node
    node = Node(runtime, transport)
    runtime._actor_node = node
    return node


def attach_default(runtime: Any) -> Node:
    """The lazy hook's action (the first ``spawn{ worker = ... }``): the runtime's transport
    factory (``runtime._actor_transport``, set by the browser's WorkerHost), else OS processes."""
    node: Node | None = getattr(runtime, "_actor_node", None)
    if node is not None:
        return node
    factory = getattr(runtime, "_actor_transport", None)
    if factory is not None:
        transport = factory()
    else:
        from ._transports.process import ProcessTransport

        transport = ProcessTransport(backend=runtime.vm.backend_name)
    return attach_node(runtime, transport)
