"""A node in its own OS process: ``python -m hypelua.actors._child NODE FD [BACKEND]``
(started by :class:`hypelua.actors._transports.process.ProcessTransport`).  Runs a Runtime
whose scheduler is node NODE, on an asyncio loop, until node 0 closes the socket FD."""

from __future__ import annotations

import asyncio
import os
import socket
import sys


async def _main(node: int, fd: int, backend: str | None) -> None:
    from hypelua import Runtime

    from ._node import attach_node
    from ._transports.process import ChildTransport

    def out(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    rt = Runtime(":memory:", backend=backend, stdout=out)
    rt.loop.on_unhandled_rejection = lambda reasons: sys.stderr.write(f"node {node}: {reasons}\n")
    gone = asyncio.get_running_loop().create_future()
    sock = socket.socket(fileno=fd)
    transport = ChildTransport(node, sock, lambda: gone.done() or gone.set_result(None))
    attach_node(rt, transport)
    await gone


def main(argv: list[str]) -> None:
    node, fd = int(argv[0]), int(argv[1])
    backend = argv[2] if len(argv) > 2 and argv[2] else None
    try:
        asyncio.run(_main(node, fd, backend))
    finally:
        sys.stdout.flush()
        os._exit(0)  # no lingering threads or finalizers: node 0 is gone


if __name__ == "__main__":
    main(sys.argv[1:])
