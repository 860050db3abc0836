"""Native transport: nodes are OS processes (``python -m hypelua.actors._child``), each a
Runtime with its scheduler on an asyncio loop, joined to node 0 by a socketpair carrying
length-prefixed JSON frames (4-byte big-endian length, then the UTF-8 JSON text).

Star topology: node 0 (the process that spawned the first ``worker = "new"``) relays
frames between its children in arrival order, so frames between any two nodes stay in
order.  A child that dies (EOF on its socket) is reported to node 0's scheduler and to
every other child (``{"t": "down", "node": n}``); children exit when node 0 closes the
transport or dies (EOF on theirs).

Node numbers are allocated by node 0; a child that spawns a node itself uses one of the
spare numbers node 0 gives it (``{"t": "spares", "nodes": [...]}``), announcing it with
``{"t": "newnode", "node": n}`` (node 0 starts the process and sends a new spare), so
``spawn{ worker = "new" }`` returns at once everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import subprocess
import sys
import traceback
from collections.abc import Callable
from typing import Any

from .._node import dumps, loads
from .base import Frame, Transport

_LEN = struct.Struct(">I")
#: largest frame accepted, in bytes (a message is plain data; this bounds a corrupt length)
MAX_FRAME = 64 * 1024 * 1024
#: spare node numbers a child holds for its own ``worker = "new"``
SPARES = 4


class _Conn:
    """One end of a socketpair on the running asyncio loop: frames out (buffered, never
    blocking) and in (``on_frame``); ``on_eof`` when the other end is gone."""

    def __init__(self, sock: socket.socket, on_frame: Callable[[Frame], Any], on_eof: Callable[[], Any]) -> None:
        sock.setblocking(False)
        self.sock = sock
        self._on_frame = on_frame
        self._on_eof = on_eof
        self._in = bytearray()
        self._out = bytearray()
        self._writing = False
        self.closed = False
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._readable)

    def write(self, frame: Frame) -> None:
        if self.closed:
            return
        data = dumps(frame).encode("utf-8")
        self._out += _LEN.pack(len(data))
        self._out += data
        self._flush()

    def _flush(self) -> None:
        try:
            n = self.sock.send(self._out) if self._out else 0
        except BlockingIOError:
            n = 0
        except OSError:
            self._gone()
            return
        del self._out[:n]
        if self._out and not self._writing:
            self._writing = True
            self._loop.add_writer(self.sock.fileno(), self._flush)
        elif not self._out and self._writing:
            self._writing = False
            self._loop.remove_writer(self.sock.fileno())

    def _readable(self) -> None:
        try:
            data = self.sock.recv(1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._gone()
            return
        buf = self._in
        buf += data
        while len(buf) >= 4:
            (n,) = _LEN.unpack_from(buf)
            if n > MAX_FRAME:         # not our framing any more: drop the peer, keep the node
                print(f"hypelua actors: a {n}-byte frame (limit {MAX_FRAME}): dropping the connection",
                      file=sys.stderr)
                self._gone()
                return
            if len(buf) < 4 + n:
                break
            data = bytes(buf[4:4 + n])
            del buf[:4 + n]
            try:
                self._on_frame(loads(data))
            except Exception:  # a bad frame (undecodable, or refused) must not stop the connection
                traceback.print_exc()
            if self.closed:
                return

    def _gone(self) -> None:
        if self.closed:
            return
        self.close()
        self._on_eof()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self.sock.fileno())
            if self._writing:
                self._loop.remove_writer(self.sock.fileno())
        with contextlib.suppress(OSError):
            self.sock.close()


class ProcessTransport(Transport):
    """Node 0's side: starts children, relays frames between them."""

    def __init__(self, backend: str | None = None) -> None:
        super().__init__()
        self.node = 0
        self.backend = backend
        self._next = 1
        self._children: dict[int, _Conn] = {}
        self._procs: dict[int, subprocess.Popen[bytes]] = {}

    def _alloc(self) -> int:
        n = self._next
        self._next += 1
        return n

    def spawn_node(self, number: int | None = None) -> int:
        n = self._alloc() if number is None else number
        mine, theirs = socket.socketpair()
        cmd = [sys.executable, "-m", "hypelua.actors._child", str(n), str(theirs.fileno()), self.backend or ""]
        env = dict(os.environ)
        here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
        env["PYTHONPATH"] = here + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self._procs[n] = subprocess.Popen(cmd, pass_fds=(theirs.fileno(),), env=env)
        theirs.close()
        conn = _Conn(mine, lambda f, n=n: self._from_child(n, f), lambda n=n: self._child_gone(n))
        self._children[n] = conn
        conn.write({"t": "spares", "nodes": [self._alloc() for _ in range(SPARES)]})
        return n

    def pid_of(self, node: int) -> int | None:
        """The OS process id of child ``node`` (tests kill it)."""
        p = self._procs.get(node)
        return p.pid if p is not None else None

    def known(self, node: int) -> bool:
        return node == 0 or node in self._children

    def send(self, node: int, frame: Frame) -> None:
        conn = self._children.get(node)
        if conn is not None:
            conn.write(frame)

    def _from_child(self, n: int, frame: Frame) -> None:
        t = frame.get("t")
        if t == "newnode":
            self.spawn_node(int(frame["node"]))
            conn = self._children.get(n)
            if conn is not None:
                conn.write({"t": "spares", "nodes": [self._alloc()]})
            return
        to = frame.get("to")
        if to == 0:
            self._frame_in(frame)
            return
        conn = self._children.get(to) if isinstance(to, int) else None
        if conn is not None:
            conn.write(frame)
        else:  # the sender has not heard yet: it will (or does now)
            src = self._children.get(n)
            if src is not None:
                src.write({"t": "down", "node": to})

    def _child_gone(self, n: int) -> None:
        conn = self._children.pop(n, None)
        if conn is None:
            return
        proc = self._procs.pop(n, None)
        if proc is not None:
            with contextlib.suppress(Exception):
                proc.poll()
        for other in list(self._children.values()):
            other.write({"t": "down", "node": n})
        self._down(n)

    def close(self) -> None:
        for conn in list(self._children.values()):
            conn.close()
        self._children.clear()
        for proc in self._procs.values():
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._procs.clear()


class ChildTransport(Transport):
    """A child's side: every frame goes to node 0 (which relays)."""

    def __init__(self, node: int, sock: socket.socket, on_eof: Callable[[], Any]) -> None:
        super().__init__()
        self.node = node
        self._spares: list[int] = []
        self._dead: set[int] = set()
        self._conn = _Conn(sock, self._in_frame, on_eof)

    def _in_frame(self, frame: Frame) -> None:
        t = frame.get("t")
        if t == "spares":
            self._spares.extend(int(x) for x in frame["nodes"])
        elif t == "down":
            node = int(frame["node"])
            if node not in self._dead:
                self._dead.add(node)
                self._down(node)
        else:
            self._frame_in(frame)

    def known(self, node: int) -> bool:
        return node not in self._dead

    def send(self, node: int, frame: Frame) -> None:
        self._conn.write(frame)

    def spawn_node(self) -> int:
        if not self._spares:
            from ..._errors import HypeError

            raise HypeError("no spare node number left (too many spawn{ worker = 'new' } at once)",
                            code="ACTOR_BAD_SPAWN")
        n = self._spares.pop(0)
        self._conn.write({"t": "newnode", "node": n})
        return n

    def close(self) -> None:
        self._conn.close()
