"""Browser transport: nodes are Web Workers, each a Pyodide with its own Runtime.  Frames
leave the worker as JSON text by ``post(to, text)`` (worker.mjs posts ``{type: "actors",
to, frame}`` to the page); the page's hub (``hype.actors`` in web/src/hypelua.mjs) relays
them to the worker of node ``to`` (structured clone of the string; FIFO per pair through the
one hub), creates a worker for ``worker = "new"`` and tells every worker when one is
terminated (``down``).  Node numbers: the page gives each worker spare numbers
(``spares``); ``spawn_node`` uses one and announces it (``control({"t": "newnode", ...})``),
so it returns at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._node import dumps, loads
from .base import Frame, Transport


class WorkerTransport(Transport):
    def __init__(self, node: int, post: Callable[[int, str], Any], control: Callable[[str], Any]) -> None:
        super().__init__()
        self.node = node
        self._post = post
        self._control = control
        self._spares: list[int] = []
        self._dead: set[int] = set()

    def send(self, node: int, frame: Frame) -> None:
        self._post(node, dumps(frame))

    def known(self, node: int) -> bool:
        return node not in self._dead

    def spawn_node(self) -> int:
        if not self._spares:
            from ..._errors import HypeError

            raise HypeError("no spare node number yet (the page has not answered)", code="ACTOR_BAD_SPAWN")
        n = self._spares.pop(0)
        self._control(dumps({"t": "newnode", "node": n}))
        return n

    # from the page
    def deliver(self, text: str | bytes) -> None:
        self._frame_in(loads(text))

    def spares(self, nodes: list[int]) -> None:
        self._spares.extend(int(n) for n in nodes)

    def down(self, node: int) -> None:
        node = int(node)
        if node not in self._dead:
            self._dead.add(node)
            self._down(node)
