"""The interface between a :class:`~hypelua.actors._node.Node` and the wire.

A transport connects this node (a scheduler: one Runtime) to the other nodes.  Frames are
JSON-compatible dicts (see :mod:`hypelua.actors._node` for their shape); a transport
carries them to the node they name, in order: between any two nodes frames arrive in the
order they were sent (per-pair FIFO), which the spawn protocol relies on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Frame = dict[str, Any]


class Transport:
    """Base class: subclasses implement :meth:`send`, :meth:`spawn_node`, :meth:`close`."""

    #: this node's number (0: the first scheduler, the one that starts the others)
    node: int = 0

    def __init__(self) -> None:
        #: called with each frame addressed to this node
        self.on_frame: Callable[[Frame], Any] | None = None
        #: called with the number of a node that is gone (its process or worker died)
        self.on_node_down: Callable[[int], Any] | None = None

    def send(self, node: int, frame: Frame) -> None:
        """Carry ``frame`` to ``node`` (never blocks; frames to a dead node are dropped)."""
        raise NotImplementedError

    def spawn_node(self) -> int:
        """Start a new node (an OS process, a worker) and return its number at once: frames
        sent to it before it runs are queued."""
        raise NotImplementedError

    def known(self, node: int) -> bool:
        """True when ``node`` is (as far as this transport knows) alive."""
        return True

    def close(self) -> None:
        """Disconnect; the nodes this one started exit."""

    # helpers for subclasses
    def _frame_in(self, frame: Frame) -> None:
        if self.on_frame is not None:
            self.on_frame(frame)

    def _down(self, node: int) -> None:
        if self.on_node_down is not None:
            self.on_node_down(node)
